"""Sample media for the notebooks: your own file, else the SAM 2 samples, else synthetic ones.

:func:`sample_video` and :func:`sample_image` return a path the notebooks can open:

1. the path you give (checked to exist);
2. the official SAM 2 sample (bedroom.mp4, truck.jpg, groceries.jpg, cars.jpg): from
   ``$SAM2NB_SAMPLES`` or the cache if present, else downloaded once with a progress bar and
   checked against its SHA-256;
3. offline, media that sam2nb draws itself (moving coloured discs; shapes on a texture), so
   every notebook still runs end to end.

:func:`frames_to_use` resolves a video notebook's ``FRAMES`` parameter (``"auto"``: a short
stretch with the untrained test model on a CPU, else the whole video).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..base.download import cache_dir, fetch
from ..base.errors import CheckpointError, VideoError

_RAW = "https://raw.githubusercontent.com/facebookresearch"
SAMPLES = {
    "bedroom.mp4": (
        f"{_RAW}/EdgeTAM/main/notebooks/videos/bedroom.mp4",
        "1be76d5d19b066e8ad7c565d88a98e11a8f8d456a707508a7aa35390def70e30",
    ),
    "cups.mp4": (
        f"{_RAW}/EdgeTAM/main/examples/02_cups.mp4",
        "6320759eede8c82c7d43fe1cc569f3a389758ec37b2b1dc9e9b7b4ce4110ab13",
    ),
    "truck.jpg": (
        f"{_RAW}/sam2/main/notebooks/images/truck.jpg",
        "941715e721c8864324a1425b445ea4dde0498b995c45ddce0141a58971c6ff99",
    ),
    "groceries.jpg": (
        f"{_RAW}/sam2/main/notebooks/images/groceries.jpg",
        "7073dfecb5a3ecafb6152124113163a0ea1c1c70f92999ec892b519eca63e3d3",
    ),
    "cars.jpg": (
        f"{_RAW}/sam2/main/notebooks/images/cars.jpg",
        "76e496e8975c7f21955cbe73aaa027e541fccf5169d50744e14df780717ee52a",
    ),
}


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _samples_dir() -> Path:
    d = cache_dir() / "samples"
    d.mkdir(parents=True, exist_ok=True)
    return d


def sample_path(name: str, download: bool = True, progress: bool = True) -> Path | None:
    """An official sample file, found locally or downloaded; None if it cannot be had.

    Example:
        >>> sample_path("truck.jpg")  # doctest: +SKIP
        PosixPath('/root/.cache/sam2nb/samples/truck.jpg')
    """
    if name not in SAMPLES:
        raise VideoError(f"No sample named {name!r}; there are {', '.join(SAMPLES)}.")
    url, sha = SAMPLES[name]
    local = os.environ.get("SAM2NB_SAMPLES")
    if local and (Path(local) / name).is_file():
        return Path(local) / name
    dest = _samples_dir() / name
    if dest.is_file() and _sha256(dest) == sha:
        return dest
    if not download:
        return None
    try:
        fetch(url, dest, None, progress=progress, stop=None, timeout=10)
    except (CheckpointError, OSError):
        return None
    if _sha256(dest) != sha:
        dest.unlink()
        return None
    return dest


def synthetic_video(path: str | os.PathLike | None = None, frames: int = 60) -> Path:
    """Write (once) a 640x360 clip of two coloured discs crossing a textured background."""
    from .writer import H264, VideoWriter

    out = Path(path) if path else _samples_dir() / "synthetic.mp4"
    if out.is_file():
        return out
    rng = np.random.default_rng(0)
    bg = (rng.integers(40, 90, (360, 640, 3))).astype(np.uint8)
    yy, xx = np.mgrid[:360, :640]
    w = VideoWriter(out, (640, 360), 24.0, H264)
    try:
        for t in range(frames):
            f = bg.copy()
            for (x0, y0, vx, vy, r), col in zip(
                [(120, 180, 6, 1, 55), (520, 140, -5, 2, 45)], [(230, 180, 40), (40, 160, 230)],
                strict=True,
            ):  # fmt: skip
                f[(xx - x0 - vx * t) ** 2 + (yy - y0 - vy * t) ** 2 < r * r] = col
            w.write(f)
    except BaseException:
        w.close(keep=False)
        raise
    w.close()
    return out


def synthetic_image(path: str | os.PathLike | None = None) -> Path:
    """Write (once) a 640x480 picture of a disc, a square and a triangle on a texture."""
    from PIL import Image, ImageDraw

    out = Path(path) if path else _samples_dir() / "synthetic.png"
    if out.is_file():
        return out
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(60, 110, (480, 640, 3)).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse([80, 120, 260, 300], fill=(230, 180, 40))
    d.rectangle([330, 90, 520, 280], fill=(40, 160, 230))
    d.polygon([(200, 440), (320, 330), (440, 440)], fill=(200, 60, 90))
    img.save(out)
    return out


def _yours(path: str | os.PathLike, what: str, file: bool = False) -> Path:
    p = Path(path).expanduser()
    if not (p.is_file() if file else p.exists()):
        raise VideoError(f"{p} does not exist: give {what}.")
    return p


def sample_video(
    path: str | os.PathLike | None = None, name: str = "bedroom.mp4", download: bool = True
) -> Path:
    """The video a notebook should use: yours, else a sample (``name``), else a synthetic clip.

    Example:
        >>> video = s2.open_video(sample_video())  # doctest: +SKIP
    """
    if path is not None:
        return _yours(path, "a video file or a folder of frames")
    return sample_path(name, download) or _instead(name, synthetic_video())


def sample_image(
    path: str | os.PathLike | None = None, name: str = "truck.jpg", download: bool = True
) -> Path:
    """The image a notebook should use: yours, else an official sample, else a synthetic one."""
    if path is not None:
        return _yours(path, "an image file (JPEG, PNG, ...)", file=True)
    return sample_path(name, download) or _instead(name, synthetic_image())


AUTO_CPU_FRAMES = 60  # FRAMES = "auto" with the untrained test model on a CPU


def frames_to_use(frames: int | str | None, engine: Any) -> int | None:
    """How much of the video a notebook tracks: its ``FRAMES`` parameter, ``"auto"`` resolved.

    ``"auto"`` is the first 60 frames with an untrained model (the test model) on a CPU, where
    tracking a whole clip takes minutes, and the whole video otherwise (a real model, or a GPU).
    A short stretch is said in one printed line, with how to track the whole video.

    Args:
        frames: the first N frames, None for the whole video, or ``"auto"``.
        engine: the model (:func:`sam2nb.load`); its ``untrained`` flag and ``device`` count.

    Returns:
        ``end`` for :func:`sam2nb.open_video`: a number of frames, or None for the whole video.

    Raises:
        ValueError: ``frames`` is none of these.

    Example:
        >>> frames_to_use("auto", engine)  # engine: the test model, on the CPU
        FRAMES = 'auto': the first 60 frames only (test model on a CPU; None: the whole video)
        60
        >>> frames_to_use(None, engine) is None
        True
    """
    why = ""
    if frames == "auto":
        if not (engine.untrained and engine.device.type == "cpu"):
            return None
        frames, why = AUTO_CPU_FRAMES, "test model on a CPU; "
    elif frames is None:
        return None
    elif isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"FRAMES is a number of frames, None or 'auto'; got {frames!r}.")
    shown = "'auto'" if why else frames
    print(f"FRAMES = {shown}: the first {frames} frames only ({why}None: the whole video)")
    return frames


def _instead(name: str, drawn: Path) -> Path:
    """Say that a drawn stand-in replaces the sample ``name`` (offline, say); returns it."""
    print(
        f"SAM 2's sample {name} could not be found or downloaded (offline?): using a drawn "
        f"stand-in, {drawn}. Give your own file, or set SAM2NB_SAMPLES to a folder holding {name}."
    )
    return drawn

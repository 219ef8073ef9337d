"""A folder of synthetic ground-truth videos (DAVIS layout), made from a seed.

The videos are **synthetic** (drawn by :mod:`sam2nb.synthetic.scenes`, not filmed); their
truth is exact. :func:`synthetic_benchmark` writes::

    folder/benchmark.json             generator, version, seed, videos, size, frames, kinds
    folder/videos/<name>.mp4          the video as drawn (H.264)
    folder/Annotations/<name>/00000.png ...  DAVIS palette PNGs (pixel = obj_id), one a frame
    folder/prompts/<name>.json        {obj_id: {frame_idx, points, labels, box}}
    folder/scenes/<name>.json         size, fps, num_frames, kind, seed, objects, events

Video ``i`` is of kind ``kinds[i % len(kinds)]``, named ``v000_occlusion`` ..., and drawn from a
seed derived from ``(seed, i)``: the same call writes the same masks and frames.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._version import __version__
from ..base.errors import ExportError
from ..base.files import atomic_write
from ..base.jobs import fit_bar
from ..io.export import davis_palette
from ..io.outputs import frame_name, png_bytes
from ..media.writer import H264, VideoWriter
from .scenes import GENERATOR, KINDS, NOTE, Scene, check_scene_args, make_scene

HEAD = "benchmark.json"
VERSION = 1
FPS = 24.0
_SAME = ("generator", "version", "seed", "videos", "size", "frames", "kinds")
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def video_seed(seed: int, index: int) -> int:
    """The seed of video ``index`` of a benchmark made with ``seed``.

    Example:
        >>> video_seed(0, 1) == video_seed(0, 1) != video_seed(0, 2)
        True
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


@dataclass
class SyntheticSet:
    """A synthetic ground-truth benchmark folder: its videos' names and where their files are.

    Attributes:
        folder: the folder.
        names: the videos written whole, in order (``v000_occlusion`` ...).
        seed: the benchmark's seed.
        size: frame ``(width, height)``.
        frames: frames per video.
        kinds: the scene kinds the videos cycle through.
        complete: False when the run that wrote it stopped early (the same call finishes it).
        seconds: time taken to write it (0 when opened).
    """

    folder: Path
    names: list[str]
    seed: int = 0
    size: tuple[int, int] = (640, 360)
    frames: int = 60
    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    complete: bool = True
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __repr__(self) -> str:
        w, h = self.size
        return (
            f"SyntheticSet({str(self.folder)!r}, {len(self.names)} synthetic videos, {w}x{h}, "
            f"{self.frames} frames, seed {self.seed}{'' if self.complete else ', incomplete'})"
        )

    def _known(self, name: str) -> str:
        if name not in self.names:
            raise ExportError(
                f"No video {name!r} in {self.folder}: its videos are "
                f"{', '.join(self.names) or '(none)'}."
            )
        return name

    def video(self, name: str) -> Path:
        """The video file ``videos/<name>.mp4``."""
        return self.folder / "videos" / f"{self._known(name)}.mp4"

    def annotations(self, name: str) -> Path:
        """The folder of the video's palette PNGs (``sam2nb.read_masks`` reads it)."""
        return self.folder / "Annotations" / self._known(name)

    def prompts(self, name: str) -> Path:
        """The video's prompt file ``prompts/<name>.json`` (keys: obj_id strings)."""
        return self.folder / "prompts" / f"{self._known(name)}.json"

    def read_prompts(self, name: str) -> dict[int, dict]:
        """The video's prompts, ``{obj_id: {"frame_idx", "points", "labels", "box"}}``."""
        return {int(k): v for k, v in json.loads(self.prompts(name).read_text()).items()}

    def scene(self, name: str) -> dict:
        """The video's scene file read: size, fps, num_frames, kind, seed, objects, events."""
        return json.loads((self.folder / "scenes" / f"{self._known(name)}.json").read_text())

    def make(self, name: str) -> Scene:
        """The video's :class:`Scene` made again from its seed (frames and labels on demand)."""
        s = self.scene(name)
        return make_scene(
            s["seed"], s["kind"], tuple(s["size"]), s["num_frames"], name=name, fps=s["fps"]
        )

    @classmethod
    def open(cls, folder: str | os.PathLike) -> SyntheticSet:
        """Read a benchmark folder that :func:`synthetic_benchmark` wrote.

        Raises:
            ExportError: the folder has no ``benchmark.json`` of a synthetic benchmark.
        """
        folder = Path(folder).expanduser()
        head = _head(folder)
        if head is None or head.get("generator") != GENERATOR:
            raise ExportError(
                f"{folder} holds no synthetic benchmark ({HEAD} of {GENERATOR}): "
                "write one with sam2nb.synthetic_benchmark(folder)."
            )
        names = [n for n in head["videos"] if (folder / "scenes" / f"{n}.json").is_file()]
        return cls(
            folder,
            names,
            head["seed"],
            tuple(head["size"]),
            head["frames"],
            list(head["kinds"]),
            bool(head.get("complete")),
        )


def _head(folder: Path) -> dict | None:
    try:
        head = json.loads((folder / HEAD).read_text())
    except (OSError, ValueError):
        return None
    return head if isinstance(head, dict) else None


def _files(folder: Path, name: str) -> list[Path]:
    return [
        folder / "videos" / f"{name}.mp4",
        folder / "Annotations" / name,
        folder / "prompts" / f"{name}.json",
        folder / "scenes" / f"{name}.json",
    ]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _clear(folder: Path, head: dict) -> None:
    """Remove an earlier benchmark's files (only those its ``benchmark.json`` names)."""
    for name in head.get("videos", []):
        if isinstance(name, str) and _SAFE.match(name):
            for p in _files(folder, name) + [folder / f".tmp-{name}"]:
                _remove(p)
    _remove(folder / HEAD)


def _write_video(folder: Path, scene: Scene, extra: dict) -> None:
    """Draw one video into a temporary folder, then move its files into place (scene last)."""
    name = scene.name
    tmp = folder / f".tmp-{name}"
    _remove(tmp)
    ann = tmp / "Annotations" / name
    ann.mkdir(parents=True)
    (tmp / "videos").mkdir()
    writer = VideoWriter(
        tmp / "videos" / f"{name}.mp4", (scene.width, scene.height), scene.fps, H264
    )
    palette = davis_palette()
    try:
        for i in range(scene.num_frames):
            writer.write(scene.frame(i))
            (ann / frame_name(i)).write_bytes(png_bytes(scene.labels(i), palette))
    except BaseException:
        writer.close(keep=False)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    writer.close()
    prompts = {str(o): p for o, p in scene.prompts().items()}
    (tmp / "prompts.json").write_text(json.dumps(prompts, indent=1))
    (tmp / "scene.json").write_text(json.dumps({**scene.to_dict(), **extra}, indent=1))
    for sub in ("videos", "Annotations", "prompts", "scenes"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    video, masks, prompt_file, scene_file = _files(folder, name)
    _remove(scene_file)  # the video counts as whole only once its scene file is back
    _remove(masks)
    os.replace(ann, masks)
    os.replace(tmp / "videos" / f"{name}.mp4", video)
    os.replace(tmp / "prompts.json", prompt_file)
    os.replace(tmp / "scene.json", scene_file)
    shutil.rmtree(tmp, ignore_errors=True)


def _kinds(kinds: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if kinds is None:
        return list(KINDS)
    if isinstance(kinds, str):
        kinds = kinds.split(",")
    return [str(k).strip() for k in kinds if str(k).strip()]


def synthetic_benchmark(
    folder: str | os.PathLike,
    videos: int = 8,
    seed: int = 0,
    *,
    size: tuple[int, int] = (640, 360),
    frames: int = 60,
    kinds: str | list[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> SyntheticSet:
    """Write a benchmark of synthetic ground-truth videos (drawn, not filmed) into ``folder``.

    Each video is whole on disk when it is done (drawn into ``folder/.tmp-<name>/`` and moved
    into place, its scene file last), so a stopped run leaves only whole videos; the same call
    again finishes it. A folder that already holds a finished benchmark, or another one, is
    never overwritten unless ``overwrite=True``.

    Args:
        folder: where to write (made if missing).
        videos: how many videos (at least 1).
        seed: the benchmark's seed (>= 0); video ``i`` uses a seed derived from ``(seed, i)``.
        size: frame ``(width, height)``: even, each at least 64.
        frames: frames per video (at least 4).
        kinds: the scene kinds to cycle through (a list or ``"a,b"``); default all of
            ``occlusion, entries, lookalikes, scale_blur, mixed``.
        overwrite: replace a benchmark already in the folder.
        progress: show a ``tqdm`` bar.

    Returns:
        The :class:`SyntheticSet` written.

    Raises:
        ExportError: a bad argument (the message names it and the fix), or the folder holds a
            benchmark or files of these names already and ``overwrite`` is False.

    Example:
        >>> bench = synthetic_benchmark(folder, videos=2, size=(128, 72), frames=6,
        ...                             progress=False)
        >>> bench.names, len(bench.read_prompts("v000_occlusion")) > 0
        (['v000_occlusion', 'v001_entries'], True)
    """
    start = time.perf_counter()
    kinds = _kinds(kinds)
    try:
        count, seed = int(videos), int(seed)
    except (TypeError, ValueError):
        raise ExportError(f"videos={videos!r}, seed={seed!r}: give integers.") from None
    if count < 1:
        raise ExportError(f"videos={videos}: give at least 1 video, e.g. videos=8.")
    if seed < 0:
        raise ExportError(f"seed={seed} is negative: give an integer seed >= 0.")
    w, h = check_scene_args(size, frames, kinds)
    folder = Path(folder).expanduser()
    names = [f"v{i:03d}_{kinds[i % len(kinds)]}" for i in range(count)]
    head = {
        "generator": GENERATOR,
        "version": VERSION,
        "synthetic": True,
        "note": NOTE,
        "seed": seed,
        "videos": names,
        "size": [w, h],
        "frames": int(frames),
        "kinds": kinds,
        "fps": FPS,
        "complete": False,
        "sam2nb": __version__,
    }
    old = _head(folder)
    ours = old is not None and old.get("generator") == GENERATOR
    resume = ours and not old.get("complete") and all(old.get(k) == head[k] for k in _SAME)
    taken = [p for n in names for p in _files(folder, n) if p.exists()]
    if (old is not None or taken) and not (resume or overwrite):
        what = f"a benchmark ({HEAD})" if old is not None else f"{taken[0]}"
        raise ExportError(
            f"{folder} already holds {what}: pass overwrite=True (--overwrite on the command "
            "line) to replace it, or pick another folder."
        )
    if overwrite:
        resume = False
        if ours:
            _clear(folder, old)  # type: ignore[arg-type]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / HEAD, json.dumps(head, indent=1))
    from tqdm.auto import tqdm

    bar = fit_bar(tqdm(total=count, desc="synthetic videos", unit="video", disable=not progress))
    try:
        for i, name in enumerate(names):
            bar.set_postfix_str(name, refresh=False)
            if not (resume and (folder / "scenes" / f"{name}.json").is_file()):
                scene = make_scene(
                    video_seed(seed, i), kinds[i % len(kinds)], (w, h), frames, name=name, fps=FPS
                )
                _write_video(folder, scene, {"benchmark_seed": seed, "index": i})
            bar.update(1)
    finally:
        bar.close()
    head["complete"] = True
    atomic_write(folder / HEAD, json.dumps(head, indent=1))
    return SyntheticSet(
        folder, names, seed, (w, h), int(frames), kinds, True, time.perf_counter() - start
    )

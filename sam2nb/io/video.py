"""Video and picture exports: overlays, alpha cut-outs, background effects, object removal.

Frames stream from the video through numpy into an ``ffmpeg`` pipe (the binary that
``imageio-ffmpeg`` ships: H.264 and VP9 included), so a long video never sits in memory. MP4s
are H.264 yuv420p with ``+faststart``, so they play in browsers and in JupyterLab; the alpha
video is VP9 with an alpha channel in WebM (Chrome and Firefox play it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..base.colors import color_of
from ..base.errors import ExportError
from ..media.overlay import overlay_frame, stamp_untrained
from ..media.writer import H264, VP9_ALPHA, VideoWriter
from .outputs import ExportResult, frame_name, png_bytes, write_file

EFFECTS = ("blur", "gray", "color", "image")


def effect_frame(
    rgb: np.ndarray,
    keep: np.ndarray,
    effect: str = "blur",
    color: Any = (0, 255, 0),
    background: np.ndarray | None = None,
    strength: int = 31,
) -> np.ndarray:
    """Keep the objects' pixels and change the background: blur, gray, a colour or an image."""
    if effect == "blur":
        k = strength | 1
        bg = cv2.GaussianBlur(rgb, (k, k), 0)
    elif effect == "gray":
        bg = np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    elif effect == "color":
        bg = np.empty_like(rgb)
        bg[:] = color_of({0: tuple(color)}, 0)
    elif effect == "image":
        if background is None:
            raise ExportError('effect="image" needs background= (an image or its path).')
        bg = background
    else:
        raise ExportError(f"Unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}.")
    return np.where(keep[..., None], rgb, bg)


def remove_frame(rgb: np.ndarray, remove: np.ndarray, grow: int = 4) -> np.ndarray:
    """Paint the objects out (OpenCV Telea inpainting over the slightly grown masks)."""
    if not remove.any():
        return rgb
    m = cv2.dilate(remove.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=grow)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(cv2.inpaint(bgr, m, 5, cv2.INPAINT_TELEA), cv2.COLOR_BGR2RGB)


def _background(opts: dict, size: tuple[int, int]) -> np.ndarray | None:
    bg = opts.get("background")
    if bg is None:
        return None
    from ..media.video import read_image, to_rgb8

    img = read_image(bg) if isinstance(bg, (str, Path)) else to_rgb8(np.asarray(bg))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def video_export(
    fmt: str,
    session: Any,
    out: Path,
    frame_iter: Any,
    res: ExportResult,
    opts: dict,
    frames: range | None = None,
) -> None:
    """Write one of the video formats (called by :func:`sam2nb.export`).

    ``frame_iter`` yields ``(frame_idx, records)`` and ends early when the export is stopped.
    ``frames`` (the frames it goes over) gives the video their times: a variable frame rate
    source is written with its own timing.
    """
    v = session.video
    colors = {o: t.color for o, t in session.objects.items()}
    names = {"mp4": "overlay.mp4", "effect": "effect.mp4", "remove": "removed.mp4",
             "cutout_webm": "cutout.webm"}  # fmt: skip
    path = out / names[fmt]
    alpha = fmt == "cutout_webm"
    times = getattr(v, "times", None)
    times = [times[f] for f in frames] if times is not None and frames else None
    writer = VideoWriter(path, v.size, v.fps, VP9_ALPHA if alpha else H264, alpha=alpha,
                         times=times)  # fmt: skip
    bg = _background(opts, v.size) if fmt == "effect" else None
    untrained = bool(getattr(session.engine, "untrained", False))  # said on every frame
    try:
        for f, recs in frame_iter:
            rgb = v[f]
            masks = {o: r.mask() for o, r in recs.items()}
            union = np.zeros(rgb.shape[:2], bool)
            for m in masks.values():
                union |= m
            if fmt == "mp4":
                frame = overlay_frame(rgb, masks, colors, float(opts.get("opacity", 0.5)))
            elif fmt == "effect":
                frame = effect_frame(rgb, union, opts.get("effect", "blur"),
                                     opts.get("color", (0, 255, 0)), bg)  # fmt: skip
            elif fmt == "remove":
                frame = remove_frame(rgb, union)
            else:
                frame = np.dstack([rgb, union.astype(np.uint8) * 255])
            writer.write(stamp_untrained(frame) if untrained else frame)
    except BaseException:
        writer.close(keep=False)
        raise
    if res.stopped:
        writer.close(keep=False)
        return
    writer.close()
    res.paths.append(path)
    res.files += 1


def cutout_sequence(session: Any, out: Path, f: int, ids: list, recs: dict,
                    res: ExportResult) -> None:  # fmt: skip
    """One RGBA PNG per frame: the frame, transparent outside the objects."""

    def make() -> bytes:
        rgb = session.video[f]
        a = np.zeros(rgb.shape[:2], np.uint8)
        for r in recs.values():
            a[r.mask()] = 255
        return png_bytes(np.dstack([rgb, a]))

    write_file(out / frame_name(f), make, res)

"""What every export writes with: its error, its result, file names, PNG bytes, one file."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..base.errors import ExportError
from ..base.files import atomic_write
from ..prompts.protocol import SessionLike


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes:
        format: the format name.
        out: the output folder.
        files: files written by this call (kept ones not counted).
        kept: files found complete from an earlier, interrupted run.
        frames: frames exported.
        stopped: True if it was stopped before the end (run it again to resume).
        resumed: True if it went on from an interrupted export of the same results.
        seconds: wall time.
        manifest: the manifest's path (None when stopped).
        untracked: frames of the range where no exported object has a mask (written blank).
        stale: frames of the range with a mask tracked before a later prompt change.
    """

    format: str
    out: Path
    files: int = 0
    kept: int = 0
    frames: int = 0
    stopped: bool = False
    resumed: bool = False
    seconds: float = 0.0
    manifest: Path | None = None
    paths: list[Path] = field(default_factory=list, repr=False)
    untracked: int = 0
    stale: int = 0

    def note(self) -> str:
        """What the export holds that was not tracked with the prompts of now ("" if nothing).

        Example:
            >>> ExportResult("png", Path("out"), frames=200, untracked=116, stale=12).note()
            '116 of 200 frames never tracked (written blank), 12 tracked before the last
            prompt change (stale)'
        """
        parts = []
        if self.untracked:
            parts.append(f"{self.untracked} of {self.frames} frame{'s' * (self.frames != 1)} "
                         "never tracked (written blank)")  # fmt: skip
        if self.stale:
            parts.append(f"{self.stale} tracked before the last prompt change (stale)")
        return ", ".join(parts)


def png_bytes(arr: np.ndarray, palette: list[int] | None = None) -> bytes:
    r"""A uint8 array as PNG bytes: 2-D as gray (or indexed with ``palette``), ``(H, W, 3)`` as RGB.

    Example:
        >>> png_bytes(np.zeros((2, 2), np.uint8)).startswith(b"\x89PNG")
        True
        >>> png_bytes(np.zeros((2, 2, 3), np.uint8)) != png_bytes(np.zeros((2, 2), np.uint8))
        True
    """
    img = Image.fromarray(np.ascontiguousarray(arr, np.uint8))
    if palette is not None:
        img.putpalette(palette)  # an L image becomes P with these indices
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def check_range(
    session: SessionLike, obj_ids: Iterable[int] | None, start: int, end: int | None
) -> tuple:
    """The objects and frames to export, checked against the session (named when wrong)."""
    known = list(session.objects)
    ids = known if obj_ids is None else [int(o) for o in obj_ids]
    missing = [o for o in ids if o not in session.objects]
    if missing:
        raise ExportError(f"No object {missing} in the session (objects: {known}).")
    if not ids:
        raise ExportError("The session has no objects to export: add and track one first.")
    n = len(session.video)
    stop = n if end is None else int(end)
    if not (0 <= int(start) < stop <= n):
        raise ExportError(
            f"Frames start={start}, end={end} are not a range of the video's {n} frames "
            f"(0 <= start < end <= {n})."
        )
    return ids, range(int(start), stop)


def frame_name(f: int) -> str:
    """A frame's file name in picture sequences (DAVIS style).

    Example:
        >>> frame_name(7)
        '00007.png'
    """
    return f"{f:05d}.png"


def write_file(path: Path, make: Callable[[], bytes], res: ExportResult) -> None:
    """Write one output file atomically (kept as it is when resuming); counted in ``res``."""
    if res.resumed and path.exists():
        res.kept += 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, fsync=False, data=make())
    res.files += 1
    res.paths.append(path)

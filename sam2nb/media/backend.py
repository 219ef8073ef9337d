"""What every frame reader has: the reader base class, frame decode errors, damaged-file checks.

The readers themselves are in :mod:`sam2nb.media.decoders` (video files) and
:mod:`sam2nb.media.video` (frame folders, arrays).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import VideoError
from ..base.jobs import first_line

REENCODE = "ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p OUTPUT.mp4"
REPAIR = f"re-download or re-encode it (`{REENCODE}`)"


class FrameDecodeError(VideoError):
    """A frame of a video (or a frame folder's image) could not be decoded.

    The message names the video and the frame, says how many frames before it decoded fine
    and how to use them; the attributes say the same for code (a command line tool can put its
    own option in the advice with :meth:`explain`).

    Attributes:
        video: the video file or frame folder.
        frame: the index in the file or folder of the frame that failed (``end=`` for
            :func:`open_video` counts the same way).
        decoded: how many frames before it were decoded fine (in this process).
        detail: what the decoder said.
        remedy: how to repair the file.

    Example:
        >>> err = FrameDecodeError("clip.mp4", 40, 40, "bad packet")
        >>> print(err.explain("run again with --end 40"))  # doctest: +NORMALIZE_WHITESPACE
        Frame 40 of clip.mp4 could not be decoded (bad packet): the file is truncated or corrupt
        there. The 40 frames before it (0..39) decoded fine: run again with --end 40 to use
        them. Or repair the file: re-download or re-encode it (`ffmpeg -i INPUT -c:v libx264
        -pix_fmt yuv420p OUTPUT.mp4`).
    """

    def __init__(
        self,
        video: str | os.PathLike,
        frame: int,
        decoded: int,
        detail: str,
        remedy: str | None = None,
    ):
        self.video, self.frame, self.decoded = str(video), int(frame), int(decoded)
        self.detail = detail
        self.remedy = remedy or REPAIR
        super().__init__(self.explain(f"pass end={self.frame} to open_video()"))

    def explain(self, use: str) -> str:
        """The message with ``use`` as the advice for keeping the frames before the bad one.

        Args:
            use: e.g. ``"pass end=40 to open_video()"`` or ``"run again with --end 40"``.
        """
        f, ok = self.frame, self.decoded
        head = f"Frame {f} of {self.video} could not be decoded ({self.detail})"
        if self.remedy == REPAIR:  # a video file (a folder's remedy names the image)
            head += ": the file is truncated or corrupt there"
        head += "."
        if f == 0:
            before = "It is the first frame: no frame before it can be used."
        elif ok >= f:
            span = "0" if f == 1 else f"0..{f - 1}"
            what = "The frame" if f == 1 else f"The {f} frames"
            before = f"{what} before it ({span}) decoded fine: {use} to use them."
        elif ok == 0:
            before = f"No frame before it was read yet: {use} to use the frames before it."
        else:
            before = (
                f"{ok} of the {f} frames before it were decoded fine (the others were not read "
                f"yet): {use} to use the frames before it."
            )
        return f"{head} {before} Or repair the file: {self.remedy}."

    def __reduce__(self) -> tuple:  # picklable (errors cross process boundaries in batch runs)
        return (type(self), (self.video, self.frame, self.decoded, self.detail, self.remedy))


def fit_size(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    """The size frames are returned at: shrunk to ``max_side`` (even sides), else as stored.

    Example:
        >>> fit_size(960, 540, 480)
        (480, 270)
    """
    if not max_side or max(w, h) <= max_side:
        return w, h
    if max_side < 16:
        raise VideoError(f"max_side={max_side} is too small; use at least 16 pixels.")
    s = max_side / max(w, h)
    return max(2, round(w * s / 2) * 2), max(2, round(h * s / 2) * 2)


class Backend:
    """Reads source frames by source index at the (possibly reduced) output size."""

    name: str
    path: Path | None
    num_frames: int
    fps: float
    source_size: tuple[int, int]
    size: tuple[int, int]

    times: np.ndarray  # each frame's presentation time in seconds (frame 0 at 0)
    decoder: str = ""  # what decodes the frames ("pyav", "decord", "image files", "array")
    rotation: int = 0  # degrees the frames were turned (clockwise) to show them upright
    damage: str | None = None
    max_side: int | None = None  # as opened (recorded so a saved session reopens the same)
    _ok: np.ndarray  # frames decoded fine so far (by index in the source)

    def read(self, idx: int) -> np.ndarray:  # pragma: no cover - abstract
        """Frame ``idx`` of the source as RGB ``uint8`` at :attr:`size`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release decoders and file handles."""

    def decoded_before(self, idx: int) -> int:
        """How many frames before ``idx`` were decoded fine so far."""
        return int(np.count_nonzero(self._ok[:idx]))


def even_times(n: int, fps: float) -> np.ndarray:
    """Presentation times of ``n`` frames at a constant rate (seconds; 30 fps if unknown).

    Example:
        >>> even_times(3, 10.0).tolist()
        [0.0, 0.1, 0.2]
    """
    return np.arange(int(n), dtype=np.float64) / float(fps or 30.0)


def uneven(times: Any) -> bool:
    """Whether frame times have gaps that differ by more than 1% (variable frame rate).

    Example:
        >>> uneven([0.0, 0.1, 0.2]), uneven([0.0, 0.1, 0.3])
        (False, True)
    """
    gaps = np.diff(np.asarray(times, np.float64))
    return bool(len(gaps) > 1 and np.ptp(gaps) > 0.01 * max(float(np.median(gaps)), 1e-9))


def cut_short(path: Path) -> tuple[int, int] | None:
    """``(bytes there, bytes its structure describes)`` when an MP4/MOV or AVI file is cut short.

    Reads only the headers of the file's top-level boxes (MP4/MOV) or chunks (AVI): the last
    one running past the end of the file is what an interrupted download or copy leaves. None
    for a whole file, or a container whose structure says nothing about its length.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12:
            return None
        riff = head[:4] == b"RIFF"
        if not riff and head[4:8] not in (b"ftyp", b"styp", b"moov", b"mdat", b"free", b"wide"):
            return None
        pos = 0
        for _ in range(100_000):  # fragmented MP4s have many boxes; each is one small read
            if pos >= size:
                return None
            fh.seek(pos)
            hdr = fh.read(16)
            if len(hdr) < 8:
                return (size, pos + 8)
            if riff:
                length = 8 + struct.unpack("<I", hdr[4:8])[0]
                length += length % 2  # RIFF chunks are padded to an even size
            else:
                length = struct.unpack(">I", hdr[:4])[0]
                if length == 1:
                    if len(hdr) < 16:
                        return (size, pos + 16)
                    length = struct.unpack(">Q", hdr[8:16])[0]
                elif length == 0:  # "to the end of the file"
                    return None
                if length < 8:  # not a box: the structure cannot be trusted
                    return None
            if pos + length > size + (1 if riff else 0):  # an odd last RIFF chunk needs no pad
                return (size, pos + length)
            pos += length
    return None


def fix_hint() -> str:
    """How to repair a video file, for messages."""
    return f"Re-encode it to H.264 (`{REENCODE}`) or re-download it."


def unreadable(path: Path, exc: BaseException, decoder: str = "decord") -> str:
    """Why ``path`` could not be opened (text, cut short, not a video) and the fix."""
    head = b""
    if path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(16)
    looks_text = bool(head) and all(32 <= b < 127 or b in (9, 10, 13) for b in head)
    cut = cut_short(path) if path.is_file() and not looks_text else None
    if looks_text:
        why = "it is a text file, not a video"
    elif cut is not None:
        why = (
            f"it is truncated: only {cut[0]} of its {cut[1]} bytes are there (an incomplete "
            "download or copy), and the part with its index is missing"
        )
    else:
        why = (
            "it is not a video FFmpeg can read, or it is truncated (an incomplete download or copy)"
        )
    return f"Video {path} could not be opened: {why} ({decoder}: {first_line(exc)}). {fix_hint()}"

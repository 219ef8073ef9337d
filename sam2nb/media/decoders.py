"""Video file readers: PyAV (the default) and decord, with frame-exact random access.

Both give RGB ``uint8`` frames by index, decoded on access; a reader that scales decodes straight
to the smaller size with FFmpeg's bilinear scaler (as sam2's own loader does, so the frames are
the same bit for bit). Which one reads a file: ``open_video(..., decoder=)``, else
``$SAM2NB_DECODER``, else PyAV where it is installed, else decord. Why PyAV is the default is
measured in ``benchmarks/decoders.py`` (the README's "Video decoders" section): decord 0.6 keeps
decoding ahead in a thread of its own after a random access, without bound, so its memory grows
with the file (9 GB after 12 s on a 10,200-frame file), and it ignores rotation metadata.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import VideoError
from ..base.jobs import first_line
from .backend import (
    Backend,
    FrameDecodeError,
    cut_short,
    even_times,
    fit_size,
    fix_hint,
    unreadable,
)

ATTEMPTS = 4  # decodes of a video frame before it counts as broken (see DecordBackend.read)


class DecordBackend(Backend):
    """decord's ``VideoReader`` (sam2's own loader): kept for where it is installed and chosen."""

    decoder = "decord"

    def __init__(self, path: Path, max_side: int | None):
        import decord

        self.path, self.name = path, path.name
        self._lock = threading.Lock()
        try:
            probe = decord.VideoReader(str(path), num_threads=1)
            h, w = probe[0].shape[:2] if len(probe) else (0, 0)
            self.num_frames, self.fps = len(probe), float(probe.get_avg_fps() or 0.0)
        except Exception as exc:
            raise VideoError(unreadable(path, exc)) from None
        if self.num_frames == 0 or w == 0:
            raise VideoError(f"Video {path} has no frames that can be decoded. {fix_hint()}")
        self._ok = np.zeros(self.num_frames, bool)
        self._ok[0] = True
        cut = cut_short(path)
        if cut is not None:
            self._use_what_decodes(path, *cut)
            probe = decord.VideoReader(str(path), num_threads=1)  # the probe may be left broken
        self.source_size = (w, h)
        self.size = fit_size(w, h, max_side)
        try:
            stamps = np.asarray(probe.get_frame_timestamp(range(self.num_frames)))[:, 0]
            self.times = stamps.astype(np.float64) - float(stamps[0])
        except Exception:  # no timestamps: an even rate
            self.times = even_times(self.num_frames, self.fps)
        self._reader = probe if self.size == self.source_size else self._open()

    def _use_what_decodes(self, path: Path, have: int, want: int) -> None:
        """A file cut short: keep the frames that decode (their count is found once, here)."""
        listed = self.num_frames
        good = decord_decodable(path, listed, self._ok)
        if good == 0:
            raise VideoError(
                f"Video {path} is cut short ({have} of its {want} bytes are there) and none of "
                f"its frames can be decoded. {fix_hint()}"
            )
        self.num_frames = good
        self._ok = self._ok[:good]
        self.damage = (
            f"{path} is cut short (an interrupted download or copy?): only {have} of its {want} "
            f"bytes are there. Its first {good} frames (0..{good - 1}) decode and are used; "
            "re-download it or copy it again for the rest."
        )
        warnings.warn(self.damage, stacklevel=4)

    def _open(self) -> Any:
        import decord

        w, h = self.size if self.size != self.source_size else (-1, -1)
        return decord.VideoReader(str(self.path), num_threads=1, width=w, height=h)

    def read(self, idx: int) -> np.ndarray:
        """Frame ``idx`` as RGB ``uint8`` (raises :class:`FrameDecodeError` if it is broken)."""
        # decord decodes ahead in a thread and reports a bad packet at whichever frame is asked
        # for next: the slower the reader, the earlier (dozens of frames before the bad one).
        # So a failure is tried again on fresh readers, which go straight to the frame. Even
        # they can fail on the frame just before the damage (about 1 in 7 tries on a machine
        # whose CPUs are all busy; never seen on an idle one), hence several tries.
        with self._lock:
            for attempt in range(ATTEMPTS):
                try:
                    frame = native(self._reader[idx])
                    break
                except Exception as exc:
                    self._reader = self._open()  # a failed decode can leave it unusable
                    if attempt == ATTEMPTS - 1:
                        raise FrameDecodeError(
                            self.path, idx, self.decoded_before(idx), decord_says(exc)
                        ) from None
        self._ok[idx] = True
        return frame

    def close(self) -> None:
        """Release the decoder."""
        self._reader = None

    def scaled(self, w: int, h: int) -> DecordBackend:
        """Another reader of the same file whose decoder scales frames to ``w`` x ``h``."""
        other = object.__new__(DecordBackend)
        other.__dict__.update(self.__dict__)
        other._lock = threading.Lock()
        other.size = (int(w), int(h))
        other._reader = other._open()
        return other


def decord_says(exc: BaseException) -> str:
    """The decoder's error, without the C++ check decord failed in.

    Example:
        >>> decord_says(RuntimeError("[03:15:21] a.cc:292: [03:15:21] a.cc:218: Check failed: "
        ...     "send(ctx.get()) >= 0 (-1094995529 vs. 0) Thread worker: Error sending packet."))
        'decord: Error sending packet'
    """
    text = first_line(exc)
    if text.startswith("Check failed:"):
        text = re.sub(r"^Check failed: .*?\(-?\d+ vs\. -?\d+\) ", "", text)
    text = text.removeprefix("Thread worker: ").rstrip(".")
    return f"decord: {text}"


def decord_decodable(path: Path, listed: int, ok: np.ndarray) -> int:
    """How many frames from the start decode, trying from the last keyframe backwards.

    Decodes the frames from the last keyframe that decodes to the first that does not (a GOP
    or two), marking each in ``ok``. A failure is tried again on fresh readers, as in
    :meth:`DecordBackend.read` (decord can report a bad packet a frame early).
    """
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    keys = sorted({int(k) for k in reader.get_key_indices() if 0 <= k < listed} | {0})
    for key in reversed(keys):
        i, failures = key, 0
        while i < listed:
            try:
                native(reader[i])
            except Exception:
                reader = decord.VideoReader(str(path), num_threads=1)
                failures += 1
                if failures == ATTEMPTS:
                    break
                continue
            ok[i] = True
            i, failures = i + 1, 0
        if i > key:
            return i
    return 0


def native(frame: Any) -> np.ndarray:
    """A decord frame as a numpy array, whichever bridge is set."""
    # sam2's init_state switches decord's global bridge to torch; accept either kind of frame
    return frame.asnumpy() if hasattr(frame, "asnumpy") else frame.numpy()


# -- PyAV -------------------------------------------------------------------------------------
_KEEP_BYTES = 64 << 20  # decoded frames kept after a seek, for reading backwards (YUV, bytes)


def pyav_says(exc: BaseException) -> str:
    """What FFmpeg said, for messages.

    Example:
        >>> pyav_says(ValueError("[Errno 1094995529] Invalid data found when processing input"))
        'FFmpeg: Invalid data found when processing input'
    """
    return "FFmpeg: " + re.sub(r"^\[Errno -?\d+\] ", "", first_line(exc)).rstrip(".")


class PyAVBackend(Backend):
    """PyAV (FFmpeg) with an index of every frame's presentation time, built at open.

    Opening reads the file's packets once (no decoding: about 30 ms for 10,000 frames) for
    each frame's timestamp and the keyframes. A frame is read by seeking to the keyframe
    before it and decoding up to it; the next frame continues from there, and frames decoded
    on the way are kept (up to 64 MB) so reading backwards does not seek for every frame.
    Nothing decodes ahead: memory does not grow with the file. Rotation metadata (phone
    video) is applied, so frames come upright.
    """

    decoder = "pyav"

    def __init__(self, path: Path, max_side: int | None):
        import av

        self.path, self.name = path, path.name
        self._lock = threading.Lock()
        self._av_error = av.FFmpegError
        try:
            self._container = av.open(str(path))
            if not self._container.streams.video:
                raise VideoError(
                    f"Video {path} has no video stream (audio only?). Open a file with video."
                )
            self._stream = self._container.streams.video[0]
            pts, keys, whole = self._index()
            first = self._first_frame()
        except VideoError:
            raise
        except Exception as exc:
            raise VideoError(unreadable(path, exc, "FFmpeg")) from None
        if len(pts) == 0 or first is None:
            raise VideoError(f"Video {path} has no frames that can be decoded. {fix_hint()}")
        self._pts, self._keys = pts, keys
        self.num_frames = len(pts)
        base = self._stream.time_base
        self._tb = float(base) if base else 1 / 90000
        self.times = (pts - pts[0]).astype(np.float64) * self._tb
        rate = self._stream.average_rate or self._stream.guessed_rate
        span = float(self.times[-1]) if self.num_frames > 1 else 0.0
        self.fps = float(rate) if rate else ((self.num_frames - 1) / span if span else 30.0)
        self.rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        self._turns = self.rotation // 90 % 4  # quarter turns np.rot90 makes
        w, h = first.width, first.height
        if self.rotation in (90, 270):
            w, h = h, w
        self.source_size = (w, h)
        self.size = fit_size(w, h, max_side)
        self._ok = np.zeros(self.num_frames, bool)
        self._ok[0] = True
        self._reset()
        cut = cut_short(path)
        if cut is None and not whole:  # unreadable before its end, whatever its structure says
            cut = (path.stat().st_size, path.stat().st_size)
        if cut is not None:
            self._use_what_decodes(*cut)

    # -- the index ----------------------------------------------------------------------------
    def _index(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Every frame's pts (presentation order), the keyframes' pts, and whether all was read."""
        pts, keys, whole = [], [], True
        try:
            for pkt in self._container.demux(self._stream):
                if pkt.size == 0 or getattr(pkt, "is_discard", False):
                    continue
                t = pkt.pts if pkt.pts is not None else pkt.dts
                if t is None:
                    continue
                pts.append(t)
                if pkt.is_keyframe:
                    keys.append(t)
        except self._av_error:
            whole = False  # the rest of the file cannot be read (cut short or damaged)
        order = np.unique(np.asarray(pts, np.int64))
        return order, np.unique(np.asarray(keys, np.int64)), whole

    def _first_frame(self) -> Any:
        self._container.seek(0, stream=self._stream)
        for frame in self._container.decode(self._stream):
            return frame
        return None

    def _use_what_decodes(self, have: int, want: int) -> None:
        """A file cut short: keep the frames that decode, found from the last keyframes."""
        good = 0
        for key in self._keys[::-1]:
            k = i = int(np.searchsorted(self._pts, key))
            try:
                self._seek(k)
                while i < self.num_frames and self._next_frame(i) is not None:
                    self._ok[i] = True
                    i += 1
            except (self._av_error, FrameDecodeError):
                pass
            if i > k:
                good = i
                break
        self._reset()
        if good == 0:
            raise VideoError(
                f"Video {self.path} is cut short ({have} of its {want} bytes are there) and "
                f"none of its frames can be decoded. {fix_hint()}"
            )
        if good == self.num_frames and have >= want:
            return  # read errors at the end, but every listed frame decodes
        self.num_frames = good
        self._pts, self._ok, self.times = self._pts[:good], self._ok[:good], self.times[:good]
        what = (
            f"is cut short (an interrupted download or copy?): only {have} of its {want} bytes "
            "are there"
            if have < want
            else "cannot be read to its end (damaged after its last good frames)"
        )
        self.damage = (
            f"{self.path} {what}. Its first {good} frames (0..{good - 1}) decode and are "
            "used; re-download it or copy it again for the rest."
        )
        warnings.warn(self.damage, stacklevel=5)

    # -- decoding -----------------------------------------------------------------------------
    def _reset(self) -> None:
        self._frames: Any = None  # the decoder's frame iterator, after a seek
        self._next = -1  # the frame index it gives next
        self._kept: dict[int, Any] = {}  # frames decoded on the way to a sought frame
        self._graph: Any = None

    def _seek(self, idx: int) -> None:
        """Position the decoder on the keyframe before frame ``idx``."""
        target = int(self._pts[idx])
        k = int(np.searchsorted(self._keys, target, side="right")) - 1
        key = int(self._keys[max(k, 0)])
        self._container.seek(key, stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)
        self._next = -1
        self._kept = {}

    def _next_frame(self, idx: int) -> Any:
        """Decode forward to frame ``idx`` (None: the stream ended before it)."""
        target = int(self._pts[idx])
        kept, size = {}, 0
        for frame in self._frames:
            t = frame.pts if frame.pts is not None else frame.dts
            if t is None:
                continue
            if t == target:
                self._kept.update(kept)  # decoding on from earlier reads: the oldest go first
                total = sum(map(_yuv_bytes, self._kept.values()))
                while total > _KEEP_BYTES and len(self._kept) > len(kept):
                    total -= _yuv_bytes(self._kept.pop(next(iter(self._kept))))
                self._next = idx + 1
                return frame
            if t > target:
                raise FrameDecodeError(
                    self.path, idx, self.decoded_before(idx), "FFmpeg skipped it: corrupt data"
                )
            i = int(np.searchsorted(self._pts, t))
            if i < self.num_frames and self._pts[i] == t:
                self._ok[i] = True
                kept[i] = frame
                size += _yuv_bytes(frame)
                while size > _KEEP_BYTES and kept:
                    size -= _yuv_bytes(kept.pop(next(iter(kept))))
        self._next = -1
        return None

    def _ahead(self, idx: int) -> bool:
        """Whether decoding on from here reaches ``idx`` as soon as a seek would.

        So it is when ``idx`` lies ahead with no keyframe between (Play skipping frames, a
        scrub forward): a seek would go back to that keyframe and decode forward again.
        """
        if self._frames is None or not 0 <= self._next < idx:
            return False
        target = int(self._pts[idx])
        k = int(np.searchsorted(self._keys, target, side="right")) - 1
        return int(self._keys[max(k, 0)]) <= int(self._pts[self._next])

    def _decode(self, idx: int) -> Any:
        if idx in self._kept:
            return self._kept.pop(idx)
        if idx != self._next and not self._ahead(idx):  # else on from here: no seek back
            self._seek(idx)
            frame = self._next_frame(idx)
            if frame is None:  # the seek landed after it (odd index): from the start
                self._container.seek(0, stream=self._stream, backward=True, any_frame=False)
                self._frames = self._container.decode(self._stream)
                frame = self._next_frame(idx)
        else:
            frame = self._next_frame(idx)
        if frame is None:
            raise FrameDecodeError(
                self.path, idx, self.decoded_before(idx), "FFmpeg: the stream ended before it"
            )
        return frame

    def _rgb(self, frame: Any) -> np.ndarray:
        w, h = self.size
        if self.rotation in (90, 270):
            w, h = h, w
        if (w, h) == (frame.width, frame.height):
            out = frame.to_ndarray(format="rgb24")
        else:  # FFmpeg's bilinear scaler in YUV, as decord (and so sam2) scale: same pixels
            out = self._scale(frame, w, h)
        if self.rotation:
            out = np.ascontiguousarray(np.rot90(out, k=self._turns))
        return out

    def _scale(self, frame: Any, w: int, h: int) -> np.ndarray:
        import av

        if self._graph is None:
            g = av.filter.Graph()
            chain = [
                g.add_buffer(template=self._stream),
                g.add("scale", f"w={w}:h={h}:flags=bilinear"),
                g.add("format", "rgb24"),
                g.add("buffersink"),
            ]
            for a, b in zip(chain, chain[1:], strict=False):
                a.link_to(b)
            g.configure()
            self._graph = g
        self._graph.push(frame)
        return self._graph.pull().to_ndarray()

    def read(self, idx: int) -> np.ndarray:
        """Frame ``idx`` as RGB ``uint8`` (raises :class:`FrameDecodeError` if it is broken)."""
        with self._lock:
            try:
                frame = self._decode(idx)
                out = self._rgb(frame)
            except FrameDecodeError:
                self._reset()
                raise
            except Exception as exc:
                self._reset()
                raise FrameDecodeError(
                    self.path, idx, self.decoded_before(idx), pyav_says(exc)
                ) from None
        self._ok[idx] = True
        return out

    def close(self) -> None:
        """Release the decoder."""
        with self._lock:
            self._reset()
            container, self._container = getattr(self, "_container", None), None
            if container is not None:
                container.close()

    def scaled(self, w: int, h: int) -> PyAVBackend:
        """Another reader of the same file whose frames are scaled to ``w`` x ``h``."""
        import av

        other = object.__new__(PyAVBackend)
        other.__dict__.update(self.__dict__)
        other._lock = threading.Lock()
        other.size = (int(w), int(h))
        other._container = av.open(str(self.path))
        other._stream = other._container.streams.video[0]
        other._reset()
        return other


DECODERS = ("pyav", "decord")


def default_decoder() -> str:
    """The decoder video files open with: ``$SAM2NB_DECODER``, else PyAV, else decord.

    Example:
        >>> default_decoder() in DECODERS
        True
    """
    chosen = os.environ.get("SAM2NB_DECODER", "").strip().lower()
    if chosen:
        return chosen
    try:
        import av  # noqa: F401

        return "pyav"
    except ImportError:
        return "decord"


def open_file(path: Path, max_side: int | None, decoder: str | None = None) -> Backend:
    """A reader for the video file ``path`` with ``decoder`` (see :func:`default_decoder`)."""
    name = (decoder or default_decoder()).strip().lower()
    if name not in DECODERS:
        raise VideoError(
            f"Unknown video decoder {name!r}: use one of {', '.join(DECODERS)} (decoder= or "
            "$SAM2NB_DECODER)."
        )
    try:
        return PyAVBackend(path, max_side) if name == "pyav" else DecordBackend(path, max_side)
    except ImportError:
        pkg = "av" if name == "pyav" else "decord"
        raise VideoError(
            f"The {name} video decoder is not installed: `pip install {pkg}`, or choose the "
            f"other one with decoder={'decord' if name == 'pyav' else 'pyav'!r}."
        ) from None


def _yuv_bytes(frame: Any) -> int:
    """What a decoded frame (YUV 4:2:0) kept on the way holds, in bytes."""
    return frame.width * frame.height * 3 // 2

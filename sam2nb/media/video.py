"""Lazy video sources: a video file, a folder of frames, or an in-memory array.

Opening never decodes the video: open time and memory do not depend on its length. Frames
are decoded on access (``source[i]``), as RGB ``uint8`` arrays of shape ``(H, W, 3)``.

A damaged file is handled in one of two ways. A file that is cut short (an interrupted download
or copy: MP4/MOV/M4V or AVI whose last box or chunk runs past the end of the file) is seen when
it is opened: its length is the number of frames that really decode (found by decoding from the
last keyframes, once), :attr:`VideoSource.damage` says what is missing, and a warning says so.
Damage inside the file (a corrupt frame) cannot be seen without decoding everything: reading that
frame raises :class:`FrameDecodeError`, which names the frame, says how many frames before it
decoded fine and suggests ``end=<frame>``; the frames before it stay readable.

Example:
    >>> import sam2nb as s2
    >>> video = s2.open_video("../shared/data/bedroom.mp4", max_side=480)  # doctest: +SKIP
    >>> len(video), video.fps, video.size, video[10].shape  # doctest: +SKIP
    (200, 30.0, (480, 270), (270, 480, 3))
"""

from __future__ import annotations

import os
import re
import struct
import threading
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2  # before decord: decord's bundled zlib breaks OpenCV's PNG codec if loaded first
import numpy as np

from ..base.errors import VideoError
from ..base.jobs import first_line

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_REENCODE = "ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p OUTPUT.mp4"
_REPAIR = f"re-download or re-encode it (`{_REENCODE}`)"
_ATTEMPTS = 4  # decodes of a video frame before it counts as broken (see _FileBackend.read)


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
        self.remedy = remedy or _REPAIR
        super().__init__(self.explain(f"pass end={self.frame} to open_video()"))

    def explain(self, use: str) -> str:
        """The message with ``use`` as the advice for keeping the frames before the bad one.

        Args:
            use: e.g. ``"pass end=40 to open_video()"`` or ``"run again with --end 40"``.
        """
        f, ok = self.frame, self.decoded
        head = f"Frame {f} of {self.video} could not be decoded ({self.detail})"
        if self.remedy == _REPAIR:  # a video file (a folder's remedy names the image)
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


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10`` (any names, not only integers).

    Example:
        >>> sorted(["f10.jpg", "f2.jpg", "f1.jpg"], key=natural_key)
        ['f1.jpg', 'f2.jpg', 'f10.jpg']
    """
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name)]


def to_rgb8(img: np.ndarray, name: str = "image", bgr: bool = False) -> np.ndarray:
    """Convert gray, gray+alpha, RGB(A), 16-bit or float images to RGB ``uint8`` (H, W, 3).

    Args:
        img: the pixels.
        name: what to call the image in error messages.
        bgr: the channels are in OpenCV's BGR(A) order.

    Example:
        >>> to_rgb8(np.full((2, 2), 65535, np.uint16))[0, 0].tolist()
        [255, 255, 255]
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise VideoError(
            f"{name} has shape {a.shape}; expected (H, W) gray or (H, W, 3/4) color pixels."
        )
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise VideoError(f"{name} has NaN or infinite pixel values.")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        a = np.clip(a, 0, 255).astype(np.uint8)
    else:
        raise VideoError(f"{name} has pixel type {a.dtype}; expected uint8, uint16 or float.")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 2:  # gray + alpha
        return np.repeat(a[:, :, :1], 3, axis=2)
    rgb = a[:, :, :3]
    if bgr:
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB ``uint8``, converting gray, RGBA and 16-bit images.

    Raises:
        VideoError: missing, empty or unreadable file, named in the message.

    Example:
        >>> read_image("../shared/data/truck.jpg").shape  # doctest: +SKIP
        (1200, 1800, 3)
    """
    p = Path(path)
    _check_file(p, "Image")
    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None:  # OpenCV fails on PNGs if decord was imported before it: try PIL too
        return _read_with_pil(p)
    return to_rgb8(img, str(p), bgr=True)


def _read_with_pil(p: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(p) as im:
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):
                return to_rgb8(np.asarray(im).astype(np.uint16), str(p))
            return to_rgb8(np.asarray(im.convert("RGBA" if "A" in im.mode else "RGB")), str(p))
    except Exception:
        raise VideoError(
            f"Image {p} could not be decoded: it is not an image OpenCV can read, or it is "
            "truncated. Open it in an image viewer, or save it again as PNG or JPEG."
        ) from None


def _check_file(p: Path, what: str) -> None:
    if not p.exists():
        raise VideoError(
            f"{what} {p} does not exist (relative paths start at {Path.cwd()}). Check the path."
        )
    if p.is_file() and p.stat().st_size == 0:
        raise VideoError(
            f"{what} {p} is empty (0 bytes): the copy or upload did not finish. Copy it again."
        )


def _fit(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    if not max_side or max(w, h) <= max_side:
        return w, h
    if max_side < 16:
        raise VideoError(f"max_side={max_side} is too small; use at least 16 pixels.")
    s = max_side / max(w, h)
    return max(2, round(w * s / 2) * 2), max(2, round(h * s / 2) * 2)


class _Backend:
    """Reads source frames by source index at the (possibly reduced) output size."""

    name: str
    path: Path | None
    num_frames: int
    fps: float
    source_size: tuple[int, int]
    size: tuple[int, int]

    damage: str | None = None
    max_side: int | None = None  # as opened (recorded so a saved session reopens the same)
    _ok: np.ndarray  # frames decoded fine so far (by index in the source)

    def read(self, idx: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release decoders and file handles."""

    def _decoded_before(self, idx: int) -> int:
        return int(np.count_nonzero(self._ok[:idx]))


class _FileBackend(_Backend):
    def __init__(self, path: Path, max_side: int | None):
        import decord

        self.path, self.name = path, path.name
        self._lock = threading.Lock()
        try:
            probe = decord.VideoReader(str(path), num_threads=1)
            h, w = probe[0].shape[:2] if len(probe) else (0, 0)
            self.num_frames, self.fps = len(probe), float(probe.get_avg_fps() or 0.0)
        except Exception as exc:
            raise VideoError(_unreadable(path, exc)) from None
        if self.num_frames == 0 or w == 0:
            raise VideoError(f"Video {path} has no frames that can be decoded. {_fix()}")
        self._ok = np.zeros(self.num_frames, bool)
        self._ok[0] = True
        cut = _cut_short(path)
        if cut is not None:
            self._use_what_decodes(path, *cut)
            probe = decord.VideoReader(str(path), num_threads=1)  # the probe may be left broken
        self.source_size = (w, h)
        self.size = _fit(w, h, max_side)
        self._reader = probe if self.size == self.source_size else self._open()

    def _use_what_decodes(self, path: Path, have: int, want: int) -> None:
        """A file cut short: keep the frames that decode (their count is found once, here)."""
        listed = self.num_frames
        good = _decodable_frames(path, listed, self._ok)
        if good == 0:
            raise VideoError(
                f"Video {path} is cut short ({have} of its {want} bytes are there) and none of "
                f"its frames can be decoded. {_fix()}"
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
        # decord decodes ahead in a thread and reports a bad packet at whichever frame is asked
        # for next: the slower the reader, the earlier (dozens of frames before the bad one).
        # So a failure is tried again on fresh readers, which go straight to the frame. Even
        # they can fail on the frame just before the damage (about 1 in 7 tries on a machine
        # whose CPUs are all busy; never seen on an idle one), hence several tries.
        with self._lock:
            for attempt in range(_ATTEMPTS):
                try:
                    frame = _native(self._reader[idx])
                    break
                except Exception as exc:
                    self._reader = self._open()  # a failed decode can leave it unusable
                    if attempt == _ATTEMPTS - 1:
                        raise FrameDecodeError(
                            self.path, idx, self._decoded_before(idx), _decoder_says(exc)
                        ) from None
        self._ok[idx] = True
        return frame

    def close(self) -> None:
        self._reader = None

    def scaled(self, w: int, h: int) -> _FileBackend:
        """Another reader of the same file whose decoder scales frames to ``w`` x ``h``."""
        other = object.__new__(_FileBackend)
        other.__dict__.update(self.__dict__)
        other._lock = threading.Lock()
        other.size = (int(w), int(h))
        other._reader = other._open()
        return other


def _decoder_says(exc: BaseException) -> str:
    """The decoder's error, without the C++ check decord failed in.

    Example:
        >>> _decoder_says(RuntimeError("[03:15:21] a.cc:292: [03:15:21] a.cc:218: Check failed: "
        ...     "send(ctx.get()) >= 0 (-1094995529 vs. 0) Thread worker: Error sending packet."))
        'decord: Error sending packet'
    """
    text = first_line(exc)
    if text.startswith("Check failed:"):
        text = re.sub(r"^Check failed: .*?\(-?\d+ vs\. -?\d+\) ", "", text)
    text = text.removeprefix("Thread worker: ").rstrip(".")
    return f"decord: {text}"


def _cut_short(path: Path) -> tuple[int, int] | None:
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


def _decodable_frames(path: Path, listed: int, ok: np.ndarray) -> int:
    """How many frames from the start decode, trying from the last keyframe backwards.

    Decodes the frames from the last keyframe that decodes to the first that does not (a GOP
    or two), marking each in ``ok``. A failure is tried again on fresh readers, as in
    :meth:`_FileBackend.read` (decord can report a bad packet a frame early).
    """
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    keys = sorted({int(k) for k in reader.get_key_indices() if 0 <= k < listed} | {0})
    for key in reversed(keys):
        i, failures = key, 0
        while i < listed:
            try:
                _native(reader[i])
            except Exception:
                reader = decord.VideoReader(str(path), num_threads=1)
                failures += 1
                if failures == _ATTEMPTS:
                    break
                continue
            ok[i] = True
            i, failures = i + 1, 0
        if i > key:
            return i
    return 0


def _native(frame: Any) -> np.ndarray:
    # sam2's init_state switches decord's global bridge to torch; accept either kind of frame
    return frame.asnumpy() if hasattr(frame, "asnumpy") else frame.numpy()


def _fix() -> str:
    return f"Re-encode it to H.264 (`{_REENCODE}`) or re-download it."


def _unreadable(path: Path, exc: BaseException) -> str:
    head = b""
    if path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(16)
    looks_text = bool(head) and all(32 <= b < 127 or b in (9, 10, 13) for b in head)
    cut = _cut_short(path) if path.is_file() and not looks_text else None
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
    return f"Video {path} could not be opened: {why} (decord: {first_line(exc)}). {_fix()}"


class _FolderBackend(_Backend):
    def __init__(self, path: Path, max_side: int | None, fps: float | None):
        from PIL import Image

        self.path, self.name = path, path.name
        entries = [e for e in os.listdir(path) if not e.startswith(".")]
        files = sorted(
            (e for e in entries if e.lower().endswith(IMAGE_EXTENSIONS)), key=natural_key
        )
        if not files:
            others = [e for e in entries if (path / e).is_file()]
            hint = f" It holds {len(others)} other files (e.g. {others[0]})." if others else ""
            raise VideoError(
                f"Folder {path} has no frames: no {'/'.join(IMAGE_EXTENSIONS)} files.{hint} "
                "Put the frames there as numbered JPEG or PNG files."
            )
        sizes: list[tuple[int, int]] = []
        for f in files:  # headers only: no pixels are decoded here
            fp = path / f
            if fp.stat().st_size == 0:
                raise VideoError(f"Frame {fp} is empty (0 bytes). Copy it again or remove it.")
            try:
                with Image.open(fp) as im:
                    sizes.append(im.size)
            except Exception as exc:
                raise VideoError(
                    f"Frame {fp} is not a readable image ({first_line(exc)}). Replace or remove it."
                ) from None
        common, count = Counter(sizes).most_common(1)[0]
        if count != len(files):
            odd = [(f, s) for f, s in zip(files, sizes, strict=True) if s != common][:3]
            shown = ", ".join(f"{f} is {s[0]}x{s[1]}" for f, s in odd)
            raise VideoError(
                f"Frames in {path} have different sizes: {count} of {len(files)} are "
                f"{common[0]}x{common[1]} but {shown}. A video needs one frame size: resize or "
                "remove the odd frames."
            )
        self._files = files
        self.num_frames = len(files)
        self._ok = np.zeros(self.num_frames, bool)
        self.fps = float(fps or 30.0)
        self.source_size = common
        self.size = _fit(*common, max_side)

    def read(self, idx: int) -> np.ndarray:
        name = self._files[idx]
        try:
            frame = read_image(self.path / name)
        except VideoError:
            raise FrameDecodeError(
                self.path, idx, self._decoded_before(idx),
                f"{name} is missing, not an image, or truncated",
                remedy=f"replace {name} with a good copy, or remove it",
            ) from None  # fmt: skip
        self._ok[idx] = True
        if frame.shape[1::-1] != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        return frame

    def file(self, idx: int) -> Path:
        return self.path / self._files[idx]


class _ArrayBackend(_Backend):
    def __init__(self, frames: Any, max_side: int | None, fps: float | None, name: str):
        self.path, self.name = None, name
        if isinstance(frames, np.ndarray):
            if frames.ndim not in (3, 4):
                raise VideoError(
                    f"Frame array has shape {frames.shape}; expected (T, H, W, 3), (T, H, W, 4) "
                    "or (T, H, W) for gray."
                )
        elif isinstance(frames, Sequence) and not isinstance(frames, (str, bytes)):
            shapes = {np.asarray(f).shape[:2] for f in frames}
            if len(shapes) > 1:
                raise VideoError(
                    f"Frames in the list have different sizes {sorted(shapes)[:3]}: a video "
                    "needs one frame size. Resize them first."
                )
        else:
            raise VideoError(
                f"Cannot open a {type(frames).__name__} as a video: pass a file path, a folder "
                "of frames, or an array of shape (T, H, W, 3)."
            )
        if len(frames) == 0:
            raise VideoError("The frame array is empty: it has no frames.")
        first = np.asarray(frames[0])
        if first.ndim not in (2, 3):
            raise VideoError(f"Frame 0 has shape {first.shape}; expected (H, W, 3) or (H, W).")
        self._frames = frames
        self.num_frames = len(frames)
        self._ok = np.ones(self.num_frames, bool)  # arrays are decoded already
        self.fps = float(fps or 30.0)
        self.source_size = (first.shape[1], first.shape[0])
        self.size = _fit(*self.source_size, max_side)

    def read(self, idx: int) -> np.ndarray:
        frame = to_rgb8(self._frames[idx], f"frame {idx} of {self.name}")
        if frame.shape[1::-1] != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        return frame


class VideoSource:
    """Lazy random access to the frames of a video file, a frame folder or an array.

    Use :func:`open_video` to make one. Indices run over the selected frames
    (``start``/``end``/``stride`` applied); :meth:`source_index` maps back to the file.

    Attributes:
        name: file or folder name (or ``"array"``).
        path: the file or folder (None for arrays).
        fps: frames per second of the selected frames (``source fps / stride``).
        size: ``(width, height)`` of the frames returned.
        source_size: ``(width, height)`` in the file.
        damage: what is wrong with a file that was cut short (its length counts only the
            frames that decode), else None.
    """

    def __init__(self, backend: _Backend, start: int = 0, end: int | None = None, stride: int = 1):
        n = backend.num_frames
        for label, value in (("start", start), ("stride", stride)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise VideoError(f"{label} must be an integer, got {value!r}.")
        if stride < 1:
            raise VideoError(f"stride must be 1 or more, got {stride}.")
        if not 0 <= start < n:
            why = f" {backend.damage}" if backend.damage else ""
            raise VideoError(f"start={start} is outside {backend.name}, which has {n} frames.{why}")
        stop = n if end is None else int(end)
        if not start < stop <= n:
            why = f" {backend.damage}" if backend.damage else ""
            raise VideoError(
                f"end={end} must be after start={start} and at most {n} (the frame count of "
                f"{backend.name}).{why}"
            )
        self._backend = backend
        self._range = range(start, stop, stride)
        self.name = backend.name
        self.path = backend.path
        self.fps = backend.fps / stride
        self.size = backend.size
        self.source_size = backend.source_size
        self.damage = backend.damage

    @property
    def width(self) -> int:
        """Width of the returned frames in pixels."""
        return self.size[0]

    @property
    def height(self) -> int:
        """Height of the returned frames in pixels."""
        return self.size[1]

    @property
    def frame_range(self) -> range:
        """The source frames this video shows (``start``, ``end`` and ``stride`` as opened)."""
        return self._range

    @property
    def max_side(self) -> int | None:
        """The longest side frames were scaled to when opened (None: as stored)."""
        return getattr(self._backend, "max_side", None)

    @property
    def num_source_frames(self) -> int:
        """Frames in the underlying file, folder or array (before start/end/stride)."""
        return self._backend.num_frames

    def __len__(self) -> int:
        return len(self._range)

    def source_index(self, idx: int) -> int:
        """Map an index of this source to the frame index in the file.

        Example:
            >>> open_video(np.zeros((10, 4, 4, 3), np.uint8), stride=3).source_index(2)
            6
        """
        return self._range[self._check(idx)]

    def _check(self, idx: Any) -> int:
        if not isinstance(idx, (int, np.integer)) or isinstance(idx, bool):
            raise TypeError(f"frame index must be an integer, got {idx!r}")
        n = len(self)
        i = int(idx) + n if idx < 0 else int(idx)
        if not 0 <= i < n:
            raise IndexError(
                f"frame {idx} is out of range: {self.name} has {n} frames (0..{n - 1})"
            )
        return i

    def __getitem__(self, idx: int) -> np.ndarray:
        return self._backend.read(self._range[self._check(idx)])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def decoded_at(self, width: int, height: int) -> VideoSource | None:
        """The same frames decoded straight to ``width`` x ``height`` by the video decoder.

        This is how sam2 itself loads video files (decord's scaler), so a model fed these
        frames sees exactly what sam2's ``init_state`` would give it. None for frame folders
        and arrays.

        Example:
            >>> open_video(np.zeros((2, 8, 8, 3), np.uint8)).decoded_at(4, 4) is None
            True
        """
        if not isinstance(self._backend, _FileBackend):
            return None
        r = self._range
        return VideoSource(self._backend.scaled(width, height), r.start, r.stop, r.step)

    def close(self) -> None:
        """Release the decoder (the source cannot be read afterwards)."""
        self._backend.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.size
        return f"VideoSource({self.name!r}, {len(self)} frames, {w}x{h}, {self.fps:g} fps)"


def open_video(
    source: str | os.PathLike | np.ndarray | Sequence[np.ndarray] | VideoSource,
    *,
    start: int = 0,
    end: int | None = None,
    stride: int = 1,
    max_side: int | None = None,
    fps: float | None = None,
) -> VideoSource:
    """Open a video lazily: a file (mp4/mov/mkv/avi/webm), a folder of frames, or an array.

    Args:
        source: the file, the folder (jpg/png/... with any sortable names), or frames as an
            array ``(T, H, W, 3)`` / list of ``(H, W, 3)`` arrays (gray, RGBA and 16-bit are
            converted).
        start: first frame to use.
        end: frame to stop before (default: the end).
        stride: use every ``stride``-th frame.
        max_side: shrink frames so their longer side is at most this many pixels.
        fps: frame rate for folders and arrays (default 30); files report their own.

    Returns:
        The source; nothing is decoded until a frame is read. A file cut short (an interrupted
        download or copy of an MP4/MOV/AVI) is the exception: its length is the number of
        frames that really decode, found here by decoding from its last keyframes (a GOP or
        two); ``damage`` says what is missing and a ``UserWarning`` says the same.

    Raises:
        VideoError: missing path, empty or unreadable file, empty folder, mixed frame sizes,
            bad range; the message names the file and the fix.
        FrameDecodeError: not raised here but when a frame is read that cannot be decoded
            (corrupt data the open could not see); it names the frame and suggests ``end=``.

    Example:
        >>> v = open_video(np.zeros((5, 48, 64, 3), np.uint8), max_side=32)
        >>> len(v), v.size
        (5, (32, 24))
    """
    if isinstance(source, VideoSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        p = Path(source).expanduser()
        _check_file(p, "Folder" if p.is_dir() else "Video")
        if p.is_dir():
            backend: _Backend = _FolderBackend(p, max_side, fps)
        elif p.suffix.lower() in IMAGE_EXTENSIONS:
            raise VideoError(
                f"{p} is a single image, not a video. Use sam2nb.read_image() for images, or put "
                "the video's frames in a folder and open the folder."
            )
        else:
            backend = _FileBackend(p, max_side)
    else:
        backend = _ArrayBackend(source, max_side, fps, "array")
    backend.max_side = int(max_side) if max_side else None
    return VideoSource(backend, start=start, end=end, stride=stride)

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
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2  # before decord: decord's bundled zlib breaks OpenCV's PNG codec if loaded first
import numpy as np

from ..base.errors import VideoError
from ..base.jobs import first_line
from .backend import Backend, FrameDecodeError, even_times, fit_size, uneven
from .decoders import open_file

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


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


class FolderBackend(Backend):
    """A folder of image files, one per frame, in natural name order."""

    decoder = "image files"

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
        self.times = even_times(self.num_frames, self.fps)
        self.source_size = common
        self.size = fit_size(*common, max_side)

    def read(self, idx: int) -> np.ndarray:
        """Frame ``idx`` as RGB ``uint8`` at :attr:`size`."""
        name = self._files[idx]
        try:
            frame = read_image(self.path / name)
        except VideoError:
            raise FrameDecodeError(
                self.path, idx, self.decoded_before(idx),
                f"{name} is missing, not an image, or truncated",
                remedy=f"replace {name} with a good copy, or remove it",
            ) from None  # fmt: skip
        self._ok[idx] = True
        if frame.shape[1::-1] != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        return frame

    def file(self, idx: int) -> Path:
        """The image file of frame ``idx``."""
        return self.path / self._files[idx]


class ArrayBackend(Backend):
    """Frames already in memory: an array ``(T, H, W, 3)`` or a list of images."""

    decoder = "array"

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
        self.times = even_times(self.num_frames, self.fps)
        self.source_size = (first.shape[1], first.shape[0])
        self.size = fit_size(*self.source_size, max_side)

    def read(self, idx: int) -> np.ndarray:
        """Frame ``idx`` as RGB ``uint8`` at :attr:`size`."""
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
        decoder: what decodes the frames: ``"pyav"``, ``"decord"``, ``"image files"`` or
            ``"array"``.
        rotation: degrees the file's frames were turned to show them upright (phone video's
            rotation metadata; PyAV only).
    """

    def __init__(self, backend: Backend, start: int = 0, end: int | None = None, stride: int = 1):
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
        self.decoder = backend.decoder
        self.rotation = backend.rotation

    @property
    def times(self) -> np.ndarray:
        """Each frame's presentation time in seconds, as the file says (its frame 0 at 0).

        Variable frame rate video (phones, screen recordings) has uneven gaps; folders and
        arrays have an even ``fps``. With ``start``, the first time is the start's time in the
        file, so times match what a video player shows.

        Example:
            >>> open_video(np.zeros((6, 4, 4, 3), np.uint8), fps=10, start=2, stride=2).times
            array([0.2, 0.4])
        """
        return self._backend.times[self._range.start : self._range.stop : self._range.step]

    @property
    def variable_rate(self) -> bool:
        """Whether the gaps between frames differ by more than 1% (variable frame rate)."""
        return uneven(self.times)

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
        if not hasattr(self._backend, "scaled"):
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
    decoder: str | None = None,
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
        decoder: what decodes video files: ``"pyav"`` (the default where PyAV is installed)
            or ``"decord"``; ``$SAM2NB_DECODER`` sets the default.

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
            backend: Backend = FolderBackend(p, max_side, fps)
        elif p.suffix.lower() in IMAGE_EXTENSIONS:
            raise VideoError(
                f"{p} is a single image, not a video. Use sam2nb.read_image() for images, or put "
                "the video's frames in a folder and open the folder."
            )
        else:
            backend = open_file(p, max_side, decoder)
    else:
        backend = ArrayBackend(source, max_side, fps, "array")
    backend.max_side = int(max_side) if max_side else None
    return VideoSource(backend, start=start, end=end, stride=stride)

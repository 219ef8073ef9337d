"""Streaming frames for sam2's video predictor: decode lazily, prefetch, resize on the device.

sam2's ``init_state`` decodes the whole video up front and keeps every frame as float32 at
the model's input size (12 MiB a frame at 1024 px). :class:`FrameStream` stands in for that
array: sam2 indexes it (``images[frame_idx]``) and gets the frame it asked for, decoded just
in time while a background thread decodes the next ones in the direction of travel. Frames
cross to the device as uint8 and are resized and normalised there.

A frame that cannot be decoded (see :class:`~sam2nb.media.video.FrameDecodeError`) is not
retried in the background: the error is kept and raised to whoever asks for that frame, and
the prefetch does not run past it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..base.errors import VideoError
from .video import VideoSource

IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


def _resize_mode(video: VideoSource) -> str:
    """Match how sam2 itself resizes each kind of source (so results agree with it).

    sam2 loads video files with decord's scaler, which is closest to antialiased bilinear,
    and frame folders with PIL's default (antialiased bicubic).
    """
    return "bicubic" if video.path is not None and video.path.is_dir() else "bilinear"


class FrameStream:
    """A lazy, prefetching stand-in for sam2's preloaded frame tensor.

    Args:
        video: the source (see :func:`sam2nb.open_video`).
        image_size: the model's input size.
        device: where frames go (the model's device).
        prefetch: how many frames to decode ahead in the direction of travel (0: none).
        resize: ``"decoder"``: video files are decoded straight to the model's size by the
            decoder, exactly as sam2's own loader does (results match sam2 bit for bit);
            ``"device"``: full frames go to the device as uint8 and are resized there;
            ``"auto"``: decoder for video files, device for folders and arrays.

    Example:
        >>> import sam2nb as s2
        >>> fs = FrameStream(s2.open_video(np.zeros((3, 20, 30, 3), np.uint8)), 16, "cpu")
        >>> tuple(fs[2].shape), len(fs)
        ((3, 16, 16), 3)
        >>> fs.close()
    """

    def __init__(
        self,
        video: VideoSource,
        image_size: int,
        device: Any,
        prefetch: int = 8,
        resize: str = "auto",
    ):
        import torch

        if resize not in ("auto", "decoder", "device"):
            raise ValueError(f"resize must be 'auto', 'decoder' or 'device', got {resize!r}")

        self.video = video
        self.image_size = int(image_size)
        self.device = torch.device(device)
        self.prefetch = max(0, int(prefetch))
        self.mode = _resize_mode(video)
        self._source = video
        if resize in ("auto", "decoder"):
            scaled = video.decoded_at(self.image_size, self.image_size)
            if scaled is None and resize == "decoder":
                raise ValueError(f"{video.name} is not a video file: use resize='device'")
            self._source = scaled or video
        self.resize = "decoder" if self._source is not video else "device"
        self._mean = torch.tensor(IMG_MEAN, dtype=torch.float32, device=self.device)[:, None, None]
        self._std = torch.tensor(IMG_STD, dtype=torch.float32, device=self.device)[:, None, None]
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cond = threading.Condition()
        self._cursor = -1
        self._step = 1
        self._closed = False
        self.decoded = 0  # frames decoded so far (prefetched or not)
        self.hits = 0  # requests served from the prefetch cache
        self._failed: dict[int, BaseException] = {}  # frames that could not be decoded
        self._busy: int | None = None  # the frame the prefetch is decoding now
        self._thread: threading.Thread | None = None
        if self.prefetch:
            self._thread = threading.Thread(
                target=self._worker, name="sam2nb-prefetch", daemon=True
            )
            self._thread.start()

    def __len__(self) -> int:
        return len(self.video)

    # -- decoding --------------------------------------------------------------------------
    def _wanted(self) -> list[int]:
        n = len(self.video)
        if self._cursor < 0 or self._cursor in self._failed:  # stopped at a broken frame
            return []
        out = []
        for k in range(1, self.prefetch + 1):
            i = self._cursor + k * self._step
            if not 0 <= i < n or i in self._failed:  # no decoding past a broken frame
                break
            out.append(i)
        return out

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    todo = [i for i in self._wanted() if i not in self._cache]
                    if todo:
                        break
                    self._cond.wait()
                if self._closed:
                    return
                idx = todo[0]
                self._busy = idx
            try:
                frame = self._source[idx]
            except Exception as exc:  # kept, and raised when the frame is asked for
                with self._cond:
                    self._failed[idx] = exc
                continue
            finally:
                with self._cond:
                    self._busy = None
                    self._cond.notify_all()
            with self._cond:
                self.decoded += 1
                keep = set(self._wanted()) | {self._cursor}
                if idx in keep:
                    self._cache[idx] = frame
                for old in [i for i in self._cache if i not in keep]:
                    del self._cache[old]

    def raw(self, idx: int) -> np.ndarray:
        """Frame ``idx`` as ``(H, W, 3)`` uint8 as the model reads it (from the prefetch).

        That is at video resolution with ``resize="device"``, at the model's size with
        ``"decoder"``.

        Raises:
            FrameDecodeError: the frame cannot be decoded (also when the prefetch found that
                first: the error it met is raised here, once per request, never lost).
        """
        idx = int(idx)
        with self._cond:
            if idx != self._cursor:
                self._step = 1 if idx > self._cursor else -1
                self._cursor = idx
            # the prefetch is decoding this very frame: wait for it rather than decode it twice
            while self._busy == idx and self._thread is not None and self._thread.is_alive():
                self._cond.wait(0.5)
            frame = self._cache.get(idx)
            failed = self._failed.get(idx)
            if failed is not None and not isinstance(failed, VideoError):
                del self._failed[idx]  # maybe passing (out of memory): raised once, then retried
            if frame is not None:
                self.hits += 1
            self._cond.notify_all()
        if isinstance(failed, VideoError):
            raise failed.with_traceback(None)  # the file is broken there: no decoding again
        if failed is not None:
            raise failed
        if frame is None:
            try:
                frame = self._source[idx]
            except VideoError as exc:
                with self._cond:
                    self._failed[idx] = exc
                raise
            with self._cond:
                self.decoded += 1
        return frame

    def to_model_input(self, frame: np.ndarray) -> Any:
        """Resize and normalise one uint8 frame on the device: ``(3, S, S)`` float32."""
        import torch
        import torch.nn.functional as F

        s = self.image_size
        t = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device, non_blocking=True)
        t = t.permute(2, 0, 1).float()
        if tuple(t.shape[1:]) != (s, s):
            t = F.interpolate(
                t[None], size=(s, s), mode=self.mode, antialias=True, align_corners=False
            )[0]
            t = t.round_().clamp_(0, 255)  # sam2's loaders see 8-bit resized frames
        t = t / 255.0
        t -= self._mean
        t /= self._std
        return t

    def __getitem__(self, idx: int) -> Any:
        return self.to_model_input(self.raw(idx))

    def close(self) -> None:
        """Stop the prefetch thread and drop cached frames."""
        with self._cond:
            self._closed = True
            self._cache.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._source is not self.video:
            self._source.close()

    def __repr__(self) -> str:
        return (
            f"FrameStream({self.video.name!r}, {len(self)} frames -> {self.image_size}px on "
            f"{self.device}, resized by the {self.resize}, prefetch {self.prefetch})"
        )

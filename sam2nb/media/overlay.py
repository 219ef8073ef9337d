"""What a view shows: display sizes, exact coordinate mapping, mask layers and JPEG frames.

Nothing here knows about widgets: the widgets call these functions and draw what they return,
and tests and scripts can call them too. Frames are shown at a display size (at most 960 px
wide by default), encoded once as RGB JPEG and cached; masks travel as a separate, mostly
transparent RGBA layer cropped to the objects, so a mask edit never re-encodes the frame.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ..base.colors import color_of

DISPLAY_WIDTH = 960
JPEG_QUALITY = 85


def fit_size(width: int, height: int, max_width: int | None = DISPLAY_WIDTH) -> tuple[int, int]:
    """The display size of a ``width`` x ``height`` frame, at most ``max_width`` wide.

    Frames are never enlarged; the aspect ratio is kept (rounded to whole pixels).

    Example:
        >>> fit_size(1920, 1080)
        (960, 540)
        >>> fit_size(640, 480)
        (640, 480)
    """
    if width < 1 or height < 1:
        raise ValueError(f"a frame of {width}x{height} pixels cannot be shown")
    if max_width is None or width <= max_width:
        return int(width), int(height)
    if max_width < 16:
        raise ValueError(f"max_width={max_width} is too small: give 16 pixels or more")
    return int(max_width), max(1, round(height * max_width / width))


@dataclass(frozen=True)
class Viewport:
    """The exact mapping between video pixels and display pixels.

    A point at the centre of display pixel ``(i, j)`` covers the same part of the picture as
    the corresponding video position: ``to_video(to_display(p)) == p``.

    Attributes:
        video_size: ``(width, height)`` of the video frames.
        display_size: ``(width, height)`` of what is shown.

    Example:
        >>> vp = Viewport((1920, 1080), (960, 540))
        >>> vp.to_video(480, 270)
        (960.0, 540.0)
    """

    video_size: tuple[int, int]
    display_size: tuple[int, int]

    @classmethod
    def fit(cls, width: int, height: int, max_width: int | None = DISPLAY_WIDTH) -> Viewport:
        """A viewport that shows a ``width`` x ``height`` video at most ``max_width`` wide."""
        return cls((int(width), int(height)), fit_size(width, height, max_width))

    @property
    def scale(self) -> tuple[float, float]:
        """Video pixels per display pixel, along x and y."""
        return (
            self.video_size[0] / self.display_size[0],
            self.video_size[1] / self.display_size[1],
        )

    def to_video(self, x: float, y: float) -> tuple[float, float]:
        """Display coordinates to video coordinates (clamped to the frame)."""
        sx, sy = self.scale
        w, h = self.video_size
        return (min(max(float(x) * sx, 0.0), float(w)), min(max(float(y) * sy, 0.0), float(h)))

    def to_display(self, x: float, y: float) -> tuple[float, float]:
        """Video coordinates to display coordinates."""
        sx, sy = self.scale
        return float(x) / sx, float(y) / sy

    def box_to_video(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        """A box dragged in display pixels, in video pixels, sorted as ``[x0, y0, x1, y1]``."""
        a, b = self.to_video(min(x0, x1), min(y0, y1))
        c, d = self.to_video(max(x0, x1), max(y0, y1))
        return [a, b, c, d]

    def resize_frame(self, rgb: np.ndarray) -> np.ndarray:
        """A video frame at the display size (area interpolation, as photo viewers do)."""
        w, h = self.display_size
        if rgb.shape[1] == w and rgb.shape[0] == h:
            return rgb
        return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)

    def resize_mask(self, mask: np.ndarray) -> np.ndarray:
        """A video-resolution mask at the display size (a pixel is on if its centre is)."""
        w, h = self.display_size
        m = np.asarray(mask, dtype=bool)
        if m.shape == (h, w):
            return m
        return cv2.resize(m.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    r"""Encode an ``(H, W, 3)`` uint8 RGB image as JPEG bytes.

    Example:
        >>> encode_jpeg(np.zeros((8, 8, 3), np.uint8)).startswith(b"\xff\xd8")  # JPEG's marker
        True
    """
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(
        buf, "JPEG", quality=int(quality)
    )
    return buf.getvalue()


def encode_png(rgba: np.ndarray) -> bytes:
    """Encode an ``(H, W, 4)`` uint8 image as PNG bytes (fast compression)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def encode_palette_png(index: np.ndarray, palette: np.ndarray) -> bytes:
    """Encode an ``(H, W)`` uint8 index image with an ``(K, 4)`` RGBA palette as PNG bytes.

    A byte per pixel instead of four: a mask layer (a few colours) encodes about ten times
    faster than as RGBA and is about half the size.

    Example:
        >>> idx = np.zeros((4, 6), np.uint8); idx[1:3, 2:4] = 1
        >>> pal = np.array([[0, 0, 0, 0], [255, 0, 0, 128]], np.uint8)
        >>> rgba = np.asarray(Image.open(io.BytesIO(encode_palette_png(idx, pal))).convert("RGBA"))
        >>> rgba[1, 2].tolist(), rgba[0, 0].tolist()
        ([255, 0, 0, 128], [0, 0, 0, 0])
    """
    im = Image.fromarray(np.ascontiguousarray(index, dtype=np.uint8), "P")
    im.putpalette(palette[:, :3].astype(np.uint8).ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1, transparency=palette[:, 3].astype(np.uint8).tobytes())
    return buf.getvalue()


@dataclass
class MaskLayer:
    """A transparent RGBA picture of the masks, cropped to where they are.

    Attributes:
        rgba: ``(h, w, 4)`` uint8 crop.
        x: left of the crop in display pixels.
        y: top of the crop in display pixels.
        index: the same crop as palette indices (``(h, w)`` uint8), when it has one.
        palette: ``(K, 4)`` uint8 RGBA colours of ``index``.
    """

    rgba: np.ndarray
    x: int
    y: int
    index: np.ndarray | None = None
    palette: np.ndarray | None = None

    def png(self) -> bytes:
        """The crop as PNG bytes (a palette PNG when the layer has one: the same pixels)."""
        if self.index is not None and self.palette is not None:
            return encode_palette_png(self.index, self.palette)
        return encode_png(self.rgba)


def mask_layer(
    masks: Mapping[int, np.ndarray],
    colors: Mapping[int, tuple[int, int, int]] | None = None,
    opacity: float = 0.5,
    outline: int = 2,
) -> MaskLayer | None:
    """Paint display-size masks as a translucent fill with an opaque outline.

    Args:
        masks: ``{obj_id: (H, W) bool}`` at the display size (later ids paint over earlier).
        colors: ``{obj_id: (r, g, b)}``; the palette for ids not given.
        opacity: fill opacity, 0..1 (the outline is always opaque).
        outline: outline width in display pixels (0 for none).

    Returns:
        The cropped layer, or None when no mask has a pixel.

    Example:
        >>> m = np.zeros((40, 60), bool); m[10:20, 10:30] = True
        >>> layer = mask_layer({1: m})
        >>> (layer.x, layer.y, layer.rgba.shape)
        (8, 8, (14, 24, 4))
    """
    if not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    items = [(o, np.asarray(m, bool)) for o, m in masks.items()]
    items = [(o, m) for o, m in items if m.any()]
    if not items:
        return None
    h, w = items[0][1].shape
    union = np.zeros((h, w), bool)
    for _, m in items:
        union |= m
    ys, xs = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))  # the bounding box
    pad = max(int(outline), 0)
    x0, x1 = max(int(xs[0]) - pad, 0), min(int(xs[-1]) + pad + 1, w)
    y0, y1 = max(int(ys[0]) - pad, 0), min(int(ys[-1]) + pad + 1, h)
    alpha = int(round(255 * float(opacity)))
    kernel = np.ones((3, 3), np.uint8)
    # palette indices: 0 transparent, then a fill and an outline entry per object; past 127
    # objects the indices outgrow a byte and the layer goes as RGBA (no palette)
    palette = np.zeros((1 + 2 * len(items), 4), np.uint8)
    index = np.zeros((y1 - y0, x1 - x0), np.uint8 if len(palette) <= 256 else np.uint16)
    for k, (o, m) in enumerate(items):
        crop = m[y0:y1, x0:x1]
        rgb = color_of(colors, o)
        palette[1 + 2 * k], palette[2 + 2 * k] = (*rgb, alpha), (*rgb, 255)
        index[crop] = 1 + 2 * k
        if outline > 0:
            c8 = crop.view(np.uint8)
            edge = (cv2.dilate(c8, kernel, iterations=int(outline)) > 0) & ~crop
            index[edge] = 2 + 2 * k
    if index.dtype != np.uint8:
        return MaskLayer(palette[index], x0, y0)
    return MaskLayer(palette[index], x0, y0, index, palette)


class FrameCache:
    """A bounded, thread-safe LRU cache of encoded frames (or anything) by key.

    Example:
        >>> cache = FrameCache(max_items=2)
        >>> cache.get(0, lambda: b"jpeg bytes")
        b'jpeg bytes'
    """

    def __init__(self, max_items: int = 256):
        self.max_items = int(max_items)
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The cached value for ``key``, made with ``make()`` the first time."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = make()
        with self._lock:
            self.misses += 1
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value

    def drop(self, keys: Iterable[Any] | None = None) -> None:
        """Forget some keys (or everything)."""
        with self._lock:
            if keys is None:
                self._items.clear()
            else:
                for k in keys:
                    self._items.pop(k, None)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Any) -> bool:
        return key in self._items


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index runs where a boolean vector is True.

    Example:
        >>> runs(np.array([0, 1, 1, 0, 1], bool))
        [(1, 3), (4, 5)]
    """
    f = np.asarray(flags, bool).astype(np.int8)
    d = np.diff(np.concatenate([[0], f, [0]]))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist(), strict=False))


def shift_mask(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``mask`` moved by ``(dx, dy)`` whole pixels (what leaves the frame is cut off).

    Example:
        >>> m = np.zeros((3, 4), bool); m[1, 1] = True
        >>> np.argwhere(shift_mask(m, 2, 1)).tolist()
        [[2, 3]]
    """
    dx, dy = int(round(dx)), int(round(dy))
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def overlay_frame(rgb: np.ndarray, masks: dict[int, np.ndarray], colors: dict,
                  opacity: float = 0.5) -> np.ndarray:  # fmt: skip
    """A frame with its masks painted on (fill and outline), like the scrubber shows it.

    Example:
        >>> import numpy as np
        >>> rgb = np.zeros((4, 4, 3), np.uint8)
        >>> overlay_frame(rgb, {1: np.ones((4, 4), bool)}, {1: (255, 0, 0)}, 1.0)[0, 0].tolist()
        [255, 0, 0]
    """
    layer = mask_layer(masks, colors, opacity, outline=max(2, rgb.shape[1] // 480))
    out = rgb.copy()
    if layer is not None:
        h, w = layer.rgba.shape[:2]
        roi = out[layer.y : layer.y + h, layer.x : layer.x + w].astype(np.float32)
        a = layer.rgba[..., 3:4].astype(np.float32) / 255
        roi = roi * (1 - a) + layer.rgba[..., :3].astype(np.float32) * a
        out[layer.y : layer.y + h, layer.x : layer.x + w] = np.round(roi).astype(np.uint8)
    return out


UNTRAINED_STAMP = "UNTRAINED TEST MODEL (random weights): these masks mean nothing"


def stamp_untrained(rgb: np.ndarray) -> np.ndarray:
    """The picture (RGB or RGBA) with a red banner: the masks come from the untrained test model.

    Example:
        >>> stamp_untrained(np.zeros((100, 400, 3), np.uint8))[5, 5].tolist()
        [176, 0, 32]
    """
    out = np.ascontiguousarray(rgb).copy()
    h, w = out.shape[:2]
    scale = max(w / 1400, 0.35)
    bar = int(34 * scale) + 6
    out[: min(bar, h)] = (176, 0, 32, 255)[: out.shape[2]]  # opaque on RGBA too
    cv2.putText(out, UNTRAINED_STAMP, (6, bar - int(10 * scale) - 2), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (255, 255, 255, 255)[: out.shape[2]], max(1, int(2 * scale)),
                cv2.LINE_AA)  # fmt: skip
    return out

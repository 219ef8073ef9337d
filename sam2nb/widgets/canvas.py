"""The prompt canvas: three ipycanvas layers (frame, masks, prompts), events in video pixels.

It draws what it is given and reports what the user does; it never calls the model. Left click:
a point (the mode's label; Shift + click: negative, read from the click itself). Drag: a box,
drawn as a rubber band at most every 40 ms while the pointer moves. Keys (once the picture has
been clicked): ``n``/``p`` negative or positive mode, ``z``/``y`` (or Ctrl+Z / Ctrl+Shift+Z)
undo/redo, ``1``-``9`` pick an object, ``Escape`` cancels a drag. The input comes from a
:class:`~sam2nb.widgets.stage.Stage` around the canvas (exact positions at any scroll position,
zoom or focus); a page reload redraws everything (``on_client_ready``).
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas, hold_canvas

from ..base.colors import color_of, hex_color
from ..media.overlay import MaskLayer, Viewport
from ..prompts.log import FramePrompts
from .stage import Stage

DRAW_LOCK = threading.RLock()  # ipycanvas batches through one global flag: one drawer at a time
_DEPTH = [0]  # nesting of batch() (guarded by DRAW_LOCK)
DRAG_PX = 5.0  # a press that moves less than this (display pixels) is a click
# The picture's key table: key -> action. The stage takes exactly these keys from the page (any
# other passes to JupyterLab); Shift+z and Ctrl+Shift+z are redo. An app adds its own keys
# (the video tracker: f, fix next) with PromptCanvas.bind_keys.
KEYS: dict[str, str] = {
    "n": "negative",
    "p": "positive",
    "z": "undo",
    "y": "redo",
    **{str(d): f"object {d}" for d in range(1, 10)},
    "Escape": "cancel",
}
BAND_INTERVAL = 0.04  # seconds between rubber-band redraws


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Send every drawing command of the block in one message, one drawing thread at a time.

    ``ipycanvas.hold_canvas`` leaves batching switched on for good if its block raises; this
    always flushes and switches it back.
    """
    with DRAW_LOCK:
        if _DEPTH[0]:  # inside another batch: it sends everything at its end
            yield
            return
        held = hold_canvas()
        held.__enter__()
        _DEPTH[0] += 1
        try:
            yield
        finally:
            _DEPTH[0] -= 1
            held.__exit__(None, None, None)


class _Callbacks:
    """A list of callbacks with the ipycanvas ``on_<event>(callback, remove=False)`` idiom."""

    def __init__(self) -> None:
        self.items: list[Callable] = []

    def register(self, callback: Callable, remove: bool = False) -> None:
        if remove:
            if callback in self.items:
                self.items.remove(callback)
        elif callback not in self.items:
            self.items.append(callback)

    def __call__(self, *args: Any) -> None:
        for cb in list(self.items):
            cb(*args)


def _dragged(origin: tuple[float, float], x: float, y: float) -> bool:
    return max(abs(x - origin[0]), abs(y - origin[1])) >= DRAG_PX


def put_encoded(canvas: Any, data: bytes, x: int = 0, y: int = 0) -> None:
    """Draw already-encoded JPEG/PNG bytes on an ipycanvas layer without re-encoding them.

    ipycanvas's ``put_image_data`` encodes arrays itself (JPEG quality 75, every time); this
    sends cached bytes through the same draw command. Falls back to decoding the bytes and
    using ``put_image_data`` if ipycanvas's internals change.
    """
    try:
        from ipycanvas.canvas import COMMANDS

        canvas._canvas_manager.send_draw_command(
            canvas, COMMANDS["putImageData"], [int(x), int(y)], [data]
        )
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - other ipycanvas
        from PIL import Image

        canvas.put_image_data(np.asarray(Image.open(io.BytesIO(data))), int(x), int(y))


class PromptCanvas:
    """A frame with masks and prompts on top, reporting clicks and boxes in video pixels.

    Args:
        viewport: the video-pixel / display-pixel mapping.
        max_height: the canvas's CSS height limit.
        clock: seconds for the rubber band's pace (tests give a clock they move by hand).

    Attributes:
        viewport: the video-pixel / display-pixel mapping.
        widget: the ipywidget to display (the stage holding the canvas, which keeps its shape).
        label: the mode's click label, 1 (positive) or 0 (negative).
        bytes_sent: image bytes sent to the browser so far (frames and mask layers).
        clock: the clock (default :func:`time.monotonic`).

    Example:
        >>> pc = PromptCanvas(Viewport.fit(1920, 1080))  # doctest: +SKIP
        >>> pc.on_click(lambda x, y, label: print(x, y, label))  # doctest: +SKIP
        >>> pc.on_box(lambda box: print(box))  # doctest: +SKIP
    """

    def __init__(
        self,
        viewport: Viewport,
        max_height: str = "70vh",
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.viewport = viewport
        self.clock = clock
        w, h = viewport.display_size
        self.canvas = MultiCanvas(3, width=w, height=h)
        # Shown at most at its pixel size, within the page's width and max_height, its shape
        # kept: the stage lays it out as a block (in a flex column it would be stretched).
        self.canvas.layout = W.Layout(
            width="auto", height="auto", max_width="100%", max_height=max_height
        )
        self.canvas.add_class("sam2nb-canvas")
        self.keys = dict(KEYS)
        self.stage = Stage(canvas=self.canvas, shortcuts=sorted(self.keys))
        self.stage.on_msg(self._on_input)
        self.widget = self.stage
        self.label = 1
        self.bytes_sent = 0
        self._frame: bytes | None = None
        self._masks: tuple[bytes, int, int] | None = None
        self._prompts: tuple[dict, dict, int | None] = ({}, {}, None)
        self._down: tuple[float, float] | None = None
        self._down_shift = False
        self._band_t = 0.0
        self._click_cbs = _Callbacks()
        self._box_cbs = _Callbacks()
        self._key_cbs = _Callbacks()
        self.canvas.on_client_ready(self.redraw)

    # -- callbacks (ipycanvas idiom) --------------------------------------------------------
    def on_click(self, callback: Callable[[float, float, int], Any], remove: bool = False) -> None:
        """Call ``callback(x, y, label)`` (video pixels, 1/0) on a click."""
        self._click_cbs.register(callback, remove)

    def on_box(self, callback: Callable[[list[float]], Any], remove: bool = False) -> None:
        """Call ``callback([x0, y0, x1, y1])`` (video pixels) when a box is dragged."""
        self._box_cbs.register(callback, remove)

    def on_key(self, callback: Callable[[str], Any], remove: bool = False) -> None:
        """Call ``callback(action)`` on a keyboard shortcut (an action of :attr:`keys`).

        Actions: ``'undo'``, ``'redo'``, ``'positive'``, ``'negative'``, ``'object N'`` and
        those an app adds with :meth:`bind_keys`.
        """
        self._key_cbs.register(callback, remove)

    def bind_keys(self, table: Mapping[str, str]) -> None:
        """Add keys to the table (``{key: action}``); the browser then sends them too.

        Example:
            >>> pc = PromptCanvas(Viewport.fit(64, 48))
            >>> pc.bind_keys({"f": "fix next"})
            >>> pc.keys["f"], "f" in pc.stage.shortcuts
            ('fix next', True)
        """
        self.keys.update(table)
        self.stage.shortcuts = sorted(self.keys)

    # -- events ----------------------------------------------------------------------------
    def _on_input(self, _widget: Any, msg: dict, _buffers: Any) -> None:
        """A message from the stage: a pointer event in display pixels, or a key."""
        if not isinstance(msg, dict):
            return
        ev = msg.get("event")
        if ev == "key":
            self._key_down(str(msg.get("key", "")), bool(msg.get("shift")), bool(msg.get("ctrl")),
                           bool(msg.get("meta")))  # fmt: skip
            return
        try:
            x, y = float(msg["x"]), float(msg["y"])
        except (KeyError, TypeError, ValueError):
            return
        if ev == "down":
            self._down, self._down_shift = (x, y), bool(msg.get("shift"))
        elif ev == "move":
            self._pointer_move(x, y)
        elif ev == "up":
            self._pointer_up(x, y)
        elif ev == "cancel":
            self._cancel()

    def _pointer_move(self, x: float, y: float) -> None:
        if self._down is None:
            return
        now = self.clock()
        if now - self._band_t < BAND_INTERVAL or not _dragged(self._down, x, y):
            return
        self._band_t = now
        self._draw_prompts(band=(*self._down, x, y))

    def _pointer_up(self, x: float, y: float) -> None:
        if self._down is None:
            return
        x0, y0 = self._down
        self._down = None
        if _dragged((x0, y0), x, y):
            self._draw_prompts()
            self._box_cbs(self.viewport.box_to_video(x0, y0, x, y))
        else:
            vx, vy = self.viewport.to_video(x0, y0)
            self._click_cbs(vx, vy, 0 if self._down_shift else self.label)

    def _cancel(self) -> None:
        if self._down is not None:  # the browser took the pointer away: no box
            self._down = None
            self._draw_prompts()

    def _key_down(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        action = self.keys.get(key if key == "Escape" else key.lower())
        if action == "cancel":
            self._cancel()
            return
        if action == "undo" and shift:
            action = "redo"
        if action in ("negative", "positive"):
            self.label = 0 if action == "negative" else 1
        if action:
            self._key_cbs(action)

    # -- drawing ---------------------------------------------------------------------------
    def _send(self, layer: int, data: bytes, x: int = 0, y: int = 0) -> None:
        put_encoded(self.canvas[layer], data, x, y)
        self.bytes_sent += len(data)

    def show(
        self,
        frame: bytes | None = None,
        masks: MaskLayer | bytes | None | bool = False,
        prompts: Mapping[int, FramePrompts] | None = None,
        colors: Mapping[int, tuple[int, int, int]] | None = None,
        current: int | None = None,
    ) -> None:
        """Draw a frame (JPEG bytes), its mask layer and its prompts in one batch.

        Leave an argument out (``frame=None``, ``masks=False``, ``prompts=None``) to keep
        what is shown; ``masks=None`` clears the mask layer. A frame the browser already shows
        (the same bytes) is not sent again: a click's answer is its masks and prompts only.
        """
        with batch():
            if frame is not None and not (frame is self._frame or frame == self._frame):
                self._frame = frame
                self._send(0, frame)
            if masks is not False:
                if isinstance(masks, MaskLayer):
                    self._masks = (masks.png(), masks.x, masks.y)
                else:
                    self._masks = None if masks is None else (masks, 0, 0)
                self.canvas[1].clear()
                if self._masks is not None:
                    self._send(1, *self._masks)
            if prompts is not None:
                self._prompts = (dict(prompts), dict(colors or {}), current)
                self._draw_prompts(batched=True)

    def redraw(self) -> None:
        """Draw everything again (a new browser view starts blank)."""
        with batch():
            for layer in range(3):
                self.canvas[layer].clear()
            if self._frame is not None:
                self._send(0, self._frame)
            if self._masks is not None:
                self._send(1, *self._masks)
            self._draw_prompts(batched=True)

    def _draw_prompts(self, band: tuple | None = None, batched: bool = False) -> None:
        if not batched:
            with batch():
                self._draw_prompts(band, batched=True)
            return
        c = self.canvas[2]
        c.clear()
        prompts, colors, current = self._prompts
        vp = self.viewport
        # big enough to see when a 960-px picture is shown at half its size, and ringed in
        # black so that a point or box stays visible on a mask of its own colour
        r = max(5.0, vp.display_size[0] / 110)
        for o, p in prompts.items():
            col = hex_color(color_of(colors, o))
            w = 3 if o == current else 2
            if p.box is not None:
                x0, y0 = vp.to_display(p.box[0], p.box[1])
                x1, y1 = vp.to_display(p.box[2], p.box[3])
                c.line_width, c.stroke_style = w + 2, "#000000"
                c.stroke_rect(x0, y0, x1 - x0, y1 - y0)
                c.line_width, c.stroke_style = w, col
                c.stroke_rect(x0, y0, x1 - x0, y1 - y0)
            for (x, y), lab in zip(p.points, p.labels, strict=False):
                dx, dy = vp.to_display(x, y)
                c.fill_style = "#000000"
                c.fill_circle(dx, dy, r + 2)
                c.fill_style = col if lab == 1 else "#ffffff"
                c.stroke_style = "#ffffff" if lab == 1 else col
                c.line_width = w
                c.fill_circle(dx, dy, r)
                c.stroke_circle(dx, dy, r)
                if lab == 0:  # a minus sign marks a negative click
                    c.line_width = w + 1
                    c.stroke_line(dx - r * 0.6, dy, dx + r * 0.6, dy)
        if band is not None:  # seen over any mask and frame: a 2-px white line outlined in
            # black (1 px each side), dashed with the object's colour (which object it is for)
            x0, y0, x1, y1 = band
            rect = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
            c.line_width, c.stroke_style = 4, "#000000"
            c.stroke_rect(*rect)
            c.line_width, c.stroke_style = 2, "#ffffff"
            c.stroke_rect(*rect)
            c.stroke_style = hex_color(color_of(colors, current or 1))
            c.set_line_dash([6, 6])
            c.stroke_rect(*rect)
            c.set_line_dash([])

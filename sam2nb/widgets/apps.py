"""The apps' shared plumbing (:class:`PromptApp`) and the image segmenter.

Each app turns canvas events into :class:`~sam2nb.PromptEditor` calls and draws what the
session returns, built from the public API only. Errors appear in the app (in red, with the
fix), never swallowed; results of the untrained test model carry a banner. The video tracker
is in :mod:`sam2nb.widgets.tracker`.
"""

from __future__ import annotations

import collections
import contextlib
import html
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np

from ..base.colors import hex_color
from ..base.openmp import release_after_cells, release_workers
from ..image.session import open_image_session
from ..media.overlay import (
    DISPLAY_WIDTH,
    JPEG_QUALITY,
    Viewport,
    encode_jpeg,
    mask_layer,
)
from ..model.device import spare_a_core
from ..prompts.editor import PromptEditor
from ..prompts.log import frame_prompts
from ..prompts.protocol import HoldsFeatures
from ..storage.store import FrameResult
from ..tracking.resume import opened_message
from .canvas import PromptCanvas
from .layout import row

UNTRAINED = (
    "UNTRAINED TEST MODEL: random weights, so these masks mean nothing. Load a real "
    'checkpoint (s2.load("tiny") after s2.download("tiny")) for real segmentation.'
)


def banner(engine: Any) -> W.HTML:
    """A one-line red banner when the model is untrained (an empty widget otherwise)."""
    if not getattr(engine, "untrained", False):
        return W.HTML("")
    short = "UNTRAINED TEST MODEL: random weights, masks mean nothing (hover: the fix)"
    out = W.HTML(
        f'<div class="sam2nb-untrained" title="{html.escape(UNTRAINED)}" style="background:'
        f"#b00020;color:white;padding:1px 8px;font-weight:bold;font-size:12px;line-height:"
        f"18px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;cursor:help"
        f'">{html.escape(short)}</div>'
    )  # one line at any width (the rest in its tooltip): the picture stays high on a laptop
    out.add_class("sam2nb-banner")
    return out


class PromptApp:
    """The plumbing both apps share: prompts from the canvas, objects, undo/redo, errors, picker.

    A subclass sets :attr:`session` and makes its canvas, then calls ``super().__init__`` with a
    :class:`~sam2nb.PromptEditor` on that session and the canvas. It provides :attr:`frame_idx`,
    :meth:`redraw`, :meth:`show_frame` and ``_after`` (how an edit's answer is shown). Every
    button and canvas event (its picker's too) goes through :meth:`guard`: errors show in the
    app, never lost. The app is the :class:`~sam2nb.widgets.picker.PickerHost` of its picker.

    Args:
        editor: turns clicks, boxes, undo and redo into the session's prompts.
        canvas: the canvas the user clicks on (its events are wired here).

    Attributes:
        session: the app's session (set by the subclass before ``__init__``).
        frame_idx: the frame shown (always 0 in the image segmenter).
        threaded: True when long work runs in a background thread.
        editor: the :class:`~sam2nb.PromptEditor`; ``canvas``: the :class:`~sam2nb.PromptCanvas`.
        picker: the :class:`~sam2nb.MaskPicker` ("segment everything", then pick masks).
        errors: tracebacks of the errors shown in :attr:`status`, the status line.
        mode, objects_box, new_btn, undo_btn, redo_btn, clear_btn: the shared controls.
    """

    session: Any
    frame_idx: int
    threaded: bool = True

    def __init__(self, editor: PromptEditor, canvas: PromptCanvas):
        self.editor, self.canvas = editor, canvas
        self.errors: list[str] = []
        release_after_cells()  # the cell's torch threads end with it: clicks run elsewhere
        # seconds of the kernel's work per edit: (the session's answer, drawing it and sending)
        self.edit_times: collections.deque[tuple[float, float]] = collections.deque(maxlen=200)
        # the same per undo and redo: (word, the session's answer, drawing it and sending)
        self.step_times: collections.deque[tuple[str, float, float]] = collections.deque(maxlen=200)
        # held while an edit (a click, a box, undo, redo, clear) runs: JupyterLab may hand the app a
        # button's click (propagate) on another thread while a click on the picture is in flight
        self.editing = threading.Lock()
        self.status = W.HTML(layout=W.Layout(min_height="1.5em"))
        self.status.add_class("sam2nb-status")
        self.said = ""  # the status line as plain text (``print(app.said)``)
        self.mode = W.ToggleButtons(
            options=[("positive", 1), ("negative", 0)], value=1,
            icons=["plus-circle", "minus-circle"],
            tooltips=["a click adds a positive point (p)", "a click adds a negative point (n, "
                      "or Shift + click)"],
            style={"button_width": "auto"},
        )  # fmt: skip
        self.mode.observe(lambda ch: self._set_label(ch["new"]), names="value")
        # one line whatever the number of objects (it scrolls sideways): the picture never moves
        self.objects_box = W.HBox(
            layout=W.Layout(
                flex_flow="row nowrap",
                align_items="center",
                overflow_x="auto",
                overflow_y="hidden",
                min_height="32px",  # as high empty as with buttons: the picture stays put
            )
        )
        self.objects_box.add_class("sam2nb-objects")
        self.new_btn = W.Button(
            description="new object", icon="plus", layout=W.Layout(width="auto", flex="0 0 auto")
        )
        self.new_btn.on_click(lambda _: self.guard(self.new_object))
        self.undo_btn = W.Button(description="undo", icon="undo", layout=W.Layout(width="auto"))
        self.redo_btn = W.Button(description="redo", icon="redo", layout=W.Layout(width="auto"))
        self.clear_btn = W.Button(
            description="clear frame",
            layout=W.Layout(width="auto"),
            tooltip="remove the current object's prompts on this frame",
        )
        self.undo_btn.on_click(lambda _: self.guard(self.undo))
        self.redo_btn.on_click(lambda _: self.guard(self.redo))
        self.clear_btn.on_click(lambda _: self.guard(self.clear))
        canvas.on_click(lambda x, y, label: self.guard(self.click, x, y, label))
        canvas.on_box(lambda box: self.guard(self.box, box))
        canvas.on_key(lambda action: self.guard(self._key, action))
        from .picker import MaskPicker

        self.picker = MaskPicker(self)

    @property
    def running(self) -> bool:
        """True while a propagation or export runs (never in the image segmenter)."""
        return False

    # -- errors ----------------------------------------------------------------------------
    def guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)``; an exception is shown in the app (and None returned)."""
        try:
            return fn(*args)
        except Exception as exc:
            self.show_error(exc)
            return None

    def show_error(self, exc: BaseException) -> None:
        """Show an error in the app (and keep its traceback in :attr:`errors`)."""
        self.errors.append("".join(traceback.format_exception(exc)))
        self.said = f"{type(exc).__name__}: {exc}"
        msg = html.escape(self.said)
        self.status.tooltip = self.said  # the whole text: the line shows two lines at most
        self.status.value = f'<span style="color:#b00020">{msg}</span>'

    def say(self, text: str) -> None:
        """Show a short message in the app's status line (:attr:`said` keeps it as text)."""
        self.said = text
        self.status.tooltip = text  # the whole text: the line shows two lines at most
        self.status.value = html.escape(text)

    # -- objects and modes -------------------------------------------------------------------
    def _set_label(self, label: int) -> None:
        self.editor.label = self.canvas.label = int(label)

    def _key(self, action: str) -> None:
        if action in ("positive", "negative"):
            self.mode.value = 1 if action == "positive" else 0
        elif action == "undo":
            self.undo()
        elif action == "redo":
            self.redo()
        elif action.startswith("object "):
            o = int(action.split()[1])
            if o in self.editor.session.objects:
                self.select(o)

    def new_object(self, name: str | None = None) -> int:
        """Add an object and make it the current one."""
        o = self.editor.new_object(name=name)
        self._objects_changed()
        return o

    def select(self, obj_id: int) -> None:
        """Send the next prompts to ``obj_id``."""
        self.editor.select(obj_id)
        self._objects_changed()

    def _objects_changed(self, redraw: bool = True) -> None:
        buttons = []
        for o, obj in self.editor.session.objects.items():
            cur = o == self.editor.obj_id
            named = obj.name != f"object {o}"  # "1", not "1: object 1": seven fit a laptop
            b = W.Button(
                description=f"{o}: {obj.name}" if named else str(o), icon="check" if cur else "",
                tooltip=f"send clicks to {obj.name}" + (f" (key {o})" if o < 10 else ""),
                layout=W.Layout(width="auto", flex="0 0 auto",
                                border="3px solid black" if cur else ""),
            )  # fmt: skip
            if cur:
                b.add_class("sam2nb-current")  # the front end keeps it in view
            b.style.button_color = hex_color(obj.color)
            b.style.font_weight = "bold" if cur else "normal"
            b.on_click(lambda _, o=o: self.guard(self.select, o))
            buttons.append(b)
        self.objects_box.children = buttons  # "new object" is in the row above: always in reach
        self.undo_btn.disabled = not self.editor.can_undo
        self.redo_btn.disabled = not self.editor.can_redo
        if redraw:
            self.redraw()

    def redraw(self) -> None:  # pragma: no cover - each app draws its own way
        """Draw the shown frame (or image) with its masks and prompts again."""
        raise NotImplementedError

    def show_frame(self, frame_idx: int) -> None:  # pragma: no cover - each app its own way
        """Move to frame ``frame_idx``."""
        raise NotImplementedError

    # -- prompts -----------------------------------------------------------------------------
    def _after(self, result: FrameResult | None, frame_idx: int | None = None) -> None:
        raise NotImplementedError  # pragma: no cover - each app shows an edit's answer

    def click(
        self,
        x: float,
        y: float,
        label: int | None = None,
        *,
        frame_idx: int | None = None,
        obj_id: int | None = None,
    ) -> None:
        """A click at video pixel ``(x, y)`` on the shown frame (picks a mask while picking).

        Args:
            x: column in video (image) pixels.
            y: row in video (image) pixels.
            label: 1 positive, 0 negative (default: the app's positive/negative toggle).
            frame_idx: go to this frame first (code that must not depend on where the user
                left the app); the picker, if open, is closed.
            obj_id: send the click to this object (selected, as its button does; made if
                the session has no such object yet, as a first click makes one).
        """
        if self._aim(frame_idx, obj_id) and self._picking():
            self.picker.toggle(x, y)
            return
        self._edit(self.editor.click, self.frame_idx, x, y, label)

    def box(
        self, box: list[float], *, frame_idx: int | None = None, obj_id: int | None = None
    ) -> None:
        """A box ``[x0, y0, x1, y1]`` (video pixels) on the shown frame.

        ``frame_idx`` and ``obj_id`` go to that frame and object first, as for :meth:`click`.
        """
        if self._aim(frame_idx, obj_id) and self._picking():
            self.say("A box does nothing while picking masks: click masks, or close the picker.")
            return
        self._edit(self.editor.box, self.frame_idx, box)

    def _aim(self, frame_idx: int | None, obj_id: int | None) -> bool:
        """Go to the frame and object a prompt from code names; False if it named either."""
        if frame_idx is None and obj_id is None:
            return True
        if self.picker.found is not None:
            self.picker.close()
        if frame_idx is not None and int(frame_idx) != self.frame_idx:
            self.show_frame(int(frame_idx))
        if obj_id is not None and obj_id != self.editor.obj_id:
            if obj_id not in self.editor.session.objects:  # made, as a first click makes one
                self.editor.session.add_object(int(obj_id))
            self.select(obj_id)
        return False

    def _picking(self) -> bool:
        found = self.picker.found
        if found is None:
            return False
        if found.frame_idx != self.frame_idx:
            raise ValueError(
                f"The automatic masks are on frame {found.frame_idx}: go back there to pick "
                f"them, or close the picker to click prompts here."
            )
        return True

    def redraw_masks(self) -> None:
        """Draw the mask layer again (the picker's masks while it shows them)."""
        layer = self.picker.layer(self.frame_idx)
        if layer is False:
            self.redraw()
        else:
            self.canvas.show(None, layer)

    def objects_added(self, obj_ids: list[int], frame_idx: int) -> None:
        """Show objects added outside the clicks (by the picker)."""
        self._objects_changed()

    def _edit(self, fn: Callable, *args: Any) -> None:
        known = set(self.editor.session.objects)

        def work() -> None:
            with self.editing:
                t0 = time.perf_counter()
                with self._threads_for(args[0]):
                    res = fn(*args)
                t1 = time.perf_counter()
                if set(self.editor.session.objects) != known:  # the first click made an object
                    self._objects_changed(redraw=False)  # _after draws the answer: one render
                self._after(res)
                self.edit_times.append((t1 - t0, time.perf_counter() - t1))
            release_workers()  # a propagation may start from another thread (base.openmp)

        self._when_ready(args[0], self.editor.obj_id, work)

    def _when_ready(self, frame_idx: int | None, obj_id: int | None, work: Callable) -> None:
        """Run an edit of ``obj_id`` on ``frame_idx`` (the video app may run it in a thread)."""
        work()

    def _threads_for(self, frame_idx: int | None) -> contextlib.AbstractContextManager:
        """Leave a core to the browser for an edit that runs no image encoder.

        See :func:`sam2nb.model.device.spare_a_core`; an encoder run keeps every core.
        """
        warm = isinstance(self.session, HoldsFeatures)
        if frame_idx is None or not warm or not self.session.features_ready(frame_idx):
            return contextlib.nullcontext()
        return spare_a_core(getattr(self.session.engine, "device", "cpu"))

    def undo(self) -> None:
        """Undo the last prompt edit (on whichever frame it was)."""
        self._step(self.editor.undo_frame, self.editor.undo_obj, self.editor.undo, "undo")

    def redo(self) -> None:
        """Redo the last undone edit."""
        self._step(self.editor.redo_frame, self.editor.redo_obj, self.editor.redo, "redo")

    def _step(self, frame_idx: int | None, obj_id: int | None, fn: Callable, word: str) -> None:
        if frame_idx is None:
            self.say(f"Nothing to {word}.")
            self._after(None)
            return

        def work() -> None:
            with self.editing:
                t0 = time.perf_counter()
                with self._threads_for(frame_idx):
                    res = fn()
                t1 = time.perf_counter()
                self._after(res, frame_idx)
                self.step_times.append((word, t1 - t0, time.perf_counter() - t1))
            release_workers()

        self._when_ready(frame_idx, obj_id, work)

    def clear(self) -> None:
        """Remove the current object's prompts on the shown frame."""
        with self.editing:
            self._after(self.editor.clear(self.frame_idx))


def renamed(app: str, **old: Any) -> None:
    """Refuse a keyword an app had before, naming the one to use now.

    Example:
        >>> renamed("VideoTracker", save_dir=None)  # not given: nothing to say
        >>> renamed("VideoTracker", save_dir="runs/a")
        Traceback (most recent call last):
        ...
        TypeError: VideoTracker(save_dir=...) is now VideoTracker(folder=...): the session's folder, as in s2.Session(video, folder='runs/a').
    """  # noqa: E501
    new = {"save_dir": "folder"}
    for k, v in old.items():
        if v is not None:
            raise TypeError(
                f"{app}({k}=...) is now {app}({new[k]}=...): the session's folder, as in "
                f"s2.Session(video, folder={str(v)!r})."
            )


class ImageSegmenter(PromptApp):
    """Click or drag a box on an image, pick among the model's candidate masks.

    Args:
        image: the image (array, or a path).
        engine: from :func:`sam2nb.load` (None: the cached one).
        folder: the session's folder: every click and chosen mask is written there as it
            happens (default ``sam2nb_sessions/<image name>``, or ``image-<hash>`` for an
            array; None keeps it in memory only). A folder that holds a session of this image
            is resumed, so re-running a notebook after a restart brings the work back.
        fresh: start over even if ``folder`` holds a session; the earlier one is moved aside.
        max_width: display width limit in pixels.
        save_dir: the old name of ``folder`` (refused, with how to say it now).

    Attributes:
        session: the :class:`~sam2nb.ImageSession` (objects, prompts, candidates, masks).
        widget: the app, to display.

    Example:
        >>> app = ImageSegmenter("photo.jpg", s2.load("tiny"))  # doctest: +SKIP
        >>> app.widget  # click on the picture  # doctest: +SKIP
        >>> app.masks  # {obj_id: (H, W) bool}  # doctest: +SKIP
    """

    frame_idx = 0

    def __init__(
        self,
        image: Any,
        engine: Any = None,
        *,
        folder: Any = "default",
        fresh: bool = False,
        max_width: int | None = DISPLAY_WIDTH,
        save_dir: Any = None,
    ):
        from ..media.video import read_image

        renamed("ImageSegmenter", save_dir=save_dir)
        name = None
        if isinstance(image, (str, Path)):
            name = Path(image).stem
            image = read_image(image)
        self.session = open_image_session(image, engine, folder, fresh=fresh, name=name)
        self.folder = self.session.folder
        h, w = self.session.image.shape[:2]
        canvas = PromptCanvas(Viewport.fit(w, h, max_width))
        super().__init__(PromptEditor(self.session), canvas)
        vp = canvas.viewport
        self._jpeg = encode_jpeg(vp.resize_frame(self.session.image), JPEG_QUALITY)
        self.clear_btn.description = "clear object"  # an image has no frames
        self.clear_btn.tooltip = "remove the current object's prompts"
        self.choices = W.ToggleButtons(options=[], style={"button_width": "auto"})
        self.choices.observe(self._on_choice, names="value")
        self.widget = W.VBox(
            [
                banner(self.session.engine),
                row(self.mode, self.undo_btn, self.redo_btn, self.clear_btn, self.new_btn),
                self.objects_box,
                canvas.widget,
                row(W.Label("candidates:"), self.choices),
                self.picker.widget,
                self.status,
            ]
        )
        self.widget.add_class("sam2nb-app")
        self.canvas.show(self._jpeg)
        self._after(None)  # a resumed session: its objects, masks and candidates
        self.say(opened_message(self.session) or "Click on an object (or drag a box around it).")

    def _threads_for(self, frame_idx: int | None) -> contextlib.AbstractContextManager:
        """Every core, always: the answer stays bit for bit :func:`segment_image`'s.

        A mask decoder run on fewer threads can round differently and flip a pixel on an edge.
        """
        return contextlib.nullcontext()

    @property
    def masks(self) -> dict[int, np.ndarray]:
        """``{obj_id: (H, W) bool}``: each object's chosen mask at image resolution."""
        return self.session.masks()

    def show_frame(self, frame_idx: int) -> None:
        """An image has one frame: only ``0`` is accepted."""
        if int(frame_idx) != 0:
            raise IndexError(f"frame {frame_idx} is out of range: an image has one frame (0)")

    def _after(self, result: FrameResult | None, frame_idx: int | None = None) -> None:
        self._objects_changed()
        o = self.editor.obj_id
        pred = self.session.candidates.get(o)
        if pred is not None:
            opts = [(f"{k + 1}: IoU {s:.2f}", k) for k, s in enumerate(pred.scores)]
            self._setting = True
            self.choices.options = opts
            self.choices.value = self.session.choice[o]
            self._setting = False
            word = "(untrained model) " if pred.untrained else ""
            self.say(f"{word}object {o}: {len(opts)} candidate(s); the best is selected.")

    def _on_choice(self, change: dict) -> None:
        if getattr(self, "_setting", False) or change["new"] is None:
            return
        o = self.editor.obj_id
        if o in self.session.candidates:
            self.guard(self.session.choose, o, change["new"])
            self.redraw()

    def redraw(self) -> None:
        """Draw the masks and prompts again."""
        s, vp = self.session, self.canvas.viewport
        colors = {o: t.color for o, t in s.objects.items()}
        prompts = {o: p for (_, o), p in frame_prompts(s.log).items()}
        layer = self.picker.layer(0) if hasattr(self, "picker") else False
        if layer is False:
            disp = {o: vp.resize_mask(m) for o, m in s.masks().items()}
            layer = mask_layer(disp, colors)
        self.canvas.show(None, layer, prompts, colors, self.editor.obj_id)

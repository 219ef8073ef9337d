"""The "segment everything" panel of both apps: find all masks, pick some with clicks, track them.

:class:`MaskPicker` runs :func:`sam2nb.segment_everything` on the shown picture in a background
thread (progress bar, stop), draws every mask in its own colour with an outline, and while it
shows them a click on the canvas selects or deselects the smallest mask under the cursor.
Filters hide masks by area and scores; "add as objects" turns the selected masks into new
objects of the session (mask prompts on that frame), ready to propagate. It only calls the
public API; the app routes clicks to it while it is picking. What it needs from its app is
:class:`PickerHost`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import cv2
import ipywidgets as W
import numpy as np

from ..base.colors import mask_colors
from ..base.jobs import Job
from ..image.everything import AutoMasks, segment_everything
from ..media.overlay import MaskLayer
from ..model.names import cannot, video_only
from .background import WidgetJob
from .layout import row

if TYPE_CHECKING:
    from ..image.session import ImageSession
    from ..tracking.session import Session
    from .canvas import PromptCanvas

FILL, FILL_SELECTED = 70, 170  # alpha of a mask's fill, unselected and selected


def picker_layer(
    masks: list[np.ndarray],
    colors: np.ndarray,
    visible: list[int],
    selected: set[int],
    base: np.ndarray | None = None,
) -> tuple[MaskLayer | None, np.ndarray | None]:
    """Paint display-size masks: all visible ones faint and outlined, the selected ones strong.

    Args:
        masks: display-size ``(h, w)`` bool masks.
        colors: one RGB colour per mask.
        visible: indices to draw (largest first, so small masks stay on top).
        selected: indices drawn strong, with a white outline.
        base: the unselected painting of ``visible`` from an earlier call (reused, not changed).

    Returns:
        ``(layer, base)``: the layer to show (None when nothing is visible) and the base to
        pass next time while ``visible`` stays the same.

    Example:
        >>> m = np.zeros((20, 30), bool); m[5:10, 5:10] = True
        >>> layer, _ = picker_layer([m], mask_colors(1), [0], {0})
        >>> layer.rgba.shape[2]
        4
    """
    if not visible or not masks:
        return None, None
    h, w = masks[0].shape
    kernel = np.ones((3, 3), np.uint8)
    if base is None:
        base = np.zeros((h, w, 4), np.uint8)
        for i in visible:
            m = masks[i]
            base[m] = (*colors[i], FILL)
            edge = (cv2.dilate(m.view(np.uint8), kernel) > 0) & ~m
            base[edge] = (*colors[i], 255)
    out = base.copy()
    for i in visible:
        if i in selected:
            m = masks[i]
            out[m] = (*colors[i], FILL_SELECTED)
            ring = cv2.dilate(m.view(np.uint8), kernel, iterations=2) > 0
            out[ring & ~m] = (255, 255, 255, 255)
    ys, xs = np.nonzero(out[..., 3])
    if not len(ys):
        return None, base
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return MaskLayer(out[y0:y1, x0:x1], int(x0), int(y0)), base


@runtime_checkable
class PickerHost(Protocol):
    """What :class:`MaskPicker` uses of the app it sits in: all of it, nothing else.

    Both apps are hosts (through :class:`~sam2nb.widgets.apps.PromptApp`). The picker reads
    the shown frame and the canvas, runs on the session, and reports through the app's status
    line; the app asks the picker for its mask layer (:meth:`MaskPicker.layer`) and routes
    clicks to :meth:`MaskPicker.toggle` while it is picking.
    """

    @property
    def session(self) -> Session | ImageSession:
        """The session segmented, and given the picked masks (its engine sets the density)."""
        ...

    @property
    def canvas(self) -> PromptCanvas:
        """The canvas the masks are drawn on (its viewport sizes them)."""
        ...

    @property
    def frame_idx(self) -> int:
        """The frame shown: the one a run segments."""
        ...

    @property
    def threaded(self) -> bool:
        """True to run "segment everything" in a background thread."""
        ...

    @property
    def running(self) -> bool:
        """True while the app's own long work runs (no run and no add meanwhile)."""
        ...

    def guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)``, showing an exception in the app (every button goes through it)."""
        ...

    def say(self, text: str) -> None:
        """Show a message in the app's status line."""
        ...

    def show_error(self, exc: BaseException) -> None:
        """Show an error in the app."""
        ...

    def show_frame(self, frame_idx: int) -> None:
        """Move to a frame (the one the masks were found on)."""
        ...

    def redraw_masks(self) -> None:
        """Draw the mask layer again; it asks :meth:`MaskPicker.layer` for the picker's."""
        ...

    def objects_added(self, obj_ids: list[int], frame_idx: int) -> None:
        """Show the objects :meth:`MaskPicker.add` made from masks on ``frame_idx``."""
        ...


class MaskPicker:
    """Segment everything on the app's picture, then click masks to pick which to track.

    Args:
        app: the :class:`PickerHost`: an :class:`~sam2nb.ImageSegmenter` or
            :class:`~sam2nb.VideoTracker`.

    Attributes:
        found: the last :class:`~sam2nb.AutoMasks` (None before a run).
        selected: indices of the selected masks, in the order they were picked.
        knobs: more generator settings for the button's runs (see
            :func:`sam2nb.segment_everything`), e.g. ``{"crop_n_layers": 1}``.
        widget: the panel (run, density, stop, progress; then filters and selection buttons).

    Example:
        >>> app = s2.VideoTracker("match.mp4")  # doctest: +SKIP
        >>> app.picker.run(); app.picker.wait()  # doctest: +SKIP
        >>> app.picker.toggle(320, 200); app.picker.add()  # doctest: +SKIP
    """

    def __init__(self, app: PickerHost):
        self.app = app
        self.found: AutoMasks | None = None
        self.selected: list[int] = []
        self.knobs: dict[str, Any] = {}
        if getattr(app.session.engine, "untrained", False):
            # random weights score every mask low: sam2's two score filters would drop them all
            self.knobs = {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
        self.last_toggle_s = 0.0
        self._disp: list[np.ndarray] = []
        self._colors = mask_colors(0)
        self._base: tuple[tuple, np.ndarray | None] = ((), None)
        self._job: Job | None = None  # the run going on (or the last one)
        engine = app.session.engine
        gpu = str(getattr(engine, "device", "cpu")).startswith("cuda")
        lay = W.Layout(width="auto")
        self.run_btn = W.Button(description="segment everything", icon="th", layout=lay,
                                tooltip="find every object on the shown frame")  # fmt: skip
        self.run_btn.on_click(lambda _: self.app.guard(self.run))
        self.density = W.Dropdown(
            options=[(f"{n} x {n}", n) for n in (8, 16, 32, 64)], value=32 if gpu else 8,
            description="points", style={"description_width": "auto"},
            layout=W.Layout(width="150px"),
            tooltip="points per side: more finds smaller objects but takes longer (32 is sam2's)",
        )  # fmt: skip
        self.stop_btn = W.Button(
            description="■ stop segmenting", disabled=True, layout=lay,
            tooltip="stop segment everything (the masks found so far are kept)",
        )  # fmt: skip
        self.stop_btn.on_click(lambda _: self.stop())
        self.progress = W.IntProgress(min=0, max=1, layout=W.Layout(width="160px", display="none"))
        self.info = W.Label()
        self.info.add_class("sam2nb-picker-info")
        if video_only(getattr(engine, "name", "")):  # transformers' trackers: no image predictor
            self.run_btn.disabled = True
            self.run_btn.tooltip = self.info.value = cannot(engine.name, "segment everything")
        slider = {"continuous_update": False, "style": {"description_width": "auto"}}
        self.min_area = W.IntText(value=0, description="min area (px)", layout=W.Layout(
            width="170px"), style={"description_width": "auto"})  # fmt: skip
        self.min_iou = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01,
                                     description="min IoU", **slider)  # fmt: skip
        self.min_stability = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01,
                                           description="min stability", **slider)  # fmt: skip
        for w in (self.min_area, self.min_iou, self.min_stability):
            w.observe(lambda _: self.app.guard(self._filters_changed), names="value")
        self.all_btn = W.Button(description="select all", layout=lay)
        self.none_btn = W.Button(description="select none", layout=lay)
        self.add_btn = W.Button(description="add 0 as objects", icon="plus", layout=lay,
                                disabled=True, button_style="success")  # fmt: skip
        self.close_btn = W.Button(description="close", icon="times", layout=lay,
                                  tooltip="hide the masks; clicks add prompts again")  # fmt: skip
        self.all_btn.on_click(lambda _: self.app.guard(self.select_all))
        self.none_btn.on_click(lambda _: self.app.guard(self.select_none))
        self.add_btn.on_click(lambda _: self.app.guard(self.add))
        self.close_btn.on_click(lambda _: self.app.guard(self.close))
        self.pick_row = W.VBox([
            row(self.min_area, self.min_iou, self.min_stability),
            row(self.all_btn, self.none_btn, self.add_btn, self.close_btn),
        ], layout=W.Layout(display="none"))  # fmt: skip
        self.widget = W.VBox([
            row(self.run_btn, self.density, self.stop_btn, self.progress, self.info),
            self.pick_row,
        ])  # fmt: skip
        self.widget.add_class("sam2nb-picker")

    # -- state ------------------------------------------------------------------------------
    @property
    def picking(self) -> bool:
        """True while masks are shown and clicks select them."""
        return self.found is not None

    @property
    def running(self) -> bool:
        """True while a run is going on."""
        return self._job is not None and self._job.running

    def visible(self) -> list[int]:
        """Indices of the masks the filters let through."""
        if self.found is None:
            return []
        area, iou, stab = (
            int(self.min_area.value or 0),
            self.min_iou.value,
            self.min_stability.value,
        )
        return [
            i for i, m in enumerate(self.found.masks)
            if m.area >= area and m.predicted_iou >= iou and m.stability_score >= stab
        ]  # fmt: skip

    # -- running ------------------------------------------------------------------------------
    def run(self, **knobs: Any) -> None:
        """Segment everything on the shown frame (in the background when the app is threaded).

        Keyword arguments are generator settings (see :func:`sam2nb.segment_everything`);
        ``points_per_side`` defaults to the density picked in the panel.
        """
        if self.running:
            raise RuntimeError("Segment everything is running already: stop it or wait.")
        if self.app.running:
            raise RuntimeError("A propagation or export is running: wait for it or stop it.")
        knobs = {"points_per_side": int(self.density.value), **self.knobs, **knobs}
        frame = int(self.app.frame_idx)
        self._busy(True)
        self.info.value = f"segmenting frame {frame}..."
        self._job = WidgetJob(
            lambda job: self._segment(job, frame, knobs), name="sam2nb-everything",
            threaded=self.app.threaded, show_error=self.app.show_error,
            on_progress=self._show_progress, on_done=lambda: self._busy(False),
        )  # fmt: skip
        self._job.start()

    def _segment(self, job: Job, frame: int, knobs: dict) -> None:
        t0 = time.perf_counter()
        found = segment_everything(None, self.app.session, frame_idx=frame, progress=False,
                                   stop=job, on_batch=job.progress, **knobs)  # fmt: skip
        self.show(found)
        word = " (stopped early)" if found.stopped else ""
        flag = " UNTRAINED model: these masks mean nothing." if found.untrained else ""
        n = f"{len(found)} mask{'s' if len(found) != 1 else ''}"
        if len(found):
            then = "Click masks to select them, then 'add as objects'."
        else:
            k = found.settings
            then = (
                f"sam2 keeps only candidates with predicted IoU above {k['pred_iou_thresh']:g} "
                f"and stability score at least {k['stability_score_thresh']:g}; none passed. "
                "Lower them: app.picker.run(pred_iou_thresh=0.5, stability_score_thresh=0.8)."
            )
        self.app.say(
            f"{n} on frame {frame} in {time.perf_counter() - t0:.1f} s{word}. {then}{flag}"
        )

    def _show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.max, self.progress.value = total, done
        self.progress.layout.display = None

    def wait(self, timeout: float = 600.0) -> bool:
        """Block until the run is done (for scripts and tests)."""
        if self._job is not None:
            self._job.wait(timeout)
        return not self.running

    def stop(self) -> None:
        """Ask the run to stop after the point batch it is on (the masks so far are kept)."""
        if self._job is not None:
            self._job.stop()

    def _busy(self, on: bool) -> None:
        self.run_btn.disabled = on
        self.stop_btn.disabled = not on

    # -- showing and picking ------------------------------------------------------------------
    def show(self, found: AutoMasks) -> None:
        """Show these masks (from a run or from :func:`sam2nb.segment_everything`) to pick from."""
        vp = self.app.canvas.viewport
        if tuple(found.size) != tuple(vp.video_size):
            raise ValueError(
                f"These masks are {found.size[0]}x{found.size[1]}, the app shows "
                f"{vp.video_size[0]}x{vp.video_size[1]}: segment this app's picture."
            )
        self.found, self.selected = found, []
        self._disp = [vp.resize_mask(m.mask) for m in found.masks]
        self._colors = mask_colors(len(found))
        self._base = ((), None)
        self.pick_row.layout.display = None
        if self.app.frame_idx != found.frame_idx:
            self.app.show_frame(found.frame_idx)
        self._changed()

    def toggle(self, x: float, y: float) -> int | None:
        """Select or deselect the smallest visible mask under video pixel ``(x, y)``.

        Returns:
            The mask's index in :attr:`found`, or None when no visible mask is there.
        """
        if self.found is None:
            return None
        t0 = time.perf_counter()
        vis = self.visible()
        j = AutoMasks([self.found.masks[i] for i in vis], self.found.size).pick(x, y)
        if j is None:
            self.app.say("No mask there: click inside a coloured mask (or change the filters).")
            return None
        i = vis[j]
        if i in self.selected:
            self.selected.remove(i)
        else:
            self.selected.append(i)
        self._changed()
        self.last_toggle_s = time.perf_counter() - t0
        return i

    def select(self, indices: list[int]) -> None:
        """Select exactly these masks (indices into :attr:`found`; hidden ones are refused).

        Example:
            >>> app.picker.select([0, 2])  # doctest: +SKIP
        """
        if self.found is None:
            raise ValueError("No masks shown: run 'segment everything' first.")
        vis = set(self.visible())
        chosen = list(dict.fromkeys(int(i) for i in indices))
        bad = [i for i in chosen if i not in vis]
        if bad:
            raise ValueError(f"Masks {bad} are not shown (there are {len(self.found)}; the "
                             f"filters show {sorted(vis)}).")  # fmt: skip
        self.selected = chosen
        self._changed()

    def select_all(self) -> None:
        """Select every mask the filters show."""
        self.selected = self.visible()
        self._changed()

    def select_none(self) -> None:
        """Deselect every mask."""
        self.selected = []
        self._changed()

    def _filters_changed(self) -> None:
        if self.found is None:
            return
        keep = set(self.visible())
        self.selected = [i for i in self.selected if i in keep]
        self._changed()

    def _changed(self) -> None:
        n = len(self.selected)
        self.add_btn.description = f"add {n} as object{'s' if n != 1 else ''}"
        self.add_btn.disabled = n == 0
        if self.found is not None:
            self.info.value = (f"{len(self.visible())} of {len(self.found)} masks shown, "
                               f"{n} selected")  # fmt: skip
        self.app.redraw_masks()

    def layer(self, frame_idx: int | None = None) -> MaskLayer | None | bool:
        """The picker's mask layer for a frame, or False when it shows nothing there."""
        if self.found is None or (frame_idx is not None and frame_idx != self.found.frame_idx):
            return False
        vis = self.visible()
        key, base = self._base
        layer, base = picker_layer(self._disp, self._colors, vis, set(self.selected),
                                   base if key == tuple(vis) else None)  # fmt: skip
        self._base = (tuple(vis), base)
        return layer

    # -- handing over -------------------------------------------------------------------------
    def add(self, names: list[str] | None = None) -> list[int]:
        """Make the selected masks new objects of the session (mask prompts), then close.

        Returns:
            The new ``obj_id`` values.
        """
        if self.found is None or not self.selected:
            raise ValueError("Nothing selected: click masks to select them (or 'select all').")
        if self.app.running:
            raise RuntimeError("A propagation or export is running: wait for it or stop it.")
        ids = self.found.add_to(self.app.session, select=self.selected, names=names)
        frame = self.found.frame_idx
        self.close()
        self.app.objects_added(ids, frame)
        n = f"{len(ids)} object{'s' if len(ids) != 1 else ''}"
        then = "propagate to track them" if hasattr(self.app, "propagate") else "click to refine"
        self.app.say(f"Added {n} ({', '.join(map(str, ids))}) on frame {frame}: {then}.")
        return ids

    def close(self) -> None:
        """Hide the masks; clicks add prompts again."""
        self.found, self.selected, self._disp, self._base = None, [], [], ((), None)
        self.pick_row.layout.display = "none"
        self.info.value = ""
        self.add_btn.description, self.add_btn.disabled = "add 0 as objects", True
        self.app.redraw_masks()

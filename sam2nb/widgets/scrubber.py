"""The frame scrubber: play, scrub, see every object's mask, and a presence timeline.

Play and the slider are linked in the browser; opacity and per-object visibility toggles;
jumps to prompted frames; swimlanes of where each object is visible and prompted.

Frames are decoded at the display size (by the video decoder for files, on its own reader),
encoded once as RGB JPEG and cached; masks go as a cropped RGBA layer; prompts as vectors. A
render thread draws the newest requested frame and skips the ones it was asked for meanwhile.
"""

from __future__ import annotations

import collections
import html
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
from ipycanvas import Canvas

from ..base.colors import color_of, hex_color
from ..media.overlay import (
    DISPLAY_WIDTH,
    JPEG_QUALITY,
    FrameCache,
    Viewport,
    encode_jpeg,
    mask_layer,
    runs,
)
from ..prompts.log import frame_prompts
from ..storage.store import FrameResult
from .canvas import PromptCanvas, batch
from .layout import row
from .pacing import TIMELINE_INTERVAL

LANE = 12  # timeline pixels per object, with up to three objects (see lane_height)
LANES = 36  # the lanes' pixels in all: with more objects each lane gets fewer, LANE_MIN at least
LANE_MIN = 4
# the timeline's height on the page per canvas pixel (its width follows the picture's): the lane
# of one to three objects is 18 px tall at any width, readable and easy to click on a laptop
TIMELINE_ZOOM = 1.5
FRESH_FRAMES = 64  # frames whose newest records are kept for drawing without a store read
PLAY_WINDOW = 1.5  # seconds over which Play's drawn rate is measured
MAX_PLAY_STEP = 15  # Play advances at most this many frames a tick (it keeps the video's time)


def lane_height(n_objects: int) -> int:
    """Timeline pixels per object: :data:`LANE` for a few, fewer for many (the whole stays low).

    Example:
        >>> [lane_height(n) for n in (0, 1, 3, 4, 6, 9, 20)]
        [12, 12, 12, 9, 6, 4, 4]
    """
    return max(LANE_MIN, min(LANE, LANES // max(1, n_objects)))


class PlayMeter:
    """How many frames per second Play draws, against the rate it plays at.

    Play advances the slider in the browser at the video's frame rate; the kernel draws the
    newest frame asked for and skips those it had no time for (on purpose: the picture keeps
    time with the video). The meter shows the rate achieved in place of the frame's time.

    Example:
        >>> m = PlayMeter(30.0)
        >>> m.start(0.0)
        >>> for i in range(1, 16): m.drawn(i / 10)  # 10 frames/s drawn
        >>> m.text(1.5), m.summary(1.5)
        ('▶ 10/30 fps', 'played at 10 of 30 frames/s: the others were skipped to keep time')
    """

    def __init__(self, fps: float):
        self.fps = float(fps)
        self.times: collections.deque[float] = collections.deque()
        self.t0 = 0.0
        self.count = 0
        self.step = 1  # frames Play advances a tick (see :meth:`pace`)
        self._paced = 0.0  # when the step last changed, or was confirmed
        self._good = 0  # windows in a row that kept up with the ticks

    def start(self, now: float) -> None:
        """Play began."""
        self.times.clear()
        self.t0, self.count, self.step, self._paced, self._good = now, 0, 1, now, 0

    def pace(self, now: float) -> int:
        """The step Play should tick with: every ``step``-th frame, ``step`` times slower.

        Play keeps the video's time either way. Ticking at the full rate when the kernel draws
        a fifth of the ticks only sends (and answers) messages that are skipped: two widget
        updates and their echoes a tick, which take the cores that drawing needs. So once per
        window the step goes up to what was drawn, and back down one after three windows that
        kept up with every tick.

        Example:
            >>> m = PlayMeter(30.0)
            >>> m.start(0.0)
            >>> for i in range(1, 16): m.drawn(i / 10)  # 10 of 30 frames/s drawn
            >>> m.pace(1.5)
            3
        """
        if now - self._paced < PLAY_WINDOW:
            return self.step
        self._paced = now
        r = self.rate(now)
        ticks = self.fps / self.step
        if r >= 0.9 * ticks:  # kept up: after three such windows, try a smaller step
            self._good += 1
            if self._good >= 3 and self.step > 1:
                self.step, self._good = self.step - 1, 0
        else:
            self._good = 0
            self.step = min(MAX_PLAY_STEP, max(self.step, math.ceil(self.fps / max(r, 1.0))))
        return self.step

    def drawn(self, now: float) -> None:
        """A frame was drawn while playing."""
        self.times.append(now)
        self.count += 1
        while self.times and self.times[0] < now - PLAY_WINDOW:
            self.times.popleft()

    def rate(self, now: float) -> float:
        """Frames drawn per second over the last :data:`PLAY_WINDOW` seconds (or since start)."""
        span = max(min(PLAY_WINDOW, now - self.t0), 1 / self.fps)  # from the first frame on
        n = sum(1 for t in self.times if t > now - span)
        return min(n / span, self.fps)  # a late burst of queued frames is not a faster play

    def text(self, now: float) -> str:
        """``"▶ 24/25 fps"``: frames drawn per second of the rate played."""
        return f"▶ {self.rate(now):.0f}/{self.fps:.0f} fps"

    def summary(self, now: float) -> str:
        """What the last play achieved, in words (the frame line's tooltip after a play)."""
        span = now - self.t0
        r = self.count / span if span > 0 else 0.0
        skipped = ": the others were skipped to keep time" if r < 0.9 * self.fps else ""
        return f"played at {r:.0f} of {self.fps:.0f} frames/s{skipped}"


class FrameScrubber:
    """Browse a video and a session's masks frame by frame.

    Args:
        video: the :class:`~sam2nb.VideoSource`.
        session: a :class:`~sam2nb.Session` whose masks and prompts to show (optional).
        max_width: display width limit in pixels (frames are never enlarged).
        quality: JPEG quality of the displayed frames.
        canvas: a :class:`~sam2nb.PromptCanvas` to draw on (one is made if None).
        threaded: render in a background thread, newest request first (False: draw at once).

    Example:
        >>> sc = FrameScrubber(video, sess)  # doctest: +SKIP
        >>> sc.widget  # display it  # doctest: +SKIP
        >>> sc.show(120)  # doctest: +SKIP
    """

    def __init__(
        self,
        video: Any,
        session: Any = None,
        *,
        max_width: int | None = DISPLAY_WIDTH,
        quality: int = JPEG_QUALITY,
        canvas: PromptCanvas | None = None,
        threaded: bool = True,
    ):
        self.video, self.session, self.quality = video, session, int(quality)
        self.viewport = canvas.viewport if canvas else Viewport.fit(*video.size, max_width)
        self.canvas = canvas or PromptCanvas(self.viewport)
        dw, dh = self.viewport.display_size
        self._frames = video.decoded_at(dw, dh) or video  # a reader of its own, at display size
        self.cache = FrameCache(max_items=256)
        self.masks_cache = FrameCache(max_items=64)
        self.opacity = 0.5
        self.visible: dict[int, bool] = {}
        self.current_obj: int | None = None
        self.layer_hook: Callable[[int], Any] | None = None  # a mask layer to show instead
        self._version: dict[int, int] = {}
        # the records the session just handed over, per frame and version: drawing a frame
        # that was just prompted or tracked reads nothing back from the store
        self._fresh: collections.OrderedDict[int, tuple[int, dict]] = collections.OrderedDict()
        self._presence: dict[int, np.ndarray] = {}
        self._tracked: dict[int, np.ndarray] = {}
        self._stale: dict[int, np.ndarray] = {}  # tracked before a later prompt change
        self._stale_seen: int | None = None  # the store's stale_version when last read
        self._stale_count = 0
        self.suspects: dict[int, np.ndarray] = {}  # frames flagged by the quality check
        self._timeline_t = 0.0
        self.renders = 0
        self.last_render_s = 0.0
        n = len(video)
        interval = max(15, round(1000 / (video.fps or 25)))  # the video's own rate
        self.play = W.Play(min=0, max=n - 1, step=1, interval=interval,
                           tooltip="play at the video's frame rate / pause; loop")  # fmt: skip
        self.meter = PlayMeter(1000 / interval)
        self._interval = interval
        self.play.observe(self._on_playing, names="playing")
        self.slider = W.IntSlider(
            min=0, max=n - 1, description="frame", continuous_update=True,
            style={"description_width": "initial"},
            layout=W.Layout(flex="1 1 auto", width="auto", min_width="200px"),
        )  # fmt: skip
        self.play.add_class("sam2nb-play")  # its ■ (back to frame 0) is hidden: ❚❚ pauses
        W.jslink((self.play, "value"), (self.slider, "value"))
        # HTML for its tooltip (a Label puts it on its hidden description); one line, cut with
        # an ellipsis (the whole text in its tooltip): Play's rate never wraps it, moving the rows
        self.info = W.HTML(layout=W.Layout(flex="1 1 0", min_width="0"))
        self.info.add_class("sam2nb-scrubber-info")
        self.info_text, self.info_tip = "", ""  # what it says, as plain text
        self.prev_btn = W.Button(description="◀ prompt", tooltip="previous prompted frame")
        self.next_btn = W.Button(description="prompt ▶", tooltip="next prompted frame")
        for b in (self.prev_btn, self.next_btn):
            b.layout = W.Layout(width="auto")
        self.prev_btn.on_click(lambda _: self.jump(-1))
        self.next_btn.on_click(lambda _: self.jump(+1))
        self.opacity_slider = W.FloatSlider(
            value=self.opacity, min=0.0, max=1.0, step=0.05, description="opacity",
            continuous_update=False, layout=W.Layout(width="240px"),
        )  # fmt: skip
        self.opacity_slider.observe(self._on_opacity, names="value")
        self.toggles = row()
        self.timeline = Canvas(width=dw, height=LANE + 4)
        # as wide as the picture, and TIMELINE_ZOOM times its pixels high: lanes keep their
        # height when a narrow page shrinks the picture (scaled with it, one was 9 px)
        self.timeline.layout = W.Layout(width="100%", max_width=f"{dw}px",
                                        height=_css_height(LANE + 4))  # fmt: skip
        self.timeline.add_class("sam2nb-timeline")
        self.slider.add_class("sam2nb-frame-slider")
        self.timeline.on_mouse_down(self._timeline_click)
        self.timeline.on_client_ready(self.draw_timeline)
        self.slider.observe(lambda ch: self.request(ch["new"]), names="value")
        # the picture, its timeline, the frame slider (a row of its own: most of the picture's
        # width, so a drag can pick a frame) and the play row; the secondary controls apart (an
        # app puts its main controls between them, so a small window shows what matters together)
        self.slider_row = W.HBox([self.slider], layout=W.Layout(width="100%", max_width=f"{dw}px"))
        self.play_row = W.HBox([self.play, self.info], layout=W.Layout(align_items="center"))
        self.main = W.VBox([self.canvas.widget, self.timeline, self.slider_row, self.play_row])
        self.extras = row(self.prev_btn, self.next_btn, self.opacity_slider, self.toggles)
        self.widget = W.VBox([self.main, self.extras])
        self._cond = threading.Condition()
        self._want: int | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.threaded = threaded
        self.rebuild()
        self.render(0)

    # -- frames -----------------------------------------------------------------------------
    @property
    def frame_idx(self) -> int:
        """The frame on the slider."""
        return int(self.slider.value)

    def show(self, frame_idx: int) -> None:
        """Move to a frame (the slider follows)."""
        n = len(self.video)
        if not 0 <= int(frame_idx) < n:
            raise IndexError(f"frame {frame_idx} is out of range: the video has {n} frames")
        if self.slider.value == int(frame_idx):
            self.request(int(frame_idx))
        else:
            self.slider.value = int(frame_idx)

    def request(self, frame_idx: int) -> None:
        """Draw a frame soon; a newer request replaces one not started yet."""
        if not self.threaded:
            self.render(frame_idx)
            return
        with self._cond:
            self._want = int(frame_idx)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sam2nb-scrubber")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._want is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                idx, self._want, self._busy = self._want, None, True
            try:
                self.render(idx)
            except Exception as exc:  # shown, never swallowed
                self.say(f"frame {idx}: {type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every requested frame is drawn (for scripts and tests)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._want is not None or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def frame_jpeg(self, frame_idx: int) -> bytes:
        """The display-size JPEG of a frame (encoded once, then cached)."""

        def make() -> bytes:
            return encode_jpeg(self.viewport.resize_frame(self._frames[frame_idx]), self.quality)

        return self.cache.get(frame_idx, make)

    def mask_png(self, frame_idx: int) -> Any:
        """The frame's mask layer for the visible objects (cached per mask version)."""
        if self.session is None:
            return None
        shown = tuple(o for o in self.session.objects if self.visible.get(o, True))
        colors = tuple((o, self.session.objects[o].color) for o in shown)
        key = (frame_idx, self._version.get(frame_idx, 0), self.opacity, colors)

        def make() -> Any:
            version, records = self._fresh.get(frame_idx, (None, None))
            if records is not None and version == self._version.get(frame_idx, 0):
                masks = {o: records[o].mask() for o in shown if o in records}
            else:
                masks = self.session.results.masks(frame_idx, obj_ids=shown) if shown else {}
            disp = {o: self.viewport.resize_mask(m) for o, m in masks.items()}
            return mask_layer(disp, dict(colors), self.opacity)

        return self.masks_cache.get(key, make)

    def render(self, frame_idx: int) -> None:
        """Draw a frame with its masks and prompts now."""
        t0 = time.perf_counter()
        jpeg = self.frame_jpeg(frame_idx)
        layer = self.layer_hook(frame_idx) if self.layer_hook is not None else False
        if layer is False:  # the hook shows nothing on this frame
            layer = self.mask_png(frame_idx)
        every, prompts, colors = {}, {}, {}
        if self.session is not None:
            colors = {o: t.color for o, t in self.session.objects.items()}
            every = frame_prompts(self.session.log)  # read once: this frame's and the timeline's
            prompts = {
                o: p for (f, o), p in every.items() if f == frame_idx and self.visible.get(o, True)
            }
        with batch():  # one message per frame switch
            self.canvas.show(jpeg, layer, prompts, colors, self.current_obj)
            self.draw_timeline(force=True, prompts=every)
        self.renders += 1
        self.last_render_s = time.perf_counter() - t0
        playing = None
        if self.play.playing:  # the rate drawn in place of the time: the line keeps its length
            now = time.monotonic()
            self.meter.drawn(now)
            playing = self.meter.text(now)
            step = self.meter.pace(now)
            if step != self.play.step:  # every step-th frame, as often: the video's time kept
                self.play.step, self.play.interval = step, step * self._interval
        self.say(self._describe(frame_idx, playing))

    def say(self, text: str, tip: str | None = None) -> None:
        """Put ``text`` on the frame line (``tip``: its tooltip; None keeps the one it has)."""
        self.info_text = text
        if tip is not None:
            self.info_tip = tip
        # the tip, then the whole text (the line is cut with an ellipsis where it is too long)
        title = "\n".join(t for t in (self.info_tip, text) if t)
        title = f' title="{html.escape(title)}"' if title else ""
        self.info.value = f"<span{title}>{html.escape(text)}</span>"

    def _on_playing(self, change: dict) -> None:
        now = time.monotonic()
        step = self.play.step
        if step != 1:  # a new play, or a pause: frame by frame again at first
            self.play.step, self.play.interval = 1, self._interval
            end = self.slider.max
            if not change["new"] and not self.play.repeat and self.slider.value + step > end:
                self.slider.value = end  # it stopped short of the end by less than a step
        if change["new"]:
            self.meter.start(now)
            self.say(self.info_text, "frames drawn per second while playing")
        elif self.meter.count:
            self.say(self.info_text, self.meter.summary(now))

    def _describe(self, f: int, playing: str | None = None) -> str:
        """``"/ 199  6.63 s"`` after the slider's own frame number (or Play's rate).

        A frame whose masks were tracked before a later prompt change says so ("stale").
        """
        fps = self.video.fps or 0
        t = f"  {playing}" if playing else (f"  {f / fps:.2f} s" if fps else "")
        stale = [o for o, a in self._stale.items() if a[f]] if not playing else []
        if stale:
            t += f"  stale: tracked before the last change ({_ids(stale)})"
        return f"/ {len(self.video) - 1}{t}"

    # -- masks and objects -----------------------------------------------------------------
    def rebuild(self) -> None:
        """Re-read objects, presence and prompts from the session (after a load or removal)."""
        n = len(self.video)
        self._presence, self._tracked = {}, {}
        if self.session is not None:
            for o in self.session.objects:
                vis, seen = np.zeros(n, bool), np.zeros(n, bool)
                for rec in self.session.results.records(o):
                    seen[rec.frame_idx] = True
                    vis[rec.frame_idx] = rec.visible
                self._presence[o], self._tracked[o] = vis, seen
        self.refresh_stale(force=True)
        self._version = {f: v + 1 for f, v in self._version.items()}
        self.masks_cache.drop()
        self.refresh_objects()
        self._timeline_t = 0.0
        self.draw_timeline(force=True)

    def refresh_stale(self, force: bool = False) -> int:
        """Re-read which masks are stale (after a prompt change); returns how many frames.

        The store counts changes of its marks (``stale_version``): with none since the last
        read (a first click, most clicks before any tracking) nothing is read again.
        """
        n = len(self.video)
        results = getattr(self.session, "results", None)
        stale = getattr(results, "stale_frames", None)
        if stale is None:
            self._stale = {}
            return 0
        version = getattr(results, "stale_version", None)
        same = version is not None and version == self._stale_seen
        if same and not force:  # no mark changed: objects added since have none
            self._stale = {o: self._stale.get(o, np.zeros(n, bool)) for o in self.session.objects}
            return self._stale_count
        self._stale_seen, self._stale = version, {}
        for o in self.session.objects:
            a = np.zeros(n, bool)
            a[[f for f in stale(o) if f < n]] = True
            self._stale[o] = a
        self._stale_count = (
            int(np.logical_or.reduce(list(self._stale.values())).sum()) if self._stale else 0
        )
        return self._stale_count

    def refresh_objects(self) -> None:
        """Rebuild the visibility toggles from the session's objects."""
        if self.session is None:
            return
        buttons = []
        for o, obj in self.session.objects.items():
            on = self.visible.setdefault(o, True)
            # (a ToggleButton has no button_color: the object's colour is its left border)
            b = W.ToggleButton(
                value=on, description=obj.name, icon="eye" if on else "eye-slash",
                tooltip=f"show or hide object {o}",
                layout=W.Layout(width="auto", border_left=f"8px solid {hex_color(obj.color)}"),
            )  # fmt: skip
            b.observe(lambda ch, o=o, b=b: self._toggle(o, b, ch["new"]), names="value")
            buttons.append(b)
        self.toggles.children = buttons

    def _toggle(self, obj_id: int, button: W.ToggleButton, on: bool) -> None:
        self.visible[obj_id] = bool(on)
        button.icon = "eye" if on else "eye-slash"
        self.request(self.frame_idx)

    def _on_opacity(self, change: dict) -> None:
        self.opacity = float(change["new"])
        self.request(self.frame_idx)

    def update(self, result: FrameResult, redraw: bool = True) -> None:
        """Take in a frame the session just computed (a prompt or a propagation step)."""
        f = result.frame_idx
        n = len(self.video)
        if self.session is not None:
            for o in self.session.objects:
                if o not in self._presence:
                    self._presence[o], self._tracked[o] = np.zeros(n, bool), np.zeros(n, bool)
                    self.refresh_objects()
                rec = result.records.get(o)
                self._tracked[o][f] = rec is not None
                self._presence[o][f] = rec is not None and rec.visible
                if o in self._stale and rec is not None and not result.previous:
                    self._stale[o][f] = False  # written now (a click marks others: the app)
        self._version[f] = self._version.get(f, 0) + 1
        self._fresh[f] = (self._version[f], result.records)
        self._fresh.move_to_end(f)
        while len(self._fresh) > FRESH_FRAMES:
            self._fresh.popitem(last=False)
        if redraw and f == self.frame_idx:
            self.request(f)
        else:
            self.draw_timeline()

    def jump(self, step: int) -> int | None:
        """Go to the previous (-1) or next (+1) prompted frame; returns it, or None."""
        if self.session is None:
            return None
        frames = self.session.prompt_frames()
        f = self.frame_idx
        cands = [x for x in frames if (x > f if step > 0 else x < f)]
        if not cands:
            where = "later" if step > 0 else "earlier"
            self.say(f"{self._describe(f)}  (no {where} prompted frame)")
            return None
        target = min(cands) if step > 0 else max(cands)
        self.show(target)
        return target

    # -- timeline --------------------------------------------------------------------------
    @property
    def lane(self) -> int:
        """The timeline's pixels per object now (see :func:`lane_height`)."""
        n = len(self.session.objects) if self.session is not None else 0
        return lane_height(n)

    def draw_timeline(self, force: bool = False, prompts: dict | None = None) -> None:
        """Draw the swimlanes: one lane per object, a red line at the current frame.

        Colour where the object is visible, grey where it is tracked but hidden, both paled and
        struck through where the masks are stale (tracked before a later prompt change: the
        next propagation tracks them again), black ticks where it is prompted, a red underline
        where the quality check flags it (``suspects``).
        ``prompts`` is :func:`~sam2nb.frame_prompts` of the log, if the caller has it already.
        """
        now = time.monotonic()
        if not force and now - self._timeline_t < TIMELINE_INTERVAL and self.renders > 1:
            return
        self._timeline_t = now
        tl = self.timeline
        n = len(self.video)
        objs = list(self.session.objects) if self.session is not None else []
        lane = self.lane
        q = max(1, lane // 4)  # the grey band's inset, the quality tick's height
        h = max(1, len(objs)) * lane + 4
        w = tl.width
        sx = w / n
        if prompts is None:
            prompts = frame_prompts(self.session.log) if self.session is not None else {}
        with batch():
            if tl.height != h:
                tl.height = h
                tl.layout.height = _css_height(h)
            tl.clear()
            tl.fill_style = "#f2f2f2"
            tl.fill_rect(0, 0, w, h)
            for i, o in enumerate(objs):
                y = 2 + i * lane
                tracked, vis = self._tracked.get(o), self._presence.get(o)
                if tracked is not None:
                    tl.fill_style = "#c8c8c8"
                    for a, b in runs(tracked & ~vis):
                        tl.fill_rect(a * sx, y + q, max((b - a) * sx, 1), lane - 2 * q)
                    tl.fill_style = hex_color(color_of({o: self.session.objects[o].color}, o))
                    for a, b in runs(vis):
                        tl.fill_rect(a * sx, y + 1, max((b - a) * sx, 1), lane - 2)
                stale = self._stale.get(o)
                if stale is not None and stale.any():  # paled, with a line through it
                    for a, b in runs(stale):
                        tl.fill_style = "rgba(255, 255, 255, 0.6)"
                        tl.fill_rect(a * sx, y + 1, max((b - a) * sx, 1), lane - 2)
                        tl.fill_style = "#555555"
                        tl.fill_rect(a * sx, y + lane // 2 - 1, max((b - a) * sx, 1), 1)
                sus = self.suspects.get(o)
                if sus is not None and sus.any():  # the quality lane: a red tick per suspect
                    tl.fill_style = "#d62728"
                    for a, b in runs(sus):
                        tl.fill_rect(a * sx, y + lane - q, max((b - a) * sx, 2), q)
                tl.fill_style = "#000000"
                for f, _ in (k for k in prompts if k[1] == o):
                    tl.fill_rect(f * sx, y, max(sx, 2), lane)
            tl.fill_style = "#d62728"
            tl.fill_rect(self.frame_idx * sx, 0, max(sx, 2), h)

    def _timeline_click(self, x: float, y: float) -> None:
        n = len(self.video)
        self.show(min(max(int(x / self.timeline.width * n), 0), n - 1))

    def close(self) -> None:
        """Stop the render thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _css_height(pixels: int) -> str:
    """The timeline's height on the page for a canvas ``pixels`` high.

    Example:
        >>> _css_height(16)
        '24px'
    """
    return f"{round(pixels * TIMELINE_ZOOM)}px"


def _ids(obj_ids: list[int]) -> str:
    """``"object 2"`` or ``"objects 1, 3"``.

    Example:
        >>> _ids([2]), _ids([1, 3])
        ('object 2', 'objects 1, 3')
    """
    return ("object " if len(obj_ids) == 1 else "objects ") + ", ".join(map(str, obj_ids))

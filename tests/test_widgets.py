"""Widget logic without a browser: frontend events injected on the comm message path, the
draw traffic recorded, the prompts checked on a real session (test model)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import sam2nb as s2
from sam2nb.media.overlay import runs
from sam2nb.tracking.log import frame_prompts
from sam2nb.widgets.canvas import BAND_INTERVAL
from sam2nb.widgets.scrubber import PlayMeter


def frontend(widget, content, buffers=()):
    """Exactly what the comm delivers for a browser-side ``model.send(content)``."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": list(buffers)}
    )


STAGE = {"mouse_down": "down", "mouse_move": "move", "mouse_up": "up", "mouse_out": "cancel"}


def mouse(stage, event, x, y, shift=False):
    """A pointer event as the picture's stage sends it (display pixels, the event's keys)."""
    frontend(stage, {"event": STAGE.get(event, event), "x": x, "y": y, "shift": shift,
                     "ctrl": False, "meta": False, "alt": False, "button": 0})  # fmt: skip


def key(stage, k, shift=False):
    frontend(stage, {"event": "key", "key": k, "shift": shift, "ctrl": False, "meta": False})


@pytest.fixture
def sent(monkeypatch):
    """Every draw message ipycanvas sends: a list of [json, *buffers] byte strings."""
    from ipycanvas.canvas import _CANVAS_MANAGER

    out: list[list[bytes]] = []
    monkeypatch.setattr(
        _CANVAS_MANAGER, "send", lambda c, buffers=None: out.append([bytes(b) for b in buffers])
    )
    return out


# -- overlay (pure) ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size, limit, want",
    [((1920, 1080), 960, (960, 540)), ((640, 480), 960, (640, 480)), ((1000, 333), 500, (500, 166)),
     ((960, 540), None, (960, 540))],
)  # fmt: skip
def test_fit_size(size, limit, want):
    assert s2.fit_size(*size, limit) == want


@pytest.mark.parametrize("video, disp", [((1920, 1080), (960, 540)), ((853, 480), (640, 360))])
def test_viewport_maps_exactly_both_ways(video, disp):
    vp = s2.Viewport(video, disp)
    for x, y in [(0, 0), (12.5, 7.25), (disp[0], disp[1]), (disp[0] / 3, disp[1] / 2)]:
        vx, vy = vp.to_video(x, y)
        assert vp.to_display(vx, vy) == pytest.approx((x, y))
        assert vx == pytest.approx(x * video[0] / disp[0])
    assert vp.to_video(-5, disp[1] + 9) == (0.0, float(video[1]))  # clamped to the frame
    assert vp.box_to_video(100, 80, 20, 10) == pytest.approx(
        [20 * vp.scale[0], 10 * vp.scale[1], 100 * vp.scale[0], 80 * vp.scale[1]]
    )


def test_mask_layer_crops_colours_and_outlines():
    m1 = np.zeros((60, 80), bool)
    m1[10:20, 10:30] = True
    m2 = np.zeros((60, 80), bool)
    m2[40:50, 60:70] = True
    layer = s2.mask_layer({1: m1, 2: m2}, {1: (255, 0, 0), 2: (0, 0, 255)}, opacity=0.4)
    assert (layer.x, layer.y) == (8, 8)
    assert layer.rgba.shape == (50 - 8 + 2, 70 - 8 + 2, 4)
    inside = layer.rgba[15 - 8, 20 - 8]
    assert tuple(inside) == (255, 0, 0, round(255 * 0.4))
    edge = layer.rgba[9 - 8, 20 - 8]  # one pixel outside object 1: the opaque outline
    assert tuple(edge) == (255, 0, 0, 255)
    assert tuple(layer.rgba[45 - 8, 65 - 8][:3]) == (0, 0, 255)
    assert layer.rgba[30 - 8, 40 - 8, 3] == 0  # between the objects: transparent
    assert s2.mask_layer({1: np.zeros((5, 5), bool)}) is None
    with pytest.raises(ValueError, match="opacity"):
        s2.mask_layer({1: m1}, opacity=2)


def test_runs_and_cache():
    assert runs(np.array([1, 1, 0, 1], bool)) == [(0, 2), (3, 4)]
    assert runs(np.zeros(3, bool)) == []
    cache = s2.FrameCache(max_items=2)
    made = []
    for k in (1, 2, 1, 3, 2):
        cache.get(k, lambda k=k: made.append(k) or k)
    assert made == [1, 2, 3, 2] and len(cache) == 2  # 2 was evicted by 3, then made again


@pytest.mark.parametrize(
    "log, want",
    [
        ([("points", [[1, 2]], [1], False), ("points", [[3, 4]], [0], False)],
         ([(1, 2), (3, 4)], [1, 0], None)),
        ([("points", [[1, 2]], [1], False), ("points", [[3, 4]], [1], True)],
         ([(3, 4)], [1], None)),
        ([("points", [[1, 2]], [1], False), ("box", None, None, [0, 0, 5, 5])],
         ([], [], [0, 0, 5, 5])),
        ([("box", None, None, [0, 0, 5, 5]), ("clear", None, None, None)], None),
    ],
)  # fmt: skip
def test_frame_prompts_follow_the_log(log, want):
    entries = []
    for op, pts, labs, extra in log:
        if op == "points":
            entries.append({"op": op, "frame_idx": 3, "obj_id": 1, "points": pts, "labels": labs,
                            "clear": extra})  # fmt: skip
        elif op == "box":
            entries.append({"op": op, "frame_idx": 3, "obj_id": 1, "box": extra})
        else:
            entries.append({"op": "clear_frame", "frame_idx": 3, "obj_id": 1})
    got = frame_prompts(entries).get((3, 1))
    if want is None:
        assert got is None
    else:
        assert (got.points, got.labels, got.box) == (want[0], want[1], want[2])


# -- the prompt canvas (events in, draw traffic out) -----------------------------------------
class Clock:
    """A clock that moves only when the test moves it (no assertion depends on machine speed)."""

    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pc(clock):
    return s2.PromptCanvas(s2.Viewport((640, 480), (320, 240)), clock=clock)


def test_click_box_and_modifier(pc, sent, clock):
    clicks, boxes = [], []
    pc.on_click(lambda x, y, lab: clicks.append((x, y, lab)))
    pc.on_box(boxes.append)
    mc = pc.widget
    mouse(mc, "mouse_down", 50.0, 25.0)
    mouse(mc, "mouse_up", 51.0, 26.0)  # moved 1 px: a click, where the button went down
    assert clicks == [(100.0, 50.0, 1)]
    key(mc, "Shift", shift=True)  # the Shift key alone does nothing (the stage does not send it)
    mouse(mc, "mouse_down", 10.0, 10.0)
    mouse(mc, "mouse_up", 10.0, 10.0)
    assert clicks[-1] == (20.0, 20.0, 1)
    mouse(mc, "mouse_down", 10.0, 10.0, shift=True)  # Shift held as the button went down
    mouse(mc, "mouse_up", 10.0, 10.0)
    assert clicks[-1] == (20.0, 20.0, 0)  # Shift + click: negative, whatever had focus
    mouse(mc, "mouse_down", 10.0, 10.0)
    mouse(mc, "mouse_up", 10.0, 10.0, shift=True)  # Shift pressed only after the press
    assert clicks[-1][2] == 1  # the press decides
    mouse(mc, "mouse_down", 10.2, 10.7)
    mouse(mc, "mouse_up", 10.2, 10.7)
    assert clicks[-1][:2] == (20.4, 21.4)  # fractional display pixels are kept
    key(mc, "n")
    mouse(mc, "mouse_down", 5.0, 5.0)
    mouse(mc, "mouse_up", 5.0, 5.0)
    assert clicks[-1][2] == 0 and pc.label == 0  # negative mode
    mouse(mc, "mouse_down", 100.0, 90.0)
    mouse(mc, "mouse_up", 40.0, 30.0)  # dragged up-left: a box, sorted
    assert boxes == [[80.0, 60.0, 200.0, 180.0]]
    assert len(clicks) == 6
    frontend(mc, {"event": "down", "x": "?"})  # a malformed message is ignored
    frontend(mc, "not a dict")
    assert len(clicks) == 6 and len(boxes) == 1


def test_drag_band_is_throttled_and_out_cancels(pc, sent, clock):
    boxes = []
    pc.on_box(boxes.append)
    mc = pc.widget
    mouse(mc, "mouse_move", 5.0, 5.0)  # no button down: nothing drawn
    assert sent == []
    mouse(mc, "mouse_down", 10.0, 10.0)
    for i in range(50):  # 50 moves in a burst (the clock stands still): one band
        mouse(mc, "mouse_move", 20.0 + i, 20.0 + i)
    assert len(sent) == 1
    clock.t += BAND_INTERVAL / 2
    mouse(mc, "mouse_move", 80.0, 80.0)
    assert len(sent) == 1  # at most one band per BAND_INTERVAL (40 ms)
    clock.t += BAND_INTERVAL
    mouse(mc, "mouse_move", 90.0, 90.0)
    assert len(sent) == 2
    assert all(len(m[0]) < 2000 for m in sent)  # vector commands, no pixels
    mouse(mc, "mouse_out", 300.0, 200.0)
    mouse(mc, "mouse_up", 300.0, 200.0)  # after leaving: no box
    assert boxes == []


def _strokes(message: bytes) -> list[tuple]:
    """The rectangles a draw message strokes: ``(rect, line width, colour, dashed)`` each."""
    from ipycanvas.canvas import COMMANDS, Canvas

    width, colour, dashed, out = 1.0, "#000000", False, []
    for cmd in json.loads(message):
        if cmd[0] == COMMANDS["set"] and cmd[1][0] == Canvas.ATTRS["line_width"]:
            width = cmd[1][1]
        elif cmd[0] == COMMANDS["set"] and cmd[1][0] == Canvas.ATTRS["stroke_style"]:
            colour = cmd[1][1]
        elif cmd[0] == COMMANDS["setLineDash"]:
            dashed = bool(cmd[1][0])
        elif cmd[0] == COMMANDS["strokeRect"]:
            out.append((tuple(cmd[1]), width, colour, dashed))
    return out


def test_the_rubber_band_shows_over_any_mask_and_frame(pc, sent):
    """A white line outlined in black (seen on a mask of the object's own colour, on a dark or a
    light frame), dashed with the object's colour (which object the box is for)."""
    pc._prompts = ({}, {1: (30, 144, 255)}, 1)
    mouse(pc.widget, "mouse_down", 10.0, 10.0)
    mouse(pc.widget, "mouse_move", 100.0, 80.0)
    band = [s for s in _strokes(sent[-1][0]) if s[0] == (10, 10, 90, 70)]
    solid = [(w, c) for _, w, c, dashed in band if not dashed]
    assert ("#ffffff" in [c for _, c in solid]) and ("#000000" in [c for _, c in solid]), band
    dark = max(w for w, c in solid if c == "#000000")
    light = max(w for w, c in solid if c == "#ffffff")
    assert light >= 2 and dark >= light + 2, band  # 1 px of black on each side of the white
    assert solid.index((dark, "#000000")) < solid.index((light, "#ffffff")), band  # under it
    assert any(dashed and c == "#1e90ff" for _, _, c, dashed in band), band  # the object's
    mouse(pc.widget, "mouse_up", 100.0, 80.0)
    assert [s for s in _strokes(sent[-1][0]) if s[0] == (10, 10, 90, 70)] == []  # gone


def test_keys_map_to_actions(pc):
    got = []
    pc.on_key(got.append)
    for k, shift in [("z", False), ("z", True), ("y", False), ("3", False), ("p", False),
                     ("q", False)]:  # fmt: skip
        key(pc.widget, k, shift)
    assert got == ["undo", "redo", "redo", "object 3", "positive"]
    pc.on_key(got.append, remove=True)
    key(pc.widget, "z")
    assert len(got) == 5


def test_frame_bytes_go_out_untouched_and_reload_redraws(pc, sent):
    jpeg = s2.encode_jpeg(np.full((240, 320, 3), 90, np.uint8), quality=60)
    m = np.zeros((240, 320), bool)
    m[50:80, 60:90] = True
    pc.show(jpeg, s2.mask_layer({1: m}), {}, {})
    assert len(sent) == 1  # one message per batch
    assert sent[0][1] == jpeg and sent[0][2][:8] == b"\x89PNG\r\n\x1a\n"
    assert pc.bytes_sent == len(jpeg) + len(sent[0][2])
    frontend(pc.canvas, {"event": "client_ready"})  # a page reload
    assert len(sent) == 2 and sent[1][1] == jpeg and sent[1][2] == sent[0][2]


def test_a_frame_already_shown_is_not_sent_again(pc, sent):
    jpeg = s2.encode_jpeg(np.full((240, 320, 3), 90, np.uint8), quality=60)
    other = s2.encode_jpeg(np.full((240, 320, 3), 30, np.uint8), quality=60)
    m = np.zeros((240, 320), bool)
    m[50:80, 60:90] = True
    pc.show(jpeg, None, {}, {})
    n = pc.bytes_sent
    pc.show(bytes(jpeg), s2.mask_layer({1: m}), {}, {})  # the same frame, new masks (a click)
    assert jpeg not in sent[-1] and sent[-1][1][:8] == b"\x89PNG\r\n\x1a\n"
    assert pc.bytes_sent - n == len(sent[-1][1])  # the mask layer only
    pc.show(other, None, {}, {})  # another frame goes out
    assert sent[-1][1] == other
    pc.show(jpeg, None, {}, {})  # and the first one again
    assert sent[-1][1] == jpeg
    frontend(pc.canvas, {"event": "client_ready"})  # a reload still gets the frame
    assert sent[-1][1] == jpeg


# -- editor and scrubber on a real session ---------------------------------------------------
@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 96, 128, 3), dtype=np.uint8)
    frames[:, 30:70, 40:90] = (200, 60, 60)
    return s2.open_video(frames)


@pytest.fixture
def sess(engine, clip):
    s = s2.Session(clip, engine)
    yield s
    s.close()


@pytest.mark.slow
def test_editor_undo_redo_is_exact(sess):
    ed = s2.PromptEditor(sess)
    r1 = ed.click(0, 60, 50)  # makes object 1
    assert list(sess.objects) == [1] and ed.obj_id == 1
    rle1 = r1.records[1].rle
    ed.click(0, 10, 10, label=0)
    ed.box(0, [30, 20, 100, 80])
    p = ed.prompts(0)[1]
    assert p.box == [30, 20, 100, 80] and p.labels == [1, 0]
    ed.undo()
    ed.undo()
    assert ed.prompts(0)[1].points == [(60.0, 50.0)]
    assert sess.results.get(0, 1).rle == rle1  # back to exactly the first answer
    ed.redo()
    assert ed.prompts(0)[1].labels == [1, 0] and ed.can_redo
    ed.click(3, 70, 40)
    assert not ed.can_redo  # a new edit drops the redo history
    ed.clear(3)
    assert 3 not in sess.prompt_frames(1)
    ed.undo()
    assert 3 in sess.prompt_frames(1)
    o2 = ed.new_object(name="b")
    ed.click(0, 100, 80)
    assert set(ed.prompts(0)) == {1, o2}


@pytest.mark.slow
def test_scrubber_caches_frames_and_sends_one_message_per_switch(sess, sent):
    sess.add_object()
    sess.add_points(0, 1, [(60, 50)], [1])
    sess.run(progress=False)
    sc = s2.FrameScrubber(sess.video, sess, threaded=False)
    sent.clear()
    sc.show(2)
    assert sc.frame_idx == 2 and len(sent) == 1
    bufs = sent[0][1:]
    assert bufs[0][:2] == b"\xff\xd8" and bufs[1][:8] == b"\x89PNG\r\n\x1a\n"
    misses = sc.cache.misses
    sc.show(0)  # shown when the scrubber opened
    sc.show(2)  # seen before
    assert sc.cache.misses == misses and sc.cache.hits >= 2
    sc.toggles.children[0].value = False  # hide object 1: no mask layer
    assert not any(b.startswith(b"\x89PNG") for b in sent[-1][1:])  # and the frame is shown
    sc.toggles.children[0].value = True
    before = sc.frame_idx
    sc._timeline_click(sc.timeline.width * 5.5 / 6, 3)
    assert before == 2 and sc.frame_idx == 5
    assert sc.jump(-1) == 0 and sc.jump(-1) is None
    assert sc.info_text.endswith("(no earlier prompted frame)")  # said, not silent


def test_timeline_lanes_are_tall_for_few_objects_and_the_whole_stays_low(sess):
    """A lane is 16+ px tall on the page at any picture width (scaled with a picture that a
    laptop shrinks, one lane was 9 px); many objects share a timeline of at most 80 px."""
    sc = s2.FrameScrubber(sess.video, sess, threaded=False)

    def on_page(n: int) -> tuple[float, float]:
        """One lane's height on the page, and the whole timeline's (CSS px)."""
        h = sc.timeline.layout.height
        assert h.endswith("px"), h  # a height of its own, not the picture's scale
        css = float(h[:-2])
        return (sc.timeline.height - 4) / n * css / sc.timeline.height, css

    sess.add_object()
    sc.rebuild()
    lane, css = on_page(1)
    assert lane >= 16 and css <= 30, (lane, css)
    for n in (3, 6, 12):
        while len(sess.objects) < n:
            sess.add_object()
        sc.rebuild()
        lane, css = on_page(n)
        assert css <= 80 and lane >= 6, (n, lane, css)  # thinner lanes, drawn all the same
    assert sc.timeline.layout.max_width == f"{sc.viewport.display_size[0]}px"  # the picture's
    sc.close()


@pytest.mark.slow
def test_scrubber_newest_request_wins(sess, monkeypatch):
    sc = s2.FrameScrubber(sess.video, sess, threaded=True)
    sc.wait()
    drawn = []
    busy, go = threading.Event(), threading.Event()
    real = sc.render

    def render(i):
        busy.set()
        assert go.wait(10)  # frame 0 is drawn only once every request is in
        drawn.append(i)
        real(i)

    monkeypatch.setattr(sc, "render", render)
    sc.request(0)
    assert busy.wait(10)  # the render thread is on frame 0
    for i in range(1, 6):
        sc.request(i)  # each replaces the one before, not started yet
    go.set()
    assert sc.wait(10)
    assert drawn == [0, 5]  # skipped what was overtaken
    sc.close()


@pytest.mark.parametrize(
    ("drawn_per_s", "skipped"), [(30, False), (28, False), (20, True), (5, True)]
)
def test_play_meter_measures_the_drawn_rate(drawn_per_s, skipped):
    m = PlayMeter(30.0)
    m.start(100.0)
    for i in range(1, 3 * drawn_per_s + 1):
        m.drawn(100.0 + i / drawn_per_s)
    assert m.rate(103.0) == pytest.approx(drawn_per_s, rel=0.1)  # counted in a window
    assert m.text(103.0) == f"▶ {drawn_per_s}/30 fps"
    assert m.summary(103.0).startswith(f"played at {drawn_per_s} of 30 frames/s")
    assert ("skipped to keep time" in m.summary(103.0)) == skipped


@pytest.mark.parametrize(("drawn_per_s", "step"), [(30, 1), (28, 1), (10, 3), (7, 5), (1, 15)])
def test_play_ticks_every_step_th_frame_at_the_rate_drawn(drawn_per_s, step):
    m = PlayMeter(30.0)
    m.start(100.0)
    for i in range(1, 3 * drawn_per_s + 1):
        m.drawn(100.0 + i / drawn_per_s)
    assert m.pace(101.0) == 1  # not before a window has passed
    assert m.pace(103.0) == step


def test_play_tries_a_smaller_step_after_three_windows_that_kept_up():
    """A kernel that draws 12 frames/s: every 3rd frame (10 ticks/s) keeps up, every 2nd (15)
    does not, so Play tries 2 after three good windows and goes back to 3."""
    m = PlayMeter(30.0)
    m.start(0.0)
    t, steps = 0.0, []
    for _ in range(5):
        ticks = min(30.0 / m.step, 12.0)  # what is drawn a second
        for i in range(1, 17):
            m.drawn(t + i / ticks if i / ticks <= 1.6 else t + 1.6)
        t += 1.6
        steps.append(m.pace(t))
    assert steps == [3, 3, 3, 2, 3]


def test_scrubber_plays_at_the_video_rate_and_says_what_it_draws(sess):
    sc = s2.FrameScrubber(sess.video, sess, threaded=False)
    assert sc.play.interval == round(1000 / sess.video.fps)
    idle = sc.info_text
    sc.play.playing = True
    sc.show(3)
    assert "fps" in sc.info_text and sc.meter.count == 1
    assert len(sc.info_text) <= len(idle) + 6  # in place of the time: the row does not jump
    sc.meter.times.clear()
    sc.meter.t0 -= 2  # two seconds later, with one frame drawn in the last window: it ticks
    sc.meter._paced -= 2  # every 15th frame, 15 times slower
    sc.show(4)
    assert sc.play.step == 15 and sc.play.interval == 15 * round(1000 / sess.video.fps)
    sc.play.playing = False
    assert sc.play.step == 1 and sc.play.interval == round(1000 / sess.video.fps)
    assert sc.frame_idx == 5  # it stopped short of the end by less than a step: the end
    assert sc.info_tip.startswith("played at ")  # what the play achieved stays said
    assert 'title="played at ' in sc.info.value
    sc.show(4)
    assert "fps" not in sc.info_text and sc.info_text.startswith("/ ")

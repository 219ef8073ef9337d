"""widgets/scrubber: the frame scrubber and its Play on a real session (test model), headless;
the draw traffic recorded."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers import record_draws

import sam2nb as s2
from sam2nb.widgets.scrubber import PlayMeter


@pytest.fixture
def sent(monkeypatch):
    """Every draw message ipycanvas sends: a list of [json, *buffers] byte strings."""
    return record_draws(monkeypatch)


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

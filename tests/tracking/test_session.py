"""Tracking sessions on the real sam2 code (test model): prompts, propagation, bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import sam2nb as s2

pytestmark = pytest.mark.slow
CLICK = [(450, 200)]


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


@pytest.fixture
def sess(engine, bedroom):
    s = s2.Session(bedroom, engine, memory="bounded")
    s.add_object(name="child")
    yield s
    s.close()


def _fingerprint(sess: s2.Session) -> tuple:
    st = sess.tracker.state
    return (
        len(sess.log),
        len(sess.results),
        tuple(sess.objects),
        tuple(st["obj_ids"]),
        tuple(tuple(sorted(d)) for d in st["point_inputs_per_obj"].values()),
        tuple(
            tuple(sorted(d["cond_frame_outputs"])) for d in st["temp_output_dict_per_obj"].values()
        ),
    )


def test_click_propagate_yields_frames_and_stores_results(sess):
    fr = sess.add_points(0, 1, CLICK, [1])
    rec = fr.records[1]
    assert rec.area > 0 and rec.iou is not None and rec.bbox is not None
    seen = [f.frame_idx for f in sess.propagate(max_frames=5, progress=False)]
    assert seen == list(range(6))
    assert sess.results.frames(1) == list(range(6))
    assert all(sess.results.get(f, 1).iou is not None for f in range(1, 6))
    assert sess.masks(3)[1].shape == (540, 960)
    assert sess.log[-1]["op"] == "propagate" and sess.log[-1]["frames_done"] == 6


def test_backward_and_both_cover_the_range(sess):
    sess.add_points(10, 1, CLICK, [1])
    got = [f.frame_idx for f in sess.propagate(direction="both", max_frames=3, progress=False)]
    assert got == [10, 11, 12, 13, 10, 9, 8, 7]
    assert all(sess.results.get(f, 1).reverse for f in (7, 8, 9))


def test_stop_leaves_results_up_to_the_last_frame(sess):
    sess.add_points(0, 1, CLICK, [1])
    stop = threading.Event()
    frames = []
    for fr in sess.propagate(stop=stop, progress=False):
        frames.append(fr.frame_idx)
        if len(frames) == 4:
            stop.set()
    assert frames == [0, 1, 2, 3]
    assert sess.results.frames() == [0, 1, 2, 3] and not sess.running
    assert sess.run(start=3, max_frames=2, progress=False) == 3  # it goes on from there


def test_second_object_after_propagation_and_correction_restarts_there(sess):
    sess.add_points(0, 1, CLICK, [1])
    sess.run(max_frames=20, progress=False)
    sess.add_object(7, name="bed", color="#ff8000")
    sess.add_box(5, 7, [100, 300, 700, 540])
    before = sess.results.get(18, 1).rle
    sess.add_points(12, 1, [(300, 300)], [0])  # a correction on a tracked frame
    frames = [f.frame_idx for f in sess.propagate(max_frames=3, progress=False)]
    assert frames == [5, 6, 7, 8]  # default start: the earliest frame prompted since
    assert sess.results.get(6, 7) is not None
    assert 12 in sess.prompt_frames(1)
    sess.run(start=12, max_frames=8, progress=False)
    assert sess.results.get(18, 1).rle != before  # the correction changed later frames
    assert sess.objects[7].color == (255, 128, 0)


def test_object_first_prompted_after_the_start_tracks_on_cpu_fp32(sess):
    # sam2 stores memories as bf16; with no object pointer to promote them (object 2's only
    # prompt lies ahead), the official predictor fails on CPU fp32 with a dtype mismatch.
    sess.add_points(0, 1, CLICK, [1])
    sess.add_object(2)
    sess.add_points(4, 2, [(100, 100)], [1])
    frames = [f.frame_idx for f in sess.propagate(start=0, max_frames=6, progress=False)]
    assert frames == list(range(7))
    assert sess.results.frames(2) == list(range(7))


def test_clear_frame_and_remove_object(sess):
    sess.add_points(0, 1, CLICK, [1])
    sess.add_object(2)
    sess.add_points(0, 2, [(100, 100)], [1])
    sess.clear_frame(0, 2)
    with pytest.raises(s2.SessionError, match=r"\[2\] have no prompts"):
        sess.run(progress=False)
    sess.remove_object(2)
    assert list(sess.objects) == [1] and sess.results.frames(2) == []
    assert sess.run(max_frames=1, progress=False) == 2


BAD = [
    ("click outside the frame", lambda s: s.add_points(0, 1, [(961, 10)], [1]), "outside"),
    ("NaN", lambda s: s.add_points(0, 1, [(np.nan, 10)], [1]), "finite"),
    ("infinite", lambda s: s.add_points(0, 1, [(np.inf, 10)], [1]), "finite"),
    ("box x1 < x0", lambda s: s.add_box(0, 1, [50, 10, 40, 80]), "x1 <= x0"),
    ("zero-area box", lambda s: s.add_box(0, 1, [50, 10, 50, 80]), "zero"),
    ("frame out of range", lambda s: s.add_points(200, 1, CLICK, [1]), "0..199"),
    ("negative frame", lambda s: s.add_points(-1, 1, CLICK, [1]), "out of range"),
    ("unknown object", lambda s: s.add_points(0, 9, CLICK, [1]), "add_object\\(9\\)"),
    ("label 2", lambda s: s.add_points(0, 1, CLICK, [2]), "labels must be"),
    ("mask of the wrong size", lambda s: s.add_mask(0, 1, np.ones((5, 5), bool)), "540x960"),
    ("empty mask", lambda s: s.add_mask(0, 1, np.zeros((540, 960), bool)), "empty"),
    ("bad direction", lambda s: s.propagate(direction="sideways"), "direction"),
    ("duplicate object", lambda s: s.add_object(1), "exists"),
]


@pytest.mark.parametrize("what, call, needle", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(sess, what, call, needle):
    sess.add_points(0, 1, CLICK, [1])
    before = _fingerprint(sess)
    with pytest.raises(s2.Sam2nbError, match=needle):
        call(sess)
    assert _fingerprint(sess) == before


def test_propagation_with_no_prompts(sess):
    with pytest.raises(s2.SessionError, match="Nothing to track"):
        sess.propagate()


def test_prompt_while_propagating_is_refused(sess):
    sess.add_points(0, 1, CLICK, [1])
    gen = sess.propagate(max_frames=3, progress=False)
    next(gen)
    before = _fingerprint(sess)
    with pytest.raises(s2.SessionBusy, match="a propagation or another edit is running"):
        sess.add_points(1, 1, CLICK, [1])
    with pytest.raises(s2.SessionBusy):
        next(iter(sess.propagate(progress=False)))
    assert _fingerprint(sess) == before
    assert len(list(gen)) == 3 and not sess.running


def test_out_of_memory_frees_and_keeps_the_session_usable(sess, monkeypatch):
    sess.add_points(0, 1, CLICK, [1])
    before = _fingerprint(sess)
    model = sess.tracker.predictor
    real = model.forward_image

    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "forward_image", oom)
    sess.tracker.state["cached_features"] = {}
    with pytest.raises(s2.OutOfMemory, match="smaller variant"):
        sess.add_points(30, 1, CLICK, [1])
    assert _fingerprint(sess) == before
    with pytest.raises(s2.OutOfMemory, match="long|bounded"):
        sess.run(progress=False)
    monkeypatch.setattr(model, "forward_image", real)
    assert sess.run(max_frames=2, progress=False) == 3


def test_bounded_memory_stays_within_the_window(engine, bedroom):
    sess = s2.Session(bedroom, engine, memory="bounded")
    sess.add_object()
    sess.add_points(0, 1, CLICK, [1])
    counts = [sess.state_frames() for _ in sess.propagate(max_frames=60, progress=False)]
    # conditioning frame 0 and its window, plus the window behind the current frame
    assert max(counts) <= 2 * (sess.window + 1) + 1
    assert counts[-1] == counts[-10]
    full = s2.Session(bedroom, engine, memory="full")
    full.add_object()
    full.add_points(0, 1, CLICK, [1])
    full.run(max_frames=60, progress=False)
    assert full.state_frames() == 61


def test_masks_tracked_before_a_prompt_change_are_marked_stale(engine, bedroom, tmp_path):
    """A click makes the masks tracked through its frame stale until they are tracked again."""
    sess = s2.Session(s2.open_video(bedroom, end=24), engine, folder=tmp_path / "s")
    sess.add_object()
    sess.add_points(4, 1, CLICK, [1])
    sess.run(direction="both", max_frames=10, progress=False)  # 4..14 forward, 4..0 backward
    assert sess.results.stale_frames() == []
    ed = s2.PromptEditor(sess)
    ed.select(1)
    ed.click(8, 300, 220, label=0)  # a correction on frame 8: 9..14 are stale
    assert sess.results.stale_frames(1) == list(range(9, 15))
    ed.undo()  # a fast undo: the masks are the prompts' of now again
    assert sess.results.stale_frames() == []
    ed.redo()
    assert sess.results.stale_frames(1) == list(range(9, 15))
    sess.add_points(2, 1, [(460, 210)], [1])  # 0-1 were tracked backward through frame 2
    assert sess.results.stale_frames(1) == [0, 1, *range(9, 15)]
    sess.close()
    again = s2.load_session(tmp_path / "s", engine=engine)  # the marks are kept on disk
    assert again.results.stale_frames(1) == [0, 1, *range(9, 15)]
    again.run(2, "both", max_frames=12, progress=False)  # re-tracked: fresh
    assert again.results.stale_frames() == []
    again.clear_frame(8)
    assert again.results.stale_frames(1) == list(range(9, 15))
    again.remove_object(1)
    assert again.results.stale_frames() == []
    again.close()

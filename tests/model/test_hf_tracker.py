"""model/hf_tracker and model/hf_models: transformers' trackers through a sam2nb session.

``test@hf`` is the test model's own weights in transformers' ``Sam2VideoModel``: tracked through
the same session, it must give the masks sam2 gives. ``edgetam-test`` and ``sam3-test`` are
small configs with seeded random weights; every workflow runs on each.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import sam2_unfilled

import sam2nb as s2
from sam2nb.model.tracker import BoundedMemory, Snapshots, Tracker

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
HF = ("test@hf", "edgetam-test", "sam3-test")


def _session(name, bedroom, end=12, **kw):
    return s2.Session(s2.open_video(bedroom, end=end), s2.load(name), **kw)


def _script(sess):
    """Clicks, a box on a later frame, both directions, a correction, tracking again."""
    sess.add_object()
    sess.add_points(0, 1, [(450, 200)], [1])
    sess.add_object()
    sess.add_box(3, 2, [100, 100, 300, 300])
    sess.run(direction="both", progress=False)
    sess.add_points(6, 1, [(300, 150)], [0])
    sess.run(progress=False)
    return {f: sess.masks(f) for f in range(len(sess.video))}


def _iou(a, b):
    u = np.logical_or(a, b).sum()
    return 1.0 if u == 0 else np.logical_and(a, b).sum() / u


def test_the_test_model_through_transformers_gives_sam2s_masks(bedroom):
    with sam2_unfilled():  # transformers fills no small holes; sam2 (as Meta's build) does
        want = _script(_session("test", bedroom))
    got = _script(_session("test@hf", bedroom))
    ious = [_iou(want[f][o], got[f][o]) for f in want for o in want[f]]
    assert sorted(got[5]) == sorted(want[5]) == [1, 2]
    assert len(ious) == 24 and np.mean(ious) >= 0.98, (np.mean(ious), min(ious))


@pytest.mark.parametrize("name", HF)
def test_each_transformers_tracker_has_the_capabilities_it_offers(name, bedroom):
    sess = _session(name, bedroom, end=4)
    t = sess.tracker
    assert isinstance(t, Tracker) and isinstance(t, Snapshots) and isinstance(t, BoundedMemory)
    assert sess.untrained and "untrained" in sess.engine.label
    sess.close()


@pytest.mark.parametrize("name", HF)
def test_every_prompt_and_direction_works_with_each(name, bedroom):
    sess = _session(name, bedroom, end=10)
    sess.add_object()
    assert sess.add_points(4, 1, [(450, 200)], [1]).records[1].area > 0
    mask = np.zeros((540, 960), bool)
    mask[100:200, 100:300] = True
    sess.add_object()
    sess.add_mask(4, 2, mask)
    got = [fr.frame_idx for fr in sess.propagate(direction="both", progress=False)]
    assert got == [4, 5, 6, 7, 8, 9, 4, 3, 2, 1, 0]
    sess.add_object()  # an object added mid-video, on a tracked frame
    sess.add_box(7, 3, [500, 100, 700, 300])
    assert sess.run(start=7, progress=False) == 3
    assert set(sess.results.frame(9)) == {1, 2, 3}
    sess.remove_object(2)
    assert sess.tracker.objects() == [1, 3] and set(sess.results.frame(9)) == {1, 3}
    sess.clear_frame(7, 3)
    assert sess.prompt_frames(3) == []
    sess.close()


@pytest.mark.parametrize("name", HF)
def test_stop_undo_redo_and_the_drift_check_with_each(name, bedroom):
    sess = _session(name, bedroom, end=10)
    sess.add_object()
    ed = s2.PromptEditor(sess)
    ed.click(0, 450, 200)
    stop = {"n": 0}

    def halt():
        stop["n"] += 1
        return stop["n"] >= 4

    assert sess.run(stop=halt, progress=False) == 4
    assert sess.unfinished is not None and sess.run(progress=False) == 6  # goes on
    before = sess.results.get(5, 1)
    ed.click(5, 300, 150, label=0)
    after = sess.results.get(5, 1)
    ed.undo()
    assert sess.results.get(5, 1) == before  # put back with no model run
    ed.redo()
    assert sess.results.get(5, 1) == after
    rep = s2.check_drift(sess, progress=False)
    assert rep.frames == 10 and all(0 <= v <= 1 for v in rep.scores.values())
    table = s2.track_table(sess)
    assert len(table) == 10
    sess.close()


@pytest.mark.parametrize("name", HF)
def test_bounded_memory_keeps_the_state_flat_with_each(name, bedroom):
    sess = _session(name, bedroom, end=60, memory="bounded")
    sess.add_object()
    sess.add_points(0, 1, [(450, 200)], [1])
    held = [sess.state_frames() for _ in sess.propagate(progress=False)]
    # what a step reads: the window behind it, and the window after the prompt (as for sam2)
    w = sess.window
    assert held[-1] == max(held) <= 2 * w + 3 < 60, (held[-1], max(held), w)
    sess.close()


def test_a_folder_reopens_where_it_stopped_and_replays(bedroom, tmp_path):
    sess = _session("edgetam-test", bedroom, end=6, folder=tmp_path / "s")
    sess.add_object()
    sess.add_points(0, 1, [(450, 200)], [1])
    sess.run(max_frames=2, progress=False)
    sess.close()
    ref = _session("edgetam-test", bedroom, end=6)
    ref.add_object()
    ref.add_points(0, 1, [(450, 200)], [1])
    ref.run(progress=False)
    want = {f: ref.masks(f)[1] for f in range(6)}
    again = s2.open_session(tmp_path / "s")
    assert again.resumed.startswith("1 object, 1 prompt, 3 frames tracked")
    again.run(progress=False)  # goes on from frame 3 with the model's memory from the folder
    assert all(np.array_equal(again.masks(f)[1], want[f]) for f in range(6))
    again.close()
    other = s2.replay(tmp_path / "s", engine=s2.load("edgetam-test"), progress=False)
    assert all(np.array_equal(other.masks(f)[1], want[f]) for f in range(6))

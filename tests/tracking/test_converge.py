"""Re-tracking only what changed: a propagation that stops once it agrees with what it replaces."""

from __future__ import annotations

import pytest
from helpers import rles, tracked

import sam2nb as s2
from sam2nb.tracking.converge import Converge, record_ious

END = 40  # frames of the bedroom clip


@pytest.mark.parametrize(
    "ious, frames, stops",
    [
        ([[1.0], [1.0]], 2, [False, True]),
        ([[1.0], [0.2], [1.0]], 2, [False, False, False]),  # a disagreement starts over
        ([[0.95, 0.91], [0.9, 1.0]], 2, [False, True]),  # every object must agree
        ([[0.95, 0.5], [1.0, 1.0]], 2, [False, False]),
        ([[None], [1.0]], 1, [False, True]),  # nothing stored before: not the same
    ],
)
def test_watch_counts_frames_where_every_object_agrees(ious, frames, stops):
    w = Converge(0.9, frames).watch()
    assert [w.agree(v) for v in ious] == stops


@pytest.mark.parametrize("bad", [0.0, 1.5, -1, "x", None])
def test_converge_rejects_a_bad_threshold(bad):
    with pytest.raises(s2.SessionError, match="converge iou must be a number in"):
        Converge(iou=bad)


def test_converge_of_reads_what_the_user_gives():
    assert Converge.of(True) == Converge()
    assert Converge.of(False) is None
    assert Converge.of((0.8, 3)) == Converge(0.8, 3)
    with pytest.raises(s2.SessionError, match="frames"):
        Converge.of([0.8, 0])


def test_record_ious_on_rles():
    import numpy as np

    from sam2nb.storage.store import ResultStore

    st = ResultStore(8, 8)
    a = np.zeros((2, 8, 8), bool)
    a[0, :4] = True  # 32 px
    b = np.zeros((2, 8, 8), bool)
    b[0, :2] = True  # 16 px, inside a
    old = {r.obj_id: r for r in st.put(0, [1, 2], a, scores=[1, 1])}
    new = {r.obj_id: r for r in st.put(1, [1, 2], b, scores=[1, 1])}
    assert record_ious(new, old) == [0.5, 1.0]  # both empty: the same
    assert record_ious(new, {}) == [None, None]


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


@pytest.mark.slow
def test_a_correction_retracks_until_the_masks_agree_and_keeps_the_rest(engine, bedroom):
    bounded, full = tracked(engine, bedroom), tracked(engine, bedroom)
    before = rles(bounded, range(END))
    for s in (bounded, full):
        s.add_points(12, 1, [(300, 220)], [0])
    got = [fr.frame_idx for fr in bounded.propagate(12, converge=(0.9, 3), progress=False)]
    (st,) = bounded.settled
    assert got == list(range(12, st.frame_idx + 1))
    assert st.skipped == END - 1 - st.frame_idx > 0 and st.worst_iou >= 0.9
    assert bounded.unfinished is None  # nothing left to go on with
    full.run(12, progress=False)
    # the frames it re-tracked are the full re-track's, bit for bit; the rest are kept
    assert rles(bounded, got) == rles(full, got)
    kept = range(st.frame_idx + 1, END)
    assert rles(bounded, kept) == {k: v for k, v in before.items() if k[0] in kept}
    bounded.close()
    full.close()


@pytest.mark.slow
def test_a_new_object_never_agrees_so_the_pass_runs_to_the_end(engine, bedroom):
    sess = tracked(engine, bedroom)
    sess.add_object()
    sess.add_points(20, 3, [(100, 100)], [1])
    n = sum(1 for _ in sess.propagate(20, converge=True, progress=False))
    assert n == END - 20 and sess.settled == []
    sess.close()


@pytest.mark.slow
def test_a_converged_run_is_kept_and_replays_the_same(engine, bedroom, tmp_path):
    sess = tracked(engine, bedroom, folder=tmp_path / "s")
    sess.add_points(12, 1, [(300, 220)], [0])
    sess.run(12, direction="both", converge=(0.9, 3), progress=False)
    assert [s.reverse for s in sess.settled] == [False, True]
    want = rles(sess, range(END))
    sess.close()
    again = s2.load_session(tmp_path / "s", engine=engine)
    assert again.unfinished is None
    assert rles(again, range(END)) == want
    # the log replays each pass as far as it went
    replay = s2.Session(s2.open_video(bedroom, end=END), engine, memory="full")
    again.log.replay(replay)
    assert rles(replay, range(END)) == want
    again.close()
    replay.close()


@pytest.mark.slow
def test_after_a_stopped_run_and_an_edit_converging_still_tracks_the_rest(engine, bedroom):
    """A converged pass keeps only frames that hold results; frames never tracked are tracked."""
    sess = s2.Session(s2.open_video(bedroom, end=END), engine, memory="full")
    sess.add_object()
    sess.add_points(0, 1, [(450, 200)], [1])
    assert sess.run(max_frames=15, progress=False) == 16  # frames 0-15, then stopped
    before = rles(sess, range(16))
    sess.add_points(0, 1, [(460, 210)], [1])
    got = [fr.frame_idx for fr in sess.propagate(converge=(0.5, 2), progress=False)]
    assert sess.results.frames(1) == list(range(END))  # every frame has a mask now
    kept = [f for f in range(END) if f not in got]
    assert kept and max(kept) <= 15  # only frames that held results were kept
    assert got[-1] == END - 1 and set(range(16, END)) <= set(got)
    assert sum(st.skipped for st in sess.settled) == len(kept)
    assert rles(sess, kept) == {k: v for k, v in before.items() if k[0] in kept}
    assert sess.unfinished is None
    # the log replays it: each stretch of the pass is an entry of its own
    replay = s2.Session(s2.open_video(bedroom, end=END), engine, memory="full")
    sess.log.replay(replay)
    assert rles(replay, range(END)) == rles(sess, range(END))
    replay.close()
    sess.close()

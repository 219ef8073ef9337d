"""The drift check: track back from a later frame with a state of its own, score 1 - IoU."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import rles, tracked

import sam2nb as s2
from sam2nb.tracking.drift import DRIFT_SQL

END = 16  # frames of the bedroom clip


def test_quality_flags_drift_scores_kept_in_the_store():
    store = s2.ResultStore(20, 10)
    m = np.zeros((1, 10, 20), bool)
    m[0, 2:8, 4:12] = True  # 48 px
    for f in range(6):
        store.put(f, [1], m, scores=[5.0], ious=[0.9])
    store.sql_script(DRIFT_SQL)
    rows = [(f, 1, s, 5, 48) for f, s in enumerate([0.1, 0.2, 0.7, 0.8, 0.3, 0.0])]
    store.sql_many("INSERT INTO drift VALUES (?, ?, ?, ?, ?)", rows)
    q = s2.quality_table(store)
    assert q.drift.tolist() == pytest.approx([0.1, 0.2, 0.7, 0.8, 0.3, 0.0])
    assert q.flag_drift.tolist() == [False, False, True, True, False, False]
    assert "drift 0.70 (1 - IoU)" in q.why[2]
    (seg,) = s2.worst_segments(q).itertuples()
    assert (seg.start, seg.end, seg.severity) == (2, 3, 4.0) and seg.drift == pytest.approx(0.75)
    # a score whose mask changed since (a correction re-tracked it) is dropped
    m2 = m.copy()
    m2[0, 0, 0] = True
    store.put(3, [1], m2, scores=[5.0])
    assert (3, 1) not in s2.drift_scores(store) and (2, 1) in s2.drift_scores(store)
    assert not s2.quality_table(store).flag_drift[3]


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


@pytest.mark.slow
def test_drift_check_scores_each_frame_and_leaves_the_session_as_it_was(engine, bedroom, tmp_path):
    sess, twin = tracked(engine, bedroom, tmp_path / "s", END), tracked(engine, bedroom, end=END)
    before = rles(sess, range(END))
    seen = []
    rep = s2.check_drift(sess, progress=False, on_frame=lambda f, sc: seen.append(f))
    assert (rep.start, rep.end, rep.frames) == (0, END - 1, END) and not rep.stopped
    assert seen == list(range(END - 1, -1, -1)) and rep.untrained
    assert set(rep.scores) == {(f, o) for f in range(END) for o in (1, 2) if
                               sess.results.get(END - 1, o).visible}  # fmt: skip
    assert all(0.0 <= v <= 1.0 for v in rep.scores.values())
    # the seeds themselves: sam2 takes a mask prompt at a quarter of its input size (64 px for
    # the test model), so even the seed frame comes back a little changed
    assert max(rep.scores[(END - 1, o)] for o in rep.obj_ids) < 0.3
    assert rles(sess, range(END)) == before
    assert s2.drift_scores(sess.results) == pytest.approx(rep.scores)
    q = s2.quality_table(sess)
    got = {(r.frame_idx, r.obj_id): r.drift for r in q.itertuples()}
    assert {k: got[k] for k in rep.scores} == pytest.approx(rep.scores)
    table = s2.track_table(sess, progress=False)
    assert {(r.frame_idx, r.obj_id): r.drift for r in table.itertuples()} == pytest.approx(got)
    # sam2's memory is untouched: a correction after the check gives what it gives without one
    for s in (sess, twin):
        s.add_points(8, 1, [(300, 220)], [0])
        s.run(8, progress=False)
    assert rles(sess, range(END)) == rles(twin, range(END))
    sess.close()
    # kept with the session: a resume shows the scores of the frames whose masks did not change
    again = s2.load_session(tmp_path / "s", engine=engine)
    kept = s2.drift_scores(again)
    assert all(rep.scores[k] == pytest.approx(v) for k, v in kept.items())
    assert {k for k in kept if k[0] < 8} == {k for k in rep.scores if k[0] < 8}  # not re-tracked
    again.close()
    twin.close()


@pytest.mark.slow
def test_a_stopped_drift_check_keeps_what_it_scored(engine, bedroom):
    sess = tracked(engine, bedroom, end=END)
    n = []
    rep = s2.check_drift(sess, 4, 12, obj_ids=[2], progress=False,
                         stop=lambda: len(n) >= 3, on_frame=lambda f, sc: n.append(f))  # fmt: skip
    assert rep.stopped and rep.frames == 3 and n == [12, 11, 10]
    assert set(s2.drift_scores(sess)) == {(12, 2), (11, 2), (10, 2)}
    assert not sess.running  # the session is free again
    sess.close()


@pytest.mark.slow
def test_drift_check_says_what_is_wrong(engine, bedroom):
    sess = s2.Session(s2.open_video(bedroom, end=END), engine)
    sess.add_object()
    with pytest.raises(s2.SessionError, match="propagate first"):
        s2.check_drift(sess, progress=False)
    sess.add_points(0, 1, [(450, 200)], [1])
    sess.run(progress=False)
    with pytest.raises(s2.SessionError, match="end > start"):
        s2.check_drift(sess, 5, 5, progress=False)
    with pytest.raises(s2.SessionError, match="No object is visible on frame 9"):
        s2.check_drift(sess, 0, 9, obj_ids=[7], progress=False)
    sess.close()

"""model/tracker and model/sam2_tracker: the seam a session tracks through, on the real model.

A session asks its tracker only for what :class:`~sam2nb.model.tracker.Tracker` lists; what
only some trackers can do is a capability of its own. These tests run the sam2 tracker as it
is, and the same tracker with every optional capability hidden (:class:`CoreOnly`), so the
session's way without them (replayed undo, nothing released, no tracker state in the journal)
is the real model's too.
"""

from __future__ import annotations

import pytest

import sam2nb as s2
from sam2nb.model.tracker import BoundedMemory, Resumable, Snapshots, Tracker

pytestmark = pytest.mark.slow
CORE = {n for n in vars(Tracker) if not n.startswith("_")} | set(Tracker.__annotations__)


class CoreOnly:
    """A real tracker seen through the core protocol only (its capabilities hidden)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        if name in CORE:
            return getattr(self.inner, name)
        raise AttributeError(name)

    def scratch(self):
        return CoreOnly(self.inner.scratch())


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


def core_tracker(engine, monkeypatch):
    """Make ``engine`` hand out core-only trackers (for this test)."""
    real = type(engine).tracker
    monkeypatch.setattr(
        type(engine), "tracker", lambda self, *a, **k: CoreOnly(real(self, *a, **k))
    )
    return engine


@pytest.fixture
def core_engine(engine, monkeypatch):
    return core_tracker(engine, monkeypatch)


def _work(sess):
    """Click, track, correct, undo the correction with the editor: the masks on every frame."""
    sess.add_object(name="child")
    ed = s2.PromptEditor(sess)
    ed.click(0, 450, 200)
    sess.run(progress=False)
    ed.click(4, 300, 150, label=0)
    ed.undo()
    sess.run(progress=False)
    return {f: {o: r.rle["counts"] for o, r in sess.results.frame(f).items()} for f in range(8)}


def test_the_sam2_tracker_has_every_capability(engine, bedroom):
    sess = s2.Session(s2.open_video(bedroom, end=4), engine)
    t = sess.tracker
    assert isinstance(t, Tracker)
    assert isinstance(t, Snapshots) and isinstance(t, BoundedMemory) and isinstance(t, Resumable)
    assert t.window == sess.window and t.objects() == []
    sess.close()


def test_without_capabilities_the_session_does_the_same_work_the_slow_way(
    engine, bedroom, monkeypatch
):
    video = s2.open_video(bedroom, end=8)
    full = s2.Session(video, engine, memory="bounded")
    want = _work(full)
    full.close()
    core_tracker(engine, monkeypatch)
    core = s2.Session(video, engine, memory="bounded")
    assert not isinstance(core.tracker, Snapshots) and not isinstance(core.tracker, BoundedMemory)
    assert _work(core) == want  # the same masks, frame by frame
    assert core.undo_point() is None  # no snapshots: the editor replayed
    assert core.state_frames() == 8  # nothing released without the capability
    core.close()


def test_a_drift_check_runs_on_a_scratch_tracker_and_leaves_the_session_alone(core_engine, bedroom):
    sess = s2.Session(s2.open_video(bedroom, end=8), core_engine)
    sess.add_object()
    sess.add_points(0, 1, [(450, 200)], [1])
    sess.run(progress=False)
    before = (len(sess.log), sess.state_frames(), sess.tracker.objects())
    rep = s2.check_drift(sess, progress=False)
    assert rep.frames == 8 and set(rep.scores) == {(f, 1) for f in range(8)}
    assert all(0.0 <= v <= 1.0 for v in rep.scores.values())
    assert (len(sess.log), sess.state_frames(), sess.tracker.objects()) == before
    sess.close()


def test_a_folder_keeps_marks_but_no_tracker_state_without_resume(core_engine, bedroom, tmp_path):
    sess = s2.Session(s2.open_video(bedroom, end=6), core_engine, folder=tmp_path / "s")
    sess.add_object()
    sess.add_points(0, 1, [(450, 200)], [1])
    sess.run(progress=False)
    j = sess.journal
    assert j.tracked() == {1: {f: False for f in range(6)}}
    assert list(j.states("prompt")) == [] and list(j.states("memory")) == []
    assert [e.op for e in s2.PromptLog.from_journal(j)] == ["add_object", "points", "propagate"]
    sess.close()

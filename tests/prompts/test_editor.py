"""prompts/editor: clicks, boxes, undo and redo on a real session (test model), headless."""

from __future__ import annotations

import numpy as np
import pytest

import sam2nb as s2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (6, 96, 128, 3), dtype=np.uint8)
    frames[:, 30:70, 40:90] = (40, 200, 90)  # a green block on noise
    return s2.open_video(frames)


@pytest.fixture
def sess(engine, clip):
    s = s2.Session(clip, engine)
    yield s
    s.close()


def _rle(sess, f, o=1):
    r = sess.results.get(f, o)
    return None if r is None else r.rle


def _state(ed, f):
    """What the editor shows for a frame: each object's clicks, labels and box."""
    return {o: (p.points, p.labels, p.box) for o, p in ed.prompts(f).items()}


def test_the_first_click_makes_an_object(sess):
    ed = s2.PromptEditor(sess)
    assert ed.obj_id is None and not ed.can_undo and ed.undo_frame is None
    res = ed.click(0, 60, 50)
    assert list(sess.objects) == [1] and ed.obj_id == 1
    assert _state(ed, 0) == {1: ([(60.0, 50.0)], [1], None)}
    assert res.frame_idx == 0 and res.records[1].rle == _rle(sess, 0)
    assert ed.can_undo and ed.undo_frame == 0 and not ed.can_redo


@pytest.mark.parametrize("mode, label, want", [(1, None, 1), (0, None, 0), (0, 1, 1), (1, 0, 0)])
def test_click_labels(sess, mode, label, want):
    ed = s2.PromptEditor(sess)
    ed.label = mode
    ed.click(0, 60, 50, label=label)
    assert ed.prompts(0)[1].labels == [want]


def test_undo_and_redo_walk_the_edits_exactly(sess):
    ed = s2.PromptEditor(sess)
    steps = []  # (what the frame shows, its mask) after each edit
    ed.click(0, 60, 50)
    steps.append((_state(ed, 0), _rle(sess, 0)))
    ed.click(0, 10, 10, label=0)
    steps.append((_state(ed, 0), _rle(sess, 0)))
    ed.box(0, [30, 20, 100, 80])  # the box keeps the frame's clicks
    steps.append((_state(ed, 0), _rle(sess, 0)))
    assert steps[-1][0] == {1: ([(60.0, 50.0), (10.0, 10.0)], [1, 0], [30, 20, 100, 80])}

    for want in (steps[1], steps[0]):
        assert ed.undo_frame == 0
        res = ed.undo()
        assert (_state(ed, 0), _rle(sess, 0)) == want
        assert res.records[1].rle == want[1]
    assert ed.can_redo and ed.redo_frame == 0
    for want in (steps[1], steps[2]):
        res = ed.redo()
        assert (_state(ed, 0), _rle(sess, 0)) == want
        assert res.records[1].rle == want[1]
    assert not ed.can_redo and ed.redo() is None


def test_undoing_a_frames_only_prompt_leaves_it_unprompted(sess):
    ed = s2.PromptEditor(sess)
    ed.click(0, 60, 50)
    ed.click(2, 70, 40)
    mask = _rle(sess, 2)
    ed.undo()
    assert ed.prompts(2) == {} and sess.prompt_frames(1) == [0]
    assert _rle(sess, 2) is None  # never tracked: no mask left
    assert _state(ed, 0) == {1: ([(60.0, 50.0)], [1], None)}  # the other frame is untouched
    ed.redo()
    assert sess.prompt_frames(1) == [0, 2] and _rle(sess, 2) == mask


def test_a_new_edit_drops_what_could_be_redone(sess):
    ed = s2.PromptEditor(sess)
    ed.click(0, 60, 50)
    ed.click(0, 70, 40)
    ed.undo()
    assert ed.can_redo
    ed.click(1, 50, 50)
    assert not ed.can_redo and ed.redo() is None and ed.redo_frame is None
    assert ed.undo_frame == 1


def test_nothing_to_undo_or_redo(sess):
    ed = s2.PromptEditor(sess)
    assert ed.undo() is None and ed.redo() is None
    assert (ed.undo_frame, ed.redo_frame) == (None, None)


def test_a_click_after_a_box_keeps_the_box(sess):
    ed = s2.PromptEditor(sess)
    ed.box(0, [30, 20, 100, 80])
    ed.click(0, 60, 50, label=0)
    assert _state(ed, 0) == {1: ([(60.0, 50.0)], [0], [30, 20, 100, 80])}
    ed.undo()
    assert _state(ed, 0) == {1: ([], [], [30, 20, 100, 80])}


def test_clear_is_undone_and_clearing_nothing_is_not_an_edit(sess):
    ed = s2.PromptEditor(sess)
    ed.click(0, 60, 50)
    ed.click(3, 60, 50, label=1)
    ed.click(3, 20, 20, label=0)
    before = (_state(ed, 3), _rle(sess, 3))
    ed.clear(3)
    assert ed.prompts(3) == {} and 3 not in sess.prompt_frames(1)
    ed.undo()
    assert (_state(ed, 3), _rle(sess, 3)) == before  # both clicks, the same mask
    ed.clear(4)  # nothing there: not an edit, and what can be redone stays
    assert ed.undo_frame == 3 and ed.redo_frame == 3
    ed.redo()
    assert ed.prompts(3) == {}


def test_undoing_a_correction_puts_the_tracked_mask_back(sess):
    sess.add_object()
    sess.add_points(0, 1, [(60, 50)], [1])
    sess.run(progress=False)
    tracked = sess.results.get(3, 1)
    ed = s2.PromptEditor(sess)
    assert ed.obj_id == 1  # the session's first object
    ed.click(3, 10, 90, label=1)  # a correction on a tracked frame
    assert sess.prompt_frames(1) == [0, 3]
    corrected = _rle(sess, 3)
    ed.undo()
    back = sess.results.get(3, 1)
    assert sess.prompt_frames(1) == [0]
    assert back.rle == tracked.rle and back.score == pytest.approx(tracked.score)
    ed.redo()
    assert _rle(sess, 3) == corrected


def test_objects_new_and_selected(sess):
    sess.add_object(name="a")
    ed = s2.PromptEditor(sess)
    assert ed.obj_id == 1
    o2 = ed.new_object(name="b", color="#ff0000")
    assert o2 == 2 and ed.obj_id == 2 and sess.objects[2].color == (255, 0, 0)
    ed.click(0, 60, 50)
    ed.select(1)
    ed.click(0, 100, 80)
    assert set(ed.prompts(0)) == {1, 2}
    assert ed.prompts(0)[1].points == [(100.0, 80.0)]
    with pytest.raises(s2.SessionError, match="no object 9"):
        ed.select(9)
    assert ed.obj_id == 1
    assert s2.PromptEditor(sess, obj_id=2).obj_id == 2


def test_clear_needs_an_object(sess):
    with pytest.raises(s2.SessionError, match="no object yet"):
        s2.PromptEditor(sess).clear(0)


def test_edits_of_a_removed_object_cannot_be_undone(sess):
    ed = s2.PromptEditor(sess)
    ed.click(0, 60, 50)
    sess.remove_object(1)
    with pytest.raises(s2.SessionError, match="removed|no longer"):
        ed.undo()


def test_the_undo_history_comes_back_with_a_resumed_session(engine, clip, tmp_path):
    """A session kept in a folder keeps its undo and redo stacks: after a restart, undo goes
    on exactly as it would have (the tracked mask a correction replaced comes back too)."""
    s = s2.Session(clip, engine, folder=tmp_path / "run")
    ed = s2.PromptEditor(s)
    ed.click(0, 60, 50)
    s.run(progress=False)
    tracked2 = _rle(s, 2)
    ed.click(2, 70, 40)  # a correction on a tracked frame
    ed.click(2, 20, 20, label=0)
    ed.undo()  # the negative click goes: it can be redone
    want_undo, want_redo = ed.can_undo, ed.can_redo
    s.close()
    again = s2.load_session(tmp_path / "run", engine=engine, video=clip)
    ed2 = s2.PromptEditor(again)
    assert (ed2.can_undo, ed2.can_redo) == (want_undo, want_redo) == (True, True)
    assert ed2.undo_frame == 2 and ed2.redo_frame == 2
    ed2.redo()
    assert _state(ed2, 2)[1][1] == [1, 0]
    ed2.undo()
    ed2.undo()  # the correction goes: frame 2 shows its tracked mask again
    assert 1 not in _state(ed2, 2) and _rle(again, 2) == tracked2
    again.close()
    third = s2.load_session(tmp_path / "run", engine=engine, video=clip)
    ed3 = s2.PromptEditor(third)  # and the stacks as they are now, after those steps
    assert ed3.undo_frame == 0 and ed3.redo_frame == 2
    third.close()


def _edits(ed, fast: bool):
    """Clicks, a box, a correction on a tracked frame, with undos and redos between them."""
    s = ed.session
    if not fast:  # the replay path only: no undo point is ever taken
        s.undo_point = lambda: None
    out = []
    ed.click(0, 60, 50, label=1)
    ed.click(0, 20, 20, label=0)
    ed.click(0, 70, 40, label=1)
    out.append(ed.undo())  # the third click goes
    out.append(ed.undo())  # the second too
    out.append(ed.redo())  # and both come back (fast: a chain of redo points)
    out.append(ed.redo())
    out.append(ed.undo())  # the third goes again (fast: the redo left an undo point)
    out.append(ed.redo())
    ed.box(0, [30, 20, 100, 80])  # a box keeps the clicks
    out.append(ed.undo())
    s.run(progress=False)
    ed.click(3, 10, 90, label=1)  # a correction on a tracked frame
    out.append(ed.undo())  # the tracked mask is back
    out.append(ed.redo())
    ed.click(3, 90, 60, label=0)
    out.append(ed.undo())
    ed.click(1, 50, 50, label=1)  # edits on several frames and objects, then undone in a row
    ed.new_object()  # (its log entry breaks the chain of fast undos: the rest replays)
    ed.click(1, 20, 30, label=1)
    ed.click(2, 40, 40, label=1)
    ed.click(1, 100, 70, label=0)
    out += [ed.undo() for _ in range(4)]
    s.remove_object(2)  # left with no prompts
    return out


def test_a_fast_undo_leaves_the_session_exactly_as_the_replay_does(engine, clip):
    """Right after an edit, undo puts back what the frame had (no model run); the log, the
    masks, sam2's state and everything tracked afterwards equal the replaying undo's."""
    runs = {}
    for fast in (True, False):
        s = s2.Session(clip, engine)
        ed = s2.PromptEditor(s)
        calls = []
        add = s.tracker.predictor.add_new_points_or_box
        s.tracker.predictor.add_new_points_or_box = lambda *a, c=calls, f=add, **k: (
            c.append(1) or f(*a, **k)
        )
        shown = _edits(ed, fast)
        del s.tracker.predictor.add_new_points_or_box
        s.run(direction="both", progress=False)  # what sam2's state leads to
        runs[fast] = (
            [{k: v for k, v in e.items() if k != "t"} for e in s.log.to_json()],  # not the time
            [None if r is None else {o: x.rle for o, x in r.records.items()} for r in shown],
            {f: _rle(s, f) for f in range(len(clip))},
            len(calls),
        )
        s.close()
    fast, slow = runs[True], runs[False]
    assert fast[0] == slow[0]  # the same log
    assert fast[1] == slow[1]  # each undo and redo showed the same masks
    assert fast[2] == slow[2]  # and tracking afterwards gives the same masks
    assert fast[3] < slow[3]  # with fewer model runs: the undos ran none
    print(f"\nmodel runs for 11 edits, 10 undos, 5 redos: fast {fast[3]}, replaying {slow[3]}")


def _counted(s):
    calls = []
    p = s.tracker.predictor
    add = p.add_new_points_or_box
    p.add_new_points_or_box = lambda *a, c=calls, f=add, **k: c.append(1) or f(*a, **k)
    return calls


def test_a_redo_right_after_an_undo_runs_no_model_and_a_later_one_sends_the_prompt(sess):
    """Undo, undo, redo, redo put the masks back with no model run; an object added in
    between changes nothing sam2 reads for the frame (the redo stays exact, still no model
    run); once the frame was tracked since, the redo sends the prompt again."""
    ed = s2.PromptEditor(sess)
    ed.click(0, 60, 50, label=1)
    masks = [_rle(sess, 0)]
    ed.click(0, 20, 20, label=0)
    masks.append(_rle(sess, 0))
    ed.click(0, 70, 40, label=1)
    masks.append(_rle(sess, 0))
    calls = _counted(sess)
    ed.undo(), ed.undo()
    assert _rle(sess, 0) == masks[0]
    assert ed.redo().records[1].rle == masks[1] and _rle(sess, 0) == masks[1]
    assert ed.redo().records[1].rle == masks[2]
    assert ed.prompts(0)[1].labels == [1, 0, 1]
    assert calls == []  # none of the four ran the model
    ed.undo()
    ed.new_object()  # logged, but not on frame 0 nor for object 1: the redo point holds
    ed.select(1)
    assert sess.redo_point() is not None
    assert ed.redo().records[1].rle == masks[2] and calls == [] and ed.note == ""
    ed.undo()
    sess.run(progress=False)  # frame 0 is a tracked frame now: sam2 reads other inputs
    assert sess.redo_point() is None
    ed.redo()
    assert len(calls) == 1 and ed.prompts(0)[1].labels == [1, 0, 1]
    assert (_rle(sess, 0) == masks[2]) == (ed.note == "")  # a different mask is said


def _runs(s, monkeypatch):
    """Count the session's prompt runs and image encoder runs (the engine is shared)."""
    calls, enc = [], []
    p = s.tracker.predictor
    for name, sink in (("add_new_points_or_box", calls), ("forward_image", enc)):
        f = getattr(p, name)
        monkeypatch.setattr(p, name, lambda *a, c=sink, f=f, **k: c.append(1) or f(*a, **k))
    return calls, enc


def test_a_redo_stays_exact_across_edits_that_do_not_touch_its_frame(engine, bedroom, monkeypatch):
    """Issue 31: a redo after other work sent the prompt again. Now it puts back what the
    edit left, with no model run, whatever was logged in between that sam2 does not read for
    that frame and object: objects added and renamed, a click for another object, tracking
    that starts after the frame. Here the edit is a correction of a tracked frame (it reads
    the memory of the frames before it)."""
    s = s2.Session(s2.open_video(bedroom, end=30), engine)
    ed = s2.PromptEditor(s)
    ed.click(0, 450, 200)
    s.run(max_frames=8, progress=False)
    ed.click(5, 300, 120, label=0)  # a correction on tracked frame 5
    want = _rle(s, 5)
    ed.undo()
    calls, _ = _runs(s, monkeypatch)
    o = ed.new_object(name="another")
    s.rename_object(o, name="lamp")
    s.add_points(20, o, [(600, 300)], [1])  # another object, another frame
    s.run(start=20, max_frames=3, progress=False)  # tracking after frame 5 reads nothing of it
    ed.select(1)
    n = len(calls)
    res = ed.redo()
    assert res.records[1].rle == want and _rle(s, 5) == want
    assert len(calls) == n and ed.note == ""  # put back, no model run
    assert s.log[-1].op == "points" and s.log.get(5, 1).labels == [0]
    ed.undo()  # and it can be undone fast again, and redone
    assert ed.redo().records[1].rle == want and len(calls) == n
    s.close()


def test_undo_and_redo_after_tracking_say_when_sam2_gives_another_mask(engine, bedroom):
    """What cannot be exact is said: once tracking ran over the frame, sam2 answers a prompt
    sent again from what the frame holds now (a tracked frame; a cleared frame's output kept as
    memory), not from what it held at the edit. The editor keeps sam2's answer and its note
    says so, with both sizes (the app shows it in its status line)."""
    s = s2.Session(s2.open_video(bedroom, end=30), engine)
    ed = s2.PromptEditor(s)
    ed.click(0, 450, 200)
    first = s.results.get(0, 1)
    ed.click(0, 300, 100, label=0)
    second = s.results.get(0, 1)
    s.run(max_frames=5, progress=False)
    ed.undo()  # replays the first click on the cleared frame: it refines the tracked output
    got = s.results.get(0, 1)
    assert got.rle != first.rle  # (sam2's history: the test model shows it)
    assert ed.note.startswith("Undo on frame 0 gave another mask")
    assert f"({got.area:,} px, was {first.area:,} px)" in ed.note
    ed.redo()
    got = s.results.get(0, 1)
    assert got.rle != second.rle
    assert ed.note.startswith("Redo on frame 0 gave") and f"({got.area:,} px, was " in ed.note
    s.run(max_frames=5, progress=False)
    tracked = s.results.get(5, 1)
    ed.click(5, 300, 120)  # a correction of a tracked frame, then tracking from it
    corrected = s.results.get(5, 1)
    s.run(start=5, max_frames=3, progress=False)
    ed.undo()  # the tracked mask is put back as it was
    assert s.results.get(5, 1) == tracked and ed.note == ""
    ed.redo()  # sam2 forgot that frame 5 was tracked: the click is a first prompt now
    assert s.results.get(5, 1).rle != corrected.rle
    assert ed.note.startswith("Redo on frame 5 gave another mask")
    s.close()


def test_after_a_stopped_run_the_frame_it_stopped_on_needs_no_image_encoder(
    engine, bedroom, monkeypatch
):
    """Issue 31: the first click after stopping a propagation took 2.1 s. That click ran the
    image encoder (sam2 keeps one frame's features, the last one tracked). A click on the frame
    the run stopped on runs none; a click elsewhere does, and the editor's note says so."""
    s = s2.Session(s2.open_video(bedroom, end=30), engine)
    ed = s2.PromptEditor(s)
    ed.click(0, 450, 200)
    assert ed.note == ""  # frame 0's features: computed when the session opened
    for fr in s.propagate(progress=False):
        if fr.frame_idx == 6:
            s.stop()
    assert s.unfinished["last"] == 6
    assert s.features_ready(6) and not s.features_ready(0)
    _, enc = _runs(s, monkeypatch)
    ed.click(6, 300, 120, label=0)
    assert enc == [] and ed.note == ""
    ed.click(0, 300, 120, label=0)
    assert enc == [1] and ed.note.startswith("Frame 0 went through the image encoder")
    s.close()


def test_a_fast_undo_after_a_click_that_re_tracked_equals_the_replay(engine, bedroom):
    """A click that first re-tracks released memory merges sam2's pending outputs: undoing it
    is fast, but the edit before it is replayed (its saved state is stale), with the same log,
    masks and tracking as replaying both."""
    runs = {}
    for fast in (True, False):
        s = s2.Session(s2.open_video(bedroom, end=40), engine, memory="bounded")
        if not fast:
            s.undo_point = lambda: None
        ed = s2.PromptEditor(s)
        ed.click(0, 450, 200, label=1)
        s.run(progress=False)
        ed.click(36, 300, 120, label=0)  # its window is there: no re-tracking
        assert s.frames_to_rebuild(30, 1) > 0
        ed.click(30, 420, 210, label=1)  # re-tracks 0..30 first
        shown = [ed.undo(), ed.undo()]
        s.run(start=0, progress=False)
        runs[fast] = (
            [{k: v for k, v in e.items() if k != "t"} for e in s.log.to_json()],
            [{o: x.rle for o, x in r.records.items()} for r in shown],
            {f: _rle(s, f) for f in range(40)},
        )
        s.close()
    assert runs[True] == runs[False]


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

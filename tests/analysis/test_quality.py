"""Quality flags and the worst segments, on result stores built with known problems.

The test model's random weights make its own signals noise, so the mechanics are shown on
constructed stores: a square that jumps in size, one that vanishes and comes back, two that
swap identities, one the model doubts; then a real (untrained) session and the command line.
"""

from __future__ import annotations

import numpy as np
import pytest

import sam2nb as s2
from sam2nb.cli.commands import main
from sam2nb.storage.store import ResultStore

H = W = 96


def _square(x: int, y: int, size: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + size, x : x + size] = True
    return m


@pytest.fixture
def store():
    return _problems(ResultStore(W, H))


def _problems(st):
    """30 frames, 3 objects: 1 grows x4 at frame 10, vanishes for 20..22 and is doubted at 5;
    2 and 3 (two look-alikes) swap places at frame 15."""
    for f in range(30):
        grown = 0 if f < 10 else 5  # x4 in area at frame 10, around the same centre
        one = _square(10 + f // 3 - grown, 10 - grown, 10 + 2 * grown)
        score1 = 4.0
        if 20 <= f <= 22:
            one, score1 = np.zeros((H, W), bool), -3.0
        a, b = _square(20, 60, 12), _square(60, 60, 12)
        two, three = (a, b) if f < 15 else (b, a)
        iou1 = 0.2 if f == 5 else 0.9
        st.put(f, [1, 2, 3], np.stack([one, two, three]), scores=[score1, 5.0, 5.0],
               ious=[iou1, 0.9, 0.9])  # fmt: skip
    return st


def _flags(q, obj_id: int) -> dict[int, str]:
    g = q[(q.obj_id == obj_id) & (q.severity > 0)]
    return dict(zip(g.frame_idx, g.flagged, strict=True))


def test_each_known_problem_raises_its_flag_on_its_frame_and_nowhere_else(store):
    q = s2.quality_table(store)
    assert len(q) == 90 and set(q.obj_id) == {1, 2, 3}
    one = _flags(q, 1)
    assert set(one) == {5, 10, 20, 23}
    assert one[5] == "low_iou" and one[10] == "area,shape"  # x4: IoU 0.25 with the frame before
    assert one[20] == "vanished" and one[23] == "appeared"
    row = q[(q.obj_id == 1) & (q.frame_idx == 10)].iloc[0]
    assert row.area_change == pytest.approx(3.0) and "area changed +300%" in row.why
    for o, other in ((2, 3), (3, 2)):
        flagged = _flags(q, o)
        assert set(flagged) == {15}, flagged  # the frame of the swap, and only it
        assert set(flagged[15].split(",")) == {"swap", "jump"}  # same shape: no "shape"
        row = q[(q.obj_id == o) & (q.frame_idx == 15)].iloc[0]
        assert row.swap_with == other and row.swap_iou == pytest.approx(1.0)
        assert row.iou_prev == 0.0 and "identities swapped?" in row.why


def test_worst_segments_merge_runs_and_rank_the_swap_first(store):
    seg = s2.worst_segments(s2.quality_table(store), top=None)
    assert seg.iloc[0].obj_id in (2, 3) and seg.iloc[0].start == seg.iloc[0].end == 15
    assert seg.iloc[0].severity == 3 + 2  # swap + jump
    one = seg[seg.obj_id == 1]
    spans = sorted(zip(one.start, one.end, strict=True))
    assert spans == [(5, 5), (10, 10), (20, 23)]  # 20 and 23 are 3 apart: one segment (gap 2)
    gone = one[one.start == 20].iloc[0]
    assert gone.frames == 2 and "vanished x1" in gone.flagged and "appeared x1" in gone.flagged
    apart = s2.worst_segments(s2.quality_table(store), obj_id=1, gap=1, top=None)
    assert sorted(zip(apart.start, apart.end, strict=True)) == [(5, 5), (10, 10), (20, 20),
                                                                (23, 23)]  # fmt: skip
    assert len(s2.worst_segments(s2.quality_table(store), top=2)) == 2


def test_thresholds_are_settings():
    st = ResultStore(W, H)
    for f, size in enumerate([10, 11, 13]):  # +21%, then +40% in area: not a jump by default
        st.put(f, [1], _square(5, 5, size)[None], scores=[3.0], ious=[0.9])
    assert s2.quality_table(st).severity.sum() == 0
    strict = s2.quality_table(st, rules=s2.QualityRules(area_change=0.3))
    assert _flags(strict, 1) == {2: "area"}


def test_leaving_the_frame_going_behind_another_and_first_appearing_raise_nothing():
    st = ResultStore(W, H)
    empty = np.zeros((H, W), bool)
    for f in range(8):
        out = _square(W - 12 + 4 * f, 40, 12) if f < 3 else empty  # 1 slides out on the right
        behind = _square(30, 70, 16) if f < 4 else (_square(30, 70, 16) & ~_square(26, 66, 14))
        front = _square(26, 66, 14) if f >= 4 else empty  # 3 appears (first time) over 2
        late = _square(60, 10, 10) if f >= 5 else empty  # 4 shows up on frame 5, in the open
        st.put(f, [1, 2, 3, 4], np.stack([out, behind, front, late]),
               scores=[3.0 if out.any() else -3.0, 3.0, 3.0 if front.any() else -3.0,
                       3.0 if late.any() else -3.0], ious=[0.9] * 4)  # fmt: skip
    q = s2.quality_table(st)
    assert q.severity.sum() == 0, q[q.severity > 0][["frame_idx", "obj_id", "flagged"]]
    row = q[(q.obj_id == 2) & (q.frame_idx == 4)].iloc[0]
    assert row.hidden_share == pytest.approx(1.0) and not row.at_edge
    assert q[(q.obj_id == 1) & (q.frame_idx == 2)].iloc[0].at_edge
    off = s2.quality_table(st, rules=s2.QualityRules(edge=-1, hidden=2.0))
    assert _flags(off, 1) == {2: "area", 3: "vanished"}  # half out of the frame, then gone
    assert "area" in _flags(off, 2)[4]


def test_a_real_session_gets_quality_columns_and_the_command_reads_its_folder(
    bedroom, tmp_path, capsys
):
    engine = s2.load("test")
    sess = s2.Session(s2.open_video(bedroom, end=8), engine)
    sess.add_object(1, name="child")
    sess.add_points(0, 1, [(450, 200)], [1])
    sess.run(progress=False)
    df = s2.track_table(sess)
    assert {"iou_prev", "flagged", "why", "severity"} <= set(df.columns) and len(df) == 8
    q = s2.quality_table(sess)
    assert q.severity.tolist() == df.severity.tolist()  # the same flags in both tables
    segs = s2.quality(sess, top=None)
    assert segs.attrs["untrained"] and segs.frames.sum() == int((q.severity > 0).sum())
    sess.save(tmp_path / "kept")
    sess.close()
    assert main(["quality", str(tmp_path / "kept"), "--top", "0",
                 "--csv", str(tmp_path / "q.csv")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "UNTRAINED TEST MODEL" in out and "8 frames" in out
    assert main(["quality", str(tmp_path)]) == 2  # not a session folder: a clear message
    assert "is not a saved session (no session.json)" in capsys.readouterr().err


class _Session:
    """Just what the queue reads: results and prompted frames."""

    def __init__(self, results):
        self.results, self.prompts = results, {}

    def prompt_frames(self, obj_id):
        return self.prompts.get(obj_id, [])


def test_the_fix_next_queue_goes_worst_first_and_drops_corrected_segments(store):
    sess = _Session(store)
    queue = s2.SuspectQueue(sess)
    order = [(s["obj_id"], s["start"]) for s in queue.pending()]
    assert sorted(order[:2]) == [(2, 15), (3, 15)]  # the swap first (severity 7 each)
    assert order[2:] == [(1, 10), (1, 20), (1, 5)]  # then by severity, earliest first
    first = queue.next()
    assert (first["obj_id"], first["start"]) == order[0] and "swapped" in first["why"]
    sess.prompts[1] = [21]  # the user corrected object 1 inside 20..23
    queue.refresh()
    assert [(s["obj_id"], s["start"]) for s in queue.pending()] == [order[1], (1, 10), (1, 5)]
    while queue.next() is not None:
        pass
    assert queue.pending() == [] and queue.flagged(1, 30).nonzero()[0].tolist() == [5, 10, 20, 23]
    queue.reset()
    assert len(queue.pending()) == 4  # all but the corrected one


def test_the_prompts_tracking_started_from_are_not_corrections(store):
    sess = _Session(store)
    sess.objects, sess.prompts[1] = {1: None, 2: None, 3: None}, [21]  # a click to start from
    queue = s2.SuspectQueue(sess)
    assert (1, 20) in [(s["obj_id"], s["start"]) for s in queue.pending()]
    sess.prompts[1] = [21, 10]  # a correction on frame 10: that segment goes
    assert (1, 10) not in [(s["obj_id"], s["start"]) for s in queue.pending()]


def test_fix_next_in_the_tracker_jumps_selects_says_why_and_draws_a_quality_lane(tmp_path):
    from helpers import key

    video = s2.open_video(np.zeros((30, H, W, 3), np.uint8))
    app = s2.VideoTracker(video, s2.load("test"), folder=None, max_width=320)
    for o in (1, 2, 3):
        app.session.add_object(o)
    _problems(app.session.results)
    seg = app.fix_next()
    assert (app.frame_idx, app.editor.obj_id) == (15, seg["obj_id"]) and seg["obj_id"] in (2, 3)
    assert "identities swapped?" in app.status.value and "untrained model" in app.status.value
    assert app.scrubber.suspects[1].nonzero()[0].tolist() == [5, 10, 20, 23]
    key(app.canvas.widget, "f")  # the key does the same: the other half of the swap
    assert app.frame_idx == 15 and app.editor.obj_id == 5 - seg["obj_id"]
    for want in (10, 20, 5):
        app.fix_next()
        assert app.frame_idx == want and app.editor.obj_id == 1
    assert app.fix_next() is None and "No suspect segment left" in app.status.value
    assert app.fix_next()["start"] == 15  # and it starts over from the worst
    app.scrubber.close()

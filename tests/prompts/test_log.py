"""The typed prompt log: entries, JSON in and out, the per-frame index, history, replay."""

import json
import random

import pytest

import sam2nb as s2
from sam2nb.prompts.log import (
    AddObject,
    Box,
    ClearFrame,
    Mask,
    Points,
    PromptLog,
    Propagate,
    RemoveObject,
    RenameObject,
    entry_from_json,
    frame_prompts,
)

# What sam2nb wrote before the log was typed (a saved session's "prompt_log"): it must load and
# come back out identical.
OLD_LOG = [
    {"op": "add_object", "obj_id": 1, "name": "dog", "color": [255, 165, 0], "t": 1.5},
    {"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[450.0, 200.0]], "labels": [1],
     "clear": False, "t": 2.0},
    {"op": "box", "frame_idx": 3, "obj_id": 1, "box": [1.0, 2.0, 30.0, 40.0], "points": None,
     "labels": None, "t": 3.0},
    {"op": "mask", "frame_idx": 5, "obj_id": 1, "rle": {"size": [4, 4], "counts": "04L4"},
     "t": 4.0},
    {"op": "clear_frame", "frame_idx": 3, "obj_id": None, "t": 5.0},
    {"op": "remove_object", "obj_id": 1, "t": 6.0},
    {"op": "propagate", "start": 0, "direction": "both", "max_frames": None, "frames_done": 7,
     "last_frame": 6, "t": 7.0},
]  # fmt: skip


def test_a_log_in_the_old_json_format_loads_and_round_trips_exactly():
    log = PromptLog.from_json(OLD_LOG)
    assert [e.op for e in log] == [e["op"] for e in OLD_LOG]
    assert log.to_json() == OLD_LOG
    assert log == OLD_LOG and log == PromptLog.from_json(json.loads(json.dumps(log.to_json())))
    assert isinstance(log[1], Points) and log[1].points == ((450.0, 200.0),)


@pytest.mark.parametrize(
    "entry",
    [
        AddObject(2, "cup", (1, 2, 3)),
        RenameObject(2, name="mug"),
        RenameObject(2, color=(9, 9, 9)),
        RemoveObject(2),
        Points(4, 2, [(1, 2), (3, 4)], [1, 0], clear=True),
        Box(4, 2, [0, 0, 5, 5], [(1, 1)], [0]),
        Box(4, 2, [0, 0, 5, 5]),
        Mask(4, 2, {"size": [2, 2], "counts": b"0301"}),
        ClearFrame(4),
        ClearFrame(4, 2),
        Propagate(3, "backward", 10, 4, 0),
    ],
    ids=lambda e: e.op,
)
def test_each_entry_survives_json(entry):
    again = entry_from_json(json.loads(json.dumps(entry.to_json())))
    assert again == entry and type(again) is type(entry) and again.t == entry.t


def test_entries_normalise_numpy_and_lists_so_equal_prompts_compare_equal():
    np = pytest.importorskip("numpy")
    a = Points(np.int64(0), 1, np.array([[5, 6]]), np.array([1]))
    b = Points(0, 1, [[5.0, 6.0]], [1])
    assert a == b and a.to_json()["points"] == [[5.0, 6.0]] and type(a.frame_idx) is int


def test_entries_read_like_their_json():
    e = Points(2, 7, [(1, 2)], [0])
    assert e["op"] == "points" and e["obj_id"] == 7 and e.get("missing", "x") == "x"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("points", "needs an 'op'"),
        ({"op": "jump"}, "needs an 'op'"),
        ({"op": "box", "frame_idx": 0, "obj_id": 1, "bx": [1, 2, 3, 4]}, "no field 'bx'"),
        ({"op": "points", "obj_id": 1, "points": [[1, 2]]}, "missing a field"),
        ({"op": "points", "frame_idx": "3", "obj_id": 1, "points": [[1, 2]]}, "'frame_idx'"),
        ({"op": "points", "frame_idx": 1.5, "obj_id": 1, "points": [[1, 2]]}, "'frame_idx'"),
        ({"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[1, 2, 3]]}, "'points'"),
        ({"op": "mask", "frame_idx": 0, "obj_id": 1, "rle": "abc"}, "'rle'"),
        ({"op": "points", "frame_idx": 0, "obj_id": None, "points": [[1, 2]]}, "'obj_id'"),
    ],
)
def test_bad_entries_are_refused_with_the_field_named(data, match):
    with pytest.raises(s2.PromptError, match=match):
        PromptLog.from_json([data])


def test_a_log_holds_entries_only():
    with pytest.raises(s2.PromptError, match="holds entries"):
        PromptLog().append({"op": "points"})
    with pytest.raises(s2.PromptError, match="list of prompt entries"):
        PromptLog.from_json({"op": "points"})


def _prompts(log):
    return {k: (v.points, v.labels, v.box, v.mask) for k, v in log.frame_prompts().items()}


def test_the_index_follows_clicks_boxes_masks_clears_and_removals():
    log = PromptLog()
    log.append(Points(0, 1, [(1, 1)], [1]))
    log.append(Points(0, 1, [(2, 2)], [0]))
    assert log.get(0, 1).points == [(1.0, 1.0), (2.0, 2.0)] and log.get(0, 1).labels == [1, 0]
    log.append(Points(0, 1, [(3, 3)], [1], clear=True))
    assert log.get(0, 1).points == [(3.0, 3.0)]
    log.append(Box(0, 1, [0, 0, 9, 9]))  # a box replaces the clicks
    assert log.get(0, 1).points == [] and log.get(0, 1).box == [0.0, 0.0, 9.0, 9.0]
    log.append(Points(0, 1, [(4, 4)], [1]))  # clicks join the box
    assert log.get(0, 1).box == [0.0, 0.0, 9.0, 9.0] and log.get(0, 1).points == [(4.0, 4.0)]
    rle = {"size": [2, 2], "counts": "0301"}
    log.append(Mask(0, 1, rle))
    assert log.get(0, 1).mask == rle and log.get(0, 1).box is None
    log.append(Points(0, 1, [(5, 5)], [1]))  # a click after a mask starts over
    assert log.get(0, 1).mask is None and log.get(0, 1).points == [(5.0, 5.0)]
    log.append(Points(0, 2, [(6, 6)], [1]))
    log.append(Points(8, 2, [(7, 7)], [1]))
    assert log.frames() == [0, 8] and log.frames(1) == [0] and set(log.prompts(0)) == {1, 2}
    log.append(ClearFrame(0, 2))
    assert set(log.prompts(0)) == {1}
    log.append(RemoveObject(2))
    assert log.frames() == [0]
    log.append(ClearFrame(0))
    assert log.frame_prompts() == {} and log.get(0, 1).empty


def test_values_handed_out_are_not_changed_by_later_clicks():
    log = PromptLog([Points(0, 1, [(1, 1)], [1])])
    before = log.get(0, 1)
    log.append(Points(0, 1, [(2, 2)], [1]))
    assert before.points == [(1.0, 1.0)]


def _random_log(seed, n=120):
    rng = random.Random(seed)
    log = PromptLog()
    for _ in range(n):
        f, o = rng.randrange(4), rng.randrange(1, 4)
        kind = rng.random()
        if kind < 0.45:
            log.append(Points(f, o, [(rng.random(), rng.random())], [rng.randrange(2)],
                              clear=rng.random() < 0.2))  # fmt: skip
        elif kind < 0.6:
            log.append(Box(f, o, [0, 0, 1 + rng.random(), 1 + rng.random()]))
        elif kind < 0.7:
            log.append(Mask(f, o, {"size": [1, 1], "counts": "01"}))
        elif kind < 0.8:
            log.append(ClearFrame(f, None if rng.random() < 0.3 else o))
        elif kind < 0.85:
            log.append(RemoveObject(o))
        else:
            log.append(Propagate(0))
    return log


@pytest.mark.parametrize("seed", range(5))
def test_kept_history_equals_the_history_read_from_the_log(seed):
    log = _random_log(seed)
    for f in range(4):
        for o in range(1, 4):
            assert log.history(f, o) == log.history(f, o, end=len(log))
            # the kept index agrees with replaying the history on an empty frame
            assert not log.history(f, o) or log.get(f, o) == PromptLog(log.history(f, o)).get(f, o)
            assert log.get(f, o).empty == (not log.history(f, o))


@pytest.mark.parametrize("seed", range(3))
def test_the_index_equals_a_log_read_back_from_json(seed):
    log = _random_log(seed)
    assert _prompts(PromptLog.from_json(log.to_json())) == _prompts(log)
    assert s2.frame_prompts(log.to_json()).keys() == log.frame_prompts().keys()


def test_position_finds_the_very_entry():
    a, b = Points(0, 1, [(1, 1)], [1]), Points(0, 1, [(1, 1)], [1])
    log = PromptLog([a, b])
    assert a == b and log.position(a) == 0 and log.position(b) == 1
    assert log.position(Points(0, 1, [(1, 1)], [1])) is None


def test_read_a_prompt_file_or_a_saved_session(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(OLD_LOG))
    (tmp_path / "session.json").write_text(json.dumps({"prompt_log": OLD_LOG, "format": 1}))
    assert s2.read_log(tmp_path / "p.json") == OLD_LOG
    assert s2.read_log(tmp_path / "session.json") == OLD_LOG
    with pytest.raises(s2.PromptError, match="No prompt file"):
        s2.read_log(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(s2.PromptError, match="not valid JSON"):
        s2.read_log(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps([{"op": "points", "frame": 1}]))
    with pytest.raises(s2.PromptError, match=r"bad2.json: entry 0: 'points' has no field"):
        s2.read_log(tmp_path / "bad2.json")


class Recorder:
    """Stands in for a session: records the calls a replay makes (log logic only)."""

    def __init__(self):
        self.objects, self.calls = {}, []

    def add_object(self, obj_id, name=None, color=None):
        self.objects[obj_id] = name
        self.calls.append(("add_object", obj_id, name, color))

    def __getattr__(self, name):
        return lambda *a, **k: self.calls.append((name, *a, *sorted(k.items())))


def test_replay_sends_each_entry_and_names_objects_first():
    log = PromptLog([Points(0, 5, [(1, 2)], [1]), RenameObject(5, "cat"), Propagate(0, "forward",
                     None, 4, 3), ClearFrame(0), Box(2, 5, [0, 0, 3, 3])])  # fmt: skip
    calls = log.replay(Recorder()).calls
    assert [c[0] for c in calls] == [
        "add_object", "add_points", "rename_object", "run", "clear_frame", "add_box"
    ]  # fmt: skip
    assert calls[1] == ("add_points", 0, 5, ((1.0, 2.0),), (1,), ("clear", False))
    assert calls[3] == ("run", 0, "forward", ("max_frames", 3), ("progress", False))  # stopped


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

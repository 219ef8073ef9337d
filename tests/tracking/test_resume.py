"""tracking/resume (and folder): save, resume and replay sessions, through the public functions.

Saved files keep their JSON format; nothing here depends on the Python type of the entries
of ``session.log`` (only on ``entry["op"]`` and on what ``session.json`` holds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sam2nb as s2

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


@pytest.fixture(scope="module")
def clip(bedroom):
    return s2.open_video(bedroom, end=8)


@pytest.fixture
def short(engine, clip):
    """A session on the first eight frames of the bedroom clip (every frame's state kept)."""
    s = s2.Session(clip, engine, memory="full")
    yield s
    s.close()


def _records(sess) -> dict:
    return {(r.frame_idx, r.obj_id): r for r in sess.results.records()}


def _same_results(a, b, frames=None) -> None:
    ra, rb = _records(a), _records(b)
    if frames is not None:
        ra = {k: v for k, v in ra.items() if k[0] in frames}
        rb = {k: v for k, v in rb.items() if k[0] in frames}
    assert ra.keys() == rb.keys()
    for k, r in ra.items():
        assert rb[k].rle == r.rle, k
        assert rb[k].score == pytest.approx(r.score), k


def _meta(folder: Path) -> dict:
    return json.loads((folder / "session.json").read_text())


def _ops(log) -> list[str]:
    return [e["op"] for e in log]


# -- save and load -------------------------------------------------------------------------
@pytest.mark.slow
def test_save_and_load_round_trip(short, tmp_path):
    short.add_object(name="child", color="#ff8000")
    short.add_object(name="bed")
    short.add_points(0, 1, CLICK, [1])
    short.add_box(0, 2, [100, 300, 700, 540])
    assert short.run(max_frames=3, progress=False) == 4
    short.add_points(2, 1, [(300, 300)], [0])  # a correction, saved before it is tracked
    folder = short.save(tmp_path / "run")
    names = {p.name for p in folder.iterdir()}
    assert {"results.sqlite", "session.json"} <= names and "state.pt" not in names
    assert not list(folder.glob("*.tmp")) and not list(folder.glob("*.new"))

    loaded = s2.load_session(folder, in_memory=True)
    try:
        objects = [(o.obj_id, o.name, o.color) for o in loaded.objects.values()]
        assert objects == [(o.obj_id, o.name, o.color) for o in short.objects.values()]
        assert objects[0] == (1, "child", (255, 128, 0))
        _same_results(short, loaded)
        for o in (1, 2):
            assert loaded.prompt_frames(o) == short.prompt_frames(o)
        assert _ops(loaded.log) == _ops(short.log)
        again = _meta(loaded.save(tmp_path / "again"))
        first = _meta(folder)
        for m in (first, again):
            del m["saved_at"]
        assert again == first  # the log, objects, pending frames and video, as saved
        # the correction is still pending: the next propagation starts there
        assert [f.frame_idx for f in loaded.propagate(max_frames=1, progress=False)] == [2, 3]
    finally:
        loaded.close()


@pytest.mark.slow
def test_a_save_interrupted_before_session_json_loads_as_one_whole_save(
    short, tmp_path, monkeypatch
):
    """The database (masks, log, sam2's state) is replaced in one rename and is the record:
    a crash before session.json is rewritten never pairs one save's log with another's masks."""
    short.add_object(name="first")
    short.add_points(0, 1, CLICK, [1])
    short.run(max_frames=1, progress=False)
    folder = short.save(tmp_path / "run")
    short.add_object(name="second")
    short.add_points(0, 2, [(150, 420)], [1])
    short.run(start=0, max_frames=2, progress=False)

    real = os.replace

    def crash_before_session_json(src, dst):
        if Path(dst).name == "session.json":
            raise OSError("the machine went down")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash_before_session_json)
    with pytest.raises(OSError, match="went down"):
        short.save(folder)
    monkeypatch.undo()

    loaded = s2.load_session(folder, in_memory=True)
    try:
        assert [o.name for o in loaded.objects.values()] == ["first", "second"]
        assert _ops(loaded.log) == _ops(short.log)
        _same_results(short, loaded)
    finally:
        loaded.close()


@pytest.mark.slow
def test_going_on_after_a_resume_from_a_prompt_past_the_tracked_frames(short, tmp_path):
    short.add_object()
    short.add_points(0, 1, CLICK, [1])
    short.run(max_frames=3, progress=False)  # frames 0-3
    short.add_points(5, 1, [(300, 300)], [1])  # frame 4 was never tracked
    loaded = s2.load_session(short.save(tmp_path / "run"), in_memory=True)
    try:
        short.run(max_frames=2, progress=False)
        loaded.run(max_frames=2, progress=False)
        _same_results(short, loaded)
    finally:
        loaded.close()


@pytest.mark.slow
def test_going_on_after_a_resume_from_a_pending_correction(short, tmp_path):
    short.add_object()
    short.add_points(0, 1, CLICK, [1])
    short.run(max_frames=3, progress=False)  # frames 0-3
    short.add_points(2, 1, [(300, 300)], [0])  # saved before it is tracked
    loaded = s2.load_session(short.save(tmp_path / "run"), in_memory=True)
    try:
        short.run(max_frames=1, progress=False)
        loaded.run(max_frames=1, progress=False)
        _same_results(short, loaded)
    finally:
        loaded.close()


@pytest.mark.slow
def test_save_needs_a_folder(short):
    short.add_object()
    with pytest.raises(s2.SessionError, match="Give a folder"):
        short.save()


@pytest.mark.parametrize(
    "content, needle",
    [
        (None, "no session.json"),
        ("{not json", "damaged"),
        (json.dumps({"format": 99}), "format 99"),
        (json.dumps({"objects": []}), "format None"),
    ],
    ids=["missing", "not-json", "newer-format", "no-format"],
)
def test_unreadable_saves_name_the_problem(tmp_path, content, needle):
    if content is not None:
        (tmp_path / "session.json").write_text(content)
    with pytest.raises(s2.SessionError, match=needle):
        s2.load_session(tmp_path)


@pytest.fixture(scope="module")
def in_memory(engine, tmp_path_factory):
    """A session on frames in memory (no file), clicked and saved."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    s = s2.Session(frames, engine)
    s.add_object()
    s.add_points(1, 1, [(30, 20)], [1])
    folder = s.save(tmp_path_factory.mktemp("in_memory") / "run")
    yield s, frames, folder
    s.close()


@pytest.mark.slow
def test_a_session_on_frames_in_memory_needs_them_again(in_memory):
    _, frames, folder = in_memory
    assert _meta(folder)["video"]["path"] is None
    with pytest.raises(s2.SessionError, match="frames in memory"):
        s2.load_session(folder)
    with pytest.raises(s2.SessionError, match="pass the same video"):
        s2.load_session(folder, video=s2.open_video(frames[:, :40]))


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [
        "array",
        "list",
        "video-source",
    ],
)
def test_a_session_on_frames_in_memory_loads_with_them(in_memory, kind):
    original, frames, folder = in_memory
    video = {"array": frames, "list": list(frames), "video-source": s2.open_video(frames)}[kind]
    loaded = s2.load_session(folder, video=video, in_memory=True)
    try:
        assert loaded.prompt_frames(1) == [1]
        assert loaded.results.get(1, 1).rle == original.results.get(1, 1).rle
    finally:
        loaded.close()


# -- older saves and damaged folders --------------------------------------------------------
def _as_format_1(sess, folder: Path) -> None:
    """Rewrite a saved folder the way sam2nb wrote it before the journal (format 1)."""
    import sqlite3

    import torch

    from sam2nb.model.adapter import dump_state

    db = sqlite3.connect(folder / "results.sqlite")
    for table in ("log", "sam2_state", "tracked", "session"):
        db.execute(f"DROP TABLE {table}")
    db.commit()
    db.close()
    torch.save(dump_state(sess.tracker.state), folder / "state.pt")
    meta = _meta(folder)
    meta.update(format=1, dirty=sorted(sess.dirty))
    for key in ("journal", "num_prompts"):
        meta.pop(key)
    (folder / "session.json").write_text(json.dumps(meta))


@pytest.mark.slow
def test_a_format_1_save_loads_and_is_kept_as_it_happens_from_then_on(short, tmp_path):
    short.add_object(name="child", color="teal")
    short.add_points(0, 1, CLICK, [1])
    short.run(max_frames=3, progress=False)
    folder = short.save(tmp_path / "old")
    _as_format_1(short, folder)
    assert not s2.storage.journal.has_journal(folder / "results.sqlite")
    loaded = s2.load_session(folder)  # resumed in place: upgraded to the journal
    try:
        assert loaded.log == short.log and loaded.objects[1].color == short.objects[1].color
        _same_results(short, loaded)
        assert not (folder / "state.pt").exists() and _meta(folder)["format"] == 2
        short.run(start=4, max_frames=1, progress=False)
        loaded.run(start=4, max_frames=1, progress=False)
        _same_results(short, loaded)
    finally:
        loaded.close()
    again = s2.load_session(folder, in_memory=True)  # the journal now holds all of it
    try:
        _same_results(short, again)
        assert _ops(again.log) == _ops(short.log)
    finally:
        again.close()


@pytest.mark.slow
def test_a_missing_journal_is_named_never_a_crash(short, tmp_path):
    short.add_object()
    short.add_points(0, 1, CLICK, [1])
    folder = short.save(tmp_path / "run")
    (folder / "results.sqlite").unlink()
    with pytest.raises(s2.SessionError, match="results.sqlite is missing or damaged"):
        s2.load_session(folder)


# -- replay --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recorded(engine, clip, tmp_path_factory):
    """A short session with a mask prompt, tracking, a correction and tracking again, saved."""
    s = s2.Session(clip, engine, memory="full")
    s.add_object(name="child", color="teal")
    m = np.zeros((540, 960), bool)
    m[120:330, 360:560] = True
    s.add_mask(0, 1, m)
    s.run(max_frames=2, progress=False)  # frames 0-2
    s.add_points(1, 1, [(300, 300)], [0])
    s.run(start=1, max_frames=1, progress=False)  # frames 1-2 again
    folder = s.save(tmp_path_factory.mktemp("recorded") / "run")
    yield s, folder
    s.close()


@pytest.mark.slow
@pytest.mark.parametrize("source", ["folder", "json-file", "list"])
def test_replay_on_the_same_model_gives_the_same_masks(recorded, engine, clip, tmp_path, source):
    original, folder = recorded
    log = _meta(folder)["prompt_log"]
    if source == "folder":
        again = s2.replay(folder, engine=engine, progress=False)
    elif source == "json-file":
        (tmp_path / "prompts.json").write_text(json.dumps(log))
        again = s2.replay(tmp_path / "prompts.json", engine=engine, video=clip, progress=False)
    else:
        again = s2.replay(log, engine=engine, video=clip, progress=False)
    try:
        assert _ops(again.log) == _ops(original.log) == [e["op"] for e in log]
        assert again.objects[1].name == "child" and again.objects[1].color == (0, 128, 128)
        assert again.results.frames(1) == [0, 1, 2]
        _same_results(original, again)
    finally:
        again.close()


def test_replay_needs_the_video():
    log = [{"op": "add_object", "obj_id": 1}]
    with pytest.raises(s2.SessionError, match="replay needs the video"):
        s2.replay(log, progress=False)


# -- moved from tracking/test_session.py -----------------------------------------------------
@pytest.mark.slow
def test_save_resume_in_a_fresh_process_and_continue(sess, tmp_path, bedroom):
    sess.add_points(0, 1, CLICK, [1])
    sess.add_object(2, name="second")
    sess.add_box(0, 2, [100, 300, 700, 540])
    sess.run(max_frames=40, progress=False)
    folder = sess.save(tmp_path / "run")
    meta = json.loads((folder / "session.json").read_text())
    assert meta["model"] == "test" and meta["untrained"] and meta["sam2nb_version"]
    assert [o["name"] for o in meta["objects"]] == ["child", "second"]
    assert not list(folder.glob("*.tmp"))
    # the same correction in this process and in a fresh one must agree
    sess.add_points(25, 1, [(300, 300)], [0])
    sess.run(start=25, max_frames=5, progress=False)
    want = {f: sess.results.get(f, 1).rle["counts"].decode() for f in range(25, 31)}
    script = f"""
import json, sam2nb as s2
s = s2.load_session({str(folder)!r})
assert len(s.results) == 82 and list(s.objects) == [1, 2], (len(s.results), s.objects)
s.add_points(25, 1, [(300, 300)], [0])
s.run(start=25, max_frames=5, progress=False)
print(json.dumps({{f: s.results.get(f, 1).rle["counts"].decode() for f in range(25, 31)}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    got = {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
    assert got == want
    saved = json.loads((folder / "session.json").read_text())  # autosaved by the resumed run
    assert saved["prompt_log"][-1]["op"] == "propagate" and saved["prompt_log"][-1]["start"] == 25


@pytest.mark.slow
def test_resume_errors_name_the_fix(tmp_path, engine, bedroom, sess):
    with pytest.raises(s2.SessionError, match="no session.json"):
        s2.load_session(tmp_path)
    video = tmp_path / "clip.mp4"
    video.write_bytes(Path(bedroom).read_bytes())
    made = s2.Session(video, engine, memory="bounded")
    made.add_object()
    made.add_points(0, 1, CLICK, [1])
    folder = made.save(tmp_path / "run")
    made.close()
    video.rename(tmp_path / "moved.mp4")  # the user moved the video
    with pytest.raises(s2.SessionError, match="video="):
        s2.load_session(folder)
    resumed = s2.load_session(folder, video=tmp_path / "moved.mp4")
    assert resumed.prompt_frames(1) == [0]
    with pytest.raises(s2.SessionError, match="pass the same video"):
        s2.load_session(folder, video=s2.open_video(bedroom, end=50))


@pytest.mark.slow
def test_replay_prompt_log_on_another_variant(sess, tmp_path, bedroom):
    sess.add_points(0, 1, CLICK, [1])
    sess.run(max_frames=1, progress=False)
    folder = sess.save(tmp_path / "run")
    other = s2.load("tiny", random_weights=True)  # another variant: SAM 2.1-tiny at 1024 px
    try:
        again = s2.replay(folder, engine=other, progress=False)
        assert again.engine.name == "tiny" and again.results.frames(1) == [0, 1]
        assert [e["op"] for e in again.log] == [e["op"] for e in sess.log]
    finally:
        s2.load("test")

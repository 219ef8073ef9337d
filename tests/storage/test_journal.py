"""storage/journal: a session kept in a folder survives its process being killed (``kill -9``).

A kernel-like child process opens a session in a folder, makes the prompts in :data:`CALLS`
and tracks, printing a line (flushed) after each call returns and after each frame finishes.
The test reads those lines and sends ``SIGKILL`` at a chosen point; then it reopens the folder
(``load_session(folder, in_memory=True)``) and checks, frame by frame, that everything the
child reported finished is back and equals an uninterrupted reference run done in this
process with the same calls, and that the resumed session tracks on exactly like the
reference. Also: a half-written journal record (a torn write-ahead log) is dropped, never a
crash, and re-running ``open_session`` (a notebook re-run after a restart) resumes.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import sam2nb as s2

END = 30  # the video slice: the first 30 frames of the bedroom clip (960x540)
TRACK = 23  # the propagation's max_frames: frames 0..23 (past sam2's 15-frame window)
SLACK = 2  # reported frames that may be missing after a kill (at most the last ones)
# (so the kills below come after more frames than that: losing them all must fail a test)
MASK = "np.pad(np.ones((210, 200), bool), ((120, 210), (360, 400)))"  # 540x960, a block

# The calls of the "kernel", as source run with ``s`` the session (here and in the child).
CALLS = [
    "s.add_object(name='child', color='orange')",
    "s.add_points(0, 1, [(450, 200)], [1])",
    "s.add_object(name='bed')",
    "s.add_box(0, 2, [100, 300, 700, 540])",
    "s.add_points(0, 1, [(300, 300)], [0])",  # adds to frame 0's first click
    "s.rename_object(2, name='blanket', color='#00ff80')",
    "s.add_object(name='gone')",
    "s.add_points(0, 3, [(800, 100)], [1])",
    "s.remove_object(3)",
    f"s.add_mask(2, 2, {MASK})",
    "s.add_points(4, 1, [(500, 250)], [1])",
    "s.clear_frame(4)",
    "s.add_points(0, 2, [(400, 420)], [1])",  # adds to frame 0's box
]
BETWEEN_SAVES = "s.add_points(6, 1, [(520, 260)], [1])"

KERNEL = """
import os, sys, time
import numpy as np
import sam2nb as s2

video, folder, mode, ncalls, arg = sys.argv[1:6]
CALLS = {calls!r}[: int(ncalls)]


def say(*words):
    print(*words, flush=True)


if mode == "resume":  # a restarted kernel: resume the folder, track on from frame arg
    s = s2.open_session(folder)
    say("RESUMED", s.resumed)
    for fr in s.propagate(int(arg), max_frames={track}, progress=False):
        say("F", fr.frame_idx)
else:
    model = os.environ.get("SAM2NB_KERNEL_MODEL", "test")
    s = s2.Session(s2.open_video(video, end={end}), s2.load(model), folder=folder)
    say("OPEN")
    for i, call in enumerate(CALLS):
        exec(call)
        say("C", i)
if mode == "track":
    for fr in s.propagate(max_frames={track}, progress=False):
        say("F", fr.frame_idx)
elif mode == "save":  # save a copy, prompt, save the copy again (killed during that save)
    for fr in s.propagate(max_frames=1, progress=False):
        say("F", fr.frame_idx)
    copy = folder + "-copy"
    say("SAVING", 0)
    s.save(copy)
    say("SAVED", 0)
    exec({between!r})
    say("C", len(CALLS))
    if arg != "-":  # stop just before this file is renamed into place
        real = os.replace

        def replace(src, dst):
            if os.path.basename(dst) == arg:
                say("REPLACE", arg)
                time.sleep(60)
            return real(src, dst)

        os.replace = replace
    say("SAVING", 1)
    s.save(copy)
    say("SAVED", 1)
say("DONE")
"""


def _kernel(tmp_path: Path) -> Path:
    script = tmp_path / "kernel.py"
    if not script.exists():
        script.write_text(KERNEL.format(calls=CALLS, end=END, track=TRACK, between=BETWEEN_SAVES))
    return script


def _run_and_kill(
    tmp_path: Path, args: list, until, timeout: float = 900, model: str = "test"
) -> list[str]:
    """Run the kernel (``video folder mode ncalls arg``) on ``model``; SIGKILL it as soon as
    ``until(lines)``; return every line it printed."""
    root = Path(s2.__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        "SAM2NB_KERNEL_MODEL": model,
    }
    err_path = tmp_path / f"kernel-{len(list(tmp_path.glob('kernel-*.err')))}.err"
    with open(err_path, "w") as err:
        p = subprocess.Popen(
            [sys.executable, str(_kernel(tmp_path)), *map(str, args)],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env,
        )  # fmt: skip
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        lines: list[str] = []
        try:
            for line in p.stdout:
                lines.append(line.strip())
                if until(lines):
                    os.kill(p.pid, signal.SIGKILL)
                    break
            lines += [line.strip() for line in p.stdout]  # printed before the kill landed
            rc = p.wait()
        finally:
            timer.cancel()
            p.stdout.close()
    assert rc == -signal.SIGKILL, (rc, lines, err_path.read_text()[-3000:])
    assert "DONE" not in lines, lines
    return lines


def _calls_returned(lines: list[str]) -> int:
    return sum(1 for x in lines if x.startswith("C "))


def _frames_reported(lines: list[str]) -> list[int]:
    return [int(x.split()[1]) for x in lines if x.startswith("F ")]


# -- the reference: the same calls, uninterrupted, in this process ------------------------
def _records(sess, frames=None) -> dict:
    out = {}
    for r in sess.results.records():
        if frames is None or r.frame_idx in frames:
            out[(r.frame_idx, r.obj_id)] = (r.rle["counts"], r.area, r.score)
    return out


def _objects(sess) -> list:
    return [(o.obj_id, o.name, tuple(o.color)) for o in sess.objects.values()]


@dataclass
class Reference:
    logs: list  # the log after each call (index i: after CALLS[i])
    objects: list  # the objects after each call
    records: list  # the results after each call
    prompt_frames: list  # the prompted frames after each call
    tracked: dict  # the results after the propagation (frames 0..TRACK)
    order: list  # the frames in the order the propagation reported them


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


@pytest.fixture(scope="module")
def video(bedroom):
    return s2.open_video(bedroom, end=END)


def _run_calls(s, calls) -> list[tuple]:
    after = []
    for call in calls:
        exec(call, {"np": np, "s": s})
        after.append((list(s.log), _objects(s), _records(s), s.prompt_frames()))
    return after


@pytest.fixture(scope="module")
def reference(engine, video) -> Reference:
    s = s2.Session(video, engine)
    try:
        after = _run_calls(s, CALLS)
        order = [fr.frame_idx for fr in s.propagate(max_frames=TRACK, progress=False)]
        return Reference(*map(list, zip(*after, strict=True)), _records(s), order)
    finally:
        s.close()


def _check_prompts(loaded, ref: Reference, returned: int) -> int:
    """The loaded log is the reference log after some m >= ``returned`` calls; returns m."""
    log = [e for e in loaded.log if e.op != "propagate"]
    matches = [m for m in range(len(CALLS)) if ref.logs[m] == log]
    assert matches, f"the journal's log matches no prefix of the calls: {[e.op for e in log]}"
    m = matches[-1] + 1
    assert m >= returned, f"{returned} calls returned but only {m} came back"
    assert m <= returned + 1, f"{m} calls came back, {returned} had returned: one at most in flight"
    assert _objects(loaded) == ref.objects[m - 1]
    assert loaded.prompt_frames() == ref.prompt_frames[m - 1]
    return m


def _check_frames(loaded, ref: Reference, reported: list[int]) -> int:
    """Every reported frame (but at most the last SLACK) is back and equals the reference.

    Tracking is forward from frame 0 and object 1 has prompts on frame 0 only, so the frames
    with an object-1 mask are the frames tracked; later frames hold only prompts' masks.
    Returns the last frame tracked that came back.
    """
    last = max(loaded.results.frames(1), default=-1)
    last_reported = max(reported, default=-1)
    assert last >= last_reported - SLACK, f"frames up to {last_reported} reported, {last} back"
    assert last <= last_reported + 1, f"frame {last} came back, {last_reported} was reported"
    want = {k: v for k, v in ref.tracked.items() if k[0] <= last}
    want |= {k: v for k, v in ref.records[-1].items() if k[0] > last}  # prompts not reached
    got = _records(loaded)
    for f in range(END):  # frame by frame, to name the first one that differs
        assert {k: v for k, v in got.items() if k[0] == f} == {
            k: v for k, v in want.items() if k[0] == f
        }, f"frame {f} (tracked up to {last})"
    return last


def _span(frames: list[int]) -> str:
    if len(frames) > 2 and frames == list(range(frames[0], frames[-1] + 1)):
        return f"{frames[0]}..{frames[-1]}"
    return ", ".join(map(str, frames)) or "none"


def _report(where: str, lines: list[str], loaded, calls: int = len(CALLS)) -> None:
    """One row of the kill table (shown with ``pytest -s``)."""
    reported = _frames_reported(lines)
    print(
        f"\nKILL {where}: {_calls_returned(lines)}/{calls} calls returned, frames "
        f"{_span(reported)} reported -> back: "
        f"{sum(1 for e in loaded.log if e.op != 'propagate')} prompt-log entries, "
        f"object 1 on frames {_span(loaded.results.frames(1))}; resumed: {loaded.resumed}"
    )
    if reported:
        lost = max(reported) - max(loaded.results.frames(1), default=-1)
        print(f"KILL {where}: reported frames not back: {max(lost, 0)}")


def _load(folder: Path):
    """Reopen a folder as a restarted kernel would, without writing to it."""
    return s2.load_session(folder, in_memory=True)


def _tracked(ref: Reference, frames) -> dict:
    return {k: v for k, v in ref.tracked.items() if k[0] in frames}


def _track_on(loaded, ref: Reference, start: int, n: int = 2, go_on: bool = False) -> None:
    """Track ``n`` frames from ``start``: the same masks as the uninterrupted run, from sam2's
    state as the journal kept it (nothing re-tracked to rebuild a missing memory).

    ``go_on``: propagate with no start, as the app's button does: the killed run goes on
    from the frame after the last one it finished, which must be ``start``.
    """
    slow_work: list[str] = []
    loaded.on_progress(lambda what, done, total: slow_work.append(what))
    first = None if go_on else start
    got = [fr.frame_idx for fr in loaded.propagate(first, max_frames=n - 1, progress=False)]
    assert got == list(range(start, start + n))
    assert not [w for w in slow_work if w], slow_work
    frames = set(range(start + n))
    assert _records(loaded, frames) == _tracked(ref, frames)


# -- killed between prompts ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 9], ids=["in-a-second-click", "in-add-mask"])
def test_a_kill_between_prompts_loses_no_prompt_that_returned(reference, bedroom, tmp_path, n):
    folder = tmp_path / "run"
    lines = _run_and_kill(
        tmp_path, [bedroom, folder, "track", len(CALLS), "-"], lambda ls: _calls_returned(ls) >= n
    )
    returned = _calls_returned(lines)
    assert returned < len(CALLS) and not _frames_reported(lines)
    loaded = _load(folder)
    try:
        _report(f"after {n} calls", lines, loaded)
        m = _check_prompts(loaded, reference, returned)
        assert _records(loaded) == reference.records[m - 1]  # every prompt's mask
        # go on where the kernel stopped: the calls that did not come back, then tracking
        # (a click on frame 0 adds to the clicks sam2 had there: its state came back too)
        _run_calls(loaded, CALLS[m:])
        assert list(loaded.log) == reference.logs[-1]
        assert _records(loaded) == reference.records[-1]
        _track_on(loaded, reference, 0)
    finally:
        loaded.close()


# -- killed while tracking -----------------------------------------------------------------
@pytest.fixture(scope="module")
def killed(tmp_path_factory, bedroom):
    """``killed(k)``: the kernel's folder after a SIGKILL once it reported k tracked frames."""
    done: dict[int, tuple[Path, list[str]]] = {}

    def kill_after(k: int) -> tuple[Path, list[str]]:
        if k not in done:
            d = tmp_path_factory.mktemp(f"killed-after-{k}")
            lines = _run_and_kill(
                d,
                [bedroom, d / "run", "track", len(CALLS), "-"],
                lambda ls: len(_frames_reported(ls)) >= k,
            )
            done[k] = (d / "run", lines)
        return done[k]

    return kill_after


def _copy(folder: Path, to: Path) -> Path:
    """A copy of a killed kernel's folder, write-ahead log and shared-memory index included."""
    shutil.copytree(folder, to)
    return to


@pytest.mark.slow
@pytest.mark.parametrize("k", [6, 18], ids=["within-the-window", "past-the-window"])
def test_a_kill_mid_propagation_keeps_every_finished_frame(killed, reference, tmp_path, k):
    folder, lines = killed(k)
    reported = _frames_reported(lines)
    assert _calls_returned(lines) == len(CALLS) and reported[:k] == list(range(k))
    loaded = _load(folder)
    try:
        _report(f"after {k} frames", lines, loaded)
        assert _check_prompts(loaded, reference, len(CALLS)) == len(CALLS)
        last = _check_frames(loaded, reference, reported)
        frames = len(loaded.results.frames())
        assert loaded.resumed == f"2 objects, 7 prompts, {frames} frames tracked"
        # sam2's memory of the last frames came back: tracking goes on exactly
        _track_on(loaded, reference, last + 1, go_on=True)
    finally:
        loaded.close()


@pytest.mark.slow
def test_a_resumed_session_is_kept_as_it_goes_and_survives_a_second_kill(
    killed, reference, bedroom, tmp_path
):
    folder = _copy(killed(6)[0], tmp_path / "run")
    before = _load(folder)
    start = max(before.results.frames(1)) + 1
    before.close()
    lines = _run_and_kill(
        tmp_path,
        [bedroom, folder, "resume", 0, start],
        lambda ls: len(_frames_reported(ls)) >= 5,
    )
    assert lines[0].startswith("RESUMED 2 objects, 7 prompts")
    reported = _frames_reported(lines)
    assert reported[0] == start
    loaded = _load(folder)
    try:
        _report(f"resumed at frame {start}, after 5 more frames", lines, loaded, 0)
        assert _check_prompts(loaded, reference, len(CALLS)) == len(CALLS)
        last = _check_frames(loaded, reference, reported)
        _track_on(loaded, reference, last + 1, go_on=True)
    finally:
        loaded.close()


def _wal(path: Path) -> tuple[int, int, list[int]]:
    """A write-ahead log's page size, checkpoint count and the ends of its valid commits.

    Valid as SQLite reads it: frames whose salts match the header and whose running
    checksum holds, up to the first that does not.
    """
    data = path.read_bytes()
    magic, _, page, seq, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:32])
    order = ">" if magic & 1 else "<"

    def checksum(chunk: bytes, s0: int, s1: int) -> tuple[int, int]:
        words = np.frombuffer(chunk, dtype=np.dtype(f"{order}u4")).astype(np.uint64)
        for a, b in zip(words[0::2].tolist(), words[1::2].tolist(), strict=True):
            s0 = (s0 + a + s1) & 0xFFFFFFFF
            s1 = (s1 + b + s0) & 0xFFFFFFFF
        return s0, s1

    s = checksum(data[:24], 0, 0)
    assert s == (c1, c2), "the write-ahead log's header is damaged"
    ends, off = [], 32
    while off + 24 + page <= len(data):
        _, commit, f1, f2, k1, k2 = struct.unpack(">6I", data[off : off + 24])
        s = checksum(data[off : off + 8] + data[off + 24 : off + 24 + page], *s)
        if (f1, f2) != (salt1, salt2) or s != (k1, k2):
            break
        off += 24 + page
        if commit:
            ends.append(off)
    return page, seq, ends


def _last_tracked(folder: Path) -> int:
    """The last frame with a mask of object 1, read without changing the folder."""
    db = sqlite3.connect(f"file:{folder / 'results.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT MAX(frame_idx) FROM masks WHERE obj_id = 1").fetchone()[0]
    finally:
        db.close()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "torn-page", "garbage-appended"])
def test_a_half_written_journal_record_is_dropped_never_a_crash(
    killed, reference, tmp_path, damage
):
    folder = _copy(killed(6)[0], tmp_path / "run")
    last = _last_tracked(folder)
    wal = folder / "results.sqlite-wal"
    page, checkpoints, ends = _wal(wal)
    assert checkpoints == 0 and len(ends) > 2  # the database file lacks what the log holds
    rng = np.random.default_rng(0)
    if damage == "truncated":  # the kill cut the last frame's commit short
        os.truncate(wal, ends[-1] - page // 2)
    elif damage == "torn-page":  # half of a page written, half old bytes
        with open(wal, "r+b") as fh:
            fh.seek(ends[-1] - page // 2)
            fh.write(rng.bytes(page // 4))
    else:  # a record begun after the last commit, never finished
        with open(wal, "ab") as fh:
            fh.write(rng.bytes(3 * (24 + page) + 100))
    loaded = _load(folder)
    try:
        # the last transaction was the last tracked frame: damaged, it is dropped whole
        back = last if damage == "garbage-appended" else last - 1
        print(f"\nKILL after 6 frames, WAL {damage}: object 1 on frames 0..{last} -> 0..{back}")
        assert max(loaded.results.frames(1)) == back
        assert _check_prompts(loaded, reference, len(CALLS)) == len(CALLS)
        assert _check_frames(loaded, reference, list(range(back + 1))) == back
        if back < last:
            _track_on(loaded, reference, back + 1, go_on=True)  # its memory went with it
    finally:
        loaded.close()


# -- killed while saving a copy ------------------------------------------------------------
SAVE_CALLS = 4  # the saving kernel makes the first four calls, tracks frames 0-1, saves


@pytest.mark.slow
@pytest.mark.parametrize("at", ["saving", "results.sqlite", "session.json"])
def test_a_kill_during_save_leaves_both_folders_whole(bedroom, tmp_path, at):
    from sam2nb.prompts.log import Points

    folder, copy = tmp_path / "run", tmp_path / "run-copy"
    hook, trigger = ("-", "SAVING 1") if at == "saving" else (at, f"REPLACE {at}")
    lines = _run_and_kill(
        tmp_path, [bedroom, folder, "save", SAVE_CALLS, hook], lambda ls: ls[-1] == trigger
    )
    assert "SAVED 0" in lines and f"C {SAVE_CALLS}" in lines and "SAVED 1" not in lines
    main = _load(folder)  # the session's own folder has everything
    try:
        _report(f"in save ({at})", lines, main, SAVE_CALLS + 1)
        ops = [e.op for e in main.log]
        assert ops[SAVE_CALLS] == "propagate" and len(ops) == SAVE_CALLS + 2
        assert main.log[-1] == Points(6, 1, [(520, 260)], [1])  # the click between the saves
        assert main.results.frames() == [0, 1, 6] and main.results.frames(2) == [0, 1]
        saved = _load(copy)  # the copy is one whole save: the first or the second
        try:
            n = len(saved.log)
            if at == "results.sqlite":  # killed before the new database was renamed in
                assert n == len(main.log) - 1
            elif at == "session.json":  # after it: the database is the record
                assert n == len(main.log)
            assert n in (len(main.log) - 1, len(main.log)), n
            assert list(saved.log) == list(main.log)[:n]
            want = _records(main)
            if n < len(main.log):
                del want[(6, 1)]
            assert _records(saved) == want and _objects(saved) == _objects(main)
            print(f"KILL in save ({at}): the copy holds save {n - len(main.log) + 1}")
        finally:
            saved.close()
    finally:
        main.close()
    resumed = s2.open_session(folder)  # saving there again works, whatever the kill left
    try:
        resumed.save(copy)
        again = _load(copy)
        assert list(again.log) == list(resumed.log) and _records(again) == _records(resumed)
        again.close()
    finally:
        resumed.close()


# -- the restart trap ----------------------------------------------------------------------
@pytest.mark.slow
def test_running_the_notebook_again_resumes_and_fresh_moves_the_old_session_aside(
    engine, video, tmp_path
):
    folder = tmp_path / "work"
    first = s2.open_session(folder, video, engine)
    assert first.resumed is None and first.moved_aside is None and first.folder == folder
    _run_calls(first, CALLS[:4])
    assert first.run(max_frames=1, progress=False) == 2
    # the notebook again from the top, the first session still alive in the kernel
    with pytest.raises(s2.SessionError, match="open_session"):
        s2.Session(video, engine, folder=folder)
    again = s2.open_session(folder, video, engine)
    assert again.resumed == "2 objects, 2 prompts, 2 frames tracked"
    assert list(again.log) == list(first.log) and _objects(again) == _objects(first)
    assert _records(again) == _records(first) and again.folder == folder
    restarted = s2.open_session(folder)  # a fresh kernel that names only the folder
    assert list(restarted.log) == list(first.log)
    # start over: the earlier session is moved aside, never deleted
    fresh = s2.open_session(folder, video, engine, fresh=True)
    assert fresh.resumed is None and fresh.folder == folder
    assert fresh.moved_aside is not None and fresh.moved_aside.is_dir()
    assert fresh.moved_aside.name.startswith("work.")
    assert not fresh.objects and not len(fresh.log) and not len(fresh.results)
    empty = _load(folder)
    assert not len(empty.log) and empty.resumed == "0 objects, 0 prompts, 0 frames tracked"
    old = _load(fresh.moved_aside)
    assert list(old.log) == list(first.log) and _records(old) == _records(first)
    assert _objects(old) == _objects(first)
    for s in (first, again, restarted, fresh, empty, old):
        s.close()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["save", "attach"])
def test_a_session_loaded_in_memory_saves_its_log_once(engine, tmp_path, how):
    """A session reopened with in_memory=True works on a copy in memory of the journal; saving
    or keeping that copy in a folder must not write the log into it a second time."""
    frames = np.random.default_rng(0).integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)
    s = s2.Session(frames, engine, folder=tmp_path / "a")
    s.add_object(name="one")
    s.add_points(0, 1, [(30, 20)], [1])
    s.close()
    loaded = s2.load_session(tmp_path / "a", video=frames, in_memory=True)
    assert [e.op for e in loaded.log] == ["add_object", "points"]
    if how == "save":
        loaded.save(tmp_path / "b")
    else:
        loaded.folder = tmp_path / "b"
    loaded.close()
    again = s2.load_session(tmp_path / "b", video=frames, in_memory=True)
    assert [e.op for e in again.log] == ["add_object", "points"]
    again.close()


@pytest.mark.slow
def test_a_session_on_a_shrunk_video_reopens_from_its_folder_alone(engine, bedroom, tmp_path):
    video = s2.open_video(bedroom, end=4, max_side=320)
    s = s2.Session(video, engine, folder=tmp_path / "run")
    s.add_object()
    s.add_points(0, 1, [(150, 60)], [1])
    s.close()
    again = s2.open_session(tmp_path / "run")  # a restarted kernel names only the folder
    assert again.video.size == (320, 180) and again.results.frames() == [0]
    again.close()


# -- transformers' trackers (last: s2.load of another model unloads `engine`) ----------
@pytest.mark.slow
@pytest.mark.parametrize("model", ["edgetam-test", "sam3-test"])
def test_a_transformers_tracker_resumes_after_a_kill_as_if_never_stopped(
    model, video, bedroom, tmp_path
):
    """Last in this file: loading another model unloads the module's test engine."""
    pytest.importorskip("transformers")
    ref_sess = s2.Session(video, s2.load(model))
    try:
        after = _run_calls(ref_sess, CALLS)
        order = [fr.frame_idx for fr in ref_sess.propagate(max_frames=TRACK, progress=False)]
        ref = Reference(*map(list, zip(*after, strict=True)), _records(ref_sess), order)
    finally:
        ref_sess.close()
    folder = tmp_path / "run"
    lines = _run_and_kill(
        tmp_path, [bedroom, folder, "track", len(CALLS), "-"],
        lambda ls: len(_frames_reported(ls)) >= 18, model=model,
    )  # fmt: skip
    loaded = _load(folder)
    try:
        _report(f"{model} after 18 frames", lines, loaded)
        assert loaded.engine.name == model
        assert _check_prompts(loaded, ref, len(CALLS)) == len(CALLS)
        last = _check_frames(loaded, ref, _frames_reported(lines))
        # the model's memory of the last frames came back from the journal: nothing is
        # tracked again, and the next frames are the uninterrupted run's
        _track_on(loaded, ref, last + 1, go_on=True)
    finally:
        loaded.close()

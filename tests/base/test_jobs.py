"""base/jobs: stop flags, one-line error summaries, background jobs."""

from __future__ import annotations

import os
import threading
import time

import pytest

from sam2nb.base.errors import Sam2nbError, SessionError
from sam2nb.base.jobs import Job, as_stop, first_line

# A generous bound for "this finishes": only a hang fails it, never a slow machine.
DONE = 30


# -- as_stop -------------------------------------------------------------------------------
def test_none_never_stops():
    should = as_stop(None)
    assert should() is False


def test_an_event_is_followed():
    ev = threading.Event()
    should = as_stop(ev)
    assert should() is False
    ev.set()
    assert should() is True
    ev.clear()
    assert should() is False


def test_a_job_is_a_stop_flag():
    job = Job(lambda job: None, threaded=False)
    should = as_stop(job)
    assert should() is False
    job.stop()
    assert should() is True


def test_a_callable_is_asked_each_time():
    answers = iter([False, False, True])
    should = as_stop(lambda: next(answers))
    assert [should(), should(), should()] == [False, False, True]


@pytest.mark.parametrize("bad", [42, "stop", [True], 1.5, object()], ids=repr)
@pytest.mark.parametrize("error", [None, SessionError, ValueError])
def test_anything_else_is_refused_with_the_callers_error(bad, error):
    expected = Sam2nbError if error is None else error
    kwargs = {} if error is None else {"error": error}
    with pytest.raises(expected, match="stop must be a threading.Event or a callable"):
        as_stop(bad, **kwargs)


# -- first_line ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc, want",
    [
        (ValueError("bad frame\nC++ stack trace:\n  frame 0"), "bad frame"),
        (RuntimeError("\n  padded\nmore"), "padded"),
        (
            RuntimeError("[12:00:00] /src/video/video_reader.cc:151: Error reading frame 3"),
            "Error reading frame 3",
        ),
        (
            RuntimeError("[09:41:07] file.cc:12: cannot open\n[09:41:07] file.cc:13: more"),
            "cannot open",
        ),
        (KeyError(), "KeyError"),
        (ValueError(""), "ValueError"),
        (OSError("   \n  "), "OSError"),
        (ValueError("[not a time] file.cc:12: kept"), "[not a time] file.cc:12: kept"),
    ],
    ids=[
        "multi-line",
        "stripped",
        "decord-prefix",
        "decord-prefix-twice",
        "no-message",
        "empty-message",
        "blank-message",
        "bracket-not-a-time",
    ],
)
def test_first_line(exc, want):
    assert first_line(exc) == want


@pytest.mark.parametrize("limit", [1, 10, 300])
def test_first_line_is_cut_at_the_limit(limit):
    text = "x" * 1000
    assert first_line(ValueError(text), limit=limit) == text[:limit]


# -- Job -----------------------------------------------------------------------------------
def test_threaded_job_returns_its_result():
    started = threading.Event()
    job = Job(lambda job: started.set() or 6 * 7)
    assert not job.running and job.result is None
    assert job.start() is job
    assert job.wait(DONE) and started.is_set()
    assert (job.result, job.error, job.running) == (42, None, False)


def test_work_runs_in_its_own_named_thread():
    seen = []
    job = Job(lambda job: seen.append(threading.current_thread()), name="my-work").start()
    assert job.wait(DONE)
    assert seen[0] is not threading.current_thread() and seen[0].name == "my-work"


def test_unthreaded_job_runs_in_the_calling_thread():
    seen = []
    job = Job(lambda job: seen.append(threading.current_thread()) or "ok", threaded=False)
    job.start()
    assert seen == [threading.current_thread()]  # done when start() returns
    assert job.result == "ok" and not job.running and job.wait(0)


@pytest.mark.parametrize("threaded", [True, False])
def test_an_error_is_kept_and_handed_to_on_error(threaded):
    boom = ValueError("boom")
    errors, done = [], []

    def work(job):
        raise boom

    job = Job(work, threaded=threaded, on_error=errors.append, on_done=lambda: done.append(1))
    job.start()  # never raises: the error is kept
    assert job.wait(DONE)
    assert job.error is boom and errors == [boom] and done == [1]
    assert job.result is None


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("outcome", ["returns", "raises", "stopped"])
def test_on_done_always_runs_last(threaded, outcome):
    calls = []

    def work(job):
        calls.append("work")
        if outcome == "raises":
            raise RuntimeError("no")
        if outcome == "stopped":
            job.stop()
            return "partial" if job.is_set() else "full"
        return "full"

    def on_done():
        calls.append(("done", job.running))  # still running while on_done runs

    job = Job(work, threaded=threaded, on_error=lambda e: calls.append("error"), on_done=on_done)
    job.start()
    assert job.wait(DONE) and not job.running
    want = ["work", "error"] if outcome == "raises" else ["work"]
    assert calls == [*want, ("done", True)]
    assert job.result == {"returns": "full", "raises": None, "stopped": "partial"}[outcome]


def test_without_callbacks_an_error_is_only_kept():
    job = Job(lambda job: 1 / 0, threaded=False).start()
    assert isinstance(job.error, ZeroDivisionError)


def test_stop_is_seen_by_the_work():
    started = threading.Event()

    def work(job):
        started.set()
        checks = 0
        while not job.is_set():
            checks += 1
            job.stop_event.wait(0.01)
        return checks

    job = Job(work).start()
    assert started.wait(DONE)
    assert job.running and not job.is_set()
    job.stop()
    assert job.is_set()
    assert job.wait(DONE) and job.error is None and isinstance(job.result, int)


def test_stop_before_start_is_seen_at_once():
    job = Job(lambda job: job.is_set(), threaded=False)
    job.stop()
    assert job.start().result is True


def test_wait_times_out_while_the_work_is_blocked():
    release = threading.Event()
    job = Job(lambda job: release.wait(DONE)).start()
    try:
        assert job.wait(0.05) is False
        assert job.running
    finally:
        release.set()
    assert job.wait(DONE) is True and job.result is True and not job.running


def test_wait_before_start_does_not_block():
    assert Job(lambda job: None).wait(0) is True


@pytest.mark.parametrize("threaded", [True, False])
def test_starting_twice_is_refused(threaded):
    runs = []
    job = Job(lambda job: runs.append(1), name="once", threaded=threaded).start()
    assert job.wait(DONE)
    with pytest.raises(RuntimeError, match="'once' was started already"):
        job.start()
    assert runs == [1]


def test_progress_is_forwarded():
    got = []

    def work(job):
        for i in range(3):
            job.progress(i + 1, 3, f"item {i}")
        return job.done, job.total

    job = Job(work, on_progress=lambda *a: got.append(a)).start()
    assert job.wait(DONE)
    assert got == [(1, 3, "item 0"), (2, 3, "item 1"), (3, 3, "item 2")]
    assert job.result == (3, 3)


def test_progress_without_a_listener_is_counted():
    job = Job(lambda job: None, threaded=False)
    job.progress(2.0, 7)
    assert (job.done, job.total) == (2, 7) and type(job.done) is int
    got = []
    job.on_progress = lambda *a: got.append(a)
    job.progress(3, 7)
    assert got == [(3, 7, "")]


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_release_workers_ends_the_callers_openmp_pool():
    """A thread that ran torch keeps OpenMP workers; released, they end (a new op makes them)."""
    import torch

    from sam2nb.base.openmp import release_workers

    if torch.get_num_threads() < 2:
        pytest.skip("torch runs on one thread here: no worker pool to end")
    x = torch.ones(1 << 22)
    x.add_(1)  # a parallel region: this thread's pool exists now
    with_pool = _threads()
    if not release_workers():
        pytest.skip("torch does not use GNU libgomp here")
    deadline = time.monotonic() + 5
    while _threads() > with_pool - (torch.get_num_threads() - 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _threads() == with_pool - (torch.get_num_threads() - 1)
    x.add_(1)  # and the next operation makes a new pool, with the same result
    assert _threads() == with_pool and float(x[0]) == 3.0


def test_a_threaded_job_ends_the_starting_threads_openmp_pool():
    """Job.start hands back the caller's OpenMP workers before its thread runs torch."""
    import torch

    if torch.get_num_threads() < 2 or not os.path.isdir("/proc/self/task"):
        pytest.skip("needs a worker pool and /proc")
    torch.ones(1 << 22).add_(1)
    with_pool = _threads()
    target = with_pool - (torch.get_num_threads() - 1) + 1  # plus the job's own thread

    def count(job: Job) -> int:
        deadline = time.monotonic() + 5  # the ended workers leave /proc a moment later
        while _threads() > target and time.monotonic() < deadline:
            time.sleep(0.01)
        return _threads()

    job = Job(count).start()
    assert job.wait(DONE) and job.error is None
    assert job.result == target

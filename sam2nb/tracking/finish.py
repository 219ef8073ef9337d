"""Track a session to the end, going on where an earlier run of the same prompts stopped.

The command line (``sam2nb track``) and batch items run one set of prompts to the end. Their
session is kept in a folder (see :mod:`sam2nb.storage.journal`), so a run that was stopped,
killed or broke on a bad frame leaves every finished frame and sam2's memory of the last ones;
:func:`track_to_end` run again on the resumed session skips what is done and tracks the rest,
exactly as one uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..base.errors import SessionError
from ..storage.store import FrameResult
from .propagation import DIRECTIONS
from .session import Session


@dataclass(frozen=True)
class RunResult:
    """What :func:`track_to_end` did.

    Attributes:
        start: the frame the run starts from (the earliest prompt).
        skipped: frames an earlier run had tracked already.
        tracked: frames tracked now.
        stopped: True if it was stopped before the end.
    """

    start: int
    skipped: int
    tracked: int
    stopped: bool


def _done(sess: Session, start: int, reverse: bool) -> int:
    """How many frames from ``start`` in one direction every prompted object has tracked."""
    objs = [o for o in sess.objects if sess.tracker.cond_frames(o)]
    marks = [sess.tracker.tracked(o) for o in objs]
    n, step, k = len(sess.video), (-1 if reverse else 1), 0
    f = start
    while 0 <= f < n and all(m.get(f) is reverse for m in marks):
        k += 1
        f += step
    return k


def track_to_end(
    sess: Session,
    direction: str = "both",
    *,
    progress: bool = True,
    stop: Any = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> RunResult:
    """Track from the earliest prompt to the end (``direction``), skipping what is tracked.

    Meant for sessions whose prompts were all made before the first propagation (a command
    line or batch run): frames tracked by an earlier, interrupted run of the same prompts are
    kept, and tracking goes on from the first frame missing, with sam2's memory as it was.

    Args:
        sess: the session (resumed from its folder to go on).
        direction: ``"forward"``, ``"backward"`` or ``"both"``.
        progress: show progress bars.
        stop: a ``threading.Event`` or callable, checked after every frame.
        on_frame: called with each frame as it finishes.

    Example:
        >>> run = s2.Session(s2.open_video(clip, end=8), engine, folder=folder + "/cli")
        >>> _ = run.add_object()
        >>> _ = run.add_points(2, 1, [(120, 180)], [1])
        >>> track_to_end(run, "forward", progress=False, stop=lambda: True)  # stopped at once
        RunResult(start=2, skipped=0, tracked=1, stopped=True)
        >>> again = s2.load_session(folder + "/cli")  # a new process goes on
        >>> track_to_end(again, "forward", progress=False)
        RunResult(start=2, skipped=1, tracked=5, stopped=False)
    """
    if direction not in DIRECTIONS:
        raise SessionError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
    start = sess.default_start()
    passes = {"forward": [False], "backward": [True], "both": [False, True]}[direction]
    skipped = tracked = 0
    n = len(sess.video)
    for reverse in passes:
        done = _done(sess, start, reverse)
        skipped += done
        left = (start + 1) if reverse else (n - start)
        if done >= left:
            continue
        begin = start - done if reverse else start + done
        for fr in sess.propagate(
            begin, "backward" if reverse else "forward", stop=stop, progress=progress
        ):
            tracked += 1
            if on_frame is not None:
                on_frame(fr)
        if _done(sess, start, reverse) < left:  # stopped
            return RunResult(start, skipped, tracked, True)
    return RunResult(start, skipped, tracked, False)

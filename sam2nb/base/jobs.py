"""Long work that can be stopped: stop flags, background jobs, one-line error summaries."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from .errors import Sam2nbError
from .openmp import release_after_cells, release_workers


def as_stop(stop: Any, error: type[Exception] = Sam2nbError) -> Callable[[], bool]:
    """Normalise a ``stop=`` argument into a function that says whether to stop.

    Args:
        stop: None (never stop), anything with ``is_set()`` (a ``threading.Event``, a
            :class:`Job`) or a callable returning a bool.
        error: the exception class for anything else (the caller's own error type).

    Example:
        >>> import threading
        >>> ev = threading.Event(); should = as_stop(ev)
        >>> should(), ev.set(), should()
        (False, None, True)
        >>> as_stop(None)()
        False
    """
    if stop is None:
        return lambda: False
    if hasattr(stop, "is_set"):
        return stop.is_set
    if callable(stop):
        return stop
    raise error(f"stop must be a threading.Event or a callable, got {stop!r}.")


def first_line(exc: BaseException, limit: int = 300) -> str:
    r"""The first line of an error's message (decord's ``[time] file.cc:12:`` prefix dropped).

    Example:
        >>> first_line(ValueError("bad frame\nC++ stack trace ..."))
        'bad frame'
        >>> first_line(KeyError())
        'KeyError'
    """
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ", "", str(exc)).strip().splitlines()
    return text[0][:limit] if text else type(exc).__name__


def fit_bar(bar: Any) -> Any:
    """Make a ``tqdm.auto`` bar fit a narrow notebook output (it wraps, never cut); returns it.

    In a notebook, tqdm's widget is as wide as its text and runs past a narrow output area
    (JupyterLab with its file browser open). This gives it the output's width and lets its
    parts wrap, as tqdm's own ``ncols="100%"`` would, without that option's text form (which
    tqdm cannot print). A terminal bar is left as it is.

    Example:
        >>> from tqdm import tqdm
        >>> fit_bar(tqdm(total=3, disable=True)).total
        3
    """
    box = getattr(bar, "container", None)
    layout = getattr(box, "layout", None)
    if layout is not None:
        layout.width, layout.display, layout.flex_flow = "100%", "inline-flex", "row wrap"
        parts = getattr(box, "children", ())
        if len(parts) == 3:  # description, bar, numbers: the bar takes the room left
            parts[1].layout.flex = "2"
    return bar


class Job:
    """Work run in a background thread, with a stop flag, progress and its error kept.

    ``work`` receives the job itself: pass it as ``stop=`` to sam2nb's long calls (it has
    ``is_set()``), and report progress with :meth:`progress`. An error is kept in
    :attr:`error` and handed to ``on_error``; ``on_done`` runs last, whatever happened.

    Args:
        work: ``work(job)``; its return value becomes :attr:`result`.
        name: the thread's name.
        threaded: False runs ``work`` in the calling thread (scripts and tests).
        on_progress: called with ``(done, total, text)`` by :meth:`progress`.
        on_error: called with the exception ``work`` raised.
        on_done: called after ``work`` finished, stopped or failed.

    Example:
        >>> job = Job(lambda job: sum(range(4)), threaded=False).start()
        >>> job.result, job.error, job.running
        (6, None, False)
        >>> import time
        >>> slow = Job(lambda job: [time.sleep(0.01) for _ in iter(job.is_set, True)]).start()
        >>> slow.stop(); slow.wait(5)
        True
    """

    def __init__(
        self,
        work: Callable[[Job], Any],
        *,
        name: str = "sam2nb-job",
        threaded: bool = True,
        on_progress: Callable[[int, int, str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_done: Callable[[], None] | None = None,
    ):
        self.work, self.name, self.threaded = work, name, threaded
        self.on_progress, self.on_error, self.on_done = on_progress, on_error, on_done
        self.stop_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.done, self.total = 0, 0
        self._thread: threading.Thread | None = None
        self._started = False
        self._finished = threading.Event()

    def start(self) -> Job:
        """Start the work (in a daemon thread when threaded); returns the job."""
        if self._started:
            raise RuntimeError(f"job {self.name!r} was started already.")
        self._started = True
        if self.threaded:
            # the caller's OpenMP workers would make the new thread's torch work sleep
            # between operations (see sam2nb.base.openmp)
            release_workers()
            release_after_cells()  # and the main thread's, after the cell that made it
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        else:
            self._run()
        return self

    def _run(self) -> None:
        try:
            self.result = self.work(self)
        except BaseException as exc:  # noqa: BLE001 - kept, handed to on_error and wait()
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            try:
                if self.on_done is not None:
                    self.on_done()
            finally:
                self._finished.set()

    def progress(self, done: int, total: int, text: str = "") -> None:
        """Report progress (``done`` of ``total``) to ``on_progress``."""
        self.done, self.total = int(done), int(total)
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, text)

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the work and ``on_done`` are over."""
        return self._started and not self._finished.is_set()

    def stop(self) -> None:
        """Ask the work to stop (it stops at its next check; what finished is kept)."""
        self.stop_event.set()

    def is_set(self) -> bool:
        """Whether a stop was asked (so a job can be passed as ``stop=``)."""
        return self.stop_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is over; True if it is (False after ``timeout`` seconds)."""
        return self._finished.wait(timeout) if self._started else True

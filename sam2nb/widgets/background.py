"""Background work started by a widget: a :class:`~sam2nb.base.jobs.Job` that shows its error.

The apps' propagation and export, the picker's "segment everything" and the benchmark panel's
run all use :class:`WidgetJob`: the work runs in a background thread (or inline for scripts
and tests), its progress goes to the widget's bar, its error to the widget's red line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..base.jobs import Job


class WidgetJob(Job):
    """A :class:`~sam2nb.base.jobs.Job` whose error is shown in the widget that started it.

    An exception the work raises goes to ``show_error`` (the widget's status line and its
    ``errors``), like a button's error; it is not raised to the caller. Run inline
    (``threaded=False``), an interrupt (``KeyboardInterrupt``, ``SystemExit``) is not shown but
    raised again by :meth:`start`, after ``on_done``, as it would be without a job.

    Args:
        work: ``work(job)``; the job has ``is_set()`` (pass it as ``stop=``) and
            :meth:`~sam2nb.base.jobs.Job.progress`.
        show_error: the widget's ``show_error(exc)``.
        name: the thread's name.
        threaded: False runs ``work`` in the calling thread.
        on_progress: called with ``(done, total, text)`` by ``job.progress``.
        on_done: called after ``work`` finished, stopped or failed.

    Example:
        >>> shown = []
        >>> job = WidgetJob(lambda job: 1 / 0, show_error=shown.append, threaded=False).start()
        >>> type(shown[0]).__name__, job.running
        ('ZeroDivisionError', False)
    """

    def __init__(
        self,
        work: Callable[[Job], Any],
        *,
        show_error: Callable[[BaseException], None],
        name: str = "sam2nb-job",
        threaded: bool = True,
        on_progress: Callable[[int, int, str], None] | None = None,
        on_done: Callable[[], None] | None = None,
    ):
        super().__init__(
            work, name=name, threaded=threaded, on_progress=on_progress,
            on_error=self._show, on_done=on_done,
        )  # fmt: skip
        self.show_error = show_error

    def _show(self, exc: BaseException) -> None:
        if self.threaded or isinstance(exc, Exception):
            self.show_error(exc)

    def start(self) -> WidgetJob:
        """Start the work (see :meth:`~sam2nb.base.jobs.Job.start`); returns the job."""
        super().start()
        exc = self.error
        if not self.threaded and exc is not None and not isinstance(exc, Exception):
            raise exc
        return self

"""OpenMP's worker threads: hand back the calling thread's pool before work moves to another.

torch runs its CPU operations on OpenMP (GNU libgomp in the pip wheels). libgomp gives every
thread that runs torch a pool of worker threads of its own, kept until that thread ends. Its
workers spin between parallel regions only while libgomp manages no more threads than there are
cores; past that they sleep on a futex between regions. So once the kernel's main thread has run
torch (the model load, the clicks), a propagation in a background thread ran its many small
operations (copies, additions, layer norms, convolutions) 1.5-3 times slower: the image encoder
took 180-230 ms a frame in the thread against 130-150 ms on the main thread, with the test model
on 2 cores.

:func:`release_workers` ends the calling thread's pool (OpenMP 5's ``omp_pause_resource_all``,
which libgomp applies to the caller's pool only). :meth:`sam2nb.base.jobs.Job.start` calls it
before starting a background thread; the next torch call on the main thread makes a new pool
(a fraction of a millisecond).

A thread can only end its own pool, and in JupyterLab the clicks are not on the main thread:
with ipykernel 7, widget messages (a click on the picture, the propagate button) are handled in
a *subshell* thread while cells run on the main thread. A propagation started by its button was
then started from the subshell, and the pool the main thread made in the cell that loaded the
model and opened the app stayed: the propagation ran 1.3-1.9 times slower than from the main
thread. So the apps hand back their thread's pool after each edit, and
:func:`release_after_cells` has IPython do it for the main thread after every cell.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import Any

OMP_PAUSE_SOFT = 1  # omp_pause_soft: release the threads, keep what the program set
_lock = threading.Lock()
_found: list[Any] = []  # [the function, or None when there is none]


def _libgomp_pause() -> Any:
    """The ``omp_pause_resource_all`` of the libgomp this process loaded (None if none)."""
    with _lock:
        if _found:
            return _found[0]
        fn = None
        maps = Path("/proc/self/maps")
        if sys.platform.startswith("linux") and maps.exists():
            paths = {
                line.split(maxsplit=5)[-1].strip()
                for line in maps.read_text().splitlines()
                if "libgomp" in line and "/" in line
            }
            for path in sorted(paths):
                try:
                    fn = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | ctypes.RTLD_GLOBAL)
                    fn = getattr(fn, "omp_pause_resource_all", None)
                except OSError:
                    fn = None
                if fn is not None:
                    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
                    break
        if fn is not None:  # only once torch has loaded it: ask again later otherwise
            _found.append(fn)
        return fn


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's share, not the host's).

    Example:
        >>> usable_cores() >= 1
        True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def release_workers() -> bool:
    """End the calling thread's OpenMP worker pool, so that another thread's pool runs at speed.

    Call it on a thread that has run torch before another thread takes over the heavy work
    (as :class:`~sam2nb.base.jobs.Job` does when it starts a background thread). The calling
    thread's next parallel operation makes a new pool. Nothing happens where torch does not
    use GNU libgomp (macOS, Windows, Intel's OpenMP) or has not been imported yet.

    Returns:
        True if libgomp released the pool (or the thread had none).

    Example:
        >>> import torch
        >>> _ = torch.ones(1 << 20).sum()  # the main thread now has a worker pool
        >>> release_workers() in (True, False)  # False where torch does not use libgomp
        True
    """
    fn = _libgomp_pause()
    return fn is not None and fn(OMP_PAUSE_SOFT) == 0


def _after_cell(*_: Any) -> None:
    release_workers()


def release_after_cells(shell: Any = None) -> bool:
    """Have IPython end the main thread's OpenMP pool after every cell (its ``post_execute``).

    Cells run torch on the main thread (the model load, opening an app); the work that follows
    (a click, a propagation started by a button) runs on other threads, and only the main
    thread can end its own pool. The apps and background jobs call this; it registers once per
    shell. Outside IPython it does nothing.

    Args:
        shell: the IPython shell (default: the running one, if any).

    Returns:
        True if the shell ends the main thread's pool after each cell (now or already).

    Example:
        >>> release_after_cells()  # a plain Python process: no cells, nothing to do
        False
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython comes with Jupyter
            return False
        shell = get_ipython()
    events = getattr(shell, "events", None)
    if events is None:
        return False
    with _lock:  # IPython keeps a callback once: registering again changes nothing
        events.register("post_execute", _after_cell)
    return True

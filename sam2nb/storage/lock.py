"""One live session writes to a folder: a lock per folder, taken over within a kernel.

A session kept in a folder (see :mod:`sam2nb.storage.journal`) holds the folder's lock file,
``.sam2nb.lock``, as long as it lives. Another process that opens the folder for writing is
refused with a message naming the process (a ``sam2nb track`` run twice on the same output, a
second kernel on the same folder); reading it (``load_session(folder, in_memory=True)``) is
always allowed. The lock is an advisory ``flock``, so the system releases it when the process
dies, even by ``kill -9``: a crashed kernel never leaves a folder locked.

Within one kernel, a newer session on the same folder takes it over (re-running the notebook
cell that makes the app resumes the folder in a new app): the older session stops writing, and
any change made through it afterwards raises an error that says which session to use.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from ..base.errors import SessionError

try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".sam2nb.lock"

_held: dict[Path, tuple[int, weakref.ref]] = {}  # folder -> (lock fd, the session holding it)


def hold(folder: Path, owner: Any) -> None:
    """Make ``owner`` the one session writing to ``folder`` (see the module's notes).

    Raises:
        SessionError: another process holds the folder.
    """
    key = Path(folder).resolve()
    fd, prev = _held.get(key, (None, None))
    before = None if prev is None else prev()
    if fd is not None and not _same_file(fd, key / LOCK_NAME):  # the folder was moved aside
        os.close(fd)
        fd = None
    if fd is None:
        fd = _lock(key)
    if before is not None and before is not owner:
        before.taken_over(key)
    _held[key] = (fd, weakref.ref(owner, lambda _ref, key=key: _dropped(key, _ref)))


def release(folder: Path, owner: Any) -> None:
    """Let go of ``folder`` if ``owner`` holds it."""
    key = Path(folder).resolve()
    fd, ref = _held.get(key, (None, None))
    if ref is not None and ref() is owner:
        del _held[key]
        os.close(fd)


def holder_pid(folder: Path) -> int | None:
    """The id of another process holding ``folder``, or None when it is free (or ours)."""
    key = Path(folder).resolve()
    if key in _held or fcntl is None or not (key / LOCK_NAME).exists():
        return None
    fd = os.open(key / LOCK_NAME, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _pid_in(key / LOCK_NAME) or -1
    finally:
        os.close(fd)
    return None


def _lock(key: Path) -> int:
    fd = os.open(key / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:  # pragma: no cover - Windows
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        pid = _pid_in(key / LOCK_NAME)
        who = f"process {pid}" if pid else "another process"
        raise SessionError(
            f"{key} is in use by a live session in {who} (a kernel or a sam2nb command): close "
            "it there (session.close(), or stop that kernel or command) and try again. To look "
            f"without writing, use sam2nb.load_session({str(key)!r}, in_memory=True)."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _dropped(key: Path, ref: weakref.ref) -> None:
    """The holding session was garbage-collected: free the folder."""
    fd, held = _held.get(key, (None, None))
    if held is ref:
        del _held[key]
        os.close(fd)

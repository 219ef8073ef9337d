"""Session folders: whether one holds a session, and moving one aside (never deleting it).

A session kept in a folder has its journal in ``results.sqlite`` (:data:`RESULTS`) and a
readable summary in ``session.json`` (see :mod:`sam2nb.tracking.folder`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..base.errors import SessionError
from .journal import has_journal
from .lock import holder_pid

RESULTS = "results.sqlite"


def holds_session(folder: str | os.PathLike) -> bool:
    """Whether a folder holds a saved session.

    Example:
        >>> holds_session(sess.save(folder + "/run")), holds_session(folder + "/nowhere")
        (True, False)
    """
    f = Path(folder).expanduser()
    return (f / "session.json").is_file() or has_journal(f / RESULTS)


def check_folder_free(folder: Path) -> None:
    """Refuse to start a new session in a folder that holds one (never overwrite saved work)."""
    if (folder / "session.json").is_file() or has_journal(folder / "results.sqlite"):
        raise SessionError(
            f"{folder} holds a saved session already; nothing was changed. Resume it with "
            f"sam2nb.open_session({str(folder)!r}), or start over there with "
            f"sam2nb.open_session({str(folder)!r}, video, fresh=True), which moves the earlier "
            "session aside (it is never deleted)."
        )


def move_aside(folder: str | os.PathLike) -> Path:
    """Rename a session folder to ``<name>.<date-time>`` (never deleting it); returns the new path.

    Example:
        >>> aside = move_aside(sess.save(folder + "/old"))
        >>> aside.name.startswith("old."), holds_session(aside)
        (True, True)
    """
    src = Path(folder).expanduser()
    pid = holder_pid(src)
    if pid is not None:
        raise SessionError(
            f"{src} is in use by a live session in process {pid}: close it there first; "
            "nothing was moved."
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dst = src.with_name(f"{src.name}.{stamp}")
    k = 1
    while dst.exists():
        k += 1
        dst = src.with_name(f"{src.name}.{stamp}-{k}")
    src.rename(dst)
    return dst

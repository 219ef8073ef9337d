"""Where a session's changes go as they happen: its journal in a folder, or nowhere.

A session (video or image) owns one :class:`JournalWriter`. Giving it a journal makes the
session the one writing to the journal's folder (see :mod:`sam2nb.storage.lock`); a newer
session on the same folder in this kernel takes it over, and this one then refuses to write
(it says which folder and what to use instead) rather than write over the newer one's work.

Example:
    >>> w = JournalWriter()
    >>> w.folder is None  # in memory: writes go nowhere, transactions are no-ops
    True
    >>> with w.transaction():
    ...     w.append(s2.AddObject(1, "dog", (255, 0, 0)))
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ..base.errors import SessionError
from .journal import Journal
from .lock import hold, release


class JournalWriter:
    """A session's journal, the folder it holds, and the writes that go there."""

    def __init__(self) -> None:
        self._journal: Journal | None = None
        self._taken: Path | None = None  # the folder a newer session took over

    @property
    def journal(self) -> Journal | None:
        """The journal (None: kept in memory only, or taken over)."""
        return self._journal

    @journal.setter
    def journal(self, j: Journal | None) -> None:
        old = self._journal
        if j is not None and j.folder is not None:
            hold(j.folder, self)  # refused when another process writes there
        if old is not None and old.folder is not None and (j is None or j.folder != old.folder):
            release(old.folder, self)
        self._journal, self._taken = j, None

    @property
    def folder(self) -> Path | None:
        """The folder the journal is in (None: in memory only)."""
        return None if self._journal is None else self._journal.folder

    def taken_over(self, folder: Path) -> None:
        """A newer session in this kernel writes to ``folder`` now: stop writing."""
        self._journal, self._taken = None, folder

    def release(self) -> None:
        """Let another session or process write to the folder (on close)."""
        if self._journal is not None and self._journal.folder is not None:
            release(self._journal.folder, self)

    def check(self) -> None:
        """Refuse to write once a newer session took the folder over."""
        if self._taken is not None:
            raise SessionError(
                f"A newer session in this kernel opened {self._taken} (re-running the cell that "
                "made the app does that), so this one no longer saves: use the newer one, or "
                "sam2nb.open_session(folder) for it."
            )

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One commit for everything written inside (a no-op in memory)."""
        self.check()
        return self._journal.transaction() if self._journal else contextlib.nullcontext()

    def append(self, entry: Any) -> None:
        """Write a prompt log entry (nothing in memory)."""
        self.check()
        if self._journal is not None:
            self._journal.append(entry)

    def put(self, key: str, value: Any) -> None:
        """Keep a small JSON value (nothing in memory)."""
        if self._journal is not None:
            self._journal.put(key, value)

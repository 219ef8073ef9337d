"""The session journal: every prompt and every tracked frame on disk the moment it happens.

A session kept in a folder writes through to the folder's ``results.sqlite``: the masks and
scores (:class:`~sam2nb.storage.store.ResultStore`), and beside them, in the same database,

- ``log``: the prompt log, one row per entry (clicks, boxes, masks, clears, objects added,
  renamed or removed, propagations);
- ``sam2_state``: sam2's state as bytes: each object's prompts and their outputs per prompted
  frame (``prompt`` rows), and its tracking memory on the last frames tracked (``memory`` rows,
  the model's window), so tracking goes on exactly where it stopped;
- ``tracked``: which frames sam2 tracked, forward or backward, per object;
- ``session``: small JSON values (the video and model, the frames prompted since the last
  propagation, sam2's object order).

A click's mask, log entry and state are one SQLite transaction, as are a tracked frame's masks,
memory and mark: each is on disk when the call returns or the frame finishes, or not at all.
SQLite's write-ahead log survives the process being killed (``kill -9``, the out-of-memory
killer); a transaction cut short is detected by its checksums and dropped when the file is next
opened, so a reopened journal never holds half a record.

Example:
    >>> store = ResultStore(4, 3, folder + "/journal.sqlite")
    >>> j = Journal(store)
    >>> with j.transaction():
    ...     j.append(s2.AddObject(1, "dog", (255, 0, 0)))
    ...     j.put("dirty", [0])
    >>> [d["op"] for _, d in Journal(ResultStore.open(folder + "/journal.sqlite")).entries()]
    ['add_object']
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .store import ResultStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sam2_state (
    kind TEXT NOT NULL,
    obj_id INTEGER NOT NULL,
    frame_idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (kind, obj_id, frame_idx)
);
CREATE TABLE IF NOT EXISTS tracked (
    obj_id INTEGER NOT NULL,
    frame_idx INTEGER NOT NULL,
    reverse INTEGER NOT NULL,
    PRIMARY KEY (obj_id, frame_idx)
);
CREATE TABLE IF NOT EXISTS session (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

PROMPT, MEMORY, CONSTANTS = "prompt", "memory", "constants"


def has_journal(path: str | os.PathLike) -> bool:
    """Whether a results file holds a session journal (a ``log`` table).

    Example:
        >>> _ = Journal(ResultStore(4, 3, folder + "/journal.sqlite"))
        >>> has_journal(folder + "/journal.sqlite"), has_journal(folder + "/nothing.sqlite")
        (True, False)
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT name FROM sqlite_master WHERE name = 'log'").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return False
    return bool(rows)


def read_value(path: str | os.PathLike, key: str, default: Any = None) -> Any:
    """One JSON value of a journal file, read without opening the whole store."""
    db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT value FROM session WHERE key = ?", (key,)).fetchall()
    except sqlite3.DatabaseError:
        rows = []
    finally:
        db.close()
    return json.loads(rows[0][0]) if rows else default


class Journal:
    """A session's write-through record, in the database of its result store.

    Args:
        store: the session's result store (a file, for the record to outlive the process).
    """

    def __init__(self, store: ResultStore):
        self.store = store
        store.sql_script(SCHEMA)

    @property
    def folder(self) -> Path | None:
        """The folder of the journal's file (None for a store in memory)."""
        return None if self.store.path is None else self.store.path.parent

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One commit for everything written inside (see :meth:`ResultStore.transaction`)."""
        return self.store.transaction()

    def clear(self) -> None:
        """Empty the journal (the masks stay): before writing a whole session into it."""
        with self.transaction():
            for table in ("log", "sam2_state", "tracked", "session"):
                self.store.sql(f"DELETE FROM {table}")

    # -- the prompt log ----------------------------------------------------------------------
    def append(self, entry: Any) -> None:
        """Write a log entry (anything with ``to_json()``: a prompt log entry)."""
        self.store.sql("INSERT INTO log (entry) VALUES (?)", (json.dumps(entry.to_json()),))

    def extend(self, entries: Iterable[Any]) -> None:
        """Write several log entries."""
        self.store.sql_many(
            "INSERT INTO log (entry) VALUES (?)", ((json.dumps(e.to_json()),) for e in entries)
        )

    def entries(self) -> list[tuple[str, dict]]:
        """The prompt log's entries in order, as JSON, each with where it is kept (for errors).

        :meth:`PromptLog.from_journal <sam2nb.prompts.log.PromptLog.from_journal>` reads them.
        """
        rows = self.store.sql("SELECT seq, entry FROM log ORDER BY seq")
        where = f"{self.store.path or 'the journal'}"
        return [(f"{where}, log row {s}", json.loads(e)) for s, e in rows]

    def __len__(self) -> int:
        return self.store.sql("SELECT COUNT(*) FROM log")[0][0]

    # -- sam2's state ------------------------------------------------------------------------
    def put_state(self, kind: str, obj_id: int, frame_idx: int, data: bytes) -> None:
        """Keep (or, given ``b""``, forget) one object's ``kind`` of state on a frame."""
        if data:
            self.store.sql(
                "INSERT OR REPLACE INTO sam2_state VALUES (?, ?, ?, ?)",
                (kind, int(obj_id), int(frame_idx), data),
            )
        else:
            self.store.sql(
                "DELETE FROM sam2_state WHERE kind = ? AND obj_id = ? AND frame_idx = ?",
                (kind, int(obj_id), int(frame_idx)),
            )

    def states(self, kind: str) -> Iterator[tuple[int, int, bytes]]:
        """``(obj_id, frame_idx, data)`` of every ``kind`` row, in frame order."""
        rows = self.store.sql(
            "SELECT obj_id, frame_idx, data FROM sam2_state WHERE kind = ? "
            "ORDER BY frame_idx, obj_id",
            (kind,),
        )
        for o, f, d in rows:
            yield int(o), int(f), bytes(d)

    def keep_memory_near(self, frame_idx: int, window: int) -> None:
        """Forget tracking memory more than ``window`` frames from ``frame_idx``."""
        self.store.sql(
            "DELETE FROM sam2_state WHERE kind = ? AND ABS(frame_idx - ?) > ?",
            (MEMORY, int(frame_idx), int(window)),
        )

    def mark_tracked(self, frame_idx: int, obj_ids: Iterable[int], reverse: bool) -> None:
        """Record that sam2 tracked these objects on a frame."""
        self.store.sql_many(
            "INSERT OR REPLACE INTO tracked VALUES (?, ?, ?)",
            ((int(o), int(frame_idx), int(reverse)) for o in obj_ids),
        )

    def tracked(self) -> dict[int, dict[int, bool]]:
        """``{obj_id: {frame_idx: reverse}}`` of the frames sam2 tracked."""
        out: dict[int, dict[int, bool]] = {}
        for o, f, r in self.store.sql("SELECT obj_id, frame_idx, reverse FROM tracked"):
            out.setdefault(int(o), {})[int(f)] = bool(r)
        return out

    def tracked_frames(self) -> list[int]:
        """The frames any object was tracked on."""
        return [int(r[0]) for r in self.store.sql("SELECT DISTINCT frame_idx FROM tracked")]

    def forget(self, obj_id: int) -> None:
        """Drop an object's state and tracking marks (it was removed)."""
        self.store.sql("DELETE FROM sam2_state WHERE obj_id = ?", (int(obj_id),))
        self.store.sql("DELETE FROM tracked WHERE obj_id = ?", (int(obj_id),))

    # -- small values ------------------------------------------------------------------------
    def put(self, key: str, value: Any) -> None:
        """Keep a JSON value under ``key``."""
        self.store.sql("INSERT OR REPLACE INTO session VALUES (?, ?)", (key, json.dumps(value)))

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value under ``key``, or ``default``."""
        rows = self.store.sql("SELECT value FROM session WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

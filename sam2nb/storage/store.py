"""Result store: one compressed RLE mask per frame and object, with scores, in SQLite.

Masks are kept in the COCO run-length format (``pycocotools``), so a 1080p mask costs a few
hundred bytes instead of 2 MB. The store lives in memory by default, or in a file
("spilled to disk") so a 10,000-frame video does not grow the kernel's memory.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ..base.errors import Sam2nbError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS masks (
    frame_idx INTEGER NOT NULL,
    obj_id INTEGER NOT NULL,
    counts BLOB NOT NULL,
    area INTEGER NOT NULL,
    x0 REAL, y0 REAL, x1 REAL, y1 REAL,
    score REAL NOT NULL,
    iou REAL,
    reverse INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (frame_idx, obj_id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stale (
    frame_idx INTEGER NOT NULL,
    obj_id INTEGER NOT NULL,
    PRIMARY KEY (frame_idx, obj_id)
);
"""  # stale: masks tracked before a later prompt change upstream of them (see mark_stale)


@dataclass(frozen=True)
class MaskRecord:
    """One object's result on one frame.

    Attributes:
        frame_idx: the frame.
        obj_id: the object.
        rle: the mask as COCO compressed RLE (``{"size": [h, w], "counts": bytes}``).
        area: mask pixels.
        bbox: ``(x0, y0, x1, y1)`` in video pixels (None when the mask is empty).
        score: the object score logit (> 0: the model thinks the object is visible).
        iou: the model's predicted IoU of the mask (None if not available).
        reverse: whether the frame was reached by backward propagation.
    """

    frame_idx: int
    obj_id: int
    rle: dict = field(repr=False)
    area: int
    bbox: tuple[float, float, float, float] | None
    score: float
    iou: float | None
    reverse: bool = False

    @property
    def visible(self) -> bool:
        """Whether the model thinks the object is on this frame (score > 0)."""
        return self.score > 0

    def mask(self) -> np.ndarray:
        """The mask as a ``(H, W)`` bool array at video resolution."""
        return mask_utils.decode(self.rle).astype(bool)


def encode_masks(masks: Any) -> list[dict]:
    """Encode ``(N, H, W)`` bool masks (numpy or torch, any device) as COCO compressed RLE.

    On a GPU the run boundaries are found on the device, so only a few hundred integers per
    mask cross to the host.

    Example:
        >>> rle = encode_masks(np.eye(3, dtype=bool)[None])[0]
        >>> rle["size"], int(mask_utils.decode(rle).sum())
        ([3, 3], 3)
    """
    if isinstance(masks, np.ndarray):
        out = []
        for m in masks:
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            out.append(rle)
        return out
    import torch

    n, h, w = masks.shape
    flat = masks.to(torch.bool).transpose(1, 2).reshape(n, h * w)  # column-major, as COCO
    out = []
    for i in range(n):
        f = flat[i]
        change = torch.nonzero(f[1:] != f[:-1]).flatten() + 1
        bounds = change.cpu().numpy()
        first = bool(f[0].item())
        edges = np.concatenate(([0], bounds, [h * w]))
        counts = np.diff(edges).tolist()
        if first:
            counts = [0, *counts]
        out.append(mask_utils.frPyObjects({"counts": counts, "size": [h, w]}, h, w))
    return out


def rle_iou(a: dict, b: dict) -> float:
    """IoU of two COCO RLE masks of the same size, computed on the RLEs (no decoding).

    Example:
        >>> m = encode_masks(np.eye(4, dtype=bool)[None])[0]
        >>> rle_iou(m, m)
        1.0
    """
    return float(mask_utils.iou([a], [b], [0])[0, 0])


def _bbox(rle: dict, area: int) -> tuple[float, float, float, float] | None:
    if area == 0:
        return None
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    return (x, y, x + w, y + h)


class StoreError(Sam2nbError):
    """A result store file is missing, unreadable or for another video size."""


class ResultStore:
    """Per frame and object: RLE mask, object score, predicted IoU. Thread-safe.

    Args:
        width: video width in pixels.
        height: video height in pixels.
        path: a file to keep the results in (spill to disk); None keeps them in memory.

    Example:
        >>> store = ResultStore(4, 3)
        >>> _ = store.put(0, [1], np.ones((1, 3, 4), bool), scores=[2.0], ious=[0.9])
        >>> store.get(0, 1).area, store.masks(0)[1].shape
        (12, (3, 4))
    """

    def __init__(self, width: int, height: int, path: str | os.PathLike | None = None):
        self.width = int(width)
        self.height = int(height)
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        self._depth = 0  # open transaction() blocks
        self.stale_version = 0  # counts changes of the stale marks (a view re-reads them then)
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        size = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if size and (int(size["width"]), int(size["height"])) != (self.width, self.height):
            raise StoreError(
                f"{path} holds results for a {size['width']}x{size['height']} video, not "
                f"{self.width}x{self.height}: use another file or delete it."
            )
        self._db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('width', ?), ('height', ?)",
            (str(self.width), str(self.height)),
        )

    # -- writing ---------------------------------------------------------------------------
    def put(
        self,
        frame_idx: int,
        obj_ids: Iterable[int],
        masks: Any,
        *,
        scores: Iterable[float],
        ious: Iterable[float | None] | None = None,
        reverse: bool = False,
    ) -> list[MaskRecord]:
        """Store one frame's masks ``(N, H, W)`` (bool, or logits where > 0 is inside).

        Returns:
            The records written, in ``obj_ids`` order.
        """
        obj_ids = [int(o) for o in obj_ids]
        if masks.dtype != bool and str(masks.dtype) != "torch.bool":
            masks = masks > 0
        if tuple(masks.shape[-2:]) != (self.height, self.width):
            raise StoreError(
                f"masks are {tuple(masks.shape[-2:])} (h, w) but the store is for "
                f"{self.height}x{self.width} (h x w)."
            )
        rles = encode_masks(masks.reshape(-1, self.height, self.width))
        scores = [float(s) for s in scores]
        ious = (
            [None] * len(obj_ids)
            if ious is None
            else [None if v is None else float(v) for v in ious]
        )
        records = []
        for oid, rle, score, iou in zip(obj_ids, rles, scores, ious, strict=True):
            area = int(mask_utils.area(rle))
            bbox = _bbox(rle, area)
            records.append(
                MaskRecord(int(frame_idx), oid, rle, area, bbox, score, iou, bool(reverse))
            )
        self._write(records)
        return records

    def put_record(self, record: MaskRecord) -> None:
        """Store a record read before (an undo puts a frame's earlier mask back), as it was.

        Example:
            >>> store = ResultStore(4, 2)
            >>> (rec,) = store.put(0, [1], np.ones((1, 2, 4), bool), scores=[0.9])
            >>> _ = store.delete(obj_id=1)
            >>> store.put_record(rec)
            >>> store.get(0, 1) == rec
            True
        """
        self._write([record])

    def _write(self, records: list[MaskRecord]) -> None:
        rows = [
            (r.frame_idx, r.obj_id, r.rle["counts"], r.area, *(r.bbox or (None,) * 4), r.score,
             r.iou, int(r.reverse))
            for r in records
        ]  # fmt: skip
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO masks VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows
            )
            cur = self._db.executemany(  # a mask written now is made with the prompts of now
                "DELETE FROM stale WHERE frame_idx = ? AND obj_id = ?", [r[:2] for r in rows]
            )
            self.stale_version += cur.rowcount > 0

    def delete(self, *, obj_id: int | None = None, frames: Iterable[int] | None = None) -> int:
        """Delete the results of an object and/or some frames; returns how many went."""
        where, args = [], []
        if obj_id is not None:
            where.append("obj_id = ?")
            args.append(int(obj_id))
        if frames is not None:
            fr = [int(f) for f in frames]
            where.append(f"frame_idx IN ({','.join('?' * len(fr))})")
            args.extend(fr)
        cond = " WHERE " + " AND ".join(where) if where else ""
        with self._lock:
            self.stale_version += self._db.execute("DELETE FROM stale" + cond, args).rowcount > 0
            return self._db.execute("DELETE FROM masks" + cond, args).rowcount

    # -- stale masks: tracked before a prompt change that the next propagation re-tracks ------
    def mark_stale(self, obj_id: int, frame_idx: int, keep: Iterable[int] = ()) -> list[int]:
        """Mark the masks a prompt change on ``frame_idx`` makes stale; the frames newly marked.

        Those are the object's masks that tracking reached through that frame: the run of
        forward-tracked frames right after it and of backward-tracked frames right before it
        (what a propagation from it tracks again). Frames in ``keep`` (the object's prompted
        frames) are passed through but not marked. A mask written later (:meth:`put`) is fresh.

        Example:
            >>> store = ResultStore(4, 3)
            >>> for f in range(5):
            ...     _ = store.put(f, [1], np.ones((1, 3, 4), bool), scores=[1.0], reverse=f < 2)
            >>> store.mark_stale(1, 2), store.stale_frames(1)  # 0-1 tracked backward from 2
            ([0, 1, 3, 4], [0, 1, 3, 4])
            >>> _ = store.put(3, [1], np.ones((1, 3, 4), bool), scores=[1.0])  # re-tracked
            >>> store.stale_frames(), store.is_stale(4, 1), store.mark_stale(1, 3, keep=[4])
            ([0, 1, 4], True, [])
        """
        keep = {int(f) for f in keep}
        o, f0 = int(obj_id), int(frame_idx)
        frames: list[int] = []
        with self._lock:
            for reverse, sql in ((1, "frame_idx < ? ORDER BY frame_idx DESC"),
                                 (0, "frame_idx > ? ORDER BY frame_idx")):  # fmt: skip
                rows = self._db.execute(
                    "SELECT frame_idx, reverse FROM masks WHERE obj_id = ? AND " + sql, (o, f0)
                )
                step, expect = (-1, f0 - 1) if reverse else (1, f0 + 1)
                for f, rev in rows:  # the run of frames tracked through f0, that way
                    if f != expect or (f not in keep and rev != reverse):
                        break
                    if f not in keep:
                        frames.append(f)
                    expect += step
            frames.sort()
            stale = {r[0] for r in self._db.execute(
                "SELECT frame_idx FROM stale WHERE obj_id = ?", (o,))}  # fmt: skip
            frames = [f for f in frames if f not in stale]
            self._db.executemany("INSERT INTO stale VALUES (?, ?)", [(f, o) for f in frames])
            self.stale_version += bool(frames)
        return frames

    def clear_stale(self, obj_id: int, frames: Iterable[int]) -> None:
        """Unmark an object's masks on ``frames`` (an undo; a converged pass's kept frames)."""
        rows = [(int(f), int(obj_id)) for f in frames]
        with self._lock:
            cur = self._db.executemany("DELETE FROM stale WHERE frame_idx = ? AND obj_id = ?", rows)
            self.stale_version += cur.rowcount > 0

    def stale_frames(self, obj_id: int | None = None) -> list[int]:
        """The frames holding a stale mask (of one object, or of any)."""
        return self._frames_in("stale", obj_id)

    def is_stale(self, frame_idx: int, obj_id: int) -> bool:
        """Whether the object's mask on that frame was tracked before a later prompt change."""
        rows = self._query(
            "SELECT 1 FROM stale WHERE frame_idx = ? AND obj_id = ?", (int(frame_idx), int(obj_id))
        )
        return bool(rows)

    # -- transactions and raw SQL (the session journal shares this database) ----------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit: all of them are on disk, or none (nested: one).

        In a file store each commit survives the process being killed (SQLite's write-ahead
        log); a commit cut short is rolled back when the file is next opened.

        Example:
            >>> store = ResultStore(4, 3)
            >>> with store.transaction():
            ...     _ = store.put(0, [1], np.ones((1, 3, 4), bool), scores=[1.0])
            ...     _ = store.put(1, [1], np.ones((1, 3, 4), bool), scores=[1.0])
            >>> len(store)
            2
        """
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def sql(self, statement: str, args: Iterable[Any] = ()) -> list[tuple]:
        """Run one SQL statement on the store's database; returns its rows.

        Example:
            >>> ResultStore(4, 3).sql("SELECT value FROM meta WHERE key = 'width'")
            [('4',)]
        """
        with self._lock:
            return self._db.execute(statement, tuple(args)).fetchall()

    def sql_many(self, statement: str, rows: Iterable[Iterable[Any]]) -> None:
        """Run one SQL statement for each row of arguments."""
        with self._lock:
            self._db.executemany(statement, rows)

    def sql_script(self, script: str) -> None:
        """Run several SQL statements (table definitions) outside any transaction."""
        with self._lock:
            self._db.executescript(script)

    # -- reading ---------------------------------------------------------------------------
    def _record(self, row: tuple) -> MaskRecord:
        f, o, counts, area, x0, y0, x1, y1, score, iou, rev = row
        rle = {"size": [self.height, self.width], "counts": bytes(counts)}
        bbox = None if x0 is None else (x0, y0, x1, y1)
        return MaskRecord(f, o, rle, area, bbox, score, iou, bool(rev))

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def get(self, frame_idx: int, obj_id: int) -> MaskRecord | None:
        """One object's result on one frame, or None."""
        rows = self._query(
            "SELECT * FROM masks WHERE frame_idx = ? AND obj_id = ?", (int(frame_idx), int(obj_id))
        )
        return self._record(rows[0]) if rows else None

    def frame(self, frame_idx: int) -> dict[int, MaskRecord]:
        """All objects' results on a frame, by ``obj_id``."""
        rows = self._query(
            "SELECT * FROM masks WHERE frame_idx = ? ORDER BY obj_id", (int(frame_idx),)
        )
        return {r[1]: self._record(r) for r in rows}

    def masks(self, frame_idx: int, obj_ids: Iterable[int] | None = None) -> dict[int, np.ndarray]:
        """A frame's masks at video resolution, ``{obj_id: (H, W) bool}``."""
        recs = self.frame(frame_idx)
        wanted = recs if obj_ids is None else {o: recs[o] for o in obj_ids if o in recs}
        return {o: r.mask() for o, r in wanted.items()}

    def frames(self, obj_id: int | None = None) -> list[int]:
        """The frames that have results (for one object, or any)."""
        return self._frames_in("masks", obj_id)

    def _frames_in(self, table: str, obj_id: int | None) -> list[int]:
        if obj_id is None:
            rows = self._query(f"SELECT DISTINCT frame_idx FROM {table} ORDER BY frame_idx")
        else:
            rows = self._query(
                f"SELECT frame_idx FROM {table} WHERE obj_id = ? ORDER BY frame_idx",
                (int(obj_id),),
            )
        return [r[0] for r in rows]

    def obj_ids(self) -> list[int]:
        """The objects that have results."""
        return [r[0] for r in self._query("SELECT DISTINCT obj_id FROM masks ORDER BY obj_id")]

    def records(self, obj_id: int | None = None) -> Iterator[MaskRecord]:
        """Every record in frame order (for one object, or all), read in chunks."""
        last = (-1, -1)
        while True:
            sql = "SELECT * FROM masks WHERE (frame_idx, obj_id) > (?, ?)"
            args: tuple = last
            if obj_id is not None:
                sql += " AND obj_id = ?"
                args = (*last, int(obj_id))
            rows = self._query(sql + " ORDER BY frame_idx, obj_id LIMIT 512", args)
            if not rows:
                return
            for r in rows:
                yield self._record(r)
            last = (rows[-1][0], rows[-1][1])

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM masks")[0][0]

    def __contains__(self, key: tuple[int, int]) -> bool:
        return self.get(*key) is not None

    @property
    def mask_bytes(self) -> int:
        """Bytes of RLE data held (masks only)."""
        return int(self._query("SELECT COALESCE(SUM(LENGTH(counts)), 0) FROM masks")[0][0])

    @property
    def bytes_per_entry(self) -> float:
        """Average stored bytes per frame-object: RLE plus the 9 numbers kept with it."""
        n = len(self)
        return 0.0 if n == 0 else self.mask_bytes / n + 9 * 8

    # -- files -----------------------------------------------------------------------------
    def flush(self) -> None:
        """Fold SQLite's write-ahead log into the database file (a no-op in memory).

        Example:
            >>> ResultStore(4, 3).flush()
        """
        if self.path is None:
            return
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the store to ``path`` atomically (a temporary file, then a rename).

        Example:
            >>> import tempfile; d = tempfile.mkdtemp()
            >>> ResultStore(4, 3).save(d + "/results.sqlite").name
            'results.sqlite'
        """
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        dst = sqlite3.connect(str(tmp))
        try:
            with self._lock:
                self._db.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
        os.replace(tmp, path)
        return path

    @classmethod
    def open(cls, path: str | os.PathLike, *, spill: bool = False) -> ResultStore:
        """Open a saved store: copied into memory, or used in place with ``spill=True``."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"No result store at {path}: save a session there first.")
        try:
            src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            meta = dict(src.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a sam2nb result store ({exc}).") from exc
        store = cls(int(meta["width"]), int(meta["height"]), path if spill else None)
        if not spill:
            with store._lock:
                src.backup(store._db)
                store._db.executescript(_SCHEMA)  # a store saved before a table was added
        src.close()
        return store

    def close(self) -> None:
        """Close the database (a file store keeps its contents)."""
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"ResultStore({len(self)} masks, {self.width}x{self.height}, in {where})"


@dataclass
class FrameResult:
    """What the session knows about one frame after a prompt or a propagation step.

    Attributes:
        frame_idx: the frame.
        records: ``{obj_id: MaskRecord}`` for every object with a result on this frame.
        logits: ``{obj_id: (H, W) torch tensor}``, sam2's mask logits at video resolution
            for the objects the step computed (on the model's device), or None.
        previous: after a prompt, ``{obj_id: MaskRecord}`` the prompted object had on this
            frame before it (a tracked mask, for an exact undo); empty otherwise.
    """

    frame_idx: int
    records: dict[int, MaskRecord]
    logits: Any = field(default=None, repr=False)
    previous: dict[int, MaskRecord] = field(default_factory=dict, repr=False)

    @property
    def obj_ids(self) -> list[int]:
        """The objects with a result on this frame."""
        return list(self.records)

    def masks(self) -> dict[int, np.ndarray]:
        """``{obj_id: (H, W) bool}`` at video resolution."""
        return {o: r.mask() for o, r in self.records.items()}

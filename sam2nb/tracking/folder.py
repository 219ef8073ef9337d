"""Keep a tracking session in a folder (resume it with :mod:`sam2nb.tracking.resume`).

A session folder holds::

    results.sqlite   the journal: every mask (RLE) and score, the prompt log, sam2's state
                     (prompts, their outputs, the memory of the last frames tracked), written
                     through as it happens (see sam2nb.storage.journal)
    session.json     a readable summary: the video, the model, the objects, the counts and
                     the prompt log as of the last save or propagation

A session made with a folder (``Session(video, folder=...)``, every app session) or resumed
from one is kept there as it happens: a killed kernel loses at most the frame in flight.
:func:`save_session` copies a session into another folder (atomically: the database is
written under a temporary name and renamed into place).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from ..base.errors import SessionError
from ..base.files import atomic_write
from ..prompts.log import PROMPT_OPS
from ..storage.folders import RESULTS, check_folder_free
from ..storage.journal import Journal
from ..storage.store import ResultStore
from .record import write_all

if TYPE_CHECKING:
    from .session import Session

FORMAT = 2


def meta_of(sess: Session) -> dict:
    """What ``session.json`` says of a session (its video, model and settings)."""
    v = sess.video
    return {
        "format": FORMAT,
        "sam2nb_version": __version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": sess.engine.name,
        "model_label": sess.engine.label,
        "untrained": sess.engine.untrained,
        "video": {
            "path": None if v.path is None else str(Path(v.path).resolve()),
            "start": v.frame_range.start,
            "end": v.frame_range.stop,
            "stride": v.frame_range.step,
            "max_side": v.max_side,
            "num_frames": len(v),
            "size": list(v.size),
            "fps": v.fps,
        },
        "memory": sess.memory,
        "corrections_as_cond": sess.corrections_as_cond,
        "objects": [o.to_json() for o in sess.objects.values()],
        "num_prompts": sum(1 for e in sess.log if e.op in PROMPT_OPS),
        "num_masks": len(sess.results),
        "journal": RESULTS,
        # a snapshot for readers of this file; results.sqlite holds the log as it happens
        "prompt_log": sess.log.to_json(),
    }


def write_meta(sess: Session, folder: str | os.PathLike) -> None:
    """Write ``session.json`` (atomically) and the same in the journal."""
    meta = meta_of(sess)
    if sess.journal is not None and sess.folder == Path(folder):
        sess.journal.put("meta", meta)
    atomic_write(Path(folder) / "session.json", json.dumps(meta, indent=1).encode())


def journal_everything(sess: Session, j: Journal) -> None:
    """Write a whole session into an empty journal: its log, the tracker's state, the meta."""
    with j.transaction():
        write_all(sess, j)
        j.put("meta", meta_of(sess))


def _remove_sidecars(db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def _write_copy(sess: Session, db: Path) -> None:
    """Write the session into a new database file ``db`` (a temporary name, then renamed)."""
    tmp = db.with_name(db.name + ".new")
    tmp.unlink(missing_ok=True)
    _remove_sidecars(tmp)
    sess.results.save(tmp)  # a copy of the whole database: the journal's tables too
    if sess.journal is None:
        copy = ResultStore.open(tmp, spill=True)
        try:
            j = Journal(copy)
            j.clear()  # a copy of a loaded journal (in_memory=True) holds the old one
            journal_everything(sess, j)
        finally:
            copy.close()
    _remove_sidecars(db)  # a stale write-ahead log must never be read with the new file
    os.replace(tmp, db)


def attach(sess: Session, folder: str | os.PathLike) -> Path:
    """Keep a session in ``folder`` from now on: what it has now, then every change.

    The folder must not hold a session (see :func:`sam2nb.open_session` to resume one).

    ``Session(video, folder=...)`` and setting :attr:`Session.folder <sam2nb.Session.folder>`
    do this.
    """
    out = Path(folder).expanduser()
    if sess.journal is not None:
        if sess.folder == out:
            return out
        raise SessionError(
            f"This session is kept in {sess.folder} already (it stays there); copy it "
            f"elsewhere with session.save({str(out)!r})."
        )
    check_folder_free(out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / RESULTS
    _write_copy(sess, db)
    old = sess.results
    sess.results = ResultStore.open(db, spill=True)
    sess.journal = Journal(sess.results)
    old.close()
    write_meta(sess, out)
    return out


def save_session(sess: Session, folder: str | os.PathLike | None = None) -> Path:
    """Save a session to a folder (atomically); a later save to the same folder replaces it.

    A session kept in a folder is on disk already: saving it there only refreshes
    ``session.json``. Saving into another folder copies it; the session stays kept where it was.

    Args:
        sess: the session.
        folder: where (default: the session's own folder).

    Returns:
        The folder.

    Example:
        >>> sorted(p.name for p in save_session(sess, folder + "/run").iterdir())
        ['results.sqlite', 'session.json']
    """
    target = folder if folder is not None else sess.folder
    if target is None:
        raise SessionError("Where to? Give a folder: session.save('runs/my-video').")
    out = Path(target).expanduser()
    if (
        sess.journal is not None
        and sess.folder is not None
        and out.resolve() == sess.folder.resolve()
    ):
        sess.results.flush()
        write_meta(sess, out)
        return out
    out.mkdir(parents=True, exist_ok=True)
    _write_copy(sess, out / RESULTS)
    (out / "state.pt").unlink(missing_ok=True)  # an older format's file, now in the database
    atomic_write(out / "session.json", json.dumps(meta_of(sess), indent=1).encode())
    return out

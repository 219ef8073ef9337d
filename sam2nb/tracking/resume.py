"""Resume a saved session, or replay its prompts on another model or video.

See :mod:`sam2nb.tracking.folder` for what a saved folder holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..base.errors import SessionError
from ..media.video import VideoSource, open_video
from ..model import engine as modelmod
from ..model.tracker import Resumable
from ..prompts.checks import TrackedObject
from ..prompts.log import PROMPT_OPS, PromptLog, as_log, objects_in, read_log
from ..storage.folders import RESULTS, check_folder_free, holds_session, move_aside
from ..storage.journal import Journal, has_journal, read_value
from ..storage.store import ResultStore
from .folder import journal_everything, write_meta
from .record import read_all
from .session import Session

FORMATS = (1, 2)


def _read_meta(folder: Path) -> dict:
    p = folder / "session.json"
    db = folder / RESULTS
    if not p.is_file() and not has_journal(db):
        raise SessionError(
            f"No saved session in {folder} (no session.json): check the folder name."
        )
    meta: dict | None = None
    if p.is_file():
        try:
            meta = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            if not has_journal(db):
                raise SessionError(
                    f"{p} is damaged ({exc}); an older save may be in a backup."
                ) from exc
    if has_journal(db):  # the journal is the record; session.json a summary of it
        meta = read_value(db, "meta", meta)
    if meta is None or meta.get("format") not in FORMATS:
        fmt = None if meta is None else meta.get("format")
        raise SessionError(
            f"{p} has format {fmt}; this sam2nb reads formats {FORMATS}: update sam2nb."
        )
    return meta


def _engine_for(meta: dict, engine: Any) -> modelmod.Engine:
    if engine is None:
        cur = modelmod.current()
        engine = (
            cur if cur is not None and cur.name == meta["model"] else modelmod.load(meta["model"])
        )
    return engine


def _video_for(meta: dict, video: Any, folder: Path, shorter: bool = False) -> Any:
    ref = meta["video"]
    if video is None:
        if ref["path"] is None:
            raise SessionError(
                f"The session in {folder} was made from frames in memory: pass them again, "
                "sam2nb.load_session(folder, video=frames)."
            )
        if not Path(ref["path"]).exists():
            raise SessionError(
                f"The session's video {ref['path']} is missing: pass its new location, "
                f"sam2nb.load_session({str(folder)!r}, video='path/to/video')."
            )
        video = ref["path"]
    src = open_video(
        video, start=ref["start"], end=ref["end"], stride=ref["stride"], max_side=ref["max_side"]
    ) if not isinstance(video, VideoSource) else video  # fmt: skip
    cut = shorter and len(src) < ref["num_frames"]  # a damaged file, now read up to end=
    if (len(src) != ref["num_frames"] and not cut) or list(src.size) != ref["size"]:
        raise SessionError(
            f"{src.name} has {len(src)} frames of {src.size[0]}x{src.size[1]}, but the session "
            f"was made on {ref['num_frames']} frames of {ref['size'][0]}x{ref['size'][1]}: pass "
            "the same video."
        )
    return src


def load_session(
    folder: str | os.PathLike,
    *,
    engine: modelmod.Engine | None = None,
    video: Any = None,
    memory: str | None = None,
    spill: bool = False,
    in_memory: bool = False,
    shorter: bool = False,
) -> Session:
    """Resume a saved session in a fresh kernel: objects, prompts, results, sam2's state.

    Everything the journal holds comes back, after a clean stop or a killed kernel alike:
    every prompt whose call returned, every tracked frame that finished, the objects with
    their names and colours, and sam2's memory of the last frames tracked, so tracking goes on
    exactly where it stopped.

    Args:
        folder: the saved session.
        engine: the model (default: load the variant the session was made with).
        video: the video, if it moved (default: the saved path).
        memory: override the memory mode.
        spill: keep results in the folder's file instead of copying them into memory.
        in_memory: work on a copy in memory and leave the folder as it is (default: the
            session stays kept in ``folder`` as it goes on, every prompt and frame written
            there).
        shorter: accept the same video cut shorter (opened with an earlier ``end=`` after a
            frame could not be decoded), if nothing was prompted or tracked past its end.

    Example:
        >>> _ = sess.save(folder + "/run")
        >>> again = load_session(folder + "/run")
        >>> again.log == sess.log, list(again.objects), again.prompt_frames()
        (True, [1], [0])
        >>> again.run(progress=False)  # a resumed session tracks on
        8
    """
    folder = Path(folder).expanduser()
    meta = _read_meta(folder)
    engine = _engine_for(meta, engine)
    if engine.name != meta["model"]:
        raise SessionError(
            f"The session in {folder} was made with {meta['model']!r}, not {engine.name!r}. "
            f"To re-run its prompts on {engine.name!r}: "
            f"sam2nb.replay({str(folder)!r}, engine=engine)."
        )
    src = _video_for(meta, video, folder, shorter)
    db = folder / RESULTS
    journaled = has_journal(db)
    if not journaled and (meta.get("format", 1) >= 2 or not (folder / "state.pt").is_file()):
        raise SessionError(
            f"{db} is missing or damaged, and it holds the session (session.json is only a "
            "summary): restore it from a backup, or start over with "
            f"sam2nb.open_session({str(folder)!r}, video, fresh=True)."
        )
    store = ResultStore.open(db, spill=spill or not in_memory)
    sess = Session(
        src, engine, memory=memory or meta["memory"], results=store,
        corrections_as_cond=meta.get("corrections_as_cond", True),
    )  # fmt: skip
    if journaled:
        j = Journal(store)
        if not isinstance(sess.tracker, Resumable) and (len(j) or j.tracked_frames()):
            store.close()
            sess.close()
            raise SessionError(
                f"The session in {folder} was made with {engine.name}, whose tracker does not "
                "keep its state in the folder, so it cannot go on where it stopped (yet): "
                f"sam2nb.replay({str(folder)!r}, engine=sam2nb.load({engine.name!r})) tracks its "
                "prompts again in a new session; the folder stays as it is."
            )
        if len(src) < meta["video"]["num_frames"]:
            late = [f for f in (*j.tracked_frames(), *sess.results.frames()) if f >= len(src)]
            if late:
                store.close()
                raise SessionError(
                    f"The session in {folder} has results up to frame {max(late)}, past the "
                    f"end of {src.name} ({len(src)} frames): pass the same video."
                )
        _restore(sess, j)
        if not in_memory and store.path is not None:
            sess.journal = j
    else:  # format 1: the log in session.json, sam2's state in state.pt
        _restore_v1(sess, meta, folder)
        if not in_memory:  # from now on kept as it happens, in this folder
            j = Journal(store)
            journal_everything(sess, j)
            sess.journal = j
            write_meta(sess, folder)
            (folder / "state.pt").unlink(missing_ok=True)
    sess.resumed = summary(sess)
    return sess


def summary(sess: Session) -> str:
    """What a session holds, in words: "2 objects, 7 prompts, 200 frames tracked".

    Example:
        >>> summary(sess)  # sess: one click on frame 0
        '1 object, 1 prompt, 1 frame tracked'
    """
    n_obj = len(sess.objects)
    n_prompts = sum(1 for e in sess.log if e.op in PROMPT_OPS)
    n_frames = len(sess.results.frames())
    return (
        f"{n_obj} object{'s' * (n_obj != 1)}, {n_prompts} prompt{'s' * (n_prompts != 1)}, "
        f"{n_frames} frame{'s' * (n_frames != 1)} tracked"
    )


def _restore(sess: Session, j: Journal) -> None:
    """Rebuild a session from its journal: log, objects, the tracker's prompts, memory, marks."""
    sess.log = PromptLog.from_journal(j)
    sess.objects = objects_in(sess.log)
    read_all(sess, j)
    sess.dirty = set(j.get("dirty", []))
    sess.set_unfinished(j.get("run"))


def _restore_v1(sess: Session, meta: dict, folder: Path) -> None:
    import torch

    for o in meta["objects"]:
        sess.objects[o["obj_id"]] = TrackedObject(o["obj_id"], o["name"], tuple(o["color"]))
    sess.log = PromptLog.from_json(meta["prompt_log"], f"{folder / 'session.json'}")
    sess.dirty = set(meta.get("dirty", []))
    saved = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    sess.tracker.load_v1(saved)


def open_session(
    folder: str | os.PathLike,
    video: Any = None,
    engine: modelmod.Engine | None = None,
    *,
    fresh: bool = False,
    **session_kwargs: Any,
) -> Session:
    """The session kept in ``folder``: resumed if the folder holds one, else a new one there.

    Resuming is the default, so re-running a notebook after a kernel restart comes back with
    the work. ``fresh=True`` starts over: the earlier session is moved aside to
    ``<folder>.<date-time>``, never overwritten or deleted. :attr:`Session.resumed` says
    what came back (None for a new session).

    Args:
        folder: the session's folder.
        video: the video (needed for a new session; for a resume, only if it moved).
        engine: the model (default: the one the session was made with, or the current one).
        fresh: start a new session, moving an earlier one aside.
        **session_kwargs: for a new :class:`~sam2nb.Session` (``memory=``, ...).

    Example:
        >>> first = open_session(folder + "/work", clip, engine)
        >>> first.resumed is None, first.add_object().obj_id
        (True, 1)
        >>> open_session(folder + "/work").resumed  # after a restart: the work is back
        '1 object, 0 prompts, 0 frames tracked'
    """
    folder = Path(folder).expanduser()
    aside = None
    if holds_session(folder):
        if not fresh:
            kw = {k: v for k, v in session_kwargs.items() if k == "memory"}
            return load_session(folder, engine=engine, video=video, **kw)
        aside = move_aside(folder)
    if video is None:
        raise SessionError(
            f"There is no session in {folder} yet: give the video, "
            f"sam2nb.open_session({str(folder)!r}, 'clip.mp4')."
        )
    check_folder_free(folder)
    sess = Session(video, engine, folder=folder, **session_kwargs)
    sess.moved_aside = aside
    return sess


def replay(
    log: str | os.PathLike | list[dict],
    *,
    engine: modelmod.Engine | None = None,
    video: Any = None,
    progress: bool = True,
    **session_kwargs: Any,
) -> Session:
    """Re-run a prompt log (a saved session folder, a JSON file or a list) on a model.

    Use it to try the same clicks on another variant, e.g. after choosing a bigger model.

    Example:
        >>> _ = sess.save(folder + "/run")
        >>> same = replay(folder + "/run", engine=engine, progress=False)
        >>> same.log == sess.log
        True
        >>> big = replay("runs/bedroom", engine=s2.load("large"))  # doctest: +SKIP
    """
    if isinstance(log, (str, os.PathLike)):
        p = Path(log).expanduser()
        if p.is_dir():
            meta = _read_meta(p)
            entries = saved_log(p)
            if video is None:
                video = _video_for(meta, None, p)
        else:
            entries = read_log(p)
    else:
        entries = as_log(log)
    if video is None:
        raise SessionError("replay needs the video: replay(log, video='clip.mp4').")
    return entries.replay(Session(video, engine, **session_kwargs), progress=progress)


def app_session(
    video: Any,
    engine: Any = None,
    folder: Any = "default",
    *,
    fresh: bool = False,
    memory: str = "auto",
) -> tuple[Session, str]:
    """The session an app works on, kept in ``folder``, and what to tell the user about it.

    ``folder="default"`` is ``sam2nb_sessions/<video name>`` (None: in memory only).

    A folder that holds a session is resumed (unless ``fresh``: then it is moved aside). A
    :class:`~sam2nb.Session` passed in is kept in the folder; if the folder holds a session
    and the one passed in has no work yet (a notebook re-run after a restart), the saved one
    is resumed in its place; one with work of its own is never mixed with the saved one.

    Example:
        >>> kept, said = app_session(clip, engine, folder + "/app")
        >>> kept.folder.name, said
        ('app', '')
        >>> again, said = app_session(clip, engine, folder + "/app")  # after a restart
        >>> said.split(",")[0]
        'resumed: 0 objects'
    """
    given = video if isinstance(video, Session) else None
    if folder == "default":
        if given is not None and given.folder is not None:
            folder = given.folder
        else:
            name = given.video.name if given is not None else open_video(video).name
            folder = Path("sam2nb_sessions") / Path(name).stem
    if folder is None:
        return (given or Session(video, engine, memory=memory)), ""
    folder = Path(folder).expanduser()
    if given is None:
        sess = open_session(folder, video, engine, fresh=fresh, memory=memory)
    elif given.folder is not None and given.folder.resolve() == folder.resolve():
        return given, f"Session kept in {folder}."
    elif holds_session(folder) and not fresh:
        if len(given.log) or given.objects:
            raise SessionError(
                f"{folder} holds a saved session, and this session has work of its own: "
                "nothing was changed. Pass folder='another/folder' to keep this one there, "
                "fresh=True to move the saved one aside, or leave the session out to resume "
                "the saved one."
            )
        engine, src = given.engine, given.video
        given.close()
        sess = load_session(folder, engine=engine, video=src)
    else:
        aside = move_aside(folder) if fresh and holds_session(folder) else None
        given.folder = folder
        given.moved_aside = aside
        sess = given
    return sess, opened_message(sess)


def opened_message(sess: Any) -> str:
    """What an app tells the user about the session it opened: resumed, fresh, or nothing.

    Example:
        >>> opened_message(sess)  # a session made in memory
        ''
    """
    if sess.resumed:
        return (
            f"resumed: {sess.resumed}, from {sess.folder}.{cut_off_note(sess)} To start over: "
            "fresh=True (the earlier session is moved aside, not deleted)."
        )
    if sess.moved_aside is not None:
        return f"Started fresh in {sess.folder}; the earlier session is in {sess.moved_aside}."
    return ""


def cut_off_note(sess: Any) -> str:
    """A propagation that was stopped or killed, and stale masks, in a sentence ("" if none).

    Example:
        >>> cut_off_note(sess)  # sess: nothing stopped half-way
        ''
    """
    parts = []
    run = getattr(sess, "unfinished", None)
    if run is not None:
        way = "backward" if run.get("reverse") else "forward"
        how = " (only what changed)" if run.get("converge") else ""
        parts.append(f" A {run['direction']} propagation{how} was cut off after frame "
                     f"{run['last']} ({way}): {run['direction']} goes on from there.")  # fmt: skip
    stale = len(sess.results.stale_frames()) if hasattr(sess.results, "stale_frames") else 0
    if stale:
        parts.append(f" {stale} frame{'s' * (stale != 1)} hold masks tracked before the last "
                     "prompt change (stale): tracking renews them.")  # fmt: skip
    return "".join(parts)


def saved_log(folder: str | os.PathLike) -> PromptLog:
    """The prompt log of a saved session folder (from its journal; older saves: session.json).

    Example:
        >>> saved_log(sess.save(folder + "/run")) == sess.log
        True
    """
    f = Path(folder).expanduser()
    db = f / RESULTS
    if has_journal(db):
        store = ResultStore.open(db)
        try:
            return PromptLog.from_journal(Journal(store))
        finally:
            store.close()
    meta = _read_meta(f)
    return PromptLog.from_json(meta["prompt_log"], str(f / "session.json"))

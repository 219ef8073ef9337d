"""Resume a saved session, or replay its prompts on another model or video.

See :mod:`sam2nb.tracking.persist` for what a saved folder holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..base.errors import SessionError
from ..media.video import open_video
from ..model import engine as modelmod
from ..model.adapter import load_state
from .log import PromptLog, as_log, read_log
from .persist import FORMAT
from .prompts import TrackedObject
from .session import Session
from .store import ResultStore


def _read_meta(folder: Path) -> dict:
    p = folder / "session.json"
    if not p.is_file():
        raise SessionError(
            f"No saved session in {folder} (no session.json): check the folder name."
        )
    try:
        meta = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise SessionError(f"{p} is damaged ({exc}); an older save may be in a backup.") from exc
    if meta.get("format") != FORMAT:
        raise SessionError(
            f"{p} has format {meta.get('format')}; this sam2nb reads format {FORMAT}."
        )
    return meta


def _engine_for(meta: dict, engine: Any) -> modelmod.Engine:
    if engine is None:
        cur = modelmod.current()
        engine = (
            cur if cur is not None and cur.name == meta["model"] else modelmod.load(meta["model"])
        )
    return engine


def _video_for(meta: dict, video: Any, folder: Path) -> Any:
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
    ) if not hasattr(video, "size") else video  # fmt: skip
    if len(src) != ref["num_frames"] or list(src.size) != ref["size"]:
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
    autosave: bool = True,
) -> Session:
    """Resume a saved session in a fresh kernel: objects, prompts, results, sam2's state.

    Args:
        folder: the saved session.
        engine: the model (default: load the variant the session was made with).
        video: the video, if it moved (default: the saved path).
        memory: override the memory mode.
        spill: keep results in the folder's file instead of copying them into memory.
        autosave: keep saving into ``folder`` after each propagation.

    Example:
        >>> _ = sess.save(folder + "/run")
        >>> again = load_session(folder + "/run")
        >>> again.log == sess.log, list(again.objects), again.prompt_frames()
        (True, [1], [0])
        >>> again.run(progress=False)  # a resumed session tracks on
        8
    """
    import torch

    folder = Path(folder).expanduser()
    meta = _read_meta(folder)
    engine = _engine_for(meta, engine)
    if engine.name != meta["model"]:
        raise SessionError(
            f"The session in {folder} was made with {meta['model']!r}, not {engine.name!r}. "
            f"To re-run its prompts on {engine.name!r}: "
            f"sam2nb.replay({str(folder)!r}, engine=engine)."
        )
    src = _video_for(meta, video, folder)
    store = ResultStore.open(folder / "results.sqlite", spill=spill)
    sess = Session(
        src, engine, memory=memory or meta["memory"], results=store,
        corrections_as_cond=meta.get("corrections_as_cond", True),
    )  # fmt: skip
    for o in meta["objects"]:
        sess.objects[o["obj_id"]] = TrackedObject(o["obj_id"], o["name"], tuple(o["color"]))
    sess.log = PromptLog.from_json(meta["prompt_log"], f"{folder / 'session.json'}")
    sess.dirty = set(meta.get("dirty", []))
    saved = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    load_state(sess.predictor, sess.state, saved)
    if autosave:
        sess.autosave_dir = folder
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
            entries = PromptLog.from_json(meta["prompt_log"], str(p / "session.json"))
            if video is None:
                video = _video_for(meta, None, p)
        else:
            entries = read_log(p)
    else:
        entries = as_log(log)
    if video is None:
        raise SessionError("replay needs the video: replay(log, video='clip.mp4').")
    return entries.replay(Session(video, engine, **session_kwargs), progress=progress)

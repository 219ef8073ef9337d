"""Save, resume and replay tracking sessions.

A saved session is a folder::

    session.json     objects, colours, the prompt log, the video reference, model, version
    results.sqlite   every mask (RLE) and score (see sam2nb.store)
    state.pt         sam2's conditioning state: prompts and their outputs (small)

Each file is written to a temporary name and renamed into place, ``session.json`` last, so a
crash mid-save leaves the previous save intact. Per-frame tracking memory is not saved: after
a resume, a correction on an already tracked frame first re-tracks from the nearest prompt.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .._version import __version__
from ..base.errors import SessionError
from ..base.files import atomic_write
from ..media.video import open_video
from ..model import engine as modelmod
from ..model.adapter import dump_state, load_state
from .prompts import TrackedObject, read_log
from .session import Session
from .store import ResultStore

FORMAT = 1


def save_session(sess: Session, folder: str | os.PathLike | None = None) -> Path:
    """Save a session to a folder (atomically); later saves overwrite it.

    Args:
        sess: the session.
        folder: where (default: the session's autosave folder).

    Returns:
        The folder.

    Example:
        >>> sess.save("runs/bedroom")  # doctest: +SKIP
    """
    import io

    import torch

    target = folder if folder is not None else sess.autosave_dir
    if target is None:
        raise SessionError("Where to? Give a folder: session.save('runs/my-video').")
    out = Path(target).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.sqlite"
    if sess.results.path is not None and Path(sess.results.path).resolve() == results.resolve():
        sess.results.flush()
    else:
        sess.results.save(results)
    buf = io.BytesIO()
    torch.save(dump_state(sess.state), buf)
    atomic_write(out / "state.pt", buf.getvalue())
    v = sess.video
    meta = {
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
        "dirty": sorted(sess.dirty),
        "num_masks": len(sess.results),
        "prompt_log": sess.log,
    }
    atomic_write(out / "session.json", json.dumps(meta, indent=1).encode())
    return out


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
        >>> sess = sam2nb.load_session("runs/bedroom")  # doctest: +SKIP
        >>> sess.add_points(120, 1, [(300, 200)], [0]); sess.run()  # doctest: +SKIP
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
    sess.log = list(meta["prompt_log"])
    sess.dirty = set(meta.get("dirty", []))
    saved = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    load_state(sess.predictor, sess.state, saved)
    if autosave:
        sess.autosave_dir = folder
    return sess


def apply(sess: Session, e: dict, progress: bool = False) -> None:
    """Apply one prompt-log entry to a session (objects are added when first named).

    Example:
        >>> e = {"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[9, 9]]}
        >>> apply(sess, e)  # doctest: +SKIP
    """
    op = e["op"]
    oid = e.get("obj_id")
    if op in ("points", "box", "mask") and oid not in sess.objects:
        sess.add_object(oid)
    if op == "add_object":
        if oid not in sess.objects:
            sess.add_object(oid, e.get("name"), e.get("color"))
    elif op == "points":
        sess.add_points(
            e["frame_idx"], oid, e["points"], e.get("labels"), clear=e.get("clear", False)
        )
    elif op == "box":
        sess.add_box(e["frame_idx"], oid, e["box"], e.get("points"), e.get("labels"))
    elif op == "mask":
        from pycocotools import mask as mask_utils

        rle = dict(e["rle"])
        rle["counts"] = rle["counts"].encode() if isinstance(rle["counts"], str) else rle["counts"]
        sess.add_mask(e["frame_idx"], oid, mask_utils.decode(rle).astype(bool))
    elif op == "clear_frame":
        sess.clear_frame(e["frame_idx"], oid)
    elif op == "remove_object":
        sess.remove_object(oid)
    elif op == "propagate":
        limit = e.get("max_frames")
        done = e.get("frames_done")
        direction = e.get("direction", "forward")
        if done is not None and direction != "both" and (limit is None or done < limit + 1):
            limit = max(done - 1, 0)  # it was stopped: replay as far as it got
        sess.run(e.get("start"), direction, max_frames=limit, progress=progress)


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
        >>> big = sam2nb.replay("runs/bedroom", engine=sam2nb.load("large"))  # doctest: +SKIP
    """
    if isinstance(log, (str, os.PathLike)):
        p = Path(log).expanduser()
        if p.is_dir():
            meta = _read_meta(p)
            entries = meta["prompt_log"]
            if video is None:
                video = _video_for(meta, None, p)
        else:
            entries = read_log(p)
    else:
        entries = list(log)
    if video is None:
        raise SessionError("replay needs the video: replay(log, video='clip.mp4').")
    sess = Session(video, engine, **session_kwargs)
    for e in entries:
        apply(sess, e, progress=progress)
    return sess

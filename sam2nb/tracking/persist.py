"""Save a tracking session to a folder (resume it with :mod:`sam2nb.tracking.resume`).

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
from typing import TYPE_CHECKING

from .._version import __version__
from ..base.errors import SessionError
from ..base.files import atomic_write
from ..model.adapter import dump_state

if TYPE_CHECKING:
    from .session import Session

FORMAT = 1


def save_session(sess: Session, folder: str | os.PathLike | None = None) -> Path:
    """Save a session to a folder (atomically); later saves overwrite it.

    Args:
        sess: the session.
        folder: where (default: the session's autosave folder).

    Returns:
        The folder.

    Example:
        >>> sorted(p.name for p in save_session(sess, folder + "/run").iterdir())
        ['results.sqlite', 'session.json', 'state.pt']
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
        "prompt_log": sess.log.to_json(),
    }
    atomic_write(out / "session.json", json.dumps(meta, indent=1).encode())
    return out

"""Batch jobs: many videos with their prompts, one item at a time, resumable.

A batch is a list of :class:`BatchItem` s: a video, its prompts (the session's own prompt log:
a JSON file, a saved-session folder, or the list itself), a model variant, export formats and
an output folder. :func:`read_manifest` reads them from a JSON or CSV manifest or from a folder
of saved sessions; :func:`run_item` tracks and exports one item. :func:`sam2nb.run_batch`
(``batch_ray``) runs many on Ray workers.

Each item's outputs are made in ``OUT/.work-<id>`` and moved to ``OUT/<id>`` in one rename,
with ``status.json`` (``done`` or ``failed``, the error, frames, seconds, the worker) inside:
a folder under ``OUT`` is never half-written, and a rerun skips the items whose status says
``done`` for the same spec and prompts.

A JSON manifest::

    {"defaults": {"model": "tiny", "formats": ["palette", "coco"]},
     "items": [{"video": "clips/a.mp4", "prompts": "prompts/a.json"},
               {"video": "clips/b.mp4", "prompts": [{"op": "box", "frame_idx": 0,
                                                      "obj_id": 1, "box": [10, 20, 200, 240]}]}]}

A CSV manifest has a header row with the same field names (``formats`` separated by ``;``).
Relative paths are read from the manifest's folder.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..base.errors import Sam2nbError, SessionError
from ..base.files import atomic_write
from ..base.jobs import as_stop
from ..prompts.log import PROMPT_OPS, Entry, PromptLog, read_log

STATUS = "status.json"
WORK = ".work"
DIRECTIONS = ("forward", "backward", "both")
MEMORY = ("auto", "full", "bounded")
DEFAULT_FORMATS = ("palette", "coco")


class BatchError(Sam2nbError, ValueError):
    """A manifest or batch item that cannot be run as written (the message names the fix)."""


@dataclass
class BatchItem:
    """One video of a batch and what to do with it.

    Attributes:
        video: a video file, frame folder or a path the workers can read.
        prompts: a prompt-log JSON file, a saved-session folder, or the log itself (a list of
            entries as in ``Session.log``); ``propagate`` entries are ignored, the whole video
            is tracked in ``direction``.
        id: the item's name (default: the video's stem, made unique).
        model: the model (``tiny``, ``small``, ``base_plus``, ``large``, ``test``; through
            transformers ``edgetam``, ``sam3``, ``tiny@hf`` ...: any name ``sam2nb models``
            lists).
        formats: export formats (see ``sam2nb.EXPORT_FORMATS``), each in ``OUT/<id>/<format>``.
        out: the item's output folder (default ``OUT/<id>``; relative to ``OUT``).
        direction: ``both`` (default), ``forward`` or ``backward`` from the prompts.
        start: first frame of the video to use.
        end: frame to stop before (default: the end).
        stride: use every ``stride``-th frame.
        max_side: shrink frames to this longer side.
        memory: the session's memory mode (``auto``, ``full``, ``bounded``).
        save_session: also save the session (``OUT/<id>/session``) to open in a notebook.

    Example:
        >>> item = BatchItem("clips/a.mp4", "prompts/a.json", model="test")
        >>> item.id, item.formats
        ('a', ('palette', 'coco'))
    """

    video: str
    prompts: Any
    id: str = ""
    model: str = "tiny"
    formats: tuple[str, ...] = DEFAULT_FORMATS
    out: str | None = None
    direction: str = "both"
    start: int = 0
    end: int | None = None
    stride: int = 1
    max_side: int | None = None
    memory: str = "auto"
    save_session: bool = False
    _where: str = field(default="", repr=False, compare=False)
    _auto_id: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self._where or f"item {self.id or self.video!r}"
        if not self.video:
            raise BatchError(f"{where}: no video; give each item a 'video' path.")
        self.video = str(self.video)
        if isinstance(self.prompts, os.PathLike):
            self.prompts = str(self.prompts)
        if isinstance(self.prompts, (tuple, PromptLog)):
            self.prompts = [e.to_json() if isinstance(e, Entry) else e for e in self.prompts]
        if not isinstance(self.prompts, (str, list)) or not self.prompts:
            raise BatchError(
                f"{where}: 'prompts' must be a prompt-log JSON file, a saved-session folder "
                "or a list of prompt entries (a session's .log)."
            )
        if isinstance(self.prompts, list):  # a copy (not the live sess.log), numbers made plain
            self.prompts = json.loads(json.dumps(self.prompts, default=_plain))
        if not self.id:
            stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in _stem(self.video))
            self.id, self._auto_id = stem.lstrip(".") or "item", True
        self.id = str(self.id)
        if not _safe_name(self.id):
            raise BatchError(
                f"{where}: id {self.id!r} must be a plain file name (letters, digits, . _ -, "
                "not starting with '.'): change the item's 'id'."
            )
        if self.out not in (None, ""):
            norm = os.path.normpath(str(self.out))
            if os.path.isabs(norm) or norm == "." or norm.split(os.sep)[0] == "..":
                raise BatchError(
                    f"{where}: out {self.out!r} must be a folder inside the batch folder "
                    "(relative, without '..'); leave it out to use the item's id."
                )
            self.out = norm
        else:
            self.out = None
        if isinstance(self.formats, str):
            self.formats = tuple(f for f in self.formats.replace(",", ";").split(";") if f)
        self.formats = tuple(str(f).strip() for f in self.formats)
        from ..io.export import FORMATS

        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise BatchError(
                f"{where}: unknown export format(s) {bad or '(none)'}; choose from "
                f"{', '.join(FORMATS)}."
            )
        if self.direction not in DIRECTIONS:
            raise BatchError(f"{where}: direction {self.direction!r} is not one of {DIRECTIONS}.")
        if self.memory not in MEMORY:
            raise BatchError(f"{where}: memory {self.memory!r} is not one of {MEMORY}.")
        from ..model.names import canonical

        try:
            canonical(self.model)
        except Sam2nbError as exc:
            raise BatchError(f"{where}: {exc}") from None
        for name, empty in (("start", 0), ("end", None), ("stride", 1), ("max_side", None)):
            v = getattr(self, name)
            if v is None or v == "":
                setattr(self, name, empty)
                continue
            try:
                setattr(self, name, int(v))
            except (TypeError, ValueError):
                raise BatchError(f"{where}: {name} must be a whole number, got {v!r}.") from None
        if isinstance(self.save_session, str):
            self.save_session = self.save_session.strip().lower() in ("1", "true", "yes", "y")

    def to_json(self) -> dict:
        """The item as a JSON-ready dict (what a worker receives and a manifest holds)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name[0] != "_"}
        d["formats"] = list(self.formats)
        return d

    def fingerprint(self) -> str:
        """A hash of the item's spec and prompts: a finished item is redone when either changes."""
        h = hashlib.sha1(json.dumps(self.to_json(), sort_keys=True).encode())
        if isinstance(self.prompts, str):
            p = Path(self.prompts)
            try:
                if p.is_dir():  # a saved session: its prompt log (the journal's, as it is now)
                    from ..tracking.resume import saved_log

                    h.update(json.dumps(saved_log(p).to_json()).encode())
                else:
                    h.update(p.read_bytes())
            except (OSError, Sam2nbError):
                h.update(b"unreadable")
        return h.hexdigest()[:16]

    def folder(self, out: str | os.PathLike) -> Path:
        """Where the item's outputs go under the batch folder ``out``."""
        return Path(out) / (self.out or self.id)


FIELDS = tuple(f.name for f in dataclasses.fields(BatchItem) if f.name[0] != "_")


def _plain(x: Any) -> Any:
    """JSON for numpy numbers and arrays (a detector's boxes)."""
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON: give numbers and lists")


def _stem(video: str) -> str:
    name = Path(video.rstrip("/")).name
    for ext in (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name or "item"


def _safe_name(name: str) -> bool:
    return (
        bool(name)
        and not name.startswith((".", WORK))
        and all(c.isalnum() or c in "._-" for c in name)
    )


def _resolve(path: Any, base: Path) -> Any:
    if not isinstance(path, str) or not path or "://" in path:
        return path
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _items_from(
    rows: Iterable[Any], base: Path, where: str, defaults: dict[str, Any], keep_none: bool = False
) -> list[BatchItem]:
    items, seen = [], {}
    for i, row in enumerate(rows):
        if isinstance(row, BatchItem):
            auto, row = row._auto_id, row.to_json()
            if auto:
                del row["id"]  # made from the file name: may get a suffix below
        if not isinstance(row, dict):
            raise BatchError(f"{where}: item {i + 1} is {row!r}, not an object with 'video'.")
        if None in row:  # csv.DictReader puts extra values under None
            raise BatchError(f"{where}: row {i + 1} has more values than the header has columns.")
        row = {str(k).strip(): v for k, v in row.items() if keep_none or v not in (None, "")}
        unknown = sorted(set(row) - set(FIELDS))
        if unknown:
            raise BatchError(
                f"{where}: item {i + 1} has unknown field(s) {unknown}; known: {', '.join(FIELDS)}."
            )
        spec = {**defaults, **row}
        spec["video"] = _resolve(spec.get("video"), base)
        spec["prompts"] = _resolve(spec.get("prompts"), base)
        item = BatchItem(**spec, _where=f"{where}, item {i + 1}")
        if item.id in seen:  # default ids from equal stems get a suffix; given ones must differ
            if "id" in row:
                raise BatchError(
                    f"{where}: id {item.id!r} is used by items {seen[item.id]} and {i + 1}: "
                    "give each item its own 'id'."
                )
            n = 2
            while f"{item.id}-{n}" in seen:
                n += 1
            item.id = f"{item.id}-{n}"
        seen[item.id] = i + 1
        items.append(item)
    if not items:
        raise BatchError(f"{where}: no items; add at least one with a 'video' and 'prompts'.")
    outs = [os.path.normcase(it.out or it.id) for it in items]
    dup = sorted({o for o in outs if outs.count(o) > 1})
    if dup:
        raise BatchError(
            f"{where}: items share the output folder(s) {dup}; give each its own 'out'."
        )
    return items


def _session_rows(folder: Path) -> list[dict]:
    subs = [folder] if (folder / "session.json").is_file() else sorted(
        p for p in folder.iterdir() if (p / "session.json").is_file()
    )  # fmt: skip
    rows = []
    for sub in subs:
        try:
            meta = json.loads((sub / "session.json").read_text())
            v = meta["video"] or {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BatchError(f"{sub / 'session.json'} is damaged ({exc}).") from None
        if not v.get("path"):
            raise BatchError(
                f"The session in {sub} was made from frames in memory; a batch needs video files."
            )
        rows.append({"video": v["path"], "prompts": str(sub), "id": sub.name,
                     "model": meta.get("model", "tiny"), "start": v.get("start", 0),
                     "end": v.get("end"), "stride": v.get("stride", 1),
                     "max_side": v.get("max_side")})  # fmt: skip
    return rows


def read_manifest(source: Any, **defaults: Any) -> list[BatchItem]:
    """Read a batch: a JSON or CSV manifest, a folder of saved sessions, or a list.

    Args:
        source: a ``.json`` file (a list of items, or ``{"defaults": {...}, "items": [...]}``),
            a ``.csv`` file (a header row of field names), a folder holding saved sessions
            (each subfolder with a ``session.json`` becomes an item that replays its prompts on
            its video), or a list of :class:`BatchItem` s or dicts.
        **defaults: values for fields an item leaves out (e.g. ``model="small"``); the
            manifest's own ``defaults`` win over these.

    Returns:
        The items, checked: known fields, formats and model, unique ids and output folders.

    Raises:
        BatchError: the manifest cannot be read or an item is malformed (nothing has run).

    Example:
        >>> items = read_manifest([{"video": "a.mp4", "prompts": "a.json"}], model="test")
        >>> items[0].model
        'test'
    """
    _check_defaults(defaults, "the defaults")
    defaults = {k: v for k, v in defaults.items() if v is not None}
    if isinstance(source, (list, tuple)):
        if defaults and any(isinstance(x, BatchItem) for x in source):
            raise BatchError(
                f"Defaults {sorted(defaults)} do not apply to BatchItems (their fields are set): "
                "set them on the items, e.g. BatchItem(video, prompts, model='small')."
            )
        return _items_from(list(source), Path.cwd(), "the batch", defaults)
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise BatchError(
            f"No manifest at {path}: give a .json or .csv file or a folder of sessions."
        )
    if path.is_dir():
        rows = _session_rows(path)
        if not rows:
            raise BatchError(
                f"{path} holds no saved sessions (subfolders with session.json); save some "
                "with session.save(folder), or give a .json/.csv manifest."
            )
        return _items_from(rows, path, str(path), defaults, keep_none=True)
    base = path.parent
    if path.suffix.lower() == ".csv":
        try:
            with path.open(newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise BatchError(f"{path} cannot be read as CSV ({exc}).") from None
        return _items_from(rows, base, str(path), defaults)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BatchError(f"{path} is not valid JSON ({exc}).") from None
    if isinstance(data, dict):
        extra = sorted(set(data) - {"defaults", "items"})
        if extra or not isinstance(data.get("items"), list):
            raise BatchError(
                f'{path} must be a list of items or {{"defaults": {{...}}, "items": [...]}}'
                + (f"; unknown key(s) {extra}." if extra else ".")
            )
        own = data.get("defaults") or {}
        if not isinstance(own, dict):
            raise BatchError(f'{path}: \'defaults\' must be an object, e.g. {{"model": "tiny"}}.')
        _check_defaults(own, f"{path}: defaults")
        defaults = {**own, **defaults}  # the caller's (the command line's) win
        data = data["items"]
    if not isinstance(data, list):
        raise BatchError(f"{path} must hold a list of items with 'video' and 'prompts'.")
    return _items_from(data, base, str(path), defaults)


def _check_defaults(defaults: dict, where: str) -> None:
    shared = [f for f in FIELDS if f not in ("id", "out", "video")]
    bad = sorted(set(defaults) - set(shared))
    if bad:
        raise BatchError(
            f"{where}: {bad} cannot be shared by all items; these can: {', '.join(shared)}."
        )


def write_manifest(items: Iterable[BatchItem | dict], path: str | os.PathLike) -> Path:
    """Write items as a JSON manifest (prompt lists inline) for ``sam2nb batch``.

    Example:
        >>> write_manifest([BatchItem("a.mp4", sess.log)], "batch.json")  # doctest: +SKIP
    """
    rows = [it.to_json() if isinstance(it, BatchItem) else dict(it) for it in items]
    for r in rows:  # absolute paths: the manifest is read from its own folder
        r["video"], r["prompts"] = (_resolve(r.get(k), Path.cwd()) for k in ("video", "prompts"))
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)

    atomic_write(p, json.dumps({"items": rows}, indent=1).encode())
    return p


def load_prompts(item: BatchItem) -> PromptLog:
    """The item's prompt log, without ``propagate`` entries.

    Raises:
        BatchError: no such file or folder, not a prompt log, or no click, box or mask in it.
    """
    try:
        if isinstance(item.prompts, list):
            log = PromptLog.from_json(item.prompts, "the prompts")
        else:
            from ..tracking.resume import saved_log

            p = Path(item.prompts)
            log = saved_log(p) if p.is_dir() else read_log(p)
    except Sam2nbError as exc:
        raise BatchError(str(exc)) from None
    log = PromptLog(e for e in log if e.op != "propagate")
    if not any(e.op in PROMPT_OPS for e in log):
        raise BatchError("the prompts hold no click, box or mask: nothing to track.")
    return log


def read_status(item: BatchItem, out: str | os.PathLike) -> dict | None:
    """The item's last ``status.json`` under ``out``, or None if it never finished."""
    return _read_json(item.folder(out) / STATUS)


def finished(item: BatchItem, out: str | os.PathLike) -> dict | None:
    """The item's status if it finished under ``out`` with the same spec and prompts, else None."""
    st = read_status(item, out)
    done = st and st.get("state") == "done" and st.get("fingerprint") == item.fingerprint()
    return st if done else None


def worker_name(device: Any = None) -> str:
    """``host:pid`` plus the device, naming a worker in statuses and summaries."""
    return f"{socket.gethostname()}:{os.getpid()}" + (f" {device}" if device else "")


def run_item(
    item: BatchItem,
    out: str | os.PathLike,
    *,
    engine: Any = None,
    device: str | None = None,
    stop: Any = None,
    worker: str | None = None,
) -> dict:
    """Track one item and write its exports, atomically; errors go into the status.

    Args:
        item: the item.
        out: the batch folder; the item's outputs land in ``item.folder(out)``.
        engine: the model (default: ``sam2nb.load(item.model, device=device)``, cached).
        device: the device for a model loaded here.
        stop: a ``threading.Event`` or callable; a stopped item is not marked done.
        worker: a name for the status (default ``host:pid``).

    Returns:
        The status (also written as ``status.json``): ``state`` is ``done``, ``failed`` (with
        ``error``) or ``stopped`` (nothing written).

    Example:
        >>> st = run_item(BatchItem("a.mp4", "a.json", model="test"), "out")  # doctest: +SKIP
        >>> st["state"], st["frames"]  # doctest: +SKIP
        ('done', 48)
    """
    from ..io.export import export
    from ..media.video import open_video
    from ..model import engine as modelmod
    from ..tracking.finish import track_to_end

    dest = Path(item.folder(out)).resolve()
    work, old = work_folders(dest)
    journal = session_folder(dest)
    foreign(dest)  # never replace a folder that is not a batch result
    shutil.rmtree(work, ignore_errors=True)  # a run killed midway left it behind
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    status: dict[str, Any] = {
        "id": item.id, "state": "failed", "video": item.video, "model": item.model,
        "formats": list(item.formats), "frames": 0, "objects": 0, "seconds": 0.0,
        "track_seconds": 0.0, "worker": worker or worker_name(device), "error": None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "fingerprint": item.fingerprint(),
        "sam2nb_version": __version__,
    }  # fmt: skip
    if engine is not None and engine.name == item.model:
        status.update(model_label=engine.label, untrained=engine.untrained)
    sess = video = None
    try:
        log = load_prompts(item)
        video = open_video(item.video, start=item.start, end=item.end, stride=item.stride,
                           max_side=item.max_side)  # fmt: skip
        if engine is None or engine.name != item.model:
            engine = modelmod.load(item.model, device=device, progress=False)
        status["model_label"] = engine.label
        status["untrained"] = engine.untrained
        sess = _item_session(item, journal, log, video, engine)
        run = track_to_end(sess, item.direction, progress=False, stop=stop)
        status["frames_tracked"] = run.tracked
        status["frames_skipped"] = run.skipped  # tracked by an earlier, interrupted run
        status["track_seconds"] = round(time.perf_counter() - t0, 3)
        stopped = as_stop(stop, SessionError)
        for fmt in item.formats:
            if stopped():
                break
            res = export(sess, work / fmt, fmt, progress=False, stop=stop)
            if res.stopped:
                break
        if stopped():
            status["state"] = "stopped"
        else:
            if item.save_session:
                sess.save(work / "session")
            status.update(state="done", frames=len(video), objects=len(sess.objects))
            sess.close()
            sess = None
            shutil.rmtree(journal, ignore_errors=True)  # done: the item's outputs hold it all
    except Exception as exc:  # one bad item must not stop the batch: report it
        status["error"] = f"{type(exc).__name__}: {exc}"
        status["traceback"] = traceback.format_exc(limit=-4)
    finally:
        if sess is not None:
            sess.close()
        if video is not None:
            video.close()
    status["seconds"] = round(time.perf_counter() - t0, 3)
    status["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if status["state"] == "stopped":
        shutil.rmtree(work, ignore_errors=True)
        return status
    try:
        if status["state"] == "failed":  # partial exports are dropped; the status says why
            shutil.rmtree(work, ignore_errors=True)
            prev = _read_json(dest / STATUS)
            if prev and prev.get("state") == "done":  # keep the earlier good result
                status["kept_previous"] = True
                return status
            work.mkdir(parents=True)
        (work / STATUS).write_text(json.dumps(status, indent=1))
        if dest.exists():  # an earlier failed or outdated result
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(work, dest)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        status.update(state="failed", error=f"writing {dest} failed: {exc}")
    return status


def session_folder(dest: Path) -> Path:
    """Where an item's session is kept while it runs, so a rerun goes on where it stopped.

    Beside ``dest``, starting with '.' like the work folders; removed when the item is done.
    """
    return dest.with_name(f".session-{dest.name}")


def _item_session(item: BatchItem, folder: Path, log: Any, video: Any, engine: Any) -> Any:
    """The item's session, kept in ``folder``: resumed, or new.

    An earlier run of the same item (same fingerprint: video, prompts, model, settings) that
    stopped is resumed; anything else there is stale and goes.
    """
    from ..storage.folders import holds_session
    from ..tracking.resume import load_session
    from ..tracking.session import Session

    mark = folder / "fingerprint"
    if (
        holds_session(folder / "session")
        and mark.is_file()
        and mark.read_text() == item.fingerprint()
    ):
        return load_session(folder / "session", engine=engine, video=video, memory=item.memory)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sess = Session(video, engine, memory=item.memory, folder=folder / "session")
    try:
        log.replay(sess)
    except BaseException:
        sess.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    mark.write_text(item.fingerprint())  # only a session with all its prompts is gone on with
    return sess


def work_folders(dest: Path) -> tuple[Path, Path]:
    """Where an item is built and where its previous result goes while being replaced.

    Both sit beside ``dest`` (one rename moves them) and start with '.', which no id does.
    """
    return dest.with_name(f"{WORK}-{dest.name}"), dest.with_name(f".old-{dest.name}")


def foreign(dest: Path) -> None:
    """Raise if ``dest`` holds something that is not a batch result (it would be replaced).

    Raises:
        BatchError: naming the folder and the fix.
    """
    if dest.is_dir() and any(dest.iterdir()) and not (dest / STATUS).is_file():
        raise BatchError(
            f"{dest} exists and is not a batch result (no {STATUS}): it would be replaced. "
            "Choose another --out folder, or give the item another 'id' or 'out'."
        )


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None

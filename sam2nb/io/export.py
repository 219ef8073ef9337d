"""Export a session's masks in the formats other tools read, frame by frame.

Every export streams (one frame's masks in memory at a time), shows a ``tqdm.auto`` bar, can be
stopped, writes each file under a temporary name and renames it, and resumes: files already
written are kept, a half-written temporary file is discarded. A ``manifest.json`` says what was
written, by which model (flagging the untrained test model) and from which prompts.

Formats:
    ``png``: binary 0/255 PNG per object and frame, ``OUT/<obj_id>/<frame>.png``.
    ``palette``: DAVIS-style indexed PNG per frame (pixel = obj_id), ``OUT/<frame>.png``.
    ``sav``: SA-V / sam2 ``vos_inference`` layout, ``OUT/<video>/<obj_id:03d>/<frame>.png``.
    ``coco``: COCO JSON, one image per frame, RLE segmentations, ``OUT/coco.json``.
    ``ytvis``: YouTube-VIS JSON, one track per object, ``OUT/ytvis.json``.
    ``mot``: MOTChallenge CSV of boxes (frames from 1), ``OUT/mot.csv``.
    ``mp4``: the video with the masks painted on, H.264 (plays in browsers), ``OUT/overlay.mp4``.
    ``cutout``: RGBA PNG per frame, transparent outside the objects, ``OUT/<frame>.png``.
    ``cutout_webm``: the same as a VP9 video with alpha, ``OUT/cutout.webm``.
    ``effect``: background blurred, grayed, a colour or an image (``effect=``), ``OUT/effect.mp4``.
    ``remove``: the objects painted out (inpainting), ``OUT/removed.mp4``.

Single files (JSON, CSV, videos) are written whole under a temporary name: an interrupted one
is started again; picture sequences resume where they stopped.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..base.errors import ExportError
from ..base.files import atomic_write
from ..base.jobs import as_stop
from ..prompts.protocol import SessionLike
from .outputs import ExportResult, check_range, frame_name, png_bytes, write_file

FORMATS = ("png", "palette", "sav", "coco", "ytvis", "mot", "mp4", "cutout", "cutout_webm",
           "effect", "remove")  # fmt: skip
VIDEO_FORMATS = ("mp4", "cutout_webm", "effect", "remove")
STATE = ".sam2nb-export.json"


def davis_palette() -> list[int]:
    """The 256-colour palette of DAVIS annotations (the PASCAL VOC colour map), flat RGB.

    Example:
        >>> davis_palette()[3:9]
        [128, 0, 0, 0, 128, 0]
    """
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _fingerprint(session: Any) -> list:
    """Changes whenever the session's results do (prompts logged, masks stored)."""
    return [len(session.log), len(session.results), session.results.mask_bytes]


def _prepare(out: Path, settings: dict, fingerprint: list, overwrite: bool) -> bool:
    """Claim the folder for these settings. Returns True to resume an interrupted export.

    A rerun with the same settings on unchanged results resumes (files already written are
    kept); after the results changed, or once an export finished, every file is written anew.
    """
    out.mkdir(parents=True, exist_ok=True)
    marker = out / STATE
    before = None
    if marker.exists():
        try:
            before = json.loads(marker.read_text())
        except ValueError:
            before = {}
        if before.get("settings") != settings and not overwrite:
            raise ExportError(
                f"{out} holds an export with other settings ({before.get('settings')}); pick "
                "another folder or pass overwrite=True to replace it."
            )
    elif any(p.name != STATE for p in out.iterdir()) and not overwrite:
        raise ExportError(
            f"{out} is not empty and was not made by sam2nb export: pick an empty folder or pass "
            "overwrite=True."
        )
    for tmp in out.rglob("*.tmp"):  # half-written by an interrupted run
        tmp.unlink()
    resume = bool(
        before
        and before.get("settings") == settings
        and before.get("fingerprint") == fingerprint
        and not before.get("done")
    )
    _mark(out, settings, fingerprint, done=False)
    return resume


def _mark(out: Path, settings: dict, fingerprint: list, done: bool) -> None:
    state = {"settings": settings, "fingerprint": fingerprint, "done": done}
    atomic_write(out / STATE, fsync=False, data=json.dumps(state, sort_keys=True).encode())


def _coverage(session: Any, ids: list[int], frames: range) -> dict:
    """The frames of the range no object has a mask on, and those with a stale mask."""
    store = session.results
    have: set[int] = set()
    stale: set[int] = set()
    lo, hi = frames.start, frames.stop
    for o in ids:
        have.update(f for f in store.frames(o) if lo <= f < hi)
        stale.update(f for f in getattr(store, "stale_frames", lambda o: [])(o) if lo <= f < hi)
    return {"untracked": sorted(set(frames) - have), "stale": sorted(stale)}


def _spans(frames: list[int]) -> list[list[int]]:
    """``[[first, last], ...]`` of runs of consecutive frames.

    Example:
        >>> _spans([3, 4, 5, 9])
        [[3, 5], [9, 9]]
    """
    out: list[list[int]] = []
    for f in frames:
        if out and out[-1][1] == f - 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


def _manifest(session: Any, res: ExportResult, settings: dict, coverage: dict) -> Path:
    eng = session.engine
    v = session.video
    man = {
        "format": res.format,
        "sam2nb_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": eng.name,
        "model_label": eng.label,
        "untrained": bool(eng.untrained),
        "warning": "UNTRAINED TEST MODEL: these masks mean nothing" if eng.untrained else None,
        "video": {
            "name": v.name,
            "path": None if v.path is None else str(v.path),
            "width": v.width,
            "height": v.height,
            "fps": v.fps,
            "frames": len(v),
            "variable_rate": bool(getattr(v, "variable_rate", False)),
            "decoder": getattr(v, "decoder", None),
            # each frame's presentation time in the file (seconds): variable rate video is kept
            "times_s": [round(float(t), 6) for t in getattr(v, "times", [])],
        },
        "objects": {
            str(o): {"name": t.name, "color": list(t.color)}
            for o, t in session.objects.items()
            if o in settings["obj_ids"]
        },  # fmt: skip
        "frames": [settings["start"], settings["end"]],
        "files": res.files + res.kept,
        # frames with no mask of any exported object (written blank), and frames whose masks
        # were tracked before a later prompt change (the next propagation tracks them again)
        "untracked_frames": _spans(coverage["untracked"]),
        "stale_frames": _spans(coverage["stale"]),
        "prompt_log": session.log.to_json(),
    }
    path = res.out / "manifest.json"
    atomic_write(path, fsync=False, data=json.dumps(man, indent=1, default=str).encode())
    return path


_CALLBACK = threading.local()  # the running export's on_frame (per thread)


def _frames(
    session: Any,
    ids: list[int],
    frames: range,
    progress: bool,
    what: str,
    stopped: Callable[[], bool],
    res: ExportResult,
) -> Iterator[tuple[int, dict[int, Any]]]:
    """Each frame's records for ``ids``; counts the frames done and ends when asked to stop."""
    from tqdm.auto import tqdm

    bar = tqdm(frames, desc=f"export {what}", unit="frame", disable=not progress)
    on_frame = getattr(_CALLBACK, "fn", None)
    try:
        for i, f in enumerate(bar):
            yield f, {o: r for o, r in session.results.frame(f).items() if o in ids}
            res.frames += 1
            if stopped():
                res.stopped = True
                return
            if on_frame is not None:
                on_frame(i + 1, len(frames))
    finally:
        bar.close()


def export(
    session: SessionLike,
    out: str | os.PathLike,
    format: str = "png",
    *,
    obj_ids: Iterable[int] | None = None,
    start: int = 0,
    end: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    stop: Any = None,
    on_frame: Callable[[int, int], Any] | None = None,
    **options: Any,
) -> ExportResult:
    """Write a session's masks in one of :data:`FORMATS`, streaming frame by frame.

    Args:
        session: a :class:`~sam2nb.Session` (or :class:`~sam2nb.ImageSession`).
        out: the output folder (made if missing; an interrupted export there resumes).
        format: ``png``, ``palette``, ``sav``, ``coco``, ``ytvis`` or ``mot``.
        obj_ids: the objects to export (default all).
        start: first frame.
        end: frame after the last (default: the end of the video).
        overwrite: replace an export with other settings, or write into a foreign folder.
        progress: show a ``tqdm`` bar.
        stop: a ``threading.Event`` or a callable; checked after every frame.
        on_frame: called as ``on_frame(done, total)`` after each frame (for a UI's progress).
        **options: for ``mp4``: ``opacity``; for ``effect``: ``effect`` (``blur``, ``gray``,
            ``color``, ``image``), ``color``, ``background`` (an image or its path).

    Returns:
        What was written; ``stopped=True`` if stopped (call again to resume).

    Raises:
        ExportError: an unknown format, object or frame range, or a clashing folder.

    Example:
        >>> _ = sess.run(progress=False)
        >>> res = s2.export(sess, folder + "/masks", "palette", progress=False)
        >>> res.frames, res.files, res.manifest.name
        (8, 8, 'manifest.json')
    """
    if format not in FORMATS:
        raise ExportError(f"Unknown export format {format!r}; choose one of {', '.join(FORMATS)}.")
    ids, frames = check_range(session, obj_ids, start, end)
    if format == "palette" and max(ids) > 255:
        raise ExportError("Palette PNGs hold object ids 1..255; export fewer or renumber them.")
    outp = Path(out).expanduser()
    settings = {"format": format, "obj_ids": ids, "start": frames.start, "end": frames.stop,
                "video": session.video.name, "size": list(session.video.size),
                "options": {k: v if isinstance(v, (str, int, float, list, tuple)) else repr(type(v))
                            for k, v in sorted(options.items())}}  # fmt: skip
    fp = _fingerprint(session)
    res = ExportResult(format, outp)
    res.resumed = _prepare(outp, settings, fp, overwrite)
    t0 = time.perf_counter()
    stopped = as_stop(stop, ExportError)
    _CALLBACK.fn = on_frame
    try:
        _run(format, session, outp, ids, frames, progress, stopped, res, options)
    finally:
        _CALLBACK.fn = None
    res.seconds = time.perf_counter() - t0
    coverage = _coverage(session, ids, frames)
    res.untracked, res.stale = len(coverage["untracked"]), len(coverage["stale"])
    if not res.stopped:
        res.manifest = _manifest(session, res, settings, coverage)
        _mark(outp, settings, fp, done=True)
    return res


def _run(
    format: str,
    session: Any,
    outp: Path,
    ids: list[int],
    frames: range,
    progress: bool,
    stopped: Callable[[], bool],
    res: ExportResult,
    options: dict,
) -> None:
    """Write the files of one export (the format's writer, frame by frame)."""
    writer = _SEQUENCES.get(format)
    if format in VIDEO_FORMATS:
        from .video import video_export

        it = _frames(session, ids, frames, progress, format, stopped, res)
        video_export(format, session, outp, it, res, options, frames)
    elif writer is not None:
        for f, recs in _frames(session, ids, frames, progress, format, stopped, res):
            writer(session, outp, f, ids, recs, res)
    else:
        _DOCUMENTS[format](session, outp, ids, frames, progress, stopped, res)


def _binary(session: Any, rec: Any) -> np.ndarray:
    if rec is None:
        return np.zeros((session.video.height, session.video.width), np.uint8)
    return rec.mask().astype(np.uint8) * 255


def _seq_png(session: Any, out: Path, f: int, ids: list, recs: dict, res: ExportResult) -> None:
    for o in ids:
        write_file(
            out / str(o) / frame_name(f), lambda o=o: png_bytes(_binary(session, recs.get(o))), res
        )


def _seq_sav(session: Any, out: Path, f: int, ids: list, recs: dict, res: ExportResult) -> None:
    video = Path(session.video.name).stem
    for o in ids:
        path = out / video / f"{o:03d}" / frame_name(f)
        write_file(path, lambda o=o: png_bytes(_binary(session, recs.get(o))), res)


def _seq_palette(session: Any, out: Path, f: int, ids: list, recs: dict, res: ExportResult) -> None:
    def make() -> bytes:
        lab = np.zeros((session.video.height, session.video.width), np.uint8)
        for o in ids:  # later ids win where masks overlap
            if o in recs:
                lab[recs[o].mask()] = o
        return png_bytes(lab, davis_palette())

    write_file(out / frame_name(f), make, res)


def _seq_cutout(session: Any, out: Path, f: int, ids: list, recs: dict, res: ExportResult) -> None:
    from .video import cutout_sequence

    cutout_sequence(session, out, f, ids, recs, res)


_SEQUENCES: dict[str, Callable] = {
    "png": _seq_png, "sav": _seq_sav, "palette": _seq_palette, "cutout": _seq_cutout,
}  # fmt: skip


def _finish(tmp: Path, path: Path, res: ExportResult) -> None:
    """Rename a finished document into place (or drop it when the export was stopped)."""
    if res.stopped:
        tmp.unlink()
        return
    os.replace(tmp, path)
    res.files += 1
    res.paths.append(path)


def _xywh(bbox: tuple[float, float, float, float]) -> list[float]:
    """``(x0, y0, x1, y1)`` as COCO/MOT ``[left, top, width, height]``."""
    x0, y0, x1, y1 = bbox
    return [x0, y0, x1 - x0, y1 - y0]


def _rle_json(rec: Any) -> dict:
    return {"size": list(rec.rle["size"]), "counts": rec.rle["counts"].decode()}


def _doc_coco(
    session: Any,
    out: Path,
    ids: list[int],
    frames: range,
    progress: bool,
    stopped: Callable[[], bool],
    res: ExportResult,
) -> None:
    w, h = session.video.size
    path = out / "coco.json"
    tmp = path.with_name(path.name + ".tmp")
    n_ann = 0
    with open(tmp, "w") as fh:
        fh.write('{"info": ' + json.dumps({"description": f"sam2nb {__version__} export",
                                           "video": session.video.name}))  # fmt: skip
        cats = [{"id": o, "name": session.objects[o].name} for o in ids]
        fh.write(', "categories": ' + json.dumps(cats) + ', "images": [')
        fh.write(", ".join(json.dumps({"id": f, "file_name": frame_name(f).replace(".png", ".jpg"),
                                        "frame_idx": f, "width": w, "height": h})
                           for f in frames))  # fmt: skip
        fh.write('], "annotations": [')
        for f, recs in _frames(session, ids, frames, progress, "coco", stopped, res):
            for o in ids:
                r = recs.get(o)
                if r is None or r.area == 0:
                    continue
                ann = {"id": n_ann + 1, "image_id": f, "category_id": o, "segmentation":
                       _rle_json(r), "area": r.area, "bbox": _xywh(r.bbox),
                       "iscrowd": 0, "score": r.score, "predicted_iou": r.iou}  # fmt: skip
                fh.write((", " if n_ann else "") + json.dumps(ann))
                n_ann += 1
        fh.write("]}")
    _finish(tmp, path, res)


def _doc_ytvis(
    session: Any,
    out: Path,
    ids: list[int],
    frames: range,
    progress: bool,
    stopped: Callable[[], bool],
    res: ExportResult,
) -> None:
    w, h = session.video.size
    path = out / "ytvis.json"
    tmp = path.with_name(path.name + ".tmp")
    video = {"id": 1, "width": w, "height": h, "length": len(frames),
             "file_names": [frame_name(f).replace(".png", ".jpg") for f in frames],
             "frame_idx": [frames.start, frames.stop], "fps": session.video.fps,
             "timestamps_s": _times(session, frames)}  # fmt: skip
    with open(tmp, "w") as fh:
        cats = [{"id": o, "name": session.objects[o].name} for o in ids]
        fh.write('{"videos": [' + json.dumps(video) + '], "categories": ' + json.dumps(cats))
        fh.write(', "annotations": [')
        for k, o in enumerate(ids):  # one track per object, its frames streamed in
            if stopped():
                res.stopped = True
                break
            fh.write((", " if k else "") + json.dumps({"id": o, "video_id": 1, "category_id": o,
                                                       "iscrowd": 0})[:-1])  # fmt: skip
            segs, areas, boxes = [], [], []
            for f in frames:
                r = session.results.get(f, o)
                ok = r is not None and r.area > 0
                segs.append(_rle_json(r) if ok else None)
                areas.append(r.area if ok else None)
                boxes.append(_xywh(r.bbox) if ok else None)
            fh.write(', "segmentations": ' + json.dumps(segs) + ', "areas": ' + json.dumps(areas))
            fh.write(', "bboxes": ' + json.dumps(boxes) + "}")
            res.frames = len(frames)
        fh.write("]}")
    _finish(tmp, path, res)


def _doc_mot(
    session: Any,
    out: Path,
    ids: list[int],
    frames: range,
    progress: bool,
    stopped: Callable[[], bool],
    res: ExportResult,
) -> None:
    path = out / "mot.csv"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        wr = csv.writer(fh)
        for f, recs in _frames(session, ids, frames, progress, "mot", stopped, res):
            for o in ids:
                r = recs.get(o)
                if r is None or not r.visible or r.bbox is None:
                    continue
                # MOTChallenge: frame (from 1), id, left, top, width, height, conf, x, y, z
                wr.writerow([f + 1, o, *_xywh(r.bbox), round(r.score, 4), -1, -1, -1])
    _finish(tmp, path, res)
    if res.stopped:
        return
    # MOTChallenge's sequence file (frame rate, length, size), and each frame's time: MOT rows
    # count frames, and a variable frame rate video's frames are not evenly spaced
    v = session.video
    info = (
        f"[Sequence]\nname={Path(v.name).stem}\nimDir=img1\nframeRate={v.fps:.6g}\n"
        f"seqLength={len(frames)}\nimWidth={v.width}\nimHeight={v.height}\nimExt=.jpg\n"
    )
    atomic_write(out / "seqinfo.ini", fsync=False, data=info.encode())
    times = _times(session, frames)
    rows = "".join(f"{f + 1},{t:.6f}\n" for f, t in zip(frames, times, strict=True))
    atomic_write(out / "mot_times.csv", fsync=False, data=("frame,time_s\n" + rows).encode())
    res.paths += [out / "seqinfo.ini", out / "mot_times.csv"]
    res.files += 2


def _times(session: Any, frames: range) -> list[float]:
    """The frames' presentation times in the file, in seconds (even spacing if unknown)."""
    v = session.video
    times = getattr(v, "times", None)
    if times is None or len(times) != len(v):
        return [round(f / (v.fps or 30.0), 6) for f in frames]
    return [round(float(times[f]), 6) for f in frames]


_DOCUMENTS: dict[str, Callable] = {"coco": _doc_coco, "ytvis": _doc_ytvis, "mot": _doc_mot}

"""Read masks made elsewhere (or exported earlier) back into a session as mask prompts.

Editing then continues where the other tool left off: the imported frames are conditioning
frames, and a propagation tracks from them. Reads DAVIS-style palette PNGs, per-object binary
PNGs (sam2nb's ``png`` layout or SA-V's) and COCO RLE JSON (sam2nb's ``coco`` export, or any
COCO file whose images carry ``frame_idx`` or a frame number in ``file_name``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..base.errors import ExportError


def _frame_of(name: str) -> int | None:
    m = re.search(r"(\d+)(?=\.[A-Za-z0-9]+$)", name)
    return int(m.group(1)) if m else None


def read_masks(source: str | Path, size: tuple[int, int]) -> dict[int, dict[int, np.ndarray]]:
    """Read ``{frame_idx: {obj_id: (H, W) bool}}`` from mask files.

    ``source`` is a palette-PNG folder or file, a per-object PNG folder, or a COCO JSON file;
    ``size`` is the video's ``(width, height)``.

    Example:
        >>> read_masks("out/palette", (960, 540))[0].keys()  # doctest: +SKIP
        dict_keys([1, 2])
    """
    src = Path(source).expanduser()
    if not src.exists():
        raise ExportError(f"{src} does not exist: give a mask folder, a PNG or a COCO JSON file.")
    if src.suffix.lower() == ".json":
        return _coco(src, size)
    pngs = [src] if src.is_file() else sorted(src.glob("*.png"))
    if pngs:
        return {f: m for p in pngs if (f := _frame_of(p.name)) is not None
                for m in [_palette(p, size)]}  # fmt: skip
    out: dict[int, dict[int, np.ndarray]] = {}
    subs = [d for d in sorted(src.iterdir()) if d.is_dir() and d.name.isdigit()]
    if not subs and len(kids := [d for d in src.iterdir() if d.is_dir()]) == 1:
        subs = [d for d in sorted(kids[0].iterdir()) if d.is_dir() and d.name.isdigit()]  # SA-V
    if not subs:
        raise ExportError(
            f"No masks found in {src}: expected NNNNN.png palette files, <obj_id>/NNNNN.png "
            "folders (sam2nb png export) or <video>/<obj_id>/NNNNN.png (SA-V)."
        )
    for d in subs:
        for p in sorted(d.glob("*.png")):
            f = _frame_of(p.name)
            if f is not None:
                out.setdefault(f, {})[int(d.name)] = _binary(p, size)
    return out


def _load(p: Path, size: tuple[int, int]) -> Image.Image:
    img = Image.open(p)
    if img.size != tuple(size):
        raise ExportError(
            f"{p} is {img.size[0]}x{img.size[1]} but the video is {size[0]}x{size[1]}: masks "
            "must have the video's size."
        )
    return img


def _palette(p: Path, size: tuple[int, int]) -> dict[int, np.ndarray]:
    img = _load(p, size)
    if img.mode not in ("P", "L"):
        raise ExportError(f"{p} is a {img.mode} image; palette masks are indexed (P) or gray (L).")
    lab = np.asarray(img)
    return {int(o): lab == o for o in np.unique(lab) if o != 0}


def _binary(p: Path, size: tuple[int, int]) -> np.ndarray:
    """One object's mask from its own PNG.

    A palette PNG's non-zero indices (SA-V's 0/1 masks, as sam2's ``vos_inference`` writes
    them), or a gray or RGB image's bright pixels (0/255 masks).
    """
    img = _load(p, size)
    a = np.asarray(img)
    if img.mode == "P" or (img.mode == "L" and a.max(initial=0) <= 1):
        return a > 0
    return np.asarray(img.convert("L")) > 127


def _coco(p: Path, size: tuple[int, int]) -> dict[int, dict[int, np.ndarray]]:
    from pycocotools import mask as mask_utils

    try:
        doc = json.loads(p.read_text())
        frames = {}
        for im in doc["images"]:
            f = im.get("frame_idx", _frame_of(im.get("file_name", "")))
            frames[im["id"]] = f
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{p} is not a COCO JSON file ({exc}).") from None
    out: dict[int, dict[int, np.ndarray]] = {}
    for ann in doc.get("annotations", []):
        f = frames.get(ann["image_id"])
        seg = ann["segmentation"]
        if f is None:
            continue
        w, h = size
        if isinstance(seg, list):  # polygons
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        else:
            rle = seg if isinstance(seg["counts"], str) else mask_utils.frPyObjects(seg, h, w)
            rle = {"size": rle["size"], "counts": rle["counts"]}
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode()
        if list(rle["size"]) != [h, w]:
            raise ExportError(f"{p}: an annotation is {rle['size']} (h, w), the video {h}x{w}.")
        out.setdefault(int(f), {})[int(ann["category_id"])] = mask_utils.decode(rle).astype(bool)
    return out


def import_masks(
    session: Any,
    source: str | Path,
    frames: Iterable[int] | None = None,
    names: dict[int, str] | None = None,
) -> list[int]:
    """Add masks from files as mask prompts (objects are created as needed).

    Args:
        session: the :class:`~sam2nb.Session` (or :class:`~sam2nb.ImageSession`).
        source: a palette-PNG folder or file, a per-object PNG folder, or a COCO JSON.
        frames: which of the source's frames to import (default: all it has). Every imported
            frame becomes a conditioning frame, so a few well-chosen ones are best.
        names: names for objects created by the import.

    Returns:
        The frames imported.

    Example:
        >>> s2.import_masks(sess, "davis/Annotations/bear", frames=[0])  # doctest: +SKIP
        [0]
    """
    found = read_masks(source, session.video.size if hasattr(session, "video") else session.size)
    want = sorted(found) if frames is None else [int(f) for f in frames]
    missing = [f for f in want if f not in found]
    if missing:
        raise ExportError(f"{source} has no masks for frames {missing} (it has {sorted(found)}).")
    done = []
    for f in want:
        for o, m in sorted(found[f].items()):
            if not m.any():
                continue
            if o not in session.objects:
                session.add_object(o, name=(names or {}).get(o))
            session.add_mask(f, o, m)
        done.append(f)
    return done

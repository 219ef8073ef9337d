"""J&F: region similarity J and boundary accuracy F, as the DAVIS benchmark defines them.

J is the IoU of a predicted and a ground-truth mask (1 when both are empty). F is the F-measure
of their boundaries: boundary pixels (DAVIS's ``seg2bmap``) match when they lie within
``ceil(0.008 * image diagonal)`` pixels of the other boundary (a disk dilation). Scores are
averaged over frames per object, then over objects; like the DAVIS 2017 and SA-V evaluators,
the first and last annotated frames are left out by default (the first is the given prompt).

Ground truth is read from DAVIS palette PNGs (``Annotations/480p/<video>/00000.png``) or the SA-V
layout (``<video>/<obj_id:03d>/00000.png``); predictions from a session or an exported folder.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..base.errors import ExportError
from ..io.import_masks import read_masks

BOUND_TH = 0.008


def db_eval_iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """Region similarity J: IoU of two boolean masks (1.0 when both are empty).

    Example:
        >>> a = np.zeros((4, 4), bool); a[:2] = True
        >>> db_eval_iou(a, np.ones((4, 4), bool))
        0.5
    """
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    union = np.logical_or(gt, pred).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(gt, pred).sum() / union)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """The one-pixel boundary of a mask, as DAVIS computes it.

    A boundary pixel differs from its right, lower or lower-right neighbour.
    """
    seg = np.asarray(seg, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(r: int) -> np.ndarray:
    yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def db_eval_boundary(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """Boundary accuracy F of a prediction against ground truth (DAVIS's definition).

    Example:
        >>> m = np.zeros((20, 20), bool); m[5:15, 5:15] = True
        >>> db_eval_boundary(m, m)
        1.0
    """
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    r = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*gt.shape))
    fg_b, gt_b = seg2bmap(pred), seg2bmap(gt)
    k = _disk(int(r))
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), k) > 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), k) > 0
    n_fg, n_gt = fg_b.sum(), gt_b.sum()
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    precision = (fg_b & gt_dil).sum() / n_fg
    recall = (gt_b & fg_dil).sum() / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


@dataclass
class JFResult:
    """J&F of a prediction against ground truth.

    Attributes:
        J: mean region similarity over objects.
        F: mean boundary accuracy over objects.
        JF: their mean, the benchmark's headline number.
        per_object: ``{obj_id: (J, F)}`` averaged over the evaluated frames.
        per_frame: ``{(frame_idx, obj_id): (J, F)}``.
        frames: the evaluated frames.
    """

    J: float
    F: float
    JF: float
    per_object: dict[int, tuple[float, float]]
    per_frame: dict[tuple[int, int], tuple[float, float]]
    frames: list[int]

    def table(self) -> str:
        """A plain-text table of the per-object scores."""
        lines = [f"{'object':>6} {'J':>7} {'F':>7} {'J&F':>7}"]
        for o, (j, f) in sorted(self.per_object.items()):
            lines.append(f"{o:>6} {j:7.4f} {f:7.4f} {(j + f) / 2:7.4f}")
        lines.append(f"{'mean':>6} {self.J:7.4f} {self.F:7.4f} {self.JF:7.4f}")
        return "\n".join(lines)


def evaluate(
    pred: Any, gt: str | Path, *, skip_first_last: bool = True, bound_th: float = BOUND_TH
) -> JFResult:
    """J&F of a session's masks (or an exported mask folder) against ground truth.

    Args:
        pred: a :class:`~sam2nb.Session`, or a folder/file :func:`sam2nb.read_masks` reads.
        gt: ground truth: DAVIS palette PNGs or the SA-V layout (or COCO JSON).
        skip_first_last: leave out the first and last annotated frames (DAVIS 2017, SA-V).
        bound_th: boundary tolerance (a fraction of the diagonal, or pixels if >= 1).

    Returns:
        The scores. Objects are matched by id; a missing prediction counts as an empty mask.

    Example:
        >>> r = evaluate(sess, "DAVIS/Annotations/480p/bear")  # doctest: +SKIP
        >>> print(r.table())  # doctest: +SKIP
    """
    size = _size_of(pred, gt)
    truth = read_masks(gt, size)
    frames = sorted(truth)
    if skip_first_last and len(frames) > 2:
        frames = frames[1:-1]
    if not frames:
        raise ExportError(f"No annotated frames to evaluate in {gt}.")
    ids = sorted({o for f in truth for o in truth[f]})
    predicted = None if hasattr(pred, "results") else read_masks(pred, size)
    w, h = size
    empty = np.zeros((h, w), bool)
    per_frame: dict[tuple[int, int], tuple[float, float]] = {}
    for f in frames:
        if predicted is None:
            pm = pred.results.masks(f) if f < len(pred.video) else {}
        else:
            pm = predicted.get(f, {})
        for o in ids:
            g, p = truth[f].get(o, empty), pm.get(o, empty)
            per_frame[(f, o)] = (db_eval_iou(g, p), db_eval_boundary(g, p, bound_th))
    per_object = {}
    for o in ids:
        js = [per_frame[(f, o)][0] for f in frames]
        fs = [per_frame[(f, o)][1] for f in frames]
        per_object[o] = (float(np.mean(js)), float(np.mean(fs)))
    J = float(np.mean([v[0] for v in per_object.values()]))
    F = float(np.mean([v[1] for v in per_object.values()]))
    return JFResult(J, F, (J + F) / 2, per_object, per_frame, frames)


def _size_of(pred: Any, gt: str | Path) -> tuple[int, int]:
    if hasattr(pred, "video"):
        return tuple(pred.video.size)  # type: ignore[return-value]
    from PIL import Image

    g = Path(gt)
    first = g if g.is_file() else next(iter(sorted(g.rglob("*.png"))), None)
    if first is None:
        raise ExportError(f"No PNG masks in {gt}: give DAVIS or SA-V ground truth.")
    return Image.open(first).size


def cmd_jf(args: argparse.Namespace) -> int:
    """``sam2nb jf PRED GT``: print J&F."""
    r = evaluate(args.pred, args.gt, skip_first_last=not args.all_frames)
    print(f"{len(r.frames)} frames evaluated ({r.frames[0]}..{r.frames[-1]})")
    print(r.table())
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``jf`` on the main parser."""
    s = sub.add_parser("jf", help="J&F of predicted masks against DAVIS or SA-V ground truth")
    s.add_argument("pred", help="predicted masks: an export folder (palette, png or sav layout)")
    s.add_argument("gt", help="ground truth: DAVIS palette PNGs or SA-V <obj_id>/<frame>.png")
    s.add_argument("--all-frames", action="store_true", help="keep the first and last frames")
    s.set_defaults(func=cmd_jf)

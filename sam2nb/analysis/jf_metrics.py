"""J and F of one frame, DAVIS's Recall and Decay, and the rules that say which frames count.

J is the IoU of a predicted and a ground-truth mask (1 when both are empty). F is the F-measure
of their boundaries: boundary pixels (DAVIS's ``seg2bmap``) match when they lie within
``ceil(0.008 * image diagonal)`` pixels of the other boundary (a disk dilation).

Two protocols decide which objects are scored and on which frames (:func:`score_video`):

``"davis"`` (DAVIS 2017 semi-supervised, ``davis2017-evaluation``):
    the ids are ``1..max`` of the first ground-truth frame (DAVIS reads them from it; ids first
    seen later are not scored); with per-object ground truth (``<obj_id>/00000.png``), every
    object folder. Every evaluated frame counts for every object; an object absent from both
    masks scores J = F = 1 there. Predicted ids absent from the ground truth are ignored (the
    official script refuses such files).
``"sav"`` (SA-V's ``sav_evaluator`` and ``vos-benchmark``):
    an object enters the counted set the first time it appears in the ground truth or in the
    prediction; frames before that do not count for it. Only objects present in the ground truth
    (on an evaluated frame) are reported.

Both drop the first and last annotated frames (each object's own list for per-object ground
truth), average J and F over an object's counted frames, and report the mean over objects.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from ..base.errors import ExportError

BOUND_TH = 0.008
PROTOCOLS = ("davis", "sav")
STATS = ("J-Recall", "J-Decay", "F-Recall", "F-Decay")  # DAVIS's Recall and Decay columns
VOID = 255  # DAVIS's void label: background for the semi-supervised evaluation

Masks = Mapping[int, np.ndarray]  # {obj_id: (H, W) bool} of one frame


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

    Example:
        >>> m = np.zeros((4, 4), bool); m[1:3, 1:3] = True
        >>> seg2bmap(m).astype(int)
        array([[1, 1, 1, 0],
               [1, 0, 1, 0],
               [1, 1, 1, 0],
               [0, 0, 0, 0]])
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


def db_statistics(values: np.ndarray | list[float]) -> tuple[float, float, float]:
    """DAVIS's Mean, Recall and Decay of one object's per-frame scores.

    Recall is the share of frames scoring over 0.5. Decay is the mean of the first quarter of
    the frames minus the mean of the last quarter: the frames are cut at
    ``round(linspace(1, n, 5) + 1e-10) - 1`` and each bin includes its right edge, as
    ``davis2017-evaluation``'s ``db_statistics`` does. That code stores the cuts as ``uint8``,
    which wraps past 255 frames; here they are plain integers, so Decay is right for long videos
    too (and differs from the official script there).

    Args:
        values: the per-frame J (or F) of one object, in frame order.

    Returns:
        ``(mean, recall, decay)``; NaN for no frames.

    Example:
        >>> db_statistics([1.0, 1.0, 0.5, 0.0])  # bins [0:2], [1:3], [2:3], [2:4]
        (0.625, 0.5, 0.75)
    """
    v = np.asarray(values, float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    cuts = (np.round(np.linspace(1, v.size, 5) + 1e-10) - 1).astype(np.int64)
    bins = [v[cuts[i] : cuts[i + 1] + 1] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, recall = np.nanmean(v), np.nanmean(v > 0.5)
        decay = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return float(mean), float(recall), float(decay)


@dataclass
class ObjectScore:
    """One object's scores on the frames its protocol counts (0..1 scale).

    Attributes:
        obj_id: the object.
        frames: the counted frames.
        j: J on each counted frame.
        f: F on each counted frame.
    """

    obj_id: int
    frames: list[int]
    j: list[float]
    f: list[float]

    @property
    def J(self) -> float:  # noqa: N802 (the benchmarks' name)
        """Mean J over the counted frames."""
        return float(np.mean(self.j))

    @property
    def F(self) -> float:  # noqa: N802
        """Mean F over the counted frames."""
        return float(np.mean(self.f))

    @property
    def JF(self) -> float:  # noqa: N802
        """``(J + F) / 2``."""
        return (self.J + self.F) / 2

    def stats(self) -> dict[str, float]:
        """DAVIS's Recall and Decay of J and F (see :func:`db_statistics`)."""
        _, jr, jd = db_statistics(self.j)
        _, fr, fd = db_statistics(self.f)
        return dict(zip(STATS, (jr, jd, fr, fd), strict=True))


@dataclass
class VideoScore:
    """The scored objects of one video.

    Attributes:
        objects: ``{obj_id: ObjectScore}`` for the objects the protocol reports.
        frames: the annotated frames left after dropping the first and last (all objects).
        unscored: ground-truth ids the protocol does not score (DAVIS: ids first seen after the
            first frame; SA-V: ids seen only on dropped frames).
    """

    objects: dict[int, ObjectScore]
    frames: list[int]
    unscored: list[int]


def _any(mask: np.ndarray | None) -> bool:
    return mask is not None and bool(np.any(mask))


def _present(masks: Masks) -> set[int]:
    return {int(o) for o, m in masks.items() if np.any(m)}


def score_video(
    truth: Mapping[int, Masks],
    pred: Callable[[int], Masks] | Mapping[int, Masks],
    *,
    protocol: str = "davis",
    object_frames: Mapping[int, list[int]] | None = None,
    skip_first_last: bool = True,
    bound_th: float = BOUND_TH,
    name: str = "The ground truth",
) -> VideoScore:
    """Score one video's predicted masks against its ground truth under a protocol.

    Args:
        truth: ``{frame_idx: {obj_id: (H, W) bool}}``, one entry per annotated frame (an empty
            dict for an annotated frame without objects).
        pred: the same for the prediction, or a function of the frame index that returns that
            frame's masks. A missing frame or object is an empty mask.
        protocol: ``"davis"`` or ``"sav"`` (see the module's docstring).
        object_frames: for per-object ground truth, each object's annotated frames (its folder's
            files); ``None`` for palette ground truth (every object on every annotated frame).
        skip_first_last: drop the first and last annotated frames (both benchmarks do).
        bound_th: boundary tolerance (a fraction of the diagonal, or pixels if >= 1).
        name: the video, for messages.

    Returns:
        The per-object, per-frame scores.

    Example:
        >>> m = np.zeros((8, 8), bool); m[2:5, 2:5] = True
        >>> truth = {f: {1: m} for f in range(4)}
        >>> score_video(truth, {}, protocol="sav").objects[1].j  # nothing predicted
        [0.0, 0.0]
    """
    if protocol not in PROTOCOLS:
        raise ExportError(f"Unknown protocol {protocol!r}: use 'davis' or 'sav'.")
    get = pred if callable(pred) else (lambda f: pred.get(f, {}))
    all_frames = sorted(truth)
    if object_frames is None:
        lists = {o: all_frames for o in sorted({o for f in all_frames for o in truth[f]})}
    else:
        lists = {int(o): sorted(fs) for o, fs in object_frames.items()}
    kept = {o: (fs[1:-1] if skip_first_last else list(fs)) for o, fs in lists.items()}
    if object_frames is None:
        frames = all_frames[1:-1] if skip_first_last else all_frames
    else:
        frames = sorted({f for fs in kept.values() for f in fs})
    seen_in_gt = {o for o, fs in lists.items() for f in fs if np.any(truth[f].get(o, False))}
    if protocol == "davis":
        if object_frames is None:
            first = truth[all_frames[0]] if all_frames else {}
            top = max((o for o in _present(first) if o != VOID), default=0)
            ids = list(range(1, top + 1))
        else:
            ids = sorted(lists)
        kept = {o: kept.get(o, frames) for o in ids}
    else:
        kept = {o: fs for o, fs in kept.items() if o in seen_in_gt}
    shape = next((np.shape(m) for f in all_frames for m in truth[f].values()), None)
    empty = np.zeros(shape if shape is not None else (0, 0), bool)
    cache: dict[int, Masks] = {}
    objects = {}
    for o, fs in kept.items():
        if protocol == "davis" and not fs:
            raise ExportError(
                f"{name} has {len(lists.get(o, all_frames))} annotated frames: with the first "
                "and last dropped, none is left to score. Keep them (skip_first_last=False, "
                "sam2nb jf --all-frames)."
            )
        counted, js, fscores = [], [], []
        started = protocol == "davis"
        for f in fs:
            if f not in cache:
                cache[f] = get(f)
            g, p = truth[f].get(o), cache[f].get(o)
            started = started or _any(g) or _any(p)
            if not started:
                continue
            g = empty if g is None else g
            p = empty if p is None else p
            counted.append(f)
            js.append(db_eval_iou(g, p))
            fscores.append(db_eval_boundary(g, p, bound_th))
        if counted:
            objects[o] = ObjectScore(o, counted, js, fscores)
    unscored = sorted(seen_in_gt - set(objects) - {VOID})
    return VideoScore(objects, frames, unscored)

"""J&F: region similarity J and boundary accuracy F, as the DAVIS and SA-V benchmarks compute it.

J is the IoU of a predicted and a ground-truth mask (1 when both are empty); F is the F-measure
of their boundaries (:mod:`sam2nb.analysis.jf_metrics`). Two protocols say which objects and
frames count: ``"davis"`` (DAVIS 2017 semi-supervised: ids from the first ground-truth frame,
every evaluated frame counts) and ``"sav"`` (SA-V's evaluator and ``vos-benchmark``: an object
counts from the first frame it appears in the ground truth or the prediction). Both leave out
the first and last annotated frames (the first is the given prompt) and average over objects.

:func:`evaluate` scores one video (a session or a mask folder);
:func:`~sam2nb.analysis.jf_videos.evaluate_videos` a folder of videos; ``sam2nb jf PRED GT``
does the latter in a shell. Ground truth is DAVIS palette PNGs
(``Annotations/480p/<video>/00000.png``) or the SA-V layout (``<video>/<obj_id:03d>/00000.png``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import ExportError
from .jf_metrics import (
    BOUND_TH,
    PROTOCOLS,
    STATS,
    ObjectScore,
    db_eval_boundary,
    db_eval_iou,
    db_statistics,
    seg2bmap,
)
from .jf_videos import evaluate_videos, mask_size, read_video, score_truth

__all__ = [
    "BOUND_TH",
    "JFResult",
    "add_parser",
    "cmd_jf",
    "db_eval_boundary",
    "db_eval_iou",
    "db_statistics",
    "evaluate",
    "seg2bmap",
]


@dataclass
class JFResult:
    """J&F of a prediction against ground truth (0..1 scale).

    Attributes:
        J: mean region similarity over objects.
        F: mean boundary accuracy over objects.
        JF: their mean, the benchmark's headline number.
        per_object: ``{obj_id: (J, F)}`` averaged over each object's counted frames.
        per_frame: ``{(frame_idx, obj_id): (J, F)}`` on the counted frames.
        frames: the annotated frames evaluated (first and last dropped).
        protocol: ``"davis"`` or ``"sav"``.
        objects: ``{obj_id: ObjectScore}``: per-frame scores, counted frames, Recall and Decay.
        unscored: ground-truth ids the protocol left out.
    """

    J: float
    F: float
    JF: float
    per_object: dict[int, tuple[float, float]]
    per_frame: dict[tuple[int, int], tuple[float, float]]
    frames: list[int]
    protocol: str = "davis"
    objects: dict[int, ObjectScore] = field(default_factory=dict)
    unscored: list[int] = field(default_factory=list)

    @property
    def recall_decay(self) -> dict[str, float]:
        """DAVIS's J/F Recall and Decay, averaged over objects."""
        stats = [s.stats() for s in self.objects.values()]
        return {k: float(np.mean([s[k] for s in stats])) if stats else float("nan") for k in STATS}

    def table(self) -> str:
        """A plain-text table of the per-object scores."""
        lines = [f"{'object':>6} {'J':>7} {'F':>7} {'J&F':>7}"]
        for o, (j, f) in sorted(self.per_object.items()):
            lines.append(f"{o:>6} {j:7.4f} {f:7.4f} {(j + f) / 2:7.4f}")
        lines.append(f"{'mean':>6} {self.J:7.4f} {self.F:7.4f} {self.JF:7.4f}")
        return "\n".join(lines)


def evaluate(
    pred: Any,
    gt: str | Path,
    *,
    skip_first_last: bool = True,
    bound_th: float = BOUND_TH,
    protocol: str = "davis",
) -> JFResult:
    """J&F of a session's masks (or an exported mask folder) against one video's ground truth.

    Args:
        pred: a :class:`~sam2nb.Session`, or a folder/file :func:`sam2nb.read_masks` reads
            (palette PNGs, ``<obj_id>/NNNNN.png`` folders, the SA-V layout, COCO JSON).
        gt: ground truth: DAVIS palette PNGs or per-object PNGs (SA-V layout), or COCO JSON.
        skip_first_last: leave out the first and last annotated frames (DAVIS 2017, SA-V).
        bound_th: boundary tolerance (a fraction of the diagonal, or pixels if >= 1).
        protocol: ``"davis"``: ids from the first ground-truth frame (palette PNGs; every object
            folder for per-object PNGs), every evaluated frame counted; ``"sav"``: an object
            counts from its first appearance in the ground truth or the prediction, and only
            objects present in the ground truth are reported (SA-V, vos-benchmark).

    Returns:
        The scores. Objects are matched by id; a missing prediction counts as an empty mask.

    Example:
        >>> r = evaluate(sess, "DAVIS/Annotations/480p/bear")  # doctest: +SKIP
        >>> print(r.table())  # doctest: +SKIP
    """
    if protocol not in PROTOCOLS:
        raise ExportError(f"Unknown protocol {protocol!r}: use 'davis' or 'sav'.")
    size = tuple(pred.video.size) if hasattr(pred, "video") else mask_size(gt)
    truth = read_video(gt, size)  # type: ignore[arg-type]
    if not truth.frames:
        raise ExportError(f"No annotated frames to evaluate in {gt}.")
    if hasattr(pred, "results"):

        def predicted(f: int) -> dict[int, np.ndarray]:
            return pred.results.masks(f) if f < len(pred.video) else {}

    else:
        predicted = read_video(pred, size).frames  # type: ignore[arg-type, assignment]
    score = score_truth(truth, predicted, protocol, skip_first_last, bound_th, str(gt))
    if not score.objects:
        raise ExportError(
            f"No objects to score in {gt}: the ground truth is empty on the evaluated frames "
            "(protocol 'davis' takes the ids from the first frame; 'sav' from any evaluated one)."
        )
    objs = score.objects
    per_object = {o: (s.J, s.F) for o, s in objs.items()}
    per_frame = {
        (f, o): (j, fb)
        for o, s in objs.items()
        for f, j, fb in zip(s.frames, s.j, s.f, strict=True)
    }
    J = float(np.mean([v[0] for v in per_object.values()]))
    F = float(np.mean([v[1] for v in per_object.values()]))
    return JFResult(
        J, F, (J + F) / 2, per_object, per_frame, score.frames, protocol, objs, score.unscored
    )


def cmd_jf(args: argparse.Namespace) -> int:
    """``sam2nb jf PRED GT``: per-object J&F, ending with ``J&F x J y F z`` (x100)."""
    if args.csv and Path(args.csv).expanduser().exists() and not args.force:
        raise ExportError(f"{args.csv} exists: add --force to overwrite it, or give another file.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = evaluate_videos(
            args.pred, args.gt, protocol=args.protocol, skip_first_last=not args.all_frames
        )
    for w in caught:
        print(f"sam2nb: note: {w.message}", file=sys.stderr)
    if len(r.frames) == 1:
        video, frames = next(iter(r.frames.items()))
        span = f"({frames[0]}..{frames[-1]})" if frames else ""
        print(f"{len(frames)} frames evaluated {span} in {video}, protocol {r.protocol}")
    else:
        print(f"{len(r.frames)} videos, {len(r.rows)} objects, protocol {r.protocol}")
    if args.csv:
        print(f"per-object rows written to {r.to_csv(args.csv, force=args.force)}")
    print(r.table())
    print(r.summary())
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``jf`` on the main parser."""
    s = sub.add_parser("jf", help="J&F of predicted masks against DAVIS or SA-V ground truth")
    s.add_argument(
        "pred", help="predicted masks: a folder of videos (one sub-folder each) or one video"
    )
    s.add_argument(
        "gt",
        help="ground truth: a folder of videos (palette PNGs or SA-V <obj_id>/<frame>.png), a "
        "DAVIS root (Annotations/480p/) or one video",
    )
    s.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="davis",
        help="davis: ids from the first frame, every frame counts (DAVIS 2017); sav: an object "
        "counts from its first appearance in truth or prediction (SA-V, vos-benchmark)",
    )
    s.add_argument("--csv", help="also write the per-object rows here (0..1, full precision)")
    s.add_argument("--force", action="store_true", help="overwrite the --csv file if it exists")
    s.add_argument("--all-frames", action="store_true", help="keep the first and last frames")
    s.set_defaults(func=cmd_jf)

"""Where tracking went wrong, from what tracking already computed: flags and the worst segments.

No model runs here: every signal comes from the result store (each frame and object's mask as
RLE, its object score, the model's predicted IoU, area and box). :func:`quality_table` gives
one row per frame and object with the measures and the flags they raise, each with its reason;
:func:`worst_segments` merges runs of flagged frames into segments and ranks them, so the worst
drift is the first thing to look at. ``sam2nb quality FOLDER`` prints the same for a saved
session.

The flags (thresholds in :class:`QualityRules`; the values of most are tuned on generated
videos with known faults, see :data:`TUNED_ON`):

==========  =====================================================================================
flag        raised when
==========  =====================================================================================
low_iou     the model's predicted IoU is below 0.5: it doubts its own mask (sam2 keeps automatic
            masks only above 0.8; below 0.5 is doubt, not just a loose edge)
weak        visible, but the object score is below 1.0 (sigmoid 0.73): sam2 calls the object
            present at a score above 0, so just above 0 is a coin toss
vanished    visible on the frame before, not on this one (the track was lost); not when the
            mask before touched the frame's edge (the object left) or was hidden by another
            object's mask (occlusion)
appeared    visible again after a frame where it was not (came back: the same object?); not
            when the mask touches the frame's edge (it came in), nor on its first appearance
area        the area changed by more than half (x1.5 up or down) from the frame before
jump        the box centre moved more than 0.8 times the object's size (square root of its
            area) in one frame: real objects rarely do at video frame rates
shape       the mask overlaps its own mask on the frame before with IoU below 0.4, also once
            their box centres are put together (moving fast is not a change of shape)
swap        the mask overlaps another object's mask of the frame before better than its own (IoU
            at least 0.5): the two identities may have swapped
overlap     more than a tenth of the mask is also another object's mask: two tracks on one thing
drift       a drift check (:func:`sam2nb.check_drift`) tracked back from a later frame and got a
            mask with IoU below 0.7 against this one (drift score 1 - IoU above 0.3): forward
            and backward tracking disagree, so one of them lost the object
==========  =====================================================================================

Temporal flags compare a frame with the frame before it in the video, so they need both tracked;
masks under 25 pixels are not compared (their area and position are noise). Two things change a
mask without anything going wrong: the object going out of (or into) the frame, where the mask
touches the edge (no ``area``, ``shape``, ``vanished`` or ``appeared``), and another object
passing in front, where at least 30% of what the mask lost is now another object's mask (or
of what it gained was another's on the frame before: no ``area``, ``jump``, ``shape``,
``vanished`` or ``appeared``). Each flag has a weight (``swap`` 3, ``vanished``, ``jump``,
``shape`` and ``drift`` 2, the others 1); a frame's severity is the sum, a segment's the sum
over its frames.

Example:
    >>> _ = sess.run(progress=False)
    >>> q = quality_table(sess.results)
    >>> q.columns[-4:].tolist()
    ['flag_drift', 'flagged', 'why', 'severity']
    >>> seg = worst_segments(q)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from ..media.overlay import shift_mask
from ..storage.store import ResultStore, StoreError, rle_iou
from ..tracking.drift import drift_scores
from .jf_metrics import db_eval_iou

WEIGHTS = {"low_iou": 1.0, "weak": 1.0, "vanished": 2.0, "appeared": 1.0, "area": 1.0,
           "jump": 2.0, "shape": 2.0, "swap": 3.0, "overlap": 1.0, "drift": 2.0}  # fmt: skip
FLAGS = tuple(WEIGHTS)
COLUMNS = ["frame_idx", "obj_id", "visible", "score", "iou", "area", "area_change", "jump",
           "iou_prev", "swap_with", "swap_iou", "overlap_with", "overlap_share", "drift",
           "iou_aligned", "at_edge", "hidden_share",
           *(f"flag_{k}" for k in FLAGS), "flagged", "why", "severity"]  # fmt: skip


TUNED_ON = (
    "The thresholds of area, jump, shape, swap, overlap, drift, edge and hidden are tuned on "
    "generated videos with known faults (drift, swap, vanish, leak, jitter) tracked by the "
    "instrument tracker: benchmarks/drift_flags.py, train seed 101; on the held-out seed 202 "
    "the flags found 97.7% of the faults and 80% of flagged segments held one. low_iou and "
    "weak read the model's own confidence and are not tuned there (the instrument has none)."
)


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the quality flags (see :data:`TUNED_ON` for where their values come from).

    Attributes:
        low_iou: predicted IoU below this raises ``low_iou``.
        weak_score: a visible object's score below this raises ``weak``.
        area_change: relative area change from the frame before above this raises ``area``
            (0.5: more than x1.5, or less than /1.5).
        jump: box-centre step over the object's size (sqrt of its area) above this: ``jump``.
        shape: IoU with its own previous mask below this raises ``shape``.
        swap: IoU with another object's previous mask at least this, and above its own: ``swap``.
        overlap: share of the mask that is also another object's above this: ``overlap``.
        min_area: masks smaller than this many pixels are not compared between frames.
        drift: a drift score (1 - IoU with the mask tracked back from a later frame) above
            this raises ``drift``.
        edge: a mask within this many pixels of the frame's edge is going out of (or coming
            into) the frame: no ``vanished``, ``appeared``, ``area`` or ``shape`` (-1: off).
        hidden: when at least this share of what a mask lost since the frame before is now
            another object's mask (or of what it gained was another's), the object went behind
            it (or came out): no ``area``, ``jump``, ``shape``, ``vanished`` or ``appeared``
            (above 1: off).
    """

    low_iou: float = 0.5
    weak_score: float = 1.0
    area_change: float = 0.5
    jump: float = 0.8
    shape: float = 0.4
    swap: float = 0.5
    overlap: float = 0.1
    min_area: int = 25
    drift: float = 0.3
    edge: int = 2
    hidden: float = 0.3


def _inter(a: dict, b: dict) -> int:
    return int(mask_utils.area(mask_utils.merge([a, b], intersect=True)))


def _centre(box: Any) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def quality_table(
    results: Any,
    obj_ids: Iterable[int] | None = None,
    frames: Iterable[int] | None = None,
    rules: QualityRules | None = None,
) -> pd.DataFrame:
    """One row per (frame, object) with the quality measures and the flags they raise.

    Args:
        results: a :class:`~sam2nb.ResultStore` (``session.results``), or a session.
        obj_ids: the objects (default: all in the store).
        frames: the frames (default: every frame with a result).
        rules: thresholds (default :class:`QualityRules`).

    Returns:
        Columns ``frame_idx``, ``obj_id``, ``visible``, ``score``, ``iou``, ``area``,
        ``area_change`` (relative to the frame before), ``jump`` (centre step over size),
        ``iou_prev`` (with its own previous mask), ``swap_with`` / ``swap_iou``,
        ``overlap_with`` / ``overlap_share``, ``drift`` (the drift check's score, NaN where
        none ran), a boolean ``flag_<name>`` per flag, ``flagged`` (the
        flags raised, comma-separated; not ``flags``, which pandas tables have already),
        ``why`` (each flag's reason, in words) and
        ``severity`` (the flags' weights summed).

    Example:
        >>> q = quality_table(sess.results, obj_ids=[1])
        >>> set(q.obj_id) <= {1}
        True
    """
    store = getattr(results, "results", results)
    rules = rules or QualityRules()
    ids = sorted(store.obj_ids() if obj_ids is None else {int(o) for o in obj_ids})
    order = sorted(set(store.frames()) if frames is None else {int(f) for f in frames})
    rows: list[dict] = []
    prev: tuple[int, dict] = (-2, {})
    drift = drift_scores(store)
    seen: set[int] = set()
    for f in order:
        recs = {o: r for o, r in store.frame(f).items() if o in ids}
        rows += flag_frame(f, recs, prev, rules, drift, seen)
        prev = (f, recs)
    return pd.DataFrame(rows, columns=COLUMNS)


def flag_frame(
    frame_idx: int,
    records: dict,
    prev: tuple[int, dict],
    rules: QualityRules | None = None,
    drift: dict[tuple[int, int], float] | None = None,
    seen: set[int] | None = None,
) -> list[dict]:
    """:func:`quality_table`'s rows for one frame (for callers that read the store already).

    Args:
        frame_idx: the frame.
        records: ``{obj_id: MaskRecord}`` on it.
        prev: ``(frame_idx, records)`` of the frame read before it; compared only when it is
            the frame just before.
        rules: thresholds (default :class:`QualityRules`).
        drift: drift scores, ``{(frame_idx, obj_id): score}`` (:func:`sam2nb.drift_scores`).
        seen: the objects visible on an earlier frame (updated here; pass the same set for
            each frame in order). ``appeared`` needs the object seen before; None: every
            object counts as seen.
    """
    rules = rules or QualityRules()
    before = prev[1] if prev[0] == frame_idx - 1 else {}
    drift = drift or {}
    rows = []
    for o, r in records.items():
        again = seen is None or o in seen
        rows.append(_row(frame_idx, o, r, records, before, rules, drift.get((frame_idx, o)),
                         again))  # fmt: skip
        if seen is not None and r.visible:
            seen.add(o)
    return rows


def _at_edge(r: Any, rules: QualityRules) -> bool:
    """Whether a mask reaches within ``rules.edge`` pixels of the frame's edge."""
    if rules.edge < 0 or r.bbox is None or not r.area:
        return False
    h, w = r.rle["size"]
    x0, y0, x1, y1 = r.bbox
    e = rules.edge
    return x0 <= e or y0 <= e or x1 >= w - e or y1 >= h - e


def _hidden_share(r: Any, p: Any, recs: dict, before: dict, o: int) -> float:
    """The share of a mask's change since the frame before that another object explains.

    Shrinking: the share of what it lost that other masks cover now (it went behind them).
    Growing: the share of what it gained that other masks covered on the frame before (it came
    out from behind them).
    """
    shrank = r.area < p.area
    old, new = (p, r) if shrank else (r, p)  # the larger mask and the smaller one
    near = recs if shrank else before
    changed = old.area - (_inter(old.rle, new.rle) if new.area else 0)
    others = [q.rle for k, q in near.items() if k != o and q.area]
    if changed <= 0 or not others:
        return 0.0
    cover = mask_utils.merge(others) if len(others) > 1 else others[0]
    covered = _inter(old.rle, cover) - (
        int(mask_utils.area(mask_utils.merge([old.rle, new.rle, cover], intersect=True)))
        if new.area
        else 0
    )
    return float(min(1.0, covered / changed))


def _aligned_iou(r: Any, p: Any) -> float:
    """IoU of a mask with the one before, moved so their boxes' centres meet (shape alone)."""
    (x0, y0), (x1, y1) = _centre(p.bbox), _centre(r.bbox)
    return db_eval_iou(r.mask(), shift_mask(p.mask(), x1 - x0, y1 - y0))


def _row(
    f: int,
    o: int,
    r: Any,
    recs: dict,
    before: dict,
    rules: QualityRules,
    drift: float | None,
    again: bool = True,
) -> dict:
    nan = np.nan
    row: dict[str, Any] = {"frame_idx": f, "obj_id": o, "visible": bool(r.visible),
                           "score": r.score, "iou": nan if r.iou is None else r.iou,
                           "area": r.area, "area_change": nan, "jump": nan, "iou_prev": nan,
                           "swap_with": nan, "swap_iou": nan, "overlap_with": nan,
                           "overlap_share": 0.0,
                           "drift": nan if drift is None else drift,
                           "iou_aligned": nan, "at_edge": _at_edge(r, rules),
                           "hidden_share": nan}  # fmt: skip
    why: dict[str, str] = {}
    if r.iou is not None and r.iou < rules.low_iou:
        why["low_iou"] = f"the model's predicted IoU is {r.iou:.2f} (below {rules.low_iou})"
    if r.visible and r.score < rules.weak_score:
        why["weak"] = (
            f"object score {r.score:.2f}: visible (above 0) but weak (below {rules.weak_score})"
        )
    p = before.get(o)
    # going out of (or into) the frame, or behind another object: the mask changes, rightly
    left = p is not None and _at_edge(p, rules)  # the mask before touched the frame's edge
    edge = left or (p is not None and row["at_edge"])
    if p is not None and (p.area or r.area) and r.area != p.area and rules.hidden <= 1:
        row["hidden_share"] = _hidden_share(r, p, recs, before, o)
    hidden = row["hidden_share"] >= rules.hidden  # NaN: not compared
    if p is not None:
        if p.visible and not r.visible and not (left or hidden):
            why["vanished"] = "not visible after a visible frame"
        elif r.visible and not p.visible and again and not (row["at_edge"] or hidden):
            why["appeared"] = "visible again after a frame where it was not"
    big = r.area >= rules.min_area
    if p is not None and big and p.area >= rules.min_area:
        change = r.area / p.area - 1
        row["area_change"] = change
        if max(r.area, p.area) / min(r.area, p.area) > 1 + rules.area_change and not (
            edge or hidden
        ):
            why["area"] = f"area changed {change:+.0%} from the frame before"
        (x0, y0), (x1, y1) = _centre(p.bbox), _centre(r.bbox)
        row["jump"] = step = float(np.hypot(x1 - x0, y1 - y0) / np.sqrt(p.area))
        if step > rules.jump and not hidden:
            why["jump"] = f"moved {step:.2f} times its size in one frame"
        row["iou_prev"] = own = rle_iou(r.rle, p.rle)
        if own < rules.shape and not (edge or hidden):
            row["iou_aligned"] = same = _aligned_iou(r, p)  # moving fast is not a new shape
            if same < rules.shape:
                why["shape"] = (f"IoU {same:.2f} with its own mask on the frame before (their "
                                "centres put together)")  # fmt: skip
        others = [(rle_iou(r.rle, q.rle), k) for k, q in before.items()
                  if k != o and q.area >= rules.min_area]  # fmt: skip
        if others:
            best, k = max(others)
            row["swap_with"], row["swap_iou"] = k, best
            if best >= rules.swap and best > own:
                why["swap"] = (f"matches object {k}'s mask on the frame before (IoU {best:.2f}) "
                               f"better than its own ({own:.2f}): identities swapped?")  # fmt: skip
    if big:
        shares = [(_inter(r.rle, q.rle) / r.area, k) for k, q in recs.items()
                  if k != o and q.area]  # fmt: skip
        if shares:
            share, k = max(shares)
            if share > 0:
                row["overlap_with"], row["overlap_share"] = k, share
            if share > rules.overlap:
                why["overlap"] = f"{share:.0%} of its mask is also object {k}'s"
    if drift is not None and drift > rules.drift:
        why["drift"] = (f"tracked back from a later frame, the mask there disagrees: drift "
                        f"{drift:.2f} (1 - IoU)")  # fmt: skip
    for flag in FLAGS:
        row[f"flag_{flag}"] = flag in why
    row["flagged"] = ",".join(why)
    row["why"] = "; ".join(why.values())
    row["severity"] = float(sum(WEIGHTS[k] for k in why))
    return row


def worst_segments(
    quality: pd.DataFrame, obj_id: int | None = None, gap: int = 2, top: int | None = 10
) -> pd.DataFrame:
    """Runs of flagged frames per object, merged across gaps of up to ``gap`` frames, worst first.

    Args:
        quality: :func:`quality_table`'s table.
        obj_id: only this object (default: all).
        gap: unflagged frames allowed inside one segment.
        top: how many segments (None: all).

    Returns:
        Columns ``obj_id``, ``start``, ``end`` (inclusive), ``frames`` (flagged frames in it),
        ``severity`` (summed), ``drift`` (mean drift score over its checked frames, NaN if
        none was checked), ``flagged`` (each flag with its count, most frequent first) and
        ``why`` (the reasons on its worst frame), sorted by severity, then earliest first.

    Example:
        >>> worst_segments(quality_table(sess.results), top=3).columns.tolist()[:3]
        ['obj_id', 'start', 'end']
    """
    bad = quality[quality["severity"] > 0]
    if obj_id is not None:
        bad = bad[bad["obj_id"] == int(obj_id)]
    segs: list[dict] = []
    for o, g in bad.sort_values("frame_idx").groupby("obj_id"):
        run: list[Any] = []
        for row in g.itertuples():
            if run and row.frame_idx - run[-1].frame_idx > gap + 1:
                segs.append(_segment(int(o), run))
                run = []
            run.append(row)
        if run:
            segs.append(_segment(int(o), run))
    cols = ["obj_id", "start", "end", "frames", "severity", "drift", "flagged", "why"]
    out = pd.DataFrame(segs, columns=cols)
    out = out.sort_values(["severity", "start"], ascending=[False, True]).reset_index(drop=True)
    return out if top is None else out.head(int(top))


def _segment(obj_id: int, run: list[Any]) -> dict:
    counts: dict[str, int] = {}
    for r in run:
        for k in str(r.flagged).split(","):
            counts[k] = counts.get(k, 0) + 1
    worst = max(run, key=lambda r: r.severity)
    flags = ", ".join(f"{k} x{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    drift = [r.drift for r in run if r.drift == r.drift]  # NaN: not checked
    return {"obj_id": obj_id, "start": int(run[0].frame_idx), "end": int(run[-1].frame_idx),
            "frames": len(run), "severity": float(sum(r.severity for r in run)),
            "drift": float(np.mean(drift)) if drift else np.nan,
            "flagged": flags, "why": f"frame {worst.frame_idx}: {worst.why}"}  # fmt: skip


def quality(
    session_or_folder: Any,
    obj_id: int | None = None,
    rules: QualityRules | None = None,
    gap: int = 2,
    top: int | None = 10,
) -> pd.DataFrame:
    """The worst segments of a session, or of a saved session folder (no model is loaded).

    Args:
        session_or_folder: a session, or the folder a session is kept in.
        obj_id: only this object.
        rules: thresholds (default :class:`QualityRules`).
        gap: unflagged frames allowed inside one segment.
        top: how many segments (None: all).

    Returns:
        :func:`worst_segments`'s table with a ``name`` column; ``attrs["untrained"]`` says
        whether the masks came from the untrained test model (its flags are noise).

    Example:
        >>> quality(sess, top=2).attrs["untrained"]
        True
    """
    names, untrained = {}, False
    if isinstance(session_or_folder, (str, os.PathLike)):
        store, names, untrained = _open_folder(Path(session_or_folder))
    else:
        store = session_or_folder.results
        names = {o: t.name for o, t in session_or_folder.objects.items()}
        untrained = bool(getattr(session_or_folder.engine, "untrained", False))
    q = quality_table(store, None if obj_id is None else [obj_id], rules=rules)
    out = worst_segments(q, gap=gap, top=top)
    out.insert(1, "name", [names.get(o, str(o)) for o in out["obj_id"]])
    out.attrs.update(untrained=untrained, frames=int(q["frame_idx"].nunique()))
    return out


def _open_folder(folder: Path) -> tuple[Any, dict[int, str], bool]:
    meta_file = folder / "session.json"
    if not meta_file.is_file():
        raise StoreError(
            f"{folder} is not a saved session (no session.json): pass the folder a session is "
            "kept in (the app's folder, or `sam2nb track --save-session`)."
        )
    meta = json.loads(meta_file.read_text())
    store = ResultStore.open(folder / meta.get("journal", "results.sqlite"))
    names = {int(o["obj_id"]): str(o.get("name", o["obj_id"])) for o in meta.get("objects", [])}
    return store, names, bool(meta.get("untrained"))


def cmd_quality(args: argparse.Namespace) -> int:
    """``sam2nb quality FOLDER``: print the worst segments of a saved session."""
    segs = quality(args.folder, obj_id=args.obj, gap=args.gap, top=args.top or None)
    frames = segs.attrs["frames"]
    if segs.attrs["untrained"]:
        print("note: UNTRAINED TEST MODEL: its masks are noise, and so are these flags")
    if segs.empty:
        print(f"{frames} frames: no frame flagged")
        return 0
    print(f"{frames} frames; the worst segments first (severity: flag weights summed):")
    with pd.option_context("display.max_colwidth", 90, "display.width", 200):
        print(segs.to_string(index=False))
    if args.csv:
        segs.to_csv(args.csv, index=False)
        print(f"written to {args.csv}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``quality`` on the main parser."""
    s = sub.add_parser("quality", help="where tracking may have drifted: the worst segments")
    s.add_argument("folder", help="a saved session's folder (the app's folder)")
    s.add_argument("--obj", type=int, help="only this object id")
    s.add_argument("--top", type=int, default=10, help="how many segments (0: all)")
    s.add_argument("--gap", type=int, default=2, help="unflagged frames allowed in a segment")
    s.add_argument("--csv", help="also write the segments to this CSV file")
    s.set_defaults(func=cmd_quality)


class SuspectQueue:
    """The suspect segments of a session to check one by one, worst first ("fix next").

    A segment drops out of the queue once it holds a new prompt of its object (the user
    corrected it: a prompt made since the queue was made; the prompts tracking started from
    do not count) or once :meth:`next` has shown it (seen; :meth:`reset` brings those back). Call
    :meth:`refresh` after tracking or corrections: the flags are computed again from the
    results (no model runs).

    Args:
        session: the session whose results are checked.
        rules: thresholds (default :class:`QualityRules`).
        gap: unflagged frames allowed inside one segment.

    Example:
        >>> q = SuspectQueue(sess)
        >>> seg = q.next()  # a dict: obj_id, start, end, frames, severity, flagged, why
        >>> seg is None or seg["start"] <= seg["end"]
        True
    """

    def __init__(self, session: Any, rules: QualityRules | None = None, gap: int = 2):
        self.session, self.rules, self.gap = session, rules or QualityRules(), int(gap)
        self.seen: set[tuple[int, int]] = set()
        objects = getattr(session, "objects", {})
        self._prompted = {o: set(session.prompt_frames(o)) for o in objects}  # not corrections
        self.table = pd.DataFrame()
        self.segments = pd.DataFrame()
        self.refresh()

    def refresh(self) -> None:
        """Compute the flags and segments again from the session's results."""
        self.table = quality_table(self.session.results, rules=self.rules)
        self.segments = worst_segments(self.table, gap=self.gap, top=None)

    def _corrected(self, seg: Any) -> bool:
        o = int(seg.obj_id)
        new = set(self.session.prompt_frames(o)) - self._prompted.get(o, set())
        return any(seg.start <= f <= seg.end for f in new)

    def pending(self) -> list[dict]:
        """The segments still to check, worst first."""
        out = []
        for seg in self.segments.itertuples(index=False):
            if (int(seg.obj_id), int(seg.start)) in self.seen or self._corrected(seg):
                continue
            out.append(seg._asdict())
        return out

    def next(self) -> dict | None:
        """The worst segment not yet shown or corrected (marked as shown), or None."""
        todo = self.pending()
        if not todo:
            return None
        seg = todo[0]
        self.seen.add((int(seg["obj_id"]), int(seg["start"])))
        return seg

    def reset(self) -> None:
        """Bring back the segments already shown."""
        self.seen.clear()

    def flagged(self, obj_id: int, num_frames: int) -> np.ndarray:
        """Frames where ``obj_id`` is flagged, as a boolean array (the app's quality lane)."""
        out = np.zeros(int(num_frames), bool)
        if len(self.table):
            f = self.table.loc[(self.table.obj_id == obj_id) & (self.table.severity > 0),
                               "frame_idx"].to_numpy()  # fmt: skip
            out[f[f < num_frames]] = True
        return out

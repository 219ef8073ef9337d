"""The drift tools scored on known failures: quality flags, the drift check and "fix next".

Generated videos (:func:`sam2nb.synthetic_benchmark`) are tracked by the instrument tracker
(:mod:`sam2nb.synthetic.instrument`: the true masks, with failures injected at known frames and
objects), one run per fault kind and video, each with that kind's faults only. Each run is
tracked to the end, checked for drift (each object tracked back from its last visible frame),
and its quality flags merged into segments (:func:`sam2nb.analysis.quality.worst_segments`).

- **precision**: flagged segments that overlap a fault of their object, over all segments;
- **recall**: faults overlapped by a flagged segment of their object, over all faults;
- **fix-next steps**: a simulated user takes "fix next" (the worst segment not yet seen),
  clicks on the object at the first frame of the segment where its mask is wrong (IoU below
  0.7 with the truth; a segment with none is a false alarm, a wasted step) and re-tracks from
  there with ``converge=True``; steps until every fault of the run was corrected (the mean over
  runs where all were, and the share of runs where all were within 3 steps per fault + 5);
- **frames re-tracked**: by those correction-bounded re-propagations, against re-tracking from
  each correction to the end;
- **J&F before/after**: SA-V protocol, x100, over all objects of the runs, before the fixes
  and after them.

Seeds: thresholds are tuned (``--tune``) on the train split (seed 101) and the figures are
reported on the held-out split (seed 202), which tuning never reads. The last line reads
``drift: precision=<p> recall=<r>`` (held-out, all kinds together).

    python benchmarks/drift_flags.py [--quick] [--videos 10] [--tune] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

import sam2nb as s2
from sam2nb.analysis.quality import QualityRules, SuspectQueue, quality_table
from sam2nb.analysis.quality import worst_segments as segments_of
from sam2nb.synthetic.faults import FAULT_KINDS, Fault, plan_faults
from sam2nb.synthetic.instrument import Instrument, Truth
from sam2nb.synthetic.scenes import inside_point

TRAIN_SEED, HELD_OUT_SEED = 101, 202
WRONG_IOU = 0.7  # the simulated user calls a mask wrong below this IoU with the truth
GAP = 2
# the thresholds --tune searches (the others stay: the instrument gives no confidence signal)
GRID = {
    "area_change": (0.3, 0.5, 0.8, 1.2),
    "jump": (0.3, 0.5, 0.8, 1.2),
    "shape": (0.3, 0.4, 0.5, 0.7),
    "swap": (0.3, 0.5, 0.7),
    "overlap": (0.1, 0.25, 0.4, 0.6),
    "drift": (0.3, 0.5, 0.7),
    "edge": (-1, 2, 8),
    "hidden": (0.3, 0.5, 0.7, 2.0),
}


@dataclass
class Run:
    """One video tracked with one kind of fault."""

    name: str
    kind: str
    faults: list[Fault]
    num_frames: int
    sess: object = None
    truth: Truth | None = None
    annotations: Path | None = None
    prompts: dict = field(default_factory=dict)


def make_set(root: Path, seed: int, videos: int, frames: int) -> s2.SyntheticSet:
    """The split's videos (made once; an existing one of the same seed is read back)."""
    folder = root / f"seed{seed}-{videos}x{frames}"
    if (folder / "benchmark.json").is_file():
        return s2.SyntheticSet.open(folder)
    return s2.synthetic_benchmark(folder, videos=videos, seed=seed, frames=frames, progress=False)


def track(bench, name: str, kind: str, seed: int) -> Run | None:
    """Track one video with one kind of fault, check drift, compute the flags' measures."""
    folder = Path(bench.folder)
    prompts = json.loads((folder / "prompts" / f"{name}.json").read_text())
    scene = json.loads((folder / "scenes" / f"{name}.json").read_text())
    ann = folder / "Annotations" / name
    truth = Truth(ann)
    n = len(truth)
    first = {int(o): int(p["frame_idx"]) for o, p in prompts.items()}
    faults = plan_faults(truth.labels, n, first, scene.get("events", []), kinds=[kind],
                         seed=seed)  # fmt: skip
    if not faults:
        return None
    sess = s2.Session(folder / "videos" / f"{name}.mp4", engine=Instrument(truth, faults, seed),
                      memory="full")  # fmt: skip
    for o, p in sorted(prompts.items(), key=lambda kv: int(kv[0])):
        sess.add_object(int(o))
        sess.add_points(int(p["frame_idx"]), int(o), p["points"], p["labels"])
    sess.run(progress=False)
    last: dict[int, int] = {}  # each object's last visible frame
    for f in sess.results.frames():
        last.update((o, f) for o, r in sess.results.frame(f).items() if r.visible)
    for o in sess.objects:
        if last.get(o, -1) > first[o]:
            s2.check_drift(sess, first[o], last[o], obj_ids=[o], progress=False)
    return Run(name, kind, faults, n, sess, truth, ann, prompts)


def score(run: Run, rules: QualityRules) -> tuple[int, int, int, int]:
    """``(segments overlapping a fault, segments, faults overlapped, faults)``."""
    seg = segments_of(quality_table(run.sess.results, rules=rules), gap=GAP, top=None)
    tp = sum(any(f.obj_id == s.obj_id and f.start <= s.end and s.start <= f.end
                 for f in run.faults) for s in seg.itertuples())  # fmt: skip
    found = sum(any(f.obj_id == s.obj_id and f.start <= s.end and s.start <= f.end
                    for s in seg.itertuples()) for f in run.faults)  # fmt: skip
    return tp, len(seg), found, len(run.faults)


def pooled(runs: list[Run], rules: QualityRules) -> tuple[float, float, float]:
    """Precision, recall and F1 over the runs."""
    tot = np.zeros(4)
    for r in runs:
        tot += score(r, rules)
    p = tot[0] / tot[1] if tot[1] else 1.0
    rc = tot[2] / tot[3] if tot[3] else 0.0
    return p, rc, (2 * p * rc / (p + rc) if p + rc else 0.0)


def tune(runs: list[Run]) -> QualityRules:
    """The thresholds with the best F1 on ``runs``: coordinate search over :data:`GRID`.

    From the defaults, each threshold in turn takes the grid value with the best F1 (the
    others held), twice round; a tie keeps the value it had.
    """
    rules = QualityRules()
    best = pooled(runs, rules)[2]
    for _ in range(2):
        for k, values in GRID.items():
            for v in values:
                trial = replace(rules, **{k: v})
                f1 = pooled(runs, trial)[2]
                if f1 > best + 1e-9:
                    best, rules = f1, trial
    return rules


def fix_next(run: Run, rules: QualityRules) -> dict:
    """Simulate "fix next" until every fault is corrected (or the steps run out)."""
    sess, truth = run.sess, run.truth
    n = run.num_frames
    q = SuspectQueue(sess, rules=rules, gap=GAP)
    cap = 3 * len(run.faults) + 5
    left = {(f.obj_id, f.start, f.end) for f in run.faults}
    steps, wasted, bounded, full, to_all = 0, 0, 0, 0, None
    while steps < cap and left:
        seg = q.next()
        if seg is None:
            break
        steps += 1
        o = int(seg["obj_id"])
        wrong = None
        for f in range(int(seg["start"]), int(seg["end"]) + 1):
            stored = sess.results.masks(f).get(o)
            g = truth.mask(f, o)
            if stored is None or s2.db_eval_iou(g, stored) < WRONG_IOU:
                wrong = f
                break
        if wrong is None:
            wasted += 1
            continue
        g = truth.mask(wrong, o)
        if g.any():
            sess.add_points(wrong, o, [inside_point(g)], [1])
        else:
            sess.add_points(wrong, o, [inside_point(sess.results.masks(wrong)[o])], [0])
        left -= {k for k in left if k[0] == o and k[1] <= wrong <= k[2]}
        if wrong < n - 1:
            bounded += sess.run(wrong, converge=True, progress=False)
            full += n - wrong
        q.refresh()
        if not left and to_all is None:
            to_all = steps
    return {"steps": to_all, "all": not left, "wasted": wasted, "bounded": bounded, "full": full}


def jf(run: Run) -> tuple[float, int]:
    """SA-V J&F x100 of the run's session, with the object count (for the global mean)."""
    r = s2.evaluate(run.sess, run.annotations, protocol="sav")
    return 100 * r.JF, len(r.per_object)


def report(runs: list[Run], rules: QualityRules) -> tuple[float, float]:
    """Print the per-kind table; return held-out precision and recall over all kinds."""
    print(f"{'fault':>7} {'runs':>4} {'faults':>6} {'precision':>9} {'recall':>6} "
          f"{'fix steps':>9} {'all fixed':>9} {'wasted':>6} {'re-tracked':>10} "
          f"{'full':>6} {'J&F before':>10} {'J&F after':>9}")  # fmt: skip
    tot = np.zeros(4)
    for kind in FAULT_KINDS:
        rs = [r for r in runs if r.kind == kind]
        if not rs:
            continue
        s = np.zeros(4)
        for r in rs:
            s += score(r, rules)
        tot += s
        before = [jf(r) for r in rs]
        fixes = [fix_next(r, rules) for r in rs]
        after = [jf(r) for r in rs]
        steps = [x["steps"] for x in fixes if x["steps"] is not None]
        jb = sum(v * k for v, k in before) / max(sum(k for _, k in before), 1)
        ja = sum(v * k for v, k in after) / max(sum(k for _, k in after), 1)
        print(f"{kind:>7} {len(rs):>4} {int(s[3]):>6} {s[0] / max(s[1], 1):>9.3f} "
              f"{s[2] / max(s[3], 1):>6.3f} "
              f"{(np.mean(steps) if steps else math.nan):>9.2f} "
              f"{sum(x['all'] for x in fixes) / len(fixes):>9.2f} "
              f"{sum(x['wasted'] for x in fixes):>6} {sum(x['bounded'] for x in fixes):>10} "
              f"{sum(x['full'] for x in fixes):>6} {jb:>10.1f} {ja:>9.1f}")  # fmt: skip
    p = tot[0] / max(tot[1], 1)
    r = tot[2] / max(tot[3], 1)
    print(f"{'all':>7} {len(runs):>4} {int(tot[3]):>6} {p:>9.3f} {r:>6.3f}")
    return p, r


def _runs(bench, seed: int) -> list[Run]:
    out = []
    for i, name in enumerate(bench.names):
        for j, kind in enumerate(FAULT_KINDS):
            r = track(bench, name, kind, seed * 1000 + i * 10 + j)
            if r is not None:
                out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 videos a split of 40 frames")
    ap.add_argument("--videos", type=int, default=10, help="videos in each split")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--tune", action="store_true", help="search the thresholds on the train split")
    ap.add_argument("--folder", type=Path, default=None, help="where the videos go (kept)")
    args = ap.parse_args()
    videos, frames = (4, 40) if args.quick else (args.videos, args.frames)
    t0 = time.perf_counter()
    root = args.folder or Path(tempfile.mkdtemp(prefix="sam2nb-drift-"))
    print(f"drift tools on generated videos with injected faults (instrument tracker, "
          f"{videos} videos x {frames} frames a split, in {root})")  # fmt: skip
    rules = QualityRules()
    if args.tune:
        train = _runs(make_set(root, TRAIN_SEED, videos, frames), TRAIN_SEED)
        rules = tune(train)
        p, r, f1 = pooled(train, QualityRules())
        print(f"train split (seed {TRAIN_SEED}): defaults precision={p:.3f} recall={r:.3f} "
              f"F1={f1:.3f}")  # fmt: skip
        p, r, f1 = pooled(train, rules)
        changed = {f.name: getattr(rules, f.name) for f in fields(rules)
                   if getattr(rules, f.name) != getattr(QualityRules(), f.name)}  # fmt: skip
        print(f"tuned: precision={p:.3f} recall={r:.3f} F1={f1:.3f}; changed: {changed or 'none'}")
    held = _runs(make_set(root, HELD_OUT_SEED, videos, frames), HELD_OUT_SEED)
    print(f"\nheld-out split (seed {HELD_OUT_SEED}), rules: {rules}")
    p, r = report(held, rules)
    print(f"({time.perf_counter() - t0:.0f} s)")
    print(f"drift: precision={p:.3f} recall={r:.3f}")


if __name__ == "__main__":
    main()

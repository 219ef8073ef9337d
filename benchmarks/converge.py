"""Re-tracking only what changed, against a full re-track: frames, time and agreement.

For each video, objects are clicked on frame 0 and tracked to the end, twice (two identical
sessions). Then the same correction (a click that changes object 1's mask) is made on frame f
in both: one re-propagates with ``converge=True`` (it stops once every object's new mask agrees
with the stored one, IoU >= 0.9 on 5 frames in a row), the other to the end. The table gives
frames re-tracked by each, their times, how much the correction changed frame f (1 - IoU
against the mask before it), and the IoU between the two results on the frames the bounded
run skipped (mean and worst, over objects and frames); then the drift check's cost per frame
against tracking's, on the same sessions. Test model: untrained, so its masks
are noise and its convergence says nothing of a trained model's; the mechanics are real.

    python benchmarks/converge.py [--model test] [--end 120] [--iou 0.9 --frames 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import sam2nb as s2

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
# video, clicks on frame 0 (x, y) an object, correction click (x, y, label) on object 1
CASES = [
    ("bedroom.mp4", [(450, 200), (200, 250)], (520, 300, 1)),
    ("cups.mp4", [(400, 420), (640, 420), (880, 420)], (400, 500, 0)),
    ("pingpong.mp4", [(640, 360)], (700, 420, 1)),
]


def _session(video, engine, clicks):
    sess = s2.Session(video, engine, memory="full")
    for i, (x, y) in enumerate(clicks, 1):
        sess.add_object(i)
        sess.add_points(0, i, [(x, y)], [1])
    sess.run(progress=False)
    return sess


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.logical_or(a, b).sum()
    return 1.0 if u == 0 else float(np.logical_and(a, b).sum() / u)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test")
    ap.add_argument("--end", type=int, default=120, help="frames of each video to use")
    ap.add_argument("--iou", type=float, default=0.9)
    ap.add_argument("--frames", type=int, default=5)
    args = ap.parse_args()
    engine = s2.load(args.model)
    rule = s2.Converge(args.iou, args.frames)
    tag = " (untrained model)" if engine.untrained else ""
    print(f"converge: IoU >= {rule.iou} on {rule.frames} frames in a row; model {engine.label}\n")
    print(
        "| session | objects | correction frame | change at f (1-IoU) | frames re-tracked: "
        "bounded / full | time s: bounded / full | skipped | IoU on skipped: mean / worst |"
    )
    print("|" + "---|" * 8)
    costs = []
    for name, clicks, (cx, cy, label) in CASES:
        video = s2.open_video(DATA / name, end=args.end)
        n = len(video)
        for f in (n // 4, n // 2, 3 * n // 4):
            bounded, full = _session(video, engine, clicks), _session(video, engine, clicks)
            before = bounded.results.get(f, 1).mask()
            for s in (bounded, full):
                s.add_points(f, 1, [(cx, cy)], [label])
            change = 1 - _iou(before, bounded.results.get(f, 1).mask())
            t = time.perf_counter()
            nb = sum(1 for _ in bounded.propagate(f, converge=rule, progress=False))
            tb = time.perf_counter() - t
            t = time.perf_counter()
            nf = sum(1 for _ in full.propagate(f, progress=False))
            tf = time.perf_counter() - t
            st = bounded.settled[0] if bounded.settled else None
            if st is None:
                skipped, agree = 0, "did not converge (tracked to the end)"
            else:
                ious = [
                    _iou(bounded.results.get(g, o).mask(), full.results.get(g, o).mask())
                    for g in range(st.frame_idx + 1, n)
                    for o in bounded.objects
                ]
                skipped, agree = st.skipped, f"{np.mean(ious):.3f} / {np.min(ious):.3f}"
            print(f"| {name}, {n} frames | {len(clicks)} | {f} | {change:.2f} | {nb} / {nf} | "
                  f"{tb:.1f} / {tf:.1f} | {skipped} | {agree} |", flush=True)  # fmt: skip
            if f == 3 * n // 4:  # the drift check's cost, on the last full session
                rep = s2.check_drift(full, progress=False)
                costs.append((name, rep.frames, rep.seconds / rep.frames, tf / nf))
            bounded.close()
            full.close()
    print(f"\nIoU between the bounded and the full re-track{tag}.\n")
    print("| drift check | frames | ms per frame | tracking, ms per frame | ratio |")
    print("|---|---|---|---|---|")
    for name, frames, per, track in costs:
        print(f"| {name} | {frames} | {per * 1000:.0f} | {track * 1000:.0f} | {per / track:.2f} |")


if __name__ == "__main__":
    main()

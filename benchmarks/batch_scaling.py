"""Batch scaling: throughput of ``s2.run_batch`` with 1 and 2 (or more) Ray workers.

Cuts the same short clips from ../shared/data as tests/batch/test_workers.py (longer ones by
default), then runs the whole batch with each worker count in turn (``redo=True``, a fresh Ray
instance each time) and prints wall time, frames/s and the ratio to one worker. The wall time
includes Ray's start and each worker's model load; ``busy fps`` divides the frames by the longest
time a worker spent on its items: the throughput without those start-up costs.

    python benchmarks/batch_scaling.py [--model test] [--workers 1 2] [--frames 16] [--repeats 2]

On a GPU machine ``--model tiny --device cuda --workers 1 2 4`` gives per-GPU throughput (a
checkpoint is needed: batch items load the variant by name).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

from results_csv import append_rows

import sam2nb as s2

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
CLIPS = [("bedroom.mp4", 0), ("bedroom.mp4", 100), ("cups.mp4", 0), ("cups.mp4", 150),
         ("pingpong.mp4", 0), ("pingpong.mp4", 120)]  # fmt: skip


def make_clips(root: Path, frames: int, width: int, model: str) -> Path:
    """Write the clips (mp4) and their prompts; return the manifest."""
    import cv2

    rows = []
    for name, start in CLIPS:
        src = s2.open_video(DATA / name, start=start, end=start + frames, max_side=width)
        stem = f"{Path(name).stem}-{start}"
        w, h = src.size
        vw = cv2.VideoWriter(str(root / f"{stem}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 24, (w, h))
        for i in range(len(src)):
            vw.write(cv2.cvtColor(src[i], cv2.COLOR_RGB2BGR))
        vw.release()
        log = [
            {"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[w * 0.45, h * 0.4]],
             "labels": [1]},
            {"op": "box", "frame_idx": 0, "obj_id": 2, "box": [w * .1, h * .5, w * .4, h * .95]},
        ]  # fmt: skip
        (root / f"{stem}.json").write_text(json.dumps(log))
        rows.append({"video": f"{stem}.mp4", "prompts": f"{stem}.json"})
    manifest = root / "clips.json"
    manifest.write_text(json.dumps({"defaults": {"model": model}, "items": rows}))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test")
    ap.add_argument("--device", default=None)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--frames", type=int, default=16, help="frames per clip")
    ap.add_argument("--width", type=int, default=320, help="clip width in pixels")
    ap.add_argument("--repeats", type=int, default=2, help="runs per worker count (alternating)")
    ap.add_argument("--csv", default=str(HERE / "results" / "batch_scaling.csv"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_clips(Path(tmp), args.frames, args.width, args.model)
        runs: dict[int, list] = {n: [] for n in args.workers}
        for _ in range(args.repeats):
            for n in args.workers:
                rep = s2.run_batch(manifest, Path(tmp) / f"out{n}", workers=n, device=args.device,
                                   redo=True, progress=False)  # fmt: skip
                busy = rep.per_worker()
                runs[n].append((rep.seconds, rep.frames, rep.frames / busy["busy_s"].max()))
                print(f"{n} worker(s): {rep.done} done, {rep.frames} frames in {rep.seconds:.1f} s "
                      f"= {rep.fps:.2f} frames/s", flush=True)  # fmt: skip
    base = statistics.median(f / s for s, f, _ in runs[args.workers[0]])
    rows = []
    print(f"\n{'workers':>7} {'wall s':>7} {'frames/s':>9} {'ratio':>6} {'busy fps':>9}")
    for n, rs in runs.items():
        wall = statistics.median(s for s, _, _ in rs)
        fps = statistics.median(f / s for s, f, _ in rs)
        busy = statistics.median(b for _, _, b in rs)
        print(f"{n:>7} {wall:7.1f} {fps:9.2f} {fps / base:6.2f} {busy:9.2f}")
        rows.append({"workers": n, "wall_s": round(wall, 2), "frames": rs[0][1],
                     "frames_per_s": round(fps, 3), "ratio_vs_1": round(fps / base, 3),
                     "busy_frames_per_s": round(busy, 3)})  # fmt: skip
    out = append_rows(args.csv, rows, model=args.model, device=args.device or "auto",
                      clips=len(CLIPS), frames_per_clip=args.frames, width=args.width,
                      cpus=os.cpu_count(), machine=platform.node(),
                      sam2nb=s2.__version__)  # fmt: skip
    print(f"appended to {out}")


if __name__ == "__main__":
    main()

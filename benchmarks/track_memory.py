"""Peak host RSS: `sam2nb track` against the official sam2 predictor on the same clip.

Each side runs in a process of its own (peak RSS is a process's): ``sam2nb track`` through
its command-line entry point, and the official ``SAM2VideoPredictor`` as its notebook uses it
(``init_state(video_path=...)``, one click, ``propagate_in_video``), with the same weights:
the test model (256 px) or a full-size model (1024 px) with seeded random weights (valid for
memory and time, not for masks). Prints each side's peak (``ru_maxrss``), the RSS before the
model, and the ratio.

    python benchmarks/track_memory.py [--model test|tiny] [--video bedroom.mp4] [--frames 200]
        [--official-mb MB]   # the official side's peak, measured before: run sam2nb's only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent.parent / "shared" / "data" / "bedroom.mp4"

SAM2NB = """
import json, resource, sys
import psutil
from sam2nb.cli import main
video, model, out, end, click = sys.argv[1:6]
base = psutil.Process().memory_info().rss
args = ["track", video, "--model", model, "--point", "0:" + click, "--out", out, "--quiet",
        "--direction", "forward", "--end", end]
if model != "test":
    args.append("--random-weights")
rc = main(args)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT", json.dumps({"rc": rc, "peak": peak, "base": base}))
"""

OFFICIAL = """
import json, resource, sys
import psutil
import torch
video, model, out, end, click = sys.argv[1:6]
base = psutil.Process().memory_info().rss
import sam2nb as s2
engine = s2.load(model, random_weights=model != "test")
p = engine.video_predictor
x, y = (float(v) for v in click.split(","))
n = 0
with torch.inference_mode(), engine.autocast():
    state = p.init_state(video_path=video)
    p.add_new_points_or_box(state, 0, 1, points=[[x, y]], labels=[1])
    for _f, _ids, m in p.propagate_in_video(state, 0, int(end) - 1):
        (m > 0).cpu()
        n += 1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT", json.dumps({"rc": 0, "peak": peak, "base": base, "frames": n}))
"""


def run(code: str, video: str, model: str, frames: int, click: str) -> dict:
    """Run one side in a fresh process and return its numbers."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-c", code, video, model, out, str(frames), click]
        done = subprocess.run(cmd, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"side failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test", help="test (256 px) or tiny etc. (1024 px, random)")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--frames", type=int, default=200, help="frames to track from frame 0")
    ap.add_argument("--click", default="450,200", help="X,Y of the click on frame 0")
    ap.add_argument(
        "--official-mb", type=float,
        help="the official side's peak from an earlier run (at 1024 px it takes ~25 min on a CPU)",
    )  # fmt: skip
    args = ap.parse_args()
    rows = {}
    if args.official_mb:
        rows["official"] = {"peak": args.official_mb * 2**20, "base": 0}
        print(f"official      peak RSS {args.official_mb:7.0f} MB  (given, not measured now)")
    for name, code in (("official", OFFICIAL), ("sam2nb track", SAM2NB)):
        if name in rows:
            continue
        r = run(code, args.video, args.model, args.frames, args.click)
        rows[name] = r
        print(f"{name:13s} peak RSS {r['peak'] / 2**20:7.0f} MB  (before the model: "
              f"{r['base'] / 2**20:.0f} MB)", flush=True)  # fmt: skip
    ratio = rows["sam2nb track"]["peak"] / rows["official"]["peak"]
    size = "256 px test model" if args.model == "test" else f"{args.model}, 1024 px, random weights"
    print(f"\n{Path(args.video).name}, {args.frames} frames, {size}: sam2nb track peak / "
          f"official peak = {ratio:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

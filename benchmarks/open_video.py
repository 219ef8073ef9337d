"""Open time and peak host RSS: sam2nb.open_video vs sam2's own init_state, on the same file.

Each side runs in a fresh subprocess so peak RSS is its own. sam2's side uses the SAM 2.1-tiny
architecture at the official 1024 px (random weights: loading frames does not depend on them).

    python benchmarks/open_video.py [VIDEO] [--image-size 1024]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SAM2NB = """
import json, resource, time
import sam2nb as s2
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
video = s2.open_video({video!r})
opened = time.perf_counter() - t
frame = video[len(video) // 2]
first = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(frames=len(video), open_s=opened, first_frame_s=first,
                      rss_before_mb=base / 1024, rss_peak_mb=peak / 1024)))
"""

OFFICIAL = """
import json, resource, time, torch
from sam2nb.model.engine import build_model
from sam2nb.model.checkpoints import get_spec
from dataclasses import replace
spec = replace(get_spec("tiny"), image_size={size})
model = build_model(spec, device="cpu")  # the official builder; weights do not matter here
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
state = model.init_state({video!r})
opened = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(frames=state["num_frames"], open_s=opened, first_frame_s=opened,
                      rss_before_mb=base / 1024, rss_peak_mb=peak / 1024)))
"""


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(here.parent / "shared/data/bedroom.mp4"))
    ap.add_argument("--image-size", type=int, default=1024)
    args = ap.parse_args()
    ours = run(SAM2NB.format(video=args.video))
    theirs = run(OFFICIAL.format(video=args.video, size=args.image_size))
    print(f"video: {args.video} ({ours['frames']} frames)")
    print(f"{'':28}{'open s':>9}{'to a frame s':>14}{'RSS before':>12}{'RSS peak':>10}")
    for name, r in (("sam2nb.open_video", ours), (f"sam2 init_state {args.image_size}px", theirs)):
        print(
            f"{name:28}{r['open_s']:9.3f}{r['first_frame_s']:14.3f}"
            f"{r['rss_before_mb']:10.0f}MB{r['rss_peak_mb']:8.0f}MB"
        )
    grow_ours = ours["rss_peak_mb"] - ours["rss_before_mb"]
    grow_theirs = theirs["rss_peak_mb"] - theirs["rss_before_mb"]
    print(
        f"open: {theirs['open_s'] / ours['open_s']:.0f}x faster; RSS growth "
        f"{grow_ours:.0f} MB vs {grow_theirs:.0f} MB ({grow_theirs / max(grow_ours, 1):.0f}x less)"
    )


if __name__ == "__main__":
    main()

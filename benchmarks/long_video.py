"""Track one object through a very long video (a real clip looped) and record host RSS.

The session streams frames, releases tracking state outside sam2's memory window
(``memory="bounded"``) and spills results to a file, so RSS should stay flat however long
the video is. Prints the RSS curve and appends it to a CSV.

    python benchmarks/long_video.py [--frames 10000] [--model test] [--video bedroom.mp4]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

import sam2nb as s2
from sam2nb.media.video import VideoSource, _Backend

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent.parent / "shared" / "data" / "bedroom.mp4"


class Looped(_Backend):
    """A clip repeated until ``num_frames`` (decoded lazily, like any file)."""

    def __init__(self, clip: VideoSource, num_frames: int):
        self.clip = clip
        self.name = f"{clip.name} looped to {num_frames} frames"
        self.path = None
        self.num_frames = int(num_frames)
        self.fps = clip.fps
        self.size = self.source_size = clip.size

    def read(self, idx: int) -> np.ndarray:
        return self.clip[idx % len(self.clip)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--model", default="test")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--every", type=int, default=500, help="sample RSS every N frames")
    ap.add_argument("--max-side", type=int, help="shrink the clip's frames (faster on a CPU)")
    ap.add_argument("--csv", default=str(HERE / "results" / "long_video.csv"))
    args = ap.parse_args()

    proc = psutil.Process()
    engine = s2.load(args.model)
    video = VideoSource(Looped(s2.open_video(args.video, max_side=args.max_side), args.frames))
    spill = Path(tempfile.mkdtemp()) / "results.sqlite"
    rss0 = proc.memory_info().rss
    sess = s2.Session(video, engine, memory="bounded", results=spill)
    w, h = video.size
    sess.add_object(name="looped")
    sess.add_points(0, 1, [(w * 0.47, h * 0.37)], [1])
    curve = []
    t0 = time.perf_counter()
    for fr in sess.propagate(progress=False):
        i = fr.frame_idx
        if i % args.every == 0 or i == args.frames - 1:
            rss = proc.memory_info().rss
            curve.append((i, (rss - rss0) / 2**20, rss / 2**20, sess.state_frames()))
            print(f"frame {i}: RSS growth {curve[-1][1]:.1f} MB, sam2 states {curve[-1][3]}",
                  flush=True)  # fmt: skip
    secs = time.perf_counter() - t0
    print(f"\n{engine.label}; {video.name}; {secs / args.frames * 1000:.0f} ms/frame")
    print(
        f"results file {spill.stat().st_size / 2**20:.1f} MB, {len(sess.results)} masks, "
        f"{sess.results.bytes_per_entry:.0f} bytes per frame-object"
    )
    print(f"{'frame':>6} {'RSS growth MB':>14} {'RSS MB':>8} {'sam2 states':>11}")
    for row in curve:
        print(f"{row[0]:6d} {row[1]:14.1f} {row[2]:8.1f} {row[3]:11d}")
    out = Path(args.csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with open(out, "a", newline="") as fh:
        wr = csv.writer(fh)
        if new:
            wr.writerow(["when", "model", "device", "frames", "frame", "rss_growth_mb", "rss_mb",
                         "sam2_states", "ms_per_frame"])  # fmt: skip
        when = time.strftime("%Y-%m-%dT%H:%M:%S")
        for row in curve:
            wr.writerow([when, engine.name, str(engine.device), args.frames, *row,
                         round(secs / args.frames * 1000, 1)])  # fmt: skip
    sess.close()
    os.remove(spill)


if __name__ == "__main__":
    main()

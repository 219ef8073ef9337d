"""Track one object through a long real MP4 on disk and record host RSS.

The long file is made at run time from a shared clip by stream copy (bedroom.mp4 joined 51
times: 10,200 frames, 120 MB, one file as a long recording is), so what is measured is what a
user's long file does: the decoder reads the real file. The session streams frames, releases
tracking state outside sam2's memory window (``memory="bounded"``) and spills results to a
file, so RSS should stay flat however long the video is. Prints the RSS curve (every
``--every`` frames), the growth per frame, and appends it to a CSV.

    python benchmarks/long_video.py [--repeat 51] [--frames N] [--decoder pyav|decord]
                                    [--model test] [--video bedroom.mp4]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import psutil

import sam2nb as s2
from sam2nb.media.writer import join_videos

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent.parent / "shared" / "data" / "bedroom.mp4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=51, help="copies of the clip joined")
    ap.add_argument("--frames", type=int, help="frames to track (default: the whole file)")
    ap.add_argument("--decoder", help="pyav or decord (default: sam2nb's default)")
    ap.add_argument("--keep", help="keep the long file here (made once, reused)")
    ap.add_argument("--model", default="test")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--every", type=int, default=1000, help="sample RSS every N frames")
    ap.add_argument("--max-side", type=int, help="shrink the clip's frames (faster on a CPU)")
    ap.add_argument("--csv", default=str(HERE / "results" / "long_video.csv"))
    args = ap.parse_args()

    proc = psutil.Process()
    work = Path(tempfile.mkdtemp())
    long_file = Path(args.keep) if args.keep else work / "long.mp4"
    if not long_file.exists():
        t = time.perf_counter()
        join_videos([args.video], long_file, repeat=args.repeat)
        print(f"made {long_file} ({long_file.stat().st_size / 2**20:.0f} MB) by stream copy "
              f"in {time.perf_counter() - t:.1f} s")  # fmt: skip
    rss_start = proc.memory_info().rss
    engine = s2.load(args.model)
    video = s2.open_video(long_file, max_side=args.max_side, decoder=args.decoder,
                          end=args.frames)  # fmt: skip
    args.frames = len(video)
    print(f"{video} decoded by {video.decoder}; {engine.label}")
    spill = work / "results.sqlite"
    rss0 = proc.memory_info().rss
    print(f"RSS {rss_start / 2**20:.0f} MB before the model, {rss0 / 2**20:.0f} MB with it")
    sess = s2.Session(video, engine, memory="bounded", results=spill)
    w, h = video.size
    sess.add_object(name="child")
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
    print(f"\n{engine.label}; {video.name} ({video.decoder}); {secs / args.frames * 1000:.0f} "
          "ms/frame")  # fmt: skip
    if len(curve) > 2:
        (f1, g1, *_), (f2, g2, *_) = curve[1], curve[-1]
        per = (g2 - g1) * 2**20 / max(f2 - f1, 1) / 1024
        print(f"growth from frame {f1} to {f2}: {per:.2f} KB per frame")
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
            wr.writerow(["when", "model", "device", "decoder", "frames", "frame", "rss_growth_mb",
                         "rss_mb", "sam2_states", "ms_per_frame"])  # fmt: skip
        when = time.strftime("%Y-%m-%dT%H:%M:%S")
        for row in curve:
            wr.writerow([when, engine.name, str(engine.device), video.decoder, args.frames, *row,
                         round(secs / args.frames * 1000, 1)])  # fmt: skip
    sess.close()
    os.remove(spill)
    if not args.keep:
        long_file.unlink()


if __name__ == "__main__":
    main()

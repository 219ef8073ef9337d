"""Export throughput: frames per second for mask PNGs and the overlay MP4 (and the others).

Tracks 3 objects (the three cups) through the start of cups.mp4 (1280x720) with the given
model, then times each export format over those frames and appends CSV rows. Masks from the
untrained test model are noisy stripes, which compress worse than real masks: a worst case.

    python benchmarks/export_speed.py [--frames 60] [--formats png,palette,mp4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from results_csv import append_rows

import sam2nb as s2

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent.parent / "shared" / "data" / "cups.mp4"
CUPS = [(340, 100), (654, 420), (914, 420)]  # held up, middle, right (frame 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--formats", default="png,palette,sav,coco,mot,mp4,cutout,effect")
    ap.add_argument("--csv", default=str(HERE / "results" / "export_speed.csv"))
    args = ap.parse_args()

    engine = s2.load(args.model)
    video = s2.open_video(args.video, end=args.frames)
    sess = s2.Session(video, engine)
    for i, pt in enumerate(CUPS):
        sess.add_object(i + 1)
        sess.add_points(0, i + 1, [pt], [1])
    sess.run(progress=False)
    w, h = video.size
    print(f"{engine.label}; {video.name} {w}x{h}, {len(video)} frames, 3 objects, on "
          f"{engine.device}")  # fmt: skip
    rows = []
    for fmt in args.formats.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = s2.export(sess, Path(tmp) / fmt, fmt, progress=False)
            dt = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in (Path(tmp) / fmt).rglob("*") if p.is_file())
        fps = res.frames / dt
        rows.append({"format": fmt, "frames": res.frames, "seconds": round(dt, 3),
                     "fps": round(fps, 2), "mb": round(size / 2**20, 2)})  # fmt: skip
        print(f"{fmt:>12}: {fps:7.2f} frames/s ({res.frames} frames in {dt:.2f} s, "
              f"{size / 2**20:.1f} MB)")  # fmt: skip
    append_rows(args.csv, rows, model=engine.name, video=video.name, size=f"{w}x{h}")
    sess.close()


if __name__ == "__main__":
    main()

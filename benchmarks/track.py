"""Official sam2 predictor vs a sam2nb session: same process, same weights, interleaved.

For 1, 3 and 10 objects (one click each on frame 0) both sides open the video, prompt and
propagate; measured per side:

- first mask: from opening the video to the first prompt's mask on the host;
- per-frame propagation time (median, p90), each frame's masks brought to the host
  (sam2nb also encodes and stores them);
- peak host RSS above the level before the side started, and RSS growth per video frame:
  sam2 preloads the whole video, so its growth is (RSS after ``init_state`` - before) /
  frames + its slope while propagating; sam2nb's is its slope while propagating;
- peak device memory (CUDA only).

Prints a table with ratios and appends CSV rows. Runs the CPU test model here; on a GPU run
it at full size, e.g. ``--model tiny --random-weights``.

    python benchmarks/track.py [--model test] [--video V] [--objects 1,3,10] [--frames 30]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from results_csv import append_rows

import sam2nb as s2

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent.parent / "shared" / "data" / "bedroom.mp4"


class RssPeak:
    """Samples RSS every 5 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def now(self) -> int:
        return self.proc.memory_info().rss

    def close(self) -> int:
        self._stop.set()
        self._t.join()
        return max(self.peak, self.now())


def _sync(engine: s2.Engine) -> None:
    import torch

    if engine.device.type == "cuda":
        torch.cuda.synchronize()


def _points(k: int, w: int, h: int) -> list[tuple[float, float]]:
    return [(w * (i + 1) / (k + 1), h * (0.35 + 0.3 * (i % 2))) for i in range(k)]


def _slope(samples: list[tuple[int, int]]) -> float:
    """Bytes per frame, least squares over (frame, rss) after a short warm-up."""
    s = samples[len(samples) // 3 :]
    if len(s) < 2:
        return 0.0
    x, y = np.array([a for a, _ in s], float), np.array([b for _, b in s], float)
    return float(np.polyfit(x, y, 1)[0])


def run_official(engine: s2.Engine, video: str, k: int, frames: int) -> dict:
    import torch

    p = engine.video_predictor
    mon = RssPeak()
    before = mon.now()
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with torch.inference_mode(), engine.autocast():
        state = p.init_state(video_path=video)
        after_init = mon.now()
        n, w, h = state["num_frames"], state["video_width"], state["video_height"]
        for i, pt in enumerate(_points(k, w, h)):
            _, _, m = p.add_new_points_or_box(state, 0, i + 1, points=[pt], labels=[1])
            if i == 0:
                (m > 0).cpu()
                first = time.perf_counter() - t0
        steps, samples, last = [], [], time.perf_counter()
        for fi, _, m in p.propagate_in_video(state, 0, frames):
            (m > 0).cpu()
            now = time.perf_counter()
            steps.append(now - last)
            last = now
            samples.append((fi, mon.now()))
    peak = mon.close()
    dev = torch.cuda.max_memory_allocated() if engine.device.type == "cuda" else None
    per_frame = (after_init - before) / n + _slope(samples)
    del state
    gc.collect()
    return _summary("official", first, steps[1:], peak - before, per_frame, dev)


def run_sam2nb(engine: s2.Engine, video: str, k: int, frames: int, memory: str = "bounded") -> dict:
    import torch

    mon = RssPeak()
    before = mon.now()
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    sess = s2.Session(video, engine, memory=memory)
    w, h = sess.video.size
    for i, pt in enumerate(_points(k, w, h)):
        sess.add_object(i + 1)
        sess.add_points(0, i + 1, [pt], [1])
        if i == 0:
            first = time.perf_counter() - t0
    steps, samples, last = [], [], time.perf_counter()
    for fr in sess.propagate(0, max_frames=frames, progress=False):
        now = time.perf_counter()
        steps.append(now - last)
        last = now
        samples.append((fr.frame_idx, mon.now()))
    _sync(engine)
    peak = mon.close()
    dev = torch.cuda.max_memory_allocated() if engine.device.type == "cuda" else None
    sess.close()
    del sess
    gc.collect()
    return _summary("sam2nb", first, steps[1:], peak - before, _slope(samples), dev)


def _summary(
    side: str, first: float, steps: list[float], peak: int, per_frame: float, dev: int | None
) -> dict:  # noqa: E501
    steps = sorted(steps)
    return {
        "side": side,
        "first_mask_s": first,
        "median_ms": statistics.median(steps) * 1000,
        "p90_ms": steps[int(0.9 * (len(steps) - 1))] * 1000,
        "rss_peak_mb": peak / 2**20,
        "rss_per_frame_kb": per_frame / 1024,
        "device_peak_mb": None if dev is None else dev / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test")
    ap.add_argument(
        "--random-weights", action="store_true", help="full-size variant, no checkpoint"
    )
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--objects", default="1,3,10")
    ap.add_argument("--frames", type=int, default=30, help="frames to propagate past frame 0")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--memory", default="bounded", choices=["bounded", "full"],
        help="the session's memory mode (bounded: flat RSS on long videos)",
    )  # fmt: skip
    ap.add_argument("--csv", default=str(HERE / "results" / "track.csv"))
    args = ap.parse_args()

    engine = s2.load(args.model, random_weights=args.random_weights)
    print(f"{engine.label} on {engine.device} ({engine.dtype}); {Path(args.video).name}; "
          f"{args.frames} frames propagated; sam2nb memory={args.memory}")  # fmt: skip
    rows = []
    for k in [int(x) for x in args.objects.split(",")]:
        for rep in range(args.repeats):
            order = [run_official, run_sam2nb] if rep % 2 == 0 else [run_sam2nb, run_official]
            res = {}
            for fn in order:
                extra = {"memory": args.memory} if fn is run_sam2nb else {}
                res[fn.__name__] = fn(engine, args.video, k, args.frames, **extra)
            for r in res.values():
                rows.append({"objects": k, "repeat": rep, **r})
    hdr = (f"{'obj':>3} {'side':>8} {'first mask s':>12} {'median ms':>9} {'p90 ms':>8} "
           f"{'RSS peak MB':>11} {'RSS/frame KB':>12} {'dev peak MB':>11}")  # fmt: skip
    print(hdr)
    for r in rows:
        dev = "-" if r["device_peak_mb"] is None else f"{r['device_peak_mb']:.0f}"
        print(
            f"{r['objects']:3d} {r['side']:>8} {r['first_mask_s']:12.3f} "
            f"{r['median_ms']:9.1f} {r['p90_ms']:8.1f} {r['rss_peak_mb']:11.1f} "
            f"{r['rss_per_frame_kb']:12.1f} {dev:>11}"
        )
    print(
        "\nratios (sam2nb vs official; targets: first mask >= 10x sooner, speed >= 1.0x, "
        "RSS/frame <= 1%):"
    )
    for k in sorted({r["objects"] for r in rows}):
        off = [r for r in rows if r["objects"] == k and r["side"] == "official"]
        our = [r for r in rows if r["objects"] == k and r["side"] == "sam2nb"]
        m = lambda rs, key: statistics.median(r[key] for r in rs)  # noqa: E731
        speed = m(off, "median_ms") / m(our, "median_ms")
        first = m(off, "first_mask_s") / m(our, "first_mask_s")
        rss = m(our, "rss_per_frame_kb") / m(off, "rss_per_frame_kb") * 100
        print(f"  {k:2d} objects: first mask {first:.1f}x sooner, propagation {speed:.2f}x "
              f"official's speed, RSS/frame {rss:.2f}% of official's")  # fmt: skip
    out = append_rows(
        args.csv, rows, model=engine.label, device=str(engine.device),
        video=Path(args.video).name, frames=args.frames, memory=args.memory,
    )  # fmt: skip
    print(f"appended {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()

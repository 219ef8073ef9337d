"""Per-frame tracking speed of each tracker through sam2nb against its own library's plain loop.

Full input size, seeded random weights (speed does not depend on the weights' values), one
object clicked on frame 0 of a real clip, then tracked forward. Both sides run in this process on
the same engine, taking turns (the order alternates between rounds):

- ``official``: the library's own documented loop. sam2 models: Meta's ``SAM2VideoPredictor``
  (``init_state`` over the clip, ``add_new_points_or_box``, ``propagate_in_video``); transformers
  models: :class:`sam2nb.model.hf_reference.PlainLoop` (``init_video_session`` over the clip,
  ``add_inputs_to_inference_session``, ``propagate_in_video_iterator``); each frame's masks
  brought to the host at the video's size.
- ``sam2nb``: a :class:`sam2nb.Session` (frames streamed from the file, masks RLE-encoded and
  stored, bounded memory), ``propagate()``.

The first frame of each run is warm-up; the median of the rest is the per-frame time. Prints a
table with ``ratio = official ms / sam2nb ms`` (>= 1: sam2nb is as fast or faster) and appends to
a CSV.

    python benchmarks/hf_speed.py [--models tiny tiny@hf edgetam sam3] [--frames 6]
                                  [--rounds 2] [--video bedroom.mp4] [--csv FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import statistics
import tempfile
import time
from pathlib import Path

import torch

import sam2nb as s2
from sam2nb.media.writer import join_videos
from sam2nb.model.hf_models import HFEngine
from sam2nb.model.names import untrained

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent.parent / "shared" / "data" / "bedroom.mp4"
CLICK = (450.0, 200.0)


def _official(engine, clip: str, frames: int) -> tuple[float, list[float]]:
    """The library's own loop: seconds to the first mask, per-frame seconds."""
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        if isinstance(engine, HFEngine):
            from sam2nb.model.hf_reference import PlainLoop

            loop = PlainLoop(engine, clip, limit=frames + 2)
            loop.click(0, 1, [CLICK], [1])
            first = time.perf_counter() - t0
            steps = loop.propagate(0, frames)
        else:
            from sam2nb.model.adapter import no_progress_bars, official_init_state

            for ctx in (torch.inference_mode(), engine.autocast(), no_progress_bars()):
                stack.enter_context(ctx)
            p = engine.video_predictor
            state = official_init_state(p, clip)
            _, _, m = p.add_new_points_or_box(state, 0, 1, points=[CLICK], labels=[1])
            (m > 0).cpu()
            first = time.perf_counter() - t0

            def host_masks():  # each frame's masks on the host, as the session's are
                for fi, _, masks in p.propagate_in_video(state, 0, frames):
                    (masks > 0).cpu()
                    yield fi

            steps = host_masks()
        times, last = [], time.perf_counter()
        for _ in steps:
            now = time.perf_counter()
            times.append(now - last)
            last = now
    return first, times


def _sam2nb(engine, clip: str, frames: int) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    sess = s2.Session(s2.open_video(clip), engine, memory="bounded")
    sess.add_object(1)
    sess.add_points(0, 1, [CLICK], [1])
    first = time.perf_counter() - t0
    times, last = [], time.perf_counter()
    for _ in sess.propagate(0, max_frames=frames, progress=False):
        now = time.perf_counter()
        times.append(now - last)
        last = now
    sess.close()
    return first, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["tiny", "tiny@hf", "edgetam", "sam3"])
    ap.add_argument("--frames", type=int, default=6, help="frames tracked per run (+1 warm-up)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per side (the order alternates)")
    ap.add_argument("--sam3-frames", type=int, default=3, help="frames per run for sam3 (slow)")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--csv", default=str(HERE / "results" / "hf_speed.csv"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp())
    clip = work / "clip.mp4"  # a real MP4 of the first frames (stream copy, key frame aligned)
    join_videos([args.video], clip, repeat=1)
    rows = []
    for name in args.models:
        n = args.sam3_frames if name.startswith("sam3") else args.frames
        engine = s2.load(name, device="cpu", random_weights=not untrained(name))
        print(f"\n{engine.label}: {n} frames per run, {args.rounds} rounds", flush=True)
        got: dict[str, list] = {"official": [], "sam2nb": []}
        firsts: dict[str, list] = {"official": [], "sam2nb": []}
        for r in range(args.rounds):
            order = ("official", "sam2nb") if r % 2 == 0 else ("sam2nb", "official")
            for side in order:
                gc.collect()
                first, times = (_official if side == "official" else _sam2nb)(engine, str(clip), n)
                got[side] += times[1:]  # the first step is warm-up
                firsts[side].append(first)
                print(f"  {side:8s} round {r}: first mask {first:.1f} s, frames "
                      f"{', '.join(f'{t:.2f}' for t in times)} s", flush=True)  # fmt: skip
        off, ours = statistics.median(got["official"]), statistics.median(got["sam2nb"])
        rows.append((name, engine.image_size, off * 1e3, ours * 1e3, off / ours,
                     statistics.median(firsts["official"]),
                     statistics.median(firsts["sam2nb"]), len(got["sam2nb"])))  # fmt: skip
        s2.unload()
        gc.collect()
    print(f"\nCPU, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          "random weights at full size; one object")  # fmt: skip
    print(f"{'model':<10}{'px':>6}{'official ms':>13}{'sam2nb ms':>11}{'ratio':>7}"
          f"{'1st off s':>10}{'1st s2nb s':>11}{'timed':>7}")  # fmt: skip
    for name, px, off, ours, ratio, f1, f2, k in rows:
        print(f"{name:<10}{px:>6}{off:>13.0f}{ours:>11.0f}{ratio:>7.2f}{f1:>10.1f}{f2:>11.1f}"
              f"{k:>7}")  # fmt: skip
    out = Path(args.csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with open(out, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["when", "model", "image_size", "official_ms", "sam2nb_ms", "ratio",
                        "first_official_s", "first_sam2nb_s", "timed", "threads"])  # fmt: skip
        when = time.strftime("%Y-%m-%dT%H:%M:%S")
        for row in rows:
            w.writerow([when, *[round(v, 3) if isinstance(v, float) else v for v in row],
                        torch.get_num_threads()])  # fmt: skip


if __name__ == "__main__":
    main()

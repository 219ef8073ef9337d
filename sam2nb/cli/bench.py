"""``sam2nb bench``: the benchmark from the shell (see :func:`sam2nb.benchmark`).

Example:
    $ sam2nb bench                                  # all four variants on a GPU, "test" on a CPU
    $ sam2nb bench --model tiny large --dtype bf16 fp32 --compile off on --price 2.49
    $ sam2nb bench --report benchmarks/nvidia-h100.csv --price 2.49   # card from a CSV
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ON_OFF = {"on": True, "off": False}


def _cmd_bench(args: argparse.Namespace) -> int:
    from ..bench.report import default_csv, read_bench
    from ..bench.run import benchmark
    from ..bench.timing import environment

    if args.report:
        report = read_bench(args.report)
        csv = Path(args.report)
    else:
        import torch

        from ..model import device as devmod

        dev, _ = devmod.resolve(args.device)
        gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
        csv = Path(args.csv) if args.csv else default_csv(gpu)
        print(f"sam2nb bench on {environment(dev)['gpu'] or 'the CPU'}; rows go to {csv}")
        report = benchmark(
            args.model or None,
            dtypes=args.dtype or None,
            compile=[ON_OFF[c] for c in args.compile],
            objects=args.objects,
            video=args.video,
            frames=args.frames,
            clicks=args.clicks,
            repeats=args.repeats,
            device=args.device,
            weights=args.weights,
            csv=csv,
            cache=args.cache,
        )
    print(report.table())
    print()
    print(report.ratio_table())
    print()
    print(report.card(args.price, args.video_fps))
    if args.plots and report.rows:
        out = Path(args.plots)
        out.mkdir(parents=True, exist_ok=True)
        stem = csv.stem
        report.plot_fps().figure.savefig(out / f"{stem}_fps.png", dpi=120)
        if report.curves:
            report.plot_memory().savefig(out / f"{stem}_memory.png", dpi=120)
        print(f"plots: {out / (stem + '_fps.png')}, {out / (stem + '_memory.png')}")
    if report.stopped:
        print("sam2nb: stopped; the rows above were measured and saved", file=sys.stderr)
        return 130
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``bench`` to the ``sam2nb`` command."""
    s = sub.add_parser(
        "bench",
        help="time sam2nb against the official predictor; FPS, latency, memory, a GPU card",
        description=(
            "Time sam2nb against the official sam2 predictor, side by side in this process: "
            "image encoder, click -> mask, per-frame propagation (median, p90), time to first "
            "mask, peak VRAM and RSS. Rows are appended to a CSV as they finish. Without a "
            "cached checkpoint, full-size models use random weights (valid for timing; rows "
            "say so)."
        ),
    )
    s.add_argument("--model", nargs="+", metavar="VARIANT",
                   help="tiny small base_plus large, or test (default: all four on a GPU, "
                        "test on a CPU); transformers' trackers too (tiny@hf edgetam sam3, "
                        "timed against transformers' own loop)")  # fmt: skip
    s.add_argument("--dtype", nargs="+", choices=["bf16", "fp16", "fp32"],
                   help="precisions (default: the device's: bf16 on Ampere+)")  # fmt: skip
    s.add_argument("--compile", nargs="+", choices=["off", "on"], default=["off"],
                   help="torch.compile (sam2's vos_optimized): off, on, or both")  # fmt: skip
    s.add_argument("--objects", nargs="+", type=int, default=[1, 3, 10], metavar="N")
    s.add_argument("--video", help="video file or JPEG folder (default: SAM 2's bedroom.mp4)")
    s.add_argument("--frames", type=int, default=30, help="frames timed after warm-up (>= 10)")
    s.add_argument("--clicks", type=int, default=10, help="clicks timed after warm-up (>= 10)")
    s.add_argument("--repeats", type=int, default=1, help="runs per setting (sides alternate)")
    s.add_argument("--device", help="cuda, mps or cpu (default: cuda > mps > cpu)")
    s.add_argument("--weights", choices=["auto", "checkpoint", "random"], default="auto",
                   help="auto: the cached checkpoint, else random weights")  # fmt: skip
    s.add_argument("--csv", help="CSV to append to (default: bench-<gpu>.csv here)")
    s.add_argument("--plots", metavar="DIR", help="write the FPS and memory plots here")
    s.add_argument("--price", type=float, help="the machine's price per hour, for the card")
    s.add_argument("--video-fps", type=float, default=30.0,
                   help="frame rate of your videos, for the cost per video-minute")  # fmt: skip
    s.add_argument("--report", metavar="CSV", help="measure nothing: tables and card of a CSV")
    s.add_argument("--cache", help="checkpoint cache folder")
    s.set_defaults(func=_cmd_bench)

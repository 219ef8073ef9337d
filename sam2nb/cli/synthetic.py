"""``sam2nb synthetic``: write a benchmark of synthetic ground-truth videos (drawn, not filmed).

Example:
    $ sam2nb synthetic bench/ --videos 8 --seed 0
    $ sam2nb synthetic tiny/ --videos 2 --size 320x180 --frames 24 --kinds occlusion,lookalikes

See :func:`sam2nb.synthetic.benchmark.synthetic_benchmark` for the folder it writes.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from ..base.errors import ExportError


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` as ``(width, height)``.

    Example:
        >>> parse_size("640x360")
        (640, 360)
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ExportError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. --size 640x360.") from None
    return w, h


def summary(scene: dict) -> str:
    """One line about a written video: its objects and how many events of each kind.

    Example:
        >>> summary({"objects": [{}, {}], "events": [{"kind": "near"}, {"kind": "near"}]})
        '2 objects, events: 2 near'
    """
    counts = Counter(e["kind"] for e in scene["events"])
    events = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
    return f"{len(scene['objects'])} objects, events: {events}"


def _cmd_synthetic(args: argparse.Namespace) -> int:
    from ..synthetic.benchmark import synthetic_benchmark

    bench = synthetic_benchmark(
        args.folder,
        args.videos,
        args.seed,
        size=parse_size(args.size),
        frames=args.frames,
        kinds=args.kinds,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    w, h = bench.size
    f = bench.folder
    print(
        f"{len(bench)} synthetic ground-truth videos (seed {bench.seed}, {w}x{h}, "
        f"{bench.frames} frames) in {f} ({bench.seconds:.1f} s)"
    )
    for name in bench:
        print(f"  {name:<20} {summary(bench.scene(name))}")
    print(f"videos       {f / 'videos'}/<name>.mp4")
    print(f"truth        {f / 'Annotations'}/<name>/00000.png ... (DAVIS palette, index = obj_id)")
    print(f"prompts      {f / 'prompts'}/<name>.json")
    print(f"scenes       {f / 'scenes'}/<name>.json (objects and events)")
    return 0


def add_parser(sub: Any) -> None:
    """Add ``synthetic`` to the ``sam2nb`` command (``sub``: the main parser's subparsers)."""
    s = sub.add_parser(
        "synthetic",
        help="write synthetic ground-truth videos: masks, prompts and events (a benchmark)",
        description=(
            "Draw synthetic videos whose truth is exact (textured objects over a moving "
            "textured background: occlusion, entries and exits, look-alikes, scale, motion "
            "blur) and write them with DAVIS palette masks, first-appearance prompts and the "
            "events of each scene. The same seed writes the same files."
        ),
    )
    s.add_argument("folder", metavar="FOLDER", help="where to write the benchmark")
    s.add_argument("--videos", type=int, default=8, help="how many videos (default 8)")
    s.add_argument("--seed", type=int, default=0, help="the benchmark's seed (default 0)")
    s.add_argument("--size", default="640x360", help="frame size WxH, even (default 640x360)")
    s.add_argument("--frames", type=int, default=60, help="frames per video (default 60)")
    s.add_argument(
        "--kinds",
        help="scene kinds to cycle through, comma-separated (default all: occlusion,entries,"
        "lookalikes,scale_blur,mixed)",
    )
    s.add_argument("--overwrite", action="store_true", help="replace a benchmark in FOLDER")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_synthetic)

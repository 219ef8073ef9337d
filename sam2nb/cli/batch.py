r"""``sam2nb batch``: track every video of a manifest on Ray workers, resumable.

Example:
    $ sam2nb batch clips.json --out runs/batch                 # local Ray, one worker per GPU
    $ sam2nb batch clips.csv --out runs/batch --workers 2 --model test
    $ sam2nb batch runs/sessions/ --out runs/batch            # a folder of saved sessions
    $ sam2nb batch clips.json --out /shared/out --address auto   # an existing Ray cluster
"""

from __future__ import annotations

import argparse
import sys


def cmd_batch(args: argparse.Namespace) -> int:
    """Run ``sam2nb batch``; exit 1 when an item failed, 130 when interrupted."""
    from ..batch.items import read_manifest
    from ..batch.workers import run_batch

    defaults = {"model": args.model, "formats": args.formats, "direction": args.direction,
                "max_side": args.max_side}  # fmt: skip
    items = read_manifest(args.manifest, **{k: v for k, v in defaults.items() if v})
    print(f"{len(items)} item(s) from {args.manifest} -> {args.out}", flush=True)
    try:
        report = run_batch(
            items, args.out, workers=args.workers, address=args.address, device=args.device,
            gpus_per_worker=args.gpus_per_worker, redo=args.redo, progress=not args.quiet,
        )  # fmt: skip
    except KeyboardInterrupt:
        print("\nInterrupted: finished items are kept; run the same command again to finish "
              "the rest.", file=sys.stderr)  # fmt: skip
        return 130
    table = report.table()
    with_cols = ["id", "state", "frames", "objects", "seconds", "fps", "worker"]
    print(table[with_cols].to_string(index=False, na_rep="-", float_format=lambda x: f"{x:.2f}"))
    workers = report.per_worker()
    if len(workers):
        print(workers.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(report.summary())
    print(f"summary: {report.out / 'summary.csv'}, {report.out / 'workers.csv'}")
    return 1 if report.failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``batch`` on the main parser."""
    s = sub.add_parser(
        "batch", help="track many videos from a manifest on Ray workers (resumable)",
        description="Each item: a video and its prompts (a prompt-log JSON, a saved-session "
        "folder, or the log inline). Outputs go to OUT/<id>/<format> with OUT/<id>/status.json; "
        "a rerun skips finished items.",
    )  # fmt: skip
    s.add_argument("manifest", metavar="MANIFEST",
                   help="a .json or .csv manifest, or a folder of saved sessions")  # fmt: skip
    s.add_argument("--out", required=True, help="the batch folder")
    s.add_argument("--workers", type=int, help="workers (default: one per GPU, else 1)")
    s.add_argument("--address", help="an existing Ray cluster, e.g. auto or ray://head:10001")
    s.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda if Ray has GPUs")
    s.add_argument("--gpus-per-worker", type=float, default=1.0,
                   help="e.g. 0.5 to run two workers on each GPU")  # fmt: skip
    s.add_argument(
        "--model",
        help="model for items that name none (default tiny; any name `sam2nb models` lists)",
    )
    s.add_argument("--formats", help="export formats for items that name none, e.g. palette,coco")
    s.add_argument("--direction", choices=["forward", "backward", "both"],
                   help="for items that name none (default both)")  # fmt: skip
    s.add_argument("--max-side", type=int, help="shrink frames, for items that name none")
    s.add_argument("--redo", action="store_true", help="run finished items again")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_batch)

"""``sam2nb compare``: the same prompts tracked by several models, one table row per model.

Example:
    $ sam2nb compare clip.mp4 --models test,edgetam-test,sam3-test --point 0:210,350
    $ sam2nb compare clip.mp4 --models tiny,edgetam,sam3 --prompts runs/clip --csv cmp.csv
    $ sam2nb compare clip.mp4 --models test,test@hf --box 0:100,80,400,360:2 --frames 30

The table (see :func:`sam2nb.compare`): frames/s, peak memory, seconds to the first mask,
``iou_vs_first`` (mean IoU against the first model's masks), the share of (object, frame) pairs
the quality flags mark, and whether the model is untrained. A model that cannot load is named
with its reason, the others still run, and the command ends with status 2; the rows measured are
printed and written either way.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .track import HELP_SPEC, prompt_log


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..bench.compare import CompareError, check_models, compare

    names = check_models(args.models)  # a typo fails before anything loads
    flags = args.point or args.neg or args.box
    if args.prompts and flags:
        raise CompareError(
            "Give either --prompts FOLDER or --point/--neg/--box, not both: --prompts replays a "
            "saved session's prompts as they are."
        )
    log = None
    if not args.prompts:  # the same FRAME:X,Y[:OBJ] parsing as `sam2nb track`
        log = prompt_log(argparse.Namespace(prompts=None, point=args.point, neg=args.neg,
                                            box=args.box))  # fmt: skip
    if args.csv:
        from pathlib import Path

        if Path(args.csv).exists() and not args.overwrite:
            raise CompareError(
                f"{args.csv} exists: give another --csv file, or --overwrite to replace it."
            )
    result = compare(
        args.video, names, prompts=args.prompts or log, direction=args.direction,
        device=args.device, frames=args.frames, out=args.out, fresh=args.fresh,
        progress=not args.quiet,
    )  # fmt: skip
    print(result)
    if args.csv:
        print(f"rows written to {result.to_csv(args.csv, overwrite=args.overwrite)}")
    if args.out and result.rows:
        print(f"sessions kept in {args.out}/<model> (sam2nb.load_session opens them)")
    for model, why in result.failed.items():
        print(
            f"sam2nb: model {model!r} did not run: {why} (the other rows were measured; fix it "
            "or leave it out of --models)",
            file=sys.stderr,
        )
    if result.failed:
        return 2
    if result.stopped:
        print("sam2nb: stopped; the rows above were measured", file=sys.stderr)
        return 130
    return 0


def add_parser(sub: Any) -> None:
    """Add ``compare`` to the ``sam2nb`` command (``sub``: the main parser's subparsers)."""
    s = sub.add_parser(
        "compare",
        help="track the same prompts with several models: fps, memory, first mask, IoU, flags",
        description=(
            "Track the same prompts with each model in turn and print one row per model: "
            "frames/s, peak memory, seconds to the first mask (loading included), mean IoU "
            "against the first model's masks (iou_vs_first), the share of frames the quality "
            "flags mark, and whether the model is untrained (random weights: the numbers then "
            "show the tool, not the model)."
        ),
    )
    s.add_argument("video", metavar="VIDEO", help="video file or frame folder")
    s.add_argument(
        "--models", required=True,
        help="comma-separated model names, e.g. test,test@hf,edgetam-test,sam3-test (the first "
        "is the reference for iou_vs_first)",
    )  # fmt: skip
    s.add_argument("--point", action="append", default=[], help=f"positive click {HELP_SPEC}")
    s.add_argument("--neg", action="append", default=[], help=f"negative click {HELP_SPEC}")
    s.add_argument(
        "--box", action="append", default=[], help="box FRAME:X0,Y0,X1,Y1[:OBJ] in video pixels"
    )
    s.add_argument(
        "--prompts", metavar="FOLDER",
        help="replay the prompts of a saved session folder (or a JSON prompt file)",
    )  # fmt: skip
    s.add_argument("--direction", default="both", choices=["forward", "backward", "both"])
    s.add_argument("--frames", type=int, help="track only the first N frames of the video")
    s.add_argument("--device", help="cuda, cuda:1, mps or cpu (default: best available)")
    s.add_argument("--out", metavar="DIR", help="keep each model's session in DIR/<model>/")
    s.add_argument(
        "--fresh", action="store_true",
        help="move sessions an earlier comparison left in --out aside (never deleted)",
    )  # fmt: skip
    s.add_argument("--csv", metavar="FILE", help="write the rows to this CSV file")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_compare)

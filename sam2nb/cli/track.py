r"""``sam2nb track``: track objects through a video from the shell and write PNG masks.

Example:
    $ sam2nb track clip.mp4 --model tiny --point 0:450,200 --out masks/
    $ sam2nb track clip.mp4 --point 0:450,200:1 --neg 0:300,120:1 --box 10:20,30,200,240:2 \
          --out masks/ --save-session runs/clip
    $ sam2nb track clip.mp4 --prompts prompts.json --out masks/
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..base.errors import SessionError
from ..tracking.log import PROMPT_OPS, Box, Points, PromptLog, read_log

HELP_SPEC = "FRAME:X,Y[:OBJ] (OBJ defaults to 1)"


def _parse(spec: str, what: str, ncoords: int) -> tuple[int, list[float], int]:
    """Parse ``FRAME:C1,C2,..[:OBJ]``.

    Example:
        >>> _parse("12:450,200:3", "--point", 2)
        (12, [450.0, 200.0], 3)
    """
    parts = spec.split(":")
    form = "FRAME:X,Y[:OBJ]" if ncoords == 2 else "FRAME:X0,Y0,X1,Y1[:OBJ]"
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        frame = int(parts[0])
        coords = [float(c) for c in parts[1].split(",")]
        obj = int(parts[2]) if len(parts) == 3 else 1
        if len(coords) != ncoords:
            raise ValueError
    except ValueError:
        raise SessionError(
            f"{what} {spec!r} is not {form}, e.g. {what} "
            f"{'0:450,200' if ncoords == 2 else '0:100,80,400,360'}"
        ) from None
    return frame, coords, obj


def prompt_log(args: argparse.Namespace) -> PromptLog:
    """The session prompt log the command line describes (files first, then flags)."""
    log = read_log(args.prompts) if args.prompts else PromptLog()
    clicks: dict[tuple[int, int], tuple[list, list]] = {}
    for spec, label in [(s, 1) for s in args.point] + [(s, 0) for s in args.neg]:
        frame, xy, obj = _parse(spec, "--point" if label else "--neg", 2)
        pts, labs = clicks.setdefault((frame, obj), ([], []))
        pts.append(xy)
        labs.append(label)
    boxes = {}
    for spec in args.box:
        frame, box, obj = _parse(spec, "--box", 4)
        boxes[(frame, obj)] = box
    for key in sorted(set(clicks) | set(boxes)):
        frame, obj = key
        pts, labs = clicks.get(key, (None, None))
        if key in boxes:
            log.append(Box(frame, obj, boxes[key], pts, labs))
        else:
            log.append(Points(frame, obj, pts, labs))
    if not any(e.op in PROMPT_OPS for e in log):
        raise SessionError(
            "Nothing to track: give at least one --point FRAME:X,Y (or --box, or --prompts FILE)."
        )
    return log


def write_masks(sess: object, out: Path) -> int:
    """One PNG per frame: 0/255 for one object, else object ids in a palette PNG (DAVIS)."""
    from PIL import Image

    from ..base.colors import PALETTE

    out.mkdir(parents=True, exist_ok=True)
    ids = sorted(sess.objects)  # type: ignore[attr-defined]
    if max(ids, default=0) > 255:
        raise SessionError("PNG label masks hold object ids up to 255; renumber the objects.")
    palette = [0, 0, 0] + [c for i in range(1, 256) for c in PALETTE[(i - 1) % len(PALETTE)]]
    h, w = sess.video.height, sess.video.width  # type: ignore[attr-defined]
    for f in range(len(sess.video)):  # type: ignore[attr-defined]
        masks = sess.results.masks(f)  # type: ignore[attr-defined]
        if len(ids) == 1:
            m = masks.get(ids[0])
            img = Image.fromarray(
                (np.zeros((h, w), np.uint8) if m is None else m.astype(np.uint8) * 255), "L"
            )
        else:
            lab = np.zeros((h, w), np.uint8)
            for o in ids:  # later ids win where masks overlap
                if o in masks:
                    lab[masks[o]] = o
            img = Image.fromarray(lab, "P")
            img.putpalette(palette)
        img.save(out / f"{f:05d}.png")
    return len(sess.video)  # type: ignore[attr-defined]


def cmd_track(args: argparse.Namespace) -> int:
    """Run ``sam2nb track``."""
    from ..media.video import open_video
    from ..model import engine as modelmod
    from ..tracking.session import Session

    log = prompt_log(args)  # bad prompts fail before the model loads
    video = open_video(args.video, start=args.start, end=args.end, stride=args.stride,
                       max_side=args.max_side)  # fmt: skip
    engine = modelmod.load(args.model, device=args.device)
    if engine.untrained:
        print(f"note: {engine.label}")
    t0 = time.perf_counter()
    sess = Session(video, engine, memory=args.memory)
    try:
        PromptLog(e for e in log if e.op != "propagate").replay(sess)
        sess.run(direction=args.direction, progress=not args.quiet)
        if args.save_session:
            sess.save(args.save_session)
        n = write_masks(sess, Path(args.out))
    finally:
        sess.close()
    secs = time.perf_counter() - t0
    print(f"{n} masks for {len(sess.objects)} object(s) written to {args.out} in {secs:.1f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``track`` on the main parser."""
    s = sub.add_parser("track", help="track objects from clicks/boxes and write PNG masks")
    s.add_argument("video", metavar="VIDEO", help="video file or frame folder")
    s.add_argument("--model", default="tiny", help="variant (tiny, small, base_plus, large, test)")
    s.add_argument("--point", action="append", default=[], help=f"positive click {HELP_SPEC}")
    s.add_argument("--neg", action="append", default=[], help=f"negative click {HELP_SPEC}")
    s.add_argument(
        "--box", action="append", default=[], help="box FRAME:X0,Y0,X1,Y1[:OBJ] in video pixels"
    )
    s.add_argument("--prompts", help="JSON prompt log (a saved session's format)")
    s.add_argument("--out", required=True, help="folder for the PNG masks (00000.png, ...)")
    s.add_argument("--direction", default="both", choices=["forward", "backward", "both"])
    s.add_argument("--memory", default="auto", choices=["auto", "full", "bounded"])
    s.add_argument("--save-session", help="also save the session to this folder")
    s.add_argument("--start", type=int, default=0, help="first frame of the video to use")
    s.add_argument("--end", type=int, help="frame to stop before")
    s.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    s.add_argument("--max-side", type=int, help="shrink frames to this longer side")
    s.add_argument("--device", help="cuda, cuda:1, mps or cpu (default: best available)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_track)

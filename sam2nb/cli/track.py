r"""``sam2nb track``: track objects through a video from the shell and write PNG masks.

Example:
    $ sam2nb track clip.mp4 --model tiny --point 0:450,200 --out masks/
    $ sam2nb track clip.mp4 --point 0:450,200:1 --neg 0:300,120:1 --box 10:20,30,200,240:2 \
          --out masks/ --save-session runs/clip
    $ sam2nb track clip.mp4 --prompts prompts.json --out masks/

Each frame's PNG is on disk as soon as the frame is tracked, and the session is kept in
``OUT/.session`` (or ``--save-session``) as it goes: the same command run again after a stop, a
kill or a bad frame goes on where it stopped and says how many frames it skipped; ``--redo``
starts over (the earlier session is moved aside).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..base.errors import SessionError
from ..prompts.log import PROMPT_OPS, Box, Points, PromptLog, read_log

HELP_SPEC = "FRAME:X,Y[:OBJ] (OBJ defaults to 1)"
SESSION_DIR = ".session"  # OUT/.session: the run's journal, so a rerun goes on


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


def _label_pngs(sess: Any, out: Path) -> Callable[[int], None]:
    """A function writing frame ``f``'s label PNG into ``out`` from the session's results."""
    from ..io.labels import write_label_png

    ids = sorted(sess.objects)
    if max(ids, default=0) > 255:
        raise SessionError("PNG label masks hold object ids up to 255; renumber the objects.")
    h, w = sess.video.height, sess.video.width

    def write(f: int) -> None:
        write_label_png(out / f"{f:05d}.png", sess.results.masks(f), ids, h, w)

    return write


def write_masks(sess: Any, out: Path, skip: set[int] | None = None) -> int:
    """One PNG per frame, each written atomically; frames in ``skip`` are left as they are.

    One object gives 0/255 PNGs, several object ids in a palette PNG (DAVIS). Returns how many
    were written.
    """
    write = _label_pngs(sess, out)
    n = 0
    for f in range(len(sess.video)):
        if skip is None or f not in skip:
            write(f)
            n += 1
    return n


def _prompts_of(log: PromptLog) -> list[dict]:
    out = []
    for e in log:
        if e.op in PROMPT_OPS:
            d = e.to_json()
            d.pop("t", None)
            out.append(d)
    return out


def _open(args: argparse.Namespace, log: PromptLog, video: Any, engine: Any) -> Any:
    """The run's session: resumed from its folder when an earlier run of it stopped."""
    from ..storage.folders import holds_session, move_aside
    from ..tracking.resume import load_session
    from ..tracking.session import Session

    folder = Path(args.save_session) if args.save_session else Path(args.out) / SESSION_DIR
    if holds_session(folder):
        if args.redo:
            aside = move_aside(folder)
            print(f"starting over: the earlier session is kept in {aside}")
        else:
            sess = load_session(
                folder, engine=engine, video=video, memory=args.memory, shorter=True
            )
            if _prompts_of(sess.log) != _prompts_of(log):
                sess.close()
                raise SessionError(
                    f"{folder} holds a run with other prompts: give another --out (or "
                    "--save-session), or --redo to start over (the earlier session is moved "
                    "aside, not deleted)."
                )
            return sess
    sess = Session(video, engine, memory=args.memory, folder=folder)
    PromptLog(e for e in log if e.op != "propagate").replay(sess)
    return sess


def cmd_track(args: argparse.Namespace) -> int:
    """Run ``sam2nb track``; each frame's PNG is written as the frame finishes.

    Run again, it goes on where it stopped (``--redo`` starts over).
    """
    from ..io.labels import done_frames
    from ..media.video import FrameDecodeError, VideoError, open_video
    from ..model import device as devmod
    from ..model import engine as modelmod
    from ..tracking.finish import track_to_end

    log = prompt_log(args)  # bad prompts fail before the model loads
    video = open_video(args.video, start=args.start, end=args.end, stride=args.stride,
                       max_side=args.max_side, decoder=args.decoder)  # fmt: skip
    random = args.random_weights and args.model != "test"
    if args.memory == "bounded" and modelmod.current() is None:  # this process's first model
        devmod.prefer_heap("compact")  # a batch run's memory first (SAM2NB_MALLOC decides over)
    engine = modelmod.load(args.model, device=args.device, random_weights=random)
    if engine.untrained:
        print(f"note: {engine.label}")
    out = Path(args.out)
    if args.redo:
        for f in done_frames(out):
            (out / f"{f:05d}.png").unlink(missing_ok=True)
    t0 = time.perf_counter()
    sess = _open(args, log, video, engine)
    try:
        write = _label_pngs(sess, out)
        tracked = set(sess.results.frames())
        have = done_frames(out, size=video.size)
        for f in sorted(tracked - have):  # frames tracked before the last run was cut short
            write(f)
        try:
            run = track_to_end(
                sess, args.direction, progress=not args.quiet,
                on_frame=lambda fr: write(fr.frame_idx),
            )  # fmt: skip
        except FrameDecodeError as err:
            kept = len(done_frames(out, size=video.size))
            raise VideoError(
                f"{kept} frames tracked before it are written to {out} and kept. "
                + err.explain(f"run the same command again with --end {err.frame}")
            ) from None
        if run.skipped:
            print(f"skipped {run.skipped} frames tracked by an earlier run (--redo redoes them)")
        write_masks(sess, out, skip=done_frames(out, size=video.size))  # frames never reached
        if args.save_session:
            sess.save(args.save_session)
    finally:
        sess.close()
    secs = time.perf_counter() - t0
    print(
        f"{len(video)} masks for {len(sess.objects)} object(s) in {args.out}: "
        f"{run.tracked} frames tracked in {secs:.1f} s"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``track`` on the main parser."""
    s = sub.add_parser("track", help="track objects from clicks/boxes and write PNG masks")
    s.add_argument("video", metavar="VIDEO", help="video file or frame folder")
    s.add_argument("--model", default="tiny",
                   help="tiny, small, base_plus, large, test (sam2); edgetam, sam3, "
                        "tiny@hf ... (transformers); `sam2nb models` lists them")  # fmt: skip
    s.add_argument("--point", action="append", default=[], help=f"positive click {HELP_SPEC}")
    s.add_argument("--neg", action="append", default=[], help=f"negative click {HELP_SPEC}")
    s.add_argument(
        "--box", action="append", default=[], help="box FRAME:X0,Y0,X1,Y1[:OBJ] in video pixels"
    )
    s.add_argument("--prompts", help="JSON prompt log (a saved session's format)")
    s.add_argument("--out", required=True, help="folder for the PNG masks (00000.png, ...)")
    s.add_argument("--direction", default="both", choices=["forward", "backward", "both"])
    s.add_argument(
        "--memory", default="bounded", choices=["auto", "full", "bounded"],
        help="bounded (default): keep only the state tracking reads, flat memory for any length "
        "(on a CPU also the compact heap, SAM2NB_MALLOC=compact, unless SAM2NB_MALLOC is set); "
        "full: keep every frame's state (a batch run takes no corrections, so it gains nothing)",
    )  # fmt: skip
    s.add_argument(
        "--save-session",
        help=f"keep the session in this folder (default OUT/{SESSION_DIR}); a run that stopped "
        "goes on from there",
    )
    s.add_argument(
        "--redo", "--restart", action="store_true",
        help="start over: ignore an earlier run's frames (its session is moved aside)",
    )  # fmt: skip
    s.add_argument("--start", type=int, default=0, help="first frame of the video to use")
    s.add_argument("--end", type=int, help="frame to stop before")
    s.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    s.add_argument("--max-side", type=int, help="shrink frames to this longer side")
    s.add_argument("--device", help="cuda, cuda:1, mps or cpu (default: best available)")
    s.add_argument("--decoder", choices=["pyav", "decord"], help="video decoder (default: PyAV)")
    s.add_argument(
        "--random-weights", action="store_true",
        help="a full-size model with seeded random weights, for memory and speed measurements "
        "only: the masks mean nothing (the output says so)",
    )  # fmt: skip
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_track)

r"""``sam2nb everything``: every object on an image or video frames, as COCO RLE JSON + overlay.

Each frame's ``<name>.json`` and ``<name>_overlay.png`` are written as soon as it is done, each
under a temporary name renamed into place. The same command run again skips the frames whose
two files are whole and were made with the same settings ("skipped N frames already done");
``--redo`` does them again. A frame the video cannot decode stops the run with an error that
names it; the frames written before it are kept.

Example:
    $ sam2nb everything photo.jpg --out found/
    $ sam2nb everything clip.mp4 --frame 120 --model small --points-per-side 64 --out found/
    $ sam2nb everything clip.mp4 --frames 0:300:30 --out found/   # every 30th frame
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ..base.errors import VideoError
from ..base.files import atomic_write
from ..image.everything import KNOBS, AutoMasks, EverythingError
from ..media.overlay import stamp_untrained

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def write_outputs(found: AutoMasks, picture: np.ndarray, out: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>_overlay.png`` then ``<stem>.json`` (COCO RLE) into ``out``, each atomically.

    Each file goes to a temporary name first and is renamed into place, so a stopped run never
    leaves half a file under its final name.

    Example:
        >>> write_outputs(found, img, Path("found"), "photo")  # doctest: +SKIP
    """
    from ..io.outputs import png_bytes

    out.mkdir(parents=True, exist_ok=True)
    over = found.overlay(picture)
    if found.untrained:
        over = stamp_untrained(over)
    png = atomic_write(out / f"{stem}_overlay.png", png_bytes(over), fsync=False)
    js = found.to_coco(out / f"{stem}.json", image_name=f"{stem}.png")
    return js, png


def parse_frames(spec: str, count: int, name: str = "the video") -> range:
    """The video frames ``--frames START:END[:STEP]`` names (END left out: to the end).

    Example:
        >>> parse_frames("10:40:10", 200), parse_frames("190:", 200), parse_frames("::50", 200)
        (range(10, 40, 10), range(190, 200), range(0, 200, 50))
    """
    parts = spec.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        start = int(parts[0]) if parts[0].strip() else 0
        end = int(parts[1]) if parts[1].strip() else count
        step = int(parts[2]) if len(parts) == 3 and parts[2].strip() else 1
    except ValueError:
        raise EverythingError(
            f"--frames {spec!r} is not START:END[:STEP], e.g. --frames 0:100 or --frames "
            "0:200:10 (END left out: to the end)."
        ) from None
    if step < 1 or not 0 <= start < end <= count:
        raise EverythingError(f"--frames {spec}: {name} has {count} frames (0..{count - 1}); give "
                              f"0 <= START < END <= {count} and STEP >= 1.")  # fmt: skip
    return range(start, end, step)


def frame_done(out: Path, stem: str, settings: dict) -> bool:
    """Whether ``<stem>.json`` and ``<stem>_overlay.png`` are whole and made with ``settings``.

    Example:
        >>> frame_done(Path(folder), "photo", {})
        False
    """
    from ..io.labels import png_size

    if png_size(out / f"{stem}_overlay.png") is None:
        return False
    info = _coco_info(out / f"{stem}.json")
    return isinstance(info, dict) and info.get("settings") == settings


def _coco_info(path: Path) -> object:
    """The ``info`` of a COCO JSON that :meth:`AutoMasks.to_coco` wrote (None: not whole).

    It comes first in the file, so a rerun reads a few kilobytes of each, not every mask.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            fh.seek(-1, 2)
            if fh.read(1) != b"}":
                return None
        text = head.decode("utf-8", "ignore")
        start = re.match(r'\{\s*"info"\s*:\s*', text)
        if start is not None:
            try:
                return json.JSONDecoder().raw_decode(text, start.end())[0]
            except ValueError:  # longer than the head: read it all
                pass
        return json.loads(path.read_text()).get("info")
    except (OSError, ValueError, AttributeError):
        return None


def _kept(written: int, out: Path) -> str:
    """``N frames written to OUT are kept``, or ``1 frame ... is kept``."""
    if written == 1:
        return f"1 frame written to {out} is kept"
    return f"{written} frames written to {out} are kept"


def _retry_hint(frames: range | None, bad: int) -> str:
    if frames is None:
        return f"pick a --frame before {bad}"
    if bad <= frames.start:
        return f"pick --frames that end by {bad}"
    step = f":{frames.step}" if frames.step != 1 else ""
    return f"run again with --frames {frames.start}:{bad}{step} (frames done are skipped)"


def cmd_everything(args: argparse.Namespace) -> int:
    """Run ``sam2nb everything``: each frame's outputs as it finishes, resumable."""
    from ..image.everything import check_knobs, picture_of, segment_everything
    from ..media.video import FrameDecodeError, open_video, read_image
    from ..model import engine as modelmod
    from ..model.names import check_images

    # bad settings fail before the model loads
    knobs = check_knobs(
        points_per_side=args.points_per_side, points_per_batch=args.points_per_batch,
        pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_thresh,
        box_nms_thresh=args.nms_thresh, min_mask_region_area=args.min_area,
        crop_n_layers=args.crop_layers,
    )  # fmt: skip
    model = check_images(args.model, "segment everything")
    src, out = Path(args.source), Path(args.out)
    if args.frame is not None and args.frames:
        raise EverythingError("--frame and --frames both given: use --frame N for one frame, "
                              "--frames START:END[:STEP] for several.")  # fmt: skip
    frames: range | None = None
    if src.suffix.lower() in IMAGE_SUFFIXES:
        if args.frame not in (None, 0) or args.frames:
            opt = f"--frame {args.frame}" if args.frame is not None else f"--frames {args.frames}"
            raise EverythingError(f"{opt}: {src.name} is an image (one frame). Leave it out.")
        source, todo, max_side = read_image(src), [0], None
    else:
        with warnings.catch_warnings():  # a file cut short: said once, below, as a note
            warnings.simplefilter("ignore")
            source = open_video(src, max_side=args.max_side)
        if source.damage:
            print(f"note: {source.damage}", file=sys.stderr)
        if args.frames:
            frames = parse_frames(args.frames, len(source), source.name)
        todo, max_side = (list(frames) if frames else [args.frame or 0]), args.max_side
    image = isinstance(source, np.ndarray)

    def stem(f: int) -> str:
        return src.stem if image else f"{src.stem}_f{f:05d}"

    settings = {**knobs, "keep_min_area": args.keep_min_area, "max_side": max_side,
                "model": model, "source": src.name}  # fmt: skip
    for f in todo:  # temporary files an interrupted run left
        for name in (f"{stem(f)}.json.tmp", f"{stem(f)}_overlay.png.tmp"):
            (out / name).unlink(missing_ok=True)
    done = set() if args.redo else {f for f in todo if frame_done(out, stem(f), settings)}
    skipped = len(done)
    if skipped:
        todo = [f for f in todo if f not in done]
        s = "" if skipped == 1 else "s"
        print(f"skipped {skipped} frame{s} already done in {out} (--redo does them again)")
    if not todo:
        return 0
    # the first frame decodes (or is out of range) before the model loads
    picture = picture_of(source, todo[0])
    engine = modelmod.load(args.model, device=args.device)
    if engine.untrained:
        print(f"note: {engine.label}")
    written = 0
    t_all = time.perf_counter()
    try:
        for n, f in enumerate(todo):
            if n:
                picture = picture_of(source, f)
            t0 = time.perf_counter()
            found = segment_everything(engine, picture, frame_idx=f, progress=not args.quiet,
                                       **knobs)  # fmt: skip
            secs = time.perf_counter() - t0
            found = found.filter(min_area=args.keep_min_area)
            found.settings = dict(settings)  # what frame_done compares on a rerun
            js, png = write_outputs(found, picture, out, stem(f))
            written += 1
            at = "" if image else f"frame {f}: "
            masks = f"{len(found)} mask{'s' if len(found) != 1 else ''}"
            print(f"{at}{masks} on {found.size[0]}x{found.size[1]} in {secs:.1f} s: {js}, {png}",
                  flush=True)  # fmt: skip
    except FrameDecodeError as err:
        kept = _kept(written, out)
        if skipped:
            kept += f" (and {skipped} done before)"
        raise VideoError(f"{kept}. {err.explain(_retry_hint(frames, err.frame))}") from None
    except KeyboardInterrupt:
        print(f"stopped: {_kept(written, out)}; run the same command again to do the rest.",
              file=sys.stderr)  # fmt: skip
        raise
    if len(todo) > 1:
        print(f"{written} frames written to {out} in {time.perf_counter() - t_all:.1f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``everything`` on the main parser."""
    s = sub.add_parser("everything", help="find every object on an image or video frames (COCO)")
    s.add_argument("source", metavar="IMAGE_OR_VIDEO", help="an image, a video file or a folder")
    s.add_argument("--frame", type=int, help="video frame to segment (default 0)")
    s.add_argument("--frames", metavar="START:END[:STEP]",
                   help="video frames to segment, e.g. 0:100 or 0:300:30 (END left out: to "
                   "the end); a rerun skips the frames already done")  # fmt: skip
    s.add_argument("--out", required=True, help="folder for <name>.json and <name>_overlay.png")
    s.add_argument("--redo", action="store_true",
                   help="segment frames again even if their outputs are done")  # fmt: skip
    s.add_argument("--model", default="tiny", help="a sam2 variant (tiny, small, base_plus, "
                   "large, test): transformers' trackers track videos only")  # fmt: skip
    s.add_argument("--device", help="cuda, cuda:1, mps or cpu (default: best available)")
    s.add_argument("--max-side", type=int, help="shrink video frames to this longer side")

    def knob(flag: str, name: str, kind: type, what: str) -> None:
        default, lo, hi = KNOBS[name]
        s.add_argument(flag, type=kind, default=default,
                       help=f"{what} ({lo:g}..{hi:g}, default {default})")  # fmt: skip

    knob("--points-per-side", "points_per_side", int, "grid of point prompts per side")
    knob("--points-per-batch", "points_per_batch", int, "points run together (lower: less memory)")
    knob("--pred-iou-thresh", "pred_iou_thresh", float, "drop masks the model rates below this")
    knob("--stability-thresh", "stability_score_thresh", float, "drop unstable masks")
    knob("--nms-thresh", "box_nms_thresh", float, "box overlap above which duplicates go")
    knob("--min-area", "min_mask_region_area", int, "remove holes/islands smaller than this")
    knob("--crop-layers", "crop_n_layers", int, "also run on zoomed crops (finds small objects)")
    s.add_argument("--keep-min-area", type=int, default=0,
                   help="write only masks of at least this many pixels")  # fmt: skip
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_everything)

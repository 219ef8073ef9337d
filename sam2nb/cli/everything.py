r"""``sam2nb everything``: every object on an image or video frame, as COCO RLE JSON + overlay.

Example:
    $ sam2nb everything photo.jpg --out found/
    $ sam2nb everything clip.mp4 --frame 120 --model small --points-per-side 64 --out found/
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..tracking.everything import KNOBS, AutoMasks, EverythingError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
UNTRAINED_STAMP = "UNTRAINED TEST MODEL (random weights): these masks mean nothing"


def stamp_untrained(rgb: np.ndarray) -> np.ndarray:
    """The picture with a red banner saying the masks come from the untrained test model.

    Example:
        >>> stamp_untrained(np.zeros((100, 400, 3), np.uint8))[5, 5].tolist()
        [176, 0, 32]
    """
    import cv2

    out = np.ascontiguousarray(rgb).copy()
    h, w = out.shape[:2]
    scale = max(w / 1400, 0.35)
    bar = int(34 * scale) + 6
    out[: min(bar, h)] = (176, 0, 32)
    cv2.putText(out, UNTRAINED_STAMP, (6, bar - int(10 * scale) - 2), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)  # fmt: skip
    return out


def write_outputs(found: AutoMasks, picture: np.ndarray, out: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (COCO RLE) and ``<stem>_overlay.png`` into ``out``.

    Example:
        >>> write_outputs(found, img, Path("found"), "photo")  # doctest: +SKIP
    """
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    js = found.to_coco(out / f"{stem}.json", image_name=f"{stem}.png")
    over = found.overlay(picture)
    if found.untrained:
        over = stamp_untrained(over)
    png = out / f"{stem}_overlay.png"
    tmp = png.with_name(png.name + ".tmp")
    Image.fromarray(over).save(tmp, format="PNG")
    tmp.replace(png)
    return js, png


def cmd_everything(args: argparse.Namespace) -> int:
    """Run ``sam2nb everything``."""
    from ..media.video import open_video, read_image
    from ..model import engine as modelmod
    from ..tracking.everything import check_knobs, picture_of, segment_everything

    # bad settings fail before the model loads
    knobs = check_knobs(
        points_per_side=args.points_per_side, points_per_batch=args.points_per_batch,
        pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_thresh,
        box_nms_thresh=args.nms_thresh, min_mask_region_area=args.min_area,
        crop_n_layers=args.crop_layers,
    )  # fmt: skip
    src = Path(args.source)
    if src.suffix.lower() in IMAGE_SUFFIXES:
        if args.frame not in (None, 0):
            raise EverythingError(f"--frame {args.frame}: {src.name} is an image (one frame). "
                                  f"Leave --frame out.")  # fmt: skip
        source, stem, frame = read_image(src), src.stem, 0
    else:
        source = open_video(src, max_side=args.max_side)
        frame = 0 if args.frame is None else args.frame
        stem = f"{src.stem}_f{frame:05d}"
    picture = picture_of(source, frame)  # a frame out of range fails before the model loads
    engine = modelmod.load(args.model, device=args.device)
    if engine.untrained:
        print(f"note: {engine.label}")
    t0 = time.perf_counter()
    found = segment_everything(engine, picture, frame_idx=frame, progress=not args.quiet,
                               **knobs)  # fmt: skip
    secs = time.perf_counter() - t0
    found = found.filter(min_area=args.keep_min_area)
    js, png = write_outputs(found, picture, Path(args.out), stem)
    print(f"{len(found)} mask(s) on {found.size[0]}x{found.size[1]} in {secs:.1f} s: {js}, {png}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``everything`` on the main parser."""
    s = sub.add_parser("everything", help="find every object on an image or video frame (COCO)")
    s.add_argument("source", metavar="IMAGE_OR_VIDEO", help="an image, a video file or a folder")
    s.add_argument("--frame", type=int, help="video frame to segment (default 0)")
    s.add_argument("--out", required=True, help="folder for <name>.json and <name>_overlay.png")
    s.add_argument("--model", default="tiny", help="variant (tiny, small, base_plus, large, test)")
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

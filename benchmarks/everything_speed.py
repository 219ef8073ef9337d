"""Segment everything: seconds per image, sam2nb against sam2's own generator side by side.

Runs ``s2.segment_everything`` and sam2's ``SAM2AutomaticMaskGenerator`` on the same model, the
same pictures and the same settings in one process, taking turns (the order alternates), and
prints the time per image and the ratio. Two settings: sam2's score filters (what a user gets)
and the filters off (every mask goes through the post-processing: the slow case; with the
untrained test model sam2's filters keep almost nothing, so this is the realistic load).

    python benchmarks/everything_speed.py [--model test] [--points-per-side 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path

import torch
from results_csv import append_rows

import sam2nb as s2
from sam2nb.model.engine import backbone_feature_sizes

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
SETTINGS = {
    "sam2 filters": {},
    "filters off": {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0},
}


def official(engine, picture, pps: int, knobs: dict) -> int:
    """sam2's generator as its README uses it (the backbone sizes set for a non-1024 model)."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    gen = SAM2AutomaticMaskGenerator(engine.model, points_per_side=pps, **knobs)
    gen.predictor._bb_feat_sizes = backbone_feature_sizes(engine.image_size)
    with torch.inference_mode(), engine.autocast():
        return len(gen.generate(picture))


def ours(engine, picture, pps: int, knobs: dict) -> int:
    return len(s2.segment_everything(engine, picture, points_per_side=pps, progress=False,
                                     **knobs))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test")
    ap.add_argument("--device")
    ap.add_argument("--points-per-side", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--csv", default=str(HERE / "results" / "everything_speed.csv"))
    args = ap.parse_args()

    engine = s2.load(args.model, device=args.device)
    pictures = {
        "truck.jpg": s2.read_image(DATA / "truck.jpg"),
        "bedroom.mp4 frame 0": s2.open_video(DATA / "bedroom.mp4", end=1)[0],
    }
    print(f"{engine.label} on {engine.device}, {args.points_per_side} points per side, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    ours(engine, pictures["bedroom.mp4 frame 0"], 4, {})  # warm-up
    official(engine, pictures["bedroom.mp4 frame 0"], 4, {})
    rows = []
    for pname, pic in pictures.items():
        h, w = pic.shape[:2]
        for sname, knobs in SETTINGS.items():
            times = {"official": [], "sam2nb": []}
            counts = {}
            for r in range(args.repeats):
                order = [("official", official), ("sam2nb", ours)]
                for side, fn in order if r % 2 == 0 else order[::-1]:
                    gc.collect()
                    t0 = time.perf_counter()
                    counts[side] = fn(engine, pic, args.points_per_side, knobs)
                    times[side].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            ratio = med["official"] / med["sam2nb"]
            print(f"{pname:>20} {w}x{h} {sname:>12}: official {med['official']:6.1f} s "
                  f"({counts['official']} masks), sam2nb {med['sam2nb']:6.1f} s "
                  f"({counts['sam2nb']} masks), official/sam2nb {ratio:.2f}x")  # fmt: skip
            rows.append({"picture": pname, "size": f"{w}x{h}", "setting": sname,
                         "official_s": round(med["official"], 2),
                         "sam2nb_s": round(med["sam2nb"], 2),
                         "ratio": round(ratio, 3), "masks": counts["sam2nb"],
                         "official_masks": counts["official"]})  # fmt: skip
    append_rows(args.csv, rows, model=engine.name, device=str(engine.device),
                points_per_side=args.points_per_side, repeats=args.repeats)  # fmt: skip


if __name__ == "__main__":
    main()

"""Draw docs/synthetic-scenes.png: one frame of each kind of synthetic scene, and its truth.

Each row is one kind of scene (sam2nb.synthetic, synthetic ground truth): left the frame as
drawn (motion blur included), right the same frame with the truth masks (the visible part of
each object) painted on in the object colours. Run from the repository root:

    python scripts/synthetic_pictures.py [--seed 0] [--out docs/synthetic-scenes.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout, installed or not
from sam2nb.base.colors import default_color  # noqa: E402
from sam2nb.media.overlay import overlay_frame  # noqa: E402
from sam2nb.synthetic.scenes import KINDS, make_scene  # noqa: E402

SHOW = {
    "occlusion": "occlusion",
    "entries": "enter",
    "lookalikes": "cross",
    "scale_blur": "blur",
    "mixed": "occlusion",
}
PANEL = (432, 243)


def pick_frame(scene) -> tuple[int, str]:
    """A frame that shows what the kind is about, and a line that says what it is."""
    for e in scene.events:
        if e["kind"] == SHOW[scene.kind]:
            if "frame_idx" in e:
                f = min(e["frame_idx"] + 4, scene.num_frames - 1)
                return f, f"object {e['obj_id']} entered"
            who = e.get("obj_id", e.get("obj_ids"))
            return (e["start"] + e["end"] + 1) // 2, f"{e['kind']} of {who}"
    return scene.num_frames // 2, ""


def label(panel: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((26, panel.shape[1], 3), 32, np.uint8)
    cv2.putText(bar, text, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (240, 240, 240), 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/synthetic-scenes.png")
    args = ap.parse_args()
    rows = []
    for k, kind in enumerate(KINDS):
        scene = make_scene(args.seed + k, kind)
        f, what = pick_frame(scene)
        rgb = scene.frame(f)
        masks = scene.masks(f)
        over = overlay_frame(rgb, masks, {o: default_color(o) for o in masks}, 0.55)
        left = cv2.resize(rgb, PANEL, interpolation=cv2.INTER_AREA)
        right = cv2.resize(over, PANEL, interpolation=cv2.INTER_AREA)
        rows.append(
            np.hstack(
                [
                    label(left, f"{kind}: frame {f} ({what})"),
                    label(right, "synthetic ground truth (visible parts)"),
                ]
            )
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

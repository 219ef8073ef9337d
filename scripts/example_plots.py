"""Make docs/track_plots.png: the analysis plots for 3 objects tracked through cups.mp4.

    python scripts/example_plots.py [--model test] [--frames 90]

With the untrained test model the tracks are meaningless, and every plot title says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import sam2nb as s2  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CUPS = [(340, 100), (654, 420), (914, 420)]  # held up, middle, right (frame 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--video", default=str(ROOT.parent / "shared" / "data" / "cups.mp4"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "track_plots.png"))
    args = ap.parse_args()
    sess = s2.Session(s2.open_video(args.video, end=args.frames), s2.load(args.model))
    for i, (pt, name) in enumerate(zip(CUPS, ["held cup", "middle cup", "right cup"], strict=True)):
        sess.add_object(i + 1, name=name)
        sess.add_points(0, i + 1, [pt], [1])
    sess.run()
    df = s2.track_table(sess)
    fig, ax = plt.subplots(2, 3, figsize=(16, 8))
    s2.plot_trajectories(df, sess.video[0], sess, ax=ax[0, 0])
    s2.plot_timelines(df, sess, axes=[ax[0, 1], ax[1, 1]])
    s2.plot_presence(df, sess, ax=ax[0, 2])
    s2.plot_heatmap(df, sess.video.size, ax=ax[1, 0])
    s2.plot_contacts(df, ax=ax[1, 2])
    fig.tight_layout()
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

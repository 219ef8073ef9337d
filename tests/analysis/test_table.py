"""The track table on hand-made masks (known centroids, speeds, overlaps) and the plots."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

import sam2nb as s2

matplotlib.use("Agg")


def _square(x, y, s=10, w=100, h=60):
    m = np.zeros((h, w), bool)
    m[y : y + s, x : x + s] = True
    return m


@pytest.fixture
def tracked():
    """Object 1 moves 4 px right per frame; object 2 sits still and overlaps it on frame 3;
    object 1 is hidden (score < 0) on frame 2. 10 fps."""
    store = s2.ResultStore(100, 60)
    for f in range(5):
        m1, m2 = _square(10 + 4 * f, 20), _square(26, 20)
        store.put(f, [1, 2], np.stack([m1, m2]), scores=[-1.0 if f == 2 else 3.0, 2.0],
                  ious=[0.9, None])  # fmt: skip
    objs = {o: s2.TrackedObject(o, n, c) for o, n, c in
            [(1, "ball", (255, 0, 0)), (2, "cup", (0, 0, 255))]}  # fmt: skip
    return SimpleNamespace(
        results=store, objects=objs, video=_Video(),
        engine=SimpleNamespace(label="test", untrained=True),
    )  # fmt: skip


class _Video:
    name, fps, size, width, height = "synthetic", 10.0, (100, 60), 100, 60

    def __len__(self):
        return 5


def test_track_table_by_hand(tracked):
    df = s2.track_table(tracked)
    assert len(df) == 10 and list(df.frame_idx[:2]) == [0, 0]
    b = df[df.obj_id == 1].set_index("frame_idx")
    assert b.loc[0, "cx"] == pytest.approx(15.0) and b.loc[0, "cy"] == pytest.approx(25.0)
    assert b.loc[0, ["x0", "y0", "x1", "y1"]].tolist() == [10, 20, 20, 30]
    assert b.loc[0, "area"] == 100 and b.loc[0, "iou"] == pytest.approx(0.9)
    assert not b.loc[2, "visible"] and np.isnan(b.loc[2, "speed"])
    assert b.loc[1, "vx"] == pytest.approx(40.0) and b.loc[1, "speed"] == pytest.approx(40.0)
    assert b.loc[3, "vx"] == pytest.approx(40.0)  # from frame 1: 8 px over 0.2 s
    assert b.loc[3, "overlap_2"] == pytest.approx(0.6)  # x 22..32 vs 26..36: 6 of 10 columns
    assert b.loc[0, "overlap_2"] == 0.0
    c = df[df.obj_id == 2].set_index("frame_idx")
    assert c.loc[3, "overlap_1"] == pytest.approx(0.6) and c.loc[4, "speed"] == 0.0
    assert np.isnan(c.loc[0, "iou"])
    assert df.attrs["untrained"] and df.attrs["fps"] == 10.0
    pairs = s2.contacts(df)
    assert pairs.frame_idx.tolist() == [2, 3, 4] and set(pairs.a) == {1}


def test_table_files_round_trip(tracked, tmp_path):
    df = s2.track_table(tracked)
    for name in ("t.csv", "t.parquet"):
        s2.save_table(df, tmp_path / name)
    back = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    csv = pd.read_csv(tmp_path / "t.csv")
    assert np.allclose(csv["cx"], df["cx"], equal_nan=True)
    with pytest.raises(s2.ExportError, match=".csv or .parquet"):
        s2.save_table(df, tmp_path / "t.xlsx")


def test_plots_draw_and_say_untrained(tracked, tmp_path):
    import matplotlib.pyplot as plt

    df = s2.track_table(tracked)
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    s2.plot_trajectories(df, np.zeros((60, 100, 3), np.uint8), tracked, ax=axes[0, 0])
    s2.plot_timelines(df, tracked, axes=[axes[0, 1], axes[1, 1]])
    s2.plot_presence(df, tracked, ax=axes[0, 2])
    s2.plot_heatmap(df, (100, 60), ax=axes[1, 0])
    s2.plot_contacts(df, ax=axes[1, 2])
    assert "untrained" in axes[0, 0].get_title()
    assert len(axes[0, 0].lines) == 4  # a path and an end marker per object
    assert len(axes[1, 2].collections) == 1  # one touching pair
    fig.savefig(tmp_path / "plots.png")
    assert (tmp_path / "plots.png").stat().st_size > 10_000
    plt.close(fig)


def test_track_table_marks_masks_tracked_before_a_prompt_change(tracked):
    tracked.results.mark_stale(1, 2)  # a change on frame 2: object 1's frames 3-4 are stale
    df = s2.track_table(tracked)
    assert df[df.stale][["frame_idx", "obj_id"]].values.tolist() == [[3, 1], [4, 1]]
    assert df.attrs["stale_frames"] == 2

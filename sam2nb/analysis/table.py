"""Tracks as a tidy table, and the plots people make from it.

:func:`track_table` gives one row per (frame, object): visibility and score, predicted IoU,
area, box, centroid, velocity and speed, and the overlap with every other object. The plot
functions take that table and draw on a matplotlib ``Axes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from ..base.colors import color_of
from ..base.errors import ExportError
from ..io.outputs import check_range
from ..prompts.protocol import SessionLike
from ..tracking.drift import drift_scores
from .quality import COLUMNS, flag_frame

QUALITY_COLUMNS = ["frame_idx", "obj_id", "iou_prev", "drift", "flagged", "why", "severity"]

UNTRAINED_NOTE = "untrained test model: meaningless tracks"


def track_table(
    session: SessionLike,
    obj_ids: Iterable[int] | None = None,
    start: int = 0,
    end: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per (frame, object) with a result, streamed from the session's result store.

    Columns: ``frame_idx``, ``time_s``, ``obj_id``, ``name``, ``visible``, ``stale`` (tracked
    before a later prompt change: the next propagation tracks it again), ``score``, ``iou``
    (predicted), ``area`` (pixels), ``x0 y0 x1 y1`` (box), ``cx cy`` (mask centroid), ``vx vy``
    and ``speed`` (pixels per second, from the previous frame where the object was visible;
    NaN otherwise), and ``overlap_<id>``: the share of this object's pixels that object ``id``
    also covers; ``time_s`` is the frame's presentation time in the file (variable frame rate
    video keeps its uneven timing). Where tracking may have gone wrong: ``iou_prev`` (IoU with
    its own mask on the frame before), ``flagged``, ``why`` and ``severity`` (see
    :mod:`sam2nb.analysis.quality`). ``df.attrs`` records the video, fps, model and whether it
    was untrained.

    Example:
        >>> _ = sess.run(progress=False)
        >>> df = track_table(sess, progress=False)
        >>> len(df), int(df.frame_idx.max())
        (8, 7)
        >>> speed = df.groupby("obj_id").speed.mean()
        >>> df.to_parquet(folder + "/tracks.parquet")
    """
    from tqdm.auto import tqdm

    ids, frames = check_range(session, obj_ids, start, end)
    fps = float(getattr(session.video, "fps", 0) or 0)
    times = getattr(session.video, "times", None)  # the file's own (variable rate kept)
    if times is None or len(times) != len(session.video):
        times = np.arange(len(session.video)) / fps if fps else None
    rows: list[dict] = []
    flags: list[dict] = []  # where tracking may have gone wrong (see sam2nb.quality_table)
    prev: tuple[int, dict] = (-2, {})
    seen: set[int] = set()  # objects visible on an earlier frame (for "appeared")
    drift = drift_scores(session.results)
    stale_of = getattr(session.results, "stale_frames", None)
    stale = {o: set(stale_of(o)) if stale_of is not None else set() for o in ids}
    for f in tqdm(frames, desc="track table", unit="frame", disable=not progress):
        recs = {o: r for o, r in session.results.frame(f).items() if o in ids}
        flags += flag_frame(f, recs, prev, drift=drift, seen=seen)
        prev = (f, recs)
        for o, r in recs.items():
            row = {
                "frame_idx": f, "obj_id": o,
                "time_s": float(times[f]) if times is not None else np.nan,
                "name": session.objects[o].name, "visible": bool(r.visible),
                "stale": f in stale[o], "score": r.score,
                "iou": np.nan if r.iou is None else r.iou, "area": r.area,
            }  # fmt: skip
            b = r.bbox or (np.nan,) * 4
            row.update(x0=b[0], y0=b[1], x1=b[2], y1=b[3])
            if r.area:
                ys, xs = np.nonzero(r.mask())
                row.update(cx=float(xs.mean()) + 0.5, cy=float(ys.mean()) + 0.5)
            else:
                row.update(cx=np.nan, cy=np.nan)
            for q in ids:
                if q == o:
                    continue
                if not r.area:
                    row[f"overlap_{q}"] = np.nan  # no pixels: no share to speak of
                elif q in recs:
                    inter = mask_utils.merge([r.rle, recs[q].rle], intersect=True)
                    row[f"overlap_{q}"] = float(mask_utils.area(inter)) / r.area
                else:
                    row[f"overlap_{q}"] = 0.0
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=["frame_idx", "time_s", "obj_id", "name", "visible", "stale",
                                   "score", "iou", "area", "x0", "y0", "x1", "y1", "cx",
                                   "cy"])  # fmt: skip
    df = df.sort_values(["obj_id", "frame_idx"]).reset_index(drop=True)
    _velocity(df)
    df = df.sort_values(["frame_idx", "obj_id"]).reset_index(drop=True)
    if len(df):
        q = pd.DataFrame(flags, columns=COLUMNS)[QUALITY_COLUMNS]
        df = df.merge(q, on=["frame_idx", "obj_id"], how="left")
    eng = session.engine
    df.attrs.update(video=session.video.name, fps=fps, model=eng.label,
                    untrained=bool(eng.untrained),
                    stale_frames=len(set().union(*stale.values())))  # fmt: skip
    return df


def _velocity(df: pd.DataFrame) -> None:
    """Pixels per second from the frames' own times (per frame when the times are unknown)."""
    df["vx"] = df["vy"] = df["speed"] = np.nan
    if df.empty:
        return
    for _, g in df.groupby("obj_id"):
        vis = g[g["visible"] & g["cx"].notna()]
        if len(vis) < 2:
            continue
        dt = vis["time_s"].diff() if vis["time_s"].notna().all() else vis["frame_idx"].diff()
        vx, vy = vis["cx"].diff() / dt, vis["cy"].diff() / dt
        df.loc[vis.index, "vx"] = vx
        df.loc[vis.index, "vy"] = vy
        df.loc[vis.index, "speed"] = np.hypot(vx, vy)


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4.5))
    return ax


def _title(ax: Any, df: pd.DataFrame, what: str) -> None:
    note = f" ({UNTRAINED_NOTE})" if df.attrs.get("untrained") else ""
    ax.set_title(f"{what}: {df.attrs.get('video', '')}{note}", fontsize=10)


def _colors(session: Any | None) -> dict[int, tuple]:
    if session is None:
        return {}
    return {o: t.color for o, t in session.objects.items()}


def _rgb(colors: dict, o: int) -> tuple[float, float, float]:
    return tuple(c / 255 for c in color_of(colors, o))  # type: ignore[return-value]


def plot_trajectories(
    df: pd.DataFrame, frame: np.ndarray | None = None, session: Any = None, ax: Any = None
) -> Any:
    """Centroid paths of the visible frames, drawn over a video frame if given."""
    ax = _axes(ax)
    if frame is not None:
        ax.imshow(frame)
    colors = _colors(session)
    for o, g in df[df["visible"]].groupby("obj_id"):
        ax.plot(g["cx"], g["cy"], "-", lw=1.5, color=_rgb(colors, o), label=g["name"].iloc[0])
        ax.plot(g["cx"].iloc[-1:], g["cy"].iloc[-1:], "o", color=_rgb(colors, o))
    if frame is None:
        ax.invert_yaxis()
        ax.set_aspect("equal")
    ax.legend(fontsize=8)
    _title(ax, df, "trajectories")
    return ax


def plot_timelines(df: pd.DataFrame, session: Any = None, axes: Any = None) -> Any:
    """Area and object score per frame, one line per object (two stacked axes)."""
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    colors = _colors(session)
    for o, g in df.groupby("obj_id"):
        axes[0].plot(g["frame_idx"], g["area"], color=_rgb(colors, o), label=g["name"].iloc[0])
        axes[1].plot(g["frame_idx"], g["score"], color=_rgb(colors, o))
    axes[0].set_ylabel("area (px)")
    axes[1].set_ylabel("object score")
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].set_xlabel("frame")
    axes[0].legend(fontsize=8)
    _title(axes[0], df, "area and score")
    return axes


def plot_presence(df: pd.DataFrame, session: Any = None, ax: Any = None) -> Any:
    """Swimlanes: one lane per object, filled where it is visible."""
    ax = _axes(ax)
    colors = _colors(session)
    ids = sorted(df["obj_id"].unique())
    for i, o in enumerate(ids):
        g = df[(df["obj_id"] == o) & df["visible"]]
        ax.broken_barh([(f, 1) for f in g["frame_idx"]], (i - 0.4, 0.8), color=_rgb(colors, o))
    ax.set_yticks(range(len(ids)))
    ax.set_yticklabels([df[df["obj_id"] == o]["name"].iloc[0] for o in ids])
    ax.set_xlabel("frame")
    _title(ax, df, "presence")
    return ax


def plot_heatmap(df: pd.DataFrame, size: tuple[int, int], bins: int = 32, ax: Any = None) -> Any:
    """Where the objects' centroids were: a 2-D histogram over the frame (``size`` = (w, h))."""
    ax = _axes(ax)
    vis = df[df["visible"] & df["cx"].notna()]
    w, h = size
    ny = max(1, round(bins * h / w))
    hist, _, _ = np.histogram2d(vis["cy"], vis["cx"], bins=[ny, bins], range=[[0, h], [0, w]])
    im = ax.imshow(hist, extent=[0, w, h, 0], cmap="magma", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="frames")
    _title(ax, df, "centroid heat map")
    return ax


def contacts(df: pd.DataFrame, threshold: float = 0.0) -> pd.DataFrame:
    """Per frame and pair of objects: whether their masks overlap more than ``threshold``.

    Returns columns ``frame_idx``, ``a``, ``b``, ``overlap`` (the larger of the two shares).
    """
    cols = [c for c in df.columns if c.startswith("overlap_")]
    rows = []
    for _, r in df.iterrows():
        for c in cols:
            b = int(c.split("_")[1])
            if r["obj_id"] < b and r[c] == r[c] and r[c] > threshold:
                other = df[(df["frame_idx"] == r["frame_idx"]) & (df["obj_id"] == b)]
                back = other[f"overlap_{r['obj_id']}"].iloc[0] if len(other) else 0.0
                rows.append({"frame_idx": r["frame_idx"], "a": r["obj_id"], "b": b,
                             "overlap": max(r[c], back)})  # fmt: skip
    return pd.DataFrame(rows, columns=["frame_idx", "a", "b", "overlap"])


def plot_contacts(df: pd.DataFrame, threshold: float = 0.0, ax: Any = None) -> Any:
    """A lane per pair of objects, marked on the frames where their masks touch."""
    ax = _axes(ax)
    c = contacts(df, threshold)
    pairs = sorted({(a, b) for a, b in zip(c["a"], c["b"], strict=True)})
    for i, (a, b) in enumerate(pairs):
        g = c[(c["a"] == a) & (c["b"] == b)]
        ax.broken_barh([(f, 1) for f in g["frame_idx"]], (i - 0.4, 0.8), color="tab:red")
    ax.set_yticks(range(len(pairs)))
    ax.set_yticklabels([f"{a}–{b}" for a, b in pairs])
    ax.set_xlabel("frame")
    _title(ax, df, "contacts")
    return ax


def save_table(df: pd.DataFrame, path: Any) -> Any:
    """Write the table as CSV or Parquet (by the file's suffix)."""
    from pathlib import Path

    p = Path(path)
    if p.suffix == ".csv":
        df.to_csv(p, index=False)
    elif p.suffix in (".parquet", ".pq"):
        df.to_parquet(p, index=False)
    else:
        raise ExportError(f"{p}: name it .csv or .parquet.")
    return p

"""The tracker bake-off: the same prompts tracked by several models, one table row per model.

For each model in turn: it is loaded (the one loaded before is released first), the prompts are
sent (clicks, boxes, or a saved session's prompt log), the objects are tracked, and the row
records

- ``frames``: frames tracked; ``fps``: frames tracked per second of propagation;
- ``peak_mb``: peak GPU memory torch allocated during the model's run (CUDA), or how much the
  process's resident memory grew above its level before the run (CPU; sampled in a thread);
- ``first_mask_s``: seconds from the start of the model's run, loading included, to the first
  prompt's mask;
- ``iou_vs_first``: mean IoU of each object's mask against the first model's mask for the same
  object and frame (the first row is 1.0 by definition);
- ``flagged``: the share of (object, frame) pairs the quality flags mark
  (:func:`sam2nb.quality_table`);
- ``untrained``: the model has random weights (the test models): its numbers show the tool,
  never the model's quality.

Masks are all at the video's resolution, so any two models compare. ``sam2nb compare`` does the
same from a shell.

Example:
    >>> cmp = s2.compare(clip, ["test", "test@hf"], points=[(0, 120, 180)],
    ...                  frames=4, progress=False)  # doctest: +SKIP
    >>> print(cmp)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import gc
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..base.errors import Sam2nbError
from ..media.video import VideoSource, open_video
from ..model import device as devmod
from ..model import engine as modelmod
from ..model import names as modelnames
from ..prompts.log import PROMPT_OPS, Box, Points, PromptLog, as_log, read_log
from ..storage.folders import holds_session, move_aside
from ..storage.store import ResultStore, rle_iou
from .timing import MemoryMonitor, sync

DIRECTIONS = ("forward", "backward", "both")
COLUMNS = ("model", "frames", "fps", "peak_mb", "first_mask_s", "iou_vs_first", "flagged",
           "untrained")  # fmt: skip
UNTRAINED_NOTE = (
    "untrained = random weights (test models): these numbers show the tool working, not how "
    "well a model tracks"
)


class CompareError(Sam2nbError):
    """A comparison that cannot run as asked (names the setting and the fix)."""


@dataclass
class CompareRow:
    """One model's run in a :class:`Comparison`.

    Attributes:
        model: the model's name as given (``"test"``, ``"edgetam-test"``, ``"tiny"``, ...).
        frames: frames tracked (the start frame twice with ``direction="both"``, as tracked).
        fps: frames tracked per second of propagation.
        peak_mb: peak memory of the run in MB (see ``memory``).
        first_mask_s: seconds from the start of the run (loading included) to the first mask.
        iou_vs_first: mean IoU against the first model's masks (same object and frame).
        flagged: share of (object, frame) pairs the quality flags mark (0 to 1).
        untrained: random weights: the row shows the tool, not the model.
        label: the model's label (what it is, untrained or not, in words).
        load_s: seconds to load the model.
        propagate_s: seconds of propagation.
        objects: objects tracked.
        memory: what ``peak_mb`` measures: ``"cuda"`` (torch's peak allocation) or
            ``"rss"`` (host resident memory added during the run).
        device: the device it ran on.
        stopped: the run was stopped before the end (its numbers cover what it did).
        folder: where its session is kept ("" in memory).
    """

    model: str
    frames: int
    fps: float
    peak_mb: float
    first_mask_s: float
    iou_vs_first: float
    flagged: float
    untrained: bool
    label: str = ""
    load_s: float = float("nan")
    propagate_s: float = float("nan")
    objects: int = 0
    memory: str = ""
    device: str = ""
    stopped: bool = False
    folder: str = ""


def _fmt(v: Any, col: str) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if col == "flagged":
            return f"{100 * v:.1f}%"
        if col == "iou_vs_first":
            return f"{v:.3f}"
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


@dataclass
class Comparison:
    """What :func:`compare` measured: rows, masks, failures; a table, a plot, masks side by side.

    Attributes:
        rows: one :class:`CompareRow` per model that ran, in the order given.
        failed: ``{model: why}`` for the models that could not load or run.
        results: ``{model: ResultStore}``: each model's masks (RLE, at video resolution).
        video: the video tracked.
        colors: ``{obj_id: (r, g, b)}`` of the objects.
        stopped: the comparison was stopped before every model ran.
    """

    rows: list[CompareRow] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    results: dict[str, ResultStore] = field(default_factory=dict, repr=False)
    video: Any = field(default=None, repr=False)
    colors: dict[int, tuple[int, int, int]] = field(default_factory=dict, repr=False)
    stopped: bool = False

    @property
    def table(self) -> Any:
        """The rows as a pandas DataFrame (every field; the eight main columns first).

        Example:
            >>> Comparison().table.columns[:3].tolist()
            ['model', 'frames', 'fps']
        """
        import pandas as pd

        names = [f.name for f in fields(CompareRow)]
        return pd.DataFrame([asdict(r) for r in self.rows], columns=names)

    def to_csv(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the rows (every field) to a CSV file; an existing file only with ``overwrite``.

        Example:
            >>> Comparison().to_csv(folder + "/cmp.csv").name
            'cmp.csv'
        """
        p = Path(path).expanduser()
        if p.exists() and not overwrite:
            raise CompareError(
                f"{p} exists: give another file name, or overwrite=True (--overwrite) to "
                "replace it."
            )
        p.parent.mkdir(parents=True, exist_ok=True)
        names = [f.name for f in fields(CompareRow)]
        tmp = p.with_name(p.name + ".part")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=names)
            w.writeheader()
            for r in self.rows:
                w.writerow(asdict(r))
        tmp.replace(p)
        return p

    def notes(self) -> list[str]:
        """The lines printed under the table: what the columns measure, untrained, failures."""
        out = []
        if self.rows:
            out.append(f"iou_vs_first: against {self.rows[0].model}'s masks, same object and frame")
            kinds = {r.memory for r in self.rows}
            what = {"cuda": "peak GPU memory torch allocated", "rss": "host RSS added by the run"}
            out.append("peak_mb: " + "; ".join(what.get(k, k) for k in sorted(kinds)))
        if any(r.untrained for r in self.rows):
            out.append(UNTRAINED_NOTE)
        out += [f"{r.model}: stopped before the end" for r in self.rows if r.stopped]
        out += [f"{m}: FAILED: {why}" for m, why in self.failed.items()]
        if self.stopped:
            out.append("stopped: the models after the last row did not run")
        return out

    def __str__(self) -> str:
        cells = [list(COLUMNS)] + [[_fmt(getattr(r, c), c) for c in COLUMNS] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        lines = [
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in cells
        ]
        return "\n".join(lines + self.notes())

    def _repr_html_(self) -> str:
        import html

        body = self.table[list(COLUMNS)].to_html(index=False, float_format=lambda v: f"{v:.3f}")
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes())
        return f"{body}<ul>{notes}</ul>"

    def plot(self) -> Any:
        """Bars per model: frames per second, and IoU against the first model.

        Untrained models are hatched and marked ``(untrained)``.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        names = [r.model + (" (untrained)" if r.untrained else "") for r in self.rows]
        for ax, col, title in ((axes[0], "fps", "frames / s (propagation)"),
                               (axes[1], "iou_vs_first", "mean IoU vs first model")):  # fmt: skip
            vals = [getattr(r, col) for r in self.rows]
            bars = ax.bar(range(len(vals)), vals, color="tab:blue")
            for b, r in zip(bars, self.rows, strict=True):
                if r.untrained:
                    b.set_hatch("//")
                    b.set_facecolor("tab:gray")
            ax.set_xticks(range(len(vals)), names, rotation=20, ha="right")
            ax.set_title(title)
        axes[1].set_ylim(0, 1.05)
        if any(r.untrained for r in self.rows):
            fig.suptitle("hatched: UNTRAINED (random weights): the numbers show the tool only")
        fig.tight_layout()
        return fig

    def show(self, frames: Iterable[int] | None = None, width: float = 3.2) -> Any:
        """Each model's masks on a few frames, side by side: one column per model.

        Args:
            frames: the frames (rows); default three spread over the tracked frames.
            width: inches per panel.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        from ..media.overlay import overlay_frame, stamp_untrained

        if not self.rows or self.video is None:
            raise CompareError("Nothing to show: no model finished.")
        if frames is None:
            done = sorted(set(self.results[self.rows[0].model].frames()))
            frames = [done[round(i * (len(done) - 1) / 2)] for i in range(3)] if done else [0]
            frames = list(dict.fromkeys(frames))
        frames = [int(f) for f in frames]
        n = len(self.video)
        bad = [f for f in frames if not 0 <= f < n]
        if bad:
            raise CompareError(f"frames {bad} are outside the video (0 to {n - 1}).")
        w, h = self.video.size
        cols = len(self.rows)
        size = (width * cols, width * h / w * len(frames) + 0.6)
        fig, axes = plt.subplots(len(frames), cols, squeeze=False, figsize=size)
        for i, f in enumerate(frames):
            rgb = self.video[f]
            for j, r in enumerate(self.rows):
                pic = overlay_frame(rgb, self.results[r.model].masks(f), self.colors)
                if r.untrained:
                    pic = stamp_untrained(pic)
                ax = axes[i][j]
                ax.imshow(pic)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(r.model + (" (untrained)" if r.untrained else ""))
                if j == 0:
                    ax.set_ylabel(f"frame {f}")
        fig.tight_layout()
        return fig


# -- the prompts ---------------------------------------------------------------------------------
def _prompt_log(points: Any, boxes: Any, prompts: Any) -> PromptLog:
    """The prompts to send to every model (no propagations)."""
    if prompts is not None and (points or boxes):
        raise CompareError(
            "Give either prompts (a saved session folder or prompt file) or points/boxes, not "
            "both (--prompts or --point/--box)."
        )
    if prompts is not None:
        if isinstance(prompts, (str, os.PathLike)):
            p = Path(prompts).expanduser()
            if p.is_dir():
                from ..tracking.resume import saved_log

                log = saved_log(p)
            else:
                log = read_log(p)
        else:
            log = as_log(prompts)
    else:
        log = PromptLog()
        clicks: dict[tuple[int, int], list] = {}
        for pt in points or ():
            frame, x, y, obj = _spec(pt, 2, "point", "(frame, x, y[, obj])")
            clicks.setdefault((frame, obj), []).append((x, y))
        for (frame, obj), pts in sorted(clicks.items()):
            log.append(Points(frame, obj, pts, [1] * len(pts)))
        for b in boxes or ():
            frame, *box, obj = _spec(b, 4, "box", "(frame, x0, y0, x1, y1[, obj])")
            log.append(Box(frame, obj, box))
    log = PromptLog(e for e in log if e.op != "propagate")
    if not any(e.op in PROMPT_OPS for e in log):
        raise CompareError(
            "Nothing to track: give at least one point (--point FRAME:X,Y), a box (--box) or a "
            "saved session's prompts (--prompts FOLDER)."
        )
    return log


def _spec(v: Sequence, n: int, what: str, form: str) -> tuple:
    """``(frame, c1..cn, obj)`` from ``(frame, c1..cn[, obj])``."""
    try:
        vals = list(v)
        if len(vals) not in (n + 1, n + 2):
            raise ValueError
        frame, coords = int(vals[0]), [float(c) for c in vals[1 : n + 1]]
        obj = int(vals[n + 1]) if len(vals) == n + 2 else 1
    except (TypeError, ValueError):
        raise CompareError(f"a {what} is {form}, got {v!r}.") from None
    return (frame, *coords, obj)


def _check_prompts(log: PromptLog, video: VideoSource) -> None:
    """Every prompt on a frame of the video and inside it (before any model loads)."""
    from ..prompts.checks import check_box, check_points

    n, (w, h) = len(video), video.size
    for e in log:
        f = getattr(e, "frame_idx", None)
        if f is None:
            continue
        where = f"a {e.op} prompt on frame {f} (object {getattr(e, 'obj_id', '?')})"
        if not 0 <= f < n:
            raise CompareError(
                f"{where} is outside the video: {video.name} has {n} frames here (0 to {n - 1}). "
                "Give a frame in that range (or more frames: --frames)."
            )
        try:
            if isinstance(e, Points):
                check_points(e.points, e.labels or None, w, h)
            elif isinstance(e, Box):
                check_box(e.box, w, h)
                check_points(e.points, e.labels, w, h)
        except Sam2nbError as exc:
            raise CompareError(f"{where}: {exc}") from None


def check_models(models: Sequence[str] | str) -> list[str]:
    """The model names as a list, each one known (before anything loads).

    Example:
        >>> check_models("test, edgetam-test")
        ['test', 'edgetam-test']
    """
    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    names = [m for m in names if m]
    if not names:
        raise CompareError("No models: give at least one, e.g. --models test,edgetam-test.")
    seen: dict[str, str] = {}
    for m in names:
        try:
            key = modelnames.canonical(m)
        except Sam2nbError as exc:
            raise CompareError(f"unknown model {m!r} in models: {exc}") from None
        if key in seen:
            raise CompareError(f"models {seen[key]!r} and {m!r} are the same model: name it once.")
        seen[key] = m
    return names


# -- one model's run ----------------------------------------------------------------------------
def _free() -> None:
    """Release the loaded model and give freed memory back, so the next run starts clean."""
    modelmod.unload()
    gc.collect()
    devmod.trim_heap()


def _ious(ref: dict, store: ResultStore) -> float:
    """Mean IoU against ``ref`` (``{(frame, obj): (rle, area)}``) where both have a mask."""
    vals = []
    for rec in store.records():
        other = ref.get((rec.frame_idx, rec.obj_id))
        if other is None:
            continue
        rle, area = other
        if area == 0 and rec.area == 0:
            vals.append(1.0)
        elif area == 0 or rec.area == 0:
            vals.append(0.0)
        else:
            vals.append(rle_iou(rle, rec.rle))
    return float(sum(vals) / len(vals)) if vals else float("nan")


def _flagged(store: ResultStore) -> float:
    from ..analysis.quality import quality_table

    q = quality_table(store)
    return float((q.severity > 0).mean()) if len(q) else float("nan")


def _run_one(
    name: str, video: VideoSource, log: PromptLog, *, direction: str, device: str | None,
    folder: Path | None, progress: bool, halt: Callable[[], bool],
) -> tuple[CompareRow, Any]:  # fmt: skip
    """Load, prompt, track and measure one model; returns its row and (closed) session."""
    from ..tracking.session import Session

    dev, _ = devmod.resolve(device)
    mem = MemoryMonitor(dev)
    sess = None
    try:
        t0 = time.perf_counter()
        engine = modelmod.load(name, device=device, progress=progress)
        load_s = time.perf_counter() - t0
        sess = Session(video, engine, folder=folder)
        first = float("nan")
        for e in log:
            e.apply(sess)
            if math.isnan(first) and e.op in PROMPT_OPS:
                sync(engine.device)
                first = time.perf_counter() - t0
        sync(engine.device)
        t1 = time.perf_counter()
        n = 0
        for _ in sess.propagate(direction=direction, stop=halt, progress=progress):
            n += 1
        sync(engine.device)
        prop_s = time.perf_counter() - t1
        stopped = bool(halt())
    finally:
        if sess is not None:
            sess.close()
        _, added, vram = mem.close()
    row = CompareRow(
        model=name, frames=n, fps=n / prop_s if prop_s > 0 else float("nan"),
        peak_mb=vram if vram is not None else added, first_mask_s=first,
        iou_vs_first=float("nan"), flagged=_flagged(sess.results), untrained=engine.untrained,
        label=engine.label, load_s=load_s, propagate_s=prop_s, objects=len(sess.objects),
        memory="cuda" if vram is not None else "rss", device=str(engine.device),
        stopped=stopped, folder="" if folder is None else str(folder),
    )  # fmt: skip
    return row, sess


def compare(
    video: Any,
    models: Sequence[str] | str,
    *,
    points: Iterable[Sequence[float]] | None = None,
    boxes: Iterable[Sequence[float]] | None = None,
    prompts: Any = None,
    direction: str = "both",
    device: str | None = None,
    frames: int | None = None,
    out: str | os.PathLike | None = None,
    fresh: bool = False,
    progress: bool = True,
    stop: Any = None,
) -> Comparison:
    """Track the same prompts with each model in turn and measure each run.

    The model loaded before is released (each run starts from nothing loaded); so is each
    model after its run. A model that cannot load or run is listed in ``failed`` and the others
    still run.

    Args:
        video: a video file, a frame folder or a :class:`~sam2nb.VideoSource`.
        models: model names, a list or ``"test,edgetam-test"``: SAM 2.1 variants (``"tiny"``
            ...), ``"test"``, and through transformers ``"test@hf"``, ``"edgetam-test"``,
            ``"sam3-test"`` (the test models are untrained: random weights).
        points: positive clicks ``(frame, x, y)`` or ``(frame, x, y, obj)`` in video pixels
            (object 1 by default); clicks on one frame and object go together.
        boxes: boxes ``(frame, x0, y0, x1, y1)`` or ``(..., obj)`` in video pixels.
        prompts: instead of points and boxes: a saved session folder (its prompts, without
            its propagations), a JSON prompt file, or a :class:`~sam2nb.PromptLog`.
        direction: ``"forward"``, ``"backward"`` or ``"both"`` from the earliest prompt.
        device: ``"cuda"``, ``"mps"`` or ``"cpu"`` (default: the best available).
        frames: track only the first ``frames`` frames of a video given as a path.
        out: keep each model's session in ``out/<model>/`` (open it with
            :func:`sam2nb.load_session`); default in memory.
        fresh: move sessions an earlier comparison left in ``out/<model>/`` aside (never
            deleted); without it such a folder is an error.
        progress: show ``tqdm.auto`` progress bars.
        stop: a ``threading.Event`` or callable checked after every frame: set, the current
            model stops, no further model runs, and what was measured is returned (so does
            Ctrl-C / Jupyter's interrupt).

    Returns:
        A :class:`Comparison` (print it for the table).

    Raises:
        CompareError: no prompts, both kinds of prompts, an unknown model, a prompt outside the
            video, an ``out`` folder that holds a session; each names the fix.

    Example:
        >>> cmp = compare(clip, ["test", "test@hf"], points=[(0, 120, 180)], frames=4,
        ...               progress=False)  # doctest: +SKIP
        >>> [r.model for r in cmp.rows], cmp.rows[0].iou_vs_first  # doctest: +SKIP
        (['test', 'test@hf'], 1.0)
    """
    from tqdm.auto import tqdm

    names = check_models(models)
    if direction not in DIRECTIONS:
        raise CompareError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
    if frames is not None and (isinstance(frames, bool) or int(frames) < 1):
        raise CompareError(f"frames is a positive number of frames, got {frames!r}.")
    log = _prompt_log(points, boxes, prompts)

    def opened() -> VideoSource:
        if isinstance(video, VideoSource):
            return video
        return open_video(video, end=frames)

    src = opened()
    if frames is not None and isinstance(video, VideoSource) and len(video) > frames:
        raise CompareError(
            "frames= works on a video given as a path; open the VideoSource with end= instead."
        )
    _check_prompts(log, src)
    folders: dict[str, Path | None] = {m: None for m in names}
    if out is not None:
        for m in names:
            folders[m] = Path(out).expanduser() / m
            if holds_session(folders[m]):
                if not fresh:
                    raise CompareError(
                        f"{folders[m]} holds a session from an earlier comparison: give another "
                        "out folder, or fresh=True (--fresh) to move it aside (not deleted)."
                    )
                move_aside(folders[m])
    try:
        devmod.resolve(device)
    except (ValueError, Sam2nbError) as exc:
        raise CompareError(f"device {device!r}: {exc}") from None
    halt = (lambda: False) if stop is None else (stop.is_set if hasattr(stop, "is_set") else stop)
    result = Comparison(video=src)
    ref: dict | None = None
    bar = tqdm(total=len(names), desc="compare", unit="model", disable=not progress)
    try:
        for m in names:
            if halt():
                result.stopped = True
                break
            bar.set_postfix_str(m)
            _free()
            try:
                row, sess = _run_one(m, opened(), log, direction=direction, device=device,
                                     folder=folders[m], progress=progress, halt=halt)  # fmt: skip
            except (Sam2nbError, ImportError, OSError) as exc:
                result.failed[m] = f"{type(exc).__name__}: {exc}".strip()
                bar.update()
                continue
            if ref is None:
                ref = {(r.frame_idx, r.obj_id): (r.rle, r.area) for r in sess.results.records()}
                result.colors = {o: t.color for o, t in sess.objects.items()}
                row.iou_vs_first = 1.0
            else:
                row.iou_vs_first = _ious(ref, sess.results)
            result.rows.append(row)
            result.results[m] = sess.results
            bar.update()
            if row.stopped:
                result.stopped = m != names[-1]
                break
    except KeyboardInterrupt:
        result.stopped = True
    finally:
        bar.close()
        _free()
    return result

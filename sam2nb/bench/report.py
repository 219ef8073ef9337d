"""Benchmark results: rows, memory curves, CSV, tables, ratios, plots and the GPU card.

Everything here is a pure function of the rows, so a CSV written on one machine (say, the GPU
you rented last week) gives the same tables, plots and card on another.

Example:
    >>> report = s2.read_bench("benchmarks/nvidia-h100.csv")  # doctest: +SKIP
    >>> print(report.card(price_per_hour=2.49))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..base.errors import Sam2nbError

# Meta's published SAM 2.1 speeds: one A100, torch 2.5.1, CUDA 12.4, compiled (vos_optimized),
# frames per second (github.com/facebookresearch/sam2, "Model Description").
OFFICIAL_A100_FPS = {"tiny": 91.2, "small": 84.8, "base_plus": 64.1, "large": 39.5}
_ORDER = ["test", "tiny", "small", "base_plus", "large"]


@dataclass
class BenchRow:
    """One side of one benchmark setting (a CSV row). Times in ms unless named ``_s``.

    ``weights`` says what the timing ran on: ``checkpoint``, ``random (timing only)`` (a
    full-size model with random weights: same speed, meaningless masks) or ``untrained test
    model`` (256 px, for trying things on a CPU).
    """

    when: str
    variant: str
    weights: str
    dtype: str
    compiled: bool
    objects: int
    side: str  # "official" or "sam2nb"
    repeat: int
    first_mask_s: float
    encoder_ms: float
    encoder_p90_ms: float
    click_ms: float
    click_p90_ms: float
    frame_ms: float
    frame_p90_ms: float
    fps: float
    warmup_frames: int
    timed_frames: int
    vram_peak_mb: float | None
    rss_peak_mb: float
    rss_added_mb: float
    video: str
    video_size: str
    image_size: int
    device: str
    gpu: str
    driver: str
    torch: str
    cuda: str
    cpu: str
    sam2nb: str
    note: str = ""

    @property
    def setting(self) -> str:
        """``variant dtype [compiled]``, e.g. ``tiny bf16 compiled``."""
        short = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(self.dtype)
        return f"{self.variant} {short or self.dtype}" + (" compiled" if self.compiled else "")


@dataclass
class BenchCurve:
    """Memory while tracking: ``points`` are ``(frame_idx, RSS MB, VRAM MB or None)``.

    RSS is what the process grew by since this side started (opening the video included);
    VRAM is all memory torch has allocated on the GPU (the weights included).
    """

    variant: str
    dtype: str
    compiled: bool
    objects: int
    side: str
    repeat: int
    points: list = field(default_factory=list)


class BenchReportError(Sam2nbError):
    """A benchmark CSV that cannot be read."""


def _typed(row: dict[str, str]) -> BenchRow:
    out: dict[str, Any] = {}
    for f in fields(BenchRow):
        v = row.get(f.name, "")
        t = str(f.type)
        if "bool" in t:
            out[f.name] = v in ("True", "true", "1")
        elif t.startswith("int"):
            out[f.name] = int(float(v))
        elif "float" in t:
            out[f.name] = None if v in ("", "None") else float(v)
        else:
            out[f.name] = v
    return BenchRow(**out)


def append_csv(path: str | Path, rows: list[BenchRow], curves: list[BenchCurve] = ()) -> Path:
    """Append rows to a CSV (header once) and curves to ``<stem>_memory.csv`` beside it.

    Example:
        >>> append_csv("bench.csv", report.rows, report.curves)  # doctest: +SKIP
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in fields(BenchRow)]
    if out.exists() and out.stat().st_size:
        with open(out, newline="") as fh:
            head = next(csv.reader(fh), [])
        if head != names:
            raise BenchReportError(
                f"{out} has other columns (written by another sam2nb version?): give another "
                "csv= path, or move that file away."
            )
        new = False
    else:
        new = True
    with open(out, "a", newline="") as fh:
        wr = csv.DictWriter(fh, names)
        if new:
            wr.writeheader()
        for r in rows:
            wr.writerow(
                # six significant digits: a card read back from the file gives the same costs
                {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in asdict(r).items()}
            )
    if curves:
        mpath = out.with_name(out.stem + "_memory.csv")
        new = not mpath.exists()
        with open(mpath, "a", newline="") as fh:
            wr = csv.writer(fh)
            if new:
                wr.writerow(
                    ["variant", "dtype", "compiled", "objects", "side", "repeat", "frame_idx",
                     "rss_mb", "vram_mb"]
                )  # fmt: skip
            for c in curves:
                for fi, rss, vram in c.points:
                    wr.writerow(
                        [c.variant, c.dtype, c.compiled, c.objects, c.side, c.repeat, fi,
                         f"{rss:.1f}", "" if vram is None else f"{vram:.1f}"]
                    )  # fmt: skip
    return out


def read_bench(path: str | Path) -> BenchReport:
    """Read a benchmark CSV (and its ``_memory.csv``, if any) back into a report.

    Example:
        >>> read_bench("benchmarks/nvidia-h100.csv").table()  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise BenchReportError(f"{p} does not exist: give the CSV that `sam2nb bench` wrote.")
    try:
        with open(p, newline="") as fh:
            rows = [_typed(r) for r in csv.DictReader(fh)]
    except (ValueError, TypeError, KeyError) as exc:
        raise BenchReportError(f"{p} is not a sam2nb benchmark CSV ({exc}).") from None
    curves: dict[tuple, BenchCurve] = {}
    mpath = p.with_name(p.stem + "_memory.csv")
    if mpath.is_file():
        with open(mpath, newline="") as fh:
            for r in csv.DictReader(fh):
                key = (r["variant"], r["dtype"], r["compiled"] == "True", int(r["objects"]),
                       r["side"], int(r["repeat"]))  # fmt: skip
                c = curves.setdefault(key, BenchCurve(*key))
                vram = float(r["vram_mb"]) if r["vram_mb"] else None
                c.points.append((int(r["frame_idx"]), float(r["rss_mb"]), vram))
    env = {k: getattr(rows[0], k) for k in ("device", "gpu", "driver", "torch", "cuda", "cpu")}
    size = tuple(int(x) for x in rows[0].video_size.split("x")) if rows else (0, 0)
    return BenchReport(rows, list(curves.values()), env, rows[0].video if rows else "", size)


def _med(rows: list[BenchRow], key: str) -> float:
    vals = [getattr(r, key) for r in rows if getattr(r, key) is not None]
    return statistics.median(vals) if vals else float("nan")


def _mb(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f}"


@dataclass
class BenchReport:
    """What :func:`sam2nb.benchmark` measured.

    Attributes:
        rows: one :class:`BenchRow` per side and setting.
        curves: memory against frame count, one :class:`BenchCurve` per row.
        env: the machine (GPU, driver, torch, CUDA, CPU).
        video: the video's file name; ``video_size``: its (width, height).
        stopped: True when the run was stopped before the end (the rows are what finished).
    """

    rows: list[BenchRow] = field(default_factory=list)
    curves: list[BenchCurve] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    video: str = ""
    video_size: tuple = (0, 0)
    stopped: bool = False

    # -- grouping --------------------------------------------------------------------------
    def settings(self) -> list[str]:
        """The settings measured, smallest variant first."""
        seen = {r.setting: r for r in self.rows}
        return sorted(seen, key=lambda s: (_ORDER.index(seen[s].variant)
                                           if seen[s].variant in _ORDER else 99, s))  # fmt: skip

    def _group(self, setting: str, objects: int, side: str) -> list[BenchRow]:
        return [
            r for r in self.rows if r.setting == setting and r.objects == objects and r.side == side
        ]

    def _objects(self) -> list[int]:
        return sorted({r.objects for r in self.rows})

    @property
    def machine(self) -> str:
        """One line naming the machine: GPU, driver, torch, CUDA (or the CPU)."""
        e = self.env
        if e.get("gpu"):
            return (f"{e['gpu']} · driver {e.get('driver') or '?'} · torch {e.get('torch')} · "
                    f"CUDA {e.get('cuda') or '?'}")  # fmt: skip
        return f"CPU {e.get('cpu', '?')} · torch {e.get('torch')} (no GPU)"

    def _weights_note(self) -> str:
        kinds = sorted({r.weights for r in self.rows})
        notes = []
        if "random (timing only)" in kinds:
            notes.append(
                "random weights (no checkpoint cached): valid for timing, masks meaningless"
            )
        if "untrained test model" in kinds:
            notes.append(
                "UNTRAINED test model (small, random weights): timings of a test model, "
                "not of SAM 2.1 or any trained model"
            )
        return "; ".join(notes)

    # -- tables ----------------------------------------------------------------------------
    def table(self) -> str:
        """Both sides of every setting: medians over repeats.

        Example:
            >>> print(report.table())  # doctest: +SKIP
        """
        lines = [f"{self.machine}; video {self.video} {self.video_size[0]}x{self.video_size[1]}"]
        if note := self._weights_note():
            lines.append(note)
        if self.stopped:
            lines.append("(stopped early: the rows below are what finished)")
        lines.append(
            f"{'setting':<24}{'obj':>4} {'side':<9}{'encoder':>8}{'click':>8}{'frame':>8}"
            f"{'p90':>8}{'FPS':>7}{'1st mask':>9}{'VRAM MB':>8}{'RSS MB':>8}{'+RSS':>7}"
        )
        lines.append(f"{'':<24}{'':>4} {'':<9}{'ms':>8}{'ms':>8}{'ms':>8}{'ms':>8}{'':>7}{'s':>9}")
        for s in self.settings():
            for k in self._objects():
                for side in ("official", "sam2nb"):
                    g = self._group(s, k, side)
                    if not g:
                        continue
                    lines.append(
                        f"{s:<24}{k:>4} {side:<9}{_med(g, 'encoder_ms'):8.1f}"
                        f"{_med(g, 'click_ms'):8.1f}{_med(g, 'frame_ms'):8.1f}"
                        f"{_med(g, 'frame_p90_ms'):8.1f}{_med(g, 'fps'):7.1f}"
                        f"{_med(g, 'first_mask_s'):9.2f}{_mb(_med(g, 'vram_peak_mb')):>8}"
                        f"{_mb(_med(g, 'rss_peak_mb')):>8}{_mb(_med(g, 'rss_added_mb')):>7}"
                    )
        notes = sorted({f"{r.setting}, {r.side}: {r.note}" for r in self.rows if r.note})
        lines += [f"note: {n}" for n in notes]
        return "\n".join(lines)

    def ratios(self) -> list[dict]:
        """Official / sam2nb per setting and object count (above 1: sam2nb is better).

        Keys: ``setting``, ``objects``, ``speed`` (per-frame time), ``click``, ``first_mask``,
        ``vram`` and ``rss`` (peak memory added).

        Example:
            >>> report.ratios()[0]["speed"]  # doctest: +SKIP
            1.02
        """
        out = []
        for s in self.settings():
            for k in self._objects():
                off, our = self._group(s, k, "official"), self._group(s, k, "sam2nb")
                if not off or not our:
                    continue
                r = {"setting": s, "objects": k}
                for key, col in [("speed", "frame_ms"), ("click", "click_ms"),
                                 ("first_mask", "first_mask_s"), ("vram", "vram_peak_mb"),
                                 ("rss", "rss_added_mb")]:  # fmt: skip
                    a, b = _med(off, col), _med(our, col)
                    r[key] = a / b if b and b > 0 and not math.isnan(a) else float("nan")
                out.append(r)
        return out

    def ratio_table(self) -> str:
        """:meth:`ratios` as text."""
        lines = [
            "official / sam2nb (above 1: sam2nb faster or smaller)",
            f"{'setting':<24}{'obj':>4}{'speed':>8}{'click':>8}{'1st mask':>9}"
            f"{'VRAM':>7}{'+RSS':>7}",
        ]
        for r in self.ratios():
            vals = [r["speed"], r["click"], r["first_mask"], r["vram"], r["rss"]]
            cells = ["     -" if math.isnan(v) else f"{v:6.2f}x" for v in vals]
            lines.append(
                f"{r['setting']:<24}{r['objects']:>4}{cells[0]:>8}{cells[1]:>8}{cells[2]:>9}"
                f"{cells[3]:>7}{cells[4]:>7}"
            )
        return "\n".join(lines)

    def card(self, price_per_hour: float | None = None, video_fps: float = 30.0) -> str:
        """The GPU card: sam2nb's FPS per setting and what a minute of video costs to track.

        Args:
            price_per_hour: what the machine costs per hour (any currency); None: no cost column.
            video_fps: the frame rate of the videos you will track.

        Example:
            >>> print(report.card(price_per_hour=2.49, video_fps=30))  # doctest: +SKIP
        """
        if price_per_hour is not None and not price_per_hour > 0:
            raise BenchReportError(f"price_per_hour must be positive, got {price_per_hour!r}.")
        if not video_fps > 0:
            raise BenchReportError(f"video_fps must be positive, got {video_fps!r}.")
        ks = self._objects()
        lines = [f"GPU card · {self.machine}"]
        if note := self._weights_note():
            lines.append(note)
        head = f"{'setting':<24}" + "".join(f"{f'FPS {k} obj':>11}" for k in ks)
        if price_per_hour is not None:
            head += "".join(f"{f'cost/min {k} obj':>16}" for k in ks)
        head += f"{'A100 (Meta)':>12}"
        lines.append(head)
        for s in self.settings():
            line, costs = f"{s:<24}", ""
            variant = s.split()[0]
            for k in ks:
                g = self._group(s, k, "sam2nb")
                fps = _med(g, "fps") if g else float("nan")
                line += f"{fps:11.1f}" if not math.isnan(fps) else f"{'-':>11}"
                if price_per_hour is not None:
                    c = cost_per_video_minute(fps, price_per_hour, video_fps)
                    costs += f"{c:16.4f}" if not math.isnan(c) else f"{'-':>16}"
            ref = OFFICIAL_A100_FPS.get(variant)
            lines.append(line + costs + (f"{ref:12.1f}" if ref else f"{'-':>12}"))
        if price_per_hour is not None:
            lines.append(
                f"cost/min: what tracking a minute of {video_fps:g} fps video costs at "
                f"{price_per_hour:g}/hour for the machine (in the price's currency; tracking "
                "only: add clicks and export)."
            )
        lines.append("A100 (Meta): published SAM 2.1 FPS, one object, compiled, A100.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table() + "\n\n" + self.ratio_table()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's text display
        p.text(str(self))

    # -- plots -----------------------------------------------------------------------------
    def plot_fps(self, ax: Any = None) -> Any:
        """Bars of FPS per setting and object count; official as black ticks; Meta's A100 dots.

        Example:
            >>> report.plot_fps().figure.savefig("fps.png")  # doctest: +SKIP
        """
        import matplotlib.pyplot as plt
        import numpy as np

        if ax is None:
            _, ax = plt.subplots(figsize=(max(5, 1.6 * len(self.settings()) + 2) + 2.4, 3.6))
        settings, ks = self.settings(), self._objects()
        width = 0.8 / max(1, len(ks))
        for j, k in enumerate(ks):
            xs = np.arange(len(settings)) + (j - (len(ks) - 1) / 2) * width
            ours = [_med(self._group(s, k, "sam2nb"), "fps") for s in settings]
            off = [_med(self._group(s, k, "official"), "fps") for s in settings]
            ax.bar(xs, ours, width * 0.9, label=f"sam2nb, {k} object{'s' * (k > 1)}")
            ax.scatter(xs, off, marker="_", s=300, color="black",
                       label="official predictor" if j == 0 else None, zorder=3)  # fmt: skip
        refs = [(i, OFFICIAL_A100_FPS.get(s.split()[0])) for i, s in enumerate(settings)]
        refs = [(i, v) for i, v in refs if v]
        if refs:
            ax.scatter(*zip(*refs, strict=True), marker="D", color="tab:red", zorder=4,
                       label="Meta, A100 compiled, 1 object")  # fmt: skip
        ax.set_xticks(range(len(settings)), settings, rotation=15)
        ax.set_ylabel("frames per second (tracking)")
        title = self.env.get("gpu") or f"CPU: {self.env.get('cpu', '')}"[:60]
        kinds = {r.weights for r in self.rows}
        if "untrained test model" in kinds:
            title += "\nUNTRAINED test model (small): not a trained model's speeds"
        elif "random (timing only)" in kinds:
            title += "\nrandom weights: valid timings, no checkpoint"
        ax.set_title(title, fontsize=9)
        # beside the bars, never over them
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
        ax.figure.tight_layout()
        return ax

    def plot_memory(self, setting: str | None = None, objects: int | None = None) -> Any:
        """Host RSS (and VRAM on a GPU) against the frame count, both sides.

        Args:
            setting: which setting (default the first).
            objects: which object count (default the largest).

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        if not self.curves:
            raise BenchReportError("This report has no memory curves (an empty or stopped run?).")
        setting = setting or self.settings()[0]
        objects = objects or max(self._objects())
        picked = [
            c for c in self.curves
            if _setting_of(c) == setting and c.objects == objects and c.points
        ]  # fmt: skip
        if not picked:
            raise BenchReportError(f"No memory curve for {setting!r} with {objects} objects.")
        gpu = any(p[2] is not None for c in picked for p in c.points)
        fig, axes = plt.subplots(1, 2 if gpu else 1, figsize=(9 if gpu else 5, 3.4), squeeze=False)
        for c in picked:
            style = "--" if c.side == "official" else "-"
            fi = [p[0] for p in c.points]
            tag = f"{c.side} #{c.repeat + 1}" if len(picked) > 2 else c.side
            axes[0][0].plot(fi, [p[1] for p in c.points], style, label=tag)
            if gpu:
                axes[0][1].plot(fi, [p[2] for p in c.points], style, label=c.side)
        axes[0][0].set_ylabel("host RSS added since opening, MB")
        if gpu:
            axes[0][1].set_ylabel("VRAM allocated, MB")
        for ax in axes[0]:
            ax.set_xlabel("frame")
            ax.legend(fontsize=8)
        title = f"memory while tracking: {setting}, {objects} object(s)"
        if "untrained test model" in {r.weights for r in self.rows}:
            title += "\nUNTRAINED test model (small): not a trained model's memory"
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        return fig


def _setting_of(c: BenchCurve) -> str:
    short = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(c.dtype, c.dtype)
    return f"{c.variant} {short}" + (" compiled" if c.compiled else "")


def default_csv(gpu: str | None) -> Path:
    """``bench-<gpu or cpu>.csv`` (in the current folder): the GPU named in the file name.

    Example:
        >>> default_csv("NVIDIA H100 80GB HBM3").name
        'bench-nvidia-h100-80gb-hbm3.csv'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", (gpu or "cpu").lower()).strip("-")
    return Path(f"bench-{slug}.csv")


def cost_per_video_minute(fps: float, price_per_hour: float, video_fps: float = 30.0) -> float:
    """What tracking one minute of video costs on a machine rented by the hour.

    Example:
        >>> round(cost_per_video_minute(fps=60, price_per_hour=3.6, video_fps=30), 4)
        0.03
    """
    if not fps or math.isnan(fps) or fps <= 0:
        return float("nan")
    seconds = 60.0 * video_fps / fps
    return price_per_hour * seconds / 3600.0

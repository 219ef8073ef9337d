"""The benchmark: sam2nb against the official sam2 predictor, side by side in one process.

For every model variant, precision, compile setting and object count, both sides open the same
video, click once per object on frame 0, refine object 1 with more clicks, and track forward.
Measured per side (the two sides take turns; their order alternates between repeats):

- **time to first mask**: from opening the video to the first click's mask on the host (the
  official predictor loads and normalises the whole video first; a session streams it);
- **click → mask**: a refinement click on an encoded frame until its mask is on the host;
- **per-frame propagation time**: each frame's masks on the host (sam2nb also RLE-encodes and
  stores them); the first frames are warm-up and are dropped until three in a row agree within
  20 %, then at least 10 frames are timed; median and p90;
- **peak VRAM** (CUDA) and **peak host RSS** (sampled every 5 ms), and both against the frame
  count while tracking.

The **image encoder** latency (``SAM2ImagePredictor.set_image`` on one frame, the call both sam2nb's
image segmenter and the official image notebook make) is measured once per model setting, with the
same warm-up rule and at least 10 timed passes. The device is synchronised before every timestamp.

Speed does not depend on the weights' values, so a full-size variant with random weights times
exactly like the real one: without a cached checkpoint the benchmark uses random weights and says
so in every row (``weights``). :mod:`sam2nb.bench_report` turns the rows into tables, ratios, plots
and a GPU card with the cost per video-minute.

Example:
    >>> report = s2.benchmark(["tiny"], objects=[1, 3, 10])  # doctest: +SKIP
    >>> print(report.table()); print(report.card(price_per_hour=2.49))  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base.errors import Sam2nbError
from ..model import checkpoints as checkpoints
from ..model import engine as modelmod
from ..model import hf_hub, hf_models, names
from ..model.adapter import no_progress_bars, official_init_state, video_size
from .report import BenchCurve, BenchReport, BenchRow, append_csv
from .timing import (
    MAX_WARMUP,
    MIN_TIMED,
    MemoryMonitor,
    environment,
    median_p90,
    sync,
    timed_passes,
    warmup_end,
)

WEIGHTS = ("auto", "checkpoint", "random")
SIDES = ("official", "sam2nb")
#: A transformers model's official side is transformers' own loop (rows say so).
LIBRARY_NOTE = "official = transformers' own loop (init_video_session, propagate_in_video_iterator)"


class BenchError(Sam2nbError):
    """A benchmark setting that cannot be run (names the setting and the fix)."""


def click_points(k: int, width: int, height: int) -> list[tuple[float, float]]:
    """One click per object (the same on both sides).

    The first is Meta's ``benchmark.py`` click, (210, 350) on the bedroom clip, when it lies in
    the frame; the others are spread over it.

    Example:
        >>> [(round(x, 3), round(y, 3)) for x, y in click_points(2, 300, 100)]
        [(100.0, 35.0), (200.0, 65.0)]
        >>> click_points(2, 960, 540)[0]
        (210.0, 350.0)
    """
    pts = [(width * (i + 1) / (k + 1), height * (0.35 + 0.3 * (i % 2))) for i in range(k)]
    if width > 210 and height > 350:
        pts[0] = (210.0, 350.0)
    return pts


def refine_points(n: int, first: tuple[float, float], width: int, height: int) -> list:
    """``n`` refinement clicks around the first object's click, inside the frame."""
    x, y = first
    r = 0.04 * min(width, height)
    offs = [(r, 0), (0, r), (-r, 0), (0, -r)]
    return [
        (min(max(x + offs[i % 4][0], 0), width - 1), min(max(y + offs[i % 4][1], 0), height - 1))
        for i in range(n)
    ]


# -- one side ---------------------------------------------------------------------------------
@dataclass
class _SideResult:
    first_mask_s: float
    click: tuple[int, list[float]]
    frames: tuple[int, list[float]]
    memory: tuple[float, float, float | None]
    curve: list[tuple[int, float, float | None]] = field(default_factory=list)
    note: str = ""


def _propagate_timed(
    steps: Iterable[int], device: Any, mem: MemoryMonitor, wanted: int, stop: Callable[[], bool]
) -> tuple[int, list[float], list]:
    """Time each yielded frame; stop ``wanted`` frames after the warm-up ends."""
    times, curve, warm = [], [], None
    sync(device)
    last = time.perf_counter()
    for fi in steps:
        sync(device)
        now = time.perf_counter()
        times.append(now - last)
        curve.append((fi, *mem.sample()))
        last = time.perf_counter()
        if warm is None and len(times) >= 4:
            warm = warmup_end(times)
            if warm is None and len(times) >= MAX_WARMUP:
                warm = MAX_WARMUP
        if (warm is not None and len(times) - warm >= wanted) or stop():
            break
    if warm is None:
        warm = min(1, len(times))
    return warm, times[warm:], curve


def _official(engine: Any, video: str, k: int, frames: int, clicks: int, stop: Any) -> _SideResult:
    if isinstance(engine, hf_models.HFEngine):
        return _library_loop(engine, video, k, frames, clicks, stop)
    import torch

    p, dev = engine.video_predictor, engine.device
    mem = MemoryMonitor(dev)
    with torch.inference_mode(), engine.autocast(), no_progress_bars():
        sync(dev)
        t0 = time.perf_counter()
        state = official_init_state(p, video)
        w, h = video_size(state)
        pts = click_points(k, w, h)
        _, _, m = p.add_new_points_or_box(state, 0, 1, points=[pts[0]], labels=[1])
        (m > 0).cpu()
        first = time.perf_counter() - t0
        for i, pt in enumerate(pts[1:], start=2):
            p.add_new_points_or_box(state, 0, i, points=[pt], labels=[1])
        extra = iter(refine_points(MAX_WARMUP + clicks, pts[0], w, h))

        def click() -> None:
            _, _, m = p.add_new_points_or_box(
                state, 0, 1, points=[next(extra)], labels=[1], clear_old_points=False
            )
            (m > 0).cpu()

        note = ""
        try:
            clk = timed_passes(click, lambda: sync(dev), clicks)
        except Exception as exc:  # the compiled model recompiles per click count (sam2#517)
            if "recompile" not in f"{type(exc).__name__} {exc}".lower():
                raise
            clk = (0, [])
            note = "official clicks failed: torch.compile recompile limit (sam2#517)"

        def steps() -> Iterable[int]:
            for fi, _, m in p.propagate_in_video(state, 0):
                (m > 0).cpu()
                yield fi

        warm, times, curve = _propagate_timed(steps(), dev, mem, frames, stop)
        state.clear()  # free the preloaded frames before measuring the next side
    memory = mem.close()
    return _SideResult(first, clk, (warm, times), memory, curve, note)


def _library_loop(
    engine: Any, video: str, k: int, frames: int, clicks: int, stop: Any
) -> _SideResult:
    """The official side of a transformers model: transformers' own documented loop."""
    from ..model.hf_reference import PlainLoop

    dev = engine.device
    mem = MemoryMonitor(dev)
    sync(dev)
    t0 = time.perf_counter()
    loop = PlainLoop(engine, video)
    try:
        pts = click_points(k, loop.width, loop.height)
        loop.click(0, 1, [pts[0]], [1])
        first = time.perf_counter() - t0
        for i, pt in enumerate(pts[1:], start=2):
            loop.click(0, i, [pt], [1])
        extra = iter(refine_points(MAX_WARMUP + clicks, pts[0], loop.width, loop.height))
        clk = timed_passes(
            lambda: loop.click(0, 1, [next(extra)], [1], clear_old=False), lambda: sync(dev),
            clicks,
        )  # fmt: skip
        warm, times, curve = _propagate_timed(loop.propagate(0), dev, mem, frames, stop)
    finally:
        loop.close()
    memory = mem.close()
    return _SideResult(first, clk, (warm, times), memory, curve, LIBRARY_NOTE)


def _sam2nb(engine: Any, video: str, k: int, frames: int, clicks: int, stop: Any) -> _SideResult:
    from ..tracking.session import Session

    dev = engine.device
    mem = MemoryMonitor(dev)
    sync(dev)
    t0 = time.perf_counter()
    sess = Session(video, engine, memory="auto")
    try:
        w, h = sess.video.size
        pts = click_points(k, w, h)
        for i, pt in enumerate(pts, start=1):
            sess.add_object(i)
            sess.add_points(0, i, [pt], [1])
            if i == 1:
                first = time.perf_counter() - t0
        extra = iter(refine_points(MAX_WARMUP + clicks, pts[0], w, h))
        clk = timed_passes(
            lambda: sess.add_points(0, 1, [next(extra)], [1]), lambda: sync(dev), clicks
        )
        gen = sess.propagate(0, progress=False)
        try:
            warm, times, curve = _propagate_timed(
                (fr.frame_idx for fr in gen), dev, mem, frames, stop
            )
        finally:
            gen.close()
    finally:
        sess.close()
    memory = mem.close()
    return _SideResult(first, clk, (warm, times), memory, curve)


_RUNNERS = {"official": _official, "sam2nb": _sam2nb}


def _free(device: Any) -> None:
    """Free what the last side left, and give freed heap back to the OS (so +RSS means it)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


# -- the benchmark ------------------------------------------------------------------------------
def _check_variant(variant: str, compiles: list) -> None:
    """A typo, or a setting the model cannot run, fails before anything runs."""
    names.canonical(variant)
    if names.video_only(variant) and any(compiles):
        raise BenchError(
            f"compile=True is sam2's vos_optimized model: {variant} runs through transformers. "
            "Benchmark it with compile off (--compile off)."
        )


def _weights_for(variant: str, weights: str, cache: Any) -> bool:
    """True: random weights. Raises for a real checkpoint that is asked for but missing."""
    if hf_hub.is_hf_name(variant):
        hf = hf_hub.get_hf_spec(variant)
        if hf.untrained:
            return False
        if weights == "random":
            return True
        return weights == "auto" and hf_hub.status(hf, cache)[1] != "cached"
    spec = checkpoints.get_spec(variant)
    if spec.untrained:
        return False
    if weights == "random":
        return True
    cached = checkpoints.checkpoint_path(spec, cache).is_file()
    if weights == "auto":
        return not cached
    return False  # "checkpoint": s2.load downloads it or says where to put it


def benchmark(
    variants: Sequence[str] | str | None = None,
    *,
    dtypes: Sequence[str | None] | str | None = None,
    compile: Sequence[bool] | bool = (False,),
    objects: Sequence[int] | int = (1, 3, 10),
    video: str | Path | None = None,
    frames: int = 30,
    clicks: int = MIN_TIMED,
    repeats: int = 1,
    device: str | None = None,
    weights: str = "auto",
    csv: str | Path | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    stop: Any = None,
    on_run: Callable[[int, int, str], None] | None = None,
) -> BenchReport:
    """Benchmark sam2nb against the official predictor for every setting given.

    Args:
        variants: model variants (default: all four SAM 2.1 sizes on a GPU, ``"test"`` on a CPU).
        dtypes: precisions, ``"bf16"``, ``"fp16"``, ``"fp32"`` (None: the device's default).
        compile: compile settings to try (``True``: sam2's ``vos_optimized`` torch.compile model;
            its first frames take minutes and are counted as warm-up).
        objects: object counts (one click each on frame 0).
        video: a video file or JPEG folder sam2's own loader reads (default: SAM 2's
            bedroom.mp4, offline a clip sam2nb draws). The official side loads it whole: keep
            it short.
        frames: frames to time after the warm-up (at least 10).
        clicks: refinement clicks to time after the warm-up (at least 10).
        repeats: runs per setting; the order of the two sides alternates.
        device: ``"cuda"``, ``"mps"`` or ``"cpu"`` (default cuda > mps > cpu).
        weights: ``"auto"`` (the cached checkpoint, else random weights), ``"checkpoint"``
            (download if needed) or ``"random"``. Random weights time exactly like trained ones;
            rows say which was used.
        csv: append every row to this CSV as soon as it is measured (and the memory curves to
            ``<name>_memory.csv`` beside it).
        cache: the checkpoint cache folder.
        progress: show a ``tqdm.auto`` progress bar.
        stop: a ``threading.Event`` or callable; set, the benchmark stops after the current
            frame and returns what it measured (so does Ctrl-C / Jupyter's interrupt).
        on_run: called as ``on_run(done, total, what)`` before each side's run and at the end
            (``what`` names the setting), e.g. to move a progress bar in a widget.

    Returns:
        A :class:`~sam2nb.BenchReport`: rows, memory curves, table, ratios, plots, GPU card.

    Raises:
        BenchError: a setting that cannot run here (named, with the fix).

    Example:
        >>> r = benchmark("test", objects=[1], frames=10, progress=False)  # doctest: +SKIP
        >>> r.rows[0].side, r.rows[1].side  # doctest: +SKIP
        ('official', 'sam2nb')
    """
    import torch
    from tqdm.auto import tqdm

    from ..media.samples import sample_video
    from ..media.video import open_video
    from ..model import device as devmod

    dev, _ = devmod.resolve(device)
    if variants is None:
        variants = ["tiny", "small", "base_plus", "large"] if dev.type == "cuda" else ["test"]
    variants = [variants] if isinstance(variants, str) else list(variants)
    dtypes = [dtypes] if dtypes is None or isinstance(dtypes, str) else list(dtypes)
    compiles = [compile] if isinstance(compile, bool) else list(compile)
    objects = [objects] if isinstance(objects, int) else list(objects)
    for v in variants:
        _check_variant(v, compiles)
    if weights not in WEIGHTS:
        raise BenchError(f"weights must be one of {WEIGHTS}, got {weights!r}.")
    settings = []
    for d in dtypes:
        try:
            settings.append(devmod.resolve(device, d)[1])
        except ValueError as exc:
            raise BenchError(f"dtype {d!r}: {exc}") from None
    if any(not isinstance(k, int) or k < 1 for k in objects):
        raise BenchError(f"objects must be positive integers, got {objects}.")
    if frames < MIN_TIMED or clicks < MIN_TIMED:
        raise BenchError(
            f"frames and clicks must be at least {MIN_TIMED} (timed passes after the warm-up); "
            f"got frames={frames}, clicks={clicks}."
        )
    path = str(_official_readable(sample_video(video)))
    src = open_video(path)
    if len(src) < frames + 5:
        raise BenchError(
            f"{path} has {len(src)} frames; timing {frames} frames after a warm-up needs at "
            f"least {frames + 5} (more with compile=True): give a longer video or fewer frames."
        )
    halt = (lambda: False) if stop is None else (stop.is_set if hasattr(stop, "is_set") else stop)
    env = environment(dev)
    report = BenchReport(env=env, video=Path(path).name, video_size=src.size)
    total = len(variants) * len(settings) * len(compiles) * len(objects) * repeats * 2
    bar = tqdm(total=total, desc="benchmark", unit="run", disable=not progress)
    try:
        for variant in variants:
            for dt in settings:
                for comp in compiles:
                    random = _weights_for(variant, weights, cache)
                    if on_run is not None:
                        on_run(bar.n, total, f"loading {variant}; encoder timing; warm-up")
                    engine = modelmod.load(
                        variant, device=str(dev), dtype=dt, compile=comp, cache=cache,
                        random_weights=random,
                    )  # fmt: skip
                    wlabel = (
                        "untrained test model" if names.untrained(variant)
                        else "random (timing only)" if engine.untrained else "checkpoint"
                    )  # fmt: skip
                    enc = _encoder(engine, src[0])
                    _warm_up(engine, path, halt)
                    for k in objects:
                        for rep in range(repeats):
                            order = SIDES if rep % 2 == 0 else SIDES[::-1]
                            for side in order:
                                if halt():
                                    raise KeyboardInterrupt
                                what = f"{variant} {dt} {k} obj {side}"
                                bar.set_postfix_str(what)
                                _free(dev)
                                if on_run is not None:
                                    on_run(bar.n, total, what)
                                res = _RUNNERS[side](engine, path, k, frames, clicks, halt)
                                _free(dev)
                                row, curve = _row(
                                    engine, wlabel, k, side, rep, res, enc, report, env
                                )
                                report.rows.append(row)
                                report.curves.append(curve)
                                if csv is not None:
                                    append_csv(csv, [row], [curve])
                                bar.update()
        if on_run is not None:
            on_run(total, total, "done")
    except KeyboardInterrupt:
        report.stopped = True
    finally:
        bar.close()
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return report


def _official_readable(path: Path) -> Path:
    """The official predictor reads a video file (decord) or a folder of JPEGs only."""
    if path.is_dir():
        if not any(p.suffix.lower() in (".jpg", ".jpeg") for p in path.iterdir()):
            raise BenchError(
                f"{path} has no JPEG frames: the official predictor reads only .jpg/.jpeg "
                "folders or video files. Give a video file, or convert the frames to JPEG."
            )
    elif path.suffix.lower() not in (".mp4", ".mov", ".avi", ".mkv", ".webm"):
        raise BenchError(
            f"{path} is not a video file the official predictor can read: give an .mp4 "
            "(or .mov/.avi/.mkv/.webm) file or a folder of JPEG frames."
        )
    return path


def _encoder(engine: Any, frame: Any) -> tuple[int, list[float]]:
    import torch

    if isinstance(engine, hf_models.HFEngine):
        from ..model.hf_reference import encode_image

        return timed_passes(lambda: encode_image(engine, frame), lambda: sync(engine.device))
    pred = engine.image_predictor

    def enc() -> None:
        with torch.inference_mode(), engine.autocast():
            pred.set_image(frame)

    return timed_passes(enc, lambda: sync(engine.device))


def _warm_up(engine: Any, video: str, halt: Callable[[], bool], frames: int = 8) -> None:
    """A short untimed run of both sides (kernels, allocator, compile) before any timing."""
    import torch

    if halt():
        return
    if isinstance(engine, hf_models.HFEngine):
        from ..model.hf_reference import PlainLoop

        loop = PlainLoop(engine, video, limit=frames + 1)
        loop.click(0, 1, [(10.0, 10.0)], [1])
        for _ in loop.propagate(0, frames):
            pass
        loop.close()
    else:
        p = engine.video_predictor
        with torch.inference_mode(), engine.autocast(), no_progress_bars():
            state = official_init_state(p, video)
            p.add_new_points_or_box(state, 0, 1, points=[(10.0, 10.0)], labels=[1])
            for _ in p.propagate_in_video(state, 0, frames):
                pass
            state.clear()
    _free(engine.device)
    from ..tracking.session import Session

    sess = Session(video, engine)
    try:
        sess.add_object(1)
        sess.add_points(0, 1, [(10.0, 10.0)], [1])
        for _ in sess.propagate(0, max_frames=frames, progress=False):
            pass
    finally:
        sess.close()
    _free(engine.device)


def _row(
    engine: Any, wlabel: str, k: int, side: str, rep: int, res: _SideResult, enc: tuple,
    report: BenchReport, env: dict,
) -> tuple[BenchRow, BenchCurve]:  # fmt: skip
    cm, cp = median_p90(res.click[1])
    fm, fp = median_p90(res.frames[1])
    em, ep = median_p90(enc[1])
    rss, added, vram = res.memory
    row = BenchRow(
        when=time.strftime("%Y-%m-%dT%H:%M:%S"),
        variant=engine.name,
        weights=wlabel,
        dtype=engine.dtype,
        compiled=engine.compiled,
        objects=k,
        side=side,
        repeat=rep,
        first_mask_s=res.first_mask_s,
        encoder_ms=em * 1e3,
        encoder_p90_ms=ep * 1e3,
        click_ms=cm * 1e3,
        click_p90_ms=cp * 1e3,
        frame_ms=fm * 1e3,
        frame_p90_ms=fp * 1e3,
        fps=1.0 / fm if fm > 0 else float("nan"),
        warmup_frames=res.frames[0],
        timed_frames=len(res.frames[1]),
        vram_peak_mb=vram,
        rss_peak_mb=rss,
        rss_added_mb=added,
        video=report.video,
        video_size=f"{report.video_size[0]}x{report.video_size[1]}",
        image_size=engine.image_size,
        note=res.note,
        **env,
    )
    curve = BenchCurve(
        variant=engine.name, dtype=engine.dtype, compiled=engine.compiled, objects=k,
        side=side, repeat=rep, points=res.curve,
    )  # fmt: skip
    return row, curve

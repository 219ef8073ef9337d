"""Measuring: the warm-up rule, device-synchronised timing, peak memory, the machine's record.

Used by :mod:`sam2nb.bench`; pure helpers, so the rules are tested on plain numbers.

Example:
    >>> warmup_end([9.0, 1.0, 1.02, 0.99])
    1
"""

from __future__ import annotations

import math
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MIN_TIMED = 10  # timed passes / frames after the warm-up
MAX_WARMUP = 30  # warm-up never takes more than this many passes / frames
STABLE_TOL = 0.2  # warm-up ends when 3 passes in a row are within 20 % of their median


def sync(device: Any) -> None:
    """Wait for the device to finish its queued work (CUDA, MPS; nothing on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":  # pragma: no cover - no MPS here
        torch.mps.synchronize()


def warmup_end(times: Sequence[float], tol: float = STABLE_TOL, run: int = 3) -> int | None:
    """How many leading passes are warm-up: the index after which ``run`` passes agree.

    Returns the index of the first pass after the warm-up (at least 1: the first pass always
    pays one-off costs), or None while no ``run`` passes in a row are within ``tol`` of their
    median yet.

    Example:
        >>> warmup_end([5.0, 2.0, 1.0, 1.05, 0.98, 1.0])
        2
        >>> warmup_end([5.0, 2.0, 1.0]) is None
        True
    """
    for i in range(1, len(times) - run + 1):
        win = times[i : i + run]
        med = statistics.median(win)
        if med > 0 and (max(win) - min(win)) <= tol * med:
            return i
    return None


def median_p90(times: Sequence[float]) -> tuple[float, float]:
    """Median and 90th percentile (nearest rank) of ``times``.

    Example:
        >>> median_p90([1.0, 2.0, 3.0, 4.0, 10.0])
        (3.0, 10.0)
    """
    s = sorted(times)
    if not s:
        return float("nan"), float("nan")
    return statistics.median(s), s[max(0, math.ceil(0.9 * len(s)) - 1)]


def timed_passes(
    fn: Callable[[], Any], sync: Callable[[], None], min_timed: int = MIN_TIMED
) -> tuple[int, list[float]]:
    """Call ``fn`` until its time is stable, then ``min_timed`` more times; seconds per pass.

    Returns ``(warm-up passes, timed seconds)``. The device is synchronised before every
    timestamp.
    """
    warm: list[float] = []
    while len(warm) < MAX_WARMUP:
        warm.append(_once(fn, sync))
        if warmup_end(warm) is not None:
            break
    return len(warm), [_once(fn, sync) for _ in range(min_timed)]


def _once(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


class MemoryMonitor:
    """Peak host RSS (sampled every 5 ms in a thread) and CUDA memory."""

    def __init__(self, device: Any) -> None:
        import psutil
        import torch

        self.cuda = device.type == "cuda"
        self.proc = psutil.Process()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="sam2nb-bench-rss")
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def sample(self) -> tuple[float, float | None]:
        """(RSS added since the start MB, allocated VRAM MB or None) now."""
        import torch

        vram = torch.cuda.memory_allocated() / 2**20 if self.cuda else None
        return (self.proc.memory_info().rss - self.base) / 2**20, vram

    def close(self) -> tuple[float, float, float | None]:
        """(peak RSS MB, peak RSS added MB, peak VRAM MB or None)."""
        import torch

        self._stop.set()
        self._t.join()
        peak = max(self.peak, self.proc.memory_info().rss)
        vram = torch.cuda.max_memory_allocated() / 2**20 if self.cuda else None
        return peak / 2**20, (peak - self.base) / 2**20, vram


def environment(device: Any = None) -> dict[str, str]:
    """What a benchmark row records about the machine: GPU, driver, torch, CUDA, CPU.

    Example:
        >>> sorted(environment())[:3]
        ['cpu', 'cuda', 'device']
    """
    import torch

    from .._version import __version__
    from ..model.info import nvidia_smi

    gpu, driver = "", ""
    dev = device if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        gpu = torch.cuda.get_device_name(dev)
        driver = nvidia_smi()[1] or ""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    return {
        "device": dev.type,
        "gpu": gpu,
        "driver": driver,
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "cpu": cpu,
        "sam2nb": __version__,
    }

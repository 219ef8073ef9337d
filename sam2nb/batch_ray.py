"""Run a batch on Ray: one actor per GPU (or CPU worker) holding the cached model.

On one machine :func:`run_batch` starts a local Ray instance for the run; with ``address`` it
joins an existing cluster (``ray start --head`` on one machine, ``ray start --address ...`` on
the others). Ray places one :class:`BatchWorker` actor per GPU (``num_gpus=1``) or per CPU
share; each loads the model once and keeps it for every item it is handed. A worker process
that dies (a crash, out of memory) fails only the item it held; Ray restarts it for the rest.

Items already done under ``OUT`` (same spec, same prompts) are skipped, so a killed run picks
up where it stopped. At the end a :class:`BatchReport` (items done and failed, frames/s,
throughput per worker) is printed and saved as ``OUT/summary.csv`` and ``OUT/workers.csv``.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .batch import BatchError, BatchItem, is_done, read_manifest, read_status, run_item

SUMMARY = "summary.csv"
WORKERS = "workers.csv"


class BatchWorker:
    """A Ray actor: the model stays loaded between items (one load per worker and variant).

    Example:
        >>> w = ray.remote(BatchWorker).remote("cpu", 1)  # doctest: +SKIP
        >>> ray.get(w.run.remote(item.to_json(), "out"))["state"]  # doctest: +SKIP
        'done'
    """

    def __init__(self, device: str | None = None, threads: int | None = None):
        import torch

        from .batch import worker_name

        if threads:
            torch.set_num_threads(int(threads))
        self.device = device
        self.loads = 0
        self.engine = None
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dev.startswith("cuda") and torch.cuda.is_available():
            dev = f"{dev} ({torch.cuda.get_device_name(0)})"
        self.name = worker_name(dev)

    def run(self, item: dict, out: str) -> dict:
        """Track and export one item (see :func:`sam2nb.run_item`); returns its status."""
        from . import model as modelmod

        it = BatchItem(**item)
        if self.engine is None or self.engine.name != it.model or self.engine._model is None:
            try:
                self.engine = modelmod.load(it.model, device=self.device, progress=False)
                self.loads += 1
            except Exception:  # run_item reports it as the item's error
                self.engine = None
        status = run_item(it, out, engine=self.engine, device=self.device, worker=self.name)
        status["model_loads"] = self.loads
        return status


@dataclass
class BatchReport:
    """What a batch run did: one status per item and the totals.

    Attributes:
        out: the batch folder.
        items: statuses (``done``, ``failed``, ``skipped`` — done by an earlier run —, or
            ``stopped``/``not run`` when the run was stopped).
        seconds: wall time of this run (Ray start included).
        workers: number of workers.
        device: the workers' device.
        stopped: True when it was stopped before every item ran.
    """

    out: Path
    items: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    device: str = ""
    stopped: bool = False

    def count(self, state: str) -> int:
        """How many items ended in ``state``."""
        return sum(1 for s in self.items if s["state"] == state)

    @property
    def done(self) -> int:
        """Items finished in this run."""
        return self.count("done")

    @property
    def failed(self) -> int:
        """Items that failed in this run (see :meth:`table`'s ``error`` column)."""
        return self.count("failed")

    @property
    def frames(self) -> int:
        """Frames tracked in this run."""
        return sum(s.get("frames", 0) for s in self.items if s["state"] == "done")

    @property
    def fps(self) -> float:
        """Frames tracked per wall-clock second in this run (all workers together)."""
        return self.frames / self.seconds if self.seconds else 0.0

    def table(self) -> Any:
        """One row per item (pandas).

        Columns: id, state, frames, objects, seconds, fps, worker, model, untrained, error.
        """
        import pandas as pd

        cols = ["id", "state", "frames", "objects", "seconds", "fps", "worker", "model",
                "untrained", "error"]  # fmt: skip
        rows = []
        for s in self.items:
            secs = s.get("seconds") or 0.0
            fps = s.get("frames", 0) / secs if secs and s["state"] in ("done", "skipped") else None
            rows.append({**{c: s.get(c) for c in cols}, "fps": fps})
        return pd.DataFrame(rows, columns=cols)

    def per_worker(self) -> Any:
        """Throughput per worker in this run (pandas).

        Columns: worker, items, failed, frames, busy_s, model_loads, fps (frames per busy second).
        """
        import pandas as pd

        acc: dict[str, dict] = {}
        for s in self.items:
            if s["state"] not in ("done", "failed") or not s.get("worker"):
                continue
            new = {"worker": s["worker"], "items": 0, "failed": 0, "frames": 0, "busy_s": 0.0,
                   "model_loads": 0}  # fmt: skip
            w = acc.setdefault(s["worker"], new)
            w["items"] += 1
            w["failed"] += s["state"] == "failed"
            w["frames"] += s.get("frames", 0)
            w["busy_s"] += s.get("seconds") or 0.0
            w["model_loads"] = max(w["model_loads"], s.get("model_loads", 0))
        df = pd.DataFrame(list(acc.values()), columns=["worker", "items", "failed", "frames",
                                                       "busy_s", "model_loads"])  # fmt: skip
        df["fps"] = (df["frames"] / df["busy_s"]).where(df["busy_s"] > 0)
        return df

    def summary(self) -> str:
        """A few lines for the terminal or a notebook."""
        untrained = any(s.get("untrained") for s in self.items)
        lines = [
            f"{len(self.items)} item(s): {self.done} done, {self.failed} failed, "
            f"{self.count('skipped')} already done"
            + (f", {len(self.items) - self.done - self.failed - self.count('skipped')} not run"
               " (stopped: run again to finish)" if self.stopped else ""),
            f"{self.frames} frames in {self.seconds:.1f} s = {self.fps:.2f} frames/s on "
            f"{self.workers} {self.device} worker(s)",
        ]  # fmt: skip
        if untrained:
            lines.append("model: UNTRAINED test model (random weights): masks are not meaningful")
        for s in self.items:
            if s["state"] == "failed":
                lines.append(f"FAILED {s['id']}: {s.get('error')}")
        return "\n".join(lines)

    def save(self) -> tuple[Path, Path]:
        """Write ``summary.csv`` and ``workers.csv`` into the batch folder."""
        a, b = self.out / SUMMARY, self.out / WORKERS
        self.table().to_csv(a, index=False)
        self.per_worker().to_csv(b, index=False)
        return a, b

    def __repr__(self) -> str:
        return f"BatchReport({self.out})\n{self.summary()}"


def _plan(device: str | None, workers: int | None, gpus_per_worker: float) -> tuple:
    """(device, workers, actor options, torch threads) from what the Ray cluster has."""
    import ray

    res = ray.cluster_resources()
    gpus, cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))
    if device is None:
        device = "cuda" if gpus else "cpu"
    if device.startswith("cuda"):
        if not gpus:
            raise BatchError(
                "device='cuda' but the Ray cluster has no GPU: use device='cpu', or start Ray "
                "where the GPUs are (ray start --head --num-gpus N)."
            )
        n = workers or max(1, int(gpus / gpus_per_worker))
        return "cuda", n, {"num_gpus": gpus_per_worker, "num_cpus": 1}, None
    n = workers or 1
    threads = max(1, cpus // n)
    return device, n, {"num_cpus": threads}, threads  # cpu (or mps: one worker)


def _start_ray(address: str | None, workers: int | None) -> bool:
    """Start a local Ray instance (or join ``address``); True if this call started it."""
    try:
        import ray
    except ImportError:
        raise BatchError(
            "Batch runs need Ray: pip install 'ray>=2.9' (bash scripts/setup.sh installs it)."
        ) from None
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, log_to_driver=False)
        return True
    cpus = os.cpu_count() or 1
    ray.init(
        num_cpus=max(cpus, workers or 1), include_dashboard=False, log_to_driver=False,
        object_store_memory=256 * 1024**2,  # items pass only small statuses
    )  # fmt: skip
    return True


def run_batch(
    manifest: Any,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    address: str | None = None,
    device: str | None = None,
    gpus_per_worker: float = 1.0,
    redo: bool = False,
    progress: bool = True,
    stop: Any = None,
    keep_ray: bool = False,
    **defaults: Any,
) -> BatchReport:
    """Track many videos on Ray workers; skip what an earlier run finished.

    Args:
        manifest: a manifest path, a folder of saved sessions, or a list of items (see
            :func:`sam2nb.read_manifest`).
        out: the batch folder (``OUT/<id>/<format>``, ``OUT/<id>/status.json``,
            ``OUT/summary.csv``).
        workers: how many workers (default: one per GPU; on CPUs one using every core).
        address: an existing Ray cluster (``"auto"`` or ``"ray://head:10001"``); default a
            local instance started (and stopped) for this run.
        device: ``"cuda"`` or ``"cpu"`` (default: cuda when the cluster has GPUs).
        gpus_per_worker: a fraction packs several workers on one large GPU (e.g. ``0.5``).
        redo: run finished items again.
        progress: show an overall ``tqdm`` bar.
        stop: a ``threading.Event`` or callable; items running then are abandoned (a rerun
            redoes them), finished ones stay.
        keep_ray: leave a Ray instance this call started running (faster next call).
        **defaults: fields for items that leave them out (``model="test"``, ``formats=...``).

    Returns:
        The :class:`BatchReport`, also saved as ``OUT/summary.csv`` and ``OUT/workers.csv``.

    Raises:
        BatchError: a malformed manifest (nothing runs), or no Ray.

    Example:
        >>> report = s2.run_batch("clips.json", "out", workers=2, model="test")  # doctest: +SKIP
        >>> print(report.summary())  # doctest: +SKIP
        6 item(s): 5 done, 1 failed, 0 already done
    """
    items = manifest if _all_items(manifest) else read_manifest(manifest, **defaults)
    outp = Path(out).expanduser()
    outp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    todo = [it for it in items if redo or not is_done(it, outp)]
    skipped = {it.id: {**(read_status(it, outp) or {}), "state": "skipped"}
               for it in items if it not in todo}  # fmt: skip
    results: dict[str, dict] = {}
    report = BatchReport(outp)
    if todo:
        import ray

        started = _start_ray(address, workers)
        try:
            dev, n, opts, threads = _plan(device, workers, gpus_per_worker)
            n = min(n, len(todo))
            report.workers, report.device = n, dev
            results, report.stopped = _dispatch(todo, outp, dev, n, opts, threads, progress, stop)
        finally:
            if started and not keep_ray:
                ray.shutdown()
    for it in items:
        if it.id in skipped:
            report.items.append(skipped[it.id])
        else:
            missing = {"id": it.id, "state": "not run", "video": it.video, "model": it.model}
            report.items.append(results.get(it.id) or missing)
    report.seconds = time.perf_counter() - t0
    report.save()
    return report


def _all_items(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(i, BatchItem) for i in x)


def _dispatch(
    todo: list[BatchItem], out: Path, device: str, n: int, opts: dict, threads: int | None,
    progress: bool, stop: Any,
) -> tuple[dict[str, dict], bool]:  # fmt: skip
    """Hand each idle actor the next item until all are done (or stopped)."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError
    from tqdm.auto import tqdm

    stopped = (stop if callable(stop) else stop.is_set) if stop is not None else (lambda: False)
    Actor = ray.remote(max_restarts=3, max_task_retries=0, **opts)(BatchWorker)
    actors = [Actor.remote(device, threads) for _ in range(n)]
    pending = collections.deque(todo)
    running: dict[Any, tuple[BatchItem, Any]] = {}
    idle = list(actors)
    results: dict[str, dict] = {}
    bar = tqdm(total=len(todo), desc=f"batch ({n} {device} worker(s))", unit="video",
               disable=not progress)  # fmt: skip
    was_stopped = False
    try:
        while pending or running:
            while idle and pending:
                a, it = idle.pop(), pending.popleft()
                running[a.run.remote(it.to_json(), str(out))] = (it, a)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.25)
            for ref in ready:
                it, a = running.pop(ref)
                try:
                    st = ray.get(ref)
                except (RayActorError, RayTaskError) as exc:
                    first = (str(exc).strip().splitlines() or [""])[0][:300]
                    why = (
                        f"its worker died ({first}); Ray restarted it for the other items"
                        if isinstance(exc, RayActorError)
                        else f"the worker raised: {first}"
                    )
                    st = {"id": it.id, "state": "failed", "video": it.video, "model": it.model,
                          "error": why}  # fmt: skip
                results[it.id] = st
                idle.append(a)
                bar.update(1)
                done = sum(s["state"] == "done" for s in results.values())
                bar.set_postfix(done=done, failed=len(results) - done)
            if stopped() and (pending or running):
                was_stopped = True
                for it, _ in running.values():
                    results[it.id] = {"id": it.id, "state": "stopped", "video": it.video,
                                      "model": it.model}  # fmt: skip
                break
    finally:
        bar.close()
        for a in actors:
            ray.kill(a)
    return results, was_stopped


class BatchJob:
    """A batch running in a background thread, so a notebook stays usable.

    Example:
        >>> job = s2.start_batch(items, "out", model="test")  # doctest: +SKIP
        >>> job.stop(); report = job.wait()  # doctest: +SKIP
    """

    def __init__(self, manifest: Any, out: str | os.PathLike, **kwargs: Any):
        self._stop = threading.Event()
        self.report: BatchReport | None = None
        self.error: BaseException | None = None
        fields = {k: kwargs.pop(k) for k in list(kwargs) if k in BatchItem.__dataclass_fields__}
        # a bad manifest fails here, and Ray starts here: in the caller's (main) thread
        items = manifest if _all_items(manifest) else read_manifest(manifest, **fields)
        self._keep = kwargs.pop("keep_ray", False)
        self._started = _start_ray(kwargs.get("address"), kwargs.get("workers"))
        self._thread = threading.Thread(
            target=self._run, args=(items, out, kwargs), name="sam2nb-batch", daemon=True
        )
        self._thread.start()

    def _run(self, items: list[BatchItem], out: Any, kwargs: dict) -> None:
        try:
            self.report = run_batch(items, out, stop=self._stop, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to wait()
            self.error = exc
        finally:
            if self._started and not self._keep:
                import ray

                ray.shutdown()

    @property
    def running(self) -> bool:
        """True until the batch has finished or stopped."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Abandon the items running now (a rerun redoes them); finished ones stay."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> BatchReport | None:
        """Wait for the end and return the report (re-raises the batch's error)."""
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.report


def start_batch(manifest: Any, out: str | os.PathLike, **kwargs: Any) -> BatchJob:
    """Like :func:`run_batch`, in a background thread; returns a :class:`BatchJob`.

    Example:
        >>> job = s2.start_batch("clips.json", "out", workers=2)  # doctest: +SKIP
        >>> job.wait().done  # doctest: +SKIP
        6
    """
    return BatchJob(manifest, out, **kwargs)

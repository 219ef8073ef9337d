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
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base.errors import SessionError
from ..base.jobs import Job, as_stop, first_line, fit_bar
from ..base.openmp import usable_cores
from .items import (
    BatchError,
    BatchItem,
    finished,
    foreign,
    read_manifest,
    run_item,
    work_folders,
)

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

        from .items import worker_name

        if threads:
            torch.set_num_threads(int(threads))
        self.device = device
        self.loads = 0
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dev.startswith("cuda") and torch.cuda.is_available():
            dev = f"{dev} ({torch.cuda.get_device_name(0)})"
        self.name = worker_name(dev)

    def run(self, item: dict, out: str) -> dict:
        """Track and export one item (see :func:`sam2nb.run_item`); returns its status."""
        from ..model import engine as modelmod

        it = BatchItem(**item)
        before = modelmod.current()
        status = run_item(it, out, engine=before, device=self.device, worker=self.name)
        if modelmod.current() is not before:  # run_item loaded (another) model: it stays cached
            self.loads += 1
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

        Columns: worker, items, failed, frames, busy_s, model_loads, fps (frames per busy second;
        busy_s and fps rounded to 2 decimals, as they show and are saved in ``workers.csv``).
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
        df["fps"] = (df["frames"] / df["busy_s"]).where(df["busy_s"] > 0).round(2)
        df["busy_s"] = df["busy_s"].round(2)  # rates from the exact times, then both rounded
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
            f"{self.workers} {self.device} worker(s), start-up included (per_worker(): the "
            "rate while busy)",
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

    if workers is not None and workers < 1:
        raise BatchError(f"workers must be 1 or more, got {workers}.")
    if not 0 < gpus_per_worker <= 1:
        raise BatchError(f"gpus_per_worker must be in (0, 1], e.g. 0.5; got {gpus_per_worker}.")
    res = ray.cluster_resources()
    gpus, cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))
    node_cpus = max([int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
                    or [cpus])  # fmt: skip
    if device is None:
        device = "cuda" if gpus else "cpu"
    if device.startswith("cuda"):
        if not gpus:
            raise BatchError(
                "device='cuda' but the Ray cluster has no GPU: use device='cpu', or start Ray "
                "where the GPUs are (ray start --head --num-gpus N)."
            )
        fit = max(1, round(gpus / gpus_per_worker))
        if workers and workers > fit:
            raise BatchError(
                f"{workers} workers need {workers * gpus_per_worker:g} GPUs; the cluster has "
                f"{gpus}. Use --workers {fit} or fewer, or --gpus-per-worker "
                f"{max(gpus / workers, 0.01):.2f} to share GPUs."
            )
        n = workers or fit
        per = max(1, min(node_cpus, cpus // n))  # CPU threads for decoding and exports
        return "cuda", n, {"num_gpus": gpus_per_worker, "num_cpus": per}, per
    n = workers or 1
    if n > cpus:
        raise BatchError(f"{n} CPU workers need {n} CPUs; the Ray cluster has {cpus}.")
    threads = max(1, min(node_cpus, cpus // n))
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
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        else:  # "local": a new instance even when a `ray start` cluster runs here
            ray.init(
                address="local", num_cpus=max(usable_cores(), workers or 1),
                include_dashboard=False, log_to_driver=False,
                object_store_memory=256 * 1024**2,  # small statuses only
                logging_level=logging.ERROR,  # its start-up notes are not the user's business
            )  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise BatchError(
            f"Could not start or reach {where}: {exc}. Check `ray status` (and the address), or "
            "leave address out to start a local instance."
        ) from exc
    return True


def _prefetch(items: list[BatchItem], progress: bool) -> None:
    """Download missing checkpoints once, here, before the workers load them (local runs)."""
    from ..model import checkpoints as checkpoints
    from ..model import hf_hub

    for name in sorted({it.model for it in items}):
        if hf_hub.is_hf_name(name):
            hf = hf_hub.get_hf_spec(name)
            if not hf.untrained and hf_hub.status(hf)[1] != "cached":
                hf_hub.download_hf(hf, progress=progress)
            continue
        spec = checkpoints.get_spec(name)
        if not spec.untrained and not checkpoints.checkpoint_path(spec).is_file():
            checkpoints.download(spec, progress=progress)


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
    items = read_manifest(manifest, **defaults)
    outp = Path(out).expanduser().resolve()
    for it in items:  # before anything runs: never replace a folder that is not ours
        foreign(it.folder(outp))
    outp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    earlier = {} if redo else {it.id: finished(it, outp) for it in items}
    skipped = {i: {**st, "state": "skipped"} for i, st in earlier.items() if st}
    todo = sorted((it for it in items if it.id not in skipped), key=lambda it: it.model)
    for it in items:  # what a killed run left behind
        for d in work_folders(it.folder(outp)):
            shutil.rmtree(d, ignore_errors=True)
    results: dict[str, dict] = {}
    report = BatchReport(outp)
    try:
        if todo:
            if not address:
                _prefetch(todo, progress)
            import ray

            started = _start_ray(address, workers)
            try:
                dev, n, opts, threads = _plan(device, workers, gpus_per_worker)
                n = min(n, len(todo))
                report.workers, report.device = n, dev
                report.stopped = _dispatch(todo, outp, dev, n, opts, threads, progress, stop,
                                           results)  # fmt: skip
            finally:
                if started and not keep_ray:
                    ray.shutdown()
    finally:  # also when interrupted: the summary says what finished
        for it in items:
            if it.id in skipped:
                report.items.append(skipped[it.id])
            else:
                missing = {"id": it.id, "state": "not run", "video": it.video, "model": it.model}
                report.items.append(results.get(it.id) or missing)
        report.seconds = time.perf_counter() - t0
        report.stopped = report.stopped or any(s["state"] == "not run" for s in report.items)
        report.save()
    return report


# The batch bar's counter and times, without the rate (the summary gives frames/s): with the
# short description below, label and counter take ~500 px at most, so in a 1000 px JupyterLab
# window with the file browser open (a 568 px output) the counter stays on the bar's line.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


def progress_bar(total: int, workers: int, device: str, progress: bool = True) -> Any:
    """The batch's overall ``tqdm`` bar: one step per video, failures as its postfix.

    Args:
        total: the videos to run.
        workers: how many workers run them.
        device: the workers' device (``"cuda"``, ``"cpu"``).
        progress: False gives a disabled bar.

    Example:
        >>> bar = progress_bar(3, 2, "cuda")  # doctest: +SKIP
        >>> bar.update(2); bar.set_postfix_str("1 failed")  # doctest: +SKIP
        batch, 2 cuda workers:  67%|██████▋   | 2/3 [01:23<00:41, 1 failed]
    """
    from tqdm.auto import tqdm

    desc = f"batch, {workers} {device} worker{'s' if workers != 1 else ''}"
    bar = tqdm(total=total, desc=desc, unit="video", bar_format=BAR_FORMAT, disable=not progress)
    return fit_bar(bar)


READY_TIMEOUT = 180.0  # seconds for a worker to start (import torch) before it is given up


def _start_workers(actor_cls: Any, n: int, args: tuple) -> list:
    """Start ``n`` actors and keep those that came up; raise if none did."""
    import ray

    actors = [actor_cls.remote(*args) for _ in range(n)]
    refs = {a.__ray_ready__.remote(): a for a in actors}
    ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=READY_TIMEOUT)
    ok, why = [], ""
    for ref in ready:
        try:
            ray.get(ref)
            ok.append(refs[ref])
        except Exception as exc:  # noqa: BLE001 - __init__ failed: reported below
            why = first_line(exc)
            ray.kill(refs[ref])
    for ref in late:
        ray.kill(refs[ref])
    if late:
        print(f"sam2nb batch: {len(late)} of {n} workers did not start in {READY_TIMEOUT:.0f} s "
              "(not enough free GPUs/CPUs in the Ray cluster?); going on with "
              f"{len(ok)}.")  # fmt: skip
    if not ok:
        raise BatchError(
            f"No batch worker could start{': ' + why if why else ''}. Check `ray status` for "
            "free GPUs/CPUs, and that sam2nb is installed where the workers run."
        )
    return ok


def _dispatch(
    todo: list[BatchItem], out: Path, device: str, n: int, opts: dict, threads: int | None,
    progress: bool, stop: Any, results: dict[str, dict],
) -> bool:  # fmt: skip
    """Hand each idle actor the next item until all are done; True if stopped first.

    Ray places the actors (a GPU each, or CPUs) and runs the calls; this loop only gives each
    free actor the next item. A worker whose process dies is replaced (at most ``2 n`` times).
    """
    import ray
    from ray.exceptions import RayError, RayTaskError

    stopped = as_stop(stop, SessionError)
    Actor = ray.remote(max_restarts=0, max_task_retries=0, **opts)(BatchWorker)
    actors = _start_workers(Actor, n, (device, threads))
    spare = 2 * n
    pending = collections.deque(todo)
    running: dict[Any, tuple[BatchItem, Any]] = {}
    idle = list(actors)
    bar = progress_bar(len(todo), len(actors), device, progress)

    def failed(it: BatchItem, why: str) -> dict:
        return {"id": it.id, "state": "failed", "video": it.video, "model": it.model, "error": why}

    def collect(ref: Any) -> None:
        nonlocal spare
        it, a = running.pop(ref)
        try:
            st = ray.get(ref)
            idle.append(a)
        except RayTaskError as exc:  # raised inside the worker, which lives on
            st = failed(it, f"the worker raised: {first_line(exc)}")
            idle.append(a)
        except RayError as exc:  # the worker process died: a crash, out of memory, node lost
            ray.kill(a)
            if spare > 0:
                spare -= 1
                new = Actor.remote(device, threads)
                actors.append(new)
                idle.append(new)
                note = "a new worker took its place"
            else:
                note = "too many workers died: no new one was started"
            st = failed(it, f"its worker died ({first_line(exc)}); {note}")
        results[it.id] = st
        bar.update(1)
        bad = sum(s["state"] != "done" for s in results.values())
        if bad:  # the counter counts every item that ended; this says how many failed
            bar.set_postfix_str(f"{bad} failed")

    try:
        while pending or running:
            if not idle and not running:
                for it in pending:
                    results[it.id] = failed(it, "no worker left to run it (they died)")
                break
            while idle and pending:
                a, it = idle.pop(), pending.popleft()
                running[a.run.remote(it.to_json(), str(out))] = (it, a)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.25)
            for ref in ready:
                collect(ref)
            if stopped() and (pending or running):
                if running:  # keep what finished meanwhile
                    done_now, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
                    for ref in done_now:
                        collect(ref)
                for it, _ in running.values():
                    results[it.id] = {"id": it.id, "state": "stopped", "video": it.video,
                                      "model": it.model}  # fmt: skip
                return True
        return False
    finally:
        bar.close()
        for a in actors:
            ray.kill(a)


class BatchJob:
    """A batch running in a background :class:`~sam2nb.base.jobs.Job`, so a notebook stays usable.

    The manifest is read and Ray is started in the calling thread (a bad manifest fails at
    once); :func:`run_batch` runs in the job's thread, and a Ray instance started here is shut
    down when it ends (unless ``keep_ray=True``).

    Args:
        manifest: as for :func:`run_batch`.
        out: the batch folder.
        **kwargs: :func:`run_batch`'s other arguments and the items' default fields.

    Example:
        >>> job = s2.start_batch(items, "out", model="test")  # doctest: +SKIP
        >>> job.stop(); report = job.wait()  # doctest: +SKIP
    """

    def __init__(self, manifest: Any, out: str | os.PathLike, **kwargs: Any):
        fields = {k: kwargs.pop(k) for k in list(kwargs) if k in BatchItem.__dataclass_fields__}
        # a bad manifest fails here, and Ray starts here: in the caller's (main) thread
        items = read_manifest(manifest, **fields)
        keep = kwargs.pop("keep_ray", False)
        started = _start_ray(kwargs.get("address"), kwargs.get("workers"))

        def shutdown() -> None:
            if started and not keep:
                import ray

                ray.shutdown()

        self._job = Job(
            lambda job: run_batch(items, out, stop=job, **kwargs), name="sam2nb-batch",
            on_done=shutdown,
        ).start()  # fmt: skip

    @property
    def report(self) -> BatchReport | None:
        """The :class:`BatchReport` once the batch finished or stopped (else None)."""
        return self._job.result

    @property
    def error(self) -> BaseException | None:
        """The exception the batch raised (None if it did not)."""
        return self._job.error

    @property
    def running(self) -> bool:
        """True until the batch has finished or stopped."""
        return self._job.running

    def stop(self) -> None:
        """Abandon the items running now (a rerun redoes them); finished ones stay."""
        self._job.stop()

    def wait(self, timeout: float | None = None) -> BatchReport | None:
        """Wait for the end and return the report (re-raises the batch's error)."""
        self._job.wait(timeout)
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

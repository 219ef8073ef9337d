"""Propagation: a session tracks its objects through the video, a frame at a time.

:class:`Propagation` is a mixin of :class:`~sam2nb.Session`: it drives sam2's generator
(``propagate_in_video``) pass by pass, stores each finished frame (masks, scores, the run's
mark and the journal in one commit) and yields it, stops after any frame, and re-tracks only
what changed when asked to converge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..base.errors import SessionBusy, SessionError
from ..base.jobs import as_stop, fit_bar
from ..model import adapter as S
from ..model.device import trim_heap
from .converge import Converge, Settled, Watch, record_ious
from .log import Propagate
from .store import FrameResult

DIRECTIONS = ("forward", "backward", "both")


class Propagation:
    """Tracking through the video (a mixin of :class:`~sam2nb.Session`)."""

    predictor: Any
    state: dict
    results: Any
    objects: dict
    dirty: set[int]
    journal: Any
    settled: list[Settled]
    corrections_as_cond: bool
    _busy: threading.Lock
    _stop: threading.Event
    _pins: set[int]
    _iou: Any
    _trim: bool
    _run: dict | None

    def _pass(
        self,
        start: int,
        reverse: bool,
        max_frames: int | None,
        stop: Callable[[], bool],
        bar: Any,
        doing: str,
        watch: Watch | None = None,
    ) -> Iterator[FrameResult]:
        gen = self.predictor.propagate_in_video(
            self.state, start_frame_idx=start, max_frame_num_to_track=max_frames, reverse=reverse
        )
        try:
            first = True
            while True:
                # the last frame's features are of no use to the next step: free them before
                # it computes its own (sam2 replaces them after, so both would be held at once);
                # the first step may start on the frame just prompted, whose features it reuses
                if not first:
                    self.state["cached_features"].clear()
                first = False
                try:
                    with (
                        self._ctx(),
                        S.sam2_flags(self.predictor, self.corrections_as_cond),
                        self._iou.recording() as ious,
                    ):
                        frame_idx, obj_ids, masks = next(gen)
                except StopIteration:
                    return
                except BaseException as exc:
                    err = self._translate(exc, doing)
                    if err is exc:
                        raise
                    raise err from exc
                old = self.results.frame(frame_idx) if watch is not None else {}
                fr = self._store_step(frame_idx, obj_ids, masks, ious, reverse)
                # the pass's first frame is the prompt it starts from: it agrees by definition
                settled = (
                    watch is not None
                    and frame_idx != start
                    and watch.agree(record_ious(fr.records, old))
                )
                yield fr
                self._prune(frame_idx)
                if self._trim:
                    trim_heap()  # the step's activations are freed: their pages go back
                if bar is not None:
                    bar.update(1)
                if settled:
                    watch.settled_at = frame_idx
                    return
                if stop():
                    return
        finally:
            gen.close()

    def _first_untracked(self, after: int, end: int, reverse: bool) -> int | None:
        """The first frame past ``after`` (up to ``end``) lacking a mask of a tracked object."""
        step = -1 if reverse else 1
        ahead = range(after + step, end + step, step)
        if not ahead:
            return None
        lo, hi = min(ahead), max(ahead)
        missing: set[int] = set()
        for o in self.objects:
            if self._obj_idx(o) is not None:
                have = {f for f in self.results.frames(o) if lo <= f <= hi}
                if len(have) < len(ahead):
                    missing.update(set(ahead) - have)
        if not missing:
            return None
        return max(missing) if reverse else min(missing)

    def _keep(self, last: int, skipped: int, reverse: bool) -> None:
        """The frames after ``last`` a converged pass kept: they agree with the prompts of now."""
        step = -1 if reverse else 1
        kept = range(last + step, last + step * (skipped + 1), step)
        with self._tx():
            for o in self.objects:
                self.results.clear_stale(o, kept)

    def _store_step(
        self, f: int, obj_ids: list, masks: Any, ious: list[float], reverse: bool
    ) -> FrameResult:
        scores, iou_list, conds = [], [], []
        it = iter(ious)
        for o, (cond, score) in zip(
            obj_ids, S.record_step(self.state, f, len(obj_ids), reverse), strict=True
        ):
            conds.append(cond)
            if cond:  # a prompted frame keeps the IoU its prompt gave
                old = self.results.get(f, o)
                iou_list.append(old.iou if old else None)
            else:
                iou_list.append(next(it, None))
            scores.append(score)
        with self._tx():  # the frame's masks, memory and mark: one commit
            recs = self.results.put(
                f, obj_ids, masks[:, 0], scores=scores, ious=iou_list, reverse=reverse
            )
            self._journal_step(f, obj_ids, conds, reverse)
            self._run_step(f, reverse)
        # every tracked object was just written: no need to read the frame back from the store
        records = {r.obj_id: r for r in sorted(recs, key=lambda r: r.obj_id)}
        return FrameResult(f, records, {o: masks[i, 0] for i, o in enumerate(obj_ids)})

    def propagate(
        self,
        start: int | None = None,
        direction: str = "forward",
        *,
        max_frames: int | None = None,
        stop: Any = None,
        progress: bool = True,
        converge: Any = None,
    ) -> Iterator[FrameResult]:
        """Track every object from ``start``, yielding each frame as it finishes.

        Args:
            start: first frame (default: the earliest frame prompted since the last
                propagation, else the earliest prompt).
            direction: ``"forward"``, ``"backward"`` or ``"both"`` (forward, then backward).
            max_frames: how many frames past ``start`` to track (default: to the end).
            stop: a ``threading.Event`` or callable checked after every frame; the results
                stay consistent up to the last finished frame (also :meth:`stop`).
            progress: show a ``tqdm.auto`` progress bar.
            converge: re-track only what changed: ``True`` (or a :class:`sam2nb.Converge`,
                or ``[iou, frames]``) stops each pass once every object's new mask agrees
                with the stored one (IoU >= 0.9) on 5 frames in a row; the frames beyond that
                hold results keep them, and frames never tracked (past a stopped run) are still
                tracked. :attr:`settled` then says where each pass stopped and how many
                frames it skipped. Default: track to the end.

        Example:
            >>> for fr in sess.propagate(3, "both", max_frames=2, progress=False):
            ...     print(fr.frame_idx, sorted(fr.masks()), fr.masks()[1].shape)
            3 [1] (360, 640)
            4 [1] (360, 640)
            5 [1] (360, 640)
            3 [1] (360, 640)
            2 [1] (360, 640)
            1 [1] (360, 640)
        """
        self._check_idle()
        if direction not in DIRECTIONS:
            raise SessionError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
        prompted = [o for o in self.objects if self._cond_frames(o)]
        if not prompted:
            raise SessionError("Nothing to track: add a click, box or mask on some object first.")
        empty = [
            o for o in self.objects if self._obj_idx(o) is not None and not self._cond_frames(o)
        ]
        if empty:
            raise SessionError(
                f"Object(s) {empty} have no prompts left: add a click or remove them "
                "(session.remove_object)."
            )
        if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 0):
            raise SessionError(f"max_frames must be a non-negative integer, got {max_frames!r}.")
        if start is not None:
            start = self._check_frame(start)
        s, passes, going_on = self._plan(start, direction, max_frames)
        conv = Converge.of(converge)
        if going_on and converge is None and self._run:  # a stopped run goes on as it began
            conv = Converge.of(self._run.get("converge"))
        return self._propagate(
            s, passes, going_on, direction, max_frames, as_stop(stop, SessionError), progress,
            conv,
        )  # fmt: skip

    def _propagate(
        self,
        s: int,
        passes: list[tuple[int, bool, int | None]],
        going_on: bool,
        direction: str,
        max_frames: int | None,
        stop: Callable[[], bool],
        progress: bool,
        converge: Converge | None,
    ) -> Iterator[FrameResult]:
        from tqdm.auto import tqdm

        total = sum(self._pass_length(f, r, k) for f, r, k in passes)
        if not self._busy.acquire(blocking=False):
            raise SessionBusy(
                "A propagation is running already: wait for it or call session.stop()."
            )
        self._stop.clear()
        self.settled = []
        done, last, ran = 0, None, []  # ran: [begin, reverse, max_frames, done, last] a pass
        halt = lambda: stop() or self._stop.is_set()  # noqa: E731
        bar = tqdm(
            total=total,
            desc=f"tracking {len(self.objects)} object(s)"
            + (f", going on from frame {passes[0][0]}" if going_on else ""),
            unit="frame",
            disable=not progress,
        )
        fit_bar(bar)
        try:
            self._pins = {s} | {f for f, _, _ in passes}
            with self._tx():
                self._run_begin(s, direction, max_frames, going_on, converge)
            for begin, reverse, k in passes:
                # a converged pass keeps only frames that hold results: past them it goes on
                # from the first frame never tracked (a stretch of its own: one log entry)
                stretch: tuple[int, int | None] | None = (begin, k)
                while stretch is not None:
                    b, kb = stretch
                    stretch = None
                    self._ensure_window(b, reverse)
                    ran.append([b, reverse, kb, 0, None])
                    watch = converge.watch() if converge is not None else None
                    doing = f"tracking from frame {b}"
                    for fr in self._pass(b, reverse, kb, halt, bar, doing, watch):
                        done, last = done + 1, fr.frame_idx
                        ran[-1][3:] = [ran[-1][3] + 1, last]
                        yield fr
                    if watch is None or watch.settled_at is None:
                        continue
                    end = self._pass_end(b, reverse, kb)
                    gap = self._first_untracked(last, end, reverse)
                    skipped = abs(end - last) if gap is None else abs(gap - last) - 1
                    if skipped:
                        self.settled.append(Settled(last, reverse, skipped, watch.worst))
                        bar.total -= skipped
                        self._keep(last, skipped, reverse)
                    if gap is None:
                        with self._tx():
                            self._run_settled(reverse)
                    elif not halt():
                        stretch = (gap, None if kb is None else abs(end - gap))
                if halt():
                    break
            self.dirty.clear()
        finally:
            self._pins = set()
            bar.close()
            try:
                with self._tx():
                    self._run_end()
                    # replayable as it went: one entry a pass (or a stretch of one)
                    per_pass = going_on or len(ran) != len(passes) or bool(self.settled)
                    if not per_pass:
                        self._log(Propagate(s, direction, max_frames, done, last))
                    for begin, reverse, k, n_done, n_last in ran if per_pass else ():
                        way = "backward" if reverse else "forward"
                        self._log(Propagate(begin, way, k, n_done, n_last))
                    # the prompts' state now holds their memory too
                    self._journal_prompts(
                        (o, c) for o in self.objects for c in self._cond_frames(o)
                    )
            finally:
                self._busy.release()
            if self.journal is not None:
                from .persist import write_meta

                write_meta(self, self.journal.folder)

    def run(self, start: int | None = None, direction: str = "forward", **kwargs: Any) -> int:
        """Propagate to the end without looking at each frame; returns frames tracked.

        Example:
            >>> sess.run(direction="both", progress=False)  # sess: 8 frames, a click on frame 0
            8
        """
        return sum(1 for _ in self.propagate(start, direction, **kwargs))

    def stop(self) -> None:
        """Ask a running propagation to stop after the current frame."""
        self._stop.set()

    @property
    def running(self) -> bool:
        """Whether a propagation is in progress."""
        return self._busy.locked()

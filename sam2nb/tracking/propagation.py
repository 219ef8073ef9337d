"""Propagation: a session tracks its objects through the video, a frame at a time.

:class:`Propagator` is a collaborator of :class:`~sam2nb.Session`: it drives the tracker's
steps pass by pass, stores each finished frame (masks, scores, the run's mark and the journal
in one commit) and yields it, stops after any frame, re-tracks only what changed when asked to
converge, and re-tracks released memory a step needs (see :mod:`sam2nb.tracking.memory`).
It uses the session's public methods only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..base.errors import SessionError
from ..base.jobs import as_stop, fit_bar
from ..model.device import trim_heap
from ..model.tracker import Step
from ..prompts.log import Propagate
from ..storage.store import FrameResult
from .converge import Converge, Settled, Watch, record_ious

DIRECTIONS = ("forward", "backward", "both")


class Propagator:
    """Tracking through the video for a session (owned by it).

    Args:
        session: the session it tracks for (it reads and writes through its public methods).
    """

    def __init__(self, session: Any):
        self.session = session

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
        sess = self.session
        steps = sess.tracker.propagate(start, reverse, max_frames)
        try:
            while True:
                try:
                    step = next(steps)
                except StopIteration:
                    return
                except BaseException as exc:
                    err = sess.failure(exc, doing)
                    if err is exc:
                        raise
                    raise err from exc
                frame_idx = step.frame_idx
                old = sess.results.frame(frame_idx) if watch is not None else {}
                fr = self._store_step(step, reverse)
                # the pass's first frame is the prompt it starts from: it agrees by definition
                settled = (
                    watch is not None
                    and frame_idx != start
                    and watch.agree(record_ious(fr.records, old))
                )
                yield fr
                sess.memory_window.release(frame_idx)
                if sess.trims:
                    trim_heap()  # the step's activations are freed: their pages go back
                if bar is not None:
                    bar.update(1)
                if settled:
                    watch.settled_at = frame_idx
                    return
                if stop():
                    return
        finally:
            steps.close()

    def _first_untracked(self, after: int, end: int, reverse: bool) -> int | None:
        """The first frame past ``after`` (up to ``end``) lacking a mask of a tracked object."""
        sess = self.session
        step = -1 if reverse else 1
        ahead = range(after + step, end + step, step)
        if not ahead:
            return None
        lo, hi = min(ahead), max(ahead)
        missing: set[int] = set()
        for o in sess.objects:
            if sess.tracker.has_object(o):
                have = {f for f in sess.results.frames(o) if lo <= f <= hi}
                if len(have) < len(ahead):
                    missing.update(set(ahead) - have)
        if not missing:
            return None
        return max(missing) if reverse else min(missing)

    def _keep(self, last: int, skipped: int, reverse: bool) -> None:
        """The frames after ``last`` a converged pass kept: they agree with the prompts of now."""
        sess = self.session
        step = -1 if reverse else 1
        kept = range(last + step, last + step * (skipped + 1), step)
        with sess.transaction():
            for o in sess.objects:
                sess.results.clear_stale(o, kept)

    def _store_step(self, step: Step, reverse: bool) -> FrameResult:
        sess = self.session
        f, obj_ids = step.frame_idx, step.obj_ids
        ious = []
        for o, cond, iou in zip(obj_ids, step.conds, step.ious, strict=True):
            if cond:  # a prompted frame keeps the IoU its prompt gave
                old = sess.results.get(f, o)
                iou = old.iou if old else None
            ious.append(iou)
        with sess.transaction():  # the frame's masks, memory and mark: one commit
            recs = sess.results.put(
                f, obj_ids, step.logits, scores=step.scores, ious=ious, reverse=reverse
            )
            sess.record.step(f, obj_ids, step.conds, reverse)
            sess.runs.step(f, reverse)
        # every tracked object was just written: no need to read the frame back from the store
        records = {r.obj_id: r for r in sorted(recs, key=lambda r: r.obj_id)}
        return FrameResult(f, records, {o: step.logits[i] for i, o in enumerate(obj_ids)})

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
        """What :meth:`Session.propagate <sam2nb.Session.propagate>` does (its checks first)."""
        sess = self.session
        sess.check_idle()
        if direction not in DIRECTIONS:
            raise SessionError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
        t = sess.tracker
        prompted = [o for o in sess.objects if t.cond_frames(o)]
        if not prompted:
            raise SessionError("Nothing to track: add a click, box or mask on some object first.")
        empty = [o for o in sess.objects if t.has_object(o) and not t.cond_frames(o)]
        if empty:
            raise SessionError(
                f"Object(s) {empty} have no prompts left: add a click or remove them "
                "(session.remove_object)."
            )
        if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 0):
            raise SessionError(f"max_frames must be a non-negative integer, got {max_frames!r}.")
        if start is not None:
            start = sess.check_frame(start)
        s, passes, going_on = sess.runs.plan(start, direction, max_frames, sess.default_start)
        conv = Converge.of(converge)
        run = sess.runs.run
        if going_on and converge is None and run:  # a stopped run goes on as it began
            conv = Converge.of(run.get("converge"))
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

        sess = self.session
        runs = sess.runs
        total = sum(runs.pass_length(f, r, k) for f, r, k in passes)
        with sess.exclusive("another propagation"):
            sess.stopping.clear()
            sess.settled = []
            done, last, ran = 0, None, []  # ran: [begin, reverse, max_frames, done, last] a pass
            halt = lambda: stop() or sess.stopping.is_set()  # noqa: E731
            bar = tqdm(
                total=total,
                desc=f"tracking {len(sess.objects)} object(s)"
                + (f", going on from frame {passes[0][0]}" if going_on else ""),
                unit="frame",
                disable=not progress,
            )
            fit_bar(bar)
            try:
                sess.memory_window.pins = {s} | {f for f, _, _ in passes}
                with sess.transaction():
                    runs.begin(s, direction, max_frames, going_on, converge)
                for begin, reverse, k in passes:
                    # a converged pass keeps only frames that hold results: past them it goes
                    # on from the first frame never tracked (a stretch of its own: one entry)
                    stretch: tuple[int, int | None] | None = (begin, k)
                    while stretch is not None:
                        b, kb = stretch
                        stretch = None
                        self.ensure_window(b, reverse)
                        ran.append([b, reverse, kb, 0, None])
                        watch = converge.watch() if converge is not None else None
                        doing = f"tracking from frame {b}"
                        for fr in self._pass(b, reverse, kb, halt, bar, doing, watch):
                            done, last = done + 1, fr.frame_idx
                            ran[-1][3:] = [ran[-1][3] + 1, last]
                            yield fr
                        if watch is None or watch.settled_at is None:
                            continue
                        end = runs.pass_end(b, reverse, kb)
                        gap = self._first_untracked(last, end, reverse)
                        skipped = abs(end - last) if gap is None else abs(gap - last) - 1
                        if skipped:
                            sess.settled.append(Settled(last, reverse, skipped, watch.worst))
                            bar.total -= skipped
                            self._keep(last, skipped, reverse)
                        if gap is None:
                            with sess.transaction():
                                runs.settled(reverse)
                        elif not halt():
                            stretch = (gap, None if kb is None else abs(end - gap))
                    if halt():
                        break
                sess.dirty.clear()
            finally:
                sess.memory_window.pins = set()
                bar.close()
                with sess.transaction():
                    runs.end()
                    # replayable as it went: one entry a pass (or a stretch of one)
                    per_pass = going_on or len(ran) != len(passes) or bool(sess.settled)
                    if not per_pass:
                        sess.write(Propagate(s, direction, max_frames, done, last))
                    for begin, reverse, k, n_done, n_last in ran if per_pass else ():
                        way = "backward" if reverse else "forward"
                        sess.write(Propagate(begin, way, k, n_done, n_last))
                    # the prompts' state now holds their memory too
                    sess.keep_prompts(
                        (o, c) for o in sess.objects for c in sess.tracker.cond_frames(o)
                    )
                if sess.journal is not None:
                    from .folder import write_meta

                    write_meta(sess, sess.journal.folder)

    # -- released memory, rebuilt ----------------------------------------------------------
    def ensure_memory(self, f: int, o: int, reverse: bool, why: str = "the propagation") -> bool:
        """Rebuild released state that a step at frame ``f`` will read (see the memory window).

        ``why`` names what waits for it, in the progress bar and if it is stopped.

        Returns:
            True if it re-tracked (frame ``f``'s results were written again).
        """
        c = self.session.memory_window.rebuild_from(f, o, reverse)
        if c is None:
            return False
        self._retrack(c, f, bool(reverse), why)
        return True

    def ensure_window(self, s: int, reverse: bool) -> None:
        """Rebuild the released state just before ``s`` (bounded mode / resumed session)."""
        sess = self.session
        prev = s + (1 if reverse else -1)
        if 0 <= prev < len(sess.video):
            for o in sess.objects:
                self.ensure_memory(prev, o, reverse)

    def _retrack(self, c: int, f: int, reverse: bool, why: str) -> None:
        """Track again from prompt ``c`` to ``f``, showing progress; ``stop()`` ends it."""
        from tqdm.auto import tqdm

        sess = self.session
        total = abs(f - c) + 1
        what = f"re-tracking frames {c}..{f} (their memory was released) before {why}"
        sess.stopping.clear()
        bar = tqdm(total=total, desc=what, unit="frame", delay=1.0)
        done = 0
        try:
            for _ in self._pass(c, reverse, abs(f - c), sess.stopping.is_set, bar, what):
                done += 1
                sess.report(what, done, total)
        finally:
            bar.close()
            sess.report("", total, total)
        if done < total:
            raise SessionError(
                f"Stopped {what} after {done} of {total} frames; {why} was not made. "
                "Do it again to re-track and go on."
            )

"""Undo of the last prompt without running the model again: put back what the frame had.

The editor's undo is exact by replaying a frame's earlier prompts on the cleared frame, one
decoder pass per prompt (sam2 refines a mask from the one before), so undoing the fifth click
on a frame runs the model four times. Right after a prompt, though, the session still holds
what the frame had before it: sam2's inputs and outputs of that frame (references, not copies)
and the mask record the prompt replaced. :meth:`FastUndo.undo_last` puts those back, writes
the same log entries the replay would (a clear, then the earlier prompts again) and journals
the frame, so the session is exactly as the replay leaves it, at no model cost. It applies only
while nothing else was logged since (nothing prompted, tracked or removed, and only for an
object that had prompts before); then the session is as it was right after the edit before,
so undoing that one is fast too, as long as it came right before. Otherwise the editor replays.

Redo is the mirror image: a fast undo keeps what the frame had right after the prompt (a
:class:`RedoPoint`), and :meth:`FastUndo.redo_last` puts that back and logs the prompt again,
at no model cost. That is exact whenever sending the prompt again would give sam2 the same
inputs, so the point stays valid across whatever else is logged in between (an object added
or renamed, prompts on other frames or objects, tracking elsewhere) as long as everything a
prompt on that frame reads is still the very same: the frame's inputs and the output it
refines, whether the frame was tracked, on a tracked frame the memory around it
(:func:`~sam2nb.model.adapter.prompt_inputs`), and its mask record. Several fast undos in a
row chain their redo points, so redoing them in turn is fast too. Otherwise the editor sends
the prompt again, and sam2 answers from what the frame holds *now*, which is not always what
it held when the prompt was first made (sam2's own history, not ours):

- tracking ran over the frame since the undo: sam2 now treats the prompt as a correction of a
  tracked frame (it reads the memory of the frames around it), not as a first prompt;
- the frame was tracked after the edit and the undo had to replay (``clear_all_prompts_in_frame``
  keeps the frame's output as a non-conditioning memory and forgets that it was tracked): the
  prompts sent again refine that output, and a correction comes back as a first prompt.

A replayed prompt cannot be given the old output without putting sam2's state out of step with
its prompt log (replaying the log would not give it back), so the editor keeps the new mask and
says so (:attr:`~sam2nb.PromptEditor.note`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..model import adapter as S
from .log import ClearFrame, Entry
from .store import FrameResult, MaskRecord


@dataclass(frozen=True)
class UndoPoint:
    """What a frame had before the prompt ``entry`` (kept by the session for the last prompt)."""

    entry: Entry
    frame_idx: int
    obj_id: int
    snap: dict  # sam2's inputs and outputs of the frame for the object, before the prompt
    before: MaskRecord | None  # the mask record the prompt replaced
    prev: Entry | None = None  # the log entry just before this prompt's
    marked: tuple[int, ...] = ()  # the frames whose masks the prompt made stale


@dataclass(frozen=True)
class RedoPoint:
    """What a frame had right after the prompt ``entry``, kept when a fast undo took it back."""

    entry: Entry
    frame_idx: int
    obj_id: int
    snap: dict  # sam2's inputs and outputs of the frame for the object, after the prompt
    after: MaskRecord | None  # the prompt's mask record
    prev: RedoPoint | None = None  # the redo point of the undo just before this one, if valid
    held: tuple = ()  # what a prompt on the frame read right after the undo (adapter references)
    shown: MaskRecord | None = None  # the frame's mask record right after the undo


class FastUndo:
    """The session's side of a fast undo (a mixin of :class:`~sam2nb.Session`)."""

    state: dict
    log: Any
    results: Any
    dirty: set[int]
    _busy: Any
    _undo_point: UndoPoint | None
    _undo_len: int  # the log's length when the undo point was taken (valid while unchanged)
    window: int
    _redo_point: RedoPoint | None  # what the last fast undo took back (valid: see redo_valid)

    def _obj_idx(self, obj_id: int) -> int | None:  # pragma: no cover - the session's
        raise NotImplementedError

    def _ctx(self) -> Any:  # pragma: no cover - the session's
        raise NotImplementedError

    def _tx(self) -> Any:  # pragma: no cover - the session's
        raise NotImplementedError

    def _cond_frames(self, obj_id: int) -> list[int]:  # pragma: no cover - the session's
        raise NotImplementedError

    def _log(self, e: Entry) -> None:  # pragma: no cover - the session's
        raise NotImplementedError

    def _journal_prompts(self, prompted: Any) -> None:  # pragma: no cover - the session's
        raise NotImplementedError

    def undo_point(self) -> UndoPoint | None:
        """What the last prompt replaced, while it is the log's last entry (else None).

        Example:
            >>> _ = sess.add_points(0, 1, [(200, 100)], [0])
            >>> sess.undo_point().entry is sess.log[-1]
            True
        """
        u = self._undo_point
        if u is None or len(self.log) != self._undo_len:  # something was logged since
            return None
        return u

    def undo_last(
        self, point: UndoPoint, earlier: list[Entry], then: UndoPoint | None = None
    ) -> FrameResult | None:
        """Put a frame back as it was before the prompt ``point.entry``; None if too late.

        Args:
            point: from :meth:`undo_point`, right after the prompt.
            earlier: the frame's prompts for the object before it (what a replay would send).
            then: the undo point of the edit before it: if that prompt came right before this
                one, the session is now as it was right after it, so it can be undone fast too.

        Returns:
            The frame as it is now, or None when the prompt is no longer the last log entry
            (then replay it: :class:`~sam2nb.PromptEditor` does).
        """
        if self.undo_point() is not point:
            return None
        f, o = point.frame_idx, point.obj_id
        idx = self._obj_idx(o)
        if idx is None or not self._busy.acquire(blocking=False):  # busy: the replay says so
            return None
        try:
            self._fast_undo(point, idx, earlier, then)
        finally:
            self._busy.release()
        return self.frame(f)  # type: ignore[attr-defined]  (the session's)

    def _fast_undo(
        self, point: UndoPoint, idx: int, earlier: list[Entry], then: UndoPoint | None
    ) -> None:
        f, o = point.frame_idx, point.obj_id
        after = S.snapshot(self.state, idx, f)
        shown = self.results.frame(f).get(o)
        prev = self.redo_point()
        with self._ctx(), self._tx():
            S.restore(self.state, idx, f, point.snap)
            if point.before is None:
                self.results.delete(obj_id=o, frames=[f])
            else:
                self.results.put_record(point.before)
            self.results.clear_stale(o, point.marked)  # made with the prompts of now again
            self.dirty.add(f)
            self._log(ClearFrame(f, o))
            for e in earlier:  # the entries a replay would write, as new entries
                self._log(copy.copy(e))
            self._journal_prompts([(o, f)])
        held = S.prompt_inputs(self.state, idx, f, self.window)
        self._redo_point = RedoPoint(point.entry, f, o, after, shown, prev, held, point.before)
        chained = then is not None and point.prev is not None and then.entry is point.prev
        self._undo_point = then if chained else None
        self._undo_len = len(self.log)

    def redo_point(self) -> RedoPoint | None:
        """What the last fast undo took back, while a redo of it is still exact (else None).

        Example:
            >>> _ = sess.add_points(0, 1, [(200, 100)], [0])
            >>> ed_point = sess.undo_point()
            >>> _ = sess.undo_last(ed_point, sess.log.history(0, 1, len(sess.log) - 1))
            >>> sess.redo_point().entry is ed_point.entry
            True
        """
        u = self._redo_point
        if u is not None and not self.redo_valid(u):
            self._redo_point = u = None  # (let go of what it holds)
        return u

    def redo_valid(self, point: RedoPoint) -> bool:
        """Whether putting ``point`` back is exactly what sending its prompt again would give.

        So it is while everything a prompt on its frame reads for its object is the very same
        as right after the undo (see :func:`~sam2nb.model.adapter.prompt_inputs`), and the
        frame's mask record too, whatever else was logged in between.

        Example:
            >>> _ = sess.add_points(0, 1, [(200, 100)], [0])
            >>> p = sess.undo_point()
            >>> _ = sess.undo_last(p, sess.log.history(0, 1, len(sess.log) - 1))
            >>> _ = sess.add_object(name="another")  # logged, but nothing frame 0 reads
            >>> sess.redo_valid(sess.redo_point())
            True
        """
        idx = self._obj_idx(point.obj_id)
        if idx is None or point.after is None or not point.held:
            return False
        now = S.prompt_inputs(self.state, idx, point.frame_idx, self.window)
        if not S.same_inputs(now, point.held):
            return False
        return self.results.get(point.frame_idx, point.obj_id) == point.shown

    def redo_last(self, point: RedoPoint) -> FrameResult | None:
        """Put back what a fast undo took back, and log its prompt again; None if not exact.

        Args:
            point: from :meth:`redo_point`, right after the undo.

        Returns:
            The frame as it is now, or None when sending the prompt again would no longer give
            sam2 the same inputs (see :meth:`redo_valid`; then send the prompt again:
            :class:`~sam2nb.PromptEditor` does).
        """
        if point is None or not self._busy.acquire(blocking=False):  # busy: the replay says so
            return None
        try:
            idx = self._obj_idx(point.obj_id)
            if idx is None or not self.redo_valid(point):
                return None
            self._fast_redo(point, idx)
        finally:
            self._busy.release()
        return self.frame(point.frame_idx)  # type: ignore[attr-defined]  (the session's)

    def _fast_redo(self, point: RedoPoint, idx: int) -> None:
        f, o = point.frame_idx, point.obj_id
        before = S.snapshot(self.state, idx, f)
        rec = self.results.frame(f).get(o)
        then = self.undo_point()  # the session is as right after that prompt: chain to it
        entry = copy.copy(point.entry)
        with self._ctx(), self._tx():
            S.restore(self.state, idx, f, point.snap)
            self.results.put_record(point.after)
            self.dirty.add(f)
            self._log(entry)
            self._journal_prompts([(o, f)])
            # what the prompt makes stale now (as the prompt itself marks: other prompts may
            # have been made since the undo)
            marked = tuple(self.results.mark_stale(o, f, keep=self._cond_frames(o)))
        prev = None if then is None else then.entry
        self._undo_point = UndoPoint(entry, f, o, before, rec, prev, marked)
        self._undo_len = len(self.log)
        self._redo_point = point.prev

"""Undo of the last prompt without running the model again: put back what the frame had.

The editor's undo is exact by replaying a frame's earlier prompts on the cleared frame, one
decoder pass per prompt (sam2 refines a mask from the one before), so undoing the fifth click
on a frame runs the model four times. Right after a prompt, though, the session still holds
what the frame had before it: sam2's inputs and outputs of that frame (references, not copies)
and the mask record the prompt replaced. :meth:`~sam2nb.Session.undo_last` puts those back, writes
the same log entries the replay would (a clear, then the earlier prompts again) and journals
the frame, so the session is exactly as the replay leaves it, at no model cost. It applies only
while nothing else was logged since (nothing prompted, tracked or removed, and only for an
object that had prompts before); then the session is as it was right after the edit before,
so undoing that one is fast too, as long as it came right before. Otherwise the editor replays.

Redo is the mirror image: a fast undo keeps what the frame had right after the prompt (a
:class:`RedoPoint`), and :meth:`~sam2nb.Session.redo_last` puts that back and logs the prompt again,
at no model cost. That is exact whenever sending the prompt again would give sam2 the same
inputs, so the point stays valid across whatever else is logged in between (an object added
or renamed, prompts on other frames or objects, tracking elsewhere) as long as everything a
prompt on that frame reads is still the very same: the frame's inputs and the output it
refines, whether the frame was tracked, on a tracked frame the memory around it
(the tracker's ``prompt_inputs``), and its mask record. Several fast undos in a
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

from ..base.errors import SessionBusy
from ..model.tracker import Snapshots
from ..prompts.log import ClearFrame, Entry
from ..storage.store import FrameResult, MaskRecord


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


class UndoHistory:
    """The session's undo and redo points, and whether each is still valid.

    Args:
        tracker: the session's tracker (a :class:`~sam2nb.model.tracker.Snapshots` one:
            otherwise there are no points, and the editor replays).

    Example:
        >>> h = UndoHistory(sess.tracker)
        >>> h.undo_point(len(sess.log)) is None, h.redo_point(sess.results) is None
        (True, True)
    """

    def __init__(self, tracker: Any):
        self.tracker = tracker
        self.enabled = isinstance(tracker, Snapshots)
        self.undo_at: UndoPoint | None = None  # what the last prompt replaced
        self.undo_len = 0  # the log's length when it was taken (valid while unchanged)
        self.redo_at: RedoPoint | None = None  # what the last fast undo took back

    def took(self, point: UndoPoint | None, log_len: int) -> None:
        """A prompt (or a fast redo) was logged: ``point`` is what it replaced."""
        self.undo_at, self.undo_len = point, log_len

    def undo_point(self, log_len: int) -> UndoPoint | None:
        """The undo point while its prompt is the log's last entry (else None)."""
        u = self.undo_at
        return None if u is None or log_len != self.undo_len else u

    def redo_point(self, results: Any) -> RedoPoint | None:
        """What the last fast undo took back, while a redo of it is exact (else None)."""
        u = self.redo_at
        if u is not None and not self.redo_valid(u, results):
            self.redo_at = u = None  # (let go of what it holds)
        return u

    def redo_valid(self, point: RedoPoint, results: Any) -> bool:
        """Whether putting ``point`` back is exactly what sending its prompt again gives."""
        t = self.tracker
        if not self.enabled or not t.has_object(point.obj_id):
            return False
        if point.after is None or not point.held:
            return False
        now = t.prompt_inputs(point.obj_id, point.frame_idx)
        if not t.same_inputs(now, point.held):
            return False
        return results.get(point.frame_idx, point.obj_id) == point.shown

    def undo(
        self, sess: Any, point: UndoPoint, earlier: list[Entry], then: UndoPoint | None
    ) -> FrameResult | None:
        """Put ``sess``'s frame back as before ``point`` (see :meth:`Session.undo_last`).

        None when the object is gone or the session is busy (the editor then replays).
        """
        f, o, t = point.frame_idx, point.obj_id, self.tracker
        if not self.enabled or not t.has_object(o):
            return None
        try:
            with sess.exclusive("an undo"):
                after = t.snapshot(o, f)
                store = sess.results
                shown = store.frame(f).get(o)
                prev = self.redo_point(store)
                with t.inference(), sess.transaction():
                    t.restore(o, f, point.snap)
                    if point.before is None:
                        store.delete(obj_id=o, frames=[f])
                    else:
                        store.put_record(point.before)
                    store.clear_stale(o, point.marked)  # made with the prompts of now
                    sess.dirty.add(f)
                    sess.write(ClearFrame(f, o))
                    for e in earlier:  # the entries a replay would write, as new entries
                        sess.write(copy.copy(e))
                    sess.keep_prompts([(o, f)])
                held = t.prompt_inputs(o, f)
                self.redo_at = RedoPoint(point.entry, f, o, after, shown, prev, held, point.before)
                chained = then is not None and point.prev is not None and then.entry is point.prev
                self.took(then if chained else None, len(sess.log))
        except SessionBusy:
            return None  # the replay says so
        return sess.frame(f)

    def redo(self, sess: Any, point: RedoPoint) -> FrameResult | None:
        """Put back what a fast undo took back (see :meth:`Session.redo_last`).

        None when it would not be exact, or the session is busy (the editor then sends the
        prompt again).
        """
        try:
            with sess.exclusive("a redo"):
                store = sess.results
                if not self.redo_valid(point, store):
                    return None
                f, o, t = point.frame_idx, point.obj_id, self.tracker
                before = t.snapshot(o, f)
                rec = store.frame(f).get(o)
                then = self.undo_point(len(sess.log))  # the session is as right after it
                entry = copy.copy(point.entry)
                with t.inference(), sess.transaction():
                    t.restore(o, f, point.snap)
                    store.put_record(point.after)
                    sess.dirty.add(f)
                    sess.write(entry)
                    sess.keep_prompts([(o, f)])
                    # what the prompt makes stale now (as the prompt itself marks: other
                    # prompts may have been made since the undo)
                    marked = tuple(store.mark_stale(o, f, keep=t.cond_frames(o)))
                prev = None if then is None else then.entry
                self.took(UndoPoint(entry, f, o, before, rec, prev, marked), len(sess.log))
                self.redo_at = point.prev
        except SessionBusy:
            return None  # the replay says so
        return sess.frame(point.frame_idx)

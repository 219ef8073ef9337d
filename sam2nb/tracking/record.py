"""The tracker's state in the session journal: written as it changes, read back on resume.

Beside the masks and the prompt log, a session kept in a folder keeps what its tracker needs to
go on exactly where it stopped (for a :class:`~sam2nb.model.tracker.Resumable` tracker):
each object's prompts and their outputs per prompted frame, its tracking memory on the last
frames tracked (the model's window), the state shared by all frames, which frames were
tracked which way, and the tracker's object order. A click's state is written in the click's
commit; a tracked frame's memory and mark in the frame's commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..model.tracker import Resumable
from ..prompts.log import Propagate
from ..storage.journal import CONSTANTS, MEMORY, PROMPT, Journal
from ..storage.writer import JournalWriter


class StateRecord:
    """Writes a session's tracker state to its journal (a collaborator of the session).

    Args:
        writer: the session's journal writer (no journal: nothing is written).
        tracker: the session's tracker (not :class:`Resumable`: only the marks are written).
    """

    def __init__(self, writer: JournalWriter, tracker: Any):
        self.writer = writer
        self.tracker = tracker
        self.resumable = isinstance(tracker, Resumable)
        self.constants_saved = False

    def prompts(self, prompted: Iterable[tuple[int, int]], dirty: set[int]) -> None:
        """Write the state of these ``(obj_id, frame_idx)`` prompts (inside a transaction)."""
        j = self.writer.journal
        if j is None:
            return
        if self.resumable:
            for o, f in prompted:
                j.put_state(PROMPT, o, f, self.tracker.frame_state(o, f))
        j.put("dirty", sorted(dirty))
        j.put("obj_order", self.tracker.objects())

    def step(self, f: int, obj_ids: list[int], conds: list[bool], reverse: bool) -> None:
        """Write a tracked frame's marks and memory (inside the frame's transaction)."""
        j = self.writer.journal
        if j is None:
            return
        j.mark_tracked(f, obj_ids, reverse)
        if not self.resumable:
            return
        if not self.constants_saved:
            j.put_state(CONSTANTS, -1, -1, self.tracker.constants())
            self.constants_saved = True
        for o, cond in zip(obj_ids, conds, strict=True):
            if not cond:
                j.put_state(MEMORY, o, f, self.tracker.frame_state(o, f, memory=True))
        j.keep_memory_near(f, self.tracker.window)

    def forget(self, obj_id: int) -> None:
        """An object was removed: drop its state and marks (inside a transaction)."""
        j = self.writer.journal
        if j is not None:
            j.forget(obj_id)
            j.put("obj_order", self.tracker.objects())


def write_all(sess: Any, j: Journal) -> None:
    """Write a whole session's log and tracker state into an empty journal (no meta)."""
    t = sess.tracker
    j.extend(sess.log)
    resumable = isinstance(t, Resumable)
    if resumable:
        j.put_state(CONSTANTS, -1, -1, t.constants())
    last = next((e.last_frame for e in reversed(sess.log) if isinstance(e, Propagate)), None)
    for o in t.objects():
        if resumable:
            for f in sorted(t.prompt_frames(o) | set(t.cond_frames(o))):
                j.put_state(PROMPT, o, f, t.frame_state(o, f))
        tracked = t.tracked(o)
        for f, rev in tracked.items():
            j.mark_tracked(f, [o], rev)
        if resumable and last is not None:
            for f in range(last - t.window, last + t.window + 1):
                if f in tracked:
                    j.put_state(MEMORY, o, f, t.frame_state(o, f, memory=True))
    j.put("dirty", sorted(sess.dirty))
    j.put("run", sess.unfinished)
    j.put("obj_order", t.objects())


def read_all(sess: Any, j: Journal) -> None:
    """Give a fresh session's tracker the state its journal holds (objects known already)."""
    t = sess.tracker
    if not isinstance(t, Resumable):
        return
    order = [o for o in j.get("obj_order", []) if o in sess.objects]
    t.put_objects(order)
    for _, _, data in j.states(CONSTANTS):
        t.put_constants(data)
    for kind in (MEMORY, PROMPT):  # a prompt's state is the newer where both have a frame
        for o, f, data in j.states(kind):
            if o in sess.objects:
                t.put_frame_state(o, f, data)
    for o, frames in j.tracked().items():
        if o in sess.objects:
            t.set_tracked(o, frames)

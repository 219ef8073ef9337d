"""The tracker's per-frame state within the model's memory window: released, then rebuilt.

A tracking step reads the state of up to :attr:`~MemoryWindow.window` frames before it
(memories and object pointers). In ``memory="bounded"`` mode the session releases state outside
that window; after a resume only the last frames tracked have theirs. When a correction or a
propagation start needs released state, the session re-tracks from the nearest prompt, so the
model sees exactly the state it would have had: with a progress bar (and the app's), stoppable
with ``session.stop()``. :class:`MemoryWindow` decides what to release and what to rebuild; the
session's propagation does the re-tracking.
"""

from __future__ import annotations

from typing import Any

from ..model.tracker import BoundedMemory


class MemoryWindow:
    """What of the tracker's state a session keeps, and what a step needs rebuilt first.

    Args:
        tracker: the session's tracker.
        num_frames: the video's length.
        mode: ``"full"`` keeps everything; ``"bounded"`` releases state outside the window
            (a tracker without :class:`~sam2nb.model.tracker.BoundedMemory` keeps everything).

    Example:
        >>> mw = MemoryWindow(sess.tracker, len(sess.video), "bounded")
        >>> mw.rebuild_from(0, 1) is None  # frame 0 is prompted: nothing to rebuild
        True
    """

    def __init__(self, tracker: Any, num_frames: int, mode: str):
        self.tracker = tracker
        self.num_frames = num_frames
        self.mode = mode
        self.bounded = isinstance(tracker, BoundedMemory)
        self.pins: set[int] = set()  # frames a running propagation keeps state around

    @property
    def window(self) -> int:
        """How many frames back a tracking step reads."""
        return self.tracker.window

    def release(self, frame_idx: int) -> None:
        """After a step at ``frame_idx``: let go of state outside the window (bounded mode)."""
        if self.mode != "full" and self.bounded:
            self.tracker.release(frame_idx, self.pins)

    def rebuild_from(self, f: int, o: int, reverse: bool | None = None) -> int | None:
        """The prompt frame to re-track from before a step at ``f`` (None: nothing to rebuild).

        A correction on a tracked frame (or a propagation starting after one) reads the state
        of up to :attr:`window` frames before it. In bounded mode or after a resume that state
        may have been released: it is rebuilt by re-tracking from the nearest prompt.
        ``reverse`` None: the way frame ``f`` was tracked (forward if it was not).
        """
        t = self.tracker
        if not t.has_object(o) or not self.bounded:
            return None
        if reverse is None:
            reverse = bool(t.tracked_way(o, f))
        back = 1 if reverse else -1
        n = self.num_frames
        window = [f + back * k for k in range(self.window + 1) if 0 <= f + back * k < n]
        # a frame the model tracked holds memory a step reads: released, it must be rebuilt
        if all(t.tracked_way(o, g) is None or t.has_state(o, g) for g in window):
            return None
        conds = [c for c in t.cond_frames(o) if (c >= f if reverse else c <= f)]
        if not conds:
            return None
        return min(conds) if reverse else max(conds)

    def frames_to_rebuild(self, frame_idx: int, obj_id: int) -> int:
        """How many frames a prompt on ``frame_idx`` for ``obj_id`` would re-track first."""
        c = self.rebuild_from(frame_idx, obj_id)
        return 0 if c is None else abs(frame_idx - c) + 1

"""sam2's per-frame tracking state within the model's memory window: released, then rebuilt.

A tracking step reads the state of up to :attr:`window` frames before it (memories and object
pointers). In ``memory="bounded"`` mode the session releases state outside that window; after a
resume only the last frames tracked have theirs. When a correction or a propagation start needs
released state, the session re-tracks from the nearest prompt, so sam2 sees exactly the state it
would have had: with a progress bar (and the app's), stoppable with ``session.stop()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..base.errors import SessionError
from ..model import adapter as S


class MemoryWindow:
    """The session's side of the memory window (a mixin of :class:`~sam2nb.Session`)."""

    state: dict
    window: int
    memory: str
    video: Any
    results: Any
    _pins: set[int]
    _stop: Any
    _progress: list[Callable[[str, int, int], None]]
    objects: dict

    def _obj_idx(self, obj_id: int) -> int | None:  # pragma: no cover - the session's
        raise NotImplementedError

    def _cond_frames(self, obj_id: int) -> list[int]:  # pragma: no cover - the session's
        raise NotImplementedError

    def _pass(self, *args: Any) -> Iterator[Any]:  # pragma: no cover - the session's
        raise NotImplementedError

    def _has_state(self, idx: int, f: int) -> bool:
        return S.has_state(self.state, idx, f)

    def _prune(self, t: int) -> None:
        if self.memory != "full":
            S.prune(self.state, t, self.window, self._pins)

    def _rebuild_from(self, f: int, o: int, reverse: bool | None = None) -> int | None:
        """The prompt frame to re-track from before a step at ``f`` (None: nothing to rebuild).

        A correction on a tracked frame (or a propagation starting after one) reads the
        state of up to :attr:`window` frames before it. In bounded mode or after a resume that
        state may have been released: it is rebuilt by re-tracking from the nearest prompt.
        ``reverse`` None: the way sam2 tracked frame ``f`` (forward if it did not).
        """
        idx = self._obj_idx(o)
        if idx is None:
            return None
        if reverse is None:
            reverse = bool(S.tracked_way(self.state, idx, f))
        back = 1 if reverse else -1
        n = len(self.video)
        window = [f + back * k for k in range(self.window + 1) if 0 <= f + back * k < n]
        # a frame sam2 tracked holds memory a step reads: released, it must be rebuilt
        if all(
            S.tracked_way(self.state, idx, g) is None or self._has_state(idx, g) for g in window
        ):
            return None
        conds = [c for c in self._cond_frames(o) if (c >= f if reverse else c <= f)]
        if not conds:
            return None
        return min(conds) if reverse else max(conds)

    def frames_to_rebuild(self, frame_idx: int, obj_id: int) -> int:
        """How many frames a prompt on ``frame_idx`` for ``obj_id`` would re-track first.

        Non-zero when sam2's memory of the frames before it was released (bounded memory, or
        a resumed session): the prompt then re-tracks from the nearest prompt, with progress,
        and can be stopped. The apps run such a click in the background, with a stop button.

        Example:
            >>> sess.frames_to_rebuild(0, 1)  # a frame whose memory is all there
            0
        """
        c = self._rebuild_from(frame_idx, obj_id)
        return 0 if c is None else abs(frame_idx - c) + 1

    def _ensure_memory(self, f: int, o: int, reverse: bool, why: str = "the propagation") -> bool:
        """Rebuild released state that a step at frame ``f`` will read (see :meth:`_rebuild_from`).

        ``why`` names what waits for it, in the progress bar and if it is stopped.

        Returns:
            True if it re-tracked (frame ``f``'s results were written again).
        """
        c = self._rebuild_from(f, o, reverse)
        if c is None:
            return False
        self._retrack(c, f, bool(reverse), why)
        return True

    def _retrack(self, c: int, f: int, reverse: bool, why: str) -> None:
        """Track again from prompt ``c`` to ``f``, showing progress; :meth:`stop` ends it."""
        from tqdm.auto import tqdm

        total = abs(f - c) + 1
        what = f"re-tracking frames {c}..{f} (their memory was released) before {why}"
        self._stop.clear()
        bar = tqdm(total=total, desc=what, unit="frame", delay=1.0)
        done = 0
        try:
            for _ in self._pass(c, reverse, abs(f - c), self._stop.is_set, bar, what):
                done += 1
                for cb in list(self._progress):
                    cb(what, done, total)
        finally:
            bar.close()
            for cb in list(self._progress):
                cb("", total, total)
        if done < total:
            raise SessionError(
                f"Stopped {what} after {done} of {total} frames; {why} was not made. "
                "Do it again to re-track and go on."
            )

    def _ensure_window(self, s: int, reverse: bool) -> None:
        """Rebuild the released state just before ``s`` (bounded mode / resumed session)."""
        prev = s + (1 if reverse else -1)
        if 0 <= prev < len(self.video):
            for o in self.objects:
                self._ensure_memory(prev, o, reverse)

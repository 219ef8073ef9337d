"""Where a propagation goes on: a run that was stopped or killed is continued, not redone.

A propagation records where it is (its start, direction, pass and last finished frame) with
each frame it finishes, in the same commit as the frame's masks. When it is stopped, or the
process is killed and the session resumed from its folder, the next :meth:`Session.propagate`
in the same direction with no ``start`` goes on from the frame after the last one finished,
with sam2's memory as it was: the same masks an uninterrupted run gives, without tracking the
finished frames again. Any prompt change since (a click, a clear, an object added or removed)
makes the old run stale: the next propagation starts from the earliest changed prompt.
"""

from __future__ import annotations

from typing import Any

from ..base.errors import SessionError

PASSES = {"forward": [False], "backward": [True], "both": [False, True]}
KEEPS_RUN = ("propagate", "rename_object")  # log entries that leave a run's masks valid


class Runs:
    """The session's unfinished run (a mixin of :class:`~sam2nb.Session`)."""

    video: Any
    objects: dict
    dirty: set[int]
    journal: Any
    _run: dict | None

    def _cond_frames(self, obj_id: int) -> list[int]:  # pragma: no cover - the session's
        raise NotImplementedError

    @property
    def unfinished(self) -> dict | None:
        """The propagation that was stopped or killed, if no prompt changed since (else None).

        ``{"start", "direction", "max_frames", "reverse", "last"}``: how it was started, the
        pass it was in (``reverse``) and the last frame it finished. :meth:`propagate` with no
        ``start`` in that direction goes on from there to where it was going.

        Example:
            >>> sess.unfinished is None  # sess: nothing stopped half-way
            True
        """
        r = self._run
        return None if r is None or not self._rest(r) else dict(r)

    def default_start(self) -> int:
        """Where :meth:`propagate` starts by default (going on with no stopped run).

        That is the earliest frame prompted since the last propagation, else the earliest prompt.

        Example:
            >>> sess.default_start()
            0
        """
        cond = self.dirty or {c for o in self.objects for c in self._cond_frames(o)}
        if not cond:
            raise SessionError("Nothing to track: add a click, box or mask on some object first.")
        return min(cond)

    def _plan(
        self, start: int | None, direction: str, max_frames: int | None
    ) -> tuple[int, list, bool]:
        """The run's start frame, passes and whether it goes on with a stopped run.

        The passes are ``[(first frame, reverse, max_frames), ...]``.

        With no ``start``, a stopped run in the same direction goes on where it stopped, to
        where it was going (``max_frames``, if given, caps each pass from there).
        """
        r = self._run
        if start is None and r is not None and r["direction"] == direction:
            rest = self._rest(r)
            if rest:
                cap = lambda k: k if max_frames is None else min(k, max_frames)  # noqa: E731
                passes = [(f, rev, max_frames if k is None else cap(k)) for f, rev, k in rest]
                return int(r["start"]), passes, True
        s = self.default_start() if start is None else start
        return s, [(s, rev, max_frames) for rev in PASSES[direction]], False

    def _rest(self, r: dict) -> list[tuple[int, bool, int | None]]:
        """What is left of run ``r``: its passes from the frame after the last one finished."""
        if r.get("last") is None:
            return []
        s, last, m = int(r["start"]), int(r["last"]), r.get("max_frames")
        end_f, end_b = self._pass_end(s, False, m), self._pass_end(s, True, m)
        rest: list[tuple[int, bool, int | None]] = []
        settled = r.get("settled", [])  # passes that converged: done
        if not r["reverse"]:
            if last < end_f and False not in settled:
                rest.append((last + 1, False, None if m is None else end_f - last - 1))
            if r["direction"] == "both":
                rest.append((s, True, m))
        elif last > end_b and True not in settled:
            rest.append((last - 1, True, None if m is None else last - 1 - end_b))
        return rest

    def frames_to_track(
        self, start: int | None = None, direction: str = "forward", max_frames: int | None = None
    ) -> int:
        """How many frames :meth:`propagate` with these arguments will track.

        Example:
            >>> sess.frames_to_track(direction="both")  # sess: 8 frames, a click on frame 0
            9
        """
        _, passes, _ = self._plan(start, direction, max_frames)
        return sum(self._pass_length(f, rev, k) for f, rev, k in passes)

    def _pass_end(self, begin: int, reverse: bool, k: int | None) -> int:
        """The last frame a pass from ``begin`` tracks when it is not stopped."""
        if reverse:
            return 0 if k is None else max(0, begin - k)
        n = len(self.video)
        return n - 1 if k is None else min(n - 1, begin + k)

    def _pass_length(self, f: int, reverse: bool, k: int | None) -> int:
        left = f + 1 if reverse else len(self.video) - f
        return left if k is None else min(left, k + 1)

    def set_unfinished(self, record: dict | None) -> None:
        """Take over a run record kept in a journal (what :func:`sam2nb.load_session` does)."""
        self._run = None if not record else dict(record)

    # -- the record ------------------------------------------------------------------------
    def _run_begin(
        self, s: int, direction: str, max_frames: int | None, going_on: bool, converge: Any = None
    ) -> None:
        if not going_on or self._run is None:
            self._run = {"start": s, "direction": direction, "max_frames": max_frames,
                         "reverse": None, "last": None}  # fmt: skip
        if converge is not None:
            self._run["converge"] = converge.to_json()
        self._run_write()

    def _run_settled(self, reverse: bool) -> None:
        """A pass stopped where it agreed with the stored results: nothing is left of it."""
        if self._run is not None:
            self._run["settled"] = sorted({*self._run.get("settled", []), bool(reverse)})
            self._run_write()

    def _run_step(self, f: int, reverse: bool) -> None:
        """A frame finished (inside its commit)."""
        if self._run is not None:
            self._run.update(reverse=bool(reverse), last=int(f))
            self._run_write()

    def _run_end(self) -> None:
        """A propagation ended (inside its last commit): forget the run if nothing is left."""
        if self._run is not None and not self._rest(self._run):
            self._run_forget()

    def _run_forget(self) -> None:
        """The run is done, or stale (inside the commit of what made it so)."""
        if self._run is not None:
            self._run = None
            self._run_write()

    def _run_write(self) -> None:
        if self.journal is not None:
            self.journal.put("run", self._run)

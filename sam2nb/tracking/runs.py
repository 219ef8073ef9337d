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

PASSES = {"forward": [False], "backward": [True], "both": [False, True]}
KEEPS_RUN = ("propagate", "rename_object")  # log entries that leave a run's masks valid


class RunRecord:
    """The session's unfinished run, kept in its journal (a collaborator of the session).

    Args:
        num_frames: the video's length.
        writer: the session's journal writer (the record goes there with each frame).

    Example:
        >>> rr = RunRecord(8, s2.storage.writer.JournalWriter())
        >>> rr.plan(None, "both", None, default=0)
        (0, [(0, False, None), (0, True, None)], False)
        >>> rr.begin(0, "forward", None, False); rr.step(3, False); rr.rest(rr.run)
        [(4, False, None)]
    """

    def __init__(self, num_frames: int, writer: Any):
        self.num_frames = num_frames
        self.writer = writer
        self.run: dict | None = None  # the propagation in progress, stopped or killed

    @property
    def unfinished(self) -> dict | None:
        """The run that was stopped or killed with frames left to track (else None)."""
        r = self.run
        return None if r is None or not self.rest(r) else dict(r)

    def plan(
        self, start: int | None, direction: str, max_frames: int | None, default: Any
    ) -> tuple[int, list, bool]:
        """The run's start frame, passes and whether it goes on with a stopped run.

        The passes are ``[(first frame, reverse, max_frames), ...]``.

        With no ``start``, a stopped run in the same direction goes on where it stopped, to
        where it was going (``max_frames``, if given, caps each pass from there). Otherwise
        the run starts at ``start``, or at ``default`` (a frame, or a callable giving it).
        """
        r = self.run
        if start is None and r is not None and r["direction"] == direction:
            rest = self.rest(r)
            if rest:
                cap = lambda k: k if max_frames is None else min(k, max_frames)  # noqa: E731
                passes = [(f, rev, max_frames if k is None else cap(k)) for f, rev, k in rest]
                return int(r["start"]), passes, True
        s = (default() if callable(default) else default) if start is None else start
        return s, [(s, rev, max_frames) for rev in PASSES[direction]], False

    def rest(self, r: dict) -> list[tuple[int, bool, int | None]]:
        """What is left of run ``r``: its passes from the frame after the last one finished."""
        if r.get("last") is None:
            return []
        s, last, m = int(r["start"]), int(r["last"]), r.get("max_frames")
        end_f, end_b = self.pass_end(s, False, m), self.pass_end(s, True, m)
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

    def pass_end(self, begin: int, reverse: bool, k: int | None) -> int:
        """The last frame a pass from ``begin`` tracks when it is not stopped."""
        if reverse:
            return 0 if k is None else max(0, begin - k)
        n = self.num_frames
        return n - 1 if k is None else min(n - 1, begin + k)

    def pass_length(self, f: int, reverse: bool, k: int | None) -> int:
        """How many frames a pass from ``f`` tracks when it is not stopped."""
        left = f + 1 if reverse else self.num_frames - f
        return left if k is None else min(left, k + 1)

    def take(self, record: dict | None) -> None:
        """Take over a run record kept in a journal (what a resume does)."""
        self.run = None if not record else dict(record)

    # -- the record, written inside the commits of what changes it --------------------------
    def begin(
        self, s: int, direction: str, max_frames: int | None, going_on: bool, converge: Any = None
    ) -> None:
        """A propagation starts (or goes on with the stopped run)."""
        if not going_on or self.run is None:
            self.run = {"start": s, "direction": direction, "max_frames": max_frames,
                        "reverse": None, "last": None}  # fmt: skip
        if converge is not None:
            self.run["converge"] = converge.to_json()
        self.write()

    def settled(self, reverse: bool) -> None:
        """A pass stopped where it agreed with the stored results: nothing is left of it."""
        if self.run is not None:
            self.run["settled"] = sorted({*self.run.get("settled", []), bool(reverse)})
            self.write()

    def step(self, f: int, reverse: bool) -> None:
        """A frame finished (inside its commit)."""
        if self.run is not None:
            self.run.update(reverse=bool(reverse), last=int(f))
            self.write()

    def end(self) -> None:
        """A propagation ended (inside its last commit): forget the run if nothing is left."""
        if self.run is not None and not self.rest(self.run):
            self.forget()

    def forget(self) -> None:
        """The run is done, or stale (inside the commit of what made it so)."""
        if self.run is not None:
            self.run = None
            self.write()

    def write(self) -> None:
        """Keep the record in the journal (nothing in memory)."""
        self.writer.put("run", self.run)

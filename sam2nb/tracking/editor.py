"""Prompt editing with undo and redo, headless: what a click or a drag means for a session.

The widgets translate mouse and key events into :class:`PromptEditor` calls and draw what it
returns. Every edit re-sends one frame's prompts for one object to the session (sam2 replaces
them), so undo and redo are exact: they re-send what the frame had before or after.
The session's prompt log is the only record of prompts; :func:`frame_prompts` reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..base.errors import SessionError
from .store import FrameResult


@dataclass
class FramePrompts:
    """One object's prompts on one frame.

    Attributes:
        points: ``(x, y)`` clicks in video pixels.
        labels: 1 (positive) / 0 (negative), one per click.
        box: ``[x0, y0, x1, y1]`` in video pixels, or None.
        mask: a mask prompt as COCO RLE, or None.
    """

    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: list[float] | None = None
    mask: dict | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is prompted."""
        return not self.points and self.box is None and self.mask is None

    def copy(self) -> FramePrompts:
        """An independent copy."""
        return FramePrompts(
            list(self.points),
            list(self.labels),
            None if self.box is None else list(self.box),
            self.mask,
        )


def frame_prompts(log: Iterable[dict]) -> dict[tuple[int, int], FramePrompts]:
    """Every ``(frame_idx, obj_id)``'s current prompts, read from a session's prompt log.

    Example:
        >>> log = [{"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[5, 6]],
        ...         "labels": [1], "clear": False}]
        >>> frame_prompts(log)[(0, 1)].points
        [(5.0, 6.0)]
    """
    out: dict[tuple[int, int], FramePrompts] = {}
    for e in log:
        op = e.get("op")
        if op in ("points", "box", "mask"):
            key = (int(e["frame_idx"]), int(e["obj_id"]))
            cur = out.get(key, FramePrompts())
            pts = [(float(x), float(y)) for x, y in e.get("points") or []]
            labs = [int(v) for v in e.get("labels") or []]
            if op == "points":
                if e.get("clear") or cur.mask is not None:
                    cur = FramePrompts()
                cur.points += pts
                cur.labels += labs
            elif op == "box":
                cur = FramePrompts(pts, labs, [float(v) for v in e["box"]])
            else:
                cur = FramePrompts(mask=e["rle"])
            out[key] = cur
        elif op == "clear_frame":
            f, o = int(e["frame_idx"]), e.get("obj_id")
            for key in [k for k in out if k[0] == f and (o is None or k[1] == int(o))]:
                del out[key]
        elif op == "remove_object":
            for key in [k for k in out if k[1] == int(e["obj_id"])]:
                del out[key]
    return {k: v for k, v in out.items() if not v.empty}


@dataclass
class Edit:
    """One undoable change: the prompt-log entry it made on a frame for an object."""

    frame_idx: int
    obj_id: int
    entry: dict
    before: Any = None  # the frame's result before its first prompt (a tracked mask), if any


def _resets(e: dict, f: int, o: int) -> bool:
    if e.get("op") == "clear_frame":
        return int(e["frame_idx"]) == f and (e.get("obj_id") is None or int(e["obj_id"]) == o)
    return e.get("op") == "remove_object" and int(e["obj_id"]) == o


def frame_history(log: list[dict], frame_idx: int, obj_id: int, end: int | None = None) -> list:
    """The prompt entries on one frame for one object since it was last cleared.

    sam2 refines a frame's mask from the mask it had, so these entries, replayed in order on
    a cleared frame, give back exactly what the frame had at ``log[:end]``.
    """
    hist: list[dict] = []
    for e in log[:end]:
        if _resets(e, frame_idx, obj_id):
            hist = []
        elif (
            e.get("op") in ("points", "box", "mask")
            and int(e["frame_idx"]) == frame_idx
            and int(e["obj_id"]) == obj_id
        ):
            hist.append(e)
    return hist


class PromptEditor:
    """Clicks, boxes, undo and redo on a :class:`~sam2nb.Session`, in video pixels.

    Attributes:
        session: the session the prompts go to.
        obj_id: the object new prompts are for (None: the first click makes one).
        label: the label of a plain click, 1 (positive) or 0 (negative).

    Example:
        >>> ed = PromptEditor(sess)  # doctest: +SKIP
        >>> ed.click(0, 450, 200)  # positive click for a new object 1  # doctest: +SKIP
        >>> ed.click(0, 300, 300, label=0)  # doctest: +SKIP
        >>> ed.undo()  # doctest: +SKIP
    """

    def __init__(self, session: Any, obj_id: int | None = None):
        self.session = session
        self.obj_id = obj_id if obj_id is not None else next(iter(session.objects), None)
        self.label = 1
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []

    # -- objects ----------------------------------------------------------------------------
    def new_object(self, name: str | None = None, color: Any = None) -> int:
        """Add an object to the session and make it the current one. Returns its id."""
        obj = self.session.add_object(name=name, color=color)
        self.obj_id = obj.obj_id
        return obj.obj_id

    def select(self, obj_id: int) -> None:
        """Send the next prompts to ``obj_id``."""
        if obj_id not in self.session.objects:
            raise SessionError(
                f"There is no object {obj_id} (objects: {list(self.session.objects)}): "
                "make one with new_object()."
            )
        self.obj_id = int(obj_id)

    def _target(self) -> int:
        if self.obj_id is None or self.obj_id not in self.session.objects:
            return self.new_object()
        return self.obj_id

    # -- prompts ----------------------------------------------------------------------------
    def prompts(self, frame_idx: int) -> dict[int, FramePrompts]:
        """``{obj_id: FramePrompts}`` on a frame."""
        return {o: p for (f, o), p in frame_prompts(self.session.log).items() if f == frame_idx}

    def _current(self, frame_idx: int, obj_id: int) -> FramePrompts:
        return frame_prompts(self.session.log).get((frame_idx, obj_id), FramePrompts())

    def click(self, frame_idx: int, x: float, y: float, label: int | None = None) -> FrameResult:
        """Add a click for the current object (``label`` None: the editor's :attr:`label`)."""
        lab = self.label if label is None else int(label)
        o = self._target()
        cur, before = self._current(frame_idx, o), self._before(frame_idx, o)
        if cur.box is not None and cur.mask is None:  # keep the box: send box + clicks
            pts, labs = [*cur.points, (float(x), float(y))], [*cur.labels, lab]
            res = self.session.add_box(frame_idx, o, cur.box, pts, labs)
        else:
            res = self.session.add_points(frame_idx, o, [(x, y)], [lab])
        self._record(frame_idx, o, before)
        return res

    def box(self, frame_idx: int, box: Iterable[float]) -> FrameResult:
        """Prompt the current object with a box ``[x0, y0, x1, y1]`` (keeps the frame's clicks)."""
        o = self._target()
        cur, before = self._current(frame_idx, o), self._before(frame_idx, o)
        keep = cur.mask is None and cur.points
        res = self.session.add_box(
            frame_idx, o, [float(v) for v in box],
            cur.points if keep else None, cur.labels if keep else None,
        )  # fmt: skip
        self._record(frame_idx, o, before)
        return res

    def clear(self, frame_idx: int, obj_id: int | None = None) -> FrameResult:
        """Remove the prompts on a frame for one object (default: the current one)."""
        o = self.obj_id if obj_id is None else int(obj_id)
        if o is None:
            raise SessionError("There is no object yet: click on the frame to make one.")
        had = not self._current(frame_idx, o).empty
        res = self.session.clear_frame(frame_idx, o)
        if had:
            self._record(frame_idx, o)
        return res

    # -- history ----------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        """True when there is an edit to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """True when there is an undone edit to redo."""
        return bool(self._redo)

    @property
    def undo_frame(self) -> int | None:
        """The frame the next :meth:`undo` changes (None: nothing to undo)."""
        return self._undo[-1].frame_idx if self._undo else None

    @property
    def redo_frame(self) -> int | None:
        """The frame the next :meth:`redo` changes (None: nothing to redo)."""
        return self._redo[-1].frame_idx if self._redo else None

    def undo(self) -> FrameResult | None:
        """Put the last edited frame back exactly as it was. Returns that frame, or None.

        The frame is cleared and the prompts it had before the edit are replayed in their
        original order, so sam2's step-by-step refinement gives the same mask again.
        """
        if not self._undo:
            return None
        e = self._undo[-1]
        log = self.session.log
        pos = next((i for i, x in enumerate(log) if x is e.entry), None)
        if pos is None:
            raise SessionError("That edit is no longer in the session's log; it cannot be undone.")
        hist = frame_history(log, e.frame_idx, e.obj_id, pos)
        res = self._replay(e.frame_idx, e.obj_id, hist)
        if not hist and e.before is not None:  # a correction undone: the tracked mask is back
            r = e.before
            self.session.results.put(
                r.frame_idx, [r.obj_id], r.mask()[None], scores=[r.score], ious=[r.iou],
                reverse=r.reverse,
            )  # fmt: skip
            res = self.session.frame(e.frame_idx)
        self._redo.append(self._undo.pop())
        return res

    def redo(self) -> FrameResult | None:
        """Apply the last undone edit again. Returns that frame, or None."""
        if not self._redo:
            return None
        e = self._redo[-1]
        res = self._replay(e.frame_idx, e.obj_id, [e.entry], clear=False)
        e.entry = self.session.log[-1]  # (e.before stays: the result before the first prompt)
        self._undo.append(self._redo.pop())
        return res

    def _before(self, f: int, o: int) -> Any:
        if frame_history(self.session.log, f, o):
            return None
        return self.session.results.get(f, o)

    def _record(self, f: int, o: int, before: Any = None) -> None:
        self._undo.append(Edit(f, o, self.session.log[-1], before))
        self._redo.clear()

    def _replay(self, f: int, o: int, entries: list[dict], clear: bool = True) -> FrameResult:
        from .persist import apply

        s = self.session
        if o not in s.objects:
            raise SessionError(f"Object {o} was removed: its edits cannot be undone.")
        if clear:
            s.clear_frame(f, o)
        for e in entries:
            apply(s, e)
        return s.frame(f)

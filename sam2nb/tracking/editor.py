"""Prompt editing with undo and redo, headless: what a click or a drag means for a session.

The widgets translate mouse and key events into :class:`PromptEditor` calls and draw what it
returns. Every edit re-sends one frame's prompts for one object to the session (sam2 replaces
them), so undo and redo are exact: they re-send what the frame had before or after.
The session's prompt log (:class:`~sam2nb.tracking.log.PromptLog`) is the only record of
prompts; it keeps each frame's current prompts indexed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..base.errors import SessionError
from .log import Entry, FramePrompts
from .protocol import SessionLike
from .store import FrameResult, MaskRecord

KEEP_POINTS = 16  # the latest edits whose frames' earlier state is kept for a fast undo


@dataclass
class Edit:
    """One undoable change: the prompt-log entry it made on a frame for an object."""

    frame_idx: int
    obj_id: int
    entry: Entry
    before: Any = None  # the frame's result before its first prompt (a tracked mask), if any
    point: Any = None  # the session's undo point right after the edit (a fast undo), if any
    again: Any = None  # the session's redo point right after a fast undo of it (a fast redo)


class PromptEditor:
    """Clicks, boxes, undo and redo on a :class:`~sam2nb.Session`, in video pixels.

    Attributes:
        session: the session the prompts go to.
        obj_id: the object new prompts are for (None: the first click makes one).
        label: the label of a plain click, 1 (positive) or 0 (negative).

    Example:
        >>> ed = PromptEditor(sess)  # sess: object 1 clicked at (120, 180) on frame 0
        >>> _ = ed.click(0, 300, 300, label=0)  # a negative click for object 1
        >>> ed.prompts(0)[1].labels
        [1, 0]
        >>> _ = ed.undo()
        >>> ed.prompts(0)[1].labels, ed.can_redo
        ([1], True)
    """

    def __init__(self, session: SessionLike, obj_id: int | None = None):
        self.session = session
        self.obj_id = obj_id if obj_id is not None else next(iter(session.objects), None)
        self.label = 1
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._restore()

    # -- the history on disk (a session kept in a folder) -------------------------------------
    def _keep(self) -> None:
        """Write the undo and redo stacks to the session's journal (positions in its log)."""
        j = getattr(self.session, "journal", None)
        if j is None:
            return
        log = self.session.log

        def row(e: Edit) -> list:
            return [e.frame_idx, e.obj_id, log.position(e.entry), _record_json(e.before)]

        j.put("history", {"undo": [row(e) for e in self._undo],
                          "redo": [row(e) for e in self._redo]})  # fmt: skip

    def _restore(self) -> None:
        """Take up the undo and redo stacks a resumed session's journal holds."""
        j = getattr(self.session, "journal", None)
        saved = None if j is None else j.get("history")
        if not saved:
            return
        log = self.session.log

        def edit(row: list) -> Edit | None:
            f, o, pos, before = row
            if pos is None or not 0 <= pos < len(log):
                return None
            return Edit(f, o, log[pos], _record_from(before))

        self._undo = [e for e in map(edit, saved.get("undo", [])) if e is not None]
        self._redo = [e for e in map(edit, saved.get("redo", [])) if e is not None]

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
        return self.session.log.prompts(frame_idx)

    def _current(self, frame_idx: int, obj_id: int) -> FramePrompts:
        return self.session.log.get(frame_idx, obj_id)

    def click(self, frame_idx: int, x: float, y: float, label: int | None = None) -> FrameResult:
        """Add a click for the current object (``label`` None: the editor's :attr:`label`)."""
        lab = self.label if label is None else int(label)
        o = self._target()
        cur = self._current(frame_idx, o)
        if cur.box is not None and cur.mask is None:  # keep the box: send box + clicks
            pts, labs = [*cur.points, (float(x), float(y))], [*cur.labels, lab]
            res = self.session.add_box(frame_idx, o, cur.box, pts, labs)
        else:
            res = self.session.add_points(frame_idx, o, [(x, y)], [lab])
        self._record(frame_idx, o, self._before(cur, res, o))
        return res

    def box(self, frame_idx: int, box: Iterable[float]) -> FrameResult:
        """Prompt the current object with a box ``[x0, y0, x1, y1]`` (keeps the frame's clicks)."""
        o = self._target()
        cur = self._current(frame_idx, o)
        keep = cur.mask is None and cur.points
        res = self.session.add_box(
            frame_idx, o, [float(v) for v in box],
            cur.points if keep else None, cur.labels if keep else None,
        )  # fmt: skip
        self._record(frame_idx, o, self._before(cur, res, o))
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

    @property
    def undo_obj(self) -> int | None:
        """The object the next :meth:`undo` changes (None: nothing to undo)."""
        return self._undo[-1].obj_id if self._undo else None

    @property
    def redo_obj(self) -> int | None:
        """The object the next :meth:`redo` changes (None: nothing to redo)."""
        return self._redo[-1].obj_id if self._redo else None

    def undo(self) -> FrameResult | None:
        """Put the last edited frame back exactly as it was. Returns that frame, or None.

        The frame is cleared and the prompts it had before the edit are replayed in their
        original order, so sam2's step-by-step refinement gives the same mask again.
        """
        if not self._undo:
            return None
        e = self._undo[-1]
        log = self.session.log
        pos = log.position(e.entry)
        if pos is None:
            raise SessionError("That edit is no longer in the session's log; it cannot be undone.")
        hist = log.history(e.frame_idx, e.obj_id, pos)
        fast = getattr(self.session, "undo_last", None)
        then = self._undo[-2].point if len(self._undo) > 1 else None
        res = fast(e.point, hist, then) if fast is not None and e.point is not None else None
        e.point = None  # used, or too late
        if res is not None:  # put back as it was, no model run (the log as a replay writes it)
            e.again = getattr(self.session, "redo_point", lambda: None)()
            self._redo.append(self._undo.pop())
            self._keep()
            return res
        self._forget_redos()
        res = self._replay(e.frame_idx, e.obj_id, hist)
        if not hist and e.before is not None:  # a correction undone: the tracked mask is back
            self.session.results.put_record(e.before)
            res = self.session.frame(e.frame_idx)
        self._redo.append(self._undo.pop())
        self._keep()
        return res

    def redo(self) -> FrameResult | None:
        """Apply the last undone edit again. Returns that frame, or None.

        Right after a fast undo (nothing else done since), the frame is put back as the edit
        left it, with no model run; otherwise the edit's prompt is sent again.
        """
        if not self._redo:
            return None
        e = self._redo[-1]
        fast = getattr(self.session, "redo_last", None)
        res = fast(e.again) if fast is not None and e.again is not None else None
        e.again = None  # used, or too late
        if res is None:  # send the prompt again (one decoder pass, the same mask)
            self._forget_redos()
            res = self._replay(e.frame_idx, e.obj_id, [e.entry], clear=False)
        e.entry = self.session.log[-1]  # (e.before stays: the result before the first prompt)
        e.point = self._point()
        self._undo.append(self._redo.pop())
        self._keep()
        return res

    @staticmethod
    def _before(cur: FramePrompts, res: FrameResult, o: int) -> Any:
        """The tracked mask a first prompt on a frame replaced (None when it was prompted)."""
        return res.previous.get(o) if cur.empty else None

    def _point(self) -> Any:
        """The session's undo point for the edit just made (those of old edits are let go)."""
        for e in self._undo[:-KEEP_POINTS]:
            e.point = None  # free what they hold (sam2's outputs of a frame)
        get = getattr(self.session, "undo_point", None)
        return get() if get is not None else None

    def _forget_redos(self) -> None:
        """Let go of what earlier fast undos kept: stale once the replay logs anything."""
        for r in self._redo:
            r.again = None

    def _record(self, f: int, o: int, before: Any = None) -> None:
        point = self._point()
        self._undo.append(Edit(f, o, self.session.log[-1], before, point))
        self._redo.clear()  # (with what their fast redos held)
        self._keep()

    def _replay(self, f: int, o: int, entries: list[Entry], clear: bool = True) -> FrameResult:
        s = self.session
        if o not in s.objects:
            raise SessionError(f"Object {o} was removed: its edits cannot be undone.")
        if clear:
            s.clear_frame(f, o)
        for e in entries:
            e.apply(s)
        return s.frame(f)


def _record_json(r: MaskRecord | None) -> dict | None:
    if r is None:
        return None
    return {"frame_idx": r.frame_idx, "obj_id": r.obj_id, "size": r.rle["size"],
            "counts": r.rle["counts"].decode("ascii"), "area": r.area,
            "bbox": None if r.bbox is None else list(r.bbox), "score": r.score, "iou": r.iou,
            "reverse": r.reverse}  # fmt: skip


def _record_from(d: dict | None) -> MaskRecord | None:
    if d is None:
        return None
    rle = {"size": d["size"], "counts": d["counts"].encode("ascii")}
    bbox = None if d["bbox"] is None else tuple(d["bbox"])
    return MaskRecord(d["frame_idx"], d["obj_id"], rle, d["area"], bbox, d["score"], d["iou"],
                      d["reverse"])  # fmt: skip

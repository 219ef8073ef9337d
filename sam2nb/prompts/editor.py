"""Prompt editing with undo and redo, headless: what a click or a drag means for a session.

The widgets translate mouse and key events into :class:`PromptEditor` calls and draw what it
returns. An undo puts back the frame's earlier prompts, a redo the undone prompt; the session's
prompt log (:class:`~sam2nb.prompts.log.PromptLog`) is the only record of prompts; it keeps
each frame's current prompts indexed.

Exact, with no model run, while the session can put back what the frame held (see
:mod:`sam2nb.tracking.undo`): an undo right after the edit, a redo whenever sending the prompt
again would give sam2 the same inputs (objects added or renamed, prompts on other frames or
objects in between do not matter). Otherwise undo replays the frame's earlier prompts on the
cleared frame and redo sends the prompt again. sam2 refines each prompt from what the frame
holds at that moment, and once tracking has run over the frame that is no longer what it held
at the edit (the frame is a tracked one now, or sam2 kept its output as memory when its prompts
were cleared): then the mask can differ from the one the edit showed. That is sam2's history,
not something the editor can restore without putting sam2's state out of step with the prompt
log, so the editor keeps the new mask and says so in :attr:`PromptEditor.note`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..base.errors import SessionError
from ..storage.store import FrameResult, MaskRecord
from .log import Entry, FramePrompts
from .protocol import FastUndo, HoldsFeatures, Kept, SessionLike

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
    prior: tuple | None = None  # the object's mask on the frame before the edit (see _shown)
    after: tuple | None = None  # and right after it


class PromptEditor:
    """Clicks, boxes, undo and redo on a :class:`~sam2nb.Session`, in video pixels.

    Attributes:
        session: the session the prompts go to.
        obj_id: the object new prompts are for (None: the first click makes one).
        label: the label of a plain click, 1 (positive) or 0 (negative).
        note: what the last edit, undo or redo did beyond what was asked, in a sentence for
            the app's status line ("" when nothing): a mask an undo or redo could not give
            back exactly (and why), or a click that ran the image encoder first.

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
        self.note = ""
        # what the session can do beyond SessionLike, checked once
        self.fast = session if isinstance(session, FastUndo) else None
        self.kept = session if isinstance(session, Kept) else None
        self.warm = session if isinstance(session, HoldsFeatures) else None
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._restore()

    # -- the history on disk (a session kept in a folder) -------------------------------------
    def _keep(self) -> None:
        """Write the undo and redo stacks to the session's journal (positions in its log)."""
        j = None if self.kept is None else self.kept.journal
        if j is None:
            return
        log = self.session.log

        def row(e: Edit) -> list:
            return [e.frame_idx, e.obj_id, log.position(e.entry), _record_json(e.before)]

        def shown(e: Edit) -> list:
            return [None if m is None else list(m) for m in (e.prior, e.after)]

        j.put("history", {"undo": [row(e) for e in self._undo],
                          "redo": [row(e) for e in self._redo],
                          "shown": {"undo": [shown(e) for e in self._undo],
                                    "redo": [shown(e) for e in self._redo]}})  # fmt: skip

    def _restore(self) -> None:
        """Take up the undo and redo stacks a resumed session's journal holds."""
        j = None if self.kept is None else self.kept.journal
        saved = None if j is None else j.get("history")
        if not saved:
            return
        log = self.session.log

        def edit(row: list, shown: list | None) -> Edit | None:
            f, o, pos, before = row[:4]
            if pos is None or not 0 <= pos < len(log):
                return None
            prior, after = (None if m is None else tuple(m) for m in shown or (None, None))
            return Edit(f, o, log[pos], _record_from(before), prior=prior, after=after)

        def edits(key: str) -> list[Edit]:
            rows = saved.get(key, [])
            marks = saved.get("shown", {}).get(key) or []
            marks = marks if len(marks) == len(rows) else [None] * len(rows)
            return [e for e in map(edit, rows, marks) if e is not None]

        self._undo, self._redo = edits("undo"), edits("redo")

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
            run = lambda: self.session.add_box(frame_idx, o, cur.box, pts, labs)  # noqa: E731
        else:
            run = lambda: self.session.add_points(frame_idx, o, [(x, y)], [lab])  # noqa: E731
        prior = self._shown_now(frame_idx, o)
        res = self._prompt(frame_idx, run)
        self._record(frame_idx, o, res, prior, self._before(cur, res, o))
        return res

    def box(self, frame_idx: int, box: Iterable[float]) -> FrameResult:
        """Prompt the current object with a box ``[x0, y0, x1, y1]`` (keeps the frame's clicks)."""
        o = self._target()
        cur = self._current(frame_idx, o)
        keep = cur.mask is None and cur.points
        prior = self._shown_now(frame_idx, o)
        res = self._prompt(frame_idx, lambda: self.session.add_box(
            frame_idx, o, [float(v) for v in box],
            cur.points if keep else None, cur.labels if keep else None,
        ))  # fmt: skip
        self._record(frame_idx, o, res, prior, self._before(cur, res, o))
        return res

    def clear(self, frame_idx: int, obj_id: int | None = None) -> FrameResult:
        """Remove the prompts on a frame for one object (default: the current one)."""
        o = self.obj_id if obj_id is None else int(obj_id)
        if o is None:
            raise SessionError("There is no object yet: click on the frame to make one.")
        self.note = ""
        had = not self._current(frame_idx, o).empty
        # (a clear hands back no previous)
        prior = _shown(self.session.results.get(frame_idx, o)) if had else None
        res = self.session.clear_frame(frame_idx, o)
        if had:
            self._record(frame_idx, o, res, prior)
        return res

    def _shown_now(self, f: int, o: int) -> tuple[int, str] | None:
        """The object's mask on a frame now, in a few bytes (None: the session cannot say).

        A video session hands the mask a prompt replaces back with its answer
        (``FrameResult.previous``): nothing is read for it here (a click reads the store once).
        """
        if self.fast is not None:
            return None  # taken from the answer (see _record)
        return _shown(self.session.results.get(f, o))

    def _prompt(self, f: int, run: Any) -> FrameResult:
        """Send a prompt; :attr:`note` says so when the frame went through the image encoder."""
        self.note = ""
        cold = self.warm is not None and not self.warm.features_ready(f)
        t0 = time.perf_counter()
        res = run()
        if cold:
            self.note = (
                f"Frame {f} went through the image encoder first ({time.perf_counter() - t0:.1f}"
                " s in all): sam2 keeps one frame's image features, the last clicked or tracked"
            )
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
        """Put the last edited frame back as it was. Returns that frame, or None.

        Right after the edit the frame is put back as it was, with no model run. Otherwise it
        is cleared and the prompts it had before the edit are replayed in their original
        order; sam2 refines each from what the frame holds then, which tracking since the edit
        may have changed: :attr:`note` then says the mask differs from the one it had.
        """
        self.note = ""
        if not self._undo:
            return None
        e = self._undo[-1]
        log = self.session.log
        pos = log.position(e.entry)
        if pos is None:
            raise SessionError("That edit is no longer in the session's log; it cannot be undone.")
        hist = log.history(e.frame_idx, e.obj_id, pos)
        fast = self.fast
        then = self._undo[-2].point if len(self._undo) > 1 else None
        res = fast.undo_last(e.point, hist, then) if fast and e.point is not None else None
        e.point = None  # used, or too late
        if res is not None:  # put back as it was, no model run (the log as a replay writes it)
            e.again = fast.redo_point()
        else:
            res = self._replay(e.frame_idx, e.obj_id, hist)
            if not hist and e.before is not None:  # a correction undone: the tracked mask is back
                self.session.results.put_record(e.before)
                res = self.session.frame(e.frame_idx)
            self._differs("Undo", res, e.obj_id, e.prior, "the replayed prompts")
        self._redo.append(self._undo.pop())
        for r in self._redo[:-KEEP_POINTS]:
            r.again = None  # free what they hold (sam2's outputs of a frame)
        self._keep()
        return res

    def redo(self) -> FrameResult | None:
        """Apply the last undone edit again. Returns that frame, or None.

        The frame is put back as the edit left it, with no model run, whenever sending the
        prompt again would give sam2 the same inputs (nothing since then changed what sam2
        holds for that frame and object). Otherwise the prompt is sent again (one decoder
        pass); :attr:`note` says so when sam2 then gives another mask than the edit did.
        """
        self.note = ""
        if not self._redo:
            return None
        e = self._redo[-1]
        fast = self.fast
        res = fast.redo_last(e.again) if fast is not None and e.again is not None else None
        e.again = None  # used, or too late
        if res is None:  # send the prompt again (one decoder pass)
            res = self._replay(e.frame_idx, e.obj_id, [e.entry], clear=False)
            self._differs("Redo", res, e.obj_id, e.after, "the prompt")
        e.entry = self.session.log[-1]  # (e.before stays: the result before the first prompt)
        e.point = self._point()
        self._undo.append(self._redo.pop())
        self._keep()
        return res

    def _differs(self, word: str, res: FrameResult, o: int, want: tuple | None, what: str) -> None:
        """Say in :attr:`note` that a replay gave another mask than the one it should give back.

        sam2 refines a prompt from what the frame holds when it is sent; tracking since the
        edit changed that (see the module's docstring). The new mask is kept.
        """
        got = _shown(res.records.get(o))
        if want is None or got == want:  # (None: not known, e.g. a journal from before)
            return
        px = lambda m: f"{m[0]:,} px" if m[1] else "no mask"  # noqa: E731
        same = ", the same size" if got[0] == want[0] else ""
        self.note = (
            f"{word} on frame {res.frame_idx} gave another mask ({px(got)}, was {px(want)}"
            f"{same}): tracking since changed what sam2 refines {what} from"
        )

    @staticmethod
    def _before(cur: FramePrompts, res: FrameResult, o: int) -> Any:
        """The tracked mask a first prompt on a frame replaced (None when it was prompted)."""
        return res.previous.get(o) if cur.empty else None

    def _point(self) -> Any:
        """The session's undo point for the edit just made (those of old edits are let go)."""
        for e in self._undo[:-KEEP_POINTS]:
            e.point = None  # free what they hold (sam2's outputs of a frame)
        return None if self.fast is None else self.fast.undo_point()

    def _record(
        self, f: int, o: int, res: FrameResult, prior: tuple | None, before: Any = None
    ) -> None:
        point = self._point()
        if o in res.previous:  # the mask the prompt replaced (re-tracked first, if it had to)
            prior = _shown(res.previous[o])
        elif prior is None and self.fast is not None:
            prior = _shown(None)  # a video session's answer names what it replaced: nothing
        after = _shown(res.records.get(o))
        self._undo.append(Edit(f, o, self.session.log[-1], before, point, prior=prior, after=after))
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


def _shown(r: MaskRecord | None) -> tuple[int, str]:
    """A mask in a few bytes, to tell whether an undo or redo gave it back: (area, digest).

    ``(0, "")`` when there is no mask.
    """
    if r is None:
        return (0, "")
    return (int(r.area), hashlib.blake2b(r.rle["counts"], digest_size=8).hexdigest())


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

"""The prompt log: every prompt and object change of a session, typed, indexed and replayable.

The log is a session's single record of what the user did. Each entry is a small frozen
dataclass (:class:`Points`, :class:`Box`, :class:`Mask`, :class:`ClearFrame`,
:class:`AddObject`, :class:`RenameObject`, :class:`RemoveObject`, :class:`Propagate`);
:class:`PromptLog` keeps them in order, validates what is appended, keeps the per-frame prompts
up to date as entries arrive (no re-reading of the whole log per click), writes and reads the
JSON form (a list of ``{"op": ..., ...}`` dicts, the format saved sessions and prompt files
have always used) and replays itself onto a session.

Example:
    >>> log = PromptLog()
    >>> _ = log.append(AddObject(1, "dog", (255, 0, 0)))
    >>> _ = log.append(Points(0, 1, [(5.0, 6.0)], [1]))
    >>> log.prompts(0)[1].points
    [(5.0, 6.0)]
    >>> PromptLog.from_json(log.to_json()) == log
    True
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from ..base.errors import PromptError


def _now() -> float:
    return round(time.time(), 3)


@dataclass(frozen=True)
class Entry:
    """One prompt-log entry. ``op`` names its kind; ``t`` is when it was made (Unix seconds).

    Entries also answer ``entry["key"]`` and ``entry.get("key")`` with their JSON fields, so
    code written against the JSON form keeps working.
    """

    op: ClassVar[str] = ""
    t: float = field(default_factory=_now, kw_only=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        # one form whatever was passed in (numpy, lists, tuples): entries compare equal and
        # their JSON form is the same
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None and f.default is MISSING and f.default_factory is MISSING:
                raise PromptError(f"field {f.name!r} of a {self.op!r} entry is needed, got None.")
            if v is not None:
                try:
                    object.__setattr__(self, f.name, _field_value(f.name, v))
                except (TypeError, ValueError):
                    raise PromptError(
                        f"field {f.name!r} of a {self.op!r} entry is malformed: {v!r}."
                    ) from None

    def to_json(self) -> dict:
        """The JSON form: ``{"op": ..., <fields>, "t": ...}``.

        Example:
            >>> Points(0, 1, [(5, 6)], [1], t=1.0).to_json()["points"]
            [[5.0, 6.0]]
            >>> list(ClearFrame(4).to_json())
            ['op', 'frame_idx', 'obj_id', 't']
        """
        out: dict[str, Any] = {"op": self.op}
        for f in fields(self):
            if f.name != "t":
                out[f.name] = _plain(getattr(self, f.name))
        out["t"] = self.t
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """A JSON field, or ``default``."""
        return self.to_json().get(key, default)

    def apply(self, session: Any, progress: bool = False) -> None:  # pragma: no cover
        """Do this entry again on ``session`` (see :meth:`PromptLog.replay`)."""
        raise NotImplementedError


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class AddObject(Entry):
    """An object was added: its id, name and ``(r, g, b)`` colour."""

    op: ClassVar[str] = "add_object"
    obj_id: int
    name: str | None = None
    color: tuple[int, int, int] | None = None

    def apply(self, session: Any, progress: bool = False) -> None:
        """Add the object (unless the session has it already)."""
        if self.obj_id not in session.objects:
            session.add_object(self.obj_id, self.name, self.color)


@dataclass(frozen=True)
class RenameObject(Entry):
    """An object's name or colour changed (None: unchanged)."""

    op: ClassVar[str] = "rename_object"
    obj_id: int
    name: str | None = None
    color: tuple[int, int, int] | None = None

    def apply(self, session: Any, progress: bool = False) -> None:
        """Rename or recolour the object."""
        session.rename_object(self.obj_id, self.name, self.color)


@dataclass(frozen=True)
class RemoveObject(Entry):
    """An object was removed with its prompts and results."""

    op: ClassVar[str] = "remove_object"
    obj_id: int

    def apply(self, session: Any, progress: bool = False) -> None:
        """Remove the object."""
        session.remove_object(self.obj_id)


@dataclass(frozen=True)
class _Prompt(Entry):
    frame_idx: int
    obj_id: int

    def apply(self, session: Any, progress: bool = False) -> None:
        """Send the prompt (adding the object first if the log never named it)."""
        if self.obj_id not in session.objects:
            session.add_object(self.obj_id)
        self.send(session)

    def send(self, session: Any) -> Any:  # pragma: no cover
        """Send this prompt to a session; returns its frame result."""
        raise NotImplementedError


@dataclass(frozen=True)
class Points(_Prompt):
    """Clicks ``(x, y)`` in video pixels with labels 1 (positive) / 0 (negative).

    ``clear`` replaces the frame's earlier clicks for the object instead of adding to them.
    """

    op: ClassVar[str] = "points"
    points: Sequence[Sequence[float]] = ()
    labels: Sequence[int] = ()
    clear: bool = False

    def send(self, session: Any) -> Any:
        """``session.add_points(...)``."""
        return session.add_points(
            self.frame_idx, self.obj_id, self.points, self.labels or None, clear=self.clear
        )


@dataclass(frozen=True)
class Box(_Prompt):
    """A box ``[x0, y0, x1, y1]`` in video pixels, with optional clicks; replaces the frame's."""

    op: ClassVar[str] = "box"
    box: Sequence[float] = ()
    points: Sequence[Sequence[float]] | None = None
    labels: Sequence[int] | None = None

    def send(self, session: Any) -> Any:
        """``session.add_box(...)``."""
        return session.add_box(self.frame_idx, self.obj_id, self.box, self.points, self.labels)


@dataclass(frozen=True)
class Mask(_Prompt):
    """A mask prompt, as COCO RLE (``{"size": [h, w], "counts": str}``)."""

    op: ClassVar[str] = "mask"
    rle: dict = field(default_factory=dict)

    def decode(self) -> Any:
        """The mask as an ``(H, W)`` bool array."""
        from pycocotools import mask as mask_utils

        rle = dict(self.rle)
        if isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode()
        return mask_utils.decode(rle).astype(bool)

    def send(self, session: Any) -> Any:
        """``session.add_mask(...)``."""
        return session.add_mask(self.frame_idx, self.obj_id, self.decode())


@dataclass(frozen=True)
class ClearFrame(Entry):
    """The prompts on a frame were removed, for one object or (``obj_id`` None) all."""

    op: ClassVar[str] = "clear_frame"
    frame_idx: int
    obj_id: int | None = None

    def apply(self, session: Any, progress: bool = False) -> None:
        """Clear the frame."""
        session.clear_frame(self.frame_idx, self.obj_id)


@dataclass(frozen=True)
class Propagate(Entry):
    """A propagation: where it started, which way, how far it was asked to go and went."""

    op: ClassVar[str] = "propagate"
    start: int | None = None
    direction: str = "forward"
    max_frames: int | None = None
    frames_done: int | None = None
    last_frame: int | None = None

    def apply(self, session: Any, progress: bool = False) -> None:
        """Track again, as far as this propagation got (a stopped one stops there again)."""
        limit, done = self.max_frames, self.frames_done
        if done is not None and self.direction != "both" and (limit is None or done < limit + 1):
            limit = max(done - 1, 0)
        session.run(self.start, self.direction, max_frames=limit, progress=progress)


ENTRY_TYPES: dict[str, type[Entry]] = {
    c.op: c for c in (AddObject, RenameObject, RemoveObject, Points, Box, Mask, ClearFrame,
                      Propagate)
}  # fmt: skip
OPS = tuple(ENTRY_TYPES)
PROMPT_OPS = ("points", "box", "mask")

_INT_FIELDS = {"frame_idx", "obj_id", "start", "max_frames", "frames_done", "last_frame"}


def entry_from_json(d: Any, where: str = "entry") -> Entry:
    """An entry from its JSON form (missing optional fields take their defaults).

    Raises:
        PromptError: not a dict, an unknown ``op``, an unknown or missing field, or a field of
            the wrong kind; the message names the entry and the field.

    Example:
        >>> e = entry_from_json({"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[5, 6]]})
        >>> e.points, e.labels, e.clear
        (((5.0, 6.0),), (), False)
        >>> entry_from_json({"op": "box", "frame_idx": 0, "obj_id": 1, "bx": [1, 2, 3, 4]})
        Traceback (most recent call last):
        sam2nb.base.errors.PromptError: entry: 'box' has no field 'bx'; its fields are \
frame_idx, obj_id, box, points, labels.
    """
    if not isinstance(d, dict) or d.get("op") not in ENTRY_TYPES:
        raise PromptError(f"{where} ({d!r}) needs an 'op', one of {', '.join(OPS)}.")
    cls = ENTRY_TYPES[d["op"]]
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(d) - set(names) - {"op"})
    if unknown:
        raise PromptError(
            f"{where}: {d['op']!r} has no field {', '.join(map(repr, unknown))}; "
            f"its fields are {', '.join(n for n in names if n != 't')}."
        )
    kw = {k: v for k, v in d.items() if k != "op" and (v is not None or k == "obj_id")}
    try:
        return cls(**kw)
    except PromptError as exc:
        raise PromptError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise PromptError(f"{where}: {d['op']!r} is missing a field ({exc}).") from None


def _field_value(k: str, v: Any) -> Any:
    if k in _INT_FIELDS:
        if isinstance(v, (bool, str)) or int(v) != v:
            raise ValueError(k)
        return int(v)
    if k == "t":
        return float(v)
    if k == "points":
        pts = tuple(tuple(float(c) for c in p) for p in v)
        if any(len(p) != 2 for p in pts):
            raise ValueError(k)
        return pts
    if k == "labels":
        return tuple(int(x) for x in v)
    if k == "box":
        return tuple(float(x) for x in v)
    if k == "color":
        return tuple(int(x) for x in v)
    if k == "rle":
        if not isinstance(v, dict) or "counts" not in v or "size" not in v:
            raise ValueError(k)
        counts = v["counts"]
        return {"size": [int(x) for x in v["size"]],
                "counts": counts.decode() if isinstance(counts, bytes) else counts}  # fmt: skip
    if k in ("clear",):
        return bool(v)
    if k in ("name", "direction"):
        return str(v)
    return v


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


class PromptLog(Sequence[Entry]):
    """A session's prompt log: entries in order, with each frame's current prompts indexed.

    Appending an entry updates the index of ``(frame_idx, obj_id) -> FramePrompts`` and each
    pair's history since its last reset, so reading a frame's prompts costs the same on the
    thousandth click as on the first.

    Args:
        entries: entries or their JSON dicts, in order.

    Example:
        >>> log = PromptLog([{"op": "box", "frame_idx": 3, "obj_id": 2, "box": [1, 2, 8, 9]}])
        >>> log.get(3, 2).box, len(log), log[0].op
        ([1.0, 2.0, 8.0, 9.0], 1, 'box')
    """

    def __init__(self, entries: Iterable[Entry | dict] = ()):
        self._entries: list[Entry] = []
        self._prompts: dict[tuple[int, int], FramePrompts] = {}
        self._history: dict[tuple[int, int], list[int]] = {}
        for i, e in enumerate(entries):
            self.append(e if isinstance(e, Entry) else entry_from_json(e, f"entry {i}"))

    # -- the sequence ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i: Any) -> Any:
        return self._entries[i]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PromptLog):
            return self._entries == other._entries
        if isinstance(other, list):  # the JSON form
            return self.to_json() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PromptLog({len(self)} entries)"

    def append(self, e: Entry) -> Entry:
        """Add an entry at the end and index it. Returns it.

        Raises:
            PromptError: ``e`` is not a prompt-log entry.
        """
        if not isinstance(e, Entry) or type(e) not in ENTRY_TYPES.values():
            raise PromptError(f"a prompt log holds entries (Points, Box, ...), got {e!r}.")
        self._entries.append(e)
        self._index(e, len(self._entries) - 1)
        return e

    def _index(self, e: Entry, pos: int) -> None:
        if isinstance(e, _Prompt):
            key = (e.frame_idx, e.obj_id)
            cur = self._prompts.get(key, FramePrompts())
            pts = [(float(x), float(y)) for x, y in getattr(e, "points", None) or []]
            labs = [int(v) for v in getattr(e, "labels", None) or []]
            if isinstance(e, Points):
                cur = FramePrompts() if e.clear or cur.mask is not None else cur.copy()
                cur.points += pts
                cur.labels += labs
            elif isinstance(e, Box):
                cur = FramePrompts(pts, labs, [float(v) for v in e.box])
            else:
                cur = FramePrompts(mask=e.rle)  # type: ignore[attr-defined]
            self._prompts[key] = cur
            self._history.setdefault(key, []).append(pos)
        elif isinstance(e, (ClearFrame, RemoveObject)):
            for key in [k for k in self._prompts if _resets(e, *k)]:
                del self._prompts[key]
            for key in [k for k in self._history if _resets(e, *k)]:
                del self._history[key]

    # -- reading -----------------------------------------------------------------------------
    def get(self, frame_idx: int, obj_id: int) -> FramePrompts:
        """One object's current prompts on a frame (empty if none); do not modify it."""
        return self._prompts.get((frame_idx, obj_id)) or FramePrompts()

    def prompts(self, frame_idx: int) -> dict[int, FramePrompts]:
        """``{obj_id: FramePrompts}`` on a frame."""
        return {o: p for (f, o), p in self._prompts.items() if f == frame_idx}

    def frame_prompts(self) -> dict[tuple[int, int], FramePrompts]:
        """Every ``(frame_idx, obj_id)``'s current prompts (a new dict; values shared)."""
        return dict(self._prompts)

    def frames(self, obj_id: int | None = None) -> list[int]:
        """Frames with prompts (for one object, or any)."""
        return sorted({f for f, o in self._prompts if obj_id is None or o == obj_id})

    def history(self, frame_idx: int, obj_id: int, end: int | None = None) -> list[Entry]:
        """The prompt entries on one frame for one object since it was last cleared.

        sam2 refines a frame's mask from the mask it had, so these entries, replayed in order
        on a cleared frame, give back exactly what the frame had after ``log[:end]``.
        """
        if end is None:
            return [self._entries[i] for i in self._history.get((frame_idx, obj_id), [])]
        hist: list[Entry] = []
        for e in self._entries[:end]:
            if _resets(e, frame_idx, obj_id):
                hist = []
            elif isinstance(e, _Prompt) and (e.frame_idx, e.obj_id) == (frame_idx, obj_id):
                hist.append(e)
        return hist

    def position(self, e: Entry) -> int | None:
        """Where this very entry (by identity) is in the log, or None."""
        for i in range(len(self._entries) - 1, -1, -1):
            if self._entries[i] is e:
                return i
        return None

    # -- JSON --------------------------------------------------------------------------------
    def to_json(self) -> list[dict]:
        """The JSON form: a list of ``{"op": ...}`` dicts (what saved sessions hold)."""
        return [e.to_json() for e in self._entries]

    @classmethod
    def from_journal(cls, journal: Any) -> PromptLog:
        """The log a session journal holds (:class:`~sam2nb.storage.journal.Journal`).

        Example:
            >>> j = s2.storage.journal.Journal(s2.ResultStore(4, 3))
            >>> j.append(AddObject(1, "dog", (255, 0, 0)))
            >>> PromptLog.from_journal(j)[0].name
            'dog'
        """
        return cls(entry_from_json(d, where) for where, d in journal.entries())

    @classmethod
    def from_json(cls, data: Any, source: str = "the prompt log") -> PromptLog:
        """A log from its JSON form (a list of entries), validated entry by entry.

        Raises:
            PromptError: not a list, or an entry that is not understood (named, with why).
        """
        if isinstance(data, PromptLog):
            return cls(data)
        if not isinstance(data, list):
            raise PromptError(
                f"{source} must hold a list of prompt entries, e.g. "
                '[{"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[x, y]], '
                '"labels": [1]}].'
            )
        log = cls()
        for i, d in enumerate(data):
            log.append(entry_from_json(d, f"{source}: entry {i}"))
        return log

    @classmethod
    def read(cls, path: str | os.PathLike) -> PromptLog:
        """Read a prompt file: a JSON list of entries, or a saved session's ``session.json``.

        Raises:
            PromptError: the file is missing, not JSON, or holds an entry not understood.
        """
        p = Path(path)
        if not p.is_file():
            raise PromptError(f"No prompt file at {p}.")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise PromptError(f"{p} is not valid JSON ({exc}).") from exc
        return cls.from_json(data.get("prompt_log") if isinstance(data, dict) else data, str(p))

    # -- replay ------------------------------------------------------------------------------
    def replay(self, session: Any, progress: bool = False) -> Any:
        """Do every entry again, in order, on ``session`` (objects are added when first named).

        Returns:
            The session.
        """
        for e in list(self._entries):
            e.apply(session, progress=progress)
        return session


def _resets(e: Entry, f: int, o: int) -> bool:
    if isinstance(e, ClearFrame):
        return e.frame_idx == f and (e.obj_id is None or e.obj_id == o)
    return isinstance(e, RemoveObject) and e.obj_id == o


def as_log(log: Any) -> PromptLog:
    """A :class:`PromptLog` of a log, entries or JSON dicts (a log is returned as it is)."""
    return log if isinstance(log, PromptLog) else PromptLog(log)


def frame_prompts(log: Iterable[Entry | dict]) -> dict[tuple[int, int], FramePrompts]:
    """Every ``(frame_idx, obj_id)``'s current prompts in a prompt log.

    Example:
        >>> log = [{"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[5, 6]],
        ...         "labels": [1], "clear": False}]
        >>> frame_prompts(log)[(0, 1)].points
        [(5.0, 6.0)]
    """
    return as_log(log).frame_prompts()


def read_log(path: str | os.PathLike) -> PromptLog:
    """Read a prompt log: a JSON list of entries, or a saved session's ``session.json``.

    Raises:
        PromptError: the file is missing, not JSON, or has an entry that is not understood.

    Example:
        >>> _ = sess.save(folder + "/run")
        >>> [e.op for e in read_log(folder + "/run/session.json")]
        ['add_object', 'points']
    """
    return PromptLog.read(path)


def objects_in(log: Iterable[Entry]) -> dict[int, Any]:
    """The objects a log leaves, ``{obj_id: TrackedObject}``: added, renamed, removed in order.

    Objects prompted without an ``add_object`` entry (logs written by hand) get default names
    and colours.

    Example:
        >>> log = [AddObject(1, "dog", (255, 0, 0)), RenameObject(1, "cat"), AddObject(2)]
        >>> objs = objects_in(log)
        >>> objs[1], objs[2].name
        (TrackedObject(obj_id=1, name='cat', color=(255, 0, 0)), 'object 2')
    """
    from ..base.colors import default_color
    from .checks import TrackedObject

    objects: dict[int, Any] = {}
    for e in log:
        if isinstance(e, AddObject):
            color = default_color(e.obj_id) if e.color is None else tuple(e.color)
            objects[e.obj_id] = TrackedObject(e.obj_id, e.name or f"object {e.obj_id}", color)
        elif isinstance(e, RenameObject) and e.obj_id in objects:
            if e.name is not None:
                objects[e.obj_id].name = e.name
            if e.color is not None:
                objects[e.obj_id].color = tuple(e.color)
        elif isinstance(e, RemoveObject):
            objects.pop(e.obj_id, None)
        elif e.op in PROMPT_OPS and e["obj_id"] not in objects:
            o = e["obj_id"]
            objects[o] = TrackedObject(o, f"object {o}", default_color(o))
    return objects

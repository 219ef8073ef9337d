"""Known tracking failures to inject: what went wrong, for which object, on which frames.

The instrument tracker (:mod:`sam2nb.synthetic.instrument`) answers with the true masks of a
generated video except where a :class:`Fault` says otherwise. Each kind is a way real trackers
fail, drawn as a change to the true mask of the object on the fault's frames:

==========  ===================================================================================
kind        the mask on the fault's frames
==========  ===================================================================================
drift       the true mask, sliding away from the object a little more each frame (a fixed
            direction, ``step`` pixels a frame): it ends up on the background
swap        the true mask of ``other``, a look-alike the object crossed: the identities swapped
vanish      empty, and the object score says "not visible", while the object is in view
leak        the true mask joined with the mask of ``other``, a neighbour it touches
jitter      the true mask, shifted each frame by a random offset of ``step / 2`` to ``step`` pixels
==========  ===================================================================================

:func:`plan_faults` places faults where each kind happens in real footage: a swap right after
two look-alikes cross, a leak where two objects touch (the generator's ``cross`` and ``near``
events), the others anywhere the object is well in view; never on an object's prompt frame, and
never two on one object's frames at once.

Example:
    >>> f = Fault("vanish", obj_id=2, start=10, end=15)
    >>> f.covers(12), f.covers(16), len(f)
    (True, False, 6)
    >>> f.clipped_before(12)
    Fault(kind='vanish', obj_id=2, start=10, end=11, other=None, step=0.0, direction=(1.0, 0.0))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..base.errors import SessionError
from ..media.overlay import runs, shift_mask

FAULT_KINDS = ("drift", "swap", "vanish", "leak", "jitter")
MIN_AREA = 200  # pixels: an object smaller than this is not "well in view"


@dataclass(frozen=True)
class Fault:
    """One injected failure: frames ``start..end`` (inclusive) of ``obj_id`` go wrong.

    Attributes:
        kind: one of :data:`FAULT_KINDS`.
        obj_id: the object whose masks are wrong.
        start: first wrong frame.
        end: last wrong frame.
        other: the look-alike (``swap``) or neighbour (``leak``) involved.
        step: pixels a frame (``drift``) or the largest offset (``jitter``).
        direction: the unit vector ``drift`` slides along.
    """

    kind: str
    obj_id: int
    start: int
    end: int
    other: int | None = None
    step: float = 0.0
    direction: tuple[float, float] = (1.0, 0.0)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise SessionError(f"Unknown fault kind {self.kind!r}: use one of {FAULT_KINDS}.")
        if self.kind in ("swap", "leak") and self.other is None:
            raise SessionError(f"A {self.kind} fault needs other= (the object it takes).")
        if self.end < self.start:
            raise SessionError(f"A fault needs end >= start (got {self.start}..{self.end}).")

    def __len__(self) -> int:
        return self.end - self.start + 1

    def covers(self, frame_idx: int) -> bool:
        """Whether the fault is on ``frame_idx``."""
        return self.start <= frame_idx <= self.end

    def clipped_before(self, frame_idx: int) -> Fault | None:
        """The fault ended just before ``frame_idx`` (None if nothing of it is left)."""
        if frame_idx <= self.start:
            return None
        return replace(self, end=min(self.end, frame_idx - 1))

    def to_json(self) -> dict:
        """A plain dict (``Fault(**d)`` makes it again)."""
        d = asdict(self)
        d["direction"] = list(self.direction)
        return d

    @classmethod
    def from_json(cls, d: dict) -> Fault:
        """The fault :meth:`to_json` wrote."""
        d = dict(d)
        d["direction"] = tuple(d.get("direction", (1.0, 0.0)))
        return cls(**d)


def faulty_mask(
    fault: Fault, frame_idx: int, truth: Callable[[int], np.ndarray], seed: int = 0
) -> np.ndarray:
    """The object's mask on ``frame_idx`` under ``fault`` (``truth(obj_id)``: a true mask).

    Example:
        >>> m = np.zeros((10, 10), bool); m[2:5, 2:5] = True
        >>> f = Fault("drift", 1, start=3, end=9, step=2.0)
        >>> np.argwhere(faulty_mask(f, 4, lambda o: m))[0].tolist()  # 2 frames in: 4 px right
        [2, 6]
    """
    t = fault.kind
    own = truth(fault.obj_id)
    if t == "vanish":
        return np.zeros_like(own)
    if t == "swap":
        return truth(int(fault.other)).copy()  # type: ignore[arg-type]
    if t == "leak":
        return own | truth(int(fault.other))  # type: ignore[arg-type]
    if t == "drift":
        k = (frame_idx - fault.start + 1) * fault.step
        return shift_mask(own, k * fault.direction[0], k * fault.direction[1])
    rng = np.random.default_rng([seed, fault.obj_id, frame_idx])  # jitter: the same each time
    ang, r = rng.uniform(0, 2 * math.pi), rng.uniform(fault.step / 2, fault.step)
    return shift_mask(own, r * math.cos(ang), r * math.sin(ang))


def _visible(labels: Callable[[int], np.ndarray], n: int) -> dict[int, np.ndarray]:
    """``{obj_id: area per frame}`` of every object in the label maps."""
    areas: dict[int, np.ndarray] = {}
    for f in range(n):
        lab = labels(f)
        ids, counts = np.unique(lab[lab > 0], return_counts=True)
        for o, c in zip(ids.tolist(), counts.tolist(), strict=True):
            areas.setdefault(int(o), np.zeros(n, np.int64))[f] = c
    return areas


def plan_faults(
    labels: Callable[[int], np.ndarray],
    num_frames: int,
    prompts: dict[int, int],
    events: Iterable[dict] = (),
    *,
    kinds: Iterable[str] = FAULT_KINDS,
    seed: int = 0,
    per_kind: int = 1,
) -> list[Fault]:
    """Place up to ``per_kind`` faults of each kind where that failure happens in footage.

    Args:
        labels: ``labels(frame_idx)``: the true ``(H, W)`` label map (0 background, obj_id).
        num_frames: frames of the video.
        prompts: ``{obj_id: frame_idx}`` of each object's first prompt.
        events: the generator's scene events (``cross`` places swaps, ``near`` leaks).
        kinds: which kinds to inject.
        seed: the plan is the same for the same seed.
        per_kind: faults of each kind.

    Returns:
        The faults, at least 3 frames after their object's prompt, none overlapping another
        on the same object. A kind with no place for it (no crossing look-alikes for ``swap``)
        is left out.
    """
    kinds = [k for k in FAULT_KINDS if k in set(kinds)]
    bad = set(kinds) - set(FAULT_KINDS)
    if bad:
        raise SessionError(f"Unknown fault kinds {sorted(bad)}: use some of {FAULT_KINDS}.")
    rng = np.random.default_rng(seed)
    areas = _visible(labels, num_frames)
    busy: dict[int, set[int]] = {}
    out: list[Fault] = []

    def free(o: int, a: int, b: int) -> bool:
        return not (busy.get(o, set()) & set(range(a - 2, b + 3)))

    def take(f: Fault) -> None:
        out.append(f)
        busy.setdefault(f.obj_id, set()).update(range(f.start, f.end + 1))
        if f.kind == "swap":  # the partner wears the object's mask over the same frames
            g = replace(f, obj_id=int(f.other), other=f.obj_id)  # type: ignore[arg-type]
            out.append(g)
            busy.setdefault(g.obj_id, set()).update(range(g.start, g.end + 1))

    def in_view(o: int) -> list[tuple[int, int]]:
        first = prompts.get(o)
        if first is None or o not in areas:
            return []
        ok = areas[o] >= MIN_AREA
        ok[: first + 3] = False
        return [(a, b - 1) for a, b in runs(ok) if b - a >= 6]

    pairs = {"swap": "cross", "leak": "near"}
    for kind in sorted(kinds, key=lambda k: k not in pairs):  # the constrained kinds first
        placed = 0
        if kind in pairs:
            evs = [e for e in events if e.get("kind") == pairs[kind]]
            rng.shuffle(evs)  # type: ignore[arg-type]
            for e in evs:
                if placed >= per_kind:
                    break
                a_id, b_id = (int(v) for v in e["obj_ids"])
                if rng.random() < 0.5:
                    a_id, b_id = b_id, a_id
                if kind == "swap":  # after the crossing, for the rest of the view of both
                    a = int(e["end"]) + 1
                    both = [r for r in in_view(a_id) if r[0] <= a <= r[1]]
                    other = [r for r in in_view(b_id) if r[0] <= a <= r[1]]
                    if not both or not other:
                        continue
                    b = min(both[0][1], other[0][1], a + int(rng.integers(10, 25)))
                else:  # leak: while they touch, and a few frames more
                    a = max(int(e["start"]), prompts.get(a_id, num_frames) + 3)
                    b = min(int(e["end"]) + 3, num_frames - 1)
                    if not any(r[0] <= a and b <= r[1] for r in in_view(a_id)):
                        continue
                if b - a < 3 or not free(a_id, a, b) or not free(b_id, a, b):
                    continue
                take(Fault(kind, a_id, a, b, other=b_id))
                placed += 1
            continue
        objs = sorted(areas)
        rng.shuffle(objs)
        for o in objs:
            if placed >= per_kind:
                break
            spans = in_view(o)
            if not spans:
                continue
            a0, b0 = spans[int(rng.integers(len(spans)))]
            length = int(rng.integers(8, 20) if kind != "drift" else rng.integers(10, 30))
            a = int(rng.integers(a0, max(a0 + 1, b0 - min(length, b0 - a0) + 1)))
            b = min(b0, a + length - 1)
            if b - a < 4 or not free(o, a, b):
                continue
            size = math.sqrt(float(np.median(areas[o][a : b + 1])))
            ang = float(rng.uniform(0, 2 * math.pi))
            step = {"drift": max(1.5, 0.06 * size), "jitter": max(3.0, 0.25 * size)}.get(kind, 0)
            take(Fault(kind, o, a, b, step=round(step, 2),
                       direction=(round(math.cos(ang), 4), round(math.sin(ang), 4))))  # fmt: skip
            placed += 1
    return sorted(out, key=lambda f: (f.start, f.obj_id))


def describe(faults: Iterable[Fault]) -> list[dict[str, Any]]:
    """The faults as plain dicts, for a table or a JSON file."""
    return [f.to_json() for f in faults]

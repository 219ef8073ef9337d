"""Re-tracking only what changed: a propagation that stops once it agrees with what it replaces.

A correction on frame ``f`` changes the masks after it for a while; once sam2's memory of the
correction has passed, the new masks are usually the old ones again. With ``converge``, a
propagation compares each frame's new masks with the ones already stored there and stops the
pass when every object agrees (mask IoU at least ``iou``) on ``frames`` frames in a row. The
frames beyond keep their earlier results; only frames that hold results are kept: where a frame
past them was never tracked (a stopped run), the pass goes on from there. Where the new masks
never settle back (a real change, an object added), the pass goes to the end, as a full
re-track does.

Example:
    >>> c = Converge(iou=0.9, frames=2)
    >>> w = c.watch()
    >>> [w.agree(v) for v in ([1.0], [0.95, 0.97], [0.5], [0.99], [1.0])]
    [False, True, False, False, True]
    >>> w.streak, w.worst
    (2, 0.99)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base.errors import SessionError
from ..storage.store import rle_iou


@dataclass(frozen=True)
class Converge:
    """When a re-propagation may stop: all objects at ``iou`` or more for ``frames`` in a row.

    Attributes:
        iou: the least mask IoU between a frame's new and stored mask that counts as the same
            (both empty counts as the same).
        frames: how many frames in a row every object must agree on.

    Example:
        >>> Converge()
        Converge(iou=0.9, frames=5)
    """

    iou: float = 0.9
    frames: int = 5

    def __post_init__(self) -> None:
        ok = isinstance(self.iou, (int, float)) and 0.0 < float(self.iou) <= 1.0
        if not ok:
            raise SessionError(f"converge iou must be a number in (0, 1], got {self.iou!r}.")
        if not isinstance(self.frames, int) or self.frames < 1:
            raise SessionError(f"converge frames must be a positive integer, got {self.frames!r}.")

    def watch(self) -> Watch:
        """A fresh counter for one propagation pass."""
        return Watch(self)

    def to_json(self) -> list:
        """``[iou, frames]`` (kept with a run that is stopped, so it goes on the same way)."""
        return [float(self.iou), int(self.frames)]

    @classmethod
    def of(cls, value: Any) -> Converge | None:
        """``None``/``False``: off; ``True``: the defaults; a Converge or ``[iou, frames]``.

        Example:
            >>> Converge.of(True), Converge.of(None), Converge.of([0.8, 3])
            (Converge(iou=0.9, frames=5), None, Converge(iou=0.8, frames=3))
        """
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return cls(float(value[0]), value[1])
        raise SessionError(
            f"converge must be True, False, a sam2nb.Converge or [iou, frames], got {value!r}."
        )


@dataclass
class Watch:
    """One pass's count of frames in a row on which every object agreed."""

    rule: Converge
    streak: int = 0
    worst: float = 1.0  # the lowest IoU in the current streak
    settled_at: int | None = None  # the frame the pass stopped after, once it has

    def agree(self, ious: list[float | None]) -> bool:
        """Count one frame (its objects' IoUs, None: nothing stored there before).

        Returns:
            Whether the pass may stop after this frame.
        """
        low = min((-1.0 if v is None else float(v) for v in ious), default=-1.0)
        if low >= self.rule.iou:
            self.worst = low if self.streak == 0 else min(self.worst, low)
            self.streak += 1
        else:
            self.streak, self.worst = 0, 1.0
        return self.streak >= self.rule.frames


def record_ious(new: dict, old: dict) -> list[float | None]:
    """Mask IoU between each new record and the stored one it replaces (None: none stored).

    Both are ``{obj_id: MaskRecord}``; IoU is computed on the RLEs, without decoding.
    """
    out: list[float | None] = []
    for o, rec in new.items():
        prev = old.get(o)
        if prev is None:
            out.append(None)
        elif rec.area == 0 and prev.area == 0:
            out.append(1.0)
        elif rec.area == 0 or prev.area == 0:
            out.append(0.0)
        else:
            out.append(rle_iou(rec.rle, prev.rle))
    return out


@dataclass(frozen=True)
class Settled:
    """Where a pass stopped because it agreed with the stored results.

    Attributes:
        frame_idx: the last frame it tracked.
        reverse: which way the pass went.
        skipped: the frames it would have tracked after that and kept as they were.
        worst_iou: the lowest IoU over the frames that agreed.
    """

    frame_idx: int
    reverse: bool
    skipped: int
    worst_iou: float

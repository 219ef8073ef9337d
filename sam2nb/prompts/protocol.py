"""What every session offers the views: the one contract of video and image sessions.

:class:`~sam2nb.Session` (a video) and :class:`~sam2nb.ImageSession` (one picture) both
satisfy :class:`SessionLike`; the prompt editor, the exports, the track table and the picker
program against it and never against either class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from ..media.video import VideoSource
    from ..model.engine import Engine
    from ..storage.store import FrameResult, ResultStore
    from .checks import TrackedObject
    from .log import PromptLog


@runtime_checkable
class SessionLike(Protocol):
    """Objects, their prompts (the log) and their masks (the store) on a video or a picture.

    Attributes:
        video: the frames (a picture is a one-frame video).
        engine: the model the masks come from.
        objects: ``{obj_id: TrackedObject}``.
        log: every prompt and object change, in order.
        results: every mask and score.

    Example:
        >>> import numpy as np, sam2nb as s2
        >>> isinstance(s2.ImageSession(np.zeros((8, 8, 3), np.uint8), s2.load("test")),
        ...            SessionLike)
        True
    """

    video: VideoSource
    engine: Engine
    objects: dict[int, TrackedObject]
    log: PromptLog
    results: ResultStore

    @property
    def untrained(self) -> bool:
        """True when the masks come from an untrained (random-weight) model."""

    def add_object(
        self, obj_id: int | None = None, name: str | None = None, color: Any = None
    ) -> TrackedObject:
        """Add an object (the next free id when ``obj_id`` is None)."""

    def rename_object(
        self, obj_id: int, name: str | None = None, color: Any = None
    ) -> TrackedObject:
        """Give an object another name or colour."""

    def remove_object(self, obj_id: int) -> None:
        """Remove an object with its prompts and masks."""

    def add_points(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any = None, *, clear: bool = False
    ) -> FrameResult:
        """Clicks ``(x, y)`` with labels 1 (positive) / 0 (negative)."""

    def add_box(
        self, frame_idx: int, obj_id: int, box: Any, points: Any = None, labels: Any = None
    ) -> FrameResult:
        """A box ``[x0, y0, x1, y1]`` (and optional clicks)."""

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> FrameResult:
        """A mask prompt ``(H, W)`` bool."""

    def clear_frame(self, frame_idx: int, obj_id: int | None = None) -> FrameResult:
        """Remove a frame's prompts (for one object, or all)."""

    def frame(self, frame_idx: int) -> FrameResult:
        """A frame's masks and scores."""

    def masks(self, frame_idx: int) -> dict[int, np.ndarray]:
        """A frame's masks, ``{obj_id: (H, W) bool}``."""

    def prompt_frames(self, obj_id: int | None = None) -> list[int]:
        """Frames with prompts (for one object, or any)."""


@runtime_checkable
class FastUndo(Protocol):
    """A session that undoes its last prompt (and redoes it) with no model run.

    :class:`~sam2nb.Session` is one; the editor replays prompts on sessions that are not.
    """

    def undo_point(self) -> Any:
        """What the last prompt replaced, while it is the log's last entry (else None)."""

    def undo_last(self, point: Any, earlier: list, then: Any = None) -> FrameResult | None:
        """Put the frame back as before ``point``'s prompt (None: too late, replay instead)."""

    def redo_point(self) -> Any:
        """What the last fast undo took back, while redoing it is exact (else None)."""

    def redo_last(self, point: Any) -> FrameResult | None:
        """Put back what a fast undo took back (None: not exact, send the prompt again)."""


@runtime_checkable
class Kept(Protocol):
    """A session kept in a folder as it happens: its journal (None while in memory only)."""

    journal: Any


@runtime_checkable
class HoldsFeatures(Protocol):
    """A session that can say whether a prompt on a frame needs the image encoder first."""

    def features_ready(self, frame_idx: int) -> bool:
        """Whether the frame's image features are held."""

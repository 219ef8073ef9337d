"""What a prompt is made of: objects, and the checks every click, box and mask passes.

The checks are shared by video and image sessions; the record of prompts is the typed
:class:`~sam2nb.prompts.log.PromptLog`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..base.colors import default_color, parse_color
from ..base.errors import PromptError, SessionError


@dataclass
class TrackedObject:
    """An object tracked in a session.

    Attributes:
        obj_id: sam2's object id (an integer, 1 and up by default).
        name: a label for tables and legends.
        color: ``(r, g, b)`` 0-255 for overlays.
    """

    obj_id: int
    name: str
    color: tuple[int, int, int]

    def to_json(self) -> dict:
        """As a JSON-ready dict."""
        d = asdict(self)
        d["color"] = list(self.color)
        return d


def check_obj_id(obj_id: Any) -> int:
    """Object ids are integers (sam2 accepts any hashable; exports need integers)."""
    if isinstance(obj_id, bool) or not isinstance(obj_id, (int,)) and not _is_np_int(obj_id):
        raise PromptError(f"obj_id must be an integer, got {obj_id!r}.")
    return int(obj_id)


def new_object(objects: dict, obj_id: Any, name: Any, color: Any) -> TrackedObject:
    """A new object for a session's ``objects`` (ids count up from 1), checked, not added.

    Example:
        >>> new_object({}, None, None, "red")
        TrackedObject(obj_id=1, name='object 1', color=(255, 0, 0))
    """
    oid = max(objects, default=0) + 1 if obj_id is None else check_obj_id(obj_id)
    if oid in objects:
        raise SessionError(f"Object {oid} exists already; pick another obj_id or leave it out.")
    rgb = default_color(oid) if color is None else parse_color(color)
    return TrackedObject(oid, str(name) if name is not None else f"object {oid}", rgb)


def known_object(objects: dict, obj_id: Any, add_with: str = "session.add_object") -> int:
    """``obj_id`` as an int, or a :class:`SessionError` naming the objects there are.

    Example:
        >>> known_object({}, 3)
        Traceback (most recent call last):
        ...
        sam2nb.base.errors.SessionError: There is no object 3 (objects: none yet): add it with session.add_object(3).
    """  # noqa: E501
    oid = check_obj_id(obj_id)
    if oid not in objects:
        known = list(objects) or "none yet"
        raise SessionError(
            f"There is no object {oid} (objects: {known}): add it with {add_with}({oid})."
        )
    return oid


def rename(obj: TrackedObject, name: Any, color: Any) -> tuple[str | None, Any]:
    """Give ``obj`` another name or colour (None: keep it); the changes, for the log."""
    rgb = None if color is None else parse_color(color)
    if name is not None:
        obj.name = str(name)
    if rgb is not None:
        obj.color = rgb
    return (None if name is None else str(name)), rgb


def check_mask(mask: Any, width: int, height: int) -> tuple[Any, dict]:
    """Validate a mask prompt: ``(H, W)`` bool or 0/1, not empty. Returns it and its RLE.

    Example:
        >>> import numpy as np
        >>> check_mask(np.eye(2), 2, 2)[1]["size"]
        [2, 2]
    """
    import numpy as np

    from ..storage.store import encode_masks

    m = np.asarray(mask)
    if m.shape != (height, width):
        raise PromptError(f"the mask is {m.shape} but frames are {height}x{width} (height, width).")
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise PromptError("a mask must be bool or 0/1 values.")
        m = m.astype(bool)
    if not m.any():
        raise PromptError("the mask is empty: draw at least one pixel of the object.")
    rle = encode_masks(m[None])[0]
    return m, {"size": rle["size"], "counts": rle["counts"].decode()}


def _is_np_int(v: Any) -> bool:
    try:
        import numpy as np

        return isinstance(v, np.integer)
    except ImportError:  # pragma: no cover
        return False


def check_points(
    points: Sequence | np.ndarray | None,
    labels: Sequence | np.ndarray | None,
    width: int,
    height: int,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate clicks: finite ``(x, y)`` pixels inside the image, labels 1 (positive) or 0.

    Example:
        >>> check_points([(5, 5)], [1], 10, 10)[0].tolist()
        [[5.0, 5.0]]
    """
    if points is None or len(points) == 0:
        if labels is not None and len(labels):
            raise PromptError("labels were given without points.")
        return None, None
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise PromptError(f"points must be a list of (x, y) pairs, got shape {pts.shape}.")
    lab = np.ones(len(pts), np.int32) if labels is None else np.asarray(labels)
    if lab.shape != (len(pts),):
        raise PromptError(f"{len(pts)} points but {lab.size} labels: give one label per point.")
    if not np.isin(lab, (0, 1)).all():
        raise PromptError(f"labels must be 1 (positive) or 0 (negative), got {lab.tolist()}.")
    if not np.isfinite(pts).all():
        raise PromptError(f"points must be finite numbers, got {pts.tolist()}.")
    outside = (pts[:, 0] < 0) | (pts[:, 0] > width) | (pts[:, 1] < 0) | (pts[:, 1] > height)
    if outside.any():
        x, y = pts[outside][0]
        raise PromptError(
            f"point ({x:g}, {y:g}) is outside the {width}x{height} image: clicks are (x, y) "
            "pixels with 0 <= x <= width and 0 <= y <= height."
        )
    return pts.astype(np.float32), lab.astype(np.int32)


def check_box(box: Sequence | np.ndarray | None, width: int, height: int) -> np.ndarray | None:
    """Validate a box ``[x0, y0, x1, y1]`` in pixels: finite, inside the image, positive area.

    Example:
        >>> check_box([1, 2, 8, 9], 10, 10).tolist()
        [1.0, 2.0, 8.0, 9.0]
    """
    if box is None:
        return None
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,):
        raise PromptError(f"a box is [x0, y0, x1, y1], got {np.asarray(box).tolist()}.")
    if not np.isfinite(b).all():
        raise PromptError(f"box coordinates must be finite numbers, got {b.tolist()}.")
    x0, y0, x1, y1 = b
    if x1 <= x0 or y1 <= y0:
        raise PromptError(
            f"box {b.tolist()} has x1 <= x0 or y1 <= y0 (zero or negative area): give "
            "[x0, y0, x1, y1] with the top-left corner first."
        )
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise PromptError(f"box {b.tolist()} reaches outside the {width}x{height} image.")
    return b.astype(np.float32)

"""Objects and the prompt log of a tracking session.

The prompt log is a JSON list of operations (``add_object``, ``points``, ``box``, ``mask``,
``clear_frame``, ``remove_object``, ``propagate``) in the order they happened. It is what a
saved session replays, what ``sam2nb track --prompts FILE`` reads, and what you can replay on
another model variant.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .image import PromptError

# tab10, the colours matplotlib users already know for "object 1, 2, 3..."
PALETTE: list[tuple[int, int, int]] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]

OPS = ("add_object", "points", "box", "mask", "clear_frame", "remove_object", "propagate")


def default_color(obj_id: int) -> tuple[int, int, int]:
    """The palette colour for an object id (tab10, cycling).

    Example:
        >>> default_color(1)
        (31, 119, 180)
    """
    return PALETTE[(int(obj_id) - 1) % len(PALETTE)]


def parse_color(color: Any) -> tuple[int, int, int]:
    """Accept ``(r, g, b)`` 0-255, ``"#rrggbb"`` or a matplotlib colour name.

    Example:
        >>> parse_color("#ff8000")
        (255, 128, 0)
    """
    if isinstance(color, str):
        s = color.strip()
        if s.startswith("#") and len(s) == 7:
            try:
                return tuple(int(s[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
            except ValueError:
                pass
        try:
            from matplotlib.colors import to_rgb

            return tuple(round(c * 255) for c in to_rgb(s))  # type: ignore[return-value]
        except (ImportError, ValueError):
            raise PromptError(
                f"colour {color!r} is not understood: use '#rrggbb', a name like 'red', "
                "or an (r, g, b) tuple of 0-255 integers."
            ) from None
    try:
        rgb = tuple(int(c) for c in color)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise PromptError(f"colour {color!r} must be (r, g, b) with 0-255 integers.")
    return rgb  # type: ignore[return-value]


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


def check_mask(mask: Any, width: int, height: int) -> tuple[Any, dict]:
    """Validate a mask prompt: ``(H, W)`` bool or 0/1, not empty. Returns it and its RLE.

    Example:
        >>> import numpy as np
        >>> check_mask(np.eye(2), 2, 2)[1]["size"]
        [2, 2]
    """
    import numpy as np

    from .store import encode_masks

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


def entry(op: str, **fields: Any) -> dict:
    """A prompt-log entry (with the time it was made).

    Example:
        >>> entry("points", frame_idx=0, obj_id=1, points=[[5, 5]], labels=[1])["op"]
        'points'
    """
    if op not in OPS:
        raise PromptError(f"unknown prompt-log operation {op!r}; known: {', '.join(OPS)}.")
    return {"op": op, **fields, "t": round(time.time(), 3)}


def read_log(path: str | os.PathLike) -> list[dict]:
    """Read a prompt log: a JSON list of entries, or a saved session's ``session.json``.

    Raises:
        PromptError: the file is missing, not JSON, or has an entry without a known ``op``.
    """
    p = Path(path)
    if not p.is_file():
        raise PromptError(f"No prompt file at {p}.")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise PromptError(f"{p} is not valid JSON ({exc}).") from exc
    log = data.get("prompt_log") if isinstance(data, dict) else data
    if not isinstance(log, list):
        raise PromptError(
            f"{p} must hold a list of prompt entries, e.g. "
            '[{"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[x, y]], "labels": [1]}].'
        )
    for i, e in enumerate(log):
        if not isinstance(e, dict) or e.get("op") not in OPS:
            raise PromptError(f"{p}: entry {i} ({e!r}) needs an 'op', one of {', '.join(OPS)}.")
    return log

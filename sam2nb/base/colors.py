"""The colours of objects and masks, shared by every view."""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .errors import PromptError

Color = tuple[int, int, int]

# tab10, the colours matplotlib users already know for "object 1, 2, 3..."
PALETTE: list[Color] = [
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


def default_color(obj_id: int) -> Color:
    """The palette colour for an object id (tab10, cycling).

    Example:
        >>> default_color(1)
        (31, 119, 180)
        >>> default_color(11) == default_color(1)
        True
    """
    return PALETTE[(int(obj_id) - 1) % len(PALETTE)]


def color_of(colors: Mapping[int, Iterable[int]] | None, obj_id: int) -> Color:
    """An object's colour from a mapping, or the palette's.

    Example:
        >>> color_of({2: (1, 2, 3)}, 2), color_of(None, 2)
        ((1, 2, 3), (255, 127, 14))
    """
    if colors and obj_id in colors:
        return tuple(colors[obj_id])  # type: ignore[return-value]
    return default_color(obj_id)


def parse_color(color: Any) -> Color:
    """Accept ``(r, g, b)`` 0-255, ``"#rrggbb"`` or a matplotlib colour name.

    Raises:
        PromptError: the colour is not understood (the message lists what is).

    Example:
        >>> parse_color("#ff8000")
        (255, 128, 0)
        >>> parse_color("red")
        (255, 0, 0)
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


def hex_color(rgb: Iterable[int]) -> str:
    """``(r, g, b)`` as ``"#rrggbb"``.

    Example:
        >>> hex_color((255, 128, 0))
        '#ff8000'
    """
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def mask_colors(n: int) -> np.ndarray:
    """``n`` distinct RGB colours (golden-ratio hues), ``(n, 3)`` uint8.

    Example:
        >>> mask_colors(3).shape
        (3, 3)
    """
    out = np.zeros((max(n, 0), 3), np.uint8)
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.75, 1.0)
        out[i] = (int(r * 255), int(g * 255), int(b * 255))
    return out

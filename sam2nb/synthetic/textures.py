"""Procedural pictures for synthetic ground-truth scenes: backgrounds, object skins, shapes.

Everything is drawn from a ``numpy`` random generator, so the same seed gives the same pixels.
Backgrounds are larger than the frame so a scene can pan across them; an object's skin is a
square sprite (with two smaller copies for objects drawn small) that the scene warps onto the
object's outline, so the texture moves, turns and scales with the object.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

SHAPES = ("disc", "ellipse", "rectangle", "triangle", "star", "blob")
BACKGROUNDS = ("terrain", "tiles", "grain", "pebbles")
SKINS = ("spots", "stripes", "checker", "marble")
EXTENT = 1.25  # a shape's outline lies within this radius (in units of the object's radius)


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float, ch: int = 1) -> np.ndarray:
    """Smooth random noise in ``[0, 1]``, ``(h, w, ch)`` float32, features about ``cell`` px wide.

    Example:
        >>> n = value_noise(np.random.default_rng(0), 30, 40, 8)
        >>> n.shape, n.dtype, bool(0 <= n.min() and n.max() <= 1)
        ((30, 40, 1), dtype('float32'), True)
    """
    cell = max(float(cell), 1.0)
    gh, gw = int(np.ceil(h / cell)) + 3, int(np.ceil(w / cell)) + 3
    grid = rng.random((gh, gw, ch), dtype=np.float32)
    up = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    up = up.reshape(up.shape[0], up.shape[1], ch)
    c = int(cell)
    return np.clip(up[c : c + h, c : c + w], 0.0, 1.0)


def fractal(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """Noise summed over octaves (each half the size and weight of the last), ``(h, w)`` in [0, 1].

    Example:
        >>> fractal(np.random.default_rng(0), 16, 24, 8).shape
        (16, 24)
    """
    out = np.zeros((h, w), np.float32)
    total = 0.0
    for k in range(octaves):
        weight = 0.5**k
        out += weight * value_noise(rng, h, w, cell / 2**k)[..., 0]
        total += weight
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour (float32, 0-255) from hue, saturation and value in ``[0, 1]``.

    Example:
        >>> hsv(0.0, 1.0, 1.0).tolist()
        [255.0, 0.0, 0.0]
    """
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255


def gradient(t: np.ndarray, colors: list[np.ndarray]) -> np.ndarray:
    """Map values in ``[0, 1]`` to colours spread evenly along ``colors``: ``(..., 3)`` float32.

    Example:
        >>> gradient(np.array([0.0, 0.5, 1.0]), [hsv(0, 0, 0), hsv(0, 0, 1)])[:, 0].tolist()
        [0.0, 127.5, 255.0]
    """
    stops = np.linspace(0.0, 1.0, len(colors))
    cols = np.stack(colors)
    return np.stack([np.interp(t, stops, cols[:, c]) for c in range(3)], -1).astype(np.float32)


def _palette(rng: np.random.Generator, n: int, sat: tuple, val: tuple) -> list[np.ndarray]:
    hue = rng.random()
    return [
        hsv(hue + rng.uniform(-0.12, 0.12), rng.uniform(*sat), rng.uniform(*val)) for _ in range(n)
    ]


def background(rng: np.random.Generator, h: int, w: int, style: str | None = None) -> np.ndarray:
    """A textured background ``(h, w, 3)`` uint8: ``terrain``, ``tiles``, ``grain`` or ``pebbles``.

    Colours are muted (objects are saturated), with structure at several sizes: broad patches,
    a pattern of tens of pixels and a fine grain.

    Example:
        >>> background(np.random.default_rng(0), 60, 80, "tiles").shape
        (60, 80, 3)
    """
    style = style or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    side = min(h, w)
    cols = _palette(rng, 3, (0.15, 0.45), (0.25, 0.7))
    broad = fractal(rng, h, w, side / 3, 3)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    if style == "tiles":
        tw = rng.uniform(0.08, 0.16) * side + 10
        th = tw * rng.uniform(0.45, 0.8)
        row = (yy // th).astype(int)
        shift = (row % 2) * tw / 2
        col = ((xx + shift) // tw).astype(int)
        jitter = rng.random((row.max() + 2, col.max() + 2), dtype=np.float32)
        img = gradient(np.clip(0.6 * jitter[row, col] + 0.4 * broad, 0, 1), cols)
        mortar = ((yy % th) < 2.5) | (((xx + shift) % tw) < 2.5)
        img[mortar] *= 0.45
    elif style == "grain":
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.03, 0.07) * side + 4
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period
        warp = fractal(rng, h, w, side / 4, 3)
        img = gradient(0.5 + 0.5 * np.sin(phase + 8 * warp), cols) * (0.75 + 0.5 * broad[..., None])
    else:
        img = gradient(fractal(rng, h, w, side / 2.5, 5), cols)
        if style == "pebbles":
            canvas = np.ascontiguousarray(img)
            for _ in range(int(h * w / (0.012 * side * side))):
                c = cols[int(rng.integers(3))] * rng.uniform(0.6, 1.3)
                r = rng.uniform(0.008, 0.03) * side + 1
                cv2.ellipse(
                    canvas,
                    (int(rng.integers(w)), int(rng.integers(h))),
                    (int(r * rng.uniform(0.6, 1.6)), int(r)),
                    float(rng.uniform(0, 180)),
                    0,
                    360,
                    c.tolist(),
                    -1,
                    cv2.LINE_AA,
                )
            img = cv2.GaussianBlur(canvas, (3, 3), 0)
    img = img * (0.8 + 0.4 * fractal(rng, h, w, side / 12, 3)[..., None])
    img += (value_noise(rng, h, w, 1.5)[..., 0, None] - 0.5) * 36
    return np.clip(img, 0, 255).astype(np.uint8)


def polygon(shape: str, rng: np.random.Generator) -> np.ndarray:
    """A shape's outline ``(N, 2)`` around ``(0, 0)``, radius about 1 (a blob's is random).

    Example:
        >>> polygon("triangle", np.random.default_rng(0)).shape
        (3, 2)
        >>> float(np.abs(polygon("disc", np.random.default_rng(0))).max()) <= 1
        True
    """
    if shape in ("disc", "ellipse"):
        a = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        sy = 1.0 if shape == "disc" else 0.6
        return np.stack([np.cos(a), sy * np.sin(a)], 1)
    if shape == "rectangle":
        return np.array([[-1.0, -0.65], [1.0, -0.65], [1.0, 0.65], [-1.0, 0.65]])
    if shape == "triangle":
        a = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return 1.15 * np.stack([np.cos(a), np.sin(a)], 1)
    if shape == "star":
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.2, 0.5)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)
    if shape == "blob":
        a = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        r = np.ones_like(a)
        for k in (2, 3, 4):
            r += rng.uniform(0.05, 0.22) / (k - 1) ** 0.5 * np.cos(k * a + rng.uniform(0, 6.3))
        r *= 1.05 / r.max()
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)
    raise ValueError(f"unknown shape {shape!r}; shapes: {', '.join(SHAPES)}")


def skin(rng: np.random.Generator, size: int, style: str | None = None) -> np.ndarray:
    """An object's texture, ``(size, size, 3)`` uint8, in one of :data:`SKINS`.

    Saturated colours and a soft light from the top left, so objects stand out from the
    muted backgrounds yet are not flat colour.

    Example:
        >>> skin(np.random.default_rng(0), 32, "checker").shape
        (32, 32, 3)
    """
    style = style or SKINS[int(rng.integers(len(SKINS)))]
    hue = rng.random()
    base = hsv(hue, rng.uniform(0.55, 0.9), rng.uniform(0.65, 0.95))
    other = hsv(hue + rng.uniform(0.25, 0.6), rng.uniform(0.5, 0.9), rng.uniform(0.35, 0.9))
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    c = (size - 1) / 2
    cell = size / rng.uniform(4, 8)
    if style == "stripes":
        a = rng.uniform(0, np.pi)
        warp = 3 * fractal(rng, size, size, size / 3)
        t = (xx * np.cos(a) + yy * np.sin(a)) / cell * np.pi + warp
        img = gradient(0.5 + 0.5 * np.sin(t), [base, other])
    elif style == "checker":
        a = rng.uniform(0, np.pi / 2)
        u, v = xx * np.cos(a) + yy * np.sin(a), -xx * np.sin(a) + yy * np.cos(a)
        img = gradient(((u // cell + v // cell) % 2).astype(np.float32), [base, other])
    elif style == "marble":
        t = fractal(rng, size, size, size / 2.5, 5)
        img = gradient(0.5 + 0.5 * np.sin(12 * t), [base, other, base * 0.6])
    else:  # spots
        canvas = np.ascontiguousarray(np.broadcast_to(base, (size, size, 3)).copy())
        for _ in range(int(rng.integers(10, 22))):
            r = rng.uniform(0.04, 0.11) * size + 1
            cv2.circle(
                canvas,
                (int(rng.integers(size)), int(rng.integers(size))),
                int(r),
                (other * rng.uniform(0.8, 1.1)).tolist(),
                -1,
                cv2.LINE_AA,
            )
        img = canvas
    img = img * (0.85 + 0.3 * fractal(rng, size, size, size / 6, 3)[..., None])
    light = 1.15 - 0.45 * np.hypot(xx - 0.7 * c, yy - 0.7 * c) / (1.9 * c)
    img = img * light[..., None] + (value_noise(rng, size, size, 1.5)[..., 0, None] - 0.5) * 20
    return np.clip(img, 0, 255).astype(np.uint8)


def pyramid(sprite: np.ndarray, levels: int = 3) -> list[np.ndarray]:
    """The sprite and copies of half, a quarter ... its size (drawn small without aliasing).

    Example:
        >>> [p.shape[0] for p in pyramid(np.zeros((64, 64, 3), np.uint8))]
        [64, 32, 16]
    """
    out = [sprite]
    for _ in range(levels - 1):
        if min(out[-1].shape[:2]) < 8:
            break
        out.append(cv2.pyrDown(out[-1]))
    return out

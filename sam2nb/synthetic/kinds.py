"""The kinds of synthetic scene: what moves where, each kind stressing one thing.

A kind is a function that lays out objects on a :class:`Builder` in frame fractions (``x`` of
the width, ``y`` of the height) over video time ``u`` from 0 (first frame) to 1 (last), so a
scene of any size and length keeps its story. A seeded builder jitters the layout, picks shapes
and textures, and may mirror the whole scene left-right and top-bottom.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import textures as tx


@dataclass
class SceneObject:
    """One object of a scene: its outline, texture and keyframed motion.

    Attributes:
        obj_id: its id (1, 2, ...), the pixel value of its label.
        shape: ``disc``, ``ellipse``, ``rectangle``, ``triangle``, ``star`` or ``blob``.
        radius: its size in pixels at scale 1 (the outline's radius is about 1).
        depth: drawing order; a larger depth is nearer the camera and hides smaller ones.
        keys: ``(K, 5)`` keyframes ``(frame time, x, y, scale, angle)``, linear in between.
        outline: ``(N, 2)`` polygon of the shape at radius 1.
        sprites: its texture and smaller copies of it.
        skin: the texture style.
        look_alike_of: the object it copies (same shape, size and texture), or None.
        first_frame: the first frame where some of it is visible (None if never).
        last_frame: the last frame where some of it is visible.
    """

    obj_id: int
    shape: str
    radius: float
    depth: int
    keys: np.ndarray = field(repr=False)
    outline: np.ndarray = field(repr=False)
    sprites: list[np.ndarray] = field(repr=False)
    skin: str = ""
    look_alike_of: int | None = None
    first_frame: int | None = None
    last_frame: int | None = None

    def place(self, t: float) -> tuple[float, float, float, float]:
        """``(x, y, scale, angle)`` at frame time ``t`` (fractional times are in between)."""
        k = self.keys
        return tuple(float(np.interp(t, k[:, 0], k[:, j])) for j in range(1, 5))  # type: ignore

    def to_dict(self) -> dict:
        """What the scene's JSON says about the object."""
        return {
            "obj_id": self.obj_id,
            "shape": self.shape,
            "skin": self.skin,
            "look_alike_of": self.look_alike_of,
            "depth": self.depth,
            "radius": round(self.radius, 2),
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
        }


class Builder:
    """Lays out one scene from a random generator: objects, camera pan, shutter.

    Args:
        rng: the scene's random generator (every choice is drawn from it, in order).
        size: frame ``(width, height)``.
        frames: number of frames.
    """

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], frames: int):
        self.rng, self.w, self.h, self.frames = rng, int(size[0]), int(size[1]), int(frames)
        self.unit = 0.11 * min(self.w, self.h)  # the radius of an object of size 1
        self.flip = (bool(rng.random() < 0.5), bool(rng.random() < 0.5))
        self.objects: list[SceneObject] = []
        self.shutter = 0.0
        self.pan_keys: list[tuple[float, float, float]] = []

    def j(self, a: float) -> float:
        """A random nudge in ``[-a, a]``."""
        return float(self.rng.uniform(-a, a))

    def out(self, axis: str, size: float = 1.0, scale: float = 1.0) -> float:
        """How far past the border (a frame fraction) an object of ``size`` is wholly out."""
        side = (self.w if axis == "x" else self.h) - 1
        return (tx.EXTENT * 1.1 * self.unit * size * scale + 2) / side

    def at(self, frame: int) -> float:
        """Video time ``u`` of a frame (for keys that must land on a frame exactly)."""
        return frame / max(self.frames - 1, 1)

    def add(
        self,
        keys: list[tuple],
        *,
        size: float = 1.0,
        depth: int = 0,
        shape: str | None = None,
        twin: SceneObject | None = None,
        radius: float | None = None,
    ) -> SceneObject:
        """Add an object moving through ``keys`` ``(u, x, y[, scale])``; a ``twin`` is copied.

        Keys whose time does not come after the previous key's (short videos) are dropped.
        """
        rng = self.rng
        if twin is not None:
            shape, radius, outline = twin.shape, twin.radius, twin.outline
            sprites, skin = twin.sprites, twin.skin
        else:
            shape = shape or tx.SHAPES[int(rng.integers(len(tx.SHAPES)))]
            radius = radius or self.unit * size * float(rng.uniform(0.9, 1.1))
            outline = tx.polygon(shape, rng)
            skin = tx.SKINS[int(rng.integers(len(tx.SKINS)))]
            top = max([k[3] for k in keys if len(k) > 3] + [1.0])
            sprites = tx.pyramid(tx.skin(rng, 2 * math.ceil(tx.EXTENT * radius * top) + 1, skin))
        a0, spin = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(-1.2, 1.2))
        span = max(self.frames - 1, 1)
        rows: list[tuple[float, ...]] = []
        for k in keys:
            u, fx, fy, s = (*k, 1.0) if len(k) == 3 else k
            if rows and u * span <= rows[-1][0] + 1e-9:
                continue
            fx, fy = (1 - fx if self.flip[0] else fx), (1 - fy if self.flip[1] else fy)
            rows.append((u * span, fx * (self.w - 1), fy * (self.h - 1), s, a0 + spin * u))
        obj = SceneObject(
            len(self.objects) + 1,
            shape,
            float(radius),
            depth,
            np.array(rows),
            outline,
            sprites,
            skin,
            twin.obj_id if twin is not None else None,
        )
        self.objects.append(obj)
        return obj

    def camera(self) -> tuple[np.ndarray, np.ndarray]:
        """The background (larger than the frame) and its pan keys ``(t, x, y)`` into it."""
        if not self.pan_keys:  # a slow drift, slightly curved
            a = float(self.rng.uniform(0, 2 * np.pi))
            d = float(self.rng.uniform(0.08, 0.22)) * self.w
            bend = self.j(0.3)
            self.pan_keys = [
                (0, 0, 0),
                (0.5, d / 2 * math.cos(a + bend), d / 2 * math.sin(a + bend)),
                (1, d * math.cos(a), d * math.sin(a)),
            ]
        keys = np.array(self.pan_keys, float)
        keys[:, 0] *= max(self.frames - 1, 1)
        keys[:, 1:] -= keys[:, 1:].min(0) - 2
        bw, bh = (
            int(np.ceil(keys[:, 1].max())) + self.w + 4,
            int(np.ceil(keys[:, 2].max())) + self.h + 4,
        )
        return tx.background(self.rng, bh, bw), keys


def occlusion(b: Builder) -> None:
    """A big object passes in front of another mid-video (partly or wholly hiding it)."""
    y = 0.5 + b.j(0.05)
    b.add([(0, 0.32 + b.j(0.04), y), (1, 0.58 + b.j(0.04), y + b.j(0.04))], depth=1)
    fy = y + b.j(0.03)
    b.add([(0, 0.93, fy), (1, 0.07, fy + b.j(0.04))], size=float(b.rng.uniform(1.0, 1.25)), depth=3)
    b.add([(0, 0.12, 0.15), (1, 0.42, 0.17)], size=0.6, depth=2)
    b.add([(0, 0.88, 0.85), (1, 0.62, 0.83)], size=0.6, depth=0)


def entries(b: Builder) -> None:
    """One enters from the side, one leaves, one leaves and comes back, one enters late."""
    ox, oy = b.out("x", 0.9), b.out("y", 0.9)
    b.add([(0, -ox, 0.3 + b.j(0.03)), (1, 0.45 + b.j(0.04), 0.34)], size=0.9)
    b.add([(0, 0.56, 0.68), (0.55 + b.j(0.05), 1 + ox, 0.7), (1, 1 + ox, 0.7)], size=0.9)
    b.add(
        [(0, 0.78, 0.32), (0.3, 0.76, -oy), (0.5, 0.74, -oy), (0.8, 0.72, 0.35), (1, 0.7, 0.36)],
        size=0.9,
    )
    late = 0.62 + b.j(0.05)
    b.add([(0, 0.25, 1 + oy), (late, 0.25, 1 + oy), (1, 0.28, 0.72)], size=0.9)


def lookalikes(b: Builder) -> None:
    """Twins (same shape, size, texture) cross paths; two twin discs meet and part, kissing."""
    first = b.add([(0, 0.1, 0.40), (1, 0.9, 0.52)], depth=1)
    b.add([(0, 0.9, 0.46), (1, 0.1, 0.58)], twin=first, depth=2)
    r = b.unit * 0.55 * float(b.rng.uniform(0.9, 1.1))
    mid, dx = round((b.frames - 1) / 2), (r + 1.5) / (b.w - 1)  # 3 px apart at the kiss

    def keys(x0: float, x1: float, side: int) -> list[tuple]:
        x = 0.5 + side * dx
        return [(0, x0, 0.84), (b.at(mid - 1), x, 0.84), (b.at(mid + 1), x, 0.84), (1, x1, 0.84)]

    kiss = b.add(keys(0.12, 0.22, -1), shape="disc", radius=r)
    b.add(keys(0.88, 0.78, 1), twin=kiss)
    b.add([(0, 0.8, 0.14), (1, 0.25, 0.13)], size=0.6, depth=3)


def scale_blur(b: Builder) -> None:
    """One object grows, one shrinks; a third sprints (motion blur) while the camera swings."""
    b.shutter = 0.9
    b.add([(0, 0.22, 0.52, 0.45), (1, 0.3, 0.5, 1.45)], depth=1)
    b.add([(0, 0.77, 0.5, 1.4), (1, 0.7, 0.52, 0.5)], depth=1)
    s0 = 0.35 + b.j(0.05)
    b.add(
        [(0, 0.08, 0.17), (s0, 0.14, 0.17), (s0 + 0.3, 0.9, 0.19), (1, 0.86, 0.19)],
        size=0.65,
        depth=2,
    )
    b.add([(0, 0.5, 0.86), (1, 0.4, 0.84)], size=0.5)
    swing = float(b.rng.uniform(0.25, 0.4)) * b.w
    b.pan_keys = [
        (0, 0, 0),
        (s0, 0.03 * b.w, 4),
        (s0 + 0.3, 0.03 * b.w + swing, 10),
        (1, 0.06 * b.w + swing, 12),
    ]


def mixed(b: Builder) -> None:
    """A bit of each: an occlusion, crossing twins, a late entry, growth and an exit, blur."""
    b.shutter = 0.6
    b.add([(0, 0.3, 0.25), (1, 0.55, 0.28)], size=0.85, depth=1)
    b.add([(0, 0.95, 0.27), (1, 0.05, 0.29)], size=1.05, depth=4)
    twin = b.add([(0, 0.08, 0.7), (1, 0.92, 0.78)], size=0.8, depth=2)
    b.add([(0, 0.92, 0.74), (1, 0.08, 0.82)], twin=twin, depth=3)
    ox, late = b.out("x", 0.7), 0.45 + b.j(0.05)
    b.add([(0, 1 + ox, 0.5), (late, 1 + ox, 0.5), (1, 0.62, 0.5)], size=0.7, depth=5)
    ox = b.out("x", 0.75, 1.3)
    b.add([(0, 0.14, 0.5, 0.6), (0.6, 0.12, 0.48, 1.2), (1, -ox, 0.46, 1.3)], size=0.75)


DESIGNS: dict[str, Callable[[Builder], None]] = {
    "occlusion": occlusion,
    "entries": entries,
    "lookalikes": lookalikes,
    "scale_blur": scale_blur,
    "mixed": mixed,
}

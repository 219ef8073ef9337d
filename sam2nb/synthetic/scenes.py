"""Synthetic ground-truth scenes: textured objects moving over a moving textured background.

These are **synthetic** videos whose truth is known exactly (they are drawn, not filmed), for
testing the quality tools where trained weights cannot be had. A :class:`Scene` is made from a
seed by :func:`make_scene` and draws each frame on demand:

- objects of several shapes (``disc``, ``ellipse``, ``rectangle``, ``triangle``, ``star``,
  ``blob``), each with its own texture that moves, turns and scales with it;
- a textured background that pans (a camera moving over it);
- occlusion in depth order: the truth of an object is its **visible** part;
- entries and exits through the frame border (an object is absent before it enters);
- look-alikes: objects with the same shape, size and texture under different ids;
- scale changes, and motion blur: with a shutter, a frame is the average of the scene over
  part of the frame interval, so fast objects and the background smear along their motion.
  **The masks stay the sharp geometry at the frame's own time**; the blur spills past them.

Each kind of scene stresses one thing (:data:`KINDS`): ``occlusion``, ``entries``,
``lookalikes``, ``scale_blur``, and ``mixed`` (a bit of each). The same seed gives the same
frames and label maps, byte for byte. :func:`sam2nb.synthetic.benchmark.synthetic_benchmark`
writes a set of them as a benchmark folder (videos, DAVIS palette PNGs, prompts, events).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..base.errors import ExportError
from ..media.overlay import runs
from . import textures as tx
from .kinds import DESIGNS, Builder, SceneObject

KINDS = ("occlusion", "entries", "lookalikes", "scale_blur", "mixed")
NEAR_PX = 4  # "near" / "cross": masks this close (pixels) or closer
HIDDEN = 0.3  # "occlusion": more than this share of the object (inside the frame) is hidden
BLUR_PX = 4.0  # "blur": the object moves at least this far (pixels) while the shutter is open
MIN_SIDE = 64
GENERATOR = "sam2nb.synthetic"
NOTE = "synthetic ground truth drawn by sam2nb.synthetic (not real footage)"


@dataclass
class _Placed:
    """An object drawn at one time: its mask inside the box at ``(x0, y0)``."""

    obj: SceneObject
    x0: int
    y0: int
    mask: np.ndarray
    x: float
    y: float
    r: float
    angle: float


def _rotation(a: float) -> np.ndarray:
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


class Scene:
    """A synthetic video with exact ground truth, drawn frame by frame (nothing is stored).

    Attributes:
        name: its name (``v000_occlusion`` in a benchmark).
        kind: one of :data:`KINDS`.
        seed: the seed it was made from (:func:`make_scene` with it makes it again).
        width, height: frame size in pixels.
        num_frames: number of frames.
        fps: frame rate.
        objects: the :class:`SceneObject` list by id (``depth`` says which hides which).
        shutter: the share of a frame interval the shutter is open (0: sharp frames).
        events: what happens, as dicts with a ``kind`` key (see :func:`make_scene`).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        seed: int,
        size: tuple[int, int],
        num_frames: int,
        fps: float,
        objects: list[SceneObject],
        background: np.ndarray,
        pan: np.ndarray,
        shutter: float = 0.0,
    ):
        self.name, self.kind, self.seed = name, kind, int(seed)
        self.width, self.height = int(size[0]), int(size[1])
        self.num_frames, self.fps, self.shutter = int(num_frames), float(fps), float(shutter)
        self.objects = sorted(objects, key=lambda o: o.obj_id)
        self._drawn = sorted(objects, key=lambda o: (o.depth, o.obj_id))  # back to front
        self.background, self.pan = background, pan
        self.events: list[dict] = []
        self._prompts: dict[int, dict] = {}
        self._analyse()

    def __repr__(self) -> str:
        return (
            f"Scene({self.name!r}, kind={self.kind!r}, {self.width}x{self.height}, "
            f"{self.num_frames} frames, {len(self.objects)} objects, "
            f"{len(self.events)} events; synthetic ground truth)"
        )

    def __len__(self) -> int:
        return self.num_frames

    def _check(self, i: int) -> int:
        if not 0 <= int(i) < self.num_frames:
            raise IndexError(f"frame {i} is outside the scene's {self.num_frames} frames")
        return int(i)

    def _place(self, o: SceneObject, t: float) -> _Placed | None:
        x, y, s, a = o.place(t)
        poly = np.array([x, y]) + (o.radius * s) * o.outline @ _rotation(a).T
        lo = np.floor(poly.min(0)).astype(int) - 1
        hi = np.ceil(poly.max(0)).astype(int) + 2
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]), self.width), min(int(hi[1]), self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round((poly - [x0, y0]) * 16).astype(np.int32)
        cv2.fillPoly(m, [pts], 1, cv2.LINE_8, 4)
        if not m.any():
            return None
        return _Placed(o, x0, y0, m.astype(bool), x, y, o.radius * s, a)

    def _geometry(self, t: float) -> list[_Placed]:
        return [p for o in self._drawn if (p := self._place(o, t)) is not None]

    def _paint(self, img: np.ndarray, p: _Placed) -> None:
        sprites = p.obj.sprites
        level = 0  # the smallest copy that is not enlarged
        while level + 1 < len(sprites) and (sprites[level + 1].shape[0] - 1) / 2 / tx.EXTENT >= p.r:
            level += 1
        sprite = sprites[level]
        half = (sprite.shape[0] - 1) / 2
        a = (p.r / (half / tx.EXTENT)) * _rotation(p.angle)
        shift = np.array([p.x - p.x0, p.y - p.y0]) - a @ [half, half]
        h, w = p.mask.shape
        tex = cv2.warpAffine(
            sprite,
            np.hstack([a, shift[:, None]]),
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        img[p.y0 : p.y0 + h, p.x0 : p.x0 + w][p.mask] = tex[p.mask]

    def _camera(self, t: float) -> np.ndarray:
        """Where the frame's top-left corner is in the background at time ``t``."""
        return np.array([np.interp(t, self.pan[:, 0], self.pan[:, c]) for c in (1, 2)])

    def _render(self, t: float) -> np.ndarray:
        ox, oy = self._camera(t)
        w, h = self.width, self.height
        img = cv2.getRectSubPix(self.background, (w, h), (ox + (w - 1) / 2, oy + (h - 1) / 2))
        for p in self._geometry(t):
            self._paint(img, p)
        return img

    def _smear(self, i: float) -> tuple[float, dict[int, float]]:
        """How far (pixels) the background and each object move while the shutter is open."""
        if self.shutter <= 0:
            return 0.0, {o.obj_id: 0.0 for o in self.objects}
        t0, t1 = i - self.shutter / 2, i + self.shutter / 2
        out = {}
        for o in self.objects:
            (xa, ya, sa, aa), (xb, yb, sb, ab) = o.place(t0), o.place(t1)
            turn = o.radius * (abs(sb - sa) + max(sa, sb) * abs(ab - aa))  # its rim moves so far
            out[o.obj_id] = float(np.hypot(xb - xa, yb - ya) + turn)
        return float(np.hypot(*(self._camera(t1) - self._camera(t0)))), out

    def frame(self, i: int, blur: bool = True) -> np.ndarray:
        """Frame ``i`` as drawn: ``(H, W, 3)`` uint8 RGB.

        With a shutter (``scale_blur`` and ``mixed`` scenes) the frame is the average of the
        scene at several times while the shutter is open: motion blur. ``blur=False`` draws
        the scene at the frame's time only (the sharp picture the masks describe).

        Example:
            >>> sc = make_scene(0, "scale_blur", size=(160, 96), frames=8)
            >>> sc.frame(4).shape, sc.frame(4).dtype
            ((96, 160, 3), dtype('uint8'))
        """
        i = self._check(i)
        pan, objs = self._smear(i)
        n = int(min(max(math.ceil(max(pan, *objs.values(), 0.0) / 1.5), 1), 16)) if blur else 1
        if n == 1:
            return self._render(i)
        acc = np.zeros((self.height, self.width, 3), np.float32)
        for t in np.linspace(i - self.shutter / 2, i + self.shutter / 2, n):
            acc += self._render(float(t))
        return np.rint(acc / n).astype(np.uint8)

    def labels(self, i: int) -> np.ndarray:
        """The truth of frame ``i``: ``(H, W)`` uint8, 0 background, else the visible object's id.

        Example:
            >>> sc = make_scene(0, "occlusion", size=(160, 96), frames=8)
            >>> lab = sc.labels(0)
            >>> lab.shape, sorted(set(np.unique(lab).tolist()) - {0}) == [1, 2, 3, 4]
            ((96, 160), True)
        """
        return self._labels(self._geometry(self._check(i)))

    def _labels(self, geo: list[_Placed]) -> np.ndarray:
        lab = np.zeros((self.height, self.width), np.uint8)
        for p in geo:
            h, w = p.mask.shape
            lab[p.y0 : p.y0 + h, p.x0 : p.x0 + w][p.mask] = p.obj.obj_id
        return lab

    def masks(self, i: int) -> dict[int, np.ndarray]:
        """``{obj_id: (H, W) bool}`` of the objects visible on frame ``i`` (after occlusion)."""
        lab = self.labels(i)
        return {o.obj_id: lab == o.obj_id for o in self.objects if (lab == o.obj_id).any()}

    def amodal(self, i: int) -> dict[int, np.ndarray]:
        """``{obj_id: (H, W) bool}``: each object's whole outline inside frame ``i``, hidden or not.

        Not the truth a tracker is scored on (that is :meth:`labels`, the visible parts); the
        hidden share of an object is ``1 - visible / amodal``.

        Example:
            >>> sc = make_scene(0, "occlusion", size=(160, 96), frames=8)
            >>> all((sc.amodal(3)[o] >= m).all() for o, m in sc.masks(3).items())
            True
        """
        out = {}
        for p in self._geometry(self._check(i)):
            m = np.zeros((self.height, self.width), bool)
            h, w = p.mask.shape
            m[p.y0 : p.y0 + h, p.x0 : p.x0 + w] = p.mask
            out[p.obj.obj_id] = m
        return out

    def prompts(self) -> dict[int, dict]:
        """One click and box per object, on the first frame where it is well visible.

        Well visible: at least ``min(200, W*H/1000)`` pixels (16 at the least) and half of the
        whole object (an object coming in through the border is prompted once half in). The
        click is the visible pixel farthest from the mask's edge (the distance transform's
        maximum); the box ``[x0, y0, x1, y1]`` bounds the visible mask
        (``x1``, ``y1`` one past the last pixel). An object never that visible gets its
        largest visible frame; one never visible has no prompt.

        Example:
            >>> p = make_scene(0, "entries", size=(160, 96), frames=12).prompts()
            >>> sorted(p[1])
            ['box', 'frame_idx', 'labels', 'points']
        """
        return {
            o: {k: (list(map(list, v)) if k == "points" else v) for k, v in p.items()}
            for o, p in self._prompts.items()
        }

    def to_dict(self) -> dict:
        """The scene as its JSON file holds it (size, objects, events; no pixels)."""
        return {
            "generator": GENERATOR,
            "synthetic": True,
            "note": NOTE,
            "name": self.name,
            "kind": self.kind,
            "seed": self.seed,
            "size": [self.width, self.height],
            "fps": self.fps,
            "num_frames": self.num_frames,
            "shutter": self.shutter,
            "objects": [o.to_dict() for o in self.objects],
            "events": [dict(e) for e in self.events],
        }

    def _prompt(self, vis: np.ndarray, x0: int, y0: int, frame_idx: int) -> dict:
        px, py = inside_point(vis)
        ys, xs = np.nonzero(vis)
        box = [
            x0 + int(xs.min()),
            y0 + int(ys.min()),
            x0 + int(xs.max()) + 1,
            y0 + int(ys.max()) + 1,
        ]
        return {
            "frame_idx": frame_idx,
            "points": [[x0 + int(px), y0 + int(py)]],
            "labels": [1],
            "box": box,
        }

    def _analyse(self) -> None:
        """Measure every frame's truth and derive the events, first frames and prompts."""
        objs, n, nf = self.objects, len(self.objects), self.num_frames
        col = {o.obj_id: k for k, o in enumerate(objs)}
        area = np.zeros((nf, n), np.int64)
        vis = np.zeros((nf, n), np.int64)
        hidden_by = np.zeros((nf, n, 256), np.int64)
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        near = np.zeros((nf, len(pairs)), bool)
        twins = [(a, b) for a, b in pairs if _root(objs[a]) == _root(objs[b])]
        cross = np.zeros((nf, len(twins)), bool)
        need = max(16, min(200, self.width * self.height // 1000))
        best: dict[int, tuple[int, int]] = {}
        for i in range(nf):
            geo = {col[p.obj.obj_id]: p for p in self._geometry(i)}
            lab = self._labels(list(geo.values()))
            seen = {}
            for k, p in geo.items():
                h, w = p.mask.shape
                sub = lab[p.y0 : p.y0 + h, p.x0 : p.x0 + w]
                counts = np.bincount(sub[p.mask], minlength=256)
                area[i, k], vis[i, k] = int(p.mask.sum()), int(counts[p.obj.obj_id])
                hidden_by[i, k] = counts
                hidden_by[i, k, [0, p.obj.obj_id]] = 0
                if vis[i, k]:
                    seen[k] = _Placed(
                        p.obj, p.x0, p.y0, (sub == p.obj.obj_id) & p.mask, p.x, p.y, p.r, p.angle
                    )
                oid = p.obj.obj_id
                whole = _shoelace(p.obj.outline) * p.r**2  # its area, inside the frame or not
                if oid not in self._prompts and vis[i, k] >= need and 2 * vis[i, k] >= whole:
                    self._prompts[oid] = self._prompt(seen[k].mask, p.x0, p.y0, i)
                if vis[i, k] > best.get(oid, (-1, 0))[1]:
                    best[oid] = (i, int(vis[i, k]))
            for j, (a, b) in enumerate(pairs):
                near[i, j] = a in seen and b in seen and _close(seen[a], seen[b], NEAR_PX)
            for j, (a, b) in enumerate(twins):
                cross[i, j] = a in geo and b in geo and _close(geo[a], geo[b], NEAR_PX)
        for oid, (i, _) in best.items():  # never well visible: its largest visible frame
            if oid not in self._prompts:
                p = next(p for p in self._geometry(i) if p.obj.obj_id == oid)
                h, w = p.mask.shape
                lab = self.labels(i)[p.y0 : p.y0 + h, p.x0 : p.x0 + w]
                self._prompts[oid] = self._prompt((lab == oid) & p.mask, p.x0, p.y0, i)
        self._prompts = dict(sorted(self._prompts.items()))
        for k, o in enumerate(objs):
            shown = np.flatnonzero(vis[:, k])
            o.first_frame = int(shown[0]) if len(shown) else None
            o.last_frame = int(shown[-1]) if len(shown) else None
        self.events = self._events(area, vis, hidden_by, pairs, near, twins, cross)

    def _events(
        self,
        area: np.ndarray,
        vis: np.ndarray,
        hidden_by: np.ndarray,
        pairs: list,
        near: np.ndarray,
        twins: list,
        cross: np.ndarray,
    ) -> list[dict]:
        objs, ev = self.objects, []
        smears = [self._smear(i)[1] for i in range(self.num_frames)]
        for k, o in enumerate(objs):
            inside = area[:, k] > 0
            for i in range(1, self.num_frames):
                if inside[i] != inside[i - 1]:
                    ev.append(
                        {
                            "kind": "enter" if inside[i] else "exit",
                            "obj_id": o.obj_id,
                            "frame_idx": i,
                        }
                    )
            share = np.where(inside, 1 - vis[:, k] / np.maximum(area[:, k], 1), 0.0)
            for s, e in runs(share > HIDDEN):
                by = int(np.argmax(hidden_by[s:e, k].sum(0)))
                ev.append(
                    {
                        "kind": "occlusion",
                        "obj_id": o.obj_id,
                        "by": by,
                        "start": s,
                        "end": e - 1,
                        "max_hidden": round(float(share[s:e].max()), 3),
                    }
                )
            ev += self._scale_event(o, np.flatnonzero(inside))
            smear = np.array([smears[i][o.obj_id] for i in range(self.num_frames)])
            for s, e in runs((smear >= BLUR_PX) & inside):
                ev.append(
                    {
                        "kind": "blur",
                        "obj_id": o.obj_id,
                        "start": s,
                        "end": e - 1,
                        "pixels": round(float(smear[s:e].max()), 1),
                    }
                )
        for name, flags, which in (("cross", cross, twins), ("near", near, pairs)):
            for j, (a, b) in enumerate(which):
                ids = sorted([objs[a].obj_id, objs[b].obj_id])
                for s, e in runs(flags[:, j]):
                    ev.append({"kind": name, "obj_ids": ids, "start": s, "end": e - 1})
        order = {
            k: n
            for n, k in enumerate(("enter", "exit", "occlusion", "cross", "near", "scale", "blur"))
        }
        return sorted(
            ev,
            key=lambda e: (
                e.get("frame_idx", e.get("start")),
                order[e["kind"]],
                e.get("obj_id", e.get("obj_ids")),
            ),
        )

    def _scale_event(self, o: SceneObject, frames: np.ndarray) -> list[dict]:
        if len(frames) < 2:
            return []
        s = np.array([o.place(i)[2] for i in range(frames[0], frames[-1] + 1)])
        moving = np.flatnonzero(np.abs(np.diff(s)) > 1e-9)
        if not len(moving):
            return []
        a, b = int(moving[0]), int(moving[-1]) + 1
        if max(s[a], s[b]) < 1.2 * min(s[a], s[b]):
            return []
        return [
            {
                "kind": "scale",
                "obj_id": o.obj_id,
                "from": round(float(s[a]), 3),
                "to": round(float(s[b]), 3),
                "start": int(frames[0]) + a,
                "end": int(frames[0]) + b,
            }
        ]


def inside_point(mask: np.ndarray) -> tuple[int, int]:
    """``(x, y)`` of the mask's pixel farthest from its edge: where a user clicks on it.

    Example:
        >>> m = np.zeros((5, 9), bool); m[1:4, 2:5] = True
        >>> inside_point(m)  # the 3x3 square's centre
        (3, 2)
    """
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def _shoelace(poly: np.ndarray) -> float:
    """The area of a polygon."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _root(o: SceneObject) -> int:
    """The object a look-alike copies, else its own id (twins share one)."""
    return o.look_alike_of or o.obj_id


def _close(a: _Placed, b: _Placed, px: int) -> bool:
    """Whether two masks come within ``px`` pixels of each other (touching counts)."""
    ah, aw = a.mask.shape
    bh, bw = b.mask.shape
    x0, y0 = max(a.x0 - px, b.x0), max(a.y0 - px, b.y0)
    x1, y1 = min(a.x0 + aw + px, b.x0 + bw), min(a.y0 + ah + px, b.y0 + bh)
    if x1 <= x0 or y1 <= y0:
        return False
    grown = cv2.dilate(
        np.pad(a.mask.astype(np.uint8), px),
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1)),
    )
    ga = grown[y0 - a.y0 + px : y1 - a.y0 + px, x0 - a.x0 + px : x1 - a.x0 + px]
    gb = b.mask[y0 - b.y0 : y1 - b.y0, x0 - b.x0 : x1 - b.x0]
    return bool((ga.astype(bool) & gb).any())


def check_scene_args(size: tuple[int, int], frames: int, kinds: list[str]) -> tuple[int, int]:
    """The frame size as ``(width, height)``; a clear :class:`ExportError` for bad arguments.

    Example:
        >>> check_scene_args((320, 180), 20, ["mixed"])
        (320, 180)
    """
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ExportError(f"size={size!r} is not (width, height), e.g. size=(640, 360).") from None
    if w < MIN_SIDE or h < MIN_SIDE or w % 2 or h % 2:
        raise ExportError(
            f"size={w}x{h} cannot be drawn: give an even width and height of at least {MIN_SIDE} "
            "pixels (H.264 needs even sides), e.g. size=(640, 360)."
        )
    if int(frames) < 4:
        raise ExportError(f"frames={frames} is too short: give at least 4 frames, e.g. frames=60.")
    unknown = [k for k in kinds if k not in DESIGNS]
    if unknown or not kinds:
        raise ExportError(
            f"Unknown scene kind {', '.join(map(repr, unknown)) or '(none given)'}: the kinds are "
            f"{', '.join(KINDS)}."
        )
    return w, h


def make_scene(
    seed: int,
    kind: str = "mixed",
    size: tuple[int, int] = (640, 360),
    frames: int = 60,
    *,
    name: str | None = None,
    fps: float = 24.0,
) -> Scene:
    """Make one synthetic scene (ground truth drawn by sam2nb, not real footage) from a seed.

    Args:
        seed: any integer >= 0; the same seed, kind, size and frames give the same scene.
        kind: one of :data:`KINDS`: ``occlusion``, ``entries``, ``lookalikes``, ``scale_blur``,
            ``mixed``.
        size: ``(width, height)``, even, each at least 64.
        frames: number of frames (at least 4); the story is told over the whole length.
        name: its name (default ``<kind>_<seed>``).
        fps: frame rate written into the video.

    Returns:
        The :class:`Scene`. Its ``events`` (each a dict with ``kind``; frames are indices,
        ``start``/``end`` both included) are measured on the label maps:

        - ``enter`` / ``exit`` ``(obj_id, frame_idx)``: the first frame the object's outline
          is inside the frame after being wholly outside it (enter), or wholly outside after
          being inside (exit). Hidden behind another object still counts as inside.
        - ``occlusion`` ``(obj_id, by, start, end, max_hidden)``: more than 30% of the part of
          the object inside the frame is hidden; ``by`` hides most of it.
        - ``cross`` ``(obj_ids [a, b], start, end)``: look-alikes whose outlines are within
          4 px of each other (or overlap).
        - ``near`` ``(obj_ids [a, b], start, end)``: any two objects whose visible masks are
          within 4 px of each other, touching included (where a mask could leak).
        - ``scale`` ``(obj_id, from, to, start, end)``: the object's scale (size against its
          own size 1) changes by 20% or more between ``start`` and ``end``.
        - ``blur`` ``(obj_id, start, end, pixels)``: the object moves at least 4 px while the
          shutter is open (its picture smears; its mask is the sharp outline).

    Raises:
        ExportError: an unknown kind, a bad size or too few frames (the message says what).

    Example:
        >>> sc = make_scene(3, "entries", size=(160, 96), frames=24)
        >>> sc.kind, sc.num_frames, sc.labels(5).shape
        ('entries', 24, (96, 160))
        >>> sorted({e["kind"] for e in sc.events if e["kind"] in ("enter", "exit")})
        ['enter', 'exit']
    """
    w, h = check_scene_args(size, frames, [kind])
    if int(seed) < 0:
        raise ExportError(f"seed={seed} is negative: give an integer seed >= 0.")
    b = Builder(np.random.default_rng(int(seed)), (w, h), int(frames))
    DESIGNS[kind](b)
    background, pan = b.camera()
    return Scene(
        name or f"{kind}_{seed}",
        kind,
        int(seed),
        (w, h),
        int(frames),
        fps,
        b.objects,
        background,
        pan,
        b.shutter,
    )

"""The instrument tracker: a generated video's true masks, with failures injected where we say.

**An instrument, not a model.** It never looks at the pixels: it answers every prompt with the
true mask of the object prompted and tracks by reading the truth of each frame, except on the
frames of its :class:`~sam2nb.synthetic.faults.Fault` list, where the mask goes wrong in a known
way (drift, swap, vanish, leak, jitter). So a tool that reads masks (the quality flags, the
drift check, "fix next", J&F) can be scored against failures whose frames we know. It is never
offered by :func:`sam2nb.load`; everything it makes is labelled ``INSTRUMENT``.

It implements the tracker seam (:class:`sam2nb.model.tracker.Tracker`), so a real
:class:`~sam2nb.Session` runs on it: prompts, propagation, corrections, converge, undo, the
drift check. How it answers:

- **Who is prompted.** A click: the object under the first positive click (nothing under it:
  an empty mask). A box: the object covering most of it. A mask: the object it overlaps best
  (IoU at least 0.5); a mask that overlaps none (a mask that drifted onto the background) is
  kept as it is, frame after frame.
- **Tracking.** From its first prompt on (backward: up to its last one), an object's mask is
  the truth of the object prompted; before it, empty. Object score +8 where the mask is not
  empty, else -8; predicted IoU a constant 0.9: it never doubts itself, so flags that read the
  model's own confidence (``low_iou``, ``weak``) are not measured with it.
- **Corrections.** A prompt on frame ``f`` ends the object's faults that cover ``f`` (they stop
  at ``f - 1``); faults that start later still happen. ``faults`` holds what is left.
- **The drift check's scratch tracker** has no faults: tracking back from a stored mask, it
  follows the object that mask is on (and keeps a mask that is on no object where it is).

Example:
    >>> import numpy as np, sam2nb as s2
    >>> from sam2nb.synthetic.faults import Fault
    >>> lab = np.zeros((8, 360, 640), np.uint8); lab[:, 10:30, 10:30] = 1
    >>> inst = Instrument(lab, [Fault("vanish", 1, start=4, end=5)])
    >>> sess = s2.Session(s2.synthetic_video(frames=8), engine=inst)
    >>> _ = sess.add_object(1)
    >>> int(sess.add_points(0, 1, [(20, 20)], [1]).masks()[1].sum())
    400
    >>> _ = sess.run(progress=False)
    >>> [int(sess.results.masks(f)[1].sum()) for f in (3, 4, 5, 6)]
    [400, 0, 0, 400]
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import SessionError
from ..model.tracker import Prompted, Step
from .faults import Fault, faulty_mask

LABEL = "INSTRUMENT: ground truth with injected faults (not a model)"
LOGIT = 8.0
IOU = 0.9


class Truth:
    """The true label maps of a video, read lazily: DAVIS palette PNGs, a scene, or an array.

    Args:
        source: a folder of ``00000.png``... palette PNGs (index = obj_id), an object with
            ``labels(frame_idx)`` (a generated scene), or a ``(T, H, W)`` integer array.
        cache: label maps kept in memory.
    """

    def __init__(self, source: Any, cache: int = 64):
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._size = int(cache)
        self._files: list[Path] | None = None
        if isinstance(source, (str, Path)):
            folder = Path(source)
            self._files = sorted(folder.glob("*.png"))
            if not self._files:
                raise SessionError(
                    f"No ground truth in {folder}: give the folder of a video's palette PNGs "
                    "(Annotations/<video>/ of a synthetic benchmark)."
                )
            self.num_frames = len(self._files)
        elif hasattr(source, "labels"):
            self.num_frames = int(source.num_frames)
        else:
            source = np.asarray(source)
            if source.ndim != 3:
                raise SessionError(
                    f"Ground truth as an array must be (T, H, W), got {source.shape}."
                )
            self.num_frames = len(source)
        self.source = source

    def __len__(self) -> int:
        return self.num_frames

    def labels(self, frame_idx: int) -> np.ndarray:
        """The ``(H, W)`` label map of a frame (0: background)."""
        f = int(frame_idx)
        if not 0 <= f < self.num_frames:
            return np.zeros_like(self.labels(0))
        got = self._cache.get(f)
        if got is not None:
            self._cache.move_to_end(f)
            return got
        if self._files is not None:
            from PIL import Image

            with Image.open(self._files[f]) as im:
                got = np.asarray(im if im.mode in ("P", "L") else im.convert("L"))
        elif hasattr(self.source, "labels"):
            got = np.asarray(self.source.labels(f))
        else:
            got = np.asarray(self.source[f])
        self._cache[f] = got
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return got

    def mask(self, frame_idx: int, label: int) -> np.ndarray:
        """One object's true mask on a frame."""
        return self.labels(frame_idx) == int(label)


class Instrument:
    """What a session takes as its engine to track with the instrument tracker.

    Args:
        truth: the true label maps (see :class:`Truth`).
        faults: the failures to inject.
        seed: the jitter's random offsets come from it.
    """

    name = "instrument"
    label = LABEL
    untrained = False
    image_size = 64  # the session's frame stream is never read: the smallest size will do

    def __init__(self, truth: Any, faults: Iterable[Fault] = (), seed: int = 0):
        import torch

        self.truth = truth if isinstance(truth, Truth) else Truth(truth)
        self.faults = list(faults)
        self.seed = int(seed)
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.trackers: list[InstrumentTracker] = []

    def tracker(
        self,
        frames: Any,
        size: tuple[int, int],
        *,
        offload_state: bool = False,
        corrections_as_cond: bool = True,
    ) -> InstrumentTracker:
        """A tracker over the video (its faults: a copy of :attr:`faults`)."""
        t = InstrumentTracker(self, size, self.faults, corrections_as_cond)
        self.trackers.append(t)
        return t

    def autocast(self) -> contextlib.AbstractContextManager:
        """No precision change."""
        return contextlib.nullcontext()

    def __repr__(self) -> str:
        return f"Instrument({len(self.truth)} frames, {len(self.faults)} faults)"


class InstrumentTracker:
    """The tracker seam over the truth (see the module). Made by :meth:`Instrument.tracker`."""

    window = 7

    def __init__(
        self,
        engine: Instrument,
        size: tuple[int, int],
        faults: Iterable[Fault] = (),
        corrections_as_cond: bool = True,
    ):
        self.engine, self.size = engine, (int(size[0]), int(size[1]))
        self.truth = engine.truth
        self.faults: list[Fault] = list(faults)
        self.corrections_as_cond = bool(corrections_as_cond)
        self._order: list[int] = []
        self._prompts: dict[int, dict[int, tuple[int | None, np.ndarray | None]]] = {}
        self._tracked: dict[int, dict[int, bool]] = {}
        self._clicks: dict[tuple[int, int], list] = {}
        self.corrections: list[tuple[int, int]] = []  # (frame_idx, obj_id) of each prompt

    # -- objects and frames ----------------------------------------------------------------
    def objects(self) -> list[int]:
        """The objects prompted, in order."""
        return list(self._order)

    def has_object(self, obj_id: int) -> bool:
        """Whether the object was prompted."""
        return obj_id in self._prompts

    def prompt_frames(self, obj_id: int) -> set[int]:
        """Frames with the object's prompts."""
        return set(self._prompts.get(obj_id, {}))

    def cond_frames(self, obj_id: int) -> list[int]:
        """The object's prompted frames."""
        return sorted(self._prompts.get(obj_id, {}))

    def tracked(self, obj_id: int) -> dict[int, bool]:
        """``{frame_idx: reverse}`` of the frames the object was tracked on."""
        return dict(self._tracked.get(obj_id, {}))

    def tracked_way(self, obj_id: int, frame_idx: int) -> bool | None:
        """True backward, False forward, None not tracked."""
        return self._tracked.get(obj_id, {}).get(frame_idx)

    def features_ready(self, frame_idx: int) -> bool:
        """Always: nothing is encoded."""
        return True

    def state_frames(self) -> int:
        """How many frames are marked tracked (all objects)."""
        return sum(len(v) for v in self._tracked.values())

    # -- prompts ---------------------------------------------------------------------------
    def _answer(self, f: int, o: int, who: int | None, kept: np.ndarray | None) -> Prompted:
        import torch

        self._prompts.setdefault(o, {})[f] = (who, kept)
        if o not in self._order:
            self._order.append(o)
        self._tracked.setdefault(o, {}).setdefault(f, False)
        self.faults = [g for g in self._clip(o, f) if g is not None]
        self.corrections.append((f, o))
        m = self._mask_of(who, kept, f)
        return Prompted(torch.from_numpy(np.where(m, LOGIT, -LOGIT).astype(np.float32)),
                        LOGIT if m.any() else -LOGIT, IOU)  # fmt: skip

    def _clip(self, o: int, f: int) -> Iterator[Fault | None]:
        for g in self.faults:
            yield g.clipped_before(f) if g.obj_id == o and g.covers(f) else g

    def _mask_of(self, who: int | None, kept: np.ndarray | None, f: int) -> np.ndarray:
        if kept is not None:
            return kept
        if who is None:
            w, h = self.size
            return np.zeros((h, w), bool)
        return self.truth.mask(f, who)

    def add_points(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any, clear: bool = False
    ) -> Prompted:
        """The object under the first positive click (accumulating clicks unless ``clear``)."""
        f, o = int(frame_idx), int(obj_id)
        key = (o, f)
        clicks = [] if clear else list(self._clicks.get(key, []))
        clicks += [(float(x), float(y), int(v)) for (x, y), v in zip(points, labels, strict=True)]
        self._clicks[key] = clicks
        lab = self.truth.labels(f)
        h, w = lab.shape
        who = None
        for x, y, v in clicks:
            if v == 1:
                xi, yi = min(max(int(x), 0), w - 1), min(max(int(y), 0), h - 1)
                who = int(lab[yi, xi]) or None
                break
        return self._answer(f, o, who, None)

    def add_box(
        self, frame_idx: int, obj_id: int, box: Any, points: Any = None, labels: Any = None
    ) -> Prompted:
        """The object covering most of the box."""
        f, o = int(frame_idx), int(obj_id)
        lab = self.truth.labels(f)
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        inside = lab[max(y0, 0) : max(y1, 0) + 1, max(x0, 0) : max(x1, 0) + 1]
        ids, counts = np.unique(inside[inside > 0], return_counts=True)
        who = int(ids[np.argmax(counts)]) if len(ids) else None
        self._clicks.pop((o, f), None)
        return self._answer(f, o, who, None)

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> Prompted:
        """The object the mask overlaps best (IoU >= 0.5), else the mask kept as it is."""
        f, o = int(frame_idx), int(obj_id)
        m = np.asarray(mask, bool)
        lab = self.truth.labels(f)
        best, who = 0.0, None
        for v in np.unique(lab[m]).tolist():
            if v == 0:
                continue
            t = lab == v
            iou = float((t & m).sum() / max((t | m).sum(), 1))
            if iou > best:
                best, who = iou, int(v)
        self._clicks.pop((o, f), None)
        if best >= 0.5:
            return self._answer(f, o, who, None)
        return self._answer(f, o, None, m.copy())

    def clear_frame(self, frame_idx: int, obj_id: int) -> None:
        """Forget the object's prompt on a frame."""
        self._prompts.get(obj_id, {}).pop(frame_idx, None)
        self._clicks.pop((obj_id, frame_idx), None)

    def remove_object(self, obj_id: int) -> None:
        """Forget an object."""
        for d in (self._prompts, self._tracked):
            d.pop(obj_id, None)
        self._order = [o for o in self._order if o != obj_id]
        self._clicks = {k: v for k, v in self._clicks.items() if k[0] != obj_id}

    # -- tracking --------------------------------------------------------------------------
    def mask(self, obj_id: int, frame_idx: int, reverse: bool = False) -> np.ndarray:
        """What the instrument tracks for an object on a frame (faults included)."""
        f = int(frame_idx)
        prompts = self._prompts.get(obj_id, {})
        if f in prompts:
            return self._mask_of(*prompts[f], f)
        seen = [c for c in prompts if (c > f if reverse else c < f)]
        if not seen:
            w, h = self.size
            return np.zeros((h, w), bool)
        who, kept = prompts[min(seen) if reverse else max(seen)]
        for g in self.faults:
            if g.obj_id == obj_id and g.covers(f) and who is not None and kept is None:
                return faulty_mask(g, f, lambda o: self.truth.mask(f, o), self.engine.seed)
        return self._mask_of(who, kept, f)

    def propagate(self, start: int, reverse: bool, max_frames: int | None) -> Iterator[Step]:
        """Every object's mask a frame at a time from ``start`` (backward from 0: none)."""
        import torch

        n = len(self.truth)
        k = n if max_frames is None else int(max_frames)
        if reverse:
            order = range(start, max(start - k, 0) - 1, -1) if start > 0 else range(0)
        else:
            order = range(start, min(start + k, n - 1) + 1)
        for f in order:
            objs = list(self._order)
            masks = [self.mask(o, f, reverse) for o in objs]
            conds = [f in self._prompts.get(o, {}) for o in objs]
            for o in objs:
                self._tracked.setdefault(o, {})[f] = bool(reverse)
            w, h = self.size
            logits = np.full((len(objs), h, w), -LOGIT, np.float32)
            for i, m in enumerate(masks):
                logits[i][m] = LOGIT
            yield Step(f, objs, torch.from_numpy(logits), conds,
                       [LOGIT if m.any() else -LOGIT for m in masks],
                       [None if c else IOU for c in conds])  # fmt: skip

    def scratch(self) -> InstrumentTracker:
        """A tracker over the same truth with no faults (the drift check's)."""
        return InstrumentTracker(self.engine, self.size, (), self.corrections_as_cond)

    def out_of_memory(self, exc: BaseException, doing: str, num_objects: int) -> str | None:
        """Never: it holds no tensors worth freeing."""
        return None

    def inference(self) -> contextlib.AbstractContextManager:
        """No model runs."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Forget everything."""
        self._prompts.clear()
        self._tracked.clear()
        self._order.clear()

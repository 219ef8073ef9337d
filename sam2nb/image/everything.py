"""Segment everything: sam2's automatic masks on an image or a video frame, then pick some to track.

:func:`segment_everything` runs sam2's ``SAM2AutomaticMaskGenerator`` on the cached model (no second
load), with a progress bar over its point batches and a stop; :class:`AutoMasks` holds the result as
COCO RLE with area, box, predicted IoU and stability score per mask, filters it, picks the
mask under a click, and hands chosen masks to a session as new objects (mask prompts on that frame).

Example:
    >>> found = s2.segment_everything(engine, s2.read_image("cells.jpg"))  # doctest: +SKIP
    >>> found = found.filter(min_area=200)  # doctest: +SKIP
    >>> ids = found.add_to(sess, frame_idx=0, select=[0, 3, 4])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base.colors import mask_colors
from ..base.errors import Sam2nbError, SessionError
from ..base.files import atomic_write
from ..base.jobs import as_stop
from ..media.video import to_rgb8
from ..model.adapter import eager_prompts, mask_generator
from ..model.engine import Engine, backbone_feature_sizes
from ..model.names import cannot, video_only


class EverythingError(Sam2nbError):
    """A setting, frame or selection the automatic masks cannot use (names the fix)."""


# (name, default, low, high): the generator's main knobs, with the ranges they accept
KNOBS = {
    "points_per_side": (32, 1, 256),
    "points_per_batch": (64, 1, 4096),
    "pred_iou_thresh": (0.8, 0.0, 1.0),
    "stability_score_thresh": (0.95, 0.0, 1.0),
    "box_nms_thresh": (0.7, 0.0, 1.0),
    "min_mask_region_area": (0, 0, 1e9),
    "crop_n_layers": (0, 0, 3),
}


def check_knobs(**knobs: Any) -> dict[str, Any]:
    """The knobs with defaults filled in; a value out of range raises, naming its range.

    Example:
        >>> check_knobs(points_per_side=16)["pred_iou_thresh"]
        0.8
    """
    out = {}
    for name in knobs:
        if name not in KNOBS:
            raise EverythingError(f"Unknown setting {name!r}: use one of {', '.join(KNOBS)}.")
    for name, (default, lo, hi) in KNOBS.items():
        v = knobs.get(name, default)
        if v is None:
            v = default
        integer = isinstance(default, int)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi
        if not ok or (integer and int(v) != v):
            kind = "a whole number" if integer else "a number"
            raise EverythingError(f"{name} must be {kind} from {lo:g} to {hi:g}, got {v!r}.")
        out[name] = int(v) if integer else float(v)
    return out


@dataclass
class AutoMask:
    """One automatic mask: COCO RLE, area (pixels), box ``[x0, y0, x1, y1]``, scores, the point."""

    rle: dict
    area: int
    box: list[float]
    predicted_iou: float
    stability_score: float
    point: tuple[float, float]
    _decoded: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:  # plain Python numbers, so JSON and CSV take them
        self.area = int(self.area)
        self.box = [float(v) for v in self.box]
        self.predicted_iou = float(self.predicted_iou)
        self.stability_score = float(self.stability_score)
        self.point = (float(self.point[0]), float(self.point[1]))

    @property
    def mask(self) -> np.ndarray:
        """The mask, ``(H, W)`` bool (decoded once)."""
        if self._decoded is None:
            from pycocotools import mask as mask_utils

            self._decoded = mask_utils.decode(_coco(self.rle)).astype(bool)
        return self._decoded


def _coco(rle: dict) -> dict:
    counts = rle["counts"]
    return {
        "size": list(rle["size"]),
        "counts": counts.encode() if isinstance(counts, str) else counts,
    }


@dataclass
class AutoMasks:
    """The masks found on one picture, largest first.

    Attributes:
        masks: the :class:`AutoMask` list.
        size: the picture's ``(width, height)``.
        frame_idx: the video frame they were found on (0 for an image).
        model: the model's label (says *untrained* for the test model).
        untrained: True when the model's weights are random.
        stopped: True when the run was stopped before the last point batch.
        settings: the generator settings used.
    """

    masks: list[AutoMask]
    size: tuple[int, int]
    frame_idx: int = 0
    model: str = ""
    untrained: bool = False
    stopped: bool = False
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, i: int) -> AutoMask:
        return self.masks[i]

    def __iter__(self) -> Any:
        return iter(self.masks)

    def __repr__(self) -> str:
        flag = ", UNTRAINED model: masks are meaningless" if self.untrained else ""
        n = f"{len(self)} mask{'s' if len(self) != 1 else ''}"
        return f"AutoMasks({n} on {self.size[0]}x{self.size[1]}{flag})"

    def filter(
        self,
        min_area: int = 0,
        max_area: int | None = None,
        min_iou: float = 0.0,
        min_stability: float = 0.0,
    ) -> AutoMasks:
        """The masks within an area range and above score floors (a new :class:`AutoMasks`).

        Example:
            >>> found.filter(min_area=100, min_iou=0.9)  # doctest: +SKIP
        """
        keep = [
            m for m in self.masks
            if m.area >= min_area and (max_area is None or m.area <= max_area)
            and m.predicted_iou >= min_iou and m.stability_score >= min_stability
        ]  # fmt: skip
        return AutoMasks(keep, self.size, self.frame_idx, self.model, self.untrained,
                         self.stopped, dict(self.settings))  # fmt: skip

    def pick(self, x: float, y: float) -> int | None:
        """Index of the smallest mask under pixel ``(x, y)``; None when no mask covers it.

        Example:
            >>> found.pick(120, 80)  # doctest: +SKIP
            3
        """
        w, h = self.size
        xi, yi = int(math.floor(x)), int(math.floor(y))
        if not (0 <= xi < w and 0 <= yi < h):
            return None
        best, best_area = None, None
        for i, m in enumerate(self.masks):
            x0, y0, x1, y1 = m.box
            if not (x0 <= xi + 0.5 and xi - 0.5 <= x1 and y0 <= yi + 0.5 and yi - 0.5 <= y1):
                continue
            if (best_area is None or m.area < best_area) and m.mask[yi, xi]:
                best, best_area = i, m.area
        return best

    def stack(self, select: Iterable[int] | None = None) -> np.ndarray:
        """The masks as one ``(N, H, W)`` bool array (all, or the indices in ``select``)."""
        idx = range(len(self)) if select is None else self._check(select)
        w, h = self.size
        if not len(idx):
            return np.zeros((0, h, w), bool)
        return np.stack([self.masks[i].mask for i in idx])

    def _check(self, select: Iterable[int]) -> list[int]:
        sel = list(dict.fromkeys(int(i) for i in select))
        bad = [i for i in sel if not 0 <= i < len(self)]
        if bad:
            raise EverythingError(
                f"No mask {bad}: there are {len(self)} (indices 0..{len(self) - 1})."
            )
        return sel

    def add_to(
        self,
        session: Any,
        select: Iterable[int] | None = None,
        names: Sequence[str] | None = None,
    ) -> list[int]:
        """Make each selected mask a new object of ``session``: a mask prompt on this frame.

        Args:
            session: a :class:`~sam2nb.Session` (or :class:`~sam2nb.ImageSession`) of the same
                picture size.
            select: mask indices (default all).
            names: object names, one per selected mask (default ``auto <obj_id>``).

        Returns:
            The new objects' ``obj_id``.

        Raises:
            EverythingError: an empty selection, an index that does not exist, or a session of
                another size. Nothing is added then.

        Example:
            >>> found.add_to(sess, select=[0, 2])  # doctest: +SKIP
            [1, 2]
        """
        sel = self._check(range(len(self)) if select is None else select)
        if not sel:
            raise EverythingError("Nothing selected: pick at least one mask (or select=None: all).")
        size = tuple(getattr(session, "size", None) or session.video.size)
        if size != tuple(self.size):
            raise EverythingError(
                f"These masks are {self.size[0]}x{self.size[1]} but the session's video is "
                f"{size[0]}x{size[1]}: segment a frame of that video."
            )
        if names is not None and len(names) != len(sel):
            raise EverythingError(f"{len(names)} names for {len(sel)} selected masks.")
        ids = []
        for n, i in enumerate(sel):
            oid = max(session.objects, default=0) + 1
            name = names[n] if names is not None else f"auto {oid}"
            session.add_object(obj_id=oid, name=name)
            try:
                session.add_mask(self.frame_idx, oid, self.masks[i].mask)
            except BaseException:
                session.remove_object(oid)  # the objects added before it stay
                raise
            ids.append(oid)
        return ids

    def to_coco(self, path: str | os.PathLike, image_name: str = "image") -> Path:
        """Write the masks as a COCO JSON (one image, one annotation per mask, RLE).

        Example:
            >>> found.to_coco("out/everything.json")  # doctest: +SKIP
        """
        w, h = self.size
        anns = []
        for i, m in enumerate(self.masks, start=1):
            x0, y0, x1, y1 = m.box
            anns.append({
                "id": i, "image_id": 1, "category_id": 1, "segmentation": _jsonable(m.rle),
                "area": m.area, "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0,
                "predicted_iou": m.predicted_iou, "stability_score": m.stability_score,
                "point_coords": [list(m.point)],
            })  # fmt: skip
        doc = {
            "info": {"description": "sam2nb segment everything", "model": self.model,
                     "untrained": self.untrained, "frame_idx": self.frame_idx,
                     "settings": self.settings},
            "images": [{"id": 1, "file_name": image_name, "width": w, "height": h}],
            "categories": [{"id": 1, "name": "object"}],
            "annotations": anns,
        }  # fmt: skip

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, json.dumps(doc).encode())
        return out

    def overlay(self, image: np.ndarray, select: Iterable[int] | None = None,
                alpha: float = 0.5) -> np.ndarray:  # fmt: skip
        """The picture with every mask (or the selected ones) in a distinct colour, outlined."""
        import cv2

        rgb = to_rgb8(np.asarray(image), "image").copy()
        idx = range(len(self)) if select is None else self._check(select)
        colors = mask_colors(len(self))  # the picker's colours
        for i in sorted(idx, key=lambda j: -self.masks[j].area):  # small ones stay on top
            m = self.masks[i].mask
            c = colors[i]
            rgb[m] = (rgb[m] * (1 - alpha) + c * alpha).astype(np.uint8)
            cnts, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)  # fmt: skip
            cv2.drawContours(rgb, cnts, -1, tuple(int(v) for v in c), 1)
        return rgb


def _jsonable(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]),
            "counts": counts.decode() if isinstance(counts, bytes) else counts}  # fmt: skip


def picture_of(source: Any, frame_idx: int = 0) -> np.ndarray:
    """The RGB picture to segment: an image, a path, or frame ``frame_idx`` of a video/session.

    Example:
        >>> picture_of(np.zeros((4, 6, 3), np.uint8)).shape
        (4, 6, 3)
    """
    from ..media.video import read_image

    video = source if hasattr(source, "decoded_at") else getattr(source, "video", None)
    if video is not None and not isinstance(source, np.ndarray):
        n = len(video)
        if (
            isinstance(frame_idx, bool)
            or not isinstance(frame_idx, (int, np.integer))
            or not (0 <= frame_idx < n)
        ):
            raise EverythingError(
                f"Frame {frame_idx!r} is out of range: {video.name} has {n} frames "
                f"(0..{n - 1}). Pick one of those."
            )
        return video[int(frame_idx)]
    if isinstance(source, (str, os.PathLike)):
        return read_image(source)
    return to_rgb8(np.asarray(source), "image")


def segment_everything(
    engine: Engine | None,
    image: Any,
    *,
    frame_idx: int = 0,
    progress: bool = True,
    stop: Any = None,
    on_batch: Callable[[int, int], Any] | None = None,
    **knobs: Any,
) -> AutoMasks:
    """Find every object sam2's automatic mask generator sees in a picture.

    Args:
        engine: from :func:`sam2nb.load` (its weights are used; nothing is loaded again). None:
            the session's model, else the kernel's cached one.
        image: the picture: an array, an image path, or a :class:`~sam2nb.Session` /
            :class:`~sam2nb.VideoSource` whose frame ``frame_idx`` is segmented.
        frame_idx: the video frame (kept with the masks, for :meth:`AutoMasks.add_to`).
        progress: show a ``tqdm.auto`` bar over the point batches.
        stop: a ``threading.Event`` or callable checked between point batches; set, the run
            ends early and returns the masks of the batches done (``stopped=True``).
        on_batch: called as ``on_batch(done, total)`` after each point batch (for a UI).
        **knobs: ``points_per_side`` (32), ``points_per_batch`` (64), ``pred_iou_thresh``
            (0.8), ``stability_score_thresh`` (0.95), ``box_nms_thresh`` (0.7),
            ``min_mask_region_area`` (0) and ``crop_n_layers`` (0), as in sam2.

    Returns:
        :class:`AutoMasks`, largest first.

    Raises:
        EverythingError: a setting out of range (named, with its range), a frame out of range,
            or no model loaded.

    Example:
        >>> found = segment_everything(engine, img, points_per_side=16)  # doctest: +SKIP
        >>> found = segment_everything(None, sess, frame_idx=40)  # doctest: +SKIP
    """
    import torch
    from tqdm.auto import tqdm

    settings = check_knobs(**knobs)
    rgb = picture_of(image, frame_idx)
    if engine is None:
        from ..model.engine import current

        engine = getattr(image, "engine", None) or current()
        if engine is None:
            raise EverythingError('No model is loaded: call s2.load("tiny") first, or pass one.')
    if video_only(engine.name):
        raise EverythingError(cannot(engine.name, "segment everything"))
    h, w = rgb.shape[:2]
    halt = as_stop(stop, SessionError)
    per_crop = math.ceil(settings["points_per_side"] ** 2 / settings["points_per_batch"])
    n_crops = sum(4**layer for layer in range(settings["crop_n_layers"] + 1))
    if halt():
        return AutoMasks([], (w, h), int(frame_idx), engine.label, engine.untrained, True,
                         settings)  # fmt: skip
    bar = tqdm(total=per_crop * n_crops, desc="segment everything", unit="batch",
               disable=not progress)  # fmt: skip
    count, stopped = 0, False

    def wrap(inner: Callable[..., Any], empty: Callable[[], Any]) -> Callable[..., Any]:
        def batch(*args: Any, **kwargs: Any) -> Any:
            """Skip the point batches after a stop (each crop keeps its first: sam2 needs it)."""
            nonlocal count, stopped
            first_of_crop = count % per_crop == 0
            try:
                if halt() and not first_of_crop:
                    stopped = True
                    return empty()
                return inner(*args, **kwargs)
            finally:
                count += 1
                bar.update()
                if on_batch is not None:
                    on_batch(count, per_crop * n_crops)

        return batch

    sizes = backbone_feature_sizes(engine.image_size)
    gen = mask_generator(engine.model, sizes, settings, wrap)
    try:
        with torch.inference_mode(), engine.autocast(), eager_prompts(engine.model):
            anns = gen.generate(rgb)
    finally:
        bar.close()
    masks = [
        AutoMask(
            rle=_jsonable(a["segmentation"]),
            area=int(a["area"]),
            box=[
                a["bbox"][0],
                a["bbox"][1],
                a["bbox"][0] + a["bbox"][2],
                a["bbox"][1] + a["bbox"][3],
            ],
            predicted_iou=float(a["predicted_iou"]),
            stability_score=float(a["stability_score"]),
            point=tuple(a["point_coords"][0]),
        )
        for a in anns
    ]
    masks.sort(key=lambda m: -m.area)
    return AutoMasks(masks, (w, h), int(frame_idx), engine.label, engine.untrained, stopped,
                     settings)  # fmt: skip

"""Segment one image from clicks and a box with the cached engine's image predictor.

Results carry the model's label and an ``untrained`` flag, so every view can say when the masks
come from the untrained test model.

Example:
    >>> import numpy as np, sam2nb as s2
    >>> engine = s2.load("test")
    >>> image = np.zeros((120, 160, 3), np.uint8)
    >>> result = s2.segment_image(engine, image, points=[(80, 60)], labels=[1])
    >>> result.masks.shape, result.untrained
    ((3, 120, 160), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..base.errors import Sam2nbError
from ..media.video import to_rgb8
from ..model.adapter import eager_prompts
from ..model.engine import Engine


class PromptError(Sam2nbError, ValueError):
    """A click or box is outside the image, not a number, or malformed."""


@dataclass
class ImagePrediction:
    """Candidate masks for one image and one set of prompts.

    Attributes:
        masks: ``(K, H, W)`` bool masks at the image's resolution (K = 3 candidates, or 1).
        scores: ``(K,)`` the model's predicted IoU of each mask.
        logits: ``(K, 256, 256)`` low-resolution logits (feed back as ``mask_input`` to refine).
        model: the label of the model that made them.
        untrained: True if that model has random weights: the masks mean nothing.
    """

    masks: np.ndarray
    scores: np.ndarray
    logits: np.ndarray
    model: str
    untrained: bool

    @property
    def best(self) -> np.ndarray:
        """The candidate with the highest predicted IoU."""
        return self.masks[int(np.argmax(self.scores))]


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


def segment_image(
    engine: Engine,
    image: np.ndarray,
    *,
    points: Sequence | np.ndarray | None = None,
    labels: Sequence | np.ndarray | None = None,
    box: Sequence | np.ndarray | None = None,
    multimask: bool = True,
    reuse_embedding: bool = False,
) -> ImagePrediction:
    """Segment an image from clicks and/or a box with the engine's ``SAM2ImagePredictor``.

    Args:
        engine: from :func:`sam2nb.load`.
        image: the image as an array (gray, RGB, RGBA, 8/16-bit are accepted).
        points: ``(x, y)`` clicks in image pixels.
        labels: 1 (positive) or 0 (negative) per click (default all positive).
        box: ``[x0, y0, x1, y1]`` in image pixels.
        multimask: return 3 candidates (best for a single click) instead of 1.
        reuse_embedding: skip the image encoder because ``image`` was the last one segmented.

    Returns:
        The candidate masks with their scores, labelled with the model.

    Raises:
        PromptError: no prompt, or a click/box that is outside the image or malformed.

    Example:
        >>> r = segment_image(engine, img, box=[10, 10, 90, 70], multimask=False)  # doctest: +SKIP
    """
    rgb = to_rgb8(image, "image")
    h, w = rgb.shape[:2]
    pts, lab = check_points(points, labels, w, h)
    bx = check_box(box, w, h)
    if pts is None and bx is None:
        raise PromptError("give at least one click (points=...) or a box (box=...).")
    predictor = engine.image_predictor
    with engine.autocast():
        if not (reuse_embedding and predictor._is_image_set and predictor._orig_hw == [(h, w)]):
            predictor.set_image(rgb)
        with eager_prompts(engine.model):  # a compiled model recompiles per click count
            masks, scores, logits = predictor.predict(
                point_coords=pts, point_labels=lab, box=bx, multimask_output=multimask
            )
    return ImagePrediction(
        masks=np.asarray(masks).astype(bool),
        scores=np.asarray(scores, np.float32),
        logits=np.asarray(logits, np.float32),
        model=engine.label,
        untrained=engine.untrained,
    )

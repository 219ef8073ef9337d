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

from ..base.errors import PromptError
from ..media.video import to_rgb8
from ..model.adapter import eager_prompts, hold_image, image_holder, image_is_set
from ..model.engine import Engine
from ..prompts.checks import check_box, check_points


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


def segment_image(
    engine: Engine,
    image: np.ndarray,
    *,
    points: Sequence | np.ndarray | None = None,
    labels: Sequence | np.ndarray | None = None,
    box: Sequence | np.ndarray | None = None,
    multimask: bool = True,
    reuse_embedding: bool = False,
    owner: object | None = None,
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
        owner: who asks (an image session): the embedding is reused only if the same owner
            set it, so that another image of the same size in between is never mistaken for it.

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
        held = image_is_set(predictor, h, w) and image_holder(predictor) is owner
        if not (reuse_embedding and held):
            hold_image(predictor, None)  # until it is set
            predictor.set_image(rgb)
            hold_image(predictor, owner)
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

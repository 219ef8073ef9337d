"""Model names, whichever library runs them: one check for every place a user names a model.

sam2's variants (``tiny``, ``small``, ``base_plus``, ``large``, ``sam2_*``, ``test``) and the
transformers ones (``tiny@hf`` ..., ``edgetam``, ``sam3``, ``sam3.1`` and the test variants
``test@hf``, ``edgetam-test``, ``sam3-test``) are checked here before any work starts, so a typo
or a model that cannot do the job fails at once, in one line that names the fix.

Example:
    >>> canonical("EdgeTAM"), canonical("b+")
    ('edgetam', 'base_plus')
    >>> video_only("sam3-test")
    True
"""

from __future__ import annotations

from typing import Any

from ..base.errors import ModelError
from . import checkpoints, hf_hub

#: Images (the image predictor, segment everything) are sam2's: what sam2nb offers instead.
IMAGE_MODELS = "tiny, small, base_plus, large (SAM 2.1), or test"


def canonical(name: Any) -> str:
    """sam2nb's name for a model (aliases resolved).

    Raises:
        ModelError: an unknown name; the message lists every valid one.
    """
    if hf_hub.is_hf_name(name):
        return hf_hub.get_hf_spec(name).name
    return checkpoints.get_spec(name).name


def video_only(name: Any) -> bool:
    """Whether the model tracks videos only (transformers' trackers have no image predictor).

    Example:
        >>> video_only("tiny"), video_only("tiny@hf")
        (False, True)
    """
    return hf_hub.is_hf_name(name)


def untrained(name: Any) -> bool:
    """Whether the model is a built-in test model (seeded random weights).

    Example:
        >>> untrained("test"), untrained("edgetam-test"), untrained("edgetam")
        (True, True, False)
    """
    if hf_hub.is_hf_name(name):
        return hf_hub.get_hf_spec(name).untrained
    return checkpoints.get_spec(name).untrained


def cannot(name: Any, what: str) -> str:
    """The one line saying a transformers model cannot do ``what`` (images are sam2's).

    Example:
        >>> cannot("edgetam", "segment everything")[:61]
        'edgetam tracks videos only: segment everything runs on a sam2'
    """
    return f"{canonical(name)} tracks videos only: {what} runs on a sam2 model ({IMAGE_MODELS})."


def check_images(name: Any, what: str) -> str:
    """The canonical name of a model that can segment single images, else a ModelError.

    Example:
        >>> check_images("test", "segment everything")
        'test'
    """
    if video_only(name):
        raise ModelError(cannot(name, what))
    return canonical(name)

"""Lean activations: sam2's modules hold less memory at once, with the same numbers out.

At 1024 px on a CPU, a tracking step's peak is the image encoder's first stages: an MLP's
hidden layer of 100 MB per 25 MB of input, a stage change's ``qkv`` of 150 MB, and 84 MB of
position encodings copied for every frame. Wrapping (not copying) sam2's modules:

- :func:`share_position_encodings`: the sine encodings are views of sam2's own cache;
- :func:`chunk_activations`: Hiera's MLPs (per token), windowed attention (per window) and
  1x1 convolutions (per pixel) run on slices of a large input, written into one output; small
  inputs (the 256-px test model's) run as they are.

The encodings and the sliced MLPs and attentions leave every number as sam2 computes it; a
sliced 1x1 convolution may differ in the last bit (at most 1e-6 on tiny's 1024-px features:
oneDNN picks its kernel by the map's size). :func:`sam2nb.load` slices on a CPU only, where
memory is the machine's; the 256-px test model's maps are below the limit, so nothing there
changes (``tests/model/test_engine.py``). At 1024 px on this CPU one frame's encoder peak falls from
about 370 MB to 200 MB above what is held between frames, at no measured cost in speed.
"""

from __future__ import annotations

import math
from typing import Any

CHUNK_BYTES = 16 << 20  # a wrapped module's largest intermediate stays about this size


def share_position_encodings(model: Any) -> int:
    """Make sam2's sine position encodings views of their cache instead of fresh copies.

    sam2's ``PositionEmbeddingSine`` caches each size's encoding and hands out a ``repeat``
    copy on every call: at 1024 px the image encoder's three levels are 84 MB per frame, held
    with the frame's features, for values that never change. An ``expand`` view of the cache
    gives the same numbers with no copy. Returns how many encoders were changed.

    Example:
        >>> share_position_encodings(engine.video_predictor)  # doctest: +SKIP
        2
    """
    n = 0
    for module in model.modules():  # sam2's PositionEmbeddingSine (by shape: only the
        # adapter and the builder import sam2)
        if not isinstance(getattr(module, "cache", None), dict) or not hasattr(module, "_pe"):
            continue
        if "_pe" in vars(module):  # wrapped already
            continue
        original = module._pe

        def _pe(B: int, device: Any, *key: int, _m: Any = module, _orig: Any = original) -> Any:
            cached = _m.cache.get(key)
            if cached is None:
                return _orig(B, device, *key)
            return cached.to(device)[None].expand(B, -1, -1, -1)

        module._pe = _pe
        n += 1
    return n


def _run_in_slices(forward: Any, x: Any, dim: int, growth: float, limit: int) -> Any:
    """``forward(x)`` on slices of ``x`` along ``dim``, if its intermediate would pass ``limit``."""
    import torch

    pieces = min(x.shape[dim], math.ceil(x.numel() * x.element_size() * growth / limit))
    if pieces <= 1 or torch.is_grad_enabled():
        return forward(x)
    out, at = None, 0
    for part in x.tensor_split(pieces, dim):
        y = forward(part)
        if out is None:
            shape = list(y.shape)
            shape[dim] = x.shape[dim]
            out = y.new_empty(shape)
        out.narrow(dim, at, y.shape[dim]).copy_(y)
        at += y.shape[dim]
    return out


def chunk_activations(model: Any, limit: int = CHUNK_BYTES) -> int:
    """Run the image encoder's large MLPs and windowed attentions in slices (see the module notes).

    Args:
        model: sam2's model (its ``image_encoder.trunk`` is a Hiera).
        limit: bytes an intermediate may take before the input is sliced.

    Returns:
        How many modules were wrapped.

    Example:
        >>> chunk_activations(engine.video_predictor)  # doctest: +SKIP
        24
    """
    trunk = getattr(getattr(model, "image_encoder", None), "trunk", None)
    blocks = getattr(trunk, "blocks", None)
    if blocks is None:
        return 0
    n = 0
    for blk in blocks:
        mlp, attn = getattr(blk, "mlp", None), getattr(blk, "attn", None)
        if mlp is not None and "forward" not in vars(mlp):
            hidden = mlp.layers[0].out_features / mlp.layers[0].in_features
            mlp.forward = _sliced(mlp.forward, dim=1, growth=2 * hidden, limit=limit)
            n += 1
        if attn is not None and blk.window_size > 0 and "forward" not in vars(attn):
            growth = 3 * attn.dim_out / attn.dim + 1
            attn.forward = _sliced(attn.forward, dim=0, growth=growth, limit=limit)
            n += 1
    # 1x1 convolutions on the largest maps (the FPN's laterals, the mask decoder's high-res
    # projections): per pixel, so sliced along the height
    import torch.nn as nn

    for conv in model.modules():
        if (
            isinstance(conv, nn.Conv2d)
            and conv.kernel_size == (1, 1)
            and conv.stride == (1, 1)
            and conv.padding in ((0, 0), "valid")
            and conv.groups == 1
            and "forward" not in vars(conv)
        ):
            growth = conv.out_channels / conv.in_channels + 1
            conv.forward = _sliced(conv.forward, dim=2, growth=growth, limit=limit)
            n += 1
    return n


def _sliced(forward: Any, dim: int, growth: float, limit: int) -> Any:
    def run(x: Any) -> Any:
        return _run_in_slices(forward, x, dim, growth, limit)

    return run

"""SAM 2's hole filling without its CUDA extension: connected components on any device.

sam2's video predictor fills holes of up to ``fill_hole_area`` (8) pixels in its low-resolution
mask logits (``sam2.utils.misc.fill_holes_in_mask_scores``); its image transforms fill holes
and remove sprinkles the same way when asked (``max_hole_area``, ``max_sprinkle_area``). Both
label connected components with ``get_connected_components``, which needs sam2's CUDA
extension ``sam2._C``. The pip wheel (``rf-sam-2``) has no ``_C``, so sam2 skips the step with
a warning and its masks differ from a full Meta install, on a GPU as on a CPU.

:func:`get_connected_components` has the extension's semantics, read from
``sam2/csrc/connected_components.cu`` (block-based union-find over 2x2 blocks):

- 8-connectivity: pixels of one 2x2 block always join, and a block joins its top-left,
  top, top-right and left neighbours through any pair of pixels that touch, diagonally too;
- foreground is every non-zero value of ``mask.to(torch.uint8)`` (sam2 passes ``mask <= 0``:
  background logits, exactly 0 included, are the "foreground" whose small components are
  holes). Components touching the image border count like any other;
- ``counts`` is the area of the component at each foreground pixel, 0 on background;
- ``labels`` is 0 on background and > 0 on foreground, one value per component. The values
  are OpenCV's (1, 2, ... across the batch), not the kernel's (``1 +`` the flat index of the
  top-left pixel of the component's first 2x2 block); sam2 only tests ``labels > 0``.

It runs OpenCV on the host (one call for the batch: a 256x256 mask per object) and returns
int32 tensors of shape ``(N, 1, H, W)`` on the input's device. Unlike the kernel it takes any
dtype, any device and odd sizes too.

:func:`install` puts it in ``sam2.utils.misc`` when ``sam2._C`` cannot be imported, so sam2's
own ``fill_holes_in_mask_scores`` and ``SAM2Transforms.postprocess_masks`` use it: both look
``get_connected_components`` up in that module when called. sam2 is not imported for it: a
``sys.meta_path`` finder patches ``sam2.utils.misc`` right after sam2 imports it (at once if
it is imported already). ``import sam2nb`` installs it (``sam2nb.model``).
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from types import ModuleType
from typing import Any

import cv2
import numpy as np

#: The sam2 module that defines ``get_connected_components`` and looks it up at call time.
TARGET = "sam2.utils.misc"
#: The extension's connectivity (2x2 blocks joined through diagonal neighbours too).
CONNECTIVITY = 8

_LOCK = threading.RLock()
_ORIGINAL: dict[str, Any] = {}  # sam2's own function, for uninstall


def get_connected_components(mask: Any) -> tuple[Any, Any]:
    """Connected components (8-connectivity) of binary masks of shape ``(N, 1, H, W)``.

    A drop-in for sam2's ``get_connected_components`` (the CUDA extension's
    ``get_connected_componnets``) on CPU and CUDA tensors alike.

    Args:
        mask: a tensor ``(N, 1, H, W)``; non-zero after ``.to(torch.uint8)`` is foreground.

    Returns:
        ``(labels, counts)``: int32 tensors ``(N, 1, H, W)`` on the input's device. ``labels``
        is 0 on background and a positive number per component (OpenCV's numbering, not the
        kernel's); ``counts`` is the area of the component at each foreground pixel, else 0.

    Raises:
        ValueError: ``mask`` is not of shape ``(N, 1, H, W)``.

    Example:
        >>> import torch
        >>> m = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
        >>> m[0, 0, 0, 0] = m[0, 0, 1, 1] = m[0, 0, 3, 3] = True  # a diagonal pair, a corner
        >>> labels, counts = get_connected_components(m)
        >>> counts[0, 0].tolist()
        [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
        >>> bool(labels[0, 0, 0, 0] == labels[0, 0, 1, 1] != labels[0, 0, 3, 3]), labels.dtype
        (True, torch.int32)
    """
    import torch

    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be of shape (N, 1, H, W), got {tuple(mask.shape)}")
    n, _, h, w = mask.shape
    host = mask.detach().to(torch.uint8).cpu().numpy()  # the kernel's .to(torch.uint8) first
    if host.size == 0:
        empty = torch.zeros(mask.shape, dtype=torch.int32, device=mask.device)
        return empty, empty.clone()
    # the batch as one image, a row of zeros below each mask: no component crosses it
    stack = np.zeros((n, h + 1, w), np.uint8)
    np.not_equal(host[:, 0], 0, out=stack[:, :h].view(bool))
    count, lab = cv2.connectedComponents(
        stack.reshape(n * (h + 1), w), connectivity=CONNECTIVITY, ltype=cv2.CV_32S
    )
    area = np.bincount(lab.ravel(), minlength=count).astype(np.int32)
    area[0] = 0  # label 0: background
    lab = np.ascontiguousarray(lab.reshape(n, h + 1, w)[:, :h])
    labels = torch.from_numpy(lab[:, None])
    counts = torch.from_numpy(area[lab][:, None])
    return labels.to(mask.device), counts.to(mask.device)


def cuda_extension() -> bool:
    """Whether sam2's own CUDA extension (``sam2._C``) imports, so sam2 uses its kernel."""
    from .adapter import has_cuda_extension

    return has_cuda_extension()


def patch(module: ModuleType) -> bool:
    """Put :func:`get_connected_components` in ``sam2.utils.misc`` unless ``sam2._C`` imports.

    Returns:
        Whether the module now uses sam2nb's implementation.
    """
    with _LOCK:
        if getattr(module, "get_connected_components", None) is get_connected_components:
            return True
        if cuda_extension():  # Meta's own kernel runs
            return False
        _ORIGINAL[TARGET] = module.get_connected_components
        module.get_connected_components = get_connected_components
        return True


def provider() -> str:
    """Who fills sam2's holes here: ``"sam2"`` (its CUDA extension) or ``"sam2nb"``.

    Example:
        >>> provider() in ("sam2", "sam2nb")
        True
    """
    return "sam2" if cuda_extension() else "sam2nb"


class _PatchingLoader(importlib.abc.Loader):
    """sam2's own loader for ``sam2.utils.misc``, which patches the module once it has run."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...
        if name == "loader":  # not set yet (a copy): no endless lookup
            raise AttributeError(name)
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``sam2.utils.misc`` as the other finders do and wraps its loader."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != TARGET:
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or isinstance(finder, _Finder) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)
        return spec


def installed() -> bool:
    """Whether :func:`install` has put its import hook in place."""
    return any(isinstance(f, _Finder) for f in sys.meta_path)


def install() -> None:
    """Make sam2 fill holes without its CUDA extension (idempotent; a no-op with ``sam2._C``).

    Patches ``sam2.utils.misc`` now if it is imported, else right after sam2 imports it;
    importing sam2nb does not import sam2 or torch.

    Example:
        >>> install(); install()
        >>> installed()
        True
    """
    with _LOCK:
        if not installed():
            sys.meta_path.insert(0, _Finder())
        module = sys.modules.get(TARGET)
        if module is not None:
            patch(module)


def uninstall() -> None:
    """Take the import hook out and give ``sam2.utils.misc`` back sam2's own function (tests)."""
    with _LOCK:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]
        module = sys.modules.get(TARGET)
        if module is not None and TARGET in _ORIGINAL:
            module.get_connected_components = _ORIGINAL.pop(TARGET)

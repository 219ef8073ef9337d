"""Choosing the device and the precision: cuda > mps > cpu; bf16 > fp16 > fp32.

The rules are pure functions of what the hardware reports, so they are tested with fakes.

Example:
    >>> pick_dtype("cuda", capability=(7, 5), bf16_supported=False)
    'float16'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..base.errors import ModelError

_DTYPES = ("bfloat16", "float16", "float32")
_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32"}


def pick_device(cuda_available: bool, mps_available: bool, requested: str | None = None) -> str:
    """Return the device type to run on: the requested one, else cuda > mps > cpu.

    Example:
        >>> pick_device(cuda_available=False, mps_available=True)
        'mps'
    """
    if requested:
        return str(requested)
    if cuda_available:
        return "cuda"
    if mps_available:
        return "mps"
    return "cpu"


def normalize_dtype(dtype: Any) -> str:
    """Return ``'bfloat16'``, ``'float16'`` or ``'float32'`` for a name or a torch dtype.

    Example:
        >>> normalize_dtype("bf16")
        'bfloat16'
    """
    name = str(dtype).removeprefix("torch.").lower()
    name = _ALIASES.get(name, name)
    if name not in _DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}: use 'bf16', 'fp16' or 'fp32'.")
    return name


def pick_dtype(
    device_type: str,
    capability: tuple[int, int] | None = None,
    bf16_supported: bool = False,
    requested: Any = None,
) -> str:
    """Return the autocast precision for a device.

    bf16 on CUDA GPUs that support it (Ampere and newer), fp16 on older CUDA GPUs (T4, V100:
    the official examples hard-code bf16 and fail there), fp32 on the CPU and on MPS (sam2's
    MPS support is preliminary and has numerical issues in half precision).

    Args:
        device_type: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        capability: the CUDA compute capability, e.g. ``(8, 0)``.
        bf16_supported: what ``torch.cuda.is_bf16_supported()`` says.
        requested: an explicit choice, which wins (checked against the device).

    Example:
        >>> pick_dtype("cuda", capability=(9, 0), bf16_supported=True)
        'bfloat16'
    """
    if requested is not None:
        name = normalize_dtype(requested)
        if device_type == "cpu" and name == "float16":
            raise ValueError("fp16 is not supported on the CPU: use fp32 (or bf16).")
        if device_type == "cuda" and name == "bfloat16" and not bf16_supported:
            raise ValueError(
                "This GPU does not support bf16 (compute capability "
                f"{capability}); use fp16 or fp32."
            )
        return name
    if device_type == "cuda":
        if bf16_supported and (capability is None or capability >= (8, 0)):
            return "bfloat16"
        return "float16"
    return "float32"


def use_tf32(device_type: str, capability: tuple[int, int] | None) -> bool:
    """Return True where TF32 matmuls should be on: CUDA GPUs of Ampere (8.0) and newer.

    Example:
        >>> use_tf32("cuda", (7, 0))
        False
    """
    return device_type == "cuda" and capability is not None and capability >= (8, 0)


def resolve(device: str | None = None, dtype: Any = None) -> tuple[Any, str]:
    """Probe torch and return ``(torch.device, dtype name)`` following the rules above.

    Example:
        >>> resolve("cpu")
        (device(type='cpu'), 'float32')
    """
    import torch

    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    dev = torch.device(pick_device(torch.cuda.is_available(), mps, device))
    capability, bf16 = None, False
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(
                "device='cuda' was asked for but torch sees no CUDA GPU: run `sam2nb info` "
                "for the cause and the fix."
            )
        capability = torch.cuda.get_device_capability(dev)
        bf16 = torch.cuda.is_bf16_supported()
    return dev, pick_dtype(dev.type, capability, bf16, dtype)


def autocast(device_type: str, dtype: str) -> contextlib.AbstractContextManager:
    """Return the autocast context for a device and dtype name (a no-op for fp32).

    Example:
        >>> with autocast("cpu", "float32"):
        ...     pass
    """
    import torch

    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=getattr(torch, dtype))


MMAP_THRESHOLD = 1 << 20  # bytes: with SAM2NB_MALLOC=compact, larger blocks get their own pages
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_heap_set = False
_libc: Any = None


def _glibc() -> Any:
    """glibc, or None (another C library or another system: nothing to tune)."""
    import ctypes
    import sys

    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL("libc.so.6")
                if hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt"):
                    _libc = lib
            except OSError:
                pass
    return _libc or None


def heap_policy() -> str:
    """How sam2nb keeps a CPU process's heap small: ``$SAM2NB_MALLOC``, default ``"trim"``.

    ``"trim"``: freed memory goes back to the system after each tracking step (free of cost
    measured here). ``"compact"``: also every block over 1 MB gets pages of its own, returned
    the moment it is freed: the lowest peak (tiny at 1024 px on CPU, 24 frames: 1,194 MB
    against 1,308 MB), but about 12 % slower, as each large tensor is fresh pages;
    ``sam2nb track`` prefers it (:func:`prefer_heap`) when it loads the process's first model.
    ``"default"``: glibc as it is.

    Example:
        >>> heap_policy() in ("trim", "compact", "default")
        True
    """
    import os

    p = os.environ.get("SAM2NB_MALLOC", _preferred).strip().lower()
    return p if p in ("trim", "compact", "default") else "trim"


_preferred = "trim"


def prefer_heap(policy: str) -> None:
    """The heap policy when ``$SAM2NB_MALLOC`` is not set (``sam2nb track`` prefers compact).

    Example:
        >>> prefer_heap("trim")
    """
    global _preferred
    if policy not in ("trim", "compact", "default"):
        raise ValueError(f"policy must be 'trim', 'compact' or 'default', got {policy!r}")
    _preferred = policy


def return_freed_memory(threshold: int = MMAP_THRESHOLD) -> bool:
    """With ``SAM2NB_MALLOC=compact``: blocks over ``threshold`` bytes are mapped (glibc).

    glibc raises its own threshold, up to 32 MB, each time a mapped block is freed; after that
    a model's activations (a few MB to 100 MB each at 1024 px) are carved from the heap and stay
    there as fragments when freed. Fixing the threshold keeps RSS at what is really held, at a
    cost in speed (see :func:`heap_policy`). It changes no result. Set once per process.

    Returns:
        Whether the setting is in force.

    Example:
        >>> return_freed_memory() in (True, False)
        True
    """
    global _heap_set
    if _heap_set:
        return True
    lib = _glibc()
    if lib is None or heap_policy() != "compact":
        return False
    _heap_set = bool(lib.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    return _heap_set


def huge_pages() -> bool:
    """Ask torch to back its large CPU tensors with transparent huge pages.

    Not with ``SAM2NB_MALLOC=default``, and not over a ``$THP_MEM_ALLOC_ENABLE`` already set.
    torch reads ``THP_MEM_ALLOC_ENABLE`` at its first CPU allocation, so :func:`sam2nb.load`
    sets it before it builds a model; a process that made tensors before that keeps its choice.
    Blocks of 2 MB and more are then madvised as huge pages: a step's activations come and go
    as whole pages instead of fragments of the heap. tiny at 1024 px on CPU, 16 frames: peak
    RSS 1,364 MB against 1,493 MB, at the same speed. It changes no result.

    Returns:
        Whether the variable is set for torch to read.

    Example:
        >>> huge_pages() in (True, False)
        True
    """
    import os

    if heap_policy() != "default":
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    return os.environ.get("THP_MEM_ALLOC_ENABLE", "") not in ("", "0")


def trim_heap() -> None:
    """Give the heap's free pages back to the system (glibc; unless ``SAM2NB_MALLOC=default``).

    Called after each tracking step on CPU: a step's activations are freed by then, and without
    this glibc keeps their pages, so RSS creeps up over a long run.

    Example:
        >>> trim_heap()
    """
    lib = _glibc()
    if lib is not None and heap_policy() != "default":
        lib.malloc_trim(0)


@contextlib.contextmanager
def spare_a_core(device: Any = "cpu") -> Iterator[int]:
    """Run a click's model work on every core but one (on a CPU); yields the thread count.

    A click's work is small (the mask decoder, tens of milliseconds), and on the machine that
    runs the browser too, the browser and the Jupyter server need a core at that very moment.
    torch's threads wait for one another at every operation, so one of them put off by the
    browser holds up all: on 2 cores with one busy, a click's model work took 24 ms (p90 96)
    on 2 threads and 16 ms (p90 21) on 1; on idle cores 12 and 15 ms. Nothing changes on a
    GPU, or where torch runs on one thread already. The count is put back afterwards.

    Example:
        >>> with spare_a_core("cpu") as n:
        ...     n >= 1
        True
    """
    import torch

    before = torch.get_num_threads()
    n = max(1, before - 1)
    cpu = getattr(device, "type", device) == "cpu"
    if not cpu or n == before:
        yield before
        return
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def out_of_memory(exc: BaseException, doing: str, num_objects: int, variant: str) -> str | None:
    """If ``exc`` is the GPU running out of memory: return cached blocks, and say what to do.

    Example:
        >>> out_of_memory(ValueError("bad input"), "tracking", 1, "tiny") is None
        True
    """
    from . import adapter

    if not adapter.is_oom(exc):
        return None
    adapter.free_memory(None)
    return adapter.oom_message(doing, num_objects, variant)

"""model: checkpoints, devices, the cached engine, the sam2 adapter, system info."""

from . import holes

holes.install()  # sam2 fills small holes without its CUDA extension (patched when it loads)

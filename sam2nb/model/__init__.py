"""model: checkpoints, devices, the cached engine, the sam2 adapter, system info."""

"""batch: manifests, one item at a time, Ray workers."""

"""bench: the benchmark against the official predictor, its timers and reports."""

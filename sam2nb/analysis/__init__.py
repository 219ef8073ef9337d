"""analysis: the track table and plots, J&F, the official-predictor oracle."""

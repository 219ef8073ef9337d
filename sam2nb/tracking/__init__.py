"""tracking: the video session and its collaborators, propagation, converge, drift, resume."""

"""image: one image segmented from clicks and boxes, image sessions, and segment everything."""

"""media: video sources, the frame stream, sample media, overlay drawing."""

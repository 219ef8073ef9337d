"""widgets: ipywidgets/ipycanvas views: canvas, scrubber, apps, picker, benchmark panel."""

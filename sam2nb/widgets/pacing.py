"""How often the apps update the browser while work streams in (tracking, exports).

While tracking, the browser's work competes with the model wherever both share a few cores: a
browser on the server itself, or the test rig (Chromium and the kernel on the same 2 cores).
Measured in Chromium there, a 960x540 frame drawn by "follow" costs about 95 ms of CPU over
its processes (socket, image decoding, layout, compositing), a progress update about 15 ms and
a timeline redraw about 20 ms. At one draw every 2 s and the rest once a second they took
10-14 % of a core while tracking, and tracking ran at 0.78-0.92x the headless speed; at the
pace below for few cores, 9-11 % and 0.83-0.95x (rounds of 20-30 frames; 0.93-0.97x in rounds
of 60-70 frames: docs/browser-speed.md). With more cores (a GPU server, whose browser is on the
user's own machine) nothing competes, and the picture follows every second.

Example:
    >>> FOLLOW_EVERY_S >= PROGRESS_EVERY_S >= 1.0
    True
"""

from __future__ import annotations

from ..base.openmp import usable_cores

FEW_CORES = usable_cores() <= 4  # a browser on these cores takes them from the model
FOLLOW_SHARE = 0.03  # "follow" draws frames in at most this share of the kernel's time
FOLLOW_EVERY_S = 4.0 if FEW_CORES else 1.0  # and at most this often (the timeline shows all)
PROGRESS_EVERY_S = 2.0 if FEW_CORES else 1.0  # the progress bar and its label
TIMELINE_INTERVAL = 2.0 if FEW_CORES else 1.0  # the timeline, while frames stream in

"""Drift tools in a real browser: track, check drift, fix next, and the quality lane drawn.

Clicks an object, tracks 40 frames with the forward button, runs *check drift* (it tracks back
in the background while the page stays live), then *fix next*: the scrubber jumps to the worst
suspect segment and says why. Checks the timeline canvas has the red quality lane drawn and
takes a screenshot (``SAM2NB_SCREENSHOT_DIR``; ``docs/quality-lane.png`` is the README's).
"""

from __future__ import annotations

import os
from pathlib import Path

from browser import open_app
from playwright.sync_api import Page, expect

from conftest import REPORT, write_notebook

# red pixels (the quality lane's colour) along the bottom of object 1's lane, beyond those of
# the current-frame marker (red too, the whole height: counted on the lane's middle row)
RED = """() => { const c = document.querySelector('.sam2nb-timeline canvas')
  || document.querySelector('.sam2nb-timeline');
  const g = c.getContext('2d'); const red = (y) => { let n = 0;
    const d = g.getImageData(0, y, c.width, 1).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 90 && d[i + 2] < 90) n++;
    return n; };
  return red(12) - red(7); }"""


def test_check_drift_and_fix_next_in_the_browser(page: Page, lab, bedroom):
    page.set_viewport_size({"width": 1400, "height": 1000})
    code = f"""import sam2nb as s2
app = s2.VideoTracker(s2.open_video(r"{bedroom}", end=40), s2.load("test"), folder="run-q")
app.widget"""
    name = write_notebook(lab["root"], "quality.ipynb", code)
    canvas = open_app(page, lab, name)
    page.wait_for_timeout(500)  # the app has scrolled itself into view: then measure where to click
    box = canvas.bounding_box()
    canvas.click(position={"x": 450 * box["width"] / 960, "y": 200 * box["height"] / 540})
    status = page.locator(".sam2nb-status")
    expect(status).to_contain_text("of the picture", timeout=60_000)
    page.get_by_role("button", name="▶ forward").click()
    expect(status).to_contain_text("Propagated forward over 40 frames", timeout=300_000)
    page.get_by_role("button", name="check drift").click()
    expect(status).to_contain_text("Checking drift", timeout=10_000)
    expect(status).to_contain_text("Drift check of frames 0-39", timeout=300_000)
    expect(status).to_contain_text("untrained")
    page.get_by_role("button", name="fix next").click()
    expect(status).to_contain_text("Suspect:", timeout=30_000)
    page.wait_for_timeout(1000)
    red = page.evaluate(RED)
    shots = Path(os.environ.get("SAM2NB_SCREENSHOT_DIR", lab["root"]))
    shot = shots / "quality-lane.png"
    app, said = page.locator(".sam2nb-app").bounding_box(), status.bounding_box()
    bottom = said["y"] + said["height"] + 4  # the picture, the lane, the buttons and the status
    page.screenshot(path=shot, clip={"x": app["x"], "y": app["y"], "width": app["width"],
                                     "height": bottom - app["y"]})  # fmt: skip
    REPORT.append(f"drift check and fix next in the browser: status {status.text_content()!r}; "
                  f"red lane pixels {red}; screenshot {shot}")  # fmt: skip
    assert red > 0

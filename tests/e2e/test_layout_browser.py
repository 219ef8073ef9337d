"""The video tracker fits the window people use: JupyterLab with its file browser open.

At 1000x700 (a laptop) and 1400x1000: the picture, the timeline and the main controls are visible
together when the cell has run, no button label is cut, and rows wrap instead of overflowing.
Screenshots go to ``SAM2NB_SCREENSHOT_DIR`` (``docs/`` keeps the ones in the README).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import in_kernel, notebook, open_beside_the_file_browser
from playwright.sync_api import Page, expect

from conftest import REPORT

# every button or label of the app whose text does not fit its box
CUT = """(root) => [...root.querySelectorAll('button, .widget-label, .widget-readout')]
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => (e.textContent || e.title || '').trim() || e.className)"""
# elements of the app that stick out of its right edge (not those a scrolling box inside the app
# clips: the object buttons' strip scrolls sideways)
OVER = """(root) => { const r = root.getBoundingClientRect();
  const clipped = e => { for (let a = e.parentElement; a && a !== root; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible'
          && a.getBoundingClientRect().right <= r.right + 1) return true;
    return false; };
  return [...root.querySelectorAll('*')].filter(e => e.offsetParent !== null
    && e.getBoundingClientRect().right > r.right + 1 && !clipped(e))
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right
         - r.right) + ' px'); }"""


@pytest.mark.parametrize("size", [(1000, 700), (1400, 1000)], ids=["1000x700", "1400x1000"])
def test_the_tracker_fits_the_window(page: Page, lab, bedroom, size):
    w, h = size
    page.set_viewport_size({"width": w, "height": h})
    name = notebook(lab["root"], bedroom, f"layout-{w}.ipynb", f"run-{w}")
    canvas = open_beside_the_file_browser(page, lab, name)
    app = page.locator(".sam2nb-app")
    cut = app.evaluate(CUT)
    over = app.evaluate(OVER)
    pic = canvas.bounding_box()
    timeline = page.locator(".sam2nb-timeline").bounding_box()
    forward = page.get_by_role("button", name="▶ forward").bounding_box()
    box = app.bounding_box()
    shots = Path(os.environ.get("SAM2NB_SCREENSHOT_DIR", lab["root"]))
    page.screenshot(path=shots / f"tracker-{w}x{h}.png")
    REPORT.append(
        f"tracker at {w}x{h} with the file browser open: app {box['width']:.0f}x"
        f"{box['height']:.0f}, picture {pic['width']:.0f}x{pic['height']:.0f}; labels cut: "
        f"{len(cut)}; sticking out: {len(over)}; screenshot {shots / f'tracker-{w}x{h}.png'}"
    )
    assert cut == [], cut
    assert over == [], over
    for part in (pic, timeline, forward):  # seen together, with no scrolling
        assert 0 <= part["y"] and part["y"] + part["height"] <= h, (part, h)
    # the status line's whole text is in the window too (JupyterLab's status bar is 24 px)
    status = page.locator(".sam2nb-status").bounding_box()
    assert status["y"] + status["height"] <= h - 24, (status, h)

    # seven objects (more than a line holds): their buttons stay on one line that scrolls
    # sideways, nothing sticks out, and the picture does not move
    in_kernel(page, lab["root"], "[app.new_object(name=f'player number {i}') for i in range(7)]\n"
               "pathlib.Path('o.json').write_text(json.dumps(list(app.session.objects)))",
               "o.json")  # fmt: skip
    current = page.locator(".sam2nb-objects button.sam2nb-current")
    expect(current).to_have_text("7: player number 6", timeout=30_000)  # the newest is current
    page.wait_for_timeout(500)
    strip = page.locator(".sam2nb-objects").bounding_box()
    seen = current.bounding_box()  # the strip scrolled to it, if it had to
    assert strip["x"] - 1 <= seen["x"]
    assert seen["x"] + seen["width"] <= strip["x"] + strip["width"] + 1
    moved = canvas.bounding_box()["y"] - pic["y"]
    page.screenshot(path=shots / f"tracker-{w}x{h}-7-objects.png")
    REPORT.append(f"  with 7 objects: the picture moved {moved:.0f} px; screenshot "
                  f"{shots / f'tracker-{w}x{h}-7-objects.png'}")  # fmt: skip
    assert abs(moved) < 1, moved
    assert app.evaluate(CUT) == [] and app.evaluate(OVER) == []

"""A transformers tracker in the video tracker, in a real browser (JupyterLab, headless Chromium).

EdgeTAM's test variant (untrained, random weights) behind the same app: a click reaches the
session and is answered, the forward button tracks to the end, and the picker's "segment
everything" button, which needs sam2's image predictor, is disabled and says why in one line.
"""

from __future__ import annotations

from browser import CANVAS, open_app, wait_log
from playwright.sync_api import Page, expect

from conftest import write_notebook


def _notebook(root, video) -> str:
    code = f"""import json, pathlib
import sam2nb as s2
app = s2.VideoTracker(s2.open_video(r"{video}", end=12), s2.load("edgetam-test"), folder="run-hf")
def _dump(*_):
    pathlib.Path("session_log.json").write_text(json.dumps(app.session.log.to_json()))
app.canvas.on_click(_dump)
app.widget"""
    return write_notebook(root, "hf.ipynb", code)


def test_a_transformers_tracker_in_the_app(page: Page, lab, bedroom):
    page.set_viewport_size({"width": 1400, "height": 1000})
    open_app(page, lab, _notebook(lab["root"], bedroom))
    expect(page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")).to_contain_text("UNTRAINED")
    box = page.locator(CANVAS).bounding_box()
    page.mouse.click(box["x"] + 450 * box["width"] / 960, box["y"] + 200 * box["height"] / 540)
    log = wait_log(lab["root"], lambda log: any(e["op"] == "points" for e in log))
    x, y = next(e for e in log if e["op"] == "points")["points"][0]
    assert abs(x - 450) <= 1.5 and abs(y - 200) <= 1.5, (x, y)
    page.get_by_role("button", name="▶ forward").click()
    expect(page.locator(".sam2nb-status")).to_contain_text("Propagated forward", timeout=120_000)
    expect(page.locator(".sam2nb-progress")).to_contain_text("12")
    button = page.get_by_role("button", name="segment everything")
    expect(button).to_be_disabled()
    assert "edgetam-test tracks videos only" in (button.get_attribute("title") or "")
    expect(page.locator(".sam2nb-picker-info")).to_contain_text("tracks videos only")

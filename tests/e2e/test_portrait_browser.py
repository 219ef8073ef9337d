"""A portrait and a square video in the tracker: the picture keeps its shape in a short window,
and clicks land where the pointer is (JupyterLab, headless Chromium, test model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import IDLE, REPORT, wait_json, write_notebook


def _notebook(root: Path, video: Path, shape: str) -> str:
    # the bedroom clip's first frames made portrait (turned) or square (cropped), as arrays
    make = {"portrait": "np.ascontiguousarray(np.rot90(f))", "square": "f[:, 210:750]"}[shape]
    code = f"""import json, pathlib
import numpy as np
import sam2nb as s2
src = s2.open_video(r"{video}", end=6)
frames = np.stack([{make} for f in (src[i] for i in range(len(src)))])
app = s2.VideoTracker(frames, s2.load("test"), folder="run-{shape}")
def _dump(*_):
    pathlib.Path("log-{shape}.json").write_text(json.dumps(app.session.log.to_json()))
app.canvas.on_click(_dump)
app.widget"""
    return write_notebook(root, f"{shape}.ipynb", code)


@pytest.mark.parametrize("shape, w, h", [("portrait", 540, 960), ("square", 540, 540)])
def test_a_portrait_or_square_video_keeps_its_shape(page: Page, lab, bedroom, shape, w, h):
    page.set_viewport_size({"width": 1000, "height": 700})
    name = _notebook(lab["root"], bedroom, shape)
    page.goto(f"{lab['base']}/lab/tree/{name}?token={lab['token']}")
    page.wait_for_function(IDLE, arg=name, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    canvas = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .sam2nb-canvas")
    expect(canvas).to_be_visible(timeout=180_000)
    page.wait_for_timeout(800)
    box = canvas.bounding_box()
    assert box["height"] <= 0.7 * 700 + 1
    assert abs(box["width"] / box["height"] - w / h) < 0.02, (box, w, h)
    canvas.evaluate("el => el.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    sx = box["width"] / w  # CSS px per display (= video) px: frames under 960 px are not shrunk
    page.mouse.click(box["x"] + 200.5 * sx, box["y"] + (h - 100) * sx)
    log = wait_json(lab["root"] / f"log-{shape}.json", lambda log: True, timeout=30)
    pts = [e for e in log if e["op"] == "points"]
    x, y = pts[-1]["points"][-1]
    assert abs(x - 200.5) <= 1.0 and abs(y - (h - 100)) <= 1.0, (x, y)
    REPORT.append(
        f"{shape} video {w}x{h} at 1000x700: picture {box['width']:.0f}x{box['height']:.0f} "
        f"(aspect {box['width'] / box['height']:.3f}, video {w / h:.3f}); click off by "
        f"{max(abs(x - 200.5), abs(y - (h - 100))):.2f} px"
    )

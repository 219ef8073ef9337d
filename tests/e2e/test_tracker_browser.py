"""The video tracker in a real browser: JupyterLab, headless Chromium, real media, test model.

Clicks an object and checks the prompt reached the session and the overlay was drawn; drags a
box; scrubs; propagates and sees overlays on later frames; reloads the page and sees the canvas
redrawn. Measures click -> overlay and frame-switch latency (p50, p90) and the bytes the
browser receives per frame switch.

Latencies are taken in the page's own clock, from the input event's time stamp to the draw on
the picture's canvas that first shows the answer (``PROBE``), as a user sees them. The test's
own view (Playwright's click, its checks and its messages to the browser included) is printed
beside them. Nothing in the page polls the pixels every frame, and the test does not have
Chromium forward every socket message: both took the cores the kernel was being measured on.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from pathlib import Path

from browser import (
    CANVAS,
    HELPERS,
    PROBE,
    ROUND_FRAMES,
    arm,
    drawn,
    in_kernel,
    notebook,
    open_app,
    pct,
    track,
    wait_log,
)
from playwright.sync_api import Page, expect

from conftest import REPORT

CLICKS = [(450, 200), (470, 230), (430, 180), (460, 250), (440, 215), (480, 195), (455, 240)]


def _at(page: Page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of a display pixel of the prompt canvas (960 px wide here)."""
    box = page.locator(CANVAS).bounding_box()
    return box["x"] + x * box["width"] / 960, box["y"] + y * box["height"] / 540


def _headless_fps(page: Page, root: Path, frames: int = ROUND_FRAMES) -> float:
    """Frames/s of the app's video tracked headless, on the kernel's main thread (a cell)."""
    return in_kernel(page, root, f"""
import time as _t
_s = s2.Session(app.session.video, engine)
_s.add_object(); _s.add_points(0, 1, [(450, 200)], [1])
_t0 = _t.perf_counter(); _n = _s.run(max_frames={frames}, progress=False)
pathlib.Path("headless.json").write_text(json.dumps({{"fps": _n / (_t.perf_counter() - _t0)}}))
_s.close()""", "headless.json")["fps"]  # fmt: skip


def test_video_tracker_in_the_browser(page: Page, lab, bedroom):
    name = notebook(lab["root"], bedroom)
    page.add_init_script(PROBE)  # before JupyterLab opens its sockets
    canvas = open_app(page, lab, name)
    expect(page.locator(".sam2nb-untrained")).to_be_visible()
    canvas.evaluate("el => el.scrollIntoView({block: 'center'})")  # ipycanvas focus()-scroll bug
    box = canvas.bounding_box()
    assert abs(box["width"] / box["height"] - 960 / 540) < 0.02  # fitted, aspect kept

    # clicks: the prompt reaches the session, the overlay is drawn
    click_ms, reply_ms, harness_ms = [], [], []
    for i, (x, y) in enumerate(CLICKS):
        t0 = arm(page, 150)  # the mask layer, not just the dot
        canvas.click(position={"x": x * box["width"] / 960, "y": y * box["height"] / 540})
        got = drawn(page, t0)
        assert got["event"] == "pointerdown", got
        if i:  # the first click also loads the session's first frame features
            click_ms.append(got["ms"])
            reply_ms.append(got["reply_ms"])
            harness_ms.append(got["harness_ms"])
        page.wait_for_timeout(300)
    kernel = in_kernel(page, lab["root"], "pathlib.Path('k.json').write_text(json.dumps("
                        "[list(t) for t in app.edit_times]))", "k.json")  # fmt: skip
    server_ms = [1000 * sum(t) for t in kernel[1 : len(CLICKS)]]
    model_ms = [1000 * t[0] for t in kernel[1 : len(CLICKS)]]
    log = json.loads((lab["root"] / "session_log.json").read_text())
    points = [e for e in log if e["op"] == "points"]
    assert len(points) == len(CLICKS)
    assert abs(points[0]["points"][0][0] - 450) < 1.5 and abs(points[0]["points"][0][1] - 200) < 1.5
    status = page.locator(".sam2nb-status")
    expect(status).to_contain_text("of the picture")

    # undo and redo: the frame as it was, drawn
    undo_ms, redo_ms, step_harness = [], [], []
    step_reply = {"undo": [], "redo": []}
    for name, out in [("undo", undo_ms)] * 3 + [("redo", redo_ms)] * 3:
        button = page.get_by_role("button", name=name)
        button.wait_for()
        t0 = arm(page, 40)  # at least the dot goes or comes
        button.click()
        got = drawn(page, t0)
        out.append(got["ms"])
        step_reply[name].append(got["reply_ms"])
        step_harness.append(got["harness_ms"])
        page.wait_for_timeout(300)
    steps = in_kernel(page, lab["root"], "pathlib.Path('s.json').write_text(json.dumps("
                       "[list(t) for t in app.step_times]))", "s.json")  # fmt: skip
    step_parts = []  # where an undo's and a redo's time goes (p50 ms)
    for name, total in (("undo", undo_ms), ("redo", redo_ms)):
        model = [1000 * t[1] for t in steps if t[0] == name]
        kernel = [1000 * (t[1] + t[2]) for t in steps if t[0] == name]
        assert len(kernel) == 3, steps
        k, r = pct(kernel, 0.5), pct(step_reply[name], 0.5)
        step_parts.append(
            f"{name}: kernel {k:.0f} (the session {pct(model, 0.5):.0f}), transfer and "
            f"messaging {r - k:.0f}, browser {pct(total, 0.5) - r:.0f}"
        )

    # a drag draws a box
    page.evaluate("sel => window.__mark(sel)", CANVAS)
    page.mouse.move(*_at(page, 300, 120))
    page.mouse.down()
    page.mouse.move(*_at(page, 620, 420), steps=8)
    page.mouse.up()
    log = wait_log(lab["root"], lambda log: log[-1]["op"] == "box")
    assert all(abs(a - b) < 2 for a, b in zip(log[-1]["box"], [300, 120, 620, 420], strict=True))

    # scrub: new frames, then frames seen before (cached)
    handle = page.locator(".sam2nb-frame-slider .noUi-handle")
    switch_ms, cached_ms, switch_bytes, switch_harness = [], [], [], []
    for key, out in [("ArrowRight", switch_ms)] * 8 + [("ArrowLeft", cached_ms)] * 8:
        t0 = arm(page, 500)
        handle.press(key)
        got = drawn(page, t0)
        assert got["event"] == "keydown", got
        out.append(got["ms"])
        switch_harness.append(got["harness_ms"])
        page.wait_for_timeout(150)
        switch_bytes.append(page.evaluate(
            "() => { const T = window.__t; return T.ws.filter((w) => w[0] >= T.t0)"
            ".reduce((n, w) => n + w[1], 0); }"
        ))  # fmt: skip
    expect(page.locator(".sam2nb-frame-slider .widget-readout")).to_have_text("0")

    # propagate, stop, and see overlays on a later frame; tracking's cost: three rounds, each
    # between two headless runs in the same kernel (the machine's speed drifts within a minute)
    headless = [_headless_fps(page, lab["root"])]
    done, app_fps = track(page)
    frame = int(page.locator(".sam2nb-frame-slider .widget-readout").text_content())
    assert frame >= 7 and done >= 8  # the scrubber followed the propagation
    headless.append(_headless_fps(page, lab["root"]))
    rounds = [(done, app_fps)]
    page.get_by_text("only what changed").click()  # re-track everything in the next rounds
    for i in range(2):
        # from frame 0 again, as a user redoes it: back to the prompt, a click there, track
        page.get_by_role("button", name="◀ prompt").click()
        expect(page.locator(".sam2nb-frame-slider .widget-readout")).to_have_text("0")
        t0 = arm(page, 40)
        canvas.click(position={"x": (445 + 5 * i) * box["width"] / 960,
                               "y": 205 * box["height"] / 540})  # fmt: skip
        drawn(page, t0)
        rounds.append(track(page))
        headless.append(_headless_fps(page, lab["root"]))
    ratios = [fps / statistics.mean(headless[i : i + 2]) for i, (_, fps) in enumerate(rounds)]
    page.get_by_text("only what changed").click()  # back to the default (the screenshot)

    toggle = page.locator('button[title="show or hide object 1"]')
    t0 = arm(page, 150)
    toggle.click()  # hide object 1: its overlay goes
    drawn(page, t0)
    t0 = arm(page, 150)
    toggle.click()  # and comes back
    drawn(page, t0)

    shot = Path(os.environ.get("SAM2NB_SCREENSHOT_DIR", lab["root"])) / "video_tracker.png"
    page.locator(".jp-OutputArea-output").filter(has=page.locator(CANVAS)).screenshot(path=shot)

    # Play at the video's frame rate: how many of the frames it passes are drawn
    before = in_kernel(page, lab["root"], "pathlib.Path('r.json').write_text(json.dumps("
                        "{'renders': app.scrubber.renders, 'fps': app.session.video.fps}))",
                        "r.json")  # fmt: skip
    readout = page.locator(".sam2nb-frame-slider .widget-readout")
    start = int(readout.text_content())
    t0 = time.perf_counter()
    page.locator(".sam2nb-play button:has(.fa-play)").click()
    page.wait_for_timeout(3000)
    info = page.locator(".sam2nb-scrubber-info")
    playing_text = info.text_content()  # what the app says while it plays
    page.wait_for_timeout(1000)
    page.locator(".sam2nb-play button:has(.fa-pause)").click()
    play_s = time.perf_counter() - t0
    page.wait_for_timeout(1500)
    passed = int(readout.text_content()) - start
    after = in_kernel(page, lab["root"], "pathlib.Path('r.json').write_text(json.dumps("
                       "{'renders': app.scrubber.renders}))", "r.json")  # fmt: skip
    frames_drawn = after["renders"] - before["renders"]
    assert passed > 10 and frames_drawn > 0
    # every frame drawn, or the skipping is on purpose and the rate achieved is shown
    shown = re.search(r"▶ (\d+)/(\d+) fps", playing_text)
    assert shown, playing_text
    if frames_drawn < 0.9 * passed:  # then the app says it draws fewer frames than it plays
        assert int(shown[1]) < 0.95 * int(shown[2]), (frames_drawn, passed, playing_text)
    expect(info.locator("span")).to_have_attribute("title", re.compile("^played at "))

    # a reload: the notebook reopens and the canvas is drawn again from the kernel
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(1000)
    page.reload()
    expect(page.locator(CANVAS)).to_be_visible(timeout=120_000)
    page.evaluate(HELPERS)
    page.wait_for_function(f"() => window.__opaque('{CANVAS}') > 0.9", timeout=60_000)

    mean_bytes = statistics.mean(switch_bytes)
    REPORT.extend(
        [
            "latencies in the page's clock, from the input event to the draw that shows the "
            "answer (the test harness's own view, Playwright's click included, in brackets)",
            f"click -> overlay (ms): p50 {pct(click_ms, 0.5):.0f}, p90 {pct(click_ms, 0.9):.0f}"
            f" over {len(click_ms)} clicks (target p90 <= 150) [harness p50 "
            f"{pct(harness_ms, 0.5):.0f}, p90 {pct(harness_ms, 0.9):.0f}]",
            f"frame switch, new frame (ms): p50 {pct(switch_ms, 0.5):.0f}, "
            f"p90 {pct(switch_ms, 0.9):.0f}; cached frame: p50 {pct(cached_ms, 0.5):.0f}, "
            f"p90 {pct(cached_ms, 0.9):.0f} (target <= 100, 960x540) [harness p50 "
            f"{pct(switch_harness, 0.5):.0f}, p90 {pct(switch_harness, 0.9):.0f}]",
            f"  where a click's time goes (p50 ms): kernel {pct(server_ms, 0.5):.0f} (the model "
            f"and session {pct(model_ms, 0.5):.0f}, drawing and sending "
            f"{pct(server_ms, 0.5) - pct(model_ms, 0.5):.0f}); transfer and messaging "
            f"{pct(reply_ms, 0.5) - pct(server_ms, 0.5):.0f}; browser decoding and drawing "
            f"{pct(click_ms, 0.5) - pct(reply_ms, 0.5):.0f}",
            f"undo -> drawn (ms): p50 {pct(undo_ms, 0.5):.0f}, p90 {pct(undo_ms, 0.9):.0f}; "
            f"redo: p50 {pct(redo_ms, 0.5):.0f}, p90 {pct(redo_ms, 0.9):.0f} (3 each) "
            f"[harness p50 {pct(step_harness, 0.5):.0f}, p90 {pct(step_harness, 0.9):.0f}]",
            f"  where the time goes (p50 ms): {'; '.join(step_parts)}",
            f"tracking with the app shown, {len(rounds)} rounds: "
            f"{', '.join(f'{fps:.2f}' for _, fps in rounds)} frames/s over "
            f"{', '.join(str(n) for n, _ in rounds)} frames; headless in the same kernel before, "
            f"between and after {', '.join(f'{h:.2f}' for h in headless)}/s: ratio "
            f"{statistics.mean(ratios):.2f} (each round to the mean of the runs around it: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.9)",
            f"Play at {before['fps']:.0f} fps for {play_s:.1f} s: {passed} frames passed, "
            f"{frames_drawn} drawn ({100 * frames_drawn / max(passed, 1):.0f} %, target >= 90 % or "
            f"the rate shown); the app said: {shown[0]!r}",
            f"bytes received per frame switch: mean {mean_bytes / 1000:.1f} kB "
            f"(min {min(switch_bytes) / 1000:.1f}, max {max(switch_bytes) / 1000:.1f})",
            f"screenshot: {shot}",
        ]
    )

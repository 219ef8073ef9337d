"""The video tracker at 1000x700 with JupyterLab's file browser open (a laptop), as used.

The status line stays in sight whenever the picture is: after the cell ran, after a propagation
(the progress bar and its figures appear) and with six objects (notebook 03), also after
*fix next*, whose message is its only answer. The frame slider spans most of the picture's
width, a lane of one object on the timeline is at least 16 px tall, and nothing moves while
Play plays (its rate replaces the frame's time on the frame line). Screenshots go to
``SAM2NB_SCREENSHOT_DIR`` (default: the lab's folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from browser import in_kernel, notebook, open_beside_the_file_browser, track
from playwright.sync_api import Page, expect

from conftest import REPORT

# the boxes of the status line and the picture, and the visible part of the notebook panel's
# scroll container (the scrolling ancestor of the app), in window coordinates
VIEW = """() => {
  const app = document.querySelector('.sam2nb-app');
  let sc = app.parentElement;
  while (sc && !(sc.scrollHeight > sc.clientHeight + 5
                 && /(auto|scroll)/.test(getComputedStyle(sc).overflowY)))
    sc = sc.parentElement;
  const r = sc.getBoundingClientRect();
  const box = (sel) => { const b = document.querySelector(sel).getBoundingClientRect();
    return { top: b.top, bottom: b.bottom, left: b.left, right: b.right }; };
  const view = { top: Math.max(r.top, 0), bottom: Math.min(r.top + sc.clientHeight, innerHeight),
                 left: Math.max(r.left, 0), right: Math.min(r.left + sc.clientWidth, innerWidth) };
  return { view, status: box('.sam2nb-status'), picture: box('.sam2nb-canvas') }; }"""
# the tops of what a user aims at, while Play plays
TOPS = """() => { const top = (e) => e.getBoundingClientRect().top;
  const forward = [...document.querySelectorAll('.sam2nb-app button')]
    .find((b) => b.textContent.includes('forward'));
  return { forward: top(forward), ...Object.fromEntries(
    [['picture', '.sam2nb-canvas'], ['slider', '.sam2nb-frame-slider'],
     ['status', '.sam2nb-status'], ['info', '.sam2nb-scrubber-info']]
    .map(([k, s]) => [k, top(document.querySelector(s))])) }; }"""
# the timeline canvas: its pixel height and its height on the page
TIMELINE = """() => { const c = document.querySelector('.sam2nb-timeline');
  return { pixels: c.height, css: c.getBoundingClientRect().height }; }"""


def _in_view(page: Page, when: str, shot: Path) -> dict:
    """The status line and the picture are inside the notebook's visible area (screenshot)."""
    page.screenshot(path=shot)
    v = page.evaluate(VIEW)
    said = page.locator(".sam2nb-status").text_content()
    s, p, view = v["status"], v["picture"], v["view"]
    REPORT.append(f"  {when}: status {s['top']:.0f}-{s['bottom']:.0f}, picture {p['top']:.0f}-"
                  f"{p['bottom']:.0f}, visible notebook {view['top']:.0f}-{view['bottom']:.0f}; "
                  f"screenshot {shot}; it says {said!r}")  # fmt: skip
    assert view["top"] - 1 <= p["top"] and p["bottom"] <= view["bottom"] + 1, (when, v)
    assert view["top"] - 1 <= s["top"] and s["bottom"] <= view["bottom"] + 1, (when, v)
    assert view["left"] - 1 <= s["left"] and s["right"] <= view["right"] + 1, (when, v)
    return v


def test_the_status_stays_in_sight_and_play_moves_nothing(page: Page, lab, bedroom):
    page.set_viewport_size({"width": 1000, "height": 700})
    shots = Path(os.environ.get("SAM2NB_SCREENSHOT_DIR", lab["root"]))
    shots.mkdir(parents=True, exist_ok=True)
    name = notebook(lab["root"], bedroom, "status.ipynb", "outputs/02_video/session")
    canvas = open_beside_the_file_browser(page, lab, name)
    REPORT.append("the status line at 1000x700 with the file browser open:")
    _in_view(page, "after the cell ran", shots / "status-1000x700-ran.png")

    # the frame slider: most of the picture's width (a drag can pick one of 200 frames)
    pic = canvas.bounding_box()
    slider = page.locator(".sam2nb-frame-slider .slider-container").bounding_box()
    REPORT.append(f"  frame slider {slider['width']:.0f} px for a picture of {pic['width']:.0f}")
    assert slider["width"] >= 0.8 * pic["width"], (slider, pic)

    # a click, then tracking (the progress bar and its figures appear), stopped after 10 frames
    box = canvas.bounding_box()
    canvas.click(position={"x": 450 * box["width"] / 960, "y": 200 * box["height"] / 540})
    status = page.locator(".sam2nb-status")
    expect(status).to_contain_text("of the picture", timeout=60_000)
    lane = in_kernel(page, lab["root"], "pathlib.Path('lane.json').write_text(json.dumps("
                      "{'lane': app.scrubber.lane, 'n': len(app.session.objects)}))",
                      "lane.json")  # fmt: skip
    page.wait_for_timeout(500)
    tl = page.evaluate(TIMELINE)
    lane_px = lane["lane"] * tl["css"] / tl["pixels"]
    REPORT.append(f"  a lane of {lane['n']} object: {lane_px:.1f} px tall on the page "
                  f"(timeline {tl['css']:.0f} px)")  # fmt: skip
    assert lane["n"] == 1 and lane_px >= 16, (lane, tl)
    track(page, 10)
    page.wait_for_timeout(1000)
    _in_view(page, "after a propagation", shots / "status-1000x700-propagated.png")
    bar = page.locator(".sam2nb-progress-bar").bounding_box()
    figures = page.locator(".sam2nb-progress").bounding_box()
    off = figures["y"] + figures["height"] / 2 - bar["y"] - bar["height"] / 2
    assert abs(off) < 6, (bar, figures)  # the figures beside their bar, not on a line below

    # six objects, as in notebook 03 (four clicked, then the picker's): then fix next
    in_kernel(
        page,
        lab["root"],
        """
for _o, _xy in enumerate([(200, 300), (700, 150), (820, 420), (100, 100), (600, 480)], 2):
    app.click(*_xy, frame_idx=0, obj_id=_o)
app.scrubber.wait()
pathlib.Path('six.json').write_text(json.dumps(list(app.session.objects)))""",
        "six.json",
    )
    expect(page.locator(".sam2nb-objects button")).to_have_count(6, timeout=30_000)
    page.wait_for_timeout(1000)
    tl6 = page.evaluate(TIMELINE)
    REPORT.append(f"  timeline with 6 objects: {tl6['css']:.0f} px")
    assert tl6["css"] <= 80, tl6  # many objects: thinner lanes, a timeline of reasonable height
    _in_view(page, "with 6 objects", shots / "status-1000x700-6-objects.png")
    # fix next by its key on the picture (the button's click would scroll the page to it)
    page.locator(".sam2nb-stage").focus()
    page.keyboard.press("f")
    expect(status).to_contain_text("uspect", timeout=60_000)  # a suspect, or none left
    page.wait_for_timeout(1000)
    _in_view(page, "after fix next", shots / "status-1000x700-fix-next.png")

    # Play: the frame line says the rate drawn; nothing moves meanwhile
    before = page.evaluate(TOPS)
    page.locator(".sam2nb-play button:has(.fa-play)").click()
    tops, texts = [], set()
    for _ in range(20):
        page.wait_for_timeout(200)
        tops.append(page.evaluate(TOPS))
        texts.add(page.locator(".sam2nb-scrubber-info").text_content())
    page.screenshot(path=shots / "status-1000x700-playing.png")
    page.locator(".sam2nb-play button:has(.fa-pause)").click()
    moved = {k: max(abs(t[k] - before[k]) for t in tops) for k in before}
    REPORT.append(
        f"  while playing, moved (px): {moved}; the frame line said "
        f"{sorted(texts)[-1]!r}; screenshot {shots / 'status-1000x700-playing.png'}"
    )
    assert any("fps" in t for t in texts), texts
    assert all(m < 1 for m in moved.values()), moved

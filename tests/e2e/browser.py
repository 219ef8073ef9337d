"""What the browser tests share: the page's probes, the tracker's notebook, opening it, the
kernel behind it, and the measurements (``from browser import ...`` in tests/e2e)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from conftest import IDLE, wait_json, write_notebook

HELPERS = """() => {
  window.__cv = (sel) => { const el = document.querySelector(sel);
    return el && (el.tagName === 'CANVAS' ? el : el.querySelector('canvas')); };
  window.__px = (sel) => { const c = window.__cv(sel);
    return c.getContext('2d').getImageData(0, 0, c.width, c.height).data; };
  window.__mark = (sel) => { window.__base = window.__px(sel); };
  window.__changed = (sel) => { const d = window.__px(sel), b = window.__base; let n = 0;
    if (!b || b.length !== d.length) return d.length / 4;
    for (let i = 0; i < d.length; i += 4)
      if (d[i] !== b[i] || d[i + 1] !== b[i + 1] || d[i + 2] !== b[i + 2]) n++;
    return n; };
  window.__opaque = (sel) => { const d = window.__px(sel); let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n / (d.length / 4); };
}"""
# The page's own clock, installed before JupyterLab loads: when each input event fired, when each
# socket message arrived, and when a draw on the picture's canvas first changed enough of it.
# A check runs after each draw on that canvas only while a measurement is armed, so nothing
# polls the pixels every frame (that polling took the cores the kernel was measured on).
PROBE = """(() => {
  const T = window.__t = { input: [], ws: [], armed: null, seen: null, t0: 0 };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (e) => { const d = e.data;
        T.ws.push([performance.now(), d.byteLength ?? d.size ?? d.length ?? 0]); });
    }
  };
  for (const t of ["pointerdown", "keydown"])
    addEventListener(t, (e) => T.input.push([t, e.timeStamp]), true);
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...a) {
    const r = draw.apply(this, a), A = T.armed;
    if (A && T.seen === null && window.__cv && this.canvas === window.__cv(A.sel)) {
      const t = performance.now();
      if (window.__changed(A.sel) >= A.n) T.seen = t;
    }
    return r;
  };
})()"""
CANVAS = ".sam2nb-canvas"


def notebook(root: Path, video: Path, name: str = "tracker.ipynb", folder: str = "run") -> str:
    code = f"""import json, pathlib
import sam2nb as s2
engine = s2.load("test")
app = s2.VideoTracker(r"{video}", engine, folder="{folder}")
def _dump(*_):
    pathlib.Path("session_log.json").write_text(json.dumps(app.session.log.to_json()))
app.canvas.on_click(_dump)
app.canvas.on_box(_dump)
app.widget"""
    return write_notebook(root, name, code)


def open_app(page: Page, lab: dict, name: str) -> Locator:
    """Open notebook ``name``, run it, and wait until the app's picture is drawn; its canvas."""
    page.goto(f"{lab['base']}/lab/tree/{name}?token={lab['token']}")
    page.wait_for_function(IDLE, arg=name, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    canvas = page.locator(CANVAS)
    expect(canvas).to_be_visible(timeout=180_000)
    page.evaluate(HELPERS)
    page.wait_for_function(f"() => window.__opaque('{CANVAS}') > 0.9", timeout=60_000)
    return canvas


KERNEL_RUN = """async (code) => { const w = window.jupyterapp.shell.currentWidget;
  const f = w.sessionContext.session.kernel.requestExecute({code}); await f.done; }"""


def in_kernel(page: Page, root: Path, code: str, out: str) -> dict:
    """Run ``code`` in the notebook's kernel (it writes JSON to ``out``); returns that JSON."""
    (root / out).unlink(missing_ok=True)
    page.evaluate(KERNEL_RUN, code)
    return json.loads((root / out).read_text())


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def arm(page: Page, min_pixels: int) -> float:
    """Start a measurement in the page's clock (before the user action); Python's clock."""
    page.evaluate(
        "([sel, n]) => { const T = window.__t; window.__mark(sel); T.seen = null;"
        " T.t0 = performance.now(); T.armed = {sel, n}; }", [CANVAS, min_pixels],
    )  # fmt: skip
    return time.perf_counter()


def drawn(page: Page, t0: float, timeout: float = 30_000) -> dict:
    """Once the armed change is drawn: ``ms`` from the input event to the draw (page clock),
    ``reply_ms`` to the last big socket message before it, ``harness_ms`` as the test sees it."""
    page.wait_for_function("() => window.__t.seen !== null", polling=20, timeout=timeout)
    harness = (time.perf_counter() - t0) * 1000
    return page.evaluate(
        """(harness) => { const T = window.__t; T.armed = null;
        const ev = T.input.find((i) => i[1] >= T.t0), start = ev ? ev[1] : T.t0;
        const big = T.ws.filter((w) => w[0] >= start && w[0] <= T.seen && w[1] > 2000);
        const reply = big.length ? big[big.length - 1][0] : T.seen;
        return { ms: T.seen - start, reply_ms: reply - start, harness_ms: harness,
                 event: ev ? ev[0] : null }; }""",
        harness,
    )


# Frames a tracking round runs, in the app and headless alike: long enough that the start of a run
# (its first frame, the first picture "follow" draws) and its stop weigh little beside the frames
ROUND_FRAMES = 60


def track(page: Page, frames: int = ROUND_FRAMES) -> tuple[int, float]:
    """Propagate forward with the button, stop after ``frames``; frames done and the app's rate."""
    progress = page.locator(".sam2nb-progress")
    page.get_by_role("button", name="▶ forward").click()
    page.wait_for_function(
        "(n) => { const t = document.querySelector('.sam2nb-progress')?.textContent || '';"
        " return !/stopped|done/.test(t) && parseInt(t || '0') >= n; }",
        arg=frames,
        polling=1000,  # not every animation frame, nor 4 times a second: Chromium's cores
        timeout=180_000,
    )
    page.locator(".sam2nb-stop").click()  # the picker has a stop button too
    expect(page.locator(".sam2nb-status")).to_contain_text("Propagated forward", timeout=60_000)
    expect(progress).to_contain_text("stopped")
    text = progress.text_content()
    return int(text.split()[0]), float(text.split(",")[1].strip().split("/")[0])


def wait_log(root: Path, done, timeout: float = 60.0) -> list[dict]:
    """The session's prompt log, as the notebook dumps it, once ``done(log)`` holds."""
    return wait_json(root / "session_log.json", done, timeout,
                     "the session's prompt log never showed the expected prompt")  # fmt: skip


def open_beside_the_file_browser(page: Page, lab: dict, name: str):
    """Open notebook ``name`` with JupyterLab's file browser open, run it, wait for the picture."""
    page.goto(f"{lab['base']}/lab/tree/{name}?token={lab['token']}")
    page.wait_for_function(IDLE, arg=name, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('filebrowser:activate')")  # Lab's default
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    canvas = page.locator(CANVAS)
    expect(canvas).to_be_visible(timeout=180_000)
    page.evaluate(HELPERS)
    page.wait_for_function(f"() => window.__opaque('{CANVAS}') > 0.9", timeout=60_000)
    page.wait_for_timeout(1000)  # the app has scrolled itself into view
    return canvas

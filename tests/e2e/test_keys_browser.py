"""Every key the apps advertise reaches them from a real browser (JupyterLab, headless Chromium).

The picture's stage takes only the keys of the canvas's key table from the page (so Tab and
JupyterLab's own keys pass); a key left out of its filter does nothing although the tooltip, the
status line and the README name it (``f``, fix next, did exactly that). Each key of the video
tracker's table is pressed after a click on the picture, and must reach the kernel as its action.
"""

from __future__ import annotations

import json

from browser import in_kernel, notebook, open_app, wait_log
from playwright.sync_api import Page, expect

from conftest import wait_json

RECORD = """import json, pathlib
seen = []
def _seen(_w, msg, _b):
    if msg.get("event") == "key":
        seen.append(msg["key"])
        pathlib.Path("keys_seen.json").write_text(json.dumps(seen))
app.canvas.stage.on_msg(_seen)
actions = []
app.canvas.on_key(lambda a: actions.append(a))
pathlib.Path("key_table.json").write_text(json.dumps(app.canvas.keys))
"""


def test_every_advertised_key_reaches_the_app(page: Page, lab, bedroom):
    page.set_viewport_size({"width": 1000, "height": 700})
    root = lab["root"]
    name = notebook(root, bedroom, name="keys.ipynb", folder="keys-run")
    canvas = open_app(page, lab, name)
    table = in_kernel(page, root, RECORD, "key_table.json")
    assert table.get("f") == "fix next" and "z" in table and "Escape" in table
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # focus
    wait_log(root, lambda log: len(log) >= 1)
    keys = [k for k in table if k not in "123456789f"] + ["1", "2", "f"]
    for k in keys:
        page.keyboard.press(k)
        page.wait_for_timeout(60)
    page.keyboard.press("a")  # not a shortcut: it passes to the page
    seen = wait_json(root / "keys_seen.json", lambda s: len(s) >= len(keys), 30,
                     f"the app got only some of the keys {keys}")  # fmt: skip
    assert seen == keys
    got = in_kernel(page, root, 'pathlib.Path("acts.json").write_text(json.dumps(actions))',
                     "acts.json")  # fmt: skip
    assert got == [table[k] for k in keys if table[k] != "cancel"]
    # f (fix next), pressed last, answers in the status line
    expect(page.locator(".sam2nb-status").first).to_contain_text("suspect", ignore_case=True)
    page.wait_for_timeout(300)
    assert json.loads((root / "keys_seen.json").read_text())[-1] == "f"  # "a" never came

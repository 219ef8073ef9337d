"""The picture's input layer: exact pointer positions and modifier keys, from the browser.

ipycanvas draws the picture well but reads its input badly for a workbench: on mouse-down it
focuses the canvas first, which scrolls a partly hidden picture into view, and only then reads
the canvas position, so the point lands off by the scroll distance (100 px and more); its mouse
events carry no modifier keys, so Shift + click could only be guessed from a key press, which
needs the canvas to have keyboard focus already. See ipycanvas ``src/widget.ts``
``onMouseDown`` and ``getCoordinates`` (0.14).

:class:`Stage` is a small anywidget that holds ipycanvas's own canvas view and owns its input:

- a pointer-down is read at event time, before anything can move the page, scaled from the
  canvas's CSS box to its pixels (right at any scroll position, zoom and displayed size), and
  sent with the pointer event's own ``shiftKey``, ``ctrlKey``, ``metaKey`` and ``altKey``;
- then the stage takes focus without scrolling (``focus({preventScroll: true})``), so the
  keyboard shortcuts work after a click on the picture;
- moves are sent only while a button is held, at most one every 40 ms (the rubber band);
- only the shortcut keys are taken from the page: those of the canvas's key table
  (:data:`sam2nb.widgets.canvas.KEYS` and an app's own, in :attr:`Stage.shortcuts`); Tab and the
  notebook's own keys pass;
- ipycanvas's own mouse, wheel and touch handlers never run (so it never focuses or scrolls,
  and the mouse wheel scrolls the notebook over the picture);
- the canvas sits in block layout, so it keeps its shape when its height is capped and is
  never stretched wider than its pixels (a flex column would stretch it);
- when first shown (the cell just ran) it scrolls its app (``.sam2nb-app``) into view: all
  of it if it fits, else its top; a page reload does not scroll again.

Messages to Python: ``{"event": "down" | "move" | "up" | "cancel", "x", "y", "shift",
"ctrl", "meta", "alt", "button"}`` in canvas (display) pixels, and ``{"event": "key", "key",
"shift", "ctrl", "meta"}``.
"""

from __future__ import annotations

import anywidget
import ipywidgets as W
import traitlets

ESM = r"""
export default {
  async render({ model, el }) {
    // the shortcuts of PromptCanvas's key table; other keys pass to the page
    const table = () => new Set(model.get("shortcuts").map((k) => k.toLowerCase()));
    let keys = table();
    model.on("change:shortcuts", () => { keys = table(); });
    const wm = model.widget_manager;
    const ref = model.get("canvas");
    const m = await wm.get_model(ref.slice("IPY_MODEL_".length));
    const view = await wm.create_view(m);  // ipycanvas's own view: it keeps drawing into it
    const cv = view.el;
    cv.removeAttribute("tabindex");  // ipycanvas would focus it, scrolling the page
    el.classList.add("sam2nb-stage");
    el.tabIndex = 0;  // the stage takes the shortcut keys
    el.appendChild(cv);
    view.trigger("displayed");  // ipywidgets applies the canvas's classes and layout now
    for (const t of ["mousedown", "mouseup", "mousemove", "mouseout", "wheel",
                     "touchstart", "touchend", "touchmove", "touchcancel"])
      el.addEventListener(t, (e) => e.stopPropagation(), true);  // not to ipycanvas
    const at = (e) => {  // canvas pixels, from the box as it is when the event fires
      const r = cv.getBoundingClientRect();
      return [(e.clientX - r.left) * cv.width / r.width,
              (e.clientY - r.top) * cv.height / r.height];
    };
    const send = (event, e) => {
      const [x, y] = at(e);
      model.send({ event, x, y, shift: e.shiftKey, ctrl: e.ctrlKey, meta: e.metaKey,
                   alt: e.altKey, button: e.button });
    };
    let down = null, last = 0;
    el.addEventListener("pointerdown", (e) => {
      const [x, y] = at(e);
      if (e.button !== 0 || x < 0 || y < 0 || x > cv.width || y > cv.height) return;
      send("down", e);  // 1. the point, before anything can move the page
      down = e.pointerId;
      el.setPointerCapture(e.pointerId);
      e.preventDefault();
      el.focus({ preventScroll: true });  // 2. the keys come here; the page stays put
    });
    el.addEventListener("pointermove", (e) => {
      if (down !== e.pointerId) return;
      const now = performance.now();
      if (now - last < 40) return;
      last = now;
      send("move", e);
    });
    el.addEventListener("pointerup", (e) => {
      if (down === e.pointerId) { down = null; send("up", e); }
    });
    el.addEventListener("pointercancel", (e) => {
      if (down === e.pointerId) { down = null; send("cancel", e); }
    });
    el.addEventListener("keydown", (e) => {
      if (!keys.has(e.key.toLowerCase())) return;
      model.send({ event: "key", key: e.key, shift: e.shiftKey, ctrl: e.ctrlKey,
                   meta: e.metaKey });
      e.preventDefault();
      e.stopPropagation();
    });
    if (model.get("reveal")) {  // the cell just ran: show the whole app, once
      const t0 = performance.now();
      const reveal = () => {
        const app = el.closest(".sam2nb-app");
        if (!el.isConnected || !app) {  // not in the page yet: try again next frame (2 s)
          if (performance.now() - t0 < 2000) requestAnimationFrame(reveal);
          return;
        }
        let sc = app.parentElement;
        while (sc && !(sc.scrollHeight > sc.clientHeight + 5
                       && /(auto|scroll)/.test(getComputedStyle(sc).overflowY)))
          sc = sc.parentElement;
        const room = sc ? sc.clientHeight : innerHeight;
        app.scrollIntoView({ block: app.offsetHeight <= room ? "nearest" : "start" });
        model.set("reveal", false);  // a page reload does not jump to it again
        model.save_changes();
      };
      requestAnimationFrame(reveal);
    }
    // the object buttons' strip scrolls sideways when full: keep the current object in it
    let strip = null, watch = null;
    const follow = () => {
      const b = strip && strip.querySelector("button.sam2nb-current");
      if (!b) return;
      const r = strip.getBoundingClientRect(), d = b.getBoundingClientRect();
      if (d.right > r.right) strip.scrollLeft += d.right - r.right;
      else if (d.left < r.left) strip.scrollLeft -= r.left - d.left;
    };
    const t1 = performance.now();
    const hook = () => {
      const app = el.closest(".sam2nb-app");
      if (!app) {  // not in the page yet: try again for 5 s (a canvas of no app: never found)
        if (performance.now() - t1 < 5000) setTimeout(hook, 250);
        return;
      }
      strip = app.querySelector(".sam2nb-objects");
      if (!strip) return;
      watch = new MutationObserver(() => requestAnimationFrame(follow));
      watch.observe(strip, { childList: true, subtree: true, attributes: true,
                             attributeFilter: ["class"] });
      follow();
    };
    requestAnimationFrame(hook);
    return () => { if (watch) watch.disconnect(); view.remove(); };
  },
};
"""

CSS = """
.sam2nb-stage { outline: none; touch-action: none; max-width: 100%; line-height: 0; }
.sam2nb-stage canvas { display: block; }
.sam2nb-play button:nth-of-type(2) { display: none; }
.widget-play.sam2nb-play { width: 84px; flex: 0 0 84px; }
.sam2nb-frame-slider .widget-readout { min-width: 3em; }
.sam2nb-scrubber-info .widget-html-content { white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.sam2nb-status { height: auto; }
.sam2nb-banner, .sam2nb-banner .widget-html-content { min-width: 0; overflow: hidden; }
.sam2nb-objects { min-width: 0; }
.sam2nb-status .widget-html-content { line-height: 1.35; padding: 2px 0; display: -webkit-box;
  -webkit-box-orient: vertical; -webkit-line-clamp: 2; overflow: hidden; }
"""  # the Play of ipywidgets 8 has play/pause, stop (back to frame 0: hidden) and repeat, two
# icons in 84 px (not 148: the frame line beside them keeps its room);
# the frame slider's readout is as wide as a frame number (its track gets the rest of its row);
# the frame's line keeps one line (cut with an ellipsis, the whole text in its tooltip): Play's
# rate in place of the time never wraps it and moves the rows below; the status line's lines
# are text lines (17 px), not 28-px control rows, at most two (the rest is in its tooltip), so
# it fits a laptop's window under the picture's controls


class Stage(anywidget.AnyWidget):
    """Holds an ipycanvas canvas and sends its pointer and key input (see the module notes).

    Example:
        >>> from ipycanvas import MultiCanvas
        >>> stage = Stage(canvas=MultiCanvas(3, width=64, height=48))
        >>> stage.on_msg(lambda widget, msg, buffers: print(msg["event"]))
    """

    _esm = ESM
    _css = CSS
    canvas = traitlets.Instance(W.DOMWidget).tag(sync=True, **W.widget_serialization)
    reveal = traitlets.Bool(True).tag(sync=True)  # scroll the app into view when first shown
    shortcuts = traitlets.List(traitlets.Unicode()).tag(sync=True)  # the keys the page sends

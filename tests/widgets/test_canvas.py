"""widgets/canvas: the prompt canvas without a browser. Frontend events are injected on the comm
message path and the draw traffic is recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import frontend, key, mouse, record_draws

import sam2nb as s2
from sam2nb.widgets.canvas import BAND_INTERVAL


@pytest.fixture
def sent(monkeypatch):
    """Every draw message ipycanvas sends: a list of [json, *buffers] byte strings."""
    return record_draws(monkeypatch)


class Clock:
    """A clock that moves only when the test moves it (no assertion depends on machine speed)."""

    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pc(clock):
    return s2.PromptCanvas(s2.Viewport((640, 480), (320, 240)), clock=clock)


def test_click_box_and_modifier(pc, sent, clock):
    clicks, boxes = [], []
    pc.on_click(lambda x, y, lab: clicks.append((x, y, lab)))
    pc.on_box(boxes.append)
    mc = pc.widget
    mouse(mc, "mouse_down", 50.0, 25.0)
    mouse(mc, "mouse_up", 51.0, 26.0)  # moved 1 px: a click, where the button went down
    assert clicks == [(100.0, 50.0, 1)]
    key(mc, "Shift", shift=True)  # the Shift key alone does nothing (the stage does not send it)
    mouse(mc, "mouse_down", 10.0, 10.0)
    mouse(mc, "mouse_up", 10.0, 10.0)
    assert clicks[-1] == (20.0, 20.0, 1)
    mouse(mc, "mouse_down", 10.0, 10.0, shift=True)  # Shift held as the button went down
    mouse(mc, "mouse_up", 10.0, 10.0)
    assert clicks[-1] == (20.0, 20.0, 0)  # Shift + click: negative, whatever had focus
    mouse(mc, "mouse_down", 10.0, 10.0)
    mouse(mc, "mouse_up", 10.0, 10.0, shift=True)  # Shift pressed only after the press
    assert clicks[-1][2] == 1  # the press decides
    mouse(mc, "mouse_down", 10.2, 10.7)
    mouse(mc, "mouse_up", 10.2, 10.7)
    assert clicks[-1][:2] == (20.4, 21.4)  # fractional display pixels are kept
    key(mc, "n")
    mouse(mc, "mouse_down", 5.0, 5.0)
    mouse(mc, "mouse_up", 5.0, 5.0)
    assert clicks[-1][2] == 0 and pc.label == 0  # negative mode
    mouse(mc, "mouse_down", 100.0, 90.0)
    mouse(mc, "mouse_up", 40.0, 30.0)  # dragged up-left: a box, sorted
    assert boxes == [[80.0, 60.0, 200.0, 180.0]]
    assert len(clicks) == 6
    frontend(mc, {"event": "down", "x": "?"})  # a malformed message is ignored
    frontend(mc, "not a dict")
    assert len(clicks) == 6 and len(boxes) == 1


def test_drag_band_is_throttled_and_out_cancels(pc, sent, clock):
    boxes = []
    pc.on_box(boxes.append)
    mc = pc.widget
    mouse(mc, "mouse_move", 5.0, 5.0)  # no button down: nothing drawn
    assert sent == []
    mouse(mc, "mouse_down", 10.0, 10.0)
    for i in range(50):  # 50 moves in a burst (the clock stands still): one band
        mouse(mc, "mouse_move", 20.0 + i, 20.0 + i)
    assert len(sent) == 1
    clock.t += BAND_INTERVAL / 2
    mouse(mc, "mouse_move", 80.0, 80.0)
    assert len(sent) == 1  # at most one band per BAND_INTERVAL (40 ms)
    clock.t += BAND_INTERVAL
    mouse(mc, "mouse_move", 90.0, 90.0)
    assert len(sent) == 2
    assert all(len(m[0]) < 2000 for m in sent)  # vector commands, no pixels
    mouse(mc, "mouse_out", 300.0, 200.0)
    mouse(mc, "mouse_up", 300.0, 200.0)  # after leaving: no box
    assert boxes == []


def _strokes(message: bytes) -> list[tuple]:
    """The rectangles a draw message strokes: ``(rect, line width, colour, dashed)`` each."""
    from ipycanvas.canvas import COMMANDS, Canvas

    width, colour, dashed, out = 1.0, "#000000", False, []
    for cmd in json.loads(message):
        if cmd[0] == COMMANDS["set"] and cmd[1][0] == Canvas.ATTRS["line_width"]:
            width = cmd[1][1]
        elif cmd[0] == COMMANDS["set"] and cmd[1][0] == Canvas.ATTRS["stroke_style"]:
            colour = cmd[1][1]
        elif cmd[0] == COMMANDS["setLineDash"]:
            dashed = bool(cmd[1][0])
        elif cmd[0] == COMMANDS["strokeRect"]:
            out.append((tuple(cmd[1]), width, colour, dashed))
    return out


def test_the_rubber_band_shows_over_any_mask_and_frame(pc, sent):
    """A white line outlined in black (seen on a mask of the object's own colour, on a dark or a
    light frame), dashed with the object's colour (which object the box is for)."""
    pc._prompts = ({}, {1: (30, 144, 255)}, 1)
    mouse(pc.widget, "mouse_down", 10.0, 10.0)
    mouse(pc.widget, "mouse_move", 100.0, 80.0)
    band = [s for s in _strokes(sent[-1][0]) if s[0] == (10, 10, 90, 70)]
    solid = [(w, c) for _, w, c, dashed in band if not dashed]
    assert ("#ffffff" in [c for _, c in solid]) and ("#000000" in [c for _, c in solid]), band
    dark = max(w for w, c in solid if c == "#000000")
    light = max(w for w, c in solid if c == "#ffffff")
    assert light >= 2 and dark >= light + 2, band  # 1 px of black on each side of the white
    assert solid.index((dark, "#000000")) < solid.index((light, "#ffffff")), band  # under it
    assert any(dashed and c == "#1e90ff" for _, _, c, dashed in band), band  # the object's
    mouse(pc.widget, "mouse_up", 100.0, 80.0)
    assert [s for s in _strokes(sent[-1][0]) if s[0] == (10, 10, 90, 70)] == []  # gone


def test_keys_map_to_actions(pc):
    got = []
    pc.on_key(got.append)
    for k, shift in [("z", False), ("z", True), ("y", False), ("3", False), ("p", False),
                     ("q", False)]:  # fmt: skip
        key(pc.widget, k, shift)
    assert got == ["undo", "redo", "redo", "object 3", "positive"]
    pc.on_key(got.append, remove=True)
    key(pc.widget, "z")
    assert len(got) == 5


def test_frame_bytes_go_out_untouched_and_reload_redraws(pc, sent):
    jpeg = s2.encode_jpeg(np.full((240, 320, 3), 90, np.uint8), quality=60)
    m = np.zeros((240, 320), bool)
    m[50:80, 60:90] = True
    pc.show(jpeg, s2.mask_layer({1: m}), {}, {})
    assert len(sent) == 1  # one message per batch
    assert sent[0][1] == jpeg and sent[0][2][:8] == b"\x89PNG\r\n\x1a\n"
    assert pc.bytes_sent == len(jpeg) + len(sent[0][2])
    frontend(pc.canvas, {"event": "client_ready"})  # a page reload
    assert len(sent) == 2 and sent[1][1] == jpeg and sent[1][2] == sent[0][2]


def test_a_frame_already_shown_is_not_sent_again(pc, sent):
    jpeg = s2.encode_jpeg(np.full((240, 320, 3), 90, np.uint8), quality=60)
    other = s2.encode_jpeg(np.full((240, 320, 3), 30, np.uint8), quality=60)
    m = np.zeros((240, 320), bool)
    m[50:80, 60:90] = True
    pc.show(jpeg, None, {}, {})
    n = pc.bytes_sent
    pc.show(bytes(jpeg), s2.mask_layer({1: m}), {}, {})  # the same frame, new masks (a click)
    assert jpeg not in sent[-1] and sent[-1][1][:8] == b"\x89PNG\r\n\x1a\n"
    assert pc.bytes_sent - n == len(sent[-1][1])  # the mask layer only
    pc.show(other, None, {}, {})  # another frame goes out
    assert sent[-1][1] == other
    pc.show(jpeg, None, {}, {})  # and the first one again
    assert sent[-1][1] == jpeg
    frontend(pc.canvas, {"event": "client_ready"})  # a reload still gets the frame
    assert sent[-1][1] == jpeg

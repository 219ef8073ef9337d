"""base/colors: the palette, colour parsing and formatting, mask colours."""

from __future__ import annotations

import numpy as np
import pytest

from sam2nb.base.colors import PALETTE, color_of, default_color, hex_color, mask_colors, parse_color
from sam2nb.base.errors import PromptError


def _tab10() -> list[tuple[int, int, int]]:
    import matplotlib

    return [tuple(round(c * 255) for c in rgb) for rgb in matplotlib.colormaps["tab10"].colors]


# -- default_color -------------------------------------------------------------------------
@pytest.mark.parametrize("obj_id", range(1, 11))
def test_ids_one_to_ten_get_matplotlibs_tab10(obj_id):
    assert default_color(obj_id) == _tab10()[obj_id - 1]


@pytest.mark.parametrize("obj_id", [1, 4, 10, 11, 37, 1000])
def test_the_palette_cycles_every_ten_ids(obj_id):
    assert default_color(obj_id) == default_color(obj_id + 10) == default_color(obj_id + 100)


@pytest.mark.parametrize("obj_id, same_as", [(0, 10), (-1, 9), (np.int64(3), 3), (13, 3)])
def test_any_integer_id_has_a_colour(obj_id, same_as):
    assert default_color(obj_id) == default_color(same_as)


def test_the_ten_palette_colours_are_distinct():
    assert len({default_color(i) for i in range(1, 11)}) == len(PALETTE) == 10


# -- parse_color ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "color, want",
    [
        ("#ff8000", (255, 128, 0)),
        ("#FF8000", (255, 128, 0)),
        ("  #00ff7f ", (0, 255, 127)),
        ("#000000", (0, 0, 0)),
        ("red", (255, 0, 0)),
        ("orange", (255, 165, 0)),
        ("tab:blue", (31, 119, 180)),
        ((1, 2, 3), (1, 2, 3)),
        ([0, 255, 0], (0, 255, 0)),
        (np.array([4, 5, 6], np.uint8), (4, 5, 6)),
        ((np.int64(7), 8.0, 9), (7, 8, 9)),
        ((255, 255, 255), (255, 255, 255)),
    ],
)
def test_accepted_colours(color, want):
    got = parse_color(color)
    assert got == want
    assert isinstance(got, tuple) and all(type(c) is int for c in got)


@pytest.mark.parametrize(
    "color, needle",
    [
        ("notacolour", "#rrggbb"),
        ("", "#rrggbb"),
        ("#gg0000", "#rrggbb"),
        ("#ff80001", "#rrggbb"),
        ((1, 2), "0-255"),
        ((1, 2, 3, 4), "0-255"),
        ((256, 0, 0), "0-255"),
        ((-1, 0, 0), "0-255"),
        (("a", "b", "c"), "0-255"),
        (None, "0-255"),
        (42, "0-255"),
    ],
)
def test_refused_colours_say_what_is_accepted(color, needle):
    with pytest.raises(PromptError, match=needle) as err:
        parse_color(color)
    assert isinstance(err.value, ValueError)  # PromptError is a ValueError too


# -- hex_color -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rgb, want",
    [((255, 128, 0), "#ff8000"), ((0, 0, 0), "#000000"), ((1, 2, 3), "#010203"),
     ([16, 32, 255], "#1020ff"), (np.array([10, 11, 12]), "#0a0b0c")],
)  # fmt: skip
def test_hex_color(rgb, want):
    assert hex_color(rgb) == want


@pytest.mark.parametrize("obj_id", range(1, 11))
def test_hex_and_parse_round_trip(obj_id):
    rgb = default_color(obj_id)
    assert parse_color(hex_color(rgb)) == rgb


# -- color_of ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "colors, obj_id, want",
    [
        ({2: (1, 2, 3)}, 2, (1, 2, 3)),
        ({2: [1, 2, 3]}, 2, (1, 2, 3)),
        ({2: (1, 2, 3)}, 3, "default"),
        ({}, 1, "default"),
        (None, 5, "default"),
    ],
    ids=["given", "list-given", "other-id", "empty-mapping", "no-mapping"],
)
def test_color_of(colors, obj_id, want):
    got = color_of(colors, obj_id)
    assert got == (default_color(obj_id) if want == "default" else want)
    assert isinstance(got, tuple)


# -- mask_colors ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 40])
def test_mask_colours_are_distinct(n):
    cols = mask_colors(n)
    assert len({tuple(c) for c in cols}) == n


@pytest.mark.parametrize("n", [0, 1, 5, 100])
def test_mask_colours_shape_and_type(n):
    cols = mask_colors(n)
    assert cols.shape == (n, 3) and cols.dtype == np.uint8


def test_no_mask_colours_for_a_negative_count():
    assert mask_colors(-3).shape == (0, 3)


def test_mask_colours_are_stable_prefixes():
    assert np.array_equal(mask_colors(12)[:5], mask_colors(5))  # the same mask keeps its colour

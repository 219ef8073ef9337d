"""media/overlay: display sizes, the viewport, mask layers, encoding, the frame cache, runs."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

import sam2nb as s2
from sam2nb.base.colors import default_color
from sam2nb.media.overlay import encode_png, overlay_frame, runs


def _rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# -- sizes and the viewport ----------------------------------------------------------------
@pytest.mark.parametrize(
    "w, h, limit, needle",
    [(0, 10, 960, "0x10"), (10, 0, 960, "10x0"), (-5, 10, None, "cannot be shown"),
     (1920, 1080, 15, "too small"), (1920, 1080, 0, "too small")],
)  # fmt: skip
def test_fit_size_refuses_what_cannot_be_shown(w, h, limit, needle):
    with pytest.raises(ValueError, match=needle):
        s2.fit_size(w, h, limit)


@pytest.mark.parametrize("w, h", [(1920, 1080), (3000, 7), (961, 2000), (4096, 2160)])
def test_fit_size_keeps_the_aspect_and_never_collapses(w, h):
    dw, dh = s2.fit_size(w, h, 960)
    assert dw == 960 and dh >= 1
    assert abs(dh - h * 960 / w) <= 0.5


@pytest.mark.parametrize("w, h, limit", [(1920, 1080, 960), (640, 480, 960), (853, 480, 640)])
def test_viewport_fit(w, h, limit):
    vp = s2.Viewport.fit(w, h, limit)
    assert vp.video_size == (w, h) and vp.display_size == s2.fit_size(w, h, limit)
    assert vp.scale == pytest.approx((w / vp.display_size[0], h / vp.display_size[1]))


@pytest.mark.parametrize(
    "x0, y0, x1, y1", [(10, 20, 30, 40), (30, 40, 10, 20), (30, 20, 10, 40), (-9, -9, 999, 999)]
)
def test_box_to_video_is_sorted_and_clamped(x0, y0, x1, y1):
    vp = s2.Viewport((200, 100), (100, 50))
    a, b, c, d = vp.box_to_video(x0, y0, x1, y1)
    assert a <= c and b <= d
    assert 0 <= a and 0 <= b and c <= 200 and d <= 100
    assert (a, c) == (min(max(min(x0, x1) * 2, 0), 200), min(max(max(x0, x1) * 2, 0), 200))


def test_resize_frame_and_mask_to_the_display_size():
    vp = s2.Viewport((40, 20), (20, 10))
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, 20:] = 200  # right half bright
    small = vp.resize_frame(rgb)
    assert small.shape == (10, 20, 3) and small.dtype == np.uint8
    assert (small[:, :10] == 0).all() and (small[:, 10:] == 200).all()
    mask = _rect(20, 40, 0, 20, 0, 20)
    m = vp.resize_mask(mask)
    assert m.shape == (10, 20) and m.dtype == bool
    assert m[:, :10].all() and not m[:, 10:].any()


def test_resize_is_a_no_op_at_the_display_size():
    vp = s2.Viewport((20, 10), (20, 10))
    rgb = np.full((10, 20, 3), 7, np.uint8)
    assert vp.resize_frame(rgb) is rgb
    mask = _rect(10, 20, 2, 5, 3, 9)
    assert np.array_equal(vp.resize_mask(mask), mask)
    assert np.array_equal(vp.resize_mask(mask.astype(np.uint8)), mask)  # 0/1 masks too


# -- encoding ------------------------------------------------------------------------------
def test_jpeg_decodes_close_to_the_frame():
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:, :24] = (200, 40, 10)
    back = _decode(s2.encode_jpeg(rgb, quality=95))
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 8


def test_jpeg_quality_trades_size():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert len(s2.encode_jpeg(rgb, quality=20)) < len(s2.encode_jpeg(rgb, quality=95))


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_jpeg_quality_out_of_range(quality):
    with pytest.raises(ValueError, match="1..100"):
        s2.encode_jpeg(np.zeros((4, 4, 3), np.uint8), quality=quality)


def test_png_is_lossless_rgba():
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 255, (9, 13, 4), dtype=np.uint8)
    assert np.array_equal(_decode(encode_png(rgba)), rgba)


# -- mask layers ---------------------------------------------------------------------------
@pytest.mark.parametrize("objects", [1, 3, 130], ids=["one", "three", "past-the-palette"])
def test_layer_png_is_its_rgba(objects):
    """A palette PNG (up to 127 objects) or an RGBA one: the browser gets the same pixels."""
    masks = {o: _rect(60, 80, (o * 7) % 50, (o * 7) % 50 + 9, (o * 3) % 60, (o * 3) % 60 + 19)
             for o in range(1, objects + 1)}  # fmt: skip
    layer = s2.mask_layer(masks)
    decoded = Image.open(io.BytesIO(layer.png()))
    assert decoded.mode == ("P" if objects <= 127 else "RGBA")
    assert np.array_equal(np.asarray(decoded.convert("RGBA")), layer.rgba)


def test_later_ids_paint_over_earlier():
    under, over = _rect(30, 30, 5, 20, 5, 20), _rect(30, 30, 10, 15, 10, 15)
    layer = s2.mask_layer({1: under, 2: over}, {1: (255, 0, 0), 2: (0, 255, 0)}, outline=0)
    at = lambda y, x: tuple(layer.rgba[y - layer.y, x - layer.x][:3])  # noqa: E731
    assert at(12, 12) == (0, 255, 0) and at(6, 6) == (255, 0, 0)


def test_ids_without_a_colour_get_the_palette():
    layer = s2.mask_layer({3: _rect(20, 20, 5, 10, 5, 10)}, {1: (1, 2, 3)}, opacity=1.0)
    assert tuple(layer.rgba[5 - layer.y, 5 - layer.x]) == (*default_color(3), 255)


@pytest.mark.parametrize("outline", [0, 1, 3])
def test_outline_width(outline):
    m = _rect(40, 40, 15, 25, 15, 25)
    layer = s2.mask_layer({1: m}, {1: (9, 9, 9)}, opacity=0.5, outline=outline)
    full = np.zeros((40, 40, 4), np.uint8)
    h, w = layer.rgba.shape[:2]
    full[layer.y : layer.y + h, layer.x : layer.x + w] = layer.rgba
    alpha = full[..., 3]
    assert (alpha[m] == round(255 * 0.5)).all()  # the fill
    opaque = alpha == 255
    assert opaque.sum() == (10 + 2 * outline) ** 2 - 100  # a ring `outline` pixels wide
    assert not opaque[m].any()
    assert (layer.x, layer.y) == (15 - outline, 15 - outline)  # cropped to the ring


@pytest.mark.parametrize("opacity, alpha", [(0.0, 0), (1.0, 255), (0.25, 64)])
def test_fill_opacity(opacity, alpha):
    layer = s2.mask_layer({1: _rect(10, 10, 2, 8, 2, 8)}, opacity=opacity, outline=0)
    assert (layer.rgba[..., 3] == alpha).all()


@pytest.mark.parametrize("opacity", [-0.1, 1.5])
def test_opacity_out_of_range(opacity):
    with pytest.raises(ValueError, match="opacity"):
        s2.mask_layer({1: _rect(10, 10, 2, 8, 2, 8)}, opacity=opacity)


def test_crop_stops_at_the_picture_edges():
    m = _rect(20, 30, 0, 20, 25, 30)  # touches the top, bottom and right edges
    layer = s2.mask_layer({1: m}, outline=4)
    assert (layer.x, layer.y) == (21, 0)
    assert layer.rgba.shape == (20, 9, 4)


def test_no_layer_without_pixels():
    assert s2.mask_layer({}) is None
    assert s2.mask_layer({1: np.zeros((8, 8), bool), 2: np.zeros((8, 8), bool)}) is None


def test_empty_masks_beside_others_are_ignored():
    m = _rect(20, 20, 5, 10, 5, 10)
    a = s2.mask_layer({1: m, 2: np.zeros((20, 20), bool)})
    b = s2.mask_layer({1: m})
    assert (a.x, a.y) == (b.x, b.y) and np.array_equal(a.rgba, b.rgba)


# -- overlay_frame -------------------------------------------------------------------------
def test_overlay_at_full_opacity_paints_the_colour():
    rgb = np.full((40, 60, 3), 100, np.uint8)
    m = _rect(40, 60, 10, 30, 10, 50)
    out = overlay_frame(rgb, {1: m}, {1: (255, 0, 0)}, 1.0)
    assert (out[m] == (255, 0, 0)).all()
    assert (out[0, 0] == 100).all()  # far from the mask: untouched
    assert (rgb == 100).all()  # the input is not changed


def test_overlay_blends_at_the_opacity():
    rgb = np.full((20, 20, 3), 100, np.uint8)
    m = _rect(20, 20, 5, 15, 5, 15)
    out = overlay_frame(rgb, {1: m}, {1: (200, 0, 100)}, 0.5)
    alpha = round(255 * 0.5) / 255
    want = np.round(np.array([100, 100, 100]) * (1 - alpha) + np.array([200, 0, 100]) * alpha)
    assert (out[10, 10] == want).all()


def test_overlay_without_masks_is_an_equal_copy():
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    out = overlay_frame(rgb, {}, {})
    assert out is not rgb and np.array_equal(out, rgb)


@pytest.mark.parametrize("width, ring", [(480, 2), (960, 2), (1920, 4), (2880, 6)])
def test_overlay_outline_grows_with_the_frame(width, ring):
    rgb = np.zeros((60, width, 3), np.uint8)
    m = _rect(60, width, 20, 40, 100, 140)
    out = overlay_frame(rgb, {1: m}, {1: (0, 255, 0)}, 0.0)  # only the outline shows
    row = out[30, :, 1]
    assert (row[100 - ring : 100] == 255).all() and row[100 - ring - 1] == 0
    assert (row[100:140] == 0).all()


# -- the frame cache -----------------------------------------------------------------------
def test_cache_counts_hits_and_misses():
    cache = s2.FrameCache(max_items=4)
    for k in (1, 2, 1, 1, 3):
        cache.get(k, lambda k=k: f"v{k}")
    assert (cache.hits, cache.misses, len(cache)) == (2, 3, 3)
    assert 1 in cache and 4 not in cache


def test_cache_evicts_the_least_recently_used():
    cache = s2.FrameCache(max_items=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.get("a", lambda: 1)  # "a" is now the most recent
    cache.get("c", lambda: 3)
    assert "a" in cache and "b" not in cache and "c" in cache


def test_cache_drop_some_or_all():
    cache = s2.FrameCache()
    for k in range(5):
        cache.get(k, lambda k=k: k)
    cache.drop([1, 3, 99])
    assert sorted(k for k in range(5) if k in cache) == [0, 2, 4]
    cache.drop()
    assert len(cache) == 0
    made = []
    cache.get(0, lambda: made.append(0) or 0)
    assert made == [0]  # made again after a drop


def test_cache_is_safe_across_threads():
    cache = s2.FrameCache(max_items=8)
    errors = []

    def hammer(seed):
        rng = np.random.default_rng(seed)
        try:
            for k in rng.integers(0, 20, 500):
                assert cache.get(int(k), lambda k=k: int(k) * 2) == int(k) * 2
        except Exception as exc:  # pragma: no cover - only on a failure
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) <= 8
    assert cache.hits + cache.misses == 2000


# -- runs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags, want",
    [
        ([], []),
        ([1], [(0, 1)]),
        ([0, 0, 0], []),
        ([1, 1, 1], [(0, 3)]),
        ([0, 1, 0, 1, 1], [(1, 2), (3, 5)]),
        ([1, 0, 0, 0, 1], [(0, 1), (4, 5)]),
    ],
)
def test_runs(flags, want):
    assert runs(np.array(flags, bool)) == want


def test_runs_cover_exactly_the_true_entries():
    rng = np.random.default_rng(3)
    flags = rng.random(500) > 0.5
    rebuilt = np.zeros_like(flags)
    for a, b in runs(flags):
        assert a < b
        rebuilt[a:b] = True
    assert np.array_equal(rebuilt, flags)


# -- as the widgets use them -------------------------------------------------------------------
@pytest.mark.parametrize(
    "size, limit, want",
    [((1920, 1080), 960, (960, 540)), ((640, 480), 960, (640, 480)), ((1000, 333), 500, (500, 166)),
     ((960, 540), None, (960, 540))],
)  # fmt: skip
def test_fit_size(size, limit, want):
    assert s2.fit_size(*size, limit) == want


@pytest.mark.parametrize("video, disp", [((1920, 1080), (960, 540)), ((853, 480), (640, 360))])
def test_viewport_maps_exactly_both_ways(video, disp):
    vp = s2.Viewport(video, disp)
    for x, y in [(0, 0), (12.5, 7.25), (disp[0], disp[1]), (disp[0] / 3, disp[1] / 2)]:
        vx, vy = vp.to_video(x, y)
        assert vp.to_display(vx, vy) == pytest.approx((x, y))
        assert vx == pytest.approx(x * video[0] / disp[0])
    assert vp.to_video(-5, disp[1] + 9) == (0.0, float(video[1]))  # clamped to the frame
    assert vp.box_to_video(100, 80, 20, 10) == pytest.approx(
        [20 * vp.scale[0], 10 * vp.scale[1], 100 * vp.scale[0], 80 * vp.scale[1]]
    )


def test_mask_layer_crops_colours_and_outlines():
    m1 = np.zeros((60, 80), bool)
    m1[10:20, 10:30] = True
    m2 = np.zeros((60, 80), bool)
    m2[40:50, 60:70] = True
    layer = s2.mask_layer({1: m1, 2: m2}, {1: (255, 0, 0), 2: (0, 0, 255)}, opacity=0.4)
    assert (layer.x, layer.y) == (8, 8)
    assert layer.rgba.shape == (50 - 8 + 2, 70 - 8 + 2, 4)
    inside = layer.rgba[15 - 8, 20 - 8]
    assert tuple(inside) == (255, 0, 0, round(255 * 0.4))
    edge = layer.rgba[9 - 8, 20 - 8]  # one pixel outside object 1: the opaque outline
    assert tuple(edge) == (255, 0, 0, 255)
    assert tuple(layer.rgba[45 - 8, 65 - 8][:3]) == (0, 0, 255)
    assert layer.rgba[30 - 8, 40 - 8, 3] == 0  # between the objects: transparent
    assert s2.mask_layer({1: np.zeros((5, 5), bool)}) is None
    with pytest.raises(ValueError, match="opacity"):
        s2.mask_layer({1: m1}, opacity=2)


def test_runs_and_cache():
    assert runs(np.array([1, 1, 0, 1], bool)) == [(0, 2), (3, 4)]
    assert runs(np.zeros(3, bool)) == []
    cache = s2.FrameCache(max_items=2)
    made = []
    for k in (1, 2, 1, 3, 2):
        cache.get(k, lambda k=k: made.append(k) or k)
    assert made == [1, 2, 3, 2] and len(cache) == 2  # 2 was evicted by 3, then made again

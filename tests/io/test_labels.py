"""io/labels: one label PNG per frame, written atomically, and which frames are done."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import sam2nb as s2
from sam2nb.base.colors import PALETTE
from sam2nb.io.labels import done_frames, label_palette, png_size, write_label_png

H, W = 30, 40


def _disc(cx, cy, r=8):
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_one_object_is_a_gray_0_255_png(tmp_path):
    m = _disc(10, 12)
    path = write_label_png(tmp_path / "00004.png", {1: m}, [1], H, W)
    im = Image.open(path)
    assert im.mode == "L" and im.size == (W, H)
    a = np.asarray(im)
    assert set(np.unique(a)) == {0, 255} and np.array_equal(a == 255, m)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00004.png"]  # no temporary file left


def test_one_object_missing_on_a_frame_is_all_background(tmp_path):
    path = write_label_png(tmp_path / "sub" / "00000.png", {}, [3], H, W)  # folder made
    assert Image.open(path).mode == "L" and not np.asarray(Image.open(path)).any()


def test_several_objects_are_ids_in_a_palette_png(tmp_path):
    a, b, c = _disc(10, 12), _disc(16, 12), _disc(30, 20, 5)
    masks = {1: a, 2: b.astype(np.uint8) * 255, 11: c}  # any dtype: nonzero is inside
    path = write_label_png(tmp_path / "00001.png", masks, [11, 2, 1, 5], H, W)
    im = Image.open(path)
    assert im.mode == "P"
    lab = np.asarray(im)
    assert set(np.unique(lab)) == {0, 1, 2, 11}  # object 5 has no mask on this frame
    assert (lab[a & b] == 2).all()  # where masks overlap, the larger id wins
    assert (lab[a & ~b] == 1).all() and (lab[c] == 11).all() and (lab[~(a | b | c)] == 0).all()
    pal = im.getpalette()
    assert pal[:3] == [0, 0, 0]
    for oid in (1, 2, 11):  # the objects' colours everywhere in sam2nb (tab10, cycling)
        assert tuple(pal[3 * oid : 3 * oid + 3]) == PALETTE[(oid - 1) % len(PALETTE)]
    assert pal == label_palette()[: len(pal)]


@pytest.mark.parametrize(
    "masks, ids, needle",
    [
        ({}, [1, 256], r"ids 1 to 255, not \[256\]"),
        ({}, [0, 2], r"ids 1 to 255, not \[0\]"),
        ({1: np.zeros((H, W + 1), bool)}, [1, 2], r"object 1 is \(30, 41\), not the frame's"),
    ],
    ids=["id-too-large", "id-zero", "wrong-size"],
)
def test_bad_ids_and_sizes_are_named_and_nothing_is_written(tmp_path, masks, ids, needle):
    with pytest.raises(s2.ExportError, match=needle):
        write_label_png(tmp_path / "00000.png", masks, ids, H, W)
    assert not list(tmp_path.iterdir())


def test_rewriting_a_frame_replaces_it_whole(tmp_path):
    path = tmp_path / "00000.png"
    path.write_bytes(b"\x89PNG half of an old file")
    write_label_png(path, {1: _disc(10, 10)}, [1], H, W)
    assert png_size(path) == (W, H) and sorted(p.name for p in tmp_path.iterdir()) == ["00000.png"]


def test_done_frames_counts_only_whole_frame_pngs(tmp_path):
    for f in (0, 1, 7, 123456):
        write_label_png(tmp_path / f"{f:05d}.png", {1: _disc(10, 10)}, [1], H, W)
    whole = (tmp_path / "00001.png").read_bytes()
    (tmp_path / "00002.png").write_bytes(whole[:-5])  # cut short (a copy that stopped)
    (tmp_path / "00003.png").write_bytes(b"")  # empty
    (tmp_path / "00004.png.tmp").write_bytes(whole)  # an interrupted atomic write
    (tmp_path / "00005.jpg").write_bytes(whole)  # another name
    (tmp_path / "6.png").write_bytes(whole)  # not the %05d layout
    (tmp_path / "00008.png").mkdir()  # not a file
    assert done_frames(tmp_path) == {0, 1, 7, 123456}
    assert done_frames(tmp_path, size=(W, H)) == {0, 1, 7, 123456}
    assert done_frames(tmp_path, size=(H, W)) == set()  # frames of another size are redone
    assert done_frames(tmp_path / "missing") == set()


def test_png_size_reads_headers_not_pixels(tmp_path):
    path = write_label_png(tmp_path / "00000.png", {}, [1, 2], H, W)
    assert png_size(path) == (W, H)
    assert png_size(tmp_path / "nope.png") is None
    (tmp_path / "text.png").write_text("not a png at all, but long enough to have a header")
    assert png_size(tmp_path / "text.png") is None

"""sam2nb's connected components in place of sam2's CUDA extension (sam2nb.model.holes).

The reference for the semantics is a line-by-line port of the extension's kernel
(``sam2/csrc/connected_components.cu``) and, independently, ``scipy.ndimage.label`` with the
8-neighbourhood. sam2's own ``fill_holes_in_mask_scores`` and ``SAM2Transforms`` run on it once
sam2nb is imported, with no warning; the test model's tracking fills holes in both sam2nb and
the official predictor and the two agree.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

import sam2nb as s2
from sam2nb.model import holes

misc = pytest.importorskip("sam2.utils.misc")
EIGHT = np.ones((3, 3), bool)  # scipy's 8-neighbourhood
FG, BG = 5.0, -3.0  # mask scores: foreground, background


# -- references ----------------------------------------------------------------------------
def kernel_port(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CUDA kernel's labels and counts for one (H, W) mask, H and W even, run in order.

    ``merge`` unites 2x2 blocks as the kernel does; ``union_`` always links the larger root to
    the smaller (``atomicMin``), so the serial run ends with the same roots as the parallel one.
    """
    h, w = img.shape
    flat = img.ravel().astype(bool)
    label = np.arange(h * w)

    def find(n: int) -> int:
        while label[n] != n:
            n = label[n]
        return n

    def union(a: int, b: int) -> None:
        a, b = find(a), find(b)
        label[max(a, b)] = min(a, b)

    for row in range(0, h, 2):  # cc2d::merge
        for col in range(0, w, 2):
            idx = row * w + col
            p = 0
            if flat[idx]:
                p |= 0x777
            if row + 1 < h and flat[idx + w]:
                p |= 0x777 << 4
            if col + 1 < w and flat[idx + 1]:
                p |= 0x777 << 1
            if col == 0:
                p &= 0xEEEE
            if col + 1 >= w:
                p &= 0x3333
            elif col + 2 >= w:
                p &= 0x7777
            if row == 0:
                p &= 0xFFF0
            if row + 1 >= h:
                p &= 0xFF
            if p == 0:
                continue

            def bit(i: int, p: int = p) -> bool:
                return bool((p >> i) & 1)

            if bit(0) and flat[idx - w - 1]:
                union(idx, idx - 2 * w - 2)
            if (bit(1) and flat[idx - w]) or (bit(2) and flat[idx - w + 1]):
                union(idx, idx - 2 * w)
            if bit(3) and flat[idx + 2 - w]:
                union(idx, idx - 2 * w + 2)
            if (bit(4) and flat[idx - 1]) or (bit(8) and flat[idx + w - 1]):
                union(idx, idx - 2)
    out = np.zeros(h * w, np.int64)  # cc2d::final_labeling: the block's root + 1
    for row in range(0, h, 2):
        for col in range(0, w, 2):
            idx = row * w + col
            y = find(idx) + 1
            for i in (idx, idx + 1, idx + w, idx + w + 1):
                out[i] = y if flat[i] else 0
    area = np.bincount(out)
    area[0] = 0
    return out.reshape(h, w), area[out].reshape(h, w)


def scipy_components(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab, _ = ndimage.label(img, structure=EIGHT)
    area = np.bincount(lab.ravel())
    area[0] = 0
    return lab, area[lab]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """The same foreground and the same components, whatever the label values."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def components(mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    labels, counts = holes.get_connected_components(mask)
    assert labels.dtype == counts.dtype == torch.int32
    assert labels.shape == counts.shape == mask.shape and labels.device == mask.device
    return labels.cpu().numpy()[:, 0], counts.cpu().numpy()[:, 0]


def fill(scores: torch.Tensor, max_area: int = 8) -> torch.Tensor:
    """sam2's own fill_holes_in_mask_scores; a warning (its kernel failed) is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return misc.fill_holes_in_mask_scores(scores, max_area)


def scores_with(shape: tuple[int, int], *regions: tuple[slice | int, slice | int]) -> torch.Tensor:
    """Foreground scores (1, 1, H, W) with the background ``regions``."""
    s = torch.full((1, 1, *shape), FG)
    for r in regions:
        s[0, 0][r] = BG
    return s


# -- the labelling -------------------------------------------------------------------------
def test_kernel_port_and_ours_agree_on_random_masks():
    rng = np.random.default_rng(0)
    masks = np.stack(
        [rng.random((16, 18)) < d for d in np.linspace(0.2, 0.8, 24)]
    )  # dense and sparse: many diagonal contacts across and inside 2x2 blocks
    labels, counts = components(torch.from_numpy(masks)[:, None])
    for m, lab, cnt in zip(masks, labels, counts, strict=True):
        ref_lab, ref_cnt = kernel_port(m)
        assert np.array_equal(cnt, ref_cnt)
        assert same_partition(lab, ref_lab)  # label values differ: the kernel's are indices


def test_kernel_port_is_eight_connected():
    """The port itself (the reading of the kernel) against scipy's 8- and 4-neighbourhoods."""
    rng = np.random.default_rng(1)
    m = rng.random((20, 20)) < 0.45
    ref_lab, ref_cnt = kernel_port(m)
    assert same_partition(ref_lab, scipy_components(m)[0])
    assert not same_partition(ref_lab, ndimage.label(m)[0])  # 4-connected differs


@pytest.mark.parametrize("shape", [(3, 1, 64, 64), (2, 1, 256, 256), (2, 1, 7, 9), (1, 1, 1, 5)])
def test_matches_scipy_on_random_masks(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.1, 0.5, 0.6, 0.9):
        masks = rng.random(shape) < density
        labels, counts = components(torch.from_numpy(masks))
        for m, lab, cnt in zip(masks[:, 0], labels, counts, strict=True):
            ref_lab, ref_cnt = scipy_components(m)
            assert np.array_equal(cnt, ref_cnt) and same_partition(lab, ref_lab)


def test_input_types_and_shapes():
    m = torch.zeros(2, 1, 4, 6)
    m[0, 0, 1, 1] = 0.7  # .to(torch.uint8) makes it 0, as in sam2's call of the kernel
    m[1, 0, 2, 2:5] = 3.0
    for x in (m, m.to(torch.uint8), m > 1, (m > 1).to(torch.int64)):
        assert components(x)[1].sum() == 3 * 3
    assert components(m > 0)[1].sum() == 3 * 3 + 1
    labels, counts = components(torch.zeros(0, 1, 8, 8, dtype=torch.bool))
    assert labels.shape == (0, 8, 8)
    for bad in (torch.zeros(1, 8, 8), torch.zeros(1, 2, 8, 8)):
        with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
            holes.get_connected_components(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_stay_on_the_gpu():
    rng = np.random.default_rng(2)
    masks = torch.from_numpy(rng.random((4, 1, 256, 256)) < 0.5)
    labels, counts = holes.get_connected_components(masks.cuda())
    assert labels.is_cuda and counts.is_cuda and labels.dtype == torch.int32
    ref_labels, ref_counts = holes.get_connected_components(masks)
    assert torch.equal(counts.cpu(), ref_counts) and torch.equal(labels.cpu(), ref_labels)
    scores = torch.where(masks, FG, BG).cuda()
    assert torch.equal(fill(scores).cpu(), fill(scores.cpu()))


# -- sam2's fill_holes_in_mask_scores on it ------------------------------------------------
def test_sam2_fills_holes_of_up_to_max_area():
    s = scores_with(
        (12, 30),
        (2, slice(2, 9)),  # 7 pixels
        (slice(2, 4), slice(11, 15)),  # 8 pixels
        (slice(2, 5), slice(18, 21)),  # 9 pixels
    )
    out = fill(s)[0, 0]
    assert (out[2, 2:9] == torch.tensor(0.1)).all() and (out[2:4, 11:15] == 0.1).all()
    assert (out[2:5, 18:21] == BG).all()
    changed = out != s[0, 0]
    assert int(changed.sum()) == 15 and (out[~changed] == s[0, 0][~changed]).all()
    assert (fill(s, 9)[0, 0, 2:5, 18:21] == 0.1).all() and (fill(s, 6)[0, 0] == s[0, 0]).all()


def test_background_touching_the_border_counts_too():
    s = scores_with(
        (10, 12),
        (slice(0, 2), slice(0, 2)),  # a corner, 4 pixels
        (slice(3, 7), 11),  # on the right edge, 4 pixels
        (9, slice(0, 12)),  # the bottom row, 12 pixels
    )
    out = fill(s)[0, 0]
    assert (out[0:2, 0:2] == 0.1).all() and (out[3:7, 11] == 0.1).all()
    assert (out[9] == BG).all()


@pytest.mark.parametrize(("r", "c"), [(2, 5), (3, 4), (2, 4), (3, 5)])  # the contact inside a
# 2x2 block of the kernel, across two blocks, across block columns, across block rows
@pytest.mark.parametrize("anti", [False, True])
def test_diagonal_contacts_join_background(r, c, anti):
    s = torch.full((1, 1, 14, 14), FG)
    top, low = (slice(r - 1, r + 1), slice(r + 1, r + 3))  # rows of a and b: r | r + 1 touch
    left, right = slice(c, c + 2), slice(c + 2, c + 4)  # columns: c + 1 | c + 2 touch
    a, b = ((top, left), (low, right)) if not anti else ((top, right), (low, left))
    s[0, 0][a] = s[0, 0][b] = BG  # two 2x2 squares touching at one corner
    tail = (r + 3, c + 2 if not anti else c + 1)  # b grows to 5 pixels (4-connected)
    s[0, 0][tail] = BG
    _, counts = components(s <= 0)
    assert counts.max() == 9 and counts[0][a].min() == 9  # one component: 8-connected
    assert (fill(s) == s).all()  # 9 > 8: no hole (4-connected, 4 and 5: both filled)
    s[0, 0][tail] = FG
    out = fill(s)[0, 0]
    assert (out[a] == 0.1).all() and (out[b] == 0.1).all()  # 4 + 4 = 8: filled


def test_background_leaks_through_a_diagonal_gap():
    """A pixel fenced in only by 4 diagonal-free foreground neighbours is no hole: its
    diagonal neighbours are background (8-connected to the rest)."""
    s = torch.full((1, 1, 9, 9), BG)
    for rc in ((3, 4), (5, 4), (4, 3), (4, 5)):
        s[0, 0][rc] = FG
    assert (fill(s) == s).all()
    _, counts = components(s <= 0)
    assert counts[0, 4, 4] == 81 - 4


def test_zero_is_background_and_the_fill_is_0_1():
    s = torch.full((1, 1, 8, 8), 2.0)
    s[0, 0, 3:5, 3:5] = 0.0  # exactly 0: background (mask <= 0)
    s[0, 0, 6, 6] = 1e-6  # just above: foreground
    out = fill(s)[0, 0]
    assert (out[3:5, 3:5] == torch.tensor(0.1, dtype=s.dtype)).all()
    assert out[6, 6] == s[0, 0, 6, 6] and int((out != s[0, 0]).sum()) == 4


def test_a_batch_fills_each_mask_on_its_own():
    s = torch.full((3, 1, 10, 10), FG)
    s[0, 0, 3:5, 3:7] = BG  # 8: filled
    s[1, 0, 3:6, 3:6] = BG  # 9: kept
    s[0, 0, 9, 0:4] = BG  # mask 0's bottom edge, 4 pixels ...
    s[1, 0, 0, 0:5] = BG  # ... and mask 1's top edge below it, 5: apart, both filled
    s[2, 0, 2, 2] = BG  # 1: filled
    out = fill(s)
    assert (out[0, 0, 3:5, 3:7] == 0.1).all() and (out[1, 0, 3:6, 3:6] == BG).all()
    assert (out[0, 0, 9, 0:4] == 0.1).all() and (out[1, 0, 0, 0:5] == 0.1).all()
    assert out[2, 0, 2, 2] == torch.tensor(0.1)
    assert int((out != s).sum()) == 8 + 4 + 5 + 1


def test_sam2_image_transforms_fill_holes_and_remove_sprinkles():
    from sam2.utils.transforms import SAM2Transforms

    t = SAM2Transforms(16, 0.0, max_hole_area=4, max_sprinkle_area=3, disable_torch_jit=True)
    masks = torch.full((1, 2, 16, 16), -4.0)
    masks[0, 0, 2:12, 2:12] = 4.0
    masks[0, 0, 5:7, 5:7] = -4.0  # a 4-pixel hole in object 0
    masks[0, 1, 8, 8:11] = 4.0  # a 3-pixel sprinkle of object 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = t.postprocess_masks(masks, (16, 16))
    assert (out[0, 0, 5:7, 5:7] == 10.0).all() and (out[0, 1, 8, 8:11] == -10.0).all()
    assert int(((out > 0) != (masks > 0)).sum()) == 4 + 3


# -- installation --------------------------------------------------------------------------
def test_installed_with_sam2nb_and_idempotent():
    assert holes.installed() and misc.get_connected_components is holes.get_connected_components
    holes.install()
    holes.install()
    assert sum(type(f).__name__ == "_Finder" for f in sys.meta_path) == 1
    assert holes.provider() == "sam2nb" and not holes.cuda_extension()


def test_a_no_op_when_sam2_has_its_extension(monkeypatch):
    ours = holes.get_connected_components
    try:
        holes.uninstall()
        original = misc.get_connected_components
        assert original is not ours and not holes.installed()  # sam2's own function is back
        monkeypatch.setitem(sys.modules, "sam2._C", types.ModuleType("sam2._C"))
        holes.install()  # Meta's kernel is there: nothing to do
        assert holes.installed() and misc.get_connected_components is original
        assert holes.provider() == "sam2" and holes.patch(misc) is False
    finally:
        monkeypatch.undo()
        holes.uninstall()
        holes.install()
    assert misc.get_connected_components is ours


def _python(code: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr


def test_import_sam2nb_patches_sam2_when_it_loads_later():
    _python("""
        import sys, warnings
        import sam2nb
        assert not [m for m in sys.modules if m.split(".")[0] in ("sam2", "torch")]
        import torch
        from sam2.utils.misc import fill_holes_in_mask_scores
        s = torch.ones(1, 1, 8, 8)
        s[0, 0, 3, 3] = -1.0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert fill_holes_in_mask_scores(s, 8)[0, 0, 3, 3] == torch.tensor(0.1)
    """)


def test_import_sam2nb_patches_sam2_loaded_before():
    _python("""
        import sam2.utils.misc as misc
        import sam2nb
        from sam2nb.model import holes
        assert misc.get_connected_components is holes.get_connected_components
    """)


# -- tracking: the fill is applied, in sam2nb and in the official predictor alike ----------
def test_tracking_fills_holes_and_matches_the_official_predictor(bedroom, tmp_path, monkeypatch):
    import sam2.sam2_video_predictor as svp
    from helpers import short_clip

    from sam2nb.analysis.oracle import compare, run_official, run_session

    engine = s2.load("test")
    assert engine.video_predictor.fill_hole_area == 8
    filled: list[int] = []  # pixels each call changed

    def counting(mask: torch.Tensor, max_area: int) -> torch.Tensor:
        out = fill(mask, max_area)
        filled.append(int((out != mask).sum()))
        return out

    monkeypatch.setattr(svp, "fill_holes_in_mask_scores", counting)
    clip = short_clip(bedroom, tmp_path / "clip.mp4", frames=6, max_side=480)  # 480x270
    log = [
        {"op": "add_object", "obj_id": 1},
        {"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[225, 100]], "labels": [1]},
        {"op": "propagate", "start": 0, "direction": "forward", "max_frames": 5},
    ]
    official = run_official(engine, clip, log)
    by_official, filled[:] = list(filled), []
    ours = run_session(s2.Session(clip, engine, memory="full"), log)
    # random weights give speckled logits: hundreds of hole pixels on a frame
    assert len(filled) == len(by_official) == 6 and sum(filled) > 0 and sum(by_official) > 0
    agree = compare(ours, official)
    assert agree.missing == 0 and agree.iou_min >= 0.99 and agree.logit_diff_max < 1e-3

    monkeypatch.setattr(engine.video_predictor, "fill_hole_area", 0)  # the fill matters
    unfilled = run_official(engine, clip, log)
    assert any((official[f][1] > 0).sum() > (unfilled[f][1] > 0).sum() for f in official)

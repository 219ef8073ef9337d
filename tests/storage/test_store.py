"""Result store: RLE round trips, scores, spill to disk, atomic save."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

import sam2nb as s2


def _masks(n: int, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.random((n, h, w)) > 0.6
    m[:, 0, 0] = [bool(i % 2) for i in range(n)]  # masks starting with 1 and with 0
    return m


@pytest.mark.parametrize("shape", [(1, 5, 7), (3, 40, 31), (2, 1, 1)])
def test_device_rle_equals_pycocotools(shape):
    m = _masks(*shape, seed=sum(shape))
    ours = s2.encode_masks(torch.from_numpy(m))
    ref = s2.encode_masks(m)
    for a, b, mm in zip(ours, ref, m, strict=True):
        assert a == b
        assert (mask_utils.decode(a).astype(bool) == mm).all()


def test_put_get_and_records():
    store = s2.ResultStore(7, 5)
    m = _masks(2, 5, 7, seed=1)
    recs = store.put(3, [1, 2], torch.from_numpy(m), scores=[2.5, -1.0], ious=[0.9, None])
    assert [r.obj_id for r in recs] == [1, 2]
    got = store.get(3, 2)
    assert got.score == -1.0 and not got.visible and got.iou is None
    assert store.get(3, 1).visible and store.get(3, 1).iou == pytest.approx(0.9)
    assert (store.masks(3)[1] == m[0]).all()
    assert store.get(3, 1).area == m[0].sum()
    ys, xs = np.nonzero(m[0])
    assert store.get(3, 1).bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert store.get(4, 1) is None and (3, 1) in store and (4, 1) not in store
    store.put(0, [1], np.zeros((1, 5, 7), bool), scores=[-3.0])
    assert store.get(0, 1).bbox is None
    assert store.frames() == [0, 3] and store.frames(2) == [3] and store.obj_ids() == [1, 2]
    assert [(r.frame_idx, r.obj_id) for r in store.records()] == [(0, 1), (3, 1), (3, 2)]
    assert store.bytes_per_entry > 0
    assert store.delete(obj_id=1) == 2 and len(store) == 1


def test_logits_are_thresholded_at_zero():
    store = s2.ResultStore(3, 2)
    logits = torch.tensor([[[-1.0, 0.5, 0.0], [2.0, -0.1, 3.0]]])
    store.put(0, [1], logits, scores=[1.0])
    assert store.masks(0)[1].tolist() == [[False, True, False], [True, False, True]]


def test_wrong_size_is_refused():
    store = s2.ResultStore(7, 5)
    with pytest.raises(s2.StoreError, match="5x7"):
        store.put(0, [1], np.zeros((1, 4, 7), bool), scores=[0])


def test_spill_save_and_open(tmp_path):
    spill = tmp_path / "spill.sqlite"
    store = s2.ResultStore(7, 5, spill)
    m = _masks(1, 5, 7, seed=3)
    for f in range(20):
        store.put(f, [1], m, scores=[float(f)])
    saved = store.save(tmp_path / "saved.sqlite")
    assert not (tmp_path / "saved.sqlite.tmp").exists()
    again = s2.ResultStore.open(saved)
    assert len(again) == 20 and again.get(19, 1).score == 19.0
    assert (again.masks(5)[1] == m[0]).all()
    in_place = s2.ResultStore.open(spill, spill=True)
    assert len(in_place) == 20
    with pytest.raises(s2.StoreError, match="7x5"):
        s2.ResultStore(8, 5, spill)
    with pytest.raises(s2.StoreError, match="No result store"):
        s2.ResultStore.open(tmp_path / "missing.sqlite")

"""J&F against hand-computed cases, DAVIS and SA-V layouts, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import sam2nb as s2
from sam2nb.analysis.evaluate import seg2bmap
from sam2nb.cli.commands import main


def _rect(x0, y0, x1, y1, w=200, h=100):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.mark.parametrize(
    "a, b, j",
    [((10, 10, 30, 30), (10, 10, 30, 30), 1.0),
     ((10, 10, 30, 30), (20, 10, 40, 30), 200 / 600),  # half overlap: 200 of 600 pixels
     ((10, 10, 30, 30), (50, 50, 60, 60), 0.0)],
)  # fmt: skip
def test_j_by_hand(a, b, j):
    assert s2.db_eval_iou(_rect(*a), _rect(*b)) == pytest.approx(j)


def test_j_and_f_of_empty_masks():
    e = np.zeros((20, 20), bool)
    assert s2.db_eval_iou(e, e) == 1.0 and s2.db_eval_boundary(e, e) == 1.0
    assert s2.db_eval_boundary(e, _rect(2, 2, 8, 8, 20, 20)) == 0.0


def _f_brute(gt, pred, r):
    """F by definition: a boundary pixel matches if the other boundary is within r pixels."""
    bg, bp = np.argwhere(seg2bmap(gt)), np.argwhere(seg2bmap(pred))

    def share(a, b):
        d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
        return (d.min(1) <= r).mean()

    p, rec = share(bp, bg), share(bg, bp)
    return 2 * p * rec / (p + rec)


def test_boundary_by_hand():
    # 200x100: tolerance ceil(0.008 * hypot(100, 200)) = 2 px
    gt = _rect(50, 20, 150, 80)
    assert s2.db_eval_boundary(gt, _rect(52, 20, 152, 80)) == 1.0  # 2 px off: within tolerance
    shifted = _rect(55, 20, 155, 80)  # 5 px off: the vertical edges miss, horizontal ones match
    f = s2.db_eval_boundary(gt, shifted)
    b_gt, b_p = seg2bmap(gt), seg2bmap(shifted)
    assert b_gt.sum() == b_p.sum()
    assert 0.5 < f < 1.0 and f == pytest.approx(_f_brute(gt, shifted, 2))
    rng = np.random.default_rng(3)
    blob = np.zeros((100, 200), np.uint8)
    for _ in range(6):
        x, y = rng.integers(20, 180), rng.integers(15, 85)
        blob[max(y - 12, 0) : y + 12, max(x - 9, 0) : x + 9] = 1
    other = np.roll(blob, (3, -4), axis=(0, 1)).astype(bool)
    assert s2.db_eval_boundary(blob, other) == pytest.approx(_f_brute(blob, other, 2))
    bmap = seg2bmap(_rect(2, 2, 5, 5, 8, 8))
    want = np.zeros((8, 8), bool)  # DAVIS marks the mask's last row/column and the pixel before
    want[1:5, 1:5] = True
    want[2:4, 2:4] = False
    assert np.array_equal(bmap, want)


def _davis(folder, masks):
    folder.mkdir(parents=True)
    pal = s2.davis_palette()
    for f, lab in enumerate(masks):
        img = Image.fromarray(lab.astype(np.uint8))
        img.putpalette(pal)
        img.save(folder / f"{f:05d}.png")


def test_evaluate_folders_davis_and_sav_and_cli(tmp_path, capsys):
    gt, pred = [], []
    for f in range(5):
        g = np.zeros((100, 200), np.uint8)
        g[_rect(10 + f, 10, 40 + f, 40)] = 1
        g[_rect(100, 50, 150, 90)] = 2
        p = np.zeros_like(g)
        p[_rect(10 + f, 10, 40 + f, 40)] = 1  # object 1 exact
        p[_rect(100, 50, 150, 70)] = 2  # object 2: half of it
        gt.append(g)
        pred.append(p)
    _davis(tmp_path / "gt", gt)
    _davis(tmp_path / "pred", pred)
    r = s2.evaluate(tmp_path / "pred", tmp_path / "gt")
    assert r.frames == [1, 2, 3]  # first and last left out
    assert r.per_object[1] == (1.0, 1.0)
    assert r.per_object[2][0] == pytest.approx(0.5)
    assert r.J == pytest.approx(0.75) and r.JF == pytest.approx((r.J + r.F) / 2)
    # SA-V layout for the prediction: <video>/<obj:03d>/<frame>.png
    for f, p in enumerate(pred):
        for o in (1, 2):
            d = tmp_path / "sav" / "clip" / f"{o:03d}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray((p == o).astype(np.uint8) * 255).save(d / f"{f:05d}.png")
    assert s2.evaluate(tmp_path / "sav", tmp_path / "gt").per_object == r.per_object
    assert s2.evaluate(tmp_path / "pred", tmp_path / "gt", skip_first_last=False).frames == [
        0, 1, 2, 3, 4
    ]  # fmt: skip
    assert main(["jf", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    out = capsys.readouterr().out
    assert "3 frames evaluated" in out and f"{r.JF:7.4f}" in out
    assert main(["jf", str(tmp_path / "nope"), str(tmp_path / "gt")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_session_scored_against_its_own_export(tmp_path):
    frames = np.random.default_rng(2).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    sess = s2.Session(s2.open_video(frames), s2.load("test"))
    sess.add_object()
    sess.add_box(0, 1, [10, 10, 40, 40])
    sess.run(progress=False)
    s2.export(sess, tmp_path, "palette", progress=False)
    r = s2.evaluate(sess, tmp_path, skip_first_last=False)
    assert r.J == 1.0 and r.F == 1.0  # a session against its own masks
    sess.close()

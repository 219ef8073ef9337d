"""J&F against hand-computed cases, DAVIS and SA-V layouts, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import sam2nb as s2
from sam2nb.analysis.evaluate import seg2bmap
from sam2nb.analysis.jf_metrics import db_statistics
from sam2nb.analysis.jf_videos import evaluate_videos
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
    assert "3 frames evaluated" in out
    assert out.splitlines()[-1] == f"J&F {r.JF * 100:.1f} J {r.J * 100:.1f} F {r.F * 100:.1f}"
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


# ---------------------------------------------------------------------------------------------
# Generated videos, scored against vos-benchmark (SA-V's rules) and by hand (Recall, Decay).

H, W, N = 90, 120, 40  # 120x90, 40 frames
YY, XX = np.mgrid[:H, :W]


def _box(x, y, w, h):
    return (XX >= x) & (XX < x + w) & (YY >= y) & (YY < y + h)


def _disc(cx, cy, r):
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r * r


def _paint(objs):
    """A label map from ``[(obj_id, mask)]``; later objects win where they overlap."""
    lab = np.zeros((H, W), np.uint8)
    for o, m in objs:
        lab[m] = o
    return lab


def _perturb(m, rng):
    """The mask shifted by up to 3 px, or eroded / dilated by one pixel."""
    k = rng.integers(4)
    if k == 0:
        return np.roll(m, tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
    if k == 1:
        return m & np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1)
    if k == 2:
        return m | np.roll(m, 1, 0) | np.roll(m, 1, 1)
    return m


def _videos(seed=0):
    """``{video: (gt label maps, pred label maps)}``; the first two have every object in frames
    0 and 1 (there the DAVIS and SA-V rules agree)."""
    rng = np.random.default_rng(seed)
    out = {}
    # every object in the first frames; object 3 exits at 15 and re-enters at 25, the prediction
    # keeps it until 18 (false positives on empty truth); frames 33..35 empty in the truth;
    # an extra predicted id 9 the truth never has
    gt, pr = [], []
    for f in range(N):
        a, b, c = _box(5 + f, 10, 25, 18), _disc(90 - f, 30 + f, 11), _box(60, 60, 20, 20)
        g = [(1, a), (2, b)] + ([(3, c)] if not 15 <= f < 25 else [])
        p = [(1, _perturb(a, rng)), (2, _perturb(b, rng))]
        p += [(3, _perturb(c, rng))] if not 19 <= f < 27 else []
        p += [(9, _box(100, 70, 10, 10))] if f % 7 == 3 else []
        if 33 <= f <= 35:
            g = []
            p = p[:1] if f == 33 else []
        gt.append(_paint(g))
        pr.append(_paint(p))
    out["first_all"] = (gt, pr)
    # two discs whose ids the prediction swaps from frame 20 on
    gt, pr = [], []
    for f in range(N):
        a, b = _disc(30 + f, 45, 12), _disc(95 - f // 2, 40 + f // 3, 9)
        gt.append(_paint([(1, a), (2, b)]))
        ids = (1, 2) if f < 20 else (2, 1)
        pr.append(_paint([(ids[0], _perturb(a, rng)), (ids[1], _perturb(b, rng))]))
    out["first_swap"] = (gt, pr)
    # late objects: 2 enters at 12 (predicted from 8: false positives before it appears), 3 at 20
    # (predicted from 24); 4 only in frame 0 and 6 only in the last frame (both dropped frames);
    # 5 only predicted
    gt, pr = [], []
    for f in range(N):
        a, b, c = _box(10, 10 + f, 20, 20), _disc(80, 20 + f, 10), _box(70 - f, 60, 18, 14)
        g = [(1, a)] + ([(2, b)] if f >= 12 else []) + ([(3, c)] if f >= 20 else [])
        g += [(4, _box(100, 5, 10, 10))] if f == 0 else []
        g += [(6, _box(0, 70, 10, 10))] if f == N - 1 else []
        p = [(1, _perturb(a, rng))] + ([(2, _perturb(b, rng))] if f >= 8 else [])
        p += [(3, _perturb(c, rng))] if f >= 24 else []
        p += [(5, _disc(60, 80, 6))] if f >= 30 else []
        gt.append(_paint(g))
        pr.append(_paint(p))
    out["late"] = (gt, pr)
    # empty truth until frame 6 (object 1 predicted from 4); object 2 enters at 10, exits at 20,
    # re-enters at 30
    gt, pr = [], []
    for f in range(N):
        a, b = _disc(20 + f * 2, 45, 9), _box(60, 10 + f, 30, 15)
        g = ([(1, a)] if f >= 6 else []) + ([(2, b)] if 10 <= f < 20 or f >= 30 else [])
        p = [(1, _perturb(a, rng))] if f >= 4 else []
        p += [(2, _perturb(b, rng))] if 11 <= f < 22 or f >= 29 else []
        gt.append(_paint(g))
        pr.append(_paint(p))
    out["empty_start"] = (gt, pr)
    return out


def _write(root, videos):
    for name, (gt, pr) in videos.items():
        _davis(root / "gt" / name, gt)
        _davis(root / "pred" / name, pr)
    return root / "pred", root / "gt"


def _vos(pred, gt):
    """vos-benchmark's per-object scores ``{(video, obj): (J, F)}`` and global (J&F, J, F),
    x100."""
    bench = pytest.importorskip("vos_benchmark.benchmark")
    jf, j, f, objs = bench.benchmark([str(gt)], [str(pred)], num_processes=1, verbose=False)
    per = {(v, int(o)): (iou[o], bf[o]) for v, (iou, bf) in objs[0].items() for o in iou}
    return per, (jf[0], j[0], f[0])


def _max_diff(result, vos):
    per, (jf, j, f) = vos
    ours = {(r.video, r.obj_id): (r.J * 100, r.F * 100) for r in result.rows.itertuples()}
    assert set(ours) == set(per)  # the same objects reported
    diffs = [abs(a - b) for k in per for a, b in zip(ours[k], per[k], strict=True)]
    diffs += [abs(result.JF * 100 - jf), abs(result.J * 100 - j), abs(result.F * 100 - f)]
    return max(diffs)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    videos = _videos()
    root = tmp_path_factory.mktemp("gen")
    every = _write(root / "every", videos)
    first = _write(root / "first", {k: v for k, v in videos.items() if k.startswith("first")})
    return videos, every, first


def test_sav_protocol_equals_vos_benchmark(generated):
    _, (pred, gt), _ = generated
    vos = _vos(pred, gt)
    r = evaluate_videos(pred, gt, protocol="sav")
    assert _max_diff(r, vos) < 0.01
    assert set(r.rows.video) == {"first_all", "first_swap", "late", "empty_start"}
    late = r.rows[r.rows.video == "late"].set_index("obj_id")
    assert sorted(late.index) == [1, 2, 3]  # 4, 6: only on dropped frames; 5: only predicted
    assert late.loc[2, "frames"] == 38 - 7 and late.loc[3, "frames"] == 38 - 19
    assert 0.3 < r.J < 0.95 and 0.3 < r.F < 0.95  # perturbed: not all ones
    # the global score is the mean over objects, not over videos
    per_video = r.rows.groupby("video")["J&F"].mean().mean()
    assert r.JF == pytest.approx(r.rows["J&F"].mean()) and abs(per_video - r.JF) > 1e-3


def test_davis_protocol_equals_vos_benchmark_when_objects_start_in_frame_one(generated):
    _, _, (pred, gt) = generated
    r = evaluate_videos(pred, gt, protocol="davis")
    assert _max_diff(r, _vos(pred, gt)) < 0.01
    assert (r.rows.frames == 38).all()


def test_davis_and_sav_differ_on_a_late_object(tmp_path):
    gt, pr = [], []
    for f in range(12):
        a, b = _box(10 + f, 10, 30, 20), _box(70, 40, 25, 25)
        gt.append(_paint([(1, a)] + ([(2, b)] if f >= 6 else [])))
        pr.append(_paint([(1, np.roll(a, 4, 1))] + ([(2, b)] if f >= 6 else [])))
    pred, gt_root = _write(tmp_path, {"clip": (gt, pr)})
    with pytest.warns(UserWarning, match=r"ids \[2\] first appear after the first"):
        davis = evaluate_videos(pred, gt_root, protocol="davis")
    sav = evaluate_videos(pred, gt_root, protocol="sav")
    assert list(davis.rows.obj_id) == [1] and list(sav.rows.obj_id) == [1, 2]
    assert davis.unscored == {"clip": [2]}
    assert sav.J > davis.J + 0.1  # object 2 is perfect, and only SA-V counts it
    # an object in frame 0 that leaves: DAVIS counts its empty frames as J = 1, SA-V does not
    gt2 = [_paint([(1, _box(10, 10, 30, 20))] + ([(2, _box(70, 40, 25, 25))] if f in (0, 8, 9)
                                                  else [])) for f in range(12)]  # fmt: skip
    pr2 = [_paint([(1, _box(10, 10, 30, 20))] + ([(2, _box(72, 40, 25, 25))] if f in (8, 9)
                                                  else [])) for f in range(12)]  # fmt: skip
    _davis(tmp_path / "g2" / "clip", gt2)
    _davis(tmp_path / "p2" / "clip", pr2)
    d = s2.evaluate(tmp_path / "p2" / "clip", tmp_path / "g2" / "clip", protocol="davis")
    s = s2.evaluate(tmp_path / "p2" / "clip", tmp_path / "g2" / "clip", protocol="sav")
    assert len(d.objects[2].frames) == 10 and s.objects[2].frames == [8, 9, 10]  # once in, it stays
    assert d.per_object[2][0] > s.per_object[2][0]


@pytest.mark.filterwarnings("ignore:late. ids .6. first appear")  # DAVIS: id 6 comes late
def test_sav_layout_scores_as_the_palette_layout(generated, tmp_path):
    videos, (pred, gt), _ = generated
    for name, (g, p) in videos.items():
        for root, labs in ((tmp_path / "gt", g), (tmp_path / "pred", p)):
            for o in sorted(set(np.unique(np.stack(labs)).tolist()) - {0}):
                d = root / name / f"{o:03d}"
                d.mkdir(parents=True)
                for f, lab in enumerate(labs):  # 0/1 palette PNGs, as sam2's vos_inference
                    img = Image.fromarray((lab == o).astype(np.uint8))
                    img.putpalette(s2.davis_palette())
                    img.save(d / f"{f:05d}.png")
    for protocol in ("sav", "davis"):
        a = evaluate_videos(pred, gt, protocol=protocol, videos=["first_all", "late"]).rows
        b = evaluate_videos(tmp_path / "pred", tmp_path / "gt", protocol=protocol)
        b = b.rows[b.rows.video.isin(["first_all", "late"])].sort_values(["video", "obj_id"])
        if protocol == "sav":  # the same objects, the same numbers
            pd_cols = ["video", "obj_id", "frames"]
            assert a[pd_cols].values.tolist() == b[pd_cols].values.tolist()
            assert np.allclose(a.iloc[:, 2:].to_numpy(float), b.iloc[:, 2:].to_numpy(float))
        else:  # DAVIS with object folders: every folder is scored, late ones too
            assert set(b[b.video == "late"].obj_id) == {1, 2, 3, 4, 6}


def test_recall_and_decay_by_hand(tmp_path):
    js = [1, 1, 0.75, 0.5, 0.5, 0.25, 0, 0]  # on frames 1..8 of 10
    gt, pr = [], []
    for f in range(10):
        g = _box(40, 30, 20, 10)
        k = round(20 * js[f - 1]) if 1 <= f <= 8 else 20
        gt.append(_paint([(1, g)]))
        pr.append(_paint([(1, _box(40, 30, k, 10) if k else np.zeros_like(g))]))
    pred, gt_root = _write(tmp_path, {"clip": (gt, pr)})
    r = evaluate_videos(pred, gt_root)
    row = r.rows.iloc[0]
    assert row.J == pytest.approx(np.mean(js))
    assert row["J-Recall"] == pytest.approx(3 / 8)  # 0.5 is not above 0.5
    # cuts round(linspace(1, 8, 5)) - 1 = 0, 2, 4, 5, 7: bins [0:3] and [5:8]
    assert row["J-Decay"] == pytest.approx((1 + 1 + 0.75) / 3 - (0.25 + 0) / 3)
    assert r.recall_decay["J-Decay"] == row["J-Decay"]
    assert r.recall_decay == s2.evaluate(pred / "clip", gt_root / "clip").recall_decay
    # 300 frames: DAVIS's uint8 cuts wrap (299 -> 43) and its last bin is empty; ours are not
    v = np.linspace(1, 0, 300)
    _, _, decay = db_statistics(v)
    assert decay == pytest.approx(v[0:76].mean() - v[224:300].mean())
    wrapped = (np.round(np.linspace(1, 300, 5) + 1e-10) - 1).astype(np.uint8)
    assert wrapped[-1] == 43 and v[wrapped[3] : wrapped[4] + 1].size == 0


def test_davis_root_missing_frames_and_missing_videos(generated, tmp_path):
    videos, (pred, gt), _ = generated
    sub = {k: videos[k] for k in ("first_all", "late")}
    for name, (g, p) in sub.items():
        _davis(tmp_path / "DAVIS" / "Annotations" / "480p" / name, g)
        _davis(tmp_path / "pred" / name, p)
    want = evaluate_videos(pred, gt, protocol="sav", videos=list(sub)).rows
    got = evaluate_videos(tmp_path / "pred", tmp_path / "DAVIS", protocol="sav").rows
    assert np.allclose(want.iloc[:, 2:].to_numpy(float), got.iloc[:, 2:].to_numpy(float))
    # a missing prediction frame is an empty mask
    for f in (5, 6, 7):
        (tmp_path / "pred" / "late" / f"{f:05d}.png").unlink()
    g, p = videos["late"]
    p = [np.zeros_like(x) if f in (5, 6, 7) else x for f, x in enumerate(p)]
    _davis(tmp_path / "blank" / "late", p)
    truth = tmp_path / "DAVIS/Annotations/480p/late"
    a = s2.evaluate(tmp_path / "pred" / "late", truth, protocol="sav")
    b = s2.evaluate(tmp_path / "blank" / "late", truth, protocol="sav")
    full = s2.evaluate(pred / "late", truth, protocol="sav")
    assert a.per_object == b.per_object and a.J < full.J
    # a missing prediction video is an error that names it and the fix
    (tmp_path / "only").mkdir()
    (tmp_path / "pred" / "late").rename(tmp_path / "only" / "late")
    with pytest.raises(s2.ExportError, match=r"No prediction for video 'first_all'.*videos="):
        evaluate_videos(tmp_path / "only", tmp_path / "DAVIS")
    with pytest.raises(s2.ExportError, match="Unknown protocol 'yt'"):
        evaluate_videos(pred, gt, protocol="yt")


def test_cli_ends_with_the_sav_summary_line_and_guards_the_csv(generated, tmp_path, capsys):
    import re

    import pandas as pd

    _, (pred, gt), _ = generated
    csv = tmp_path / "rows.csv"
    args = ["jf", str(pred), str(gt), "--protocol", "sav", "--csv", str(csv)]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    r = evaluate_videos(pred, gt, protocol="sav")
    assert re.fullmatch(r"J&F \d+\.\d J \d+\.\d F \d+\.\d", out[-1])
    assert out[-1] == f"J&F {r.JF * 100:.1f} J {r.J * 100:.1f} F {r.F * 100:.1f}"
    assert out[-2].startswith("Global") and any(x.startswith("late") for x in out)
    rows = pd.read_csv(csv)
    assert list(rows.columns) == list(r.rows.columns) and len(rows) == len(r.rows)
    assert np.array_equal(rows["J&F"].to_numpy(), r.rows["J&F"].to_numpy(float))  # full precision
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "rows.csv exists" in err and "--force" in err
    assert main([*args, "--force"]) == 0

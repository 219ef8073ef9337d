"""Exports re-read by independent readers (PIL, pycocotools, csv), and resumed after a stop."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import sam2nb as s2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sess():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (5, 72, 96, 3), dtype=np.uint8)
    s = s2.Session(s2.open_video(frames), s2.load("test"))
    s.add_object(name="a")
    s.add_object(name="b")
    s.add_points(0, 1, [(30, 30)], [1])
    s.add_box(0, 2, [50, 20, 90, 60])
    s.run(progress=False)
    yield s
    s.close()


def _truth(sess, f):
    return {o: r.mask() for o, r in sess.results.frame(f).items()}


def test_png_per_object_bit_exact(sess, tmp_path):
    res = s2.export(sess, tmp_path, "png", progress=False)
    assert res.files == 2 * 5 and not res.stopped
    for f in range(5):
        for o, m in _truth(sess, f).items():
            img = Image.open(tmp_path / str(o) / f"{f:05d}.png")
            assert img.mode == "L"
            assert np.array_equal(np.asarray(img), m.astype(np.uint8) * 255)
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["untrained"] is True and "UNTRAINED" in man["warning"]
    assert man["prompt_log"] == sess.log and man["files"] == 10


def test_palette_indices_and_davis_palette(sess, tmp_path):
    s2.export(sess, tmp_path, "palette", progress=False)
    for f in range(5):
        img = Image.open(tmp_path / f"{f:05d}.png")
        assert img.mode == "P"
        assert img.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
        want = np.zeros((72, 96), np.uint8)
        for o, m in _truth(sess, f).items():
            want[m] = o
        assert np.array_equal(np.asarray(img), want)


def test_sav_layout(sess, tmp_path):
    s2.export(sess, tmp_path, "sav", obj_ids=[2], start=1, end=3, progress=False)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert files == ["array/002/00001.png", "array/002/00002.png"]


def test_coco_and_ytvis_decode_with_pycocotools(sess, tmp_path):
    s2.export(sess, tmp_path / "c", "coco", progress=False)
    coco = json.loads((tmp_path / "c" / "coco.json").read_text())
    assert len(coco["images"]) == 5 and {c["id"] for c in coco["categories"]} == {1, 2}
    for ann in coco["annotations"]:
        rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"]}
        m = mask_utils.decode(rle).astype(bool)
        assert np.array_equal(m, _truth(sess, ann["image_id"])[ann["category_id"]])
        assert ann["area"] == int(m.sum())
    s2.export(sess, tmp_path / "y", "ytvis", progress=False)
    yt = json.loads((tmp_path / "y" / "ytvis.json").read_text())
    assert yt["videos"][0]["length"] == 5
    for ann in yt["annotations"]:
        for f, seg in enumerate(ann["segmentations"]):
            want = _truth(sess, f)[ann["category_id"]]
            got = np.zeros_like(want) if seg is None else mask_utils.decode(seg).astype(bool)
            assert np.array_equal(got, want)


def test_mot_boxes(sess, tmp_path):
    s2.export(sess, tmp_path, "mot", progress=False)
    rows = list(csv.reader(open(tmp_path / "mot.csv")))
    want = [(r.frame_idx, r.obj_id) for r in sess.results.records() if r.visible and r.area]
    assert sorted((int(a[0]) - 1, int(a[1])) for a in rows) == sorted(want)
    for row in rows:
        r = sess.results.get(int(row[0]) - 1, int(row[1]))
        x0, y0, x1, y1 = r.bbox
        assert [float(v) for v in row[2:6]] == pytest.approx([x0, y0, x1 - x0, y1 - y0])


@pytest.mark.parametrize("fmt", ["png", "palette", "coco"])
def test_interrupted_export_resumes_to_the_same_files(sess, tmp_path, fmt):
    full = s2.export(sess, tmp_path / "full", fmt, progress=False)
    calls = []
    part = s2.export(sess, tmp_path / "part", fmt, progress=False,
                     stop=lambda: calls.append(1) or len(calls) >= 2)  # fmt: skip
    assert part.stopped and part.manifest is None and part.frames == 2
    assert not list((tmp_path / "part").rglob("*.tmp"))
    (tmp_path / "part" / "junk.png.tmp").write_bytes(b"half a png")  # a crash mid-write
    again = s2.export(sess, tmp_path / "part", fmt, progress=False)
    assert not again.stopped and again.manifest is not None
    if fmt != "coco":
        assert again.kept == part.files and again.files + again.kept == full.files
    assert not list((tmp_path / "part").rglob("*.tmp"))
    names = sorted(p.relative_to(tmp_path / "full") for p in (tmp_path / "full").rglob("*")
                   if p.is_file() and p.name != "manifest.json")  # fmt: skip
    for n in names:
        assert (tmp_path / "part" / n).read_bytes() == (tmp_path / "full" / n).read_bytes()


def test_bad_requests_name_the_fix(sess, tmp_path):
    with pytest.raises(s2.ExportError, match="choose one of"):
        s2.export(sess, tmp_path, "gif")
    with pytest.raises(s2.ExportError, match="No object"):
        s2.export(sess, tmp_path, obj_ids=[9])
    with pytest.raises(s2.ExportError, match="not a range"):
        s2.export(sess, tmp_path, start=4, end=2)
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(s2.ExportError, match="not empty"):
        s2.export(sess, tmp_path, progress=False)
    s2.export(sess, tmp_path / "x", "png", progress=False)
    with pytest.raises(s2.ExportError, match="other settings"):
        s2.export(sess, tmp_path / "x", "palette", progress=False)
    assert (tmp_path / "mine.txt").read_text() == "user data"


@pytest.mark.parametrize("fmt, source", [("palette", "."), ("png", "."), ("sav", "."),
                                         ("coco", "coco.json")])  # fmt: skip
def test_import_back_gives_the_same_masks(sess, tmp_path, fmt, source):
    s2.export(sess, tmp_path, fmt, progress=False)
    found = s2.read_masks(tmp_path / source, sess.video.size)
    assert sorted(found) == list(range(5))
    for f in range(5):
        truth = {o: m for o, m in _truth(sess, f).items() if m.any()}
        if fmt == "palette":  # one index per pixel: later ids win where masks overlap
            for o in sorted(truth):
                for later in (k for k in truth if k > o):
                    truth[o] = truth[o] & ~_truth(sess, f)[later]
        got = {o: m for o, m in found[f].items() if m.any()}
        assert got.keys() == truth.keys()
        assert all(np.array_equal(got[o], truth[o]) for o in truth)
    fresh = s2.Session(sess.video, sess.engine)  # editing goes on from imported masks
    assert s2.import_masks(fresh, tmp_path / source, frames=[2]) == [2]
    assert sorted(fresh.objects) == sorted(o for o, m in _truth(sess, 2).items() if m.any())
    assert fresh.prompt_frames() == [2]
    assert fresh.run(progress=False) > 0
    fresh.close()


def test_sav_masks_as_sam2_writes_them_read_back(tmp_path):
    """sam2's vos_inference writes each object as a 0/1 palette PNG: index 1 is the object."""
    m = np.zeros((6, 8), np.uint8)
    m[2:4, 3:6] = 1
    d = tmp_path / "003"
    d.mkdir()
    for f in range(2):
        im = Image.fromarray(m, mode="P")
        im.putpalette(s2.davis_palette())
        im.save(d / f"{f:05d}.png")
    Image.fromarray(m * 255).save(tmp_path / "003" / "00002.png")  # and a 0/255 gray one
    got = s2.read_masks(tmp_path, (8, 6))
    assert sorted(got) == [0, 1, 2]
    assert all(np.array_equal(got[f][3], m > 0) for f in range(3))


def test_import_errors_name_the_fix(sess, tmp_path):
    with pytest.raises(s2.ExportError, match="does not exist"):
        s2.read_masks(tmp_path / "nope", (96, 72))
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "00000.png")
    with pytest.raises(s2.ExportError, match="video's size"):
        s2.import_masks(sess, tmp_path)
    with pytest.raises(s2.ExportError, match="No masks found"):
        s2.read_masks(
            tmp_path.parent / tmp_path.name / ".." / tmp_path.name / "sub"
            if (tmp_path / "sub").mkdir() is None
            else tmp_path,
            (96, 72),
        )


def _probe(path):
    import subprocess

    from sam2nb.media.writer import ffmpeg_exe

    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr  # fmt: skip


@pytest.fixture(scope="module")
def clip_sess(data_dir):
    s = s2.Session(s2.open_video(data_dir / "bedroom.mp4", end=6), s2.load("test"))
    s.add_object()
    s.add_points(0, 1, [(450, 200)], [1])
    s.run(progress=False)
    yield s
    s.close()


@pytest.mark.parametrize("fmt, name, codec", [("mp4", "overlay.mp4", "h264"),
                                              ("effect", "effect.mp4", "h264"),
                                              ("remove", "removed.mp4", "h264"),
                                              ("cutout_webm", "cutout.webm", "vp9")])  # fmt: skip
def test_videos_decode_with_the_right_codec_size_fps_and_count(clip_sess, tmp_path, fmt, name,
                                                                codec):  # fmt: skip
    import decord

    res = s2.export(clip_sess, tmp_path, fmt, progress=False)
    assert res.files == 1 and not list(tmp_path.glob("*.tmp"))
    info = _probe(tmp_path / name)
    assert f"Video: {codec}" in info and "960x540" in info
    assert ("yuv420p" in info) if codec == "h264" else ("alpha_mode" in info)
    vr = decord.VideoReader(str(tmp_path / name))
    assert len(vr) == 6 and vr[0].shape == (540, 960, 3)
    assert vr.get_avg_fps() == pytest.approx(clip_sess.video.fps, rel=1e-3)
    if fmt == "mp4":  # what was encoded is the overlay, not the plain frame
        from sam2nb.media.decoders import native  # the official predictor may set decord's bridge
        from sam2nb.media.overlay import overlay_frame

        got = native(vr[2]).astype(int)
        raw = clip_sess.video[2]
        m = clip_sess.results.get(2, 1).mask()
        want = overlay_frame(raw, {1: m}, {1: clip_sess.objects[1].color}).astype(int)
        top = 40  # the untrained model's banner is stamped across the top of every frame
        assert got[:8].mean(axis=(0, 1)).round().tolist() == pytest.approx([176, 0, 32], abs=12)
        got, want, raw = got[top:], want[top:], raw[top:].astype(int)
        err, plain = np.abs(got - want).mean(), np.abs(got - raw).mean()
        assert err < plain / 3, (err, plain)


def test_cutout_pngs_and_effects(clip_sess, tmp_path):
    s2.export(clip_sess, tmp_path / "c", "cutout", progress=False)
    img = np.asarray(Image.open(tmp_path / "c" / "00003.png"))
    m = clip_sess.results.get(3, 1).mask()
    assert img.shape == (540, 960, 4)
    assert np.array_equal(img[..., 3] > 0, m)
    assert np.array_equal(img[..., :3], clip_sess.video[3])
    from sam2nb.io.video import effect_frame, remove_frame

    rgb = clip_sess.video[0]
    keep = clip_sess.results.get(0, 1).mask()
    for eff in ("blur", "gray", "color"):
        out = effect_frame(rgb, keep, eff, color=(255, 0, 255))
        assert np.array_equal(out[keep], rgb[keep])
    assert (effect_frame(rgb, keep, "color", color=(255, 0, 255))[~keep] == (255, 0, 255)).all()
    with pytest.raises(s2.ExportError, match="choose one of"):
        effect_frame(rgb, keep, "sepia")
    import cv2

    gone = remove_frame(rgb, keep)
    grown = cv2.dilate(keep.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=4) > 0
    assert np.array_equal(gone[~grown], rgb[~grown])  # only the objects are painted over
    assert (gone[keep] != rgb[keep]).any()
    res = s2.export(clip_sess, tmp_path / "i", "effect", effect="image",
                    background=rgb[::-1].copy(), progress=False)  # fmt: skip
    assert res.files == 1


def test_stopped_video_export_leaves_no_file(clip_sess, tmp_path):
    res = s2.export(clip_sess, tmp_path, "mp4", progress=False, stop=lambda: True)
    assert res.stopped and not list(tmp_path.glob("*.mp4*"))
    again = s2.export(clip_sess, tmp_path, "mp4", progress=False)
    assert (tmp_path / "overlay.mp4").is_file() and again.frames == 6


def test_image_session_exports_coco(data_dir, tmp_path):
    from sam2nb.media.video import read_image

    img = s2.ImageSession(read_image(data_dir / "groceries.jpg"), s2.load("test"))
    img.add_object(name="jar")
    img.add_points(0, 1, [(200, 150)], [1])
    s2.export(img, tmp_path, "coco", progress=False)
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert len(coco["images"]) == 1 and coco["categories"] == [{"id": 1, "name": "jar"}]
    ann = coco["annotations"][0]
    assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), img.masks()[1])


def test_new_results_are_written_anew_not_kept(tmp_path):
    frames = np.random.default_rng(4).integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)
    s = s2.Session(s2.open_video(frames), s2.load("test"))
    s.add_object()
    s.add_points(0, 1, [(20, 20)], [1])
    s.run(progress=False)
    seen = []
    first = s2.export(s, tmp_path, "png", progress=False, on_frame=lambda d, t: seen.append(d))
    assert seen == [1, 2, 3] and not first.resumed
    s.add_points(1, 1, [(50, 30)], [0])  # a correction: the masks change
    s.run(progress=False)
    again = s2.export(s, tmp_path, "png", progress=False)
    assert again.kept == 0 and again.files == 3  # a finished export is never "resumed"
    got = np.asarray(Image.open(tmp_path / "1" / "00002.png")) > 0
    assert np.array_equal(got, s.results.get(2, 1).mask())
    s.close()


def test_an_export_counts_frames_never_tracked_and_stale_ones(tmp_path):
    frames = np.random.default_rng(5).integers(0, 255, (10, 48, 64, 3), dtype=np.uint8)
    s = s2.Session(s2.open_video(frames), s2.load("test"))
    s.add_object()
    s.add_points(0, 1, [(20, 20)], [1])
    s.run(max_frames=5, progress=False)  # frames 0-5 tracked, 6-9 never
    s.add_points(2, 1, [(40, 30)], [0])  # a correction: 3-5 were tracked before it
    res = s2.export(s, tmp_path / "png", "png", progress=False)
    assert (res.frames, res.untracked, res.stale) == (10, 4, 3)
    assert res.note() == (
        "4 of 10 frames never tracked (written blank), 3 tracked before the last prompt change "
        "(stale)"
    )
    man = json.loads((tmp_path / "png" / "manifest.json").read_text())
    assert man["untracked_frames"] == [[6, 9]] and man["stale_frames"] == [[3, 5]]
    s.run(progress=False)  # tracked from the correction to the end: nothing left out
    res = s2.export(s, tmp_path / "coco", "coco", progress=False)
    assert (res.untracked, res.stale, res.note()) == (0, 0, "")
    s.close()

"""Segment everything: knobs, picking on masks of known geometry, COCO out, masks into a session."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers import corrupt_copy, stream_cut, truncated_copy
from pycocotools import mask as mask_utils

import sam2nb as s2
from sam2nb.image.everything import check_knobs
from sam2nb.media.video import FrameDecodeError
from sam2nb.widgets.picker import FILL, FILL_SELECTED, PickerHost, mask_colors, picker_layer


def _auto(masks: list[np.ndarray], frame_idx: int = 0) -> s2.AutoMasks:
    out = []
    for m in masks:
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        ys, xs = np.nonzero(m)
        out.append(s2.AutoMask({"size": rle["size"], "counts": rle["counts"].decode()},
                               int(m.sum()), [xs.min(), ys.min(), xs.max(), ys.max()],
                               0.9, 0.96, (float(xs.mean()), float(ys.mean()))))  # fmt: skip
    h, w = masks[0].shape
    return s2.AutoMasks(out, (w, h), frame_idx)


@pytest.fixture
def nested():
    """A big square, a small square inside it, a disc elsewhere (60x80 picture)."""
    big = np.zeros((60, 80), bool)
    big[5:45, 5:45] = True
    small = np.zeros_like(big)
    small[20:30, 20:30] = True
    yy, xx = np.mgrid[:60, :80]
    disc = (yy - 30) ** 2 + (xx - 65) ** 2 <= 64
    return _auto([big, small, disc])


@pytest.mark.parametrize(
    "xy, expected",
    [
        ((25, 25), 1),
        ((10, 10), 0),
        ((65, 30), 2),
        ((50, 55), None),
        ((-1, 5), None),
        ((80, 5), None),
    ],
)
def test_a_click_picks_the_smallest_mask_under_it(nested, xy, expected):
    assert nested.pick(*xy) == expected


def test_filter_by_area_and_scores(nested):
    assert [m.area for m in nested.filter(min_area=150)] == [1600, 197]
    assert len(nested.filter(max_area=150)) == 1
    assert len(nested.filter(min_iou=0.95)) == 0
    assert nested.filter(min_area=150).size == nested.size


def test_coco_json_decodes_to_the_same_masks(nested, tmp_path):
    path = nested.to_coco(tmp_path / "e.json", image_name="x.png")
    doc = json.loads(path.read_text())
    assert doc["images"][0]["width"] == 80 and len(doc["annotations"]) == 3
    for ann, m in zip(doc["annotations"], nested, strict=True):
        seg = {
            "size": ann["segmentation"]["size"],
            "counts": ann["segmentation"]["counts"].encode(),
        }
        assert np.array_equal(mask_utils.decode(seg).astype(bool), m.mask)
        assert ann["area"] == m.area


def test_overlay_colours_the_masks(nested):
    img = np.full((60, 80, 3), 100, np.uint8)
    out = nested.overlay(img)
    assert out.shape == img.shape and (out[25, 25] != 100).any() and (out[55, 75] == 100).all()


@pytest.mark.parametrize(
    "knobs, needle",
    [
        ({"points_per_side": 0}, "points_per_side must be a whole number from 1"),
        ({"points_per_side": 8.5}, "whole number"),
        ({"pred_iou_thresh": 1.5}, "pred_iou_thresh must be a number from 0 to 1"),
        ({"stability_score_thresh": -0.1}, "stability_score_thresh"),
        ({"crop_n_layers": 9}, "crop_n_layers"),
        ({"points_per_sid": 8}, "Unknown setting 'points_per_sid'"),
    ],
)
def test_settings_out_of_range_are_named(knobs, needle):
    with pytest.raises(s2.EverythingError, match=needle):
        check_knobs(**knobs)


def test_bad_selections_are_named_and_add_nothing(nested):
    class Sess:  # only the size is read before the checks pass
        size = (80, 60)

        def add_object(self, **kw):  # pragma: no cover - must not be reached
            raise AssertionError("added")

    with pytest.raises(s2.EverythingError, match="Nothing selected"):
        nested.add_to(Sess(), select=[])
    with pytest.raises(s2.EverythingError, match="No mask \\[7\\]"):
        nested.add_to(Sess(), select=[0, 7])
    Sess.size = (640, 480)
    with pytest.raises(s2.EverythingError, match="80x60 but the session's video is 640x480"):
        nested.add_to(Sess(), select=[0])


@pytest.mark.slow
def test_found_on_a_video_frame_then_tracked(bedroom):
    engine = s2.load("test", device="cpu")
    video = s2.open_video(bedroom, end=6)
    found = s2.segment_everything(engine, video[2], frame_idx=2, points_per_side=4,
                                  pred_iou_thresh=0, stability_score_thresh=0,
                                  progress=False)  # fmt: skip
    assert found.untrained and "untrained" in repr(found).lower() and len(found) >= 1
    assert found.size == video.size and not found.stopped
    for m in found:  # the same RLE type the store uses; boxes inside the frame
        assert m.mask.shape == (540, 960) and m.mask.sum() == m.area
        assert 0 <= m.box[0] <= m.box[2] < 960 and 0 <= m.box[1] <= m.box[3] < 540
    sess = s2.Session(video, engine)
    ids = found.add_to(sess, select=[0])
    assert ids == [1] and sess.objects[1].name == "auto 1" and sess.prompt_frames(1) == [2]
    got, want = sess.results.get(2, 1).mask(), found[0].mask
    # sam2 resamples a mask prompt and fills its holes of up to 8 px (the untrained model's
    # speckled masks fill up): the prompt lies inside the mask it gives back
    assert (got & want).sum() / want.sum() > 0.9
    frames = [fr.frame_idx for fr in sess.propagate(direction="both", progress=False)]
    assert sorted(set(frames)) == list(range(6))


@pytest.mark.slow
def test_stop_before_the_start_returns_nothing_stopped():
    import threading

    engine = s2.load("test", device="cpu")
    stop = threading.Event()
    stop.set()
    found = s2.segment_everything(engine, np.zeros((64, 64, 3), np.uint8), stop=stop,
                                  progress=False)  # fmt: skip
    assert found.stopped and len(found) == 0


def test_picker_layer_paints_selected_masks_strong_and_the_rest_faint(nested):
    disp = [m.mask for m in nested]
    layer, base = picker_layer(disp, mask_colors(3), [0, 1, 2], {1})
    full = np.zeros((60, 80, 4), np.uint8)
    full[layer.y : layer.y + layer.rgba.shape[0], layer.x : layer.x + layer.rgba.shape[1]] = (
        layer.rgba
    )
    assert full[25, 25, 3] == FILL_SELECTED  # inside the selected small square
    assert full[10, 10, 3] == FILL and full[30, 65, 3] == FILL  # the others, faint
    assert full[55, 2, 3] == 0  # outside every mask
    assert (full[19, 25, :3] == 255).all()  # the selected mask's white ring
    again, _ = picker_layer(disp, mask_colors(3), [0, 1, 2], set(), base)  # base reused
    assert again.rgba[..., 3].max() == 255 and (again.rgba[..., 3] != FILL_SELECTED).all()
    assert picker_layer(disp, mask_colors(3), [], set()) == (None, None)


def _geometry(w: int, h: int) -> list[np.ndarray]:
    """Three masks of known geometry at a picture's size: a big box, a small box in it, a disc."""
    big = np.zeros((h, w), bool)
    big[h // 8 : h // 2, w // 8 : w // 2] = True
    small = np.zeros_like(big)
    small[h // 4 : h // 4 + h // 10, w // 4 : w // 4 + w // 10] = True
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - 3 * h // 4) ** 2 + (xx - 3 * w // 4) ** 2 <= (h // 8) ** 2
    return [big, small, disc]


@pytest.mark.slow
def test_image_segmenter_picks_masks_by_clicks_and_adds_them(data_dir):
    from helpers import mouse

    engine = s2.load("test", device="cpu")
    app = s2.ImageSegmenter(data_dir / "cars.jpg", engine, max_width=600, folder=None)
    assert isinstance(app, PickerHost)  # all the picker uses of its app
    w, h = app.session.size
    masks = _geometry(w, h)
    app.picker.show(_auto(masks))
    vp, mc = app.canvas.viewport, app.canvas.widget

    def click(x, y):  # a click in video pixels, delivered as the browser would
        dx, dy = vp.to_display(x, y)
        mouse(mc, "mouse_down", dx, dy)
        mouse(mc, "mouse_up", dx, dy)

    click(w // 4 + w // 20, h // 4 + h // 20)  # inside the small box: it, not the big one
    assert app.picker.selected == [1] and app.errors == []
    click(w // 8 + 5, h // 8 + 5)  # the big box outside the small one
    click(3 * w // 4, 3 * h // 4)  # the disc
    assert app.picker.selected == [1, 0, 2]
    click(w // 4 + w // 20, h // 4 + h // 20)  # again: deselected
    assert app.picker.selected == [0, 2] and app.picker.add_btn.description == "add 2 as objects"
    click(w - 3, 5)  # no mask there: nothing changes, the app says so
    assert app.picker.selected == [0, 2] and "No mask there" in app.status.value
    assert not app.session.objects  # clicks while picking add no prompts
    app.picker.min_area.value = int(masks[0].sum()) + 1  # a filter above every area hides all
    assert app.picker.visible() == [] and app.picker.selected == []
    app.picker.min_area.value = 0
    app.picker.select_all()
    assert app.picker.selected == [0, 1, 2]
    ids = app.picker.add()
    assert ids == [1, 2, 3] and not app.picker.picking
    assert "click to refine" in app.status.value  # an image has nothing to propagate
    assert app.clear_btn.description == "clear object"
    for o, m in zip(ids, masks, strict=True):
        assert np.array_equal(app.masks[o], m)
    assert [app.session.objects[o].name for o in ids] == ["auto 1", "auto 2", "auto 3"]
    click(w // 2, h // 2)  # after adding, a click is a prompt again (for the current object)
    assert app.errors == [] and app.session.log[-1]["op"] == "points"


@pytest.mark.slow
def test_no_mask_found_names_the_thresholds_that_removed_them(data_dir):
    app = s2.ImageSegmenter(data_dir / "cars.jpg", s2.load("test", device="cpu"), max_width=320,
                            folder=None)  # fmt: skip
    app.picker.run(points_per_side=4, pred_iou_thresh=1.0)  # no score is above 1
    assert app.picker.wait(120) and app.errors == []
    msg = app.status.value
    assert "0 masks" in msg and "predicted IoU above 1" in msg and "stability score" in msg
    assert "app.picker.run(pred_iou_thresh=" in msg


@pytest.mark.slow
def test_video_tracker_segments_a_frame_picks_and_tracks(bedroom):
    from helpers import mouse

    engine = s2.load("test", device="cpu")
    app = s2.VideoTracker(s2.open_video(bedroom, end=8), engine, folder=None, max_width=480,
                          threaded=False)  # fmt: skip
    assert isinstance(app, PickerHost)
    app.scrubber.show(3)
    app.picker.run(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    found = app.picker.found
    assert app.errors == [] and found is not None and found.frame_idx == 3 and len(found) >= 1
    assert "UNTRAINED" in app.status.value and app.picker.progress.value == app.picker.progress.max
    ys, xs = np.nonzero(found[0].mask)
    x, y = float(xs[len(xs) // 2]) + 0.5, float(ys[len(ys) // 2]) + 0.5
    want = found.pick(x, y)
    dx, dy = app.canvas.viewport.to_display(x, y)
    mouse(app.canvas.widget, "mouse_down", dx, dy)
    mouse(app.canvas.widget, "mouse_up", dx, dy)
    assert app.picker.selected == [want]
    app.scrubber.show(5)  # on another frame a click says where the masks are
    mouse(app.canvas.widget, "mouse_down", dx, dy)
    mouse(app.canvas.widget, "mouse_up", dx, dy)
    assert "on frame 3" in app.status.value and not app.session.objects
    assert len(app.errors) == 1
    app.errors.clear()
    app.scrubber.show(3)
    ids = app.picker.add()
    assert ids == [1] and app.session.prompt_frames(1) == [3]
    app.propagate("both")
    assert app.wait(300) and app.errors == []
    assert app.session.results.frames(1) == list(range(8))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, extra, stem, frame, size",
    [
        ("bedroom.mp4", ["--frame", "4"], "bedroom_f00004", 4, (960, 540)),
        ("groceries.jpg", [], "groceries", 0, None),
    ],
)
def test_cli_writes_coco_json_and_an_overlay(data_dir, tmp_path, capsys, name, extra, stem,
                                             frame, size):  # fmt: skip
    from PIL import Image

    from sam2nb.cli.commands import main

    rc = main(["everything", str(data_dir / name), *extra, "--model", "test",
               "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-thresh", "0",
               "--out", str(tmp_path), "--quiet"])  # fmt: skip
    assert rc == 0
    if size is None:  # a photo: its own size
        h, w = s2.read_image(data_dir / name).shape[:2]
        size = (w, h)
    doc = json.loads((tmp_path / f"{stem}.json").read_text())
    assert doc["info"]["untrained"] and doc["info"]["frame_idx"] == frame
    img = doc["images"][0]
    assert (img["width"], img["height"]) == size and len(doc["annotations"]) >= 1
    for ann in doc["annotations"]:  # pycocotools reads them back, areas and boxes agree
        seg = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"]}
        m = mask_utils.decode(seg)
        assert m.shape == (size[1], size[0]) and m.sum() == ann["area"]
        ys, xs = np.nonzero(m)
        assert ann["bbox"][:2] == [xs.min(), ys.min()]
    over = np.asarray(Image.open(tmp_path / f"{stem}_overlay.png"))
    assert over.shape == (size[1], size[0], 3) and tuple(over[3, 3]) == (176, 0, 32)  # banner
    said = capsys.readouterr().out
    n, word = re.search(rf"(\d+) (masks?) on {size[0]}x{size[1]} ", said).groups()
    assert word == ("mask" if n == "1" else "masks")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--frame", "999"], "Frame 999 is out of range: bedroom.mp4 has 200 frames"),
        (["--points-per-side", "0"], "points_per_side must be a whole number from 1"),
        (["--pred-iou-thresh", "2"], "pred_iou_thresh must be a number from 0 to 1"),
    ],
)
def test_cli_bad_input_is_named(data_dir, tmp_path, capsys, argv, needle):
    from sam2nb.cli.commands import main

    rc = main(["everything", str(data_dir / "bedroom.mp4"), "--model", "test",
               "--out", str(tmp_path), *argv])  # fmt: skip
    assert rc == 2 and needle in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_cli_frame_on_an_image_is_refused(data_dir, tmp_path, capsys):
    from sam2nb.cli.commands import main

    rc = main(["everything", str(data_dir / "cars.jpg"), "--frame", "3", "--out", str(tmp_path)])
    assert rc == 2 and "cars.jpg is an image" in capsys.readouterr().err


def test_frame_out_of_range_on_a_session_source(bedroom):
    video = s2.open_video(bedroom, end=5)
    with pytest.raises(s2.EverythingError, match="Frame 5 is out of range.*5 frames"):
        s2.segment_everything(None, video, frame_idx=5)


# -- the command over several frames: written one by one, resumed, damage named ------------------
FAST = ["--model", "test", "--points-per-side", "1", "--pred-iou-thresh", "0",
        "--stability-thresh", "0", "--max-side", "320", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def cut8(bedroom, tmp_path_factory):
    """The bedroom clip's first 8 frames, by stream copy."""
    return stream_cut(bedroom, tmp_path_factory.mktemp("cut8") / "cut.mp4", frames=8)


def _everything(*argv):
    from sam2nb.cli.commands import main

    return main(["everything", *map(str, argv)])


def _outputs(out):
    """{file name: modification time} of the finished outputs (and any temporary file)."""
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir()}


def _whole(out, stem):
    from sam2nb.io.labels import png_size

    doc = json.loads((out / f"{stem}.json").read_text())
    return png_size(out / f"{stem}_overlay.png") is not None and doc["info"]["settings"]


def test_cli_says_one_mask_and_one_frame_in_the_singular(cut8, tmp_path, capsys, monkeypatch):
    """Issue 31 (18): '1 mask(s)', '1 frame(s) written ... are kept'."""
    import types

    from sam2nb.image import everything
    from sam2nb.model import engine as modelmod

    def one_mask_then_stop(engine, picture, frame_idx=0, **kw):
        if frame_idx:
            raise KeyboardInterrupt  # Ctrl-C on the second frame
        m = np.zeros(picture.shape[:2], bool)
        m[10:20, 10:30] = True
        return _auto([m], frame_idx)

    monkeypatch.setattr(everything, "segment_everything", one_mask_then_stop)
    monkeypatch.setattr(modelmod, "load", lambda *a, **k: types.SimpleNamespace(untrained=False))
    out = tmp_path / "found"
    assert _everything(cut8, "--frames", "0:8:5", "--out", out, *FAST) == 130
    said = capsys.readouterr()
    assert "frame 0: 1 mask on 320x180 in " in said.out
    assert f"stopped: 1 frame written to {out} is kept; run the same command again" in said.err


@pytest.mark.slow
def test_cli_frames_are_written_as_they_finish_and_a_rerun_skips_them(cut8, tmp_path, capsys):
    out = tmp_path / "found"
    run = ["--frames", "0:8:5", "--out", out, *FAST]
    assert _everything(cut8, *run) == 0
    said = capsys.readouterr().out
    assert "frame 5: " in said and "2 frames written to" in said
    names = {f"cut_f0000{f}{end}" for f in (0, 5) for end in (".json", "_overlay.png")}
    assert set(_outputs(out)) == names  # nothing else (no temporary files)
    settings = _whole(out, "cut_f00005")
    assert settings["model"] == "test" and settings["max_side"] == 320
    assert json.loads((out / "cut_f00005.json").read_text())["info"]["frame_idx"] == 5

    before = _outputs(out)  # the same command again: nothing to do
    assert _everything(cut8, *run) == 0
    assert "skipped 2 frames already done" in capsys.readouterr().out
    assert _outputs(out) == before

    doc = (out / "cut_f00005.json").read_bytes()  # frame 5 lost a file, was cut short,
    (out / "cut_f00005_overlay.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    (out / "cut_f00005.json.tmp").write_bytes(doc[:10])  # and an interrupted write left this
    assert _everything(cut8, *run) == 0
    said = capsys.readouterr().out
    assert "skipped 1 frame already done" in said and "frame 5: " in said
    after = _outputs(out)
    assert set(after) == names and after["cut_f00000.json"] == before["cut_f00000.json"]
    assert _whole(out, "cut_f00005") == settings

    assert _everything(cut8, *run, "--redo") == 0  # --redo: everything again
    assert "skipped" not in capsys.readouterr().out
    assert all(_outputs(out)[n] != after[n] for n in names)


def test_frame_done_needs_both_files_whole_and_the_same_settings(tmp_path):
    from sam2nb.cli.everything import frame_done, write_outputs

    found = _auto([np.ones((60, 80), bool)])
    found.settings = {"points_per_side": 4, "keep_min_area": 0}
    write_outputs(found, np.zeros((60, 80, 3), np.uint8), tmp_path, "a_f00001")
    assert frame_done(tmp_path, "a_f00001", found.settings)
    assert not frame_done(tmp_path, "a_f00001", {**found.settings, "keep_min_area": 9})
    assert not frame_done(tmp_path, "a_f00002", found.settings)
    whole = (tmp_path / "a_f00001.json").read_text()
    (tmp_path / "a_f00001.json").write_text(whole[:-3])  # cut short
    assert not frame_done(tmp_path, "a_f00001", found.settings)
    big = json.loads(whole)
    big["info"]["settings"]["note"] = "x" * 100_000  # an info longer than the head read
    (tmp_path / "a_f00001.json").write_text(json.dumps(big))
    assert frame_done(tmp_path, "a_f00001", big["info"]["settings"])
    (tmp_path / "a_f00001_overlay.png").unlink()
    assert not frame_done(tmp_path, "a_f00001", big["info"]["settings"])


@pytest.mark.slow
def test_cli_a_corrupt_frame_keeps_the_frames_before_and_names_it(cut, tmp_path, capsys):
    bad = corrupt_copy(cut, tmp_path / "bad.mp4", where=0.3)
    video = s2.open_video(bad)
    with pytest.raises(FrameDecodeError) as err:
        for i in range(len(video)):
            video[i]
    f = err.value.frame  # read without pause; the command pauses to segment each frame
    out, a = tmp_path / "found", f - 2
    rc = _everything(bad, "--frames", f"{a}:{f + 3}", "--out", out, *FAST)
    msg = capsys.readouterr().err
    g = int(re.search(r"Frame (\d+) of ", msg).group(1))  # decord may stop a frame early
    assert rc == 2 and a < g <= f and f"Frame {g} of {bad} could not be decoded" in msg
    n = g - a
    kept = f"{n} frames written to {out} are kept" if n != 1 else f"1 frame written to {out} is"
    assert kept in msg
    assert f"run again with --frames {a}:{g} (frames done are skipped)" in msg
    assert all(_whole(out, f"bad_f{i:05d}") for i in range(a, g))
    assert len(list(out.iterdir())) == 2 * (g - a)  # the frames before it, nothing half-written
    assert _everything(bad, "--frames", f"{a}:{g}", "--out", out, *FAST) == 0  # the advice
    n = g - a
    assert f"skipped {n} frame{'s' if n > 1 else ''} already done" in capsys.readouterr().out


@pytest.fixture(scope="module")
def cut(bedroom, tmp_path_factory):
    """The bedroom clip's first 60 frames, by stream copy, index in front."""
    return stream_cut(bedroom, tmp_path_factory.mktemp("cut60") / "cut.mp4", frames=60)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--frames", "5"], "--frames '5' is not START:END[:STEP]"),
        (["--frames", "a:9"], "--frames 'a:9' is not START:END[:STEP]"),
        (["--frames", "5:3"], "--frames 5:3: cut.mp4 has 8 frames (0..7)"),
        (["--frames", "0:9"], "--frames 0:9: cut.mp4 has 8 frames"),
        (["--frames", "0:8:0"], "STEP >= 1"),
        (["--frames", "0:8", "--frame", "2"], "--frame and --frames both given"),
    ],
)
def test_cli_bad_frames_are_named_before_the_model_loads(cut8, tmp_path, capsys, argv, needle):
    rc = _everything(cut8, "--model", "test", "--out", tmp_path / "o", *argv)
    assert rc == 2 and needle in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_cli_frames_on_an_image_is_refused(data_dir, tmp_path, capsys):
    rc = _everything(data_dir / "cars.jpg", "--frames", "0:3", "--out", tmp_path)
    assert rc == 2 and "--frames 0:3: cars.jpg is an image" in capsys.readouterr().err


def test_cli_says_a_video_is_cut_short_and_how_many_frames_it_has(cut, tmp_path, capsys):
    short = truncated_copy(cut, tmp_path / "short.mp4", 0.6)
    rc = _everything(short, "--frames", "0:60", "--model", "test", "--out", tmp_path / "o")
    err = capsys.readouterr().err
    with pytest.warns(UserWarning, match="cut short"):
        n = len(s2.open_video(short))
    assert rc == 2 and f"note: {short} is cut short" in err
    assert f"--frames 0:60: short.mp4 has {n} frames (0..{n - 1})" in err


@pytest.mark.slow
def test_cli_killed_mid_run_leaves_whole_files_and_a_rerun_goes_on(cut8, tmp_path, capsys):
    """A real crash (SIGKILL, no clean-up): what is there is whole; the same command finishes."""
    import subprocess
    import sys
    import time

    out = tmp_path / "found"
    run = ["everything", cut8, "--frames", "0:2", "--out", out, *FAST]
    proc = subprocess.Popen([sys.executable, "-m", "sam2nb", *map(str, run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "cut_f00000.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no frame was written"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    done = [f for f in range(2) if (out / f"cut_f{f:05d}.json").exists()]
    assert 0 in done and len(done) < 2
    for p in out.iterdir():  # whatever has its final name is whole
        if p.suffix == ".png":
            from sam2nb.io.labels import png_size

            assert png_size(p) is not None, p
        elif p.suffix == ".json":
            json.loads(p.read_text())
    assert _everything(*run[1:]) == 0
    said = capsys.readouterr().out
    assert "skipped 1 frame already done" in said
    assert all(_whole(out, f"cut_f{f:05d}") for f in range(2))

from __future__ import annotations

import numpy as np
import pytest
from media import faststart, truncated_copy
from PIL import Image

import sam2nb as s2
from sam2nb.media.video import natural_key, to_rgb8


def test_open_mp4_lazy_random_access(bedroom):
    v = s2.open_video(bedroom)
    assert (len(v), v.fps, v.size) == (200, 30.0, (960, 540))
    late, early = v[150], v[3]
    assert late.shape == (540, 960, 3) and late.dtype == np.uint8
    assert np.array_equal(v[150], late)  # random access gives the same frame twice
    assert not np.array_equal(late, early)
    assert np.array_equal(v[-1], v[199])


def test_open_decodes_at_most_one_frame(bedroom, monkeypatch):
    import decord

    calls = []
    real = decord.VideoReader.__getitem__
    monkeypatch.setattr(
        decord.VideoReader, "__getitem__", lambda self, i: calls.append(i) or real(self, i)
    )
    v = s2.open_video(bedroom, max_side=480)
    assert len(calls) <= 1  # only the size probe: open cost does not grow with length
    v[120]
    assert calls[-1] == 120


@pytest.mark.parametrize(
    ("kwargs", "length", "size", "first_src"),
    [
        ({"max_side": 480}, 200, (480, 270), 0),
        ({"stride": 3}, 67, (960, 540), 0),
        ({"start": 10, "end": 20}, 10, (960, 540), 10),
        ({"start": 5, "stride": 10, "max_side": 320}, 20, (320, 180), 5),
    ],
)
def test_stride_range_resize(bedroom, kwargs, length, size, first_src):
    v = s2.open_video(bedroom, **kwargs)
    assert len(v) == length and v.size == size
    assert v[0].shape == (size[1], size[0], 3)
    assert v.source_index(0) == first_src
    if "stride" in kwargs:
        assert v.fps == pytest.approx(30.0 / kwargs["stride"])


def test_stride_picks_the_right_frames(bedroom):
    full, strided = s2.open_video(bedroom), s2.open_video(bedroom, stride=4, start=2)
    assert np.array_equal(strided[5], full[22])


def test_frames_stay_numpy_after_sam2_switches_the_decord_bridge(bedroom):
    import decord

    decord.bridge.set_bridge("torch")  # what sam2's init_state does to the whole process
    try:
        frame = s2.open_video(bedroom)[7]
        assert isinstance(frame, np.ndarray) and frame.shape == (540, 960, 3)
    finally:
        decord.bridge.set_bridge("native")


def test_other_real_videos(data_dir):
    cups = s2.open_video(data_dir / "cups.mp4")
    assert len(cups) == 300 and cups.size == (1280, 720)
    assert cups.fps == pytest.approx(29.97, abs=0.01)


def _write(path, data):
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d, src: d / "nope.mp4", "does not exist"),
        (lambda d, src: _write(d / "empty.mp4", b""), "empty (0 bytes)"),
        (lambda d, src: _write(d / "t.mp4", "not a video\n" * 9), "text file"),
        (lambda d, src: truncated_copy(src, d / "half.mp4", 0.5), "truncated"),
    ],
    ids=["missing", "zero-bytes", "text-named-mp4", "truncated"],
)
def test_bad_video_files_get_clear_messages(tmp_path, bedroom, make, needle):
    path = make(tmp_path, bedroom)
    with pytest.raises(s2.VideoError) as err:
        s2.open_video(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_truncated_faststart_video_names_the_bad_frame(tmp_path, bedroom):
    src = faststart(bedroom, tmp_path / "fs.mp4")
    assert len(s2.open_video(src)) == 200
    v = s2.open_video(truncated_copy(src, tmp_path / "fs_half.mp4", 0.5))
    assert v[10].shape == (540, 960, 3)
    with pytest.raises(s2.VideoError, match=r"Frame \d+ of .*fs_half.mp4 could not be decoded"):
        for i in range(len(v)):
            v[i]
    assert v[10].shape == (540, 960, 3)  # still usable after the failure


def test_image_file_is_not_a_video(data_dir):
    with pytest.raises(s2.VideoError, match="single image"):
        s2.open_video(data_dir / "truck.jpg")


def _frames(folder, names, size=(64, 48), mode="RGB"):
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        Image.new(mode, size, color=(i * 20, 0, 0) if mode == "RGB" else i * 20).save(folder / name)
    return folder


def test_folder_natural_order_and_any_names(tmp_path):
    names = ["frame_10.png", "frame_2.png", "frame_1.png", "frame_3.png"]
    v = s2.open_video(_frames(tmp_path / "f", names), fps=12)
    assert (len(v), v.fps, v.size) == (4, 12.0, (64, 48))
    assert [int(v[i][0, 0, 0]) for i in range(4)] == [40, 20, 60, 0]  # 1, 2, 3, 10
    words = s2.open_video(_frames(tmp_path / "w", ["b.jpg", "a.jpg", "c.jpg"]))
    assert len(words) == 3


def test_natural_key():
    assert sorted(["x10", "x9", "X1"], key=natural_key) == ["X1", "x9", "x10"]


def _mixed(d):
    _frames(d, ["1.png", "2.png"])
    return _frames(d, ["3.png"], (32, 32))


def _with_file(d, name, data):
    _frames(d, ["1.png"])
    _write(d / name, data)
    return d


def _empty_dir(d):
    d.mkdir()
    return d


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (_empty_dir, "no frames"),
        (lambda d: _write(_empty_dir(d) / "notes.txt", "x").parent, "notes.txt"),
        (_mixed, "3.png"),
        (lambda d: _with_file(d, "2.png", b"junk"), "2.png"),
        (lambda d: _with_file(d, "2.png", b""), "empty"),
    ],
    ids=["empty-folder", "no-images", "mixed-sizes", "corrupt-image", "zero-byte-image"],
)
def test_bad_folders(tmp_path, setup, needle):
    folder = setup(tmp_path / "frames")
    with pytest.raises(s2.VideoError) as err:
        s2.open_video(folder)
    assert needle in str(err.value)


def test_folder_converts_gray_rgba_16bit(tmp_path):
    import cv2

    d = tmp_path / "odd"
    d.mkdir()
    Image.new("L", (8, 6), 77).save(d / "0.png")
    Image.new("RGBA", (8, 6), (10, 20, 30, 40)).save(d / "1.png")
    cv2.imwrite(str(d / "2.png"), np.full((6, 8), 65535, np.uint16))
    cv2.imwrite(str(d / "3.png"), np.full((6, 8, 3), (0, 0, 32896), np.uint16))  # BGR
    v = s2.open_video(d)
    assert v[0][0, 0].tolist() == [77, 77, 77]
    assert v[1][0, 0].tolist() == [10, 20, 30]
    assert v[2][0, 0].tolist() == [255, 255, 255]
    assert v[3][0, 0].tolist() == [128, 0, 0]


@pytest.mark.parametrize(
    ("frames", "pixel"),
    [
        (np.full((3, 4, 5, 3), 9, np.uint8), [9, 9, 9]),
        (np.full((3, 4, 5), 200, np.uint8), [200, 200, 200]),
        (np.full((3, 4, 5, 4), 7, np.uint8), [7, 7, 7]),
        (np.full((3, 4, 5, 3), 0.5, np.float32), [128, 128, 128]),
        ([np.full((4, 5, 3), 1, np.uint8)] * 3, [1, 1, 1]),
    ],
    ids=["rgb", "gray", "rgba", "float", "list"],
)
def test_arrays(frames, pixel):
    v = s2.open_video(frames)
    assert len(v) == 3 and v.size == (5, 4) and v[2][0, 0].tolist() == pixel


@pytest.mark.parametrize(
    ("frames", "kwargs", "needle"),
    [
        (np.zeros((0, 4, 4, 3), np.uint8), {}, "empty"),
        (np.zeros((4, 4), np.uint8), {}, "shape"),
        ([np.zeros((4, 4, 3)), np.zeros((5, 5, 3))], {}, "different sizes"),
        (np.zeros((4, 4, 4, 3), np.uint8), {"stride": 0}, "stride"),
        (np.zeros((4, 4, 4, 3), np.uint8), {"start": 4}, "start=4"),
        (np.zeros((4, 4, 4, 3), np.uint8), {"end": 9}, "end=9"),
        (42, {}, "int"),
    ],
)
def test_bad_arrays_and_ranges(frames, kwargs, needle):
    with pytest.raises(s2.VideoError, match=needle):
        s2.open_video(frames, **kwargs)


def test_index_errors():
    v = s2.open_video(np.zeros((4, 4, 4, 3), np.uint8))
    with pytest.raises(IndexError, match="4 frames"):
        v[4]
    with pytest.raises(TypeError):
        v[1.5]


def test_nan_pixels_rejected():
    with pytest.raises(s2.VideoError, match="NaN"):
        to_rgb8(np.full((2, 2, 3), np.nan, np.float32))


def test_read_image(data_dir, tmp_path):
    img = s2.read_image(data_dir / "truck.jpg")
    assert img.shape == (1200, 1800, 3) and img.dtype == np.uint8
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(s2.VideoError, match="bad.jpg"):
        s2.read_image(tmp_path / "bad.jpg")


def test_png_frames_read_even_if_decord_was_imported_first(tmp_path):
    import subprocess
    import sys

    _frames(tmp_path / "f", ["0.png", "1.png"])
    code = (
        "import decord, sys; import sam2nb as s2; "
        f"v = s2.open_video({str(tmp_path / 'f')!r}); print(v[1][0, 0].tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[20, 0, 0]"

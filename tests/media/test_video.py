from __future__ import annotations

import pickle
import warnings

import cv2
import numpy as np
import pytest
from helpers import corrupt_copy, faststart, stream_cut, truncated_copy
from PIL import Image

import sam2nb as s2
from sam2nb.media.video import FrameDecodeError, natural_key, to_rgb8


@pytest.fixture(autouse=True, params=["pyav", "decord"])
def decoder(request, monkeypatch):
    """Every test here runs with each video decoder (folders and arrays do not use them)."""
    monkeypatch.setenv("SAM2NB_DECODER", request.param)
    return request.param


def test_open_mp4_lazy_random_access(bedroom):
    v = s2.open_video(bedroom)
    assert (len(v), v.fps, v.size) == (200, 30.0, (960, 540))
    late, early = v[150], v[3]
    assert late.shape == (540, 960, 3) and late.dtype == np.uint8
    assert np.array_equal(v[150], late)  # random access gives the same frame twice
    assert not np.array_equal(late, early)
    assert np.array_equal(v[-1], v[199])


def test_open_decodes_at_most_one_frame(bedroom, monkeypatch, decoder):
    if decoder == "pyav":
        v = s2.open_video(bedroom, max_side=480)
        assert v._backend._ok.sum() == 1  # only the size probe (packets are read, not decoded)
        v[120]
        assert v._backend._next == 121  # the next frame continues without a seek
        return
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


def test_truncated_faststart_video_keeps_the_frames_that_decode(tmp_path, bedroom):
    src = faststart(bedroom, tmp_path / "fs.mp4")
    assert len(s2.open_video(src)) == 200
    with pytest.warns(UserWarning, match="fs_half.mp4 is cut short"):
        v = s2.open_video(truncated_copy(src, tmp_path / "fs_half.mp4", 0.5))
    assert 0 < len(v) < 200 and v[10].shape == (540, 960, 3)
    assert v[len(v) - 1].shape == (540, 960, 3)  # the last frame it reports decodes


# -- damaged files: cut short (seen at open) or corrupt inside (seen at the bad frame) ----------
@pytest.fixture(scope="module")
def cut(bedroom, tmp_path_factory):
    """The bedroom clip's first 60 frames by stream copy (no re-encoding), index in front."""
    return stream_cut(bedroom, tmp_path_factory.mktemp("cut") / "cut.mp4", frames=60)


def _opencv_frames(path):
    """How many frames OpenCV's own FFmpeg reads from the start before it stops."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def _first_failure(video):
    try:
        for i in range(len(video)):
            video[i]
    except s2.VideoError as err:
        return err
    return None


def test_a_file_cut_short_opens_with_the_frames_that_really_decode(cut, tmp_path):
    """The header still lists 60 frames; open finds the real count, which OpenCV agrees with."""
    short = truncated_copy(cut, tmp_path / "short.mp4", 0.6)
    assert cv2.VideoCapture(str(short)).get(cv2.CAP_PROP_FRAME_COUNT) == 60  # the header's
    with pytest.warns(UserWarning, match=r"short.mp4 is cut short .*: only \d+ of its \d+ bytes"):
        v = s2.open_video(short)
    assert 10 < len(v) < 60 and len(v) == _opencv_frames(short)
    assert f"Its first {len(v)} frames (0..{len(v) - 1}) decode and are used" in v.damage
    assert _first_failure(v) is None  # every frame it reports decodes
    assert s2.open_video(cut).damage is None and len(s2.open_video(cut)) == 60
    with (
        pytest.raises(s2.VideoError, match=f"at most {len(v)} .*is cut short"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        s2.open_video(short, end=60)


def test_a_file_cut_short_before_its_index_says_how_much_is_there(bedroom, tmp_path):
    half = truncated_copy(bedroom, tmp_path / "half.mp4", 0.5)  # its index (moov) is at the end
    with pytest.raises(s2.VideoError, match=r"truncated: only \d+ of its \d+ bytes are there"):
        s2.open_video(half)


def test_a_corrupt_frame_names_itself_and_end_keeps_the_frames_before(cut, tmp_path):
    bad = corrupt_copy(cut, tmp_path / "bad.mp4", where=0.5)
    v = s2.open_video(bad)
    assert len(v) == 60 and v.damage is None  # nothing at open: the damage is inside
    err = _first_failure(v)
    assert isinstance(err, FrameDecodeError) and 5 < err.frame < 60
    f = err.frame
    msg = str(err)
    assert msg.startswith(f"Frame {f} of {bad} could not be decoded (")
    assert f"The {f} frames before it (0..{f - 1}) decoded fine: pass end={f}" in msg
    assert (err.decoded, err.video) == (f, str(bad))
    assert v[f - 1].shape == (540, 960, 3) and v[3].shape == (540, 960, 3)  # still usable
    assert _first_failure(s2.open_video(bad, end=f)) is None  # the advice works
    again = pickle.loads(pickle.dumps(err))  # crosses process boundaries (batch workers)
    assert type(again) is FrameDecodeError and str(again) == msg and again.frame == f
    assert "--end 7" in err.explain("run again with --end 7")


def test_a_corrupt_frame_read_first_says_the_frames_before_were_not_read(cut, tmp_path):
    bad = corrupt_copy(cut, tmp_path / "bad.mp4", where=0.5)
    with pytest.raises(FrameDecodeError) as err:
        s2.open_video(bad)[59]  # open read frame 0 (its size), nothing else
    f, ok = err.value.frame, err.value.decoded  # PyAV decodes from the keyframe before 59
    assert f == 59 and 1 <= ok < 59
    msg = str(err.value)
    assert f"{ok} of the 59 frames before it were decoded fine (the others were not read" in msg
    assert "pass end=59 to open_video()" in msg
    assert "No frame before it was read yet" in str(FrameDecodeError("v.mp4", 9, 0, "x"))


def test_a_corrupt_image_in_a_frame_folder_names_the_image(tmp_path):
    folder = _frames(tmp_path / "f", [f"{i:03d}.png" for i in range(6)])
    good = (folder / "003.png").read_bytes()
    (folder / "003.png").write_bytes(good[: len(good) // 2])  # cut short after open's header check
    v = s2.open_video(folder)
    with pytest.raises(FrameDecodeError) as err:
        for i in range(len(v)):
            v[i]
    msg = str(err.value)
    assert err.value.frame == 3 and f"Frame 3 of {folder} could not be decoded (003.png" in msg
    assert "The 3 frames before it (0..2) decoded fine: pass end=3" in msg
    assert "replace 003.png with a good copy, or remove it" in msg
    assert v[4].shape == (48, 64, 3)


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

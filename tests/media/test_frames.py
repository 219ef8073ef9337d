"""media/frames: the lazy, prefetching frame stream that stands in for sam2's frame tensor."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import torch
from helpers import corrupt_copy, short_clip, stream_cut

import sam2nb as s2
from sam2nb.media.frames import IMG_MEAN, IMG_STD, FrameStream
from sam2nb.media.video import FrameDecodeError

WAIT = 30  # seconds a background decode may take before the test calls it a hang
SIZE = 64


def _until(cond, what):
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _frames(n=20, h=24, w=32):
    """Frame i is filled with the value i (so a frame says which one it is)."""
    return np.stack([np.full((h, w, 3), i, np.uint8) for i in range(n)])


@pytest.fixture
def decodes(monkeypatch):
    """Every frame index any VideoSource decodes, in order (from any thread)."""
    seen: list[int] = []
    real = s2.VideoSource.__getitem__

    def getitem(self, idx):
        seen.append(int(idx))
        return real(self, idx)

    monkeypatch.setattr(s2.VideoSource, "__getitem__", getitem)
    return seen


def _prefetch_threads() -> int:
    return sum(t.name == "sam2nb-prefetch" and t.is_alive() for t in threading.enumerate())


# -- what a frame becomes ------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, 77, 255])
def test_a_frame_is_normalised_like_sam2(value):
    video = s2.open_video(np.full((2, 24, 32, 3), value, np.uint8))
    fs = FrameStream(video, SIZE, "cpu", prefetch=0)
    t = fs[1]
    assert t.shape == (3, SIZE, SIZE) and t.dtype == torch.float32 and t.device.type == "cpu"
    for c in range(3):
        want = (value / 255 - IMG_MEAN[c]) / IMG_STD[c]
        assert torch.allclose(t[c], torch.full_like(t[c], want), atol=1e-5)
    fs.close()


def test_raw_is_the_video_frame_and_getitem_its_model_input():
    frames = np.random.default_rng(0).integers(0, 255, (4, 24, 32, 3), dtype=np.uint8)
    fs = FrameStream(s2.open_video(frames), SIZE, "cpu", prefetch=0)
    assert len(fs) == 4
    assert np.array_equal(fs.raw(2), frames[2])
    assert torch.equal(fs[2], fs.to_model_input(frames[2]))
    assert not torch.equal(fs[2], fs[3])
    fs.close()


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"resize": "bogus"}, "resize must be"), ({"resize": "decoder"}, "not a video file")],
)
def test_bad_resize_requests(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        FrameStream(s2.open_video(_frames(2)), SIZE, "cpu", **kwargs)


def test_arrays_are_resized_on_the_device():
    fs = FrameStream(s2.open_video(_frames(3)), SIZE, "cpu", prefetch=0)
    assert fs.resize == "device" and fs.mode == "bilinear"
    assert fs.raw(0).shape == (24, 32, 3)
    assert "3 frames" in repr(fs) and f"{SIZE}px" in repr(fs)
    fs.close()


# -- prefetching ---------------------------------------------------------------------------
def test_prefetch_decodes_ahead_once_and_serves_from_the_cache(decodes):
    fs = FrameStream(s2.open_video(_frames(20)), SIZE, "cpu", prefetch=3)
    try:
        assert np.array_equal(fs.raw(0), np.full((24, 32, 3), 0, np.uint8))
        _until(lambda: fs.decoded == 4, "frames 1-3")
        assert sorted(decodes) == [0, 1, 2, 3]  # never more than 3 ahead
        assert fs.hits == 0
        assert fs.raw(1)[0, 0, 0] == 1 and fs.hits == 1  # from the prefetch
        _until(lambda: fs.decoded == 5, "frame 4")
        for i in (2, 3, 4):
            assert fs.raw(i)[0, 0, 0] == i
        assert fs.hits == 4
        _until(lambda: fs.decoded == 8, "frames 5-7")
        assert sorted(decodes) == list(range(8))  # each frame decoded exactly once
    finally:
        fs.close()


def test_prefetch_follows_the_direction_of_travel(decodes):
    fs = FrameStream(s2.open_video(_frames(20)), SIZE, "cpu", prefetch=3)
    try:
        fs.raw(15)
        _until(lambda: fs.decoded == 4, "frames after 15")
        assert sorted(decodes) == [15, 16, 17, 18]
        fs.raw(14)  # now going backwards
        _until(lambda: fs.decoded == 8, "frames before 14")
        assert sorted(decodes) == [11, 12, 13, 14, 15, 16, 17, 18]
        hits = fs.hits
        assert fs.raw(13)[0, 0, 0] == 13 and fs.hits == hits + 1
    finally:
        fs.close()


def test_prefetch_stops_at_the_ends(decodes):
    fs = FrameStream(s2.open_video(_frames(5)), SIZE, "cpu", prefetch=8)
    try:
        fs.raw(3)
        _until(lambda: fs.decoded == 2, "the last frame")
        assert fs.raw(4)[0, 0, 0] == 4 and fs.hits == 1
        assert sorted(decodes) == [3, 4]  # nothing past the last frame, nothing behind
    finally:
        fs.close()


def test_no_prefetch_decodes_exactly_what_is_asked(decodes):
    before = _prefetch_threads()
    fs = FrameStream(s2.open_video(_frames(10)), SIZE, "cpu", prefetch=0)
    assert _prefetch_threads() == before  # no thread at all
    for i in (4, 2, 2, 9):
        assert fs.raw(i)[0, 0, 0] == i
    assert decodes == [4, 2, 2, 9] and fs.hits == 0 and fs.decoded == 4
    fs.close()


def test_close_ends_the_prefetch_thread():
    before = _prefetch_threads()
    fs = FrameStream(s2.open_video(_frames(10)), SIZE, "cpu", prefetch=2)
    assert _prefetch_threads() == before + 1
    fs.raw(0)
    fs.close()
    _until(lambda: _prefetch_threads() == before, "the prefetch thread to end")


def test_a_decode_error_surfaces_when_the_frame_is_asked_for(monkeypatch):
    real = s2.VideoSource.__getitem__

    def getitem(self, idx):
        if idx == 5:
            raise s2.VideoError("frame 5 is damaged")
        return real(self, idx)

    monkeypatch.setattr(s2.VideoSource, "__getitem__", getitem)
    fs = FrameStream(s2.open_video(_frames(10)), SIZE, "cpu", prefetch=2)
    try:
        fs.raw(4)  # the prefetch trips over frame 5 in the background: nothing raised here
        with pytest.raises(s2.VideoError, match="frame 5 is damaged"):
            fs.raw(5)
        assert fs.raw(6)[0, 0, 0] == 6  # the stream is still usable
    finally:
        fs.close()


@pytest.fixture(scope="module")
def corrupt_mp4(bedroom, tmp_path_factory):
    """Sixty frames of the bedroom clip with zeroed bytes half-way into its data."""
    d = tmp_path_factory.mktemp("corrupt")
    return corrupt_copy(stream_cut(bedroom, d / "cut.mp4", frames=60), d / "bad.mp4", 0.5)


@pytest.mark.parametrize("resize", ["decoder", "device"])
def test_a_corrupt_video_file_stops_the_stream_with_the_clear_error(corrupt_mp4, resize, decodes):
    """The prefetch meets the bad frame first: its error reaches the reader, no hang, no retry."""
    video = s2.open_video(corrupt_mp4)
    fs = FrameStream(video, SIZE, "cpu", prefetch=4, resize=resize)
    got: list = []

    def read_all():
        try:
            for i in range(len(fs)):
                got.append(fs.raw(i))
                time.sleep(0.01)  # a slow reader: the prefetch runs ahead into the damage
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            got.append(exc)

    reader = threading.Thread(target=read_all)
    reader.start()
    reader.join(WAIT)
    try:
        assert not reader.is_alive(), "the stream hung on the broken frame"
        err = got[-1]
        assert isinstance(err, FrameDecodeError), err
        f = err.frame
        assert len(got) - 1 == f and 5 < f < 60  # every frame before it came out
        assert f"Frame {f} of {corrupt_mp4} could not be decoded" in str(err)
        assert f"The {f} frames before it (0..{f - 1}) decoded fine: pass end={f}" in str(err)
        if resize == "device":
            assert np.array_equal(got[f - 1], video[f - 1])
        assert decodes.count(f) == 1  # by the prefetch or the reader, never by both
        tried, decoded = decodes.count(f), fs.decoded
        for _ in range(3):  # asked again: the same error at once, nothing decoded again
            with pytest.raises(FrameDecodeError, match=f"Frame {f} of"):
                fs.raw(f)
        time.sleep(0.2)
        assert decodes.count(f) == tried and fs.decoded == decoded
        assert max(decodes) <= f + fs.prefetch  # the prefetch did not run on past it
    finally:
        fs.close()


# -- against sam2's own loaders ------------------------------------------------------------
@pytest.fixture(scope="module")
def short_mp4(bedroom, tmp_path_factory):
    """Eight frames of the bedroom clip at 320x180, as a small mp4 of its own."""
    return short_clip(bedroom, tmp_path_factory.mktemp("clip") / "short.mp4")


@pytest.fixture
def native_bridge():
    """sam2's video loader switches decord to its torch bridge: put it back afterwards."""
    import decord

    yield
    decord.bridge.set_bridge("native")


def _sam2_frames(path, size):
    from sam2.utils.misc import load_video_frames

    images, _, _ = load_video_frames(
        str(path), size, offload_video_to_cpu=True, compute_device=torch.device("cpu")
    )
    return images


def _levels(a, b):
    """Per-pixel difference of two normalised frames in 8-bit levels."""
    std = torch.tensor(IMG_STD)[:, None, None]
    return ((a - b) * std * 255).abs()


def test_decoder_resize_is_bit_exact_with_sam2(short_mp4, native_bridge):
    want = _sam2_frames(short_mp4, 256)
    fs = FrameStream(s2.open_video(short_mp4), 256, "cpu", prefetch=2)
    try:
        assert fs.resize == "decoder" and fs.raw(0).shape == (256, 256, 3)
        for i in range(len(fs)):
            assert torch.equal(fs[i], want[i]), i
    finally:
        fs.close()


def test_device_resize_of_a_video_file_is_close_to_sam2(short_mp4, native_bridge):
    want = _sam2_frames(short_mp4, 256)
    fs = FrameStream(s2.open_video(short_mp4), 256, "cpu", resize="device", prefetch=0)
    try:
        assert fs.resize == "device" and fs.raw(0).shape == (180, 320, 3)
        for i in range(len(fs)):
            same, other = _levels(fs[i], want[i]).mean(), _levels(fs[i], want[(i + 4) % 8]).mean()
            assert same < other / 3, (i, same, other)
    finally:
        fs.close()


def test_a_jpeg_folder_matches_sam2_within_rounding(bedroom, tmp_path):
    video = s2.open_video(bedroom, end=3, max_side=320)
    for i, frame in enumerate(video):
        cv2.imwrite(str(tmp_path / f"{i:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    want = _sam2_frames(tmp_path, 256)  # PIL's bicubic resize
    fs = FrameStream(s2.open_video(tmp_path), 256, "cpu", prefetch=0)
    try:
        assert fs.resize == "device" and fs.mode == "bicubic"
        for i in range(3):
            assert _levels(fs[i], want[i]).max() <= 1.0 + 1e-3  # 8-bit rounding only
    finally:
        fs.close()

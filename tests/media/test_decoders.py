"""Video decoders on real files: PyAV (the default) against decord and FFmpeg itself.

Files are made at test time from the shared clips: a long recording by stream copy (no
re-encoding), a variable frame rate clip, a phone clip with rotation metadata, a 4K clip.
"""

from __future__ import annotations

import subprocess

import numpy as np
import psutil
import pytest

import sam2nb as s2
from sam2nb.media.writer import ffmpeg_exe, join_videos


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def long_mp4(bedroom, tmp_path_factory):
    """bedroom.mp4 joined 51 times by stream copy: 10,200 frames in one 120 MB file."""
    return join_videos([bedroom], tmp_path_factory.mktemp("long") / "long.mp4", repeat=51)


@pytest.fixture(scope="module")
def vfr_mp4(bedroom, tmp_path_factory):
    """60 frames: 30 at 1/30 s apart, then 30 at 1/10 s (a phone's variable frame rate)."""
    out = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    _ffmpeg("-i", str(bedroom), "-frames:v", "60", "-an", "-fps_mode", "passthrough",
            "-vf", "scale=480:270,setpts='if(lt(N,30),N/30/TB,(1+(N-30)/10)/TB)'",
            "-c:v", "libx264", "-preset", "ultrafast", str(out))  # fmt: skip
    return out


VFR_TIMES = np.r_[np.arange(30) / 30, 1 + np.arange(30) / 10]


def test_pyav_gives_decords_frames_bit_for_bit_in_any_order(bedroom):
    a = s2.open_video(bedroom, decoder="pyav")
    b = s2.open_video(bedroom, decoder="decord")
    assert (a.decoder, b.decoder) == ("pyav", "decord") and len(a) == len(b) == 200
    order = [150, 3, 199, 0, 77, 78, 79, 40, 39, 38]  # jumps, runs forward and backward
    for i in order:
        assert np.array_equal(a[i], b[i]), i
    # scaled by the decoder to the model's size: what sam2's own loader gives, exactly
    sa, sb = a.decoded_at(256, 256), b.decoded_at(256, 256)
    for i in (0, 120, 119, 5):
        assert np.array_equal(sa[i], sb[i]), i


def test_reading_backwards_does_not_seek_for_every_frame(bedroom):
    v = s2.open_video(bedroom)  # one keyframe for 200 frames: each seek decodes from frame 0
    seq = [v[i] for i in range(200)]
    back = s2.open_video(bedroom)
    for i in range(199, -1, -1):
        assert np.array_equal(back[i], seq[i]), i
    assert back._backend._ok.all()


def test_skipping_ahead_decodes_on_instead_of_seeking_back(bedroom):
    """Play skipping frames (every 7th) or a scrub ahead: one keyframe for 200 frames, so a
    seek for each would decode from frame 0 every time; the frames are the same."""
    seq = s2.open_video(bedroom, decoder="pyav")
    want = {i: seq[i] for i in range(200)}
    v = s2.open_video(bedroom, decoder="pyav")
    seeks = []
    real = v._backend._seek
    v._backend._seek = lambda idx: seeks.append(idx) or real(idx)
    for i in [*range(0, 200, 7), 3, 10]:  # ahead, then back (a seek), then ahead again
        assert np.array_equal(v[i], want[i]), i
    assert seeks == [0, 3]


def test_a_long_file_opens_at_once_and_memory_stays_flat(long_mp4):
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    v = s2.open_video(long_mp4, max_side=512)
    assert len(v) == 10_200 and v.fps == 30.0 and v.size == (512, 288)
    assert v.times[-1] == pytest.approx(10_199 / 30)
    first = v[0]
    samples = []
    for start in (100, 5000, 9990, 2500, 7000):  # jumps, then a run of frames at each
        for i in range(start, start + 60):
            v[i]
        samples.append(proc.memory_info().rss)
    assert np.array_equal(v[200], first)  # the clip repeats: frame 200 is frame 0 again
    grown = (max(samples) - rss0) / 2**20
    assert grown < 150, f"RSS grew {grown:.0f} MB reading 300 frames of a long file"
    assert (samples[-1] - samples[0]) / 2**20 < 30  # nothing decoded ahead piles up


def test_variable_frame_rate_times_are_the_files_own(vfr_mp4):
    for decoder in ("pyav", "decord"):
        v = s2.open_video(vfr_mp4, decoder=decoder)
        assert len(v) == 60 and v.variable_rate
        np.testing.assert_allclose(v.times, VFR_TIMES, atol=1e-3)
    strided = s2.open_video(vfr_mp4, start=28, stride=2)
    np.testing.assert_allclose(strided.times, VFR_TIMES[28::2], atol=1e-6)
    assert not s2.open_video(np.zeros((4, 8, 8, 3), np.uint8), fps=5).variable_rate


def test_exports_keep_variable_frame_rate_timing(vfr_mp4, tmp_path):
    import json

    import av

    engine = s2.load("test")
    v = s2.open_video(vfr_mp4)
    sess = s2.Session(v, engine)
    sess.add_object(1)
    sess.add_points(0, 1, [[240, 135]], [1])
    for _ in sess.propagate(progress=False):
        pass
    df = s2.track_table(sess, progress=False)
    np.testing.assert_allclose(df.time_s.to_numpy(), VFR_TIMES, atol=1e-6)
    for fmt, name in (("mp4", "overlay.mp4"), ("cutout_webm", "cutout.webm")):
        s2.export(sess, tmp_path / fmt, fmt, progress=False)
        with av.open(str(tmp_path / fmt / name)) as c:
            st = c.streams.video[0]
            got = [float(f.pts * st.time_base) for f in c.decode(st)]
        np.testing.assert_allclose(got, VFR_TIMES, atol=2e-3, err_msg=fmt)
    s2.export(sess, tmp_path / "y", "ytvis", progress=False)
    video = json.loads((tmp_path / "y" / "ytvis.json").read_text())["videos"][0]
    np.testing.assert_allclose(video["timestamps_s"], VFR_TIMES, atol=1e-6)
    s2.export(sess, tmp_path / "m", "mot", progress=False)
    rows = (tmp_path / "m" / "mot_times.csv").read_text().split()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 61))  # MOT frames from 1
    np.testing.assert_allclose([float(r.split(",")[1]) for r in rows], VFR_TIMES, atol=1e-6)
    assert "seqLength=60" in (tmp_path / "m" / "seqinfo.ini").read_text()
    man = json.loads((tmp_path / "m" / "manifest.json").read_text())["video"]
    assert man["variable_rate"] and len(man["times_s"]) == 60


def test_phone_video_comes_upright_as_ffmpeg_shows_it(bedroom, tmp_path):
    rot = tmp_path / "phone.mp4"
    _ffmpeg("-display_rotation", "90", "-i", str(bedroom), "-frames:v", "10", "-c", "copy",
            str(rot))  # fmt: skip
    v = s2.open_video(rot)
    assert v.rotation in (90, 270) and v.size == (540, 960)
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(rot), "-frames:v", "1", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-"]  # fmt: skip
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    upright = np.frombuffer(raw, np.uint8).reshape(960, 540, 3)  # FFmpeg rotates by default
    assert np.array_equal(v[0], upright)
    small = s2.open_video(rot, max_side=480)
    assert small.size == (270, 480) and small[3].shape == (480, 270, 3)


def test_a_4k_clip_is_decoded_straight_to_a_small_size(bedroom, tmp_path):
    uhd = tmp_path / "uhd.mp4"
    _ffmpeg("-i", str(bedroom), "-frames:v", "12", "-an", "-vf", "scale=3840:2160",
            "-c:v", "libx264", "-preset", "ultrafast", str(uhd))  # fmt: skip
    v = s2.open_video(uhd, max_side=1024)
    assert v.source_size == (3840, 2160) and v.size == (1024, 576)
    frames = [v[i] for i in (0, 11, 5)]
    assert all(f.shape == (576, 1024, 3) for f in frames)
    assert np.array_equal(v.decoded_at(1024, 576)[11], frames[1])


def test_unknown_or_missing_decoder_says_what_to_do(bedroom, monkeypatch):
    with pytest.raises(s2.VideoError, match="Unknown video decoder 'ffv'.*pyav, decord"):
        s2.open_video(bedroom, decoder="ffv")
    monkeypatch.setenv("SAM2NB_DECODER", "decord")
    assert s2.open_video(bedroom).decoder == "decord"

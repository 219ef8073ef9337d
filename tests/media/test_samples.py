"""Sample media: your file, else the official sample (local or downloaded), else synthetic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import sam2nb as s2


def test_yours_first_then_local_samples(tmp_path, data_dir, monkeypatch):
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"x")
    assert s2.sample_video(mine) == mine
    with pytest.raises(s2.VideoError, match="does not exist"):
        s2.sample_video(tmp_path / "nope.mp4")
    monkeypatch.setenv("SAM2NB_SAMPLES", str(data_dir))
    assert s2.sample_video() == data_dir / "bedroom.mp4"
    assert s2.sample_image(name="cars.jpg") == data_dir / "cars.jpg"
    with pytest.raises(s2.VideoError, match="there are"):
        s2.sample_path("dog.mp4")


def test_offline_falls_back_to_synthetic_media(monkeypatch, capsys):
    monkeypatch.delenv("SAM2NB_SAMPLES", raising=False)
    monkeypatch.setattr("sam2nb.media.samples.SAMPLES", {
        k: ("http://127.0.0.1:9/none", sha) for k, (_, sha) in s2.media.samples.SAMPLES.items()
    })  # fmt: skip
    v = s2.sample_video()
    assert v.name == "synthetic.mp4"
    said = capsys.readouterr().out  # the user is told, with the way out
    assert "bedroom.mp4 could not be found or downloaded" in said and "SAM2NB_SAMPLES" in said
    video = s2.open_video(v)
    assert len(video) == 60 and video.size == (640, 360)
    frame = video[30].astype(int)  # disc 1 is centred at (120 + 6t, 180 + t)
    assert abs(frame[210, 300] - [230, 180, 40]).max() < 25
    img = s2.read_image(s2.sample_image())
    assert img.shape == (480, 640, 3)
    assert tuple(img[210, 170]) == (230, 180, 40)  # the disc's colour, drawn by us


def _engine(untrained, device):
    return SimpleNamespace(untrained=untrained, device=SimpleNamespace(type=device))


def test_frames_auto_is_a_short_stretch_only_for_the_test_model_on_a_cpu(capsys):
    """FRAMES = "auto" (the video notebooks' default): 60 frames, said, where tracking is slow."""
    from sam2nb.media.samples import frames_to_use

    assert frames_to_use("auto", _engine(True, "cpu")) == 60
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "the first 60 frames only" in said and "None" in said
    for engine in (_engine(False, "cpu"), _engine(True, "cuda"), _engine(False, "cuda")):
        assert frames_to_use("auto", engine) is None  # a real model or a GPU: the whole video
        assert frames_to_use(None, engine) is None
    assert capsys.readouterr().out == ""  # the whole video: nothing to say
    assert frames_to_use(40, _engine(False, "cuda")) == 40  # the user's own number, said too
    assert "FRAMES = 40: the first 40 frames only" in capsys.readouterr().out
    for bad in ("all", 0, -5, 2.5, True):
        with pytest.raises(ValueError, match="FRAMES"):
            frames_to_use(bad, _engine(True, "cpu"))

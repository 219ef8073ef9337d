"""model/names: one check for every model name, whichever library runs it."""

from __future__ import annotations

import numpy as np
import pytest

import sam2nb as s2
from sam2nb.cli.commands import main
from sam2nb.model.names import canonical, check_images, untrained, video_only


@pytest.mark.parametrize(
    "name, want",
    [("b+", "base_plus"), ("sam2_t", "sam2_tiny"), ("EdgeTAM", "edgetam"), ("SAM3", "sam3"),
     ("base-plus@hf", "base_plus@hf"), ("edgetam-test", "edgetam-test"), ("test", "test")],
)  # fmt: skip
def test_every_library_s_names_and_aliases_resolve(name, want):
    assert canonical(name) == want


def test_an_unknown_name_lists_both_libraries_names():
    with pytest.raises(s2.ModelError) as err:
        canonical("tinny")
    assert "tiny" in str(err.value) and "edgetam" in str(err.value) and "sam3" in str(err.value)


def test_only_sam2_models_segment_images():
    assert not video_only("tiny") and not video_only("test")
    assert video_only("tiny@hf") and video_only("edgetam") and video_only("sam3-test")
    assert check_images("t", "segment everything") == "tiny"
    with pytest.raises(s2.ModelError, match="edgetam tracks videos only: segment everything"):
        check_images("edgetam", "segment everything")


def test_test_models_are_known_untrained():
    assert untrained("test") and untrained("test@hf") and untrained("sam3-test")
    assert not untrained("tiny") and not untrained("edgetam") and not untrained("tiny@hf")


def test_the_cli_says_in_one_line_what_a_tracker_cannot_do(data_dir, tmp_path, capsys):
    rc = main(["everything", str(data_dir / "truck.jpg"), "--model", "edgetam", "--out",
               str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "edgetam tracks videos only" in err and "tiny" in err
    assert not any(tmp_path.iterdir())  # nothing ran


def test_images_refuse_a_transformers_tracker_with_the_fix():
    pytest.importorskip("transformers")
    engine = s2.load("edgetam-test", device="cpu")
    img = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(s2.SessionError, match="tracks videos only: segmenting an image"):
        s2.ImageSession(img, engine)
    with pytest.raises(s2.EverythingError, match="tracks videos only: segment everything"):
        s2.segment_everything(engine, img)

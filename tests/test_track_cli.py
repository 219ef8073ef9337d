"""``sam2nb track``: prompts from flags and files, PNG masks out, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sam2nb.cli.commands import main


@pytest.mark.slow
def test_one_click_writes_one_png_per_frame(bedroom, tmp_path, capsys):
    out = tmp_path / "masks"
    rc = main(["track", str(bedroom), "--model", "test", "--point", "0:450,200", "--end", "6",
               "--out", str(out), "--quiet", "--save-session", str(tmp_path / "run")])  # fmt: skip
    assert rc == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == [f"{i:05d}.png" for i in range(6)]
    m = np.asarray(Image.open(files[3]))
    assert m.shape == (540, 960) and set(np.unique(m)) <= {0, 255} and m.any()
    assert "untrained" in capsys.readouterr().out
    assert (tmp_path / "run" / "session.json").is_file()


@pytest.mark.slow
def test_objects_negatives_boxes_and_a_prompt_file(bedroom, tmp_path):
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps([{"op": "points", "frame_idx": 0, "obj_id": 3,
                                    "points": [[150, 420]], "labels": [1]}]))  # fmt: skip
    out = tmp_path / "masks"
    rc = main(["track", str(bedroom), "--model", "test", "--point", "0:450,200:1",
               "--neg", "0:300,120:1", "--box", "0:100,300,700,540:2", "--prompts", str(prompts),
               "--end", "5", "--out", str(out), "--quiet"])  # fmt: skip
    assert rc == 0
    lab = Image.open(out / "00004.png")
    assert lab.mode == "P"
    assert set(np.unique(np.asarray(lab))) <= {0, 1, 2, 3}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--point", "0:450"], "FRAME:X,Y"),
        (["--box", "0:1,2,3"], "FRAME:X0,Y0,X1,Y1"),
        ([], "Nothing to track"),
        (["--prompts", "missing.json"], "No prompt file"),
    ],
)
def test_bad_prompts_fail_before_loading_anything(bedroom, tmp_path, capsys, args, needle):
    rc = main(["track", str(bedroom), "--model", "test", "--out", str(tmp_path), *args])
    assert rc == 2
    assert needle in capsys.readouterr().err

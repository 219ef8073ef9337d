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


def _pngs(folder):
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
def test_killed_mid_run_the_same_command_goes_on_where_it_stopped(bedroom, tmp_path, capsys):
    """SIGKILL the command mid-run: every frame written before stays; the same command run
    again skips what was tracked and ends with the masks of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    args = ["track", str(bedroom), "--model", "test", "--point", "0:450,200", "--end", "30",
            "--direction", "forward", "--quiet"]  # fmt: skip
    out = tmp_path / "masks"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "sam2nb", *args, "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    t0 = time.monotonic()
    while len(list(out.glob("*.png"))) < 8 and proc.poll() is None:
        assert time.monotonic() - t0 < 300, "the command wrote no masks"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    before = _pngs(out)
    assert 8 <= len(before) < 30  # killed mid-run, frames on disk
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 0  # the same command again
    said = capsys.readouterr().out
    skipped = int(said.split("skipped ")[1].split()[0])
    assert len(before) - 2 <= skipped < 30
    again = _pngs(out)
    assert all(np.array_equal(again[k], v) for k, v in before.items())  # nothing written was lost
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0  # one uninterrupted run
    ref = _pngs(tmp_path / "ref")
    assert again.keys() == ref.keys() and len(ref) == 30
    assert all(np.array_equal(again[k], ref[k]) for k in ref)
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 0  # all done: nothing to track
    assert "skipped 30 frames" in capsys.readouterr().out
    assert main([*args, "--out", str(out), "--redo"]) == 0
    said = capsys.readouterr().out
    assert "skipped" not in said and "starting over" in said
    assert len(list(out.glob(".session.*"))) == 1  # the earlier session, moved aside


@pytest.mark.slow
def test_a_rerun_with_other_prompts_is_refused_and_changes_nothing(bedroom, tmp_path, capsys):
    base = ["track", str(bedroom), "--model", "test", "--end", "4", "--quiet", "--out",
            str(tmp_path / "m")]  # fmt: skip
    assert main([*base, "--point", "0:450,200"]) == 0
    before = _pngs(tmp_path / "m")
    assert main([*base, "--point", "0:300,100"]) == 2
    err = capsys.readouterr().err
    assert "other prompts" in err and "--redo" in err
    after = _pngs(tmp_path / "m")
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) for k in before)


@pytest.mark.slow
def test_a_video_broken_mid_way_keeps_the_frames_before_and_names_the_fix(
    bedroom, tmp_path, capsys
):
    from helpers import corrupt_copy, stream_cut

    clip = corrupt_copy(stream_cut(bedroom, tmp_path / "cut.mp4", 60), tmp_path / "broken.mp4")
    out = tmp_path / "masks"
    args = ["track", str(clip), "--model", "test", "--point", "0:450,200", "--direction",
            "forward", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    bad = int(err.split("Frame ")[1].split()[0])
    assert 0 < bad < 60 and f"--end {bad}" in err and "kept" in err
    kept = _pngs(out)
    assert sorted(kept) == [f"{i:05d}.png" for i in range(bad)]  # every frame before it
    assert main([*args, "--end", str(bad)]) == 0  # as the error says: nothing is tracked again
    assert f"skipped {bad} frames" in capsys.readouterr().out
    again = _pngs(out)
    assert again.keys() == kept.keys()
    assert all(np.array_equal(again[k], kept[k]) for k in kept)


@pytest.mark.parametrize(
    ("memory", "env", "loaded", "policy"),
    [
        ("bounded", None, False, "compact"),  # a batch run's first model: memory first
        ("bounded", "trim", False, "trim"),  # SAM2NB_MALLOC decides over it
        ("full", None, False, "trim"),
        ("bounded", None, True, "trim"),  # a process that already holds a model keeps its heap
    ],
)
def test_track_prefers_the_compact_heap_for_its_first_model(
    bedroom, tmp_path, monkeypatch, memory, env, loaded, policy
):
    from sam2nb.model import device as devmod
    from sam2nb.model import engine as modelmod

    class Loaded(Exception):
        pass

    seen = []

    def load(*args, **kwargs):
        seen.append(devmod.heap_policy())
        raise Loaded

    monkeypatch.setattr(modelmod, "load", load)
    monkeypatch.setattr(modelmod, "current", lambda: object() if loaded else None)
    if env:
        monkeypatch.setenv("SAM2NB_MALLOC", env)
    else:
        monkeypatch.delenv("SAM2NB_MALLOC", raising=False)
    try:
        with pytest.raises(Loaded):
            main(["track", str(bedroom), "--model", "test", "--point", "0:450,200",
                  "--out", str(tmp_path), "--memory", memory])  # fmt: skip
    finally:
        devmod.prefer_heap("trim")
    assert seen == [policy]

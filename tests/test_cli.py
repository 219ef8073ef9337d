from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from sam2nb.base.errors import Sam2nbError
from sam2nb.cli.commands import lab_command, main


def _run(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "sam2nb", *args], capture_output=True, text=True, timeout=120, **kw
    )


def test_models_lists_variants_and_cache(tmp_path):
    out = _run("models", "--cache", str(tmp_path))
    assert out.returncode == 0
    assert "sam2.1 tiny" in out.stdout and "missing" in out.stdout and str(tmp_path) in out.stdout


def test_info_command_runs():
    out = _run("info")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "torch" in out.stdout and "runs on" in out.stdout


def test_download_typo_is_a_clear_error(tmp_path):
    out = _run("download", "tiny", "huge", "--cache", str(tmp_path))
    assert out.returncode == 2 and "Unknown model variant 'huge'" in out.stderr
    assert not list(tmp_path.iterdir())  # nothing was downloaded before the typo was found


def test_download_test_model_is_built_in(capsys):
    assert main(["download", "test"]) == 0
    assert "built in" in capsys.readouterr().out


def test_lab_command_always_has_a_token():
    cmd, token = lab_command(port=8899)
    assert len(token) >= 32 and f"--IdentityProvider.token={token}" in cmd
    assert "--ServerApp.ip=127.0.0.1" in cmd
    cmd, _ = lab_command(port=8899, public=True)
    assert "--ServerApp.ip=0.0.0.0" in cmd
    with pytest.raises(Sam2nbError, match="empty token"):
        lab_command(token="")
    with pytest.raises(Sam2nbError, match="port"):
        lab_command(port=70000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_default_folder_is_the_repos_notebooks():
    from pathlib import Path

    from sam2nb.cli.commands import default_notebook_dir

    assert default_notebook_dir() == Path(__file__).resolve().parent.parent / "notebooks"


def test_lab_serves_notebooks_with_token_auth(tmp_path):
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "marker.ipynb").write_text("{}")
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "rt")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sam2nb", "lab", "--port", str(port), "--token", "s3cret"]
        + ["--dir", str(tmp_path / "nbs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        status = None
        while time.time() < deadline:
            try:
                status = _get(f"{base}/api/contents?token=s3cret")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status == 200
        assert _get(f"{base}/api/contents") == 403  # no token, no access
        with urllib.request.urlopen(f"{base}/api/contents?token=s3cret", timeout=5) as r:
            assert b"marker.ipynb" in r.read()  # it serves the folder it was given
    finally:
        os.killpg(proc.pid, 15)
        out = proc.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/lab?token=s3cret" in out


def test_everything_takes_a_frame_range_and_redo():
    from sam2nb.cli.commands import build_parser

    args = build_parser().parse_args(
        ["everything", "clip.mp4", "--out", "found", "--frames", "0:300:30", "--redo"]
    )
    assert (args.frames, args.redo, args.frame) == ("0:300:30", True, None)
    args = build_parser().parse_args(["everything", "clip.mp4", "--out", "found"])
    assert (args.frames, args.redo) == (None, False)

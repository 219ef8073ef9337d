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

    assert default_notebook_dir() == Path(__file__).resolve().parents[2] / "notebooks"


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


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_sigterm_to_sam2nb_lab_stops_jupyterlab_too(tmp_path):
    """Issue 31 (17): ``kill <pid of sam2nb lab>`` left JupyterLab running on its port."""
    import signal

    import psutil

    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "rt")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sam2nb", "lab", "--port", str(port), "--token", "s3cret"]
        + ["--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    children: list[psutil.Process] = []
    try:
        deadline = time.time() + 90
        while not _listening(port):
            assert proc.poll() is None, "sam2nb lab exited before JupyterLab listened"
            assert time.time() < deadline, "JupyterLab did not listen within 90 s"
            time.sleep(0.5)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children  # JupyterLab runs as a child of sam2nb
        os.kill(proc.pid, signal.SIGTERM)  # the sam2nb process only, as `kill PID` does
        rc = proc.wait(timeout=60)
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"left running after SIGTERM: {alive}"
        deadline = time.time() + 10
        while _listening(port) and time.time() < deadline:
            time.sleep(0.2)
        assert not _listening(port), f"port {port} still answers after SIGTERM"
        assert rc == 0, rc  # JupyterLab's own status after its clean stop
    finally:
        for p in [*children, psutil.Process(proc.pid) if proc.poll() is None else None]:
            if p is not None:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        proc.wait(timeout=30)


_STOPPABLE = """
import sys, time
from sam2nb.cli.commands import run_stoppable
child = "import signal, time; signal.signal(signal.SIGTERM, signal.{}); print('up', flush=True)"
child += "; time.sleep(60)"
grace = float(sys.argv[2])
sys.exit(run_stoppable([sys.executable, "-c", child.format(sys.argv[1])], grace_s=grace))
"""


@pytest.mark.parametrize(
    ("signame", "times", "child_on_term", "grace", "status"),
    [
        ("SIGINT", 1, "SIG_DFL", 60, 128 + 15),  # the child ends on the SIGTERM it is sent
        ("SIGHUP", 1, "SIG_DFL", 60, 128 + 15),
        ("SIGTERM", 1, "SIG_IGN", 1, 128 + 9),  # one that ignores SIGTERM: killed after grace_s
        ("SIGINT", 2, "SIG_IGN", 60, 128 + 9),  # Ctrl-C twice: killed at once
    ],
)
def test_run_stoppable_stops_its_child_with_it(signame, times, child_on_term, grace, status):
    import signal

    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-c", _STOPPABLE, child_on_term, str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout.readline().strip() == "up"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children
        for _ in range(times):
            os.kill(proc.pid, getattr(signal, signame))
            time.sleep(0.2)
        assert proc.wait(timeout=30) == status
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive
        assert f"sam2nb: {signame}, stopping JupyterLab" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)

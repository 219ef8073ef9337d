"""A JupyterLab server on 127.0.0.1 (random port, token) and Debian's Chromium for Playwright."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        msg = "no chromium: run `bash scripts/setup.sh --test` (as root it installs Debian's)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"],
    }  # fmt: skip


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 1000}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A fresh JupyterLab per test module, with its own config, runtime and workspace folders.

    One per module, not per session: JupyterLab restores the tabs (and kernels) an earlier test
    left open, whose hidden canvases would match the next test's locators.
    """
    root = tmp_path_factory.mktemp("lab")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".cfg"),
        "JUPYTER_RUNTIME_DIR": str(root / ".rt"),
        "JUPYTER_DATA_DIR": os.environ.get(
            "JUPYTER_DATA_DIR", str(Path.home() / ".local/share/jupyter")
        ),
    }
    jupyter = [sys.executable, "-m", "jupyter"]
    subprocess.run(
        [*jupyter, "labextension", "disable", "@jupyterlab/apputils-extension:announcements"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    cmd = [
        *jupyter, "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", f"--LabApp.workspaces_dir={root}/.ws",
    ]  # fmt: skip
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError((root / "server.log").read_text()[-3000:]) from None
            time.sleep(0.25)
    yield {"base": base, "token": token, "root": root}
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


REPORT: list[str] = []  # lines the browser tests measured, printed at the end of the run


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("browser measurements")
        for line in REPORT:
            terminalreporter.write_line(line)


# The notebook named by the argument is the current tab and its kernel is idle (JupyterLab
# restores tabs from its workspace, so an earlier notebook may be open too).
IDLE = """(name) => { const w = window.jupyterapp?.shell.currentWidget;
  return w?.context?.path === name && w.sessionContext?.session?.kernel?.status === 'idle'; }"""


def write_notebook(root: Path, name: str, code: str) -> str:
    """A one-cell Python notebook ``root/name`` holding ``code``; returns ``name``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nbformat.write(nb, root / name)
    return name


def wait_json(path: Path, done, timeout: float = 60.0, what: str = ""):
    """The JSON a notebook writes to ``path``, once ``done(value)`` holds (polled)."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = json.loads(path.read_text())
            if done(value):
                return value
        except (OSError, ValueError):
            pass
        if time.monotonic() > end:
            raise AssertionError(what or f"{path.name} never showed the expected state")
        time.sleep(0.05)

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMES: dict[str, float] = {}  # notebook -> seconds to run top to bottom, printed at the end


def pytest_terminal_summary(terminalreporter):  # collected by conftest.py
    if TIMES:
        terminalreporter.section("notebook run times (test model, CPU)")
        for name, secs in TIMES.items():
            terminalreporter.write_line(f"{name:<28} {secs:6.1f} s")


def _run(path: Path, out: Path, frames: int = 40) -> tuple[str, list]:
    """Run a notebook top to bottom in a new kernel; its printed text and its errors."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # write outputs under tmp_path, not into the checkout
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source += f"\nOUT = {str(out)!r}\nFRAMES = {frames}  # CI: a short clip"
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    text = "".join(
        str(out.get("data", {}).get("text/plain", "")) + str(out.get("text", ""))
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )
    return text, errors


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("SAM2NB_SAMPLES", str(data_dir))  # the official samples, from ../shared
    t0 = time.perf_counter()
    text, errors = _run(path, tmp_path / "out")
    TIMES[path.stem] = time.perf_counter() - t0
    assert not errors
    assert "untrained" in text.lower()  # the test model's results are labelled


@pytest.mark.slow
def test_a_notebook_run_again_after_a_restart_comes_back_with_the_work(
    data_dir, monkeypatch, tmp_path
):
    """The restart trap: the tracking notebook run again from the top, in a new kernel, with
    the same output folder resumes the session (and its scripted steps are not redone)."""
    monkeypatch.setenv("SAM2NB_SAMPLES", str(data_dir))
    path = ROOT / "notebooks" / "02_video_tracking.ipynb"
    first, errors = _run(path, tmp_path / "out", frames=12)
    assert not errors and "resumed" not in first
    second, errors = _run(path, tmp_path / "out", frames=12)  # a new kernel: a restart
    assert not errors
    assert "resumed: 1 object, 2 prompts, 12 frames tracked" in second
    assert not list((tmp_path / "out").glob("session.*"))  # nothing was moved aside

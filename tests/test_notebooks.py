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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("SAM2NB_SAMPLES", str(data_dir))  # the official samples, from ../shared
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # write outputs under tmp_path, not into the checkout
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source += f"\nOUT = {str(tmp_path / 'out')!r}\nFRAMES = 40  # CI: a short clip"
    t0 = time.perf_counter()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    TIMES[path.stem] = time.perf_counter() - t0
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    text = "".join(
        str(out.get("data", {}).get("text/plain", "")) + str(out.get("text", ""))
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )
    assert "untrained" in text.lower()  # the test model's results are labelled

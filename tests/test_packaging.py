from __future__ import annotations

import json
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    out = []
    for line in lines[start + 1 :]:
        m = re.match(r"^\s+- (.+)$", line)
        if not m:
            break
        out.append(m.group(1).strip())
    return out


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    deps = _pyproject()["project"]["dependencies"]
    pip = [d for d in _environment_pip() if d != "-e ."]
    assert sorted(pip) == sorted(deps)
    assert "-e ." in _environment_pip()


def test_torch_requirements_are_lower_bounds_only():
    for dep in _pyproject()["project"]["dependencies"]:
        if dep.startswith(("torch", "torchvision")):
            assert re.fullmatch(r"torch(vision)?>=[\d.]+", dep), dep


def test_design_card_layout():
    for path in ("notebooks", "sam2nb", "tests", "data/.gitkeep", "environment.yml", "README.md"):
        assert (ROOT / path).exists(), path
    assert _pyproject()["project"]["scripts"]["sam2nb"] == "sam2nb.cli:main"


def test_readme_commands_and_ci_agree():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/lab.sh" in readme and "bash scripts/test.sh" in readme
    assert "rf-sam-2" in readme and "not on PyPI" in readme
    assert "exec bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_notebooks_are_committed_without_outputs():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, nb_path

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    return Path(os.environ.get("SAM2NB_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real media in ../shared/data (never copied into the repo)."""
    d = _data_dir()
    if not (d / "bedroom.mp4").is_file():
        msg = f"no test media at {d}: put shared/ beside the checkout or set SAM2NB_TEST_DATA"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def bedroom(data_dir: Path) -> Path:
    return data_dir / "bedroom.mp4"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's real checkpoint cache from a test."""
    monkeypatch.setenv("SAM2NB_CACHE", str(tmp_path_factory.mktemp("cache")))


def pytest_terminal_summary(terminalreporter):
    from test_notebooks import pytest_terminal_summary as notebook_times

    notebook_times(terminalreporter)

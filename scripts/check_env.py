"""Exit 0 if this Python already has everything sam2nb needs (so setup can skip pip).

Usage: python scripts/check_env.py [--test]
Checks every requirement of pyproject.toml (and the [test] extra with --test) against what is
installed, and that `sam2nb` is installed from this checkout. Prints what is missing.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirements(with_test: bool) -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            return []
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    if with_test:
        reqs += project["optional-dependencies"]["test"]
    return reqs


def missing(with_test: bool) -> list[str]:
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return ["packaging"]
    reqs = requirements(with_test)
    if not reqs:
        return ["tomli"]
    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue  # not for this machine (e.g. decord off x86-64)
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(f"{text} (not installed)")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{text} (have {version})")
    spec = importlib.util.find_spec("sam2nb")
    if spec is None or spec.origin is None:
        out.append("sam2nb (not installed)")
    elif Path(spec.origin).resolve().parent.parent != ROOT:
        out.append(f"sam2nb (installed from {Path(spec.origin).parent}, not this checkout)")
    else:
        try:
            metadata.version("sam2nb")
        except metadata.PackageNotFoundError:
            out.append("sam2nb (importable but not installed: no `sam2nb` command)")
    return out


if __name__ == "__main__":
    gaps = missing("--test" in sys.argv)
    for g in gaps:
        print(f"setup: missing {g}")
    sys.exit(1 if gaps else 0)

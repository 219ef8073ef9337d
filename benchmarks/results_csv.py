"""Append benchmark rows to a CSV under benchmarks/results/ (header written once)."""

from __future__ import annotations

import csv
import time
from pathlib import Path


def append_rows(path: str | Path, rows: list[dict], **common: object) -> Path:
    """Append ``rows`` (dicts with the same keys), each with ``when`` and the ``common`` fields."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    when = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(out, "a", newline="") as fh:
        wr = csv.DictWriter(fh, ["when", *common, *rows[0]])
        if new:
            wr.writeheader()
        for r in rows:
            wr.writerow({"when": when, **common, **r})
    return out

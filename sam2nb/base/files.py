"""Files written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: bytes | str, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place.

    A crash mid-write leaves the earlier file (or none), never half of the new one. With
    ``fsync`` (the default) the bytes are on disk when the call returns.

    Args:
        path: the file to write.
        data: its bytes (``str`` is written as UTF-8).
        fsync: flush to disk before the rename (skip it for bulk outputs that can be redone).

    Returns:
        The path.

    Example:
        >>> import tempfile
        >>> p = atomic_write(Path(tempfile.mkdtemp()) / "a.txt", "hello")
        >>> p.read_text()
        'hello'
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path

"""One label-mask PNG per frame, written whole or not at all, and which frames are done.

The layout is DAVIS's (and ``sam2nb track --out``'s): ``OUT/00000.png``, ``OUT/00001.png``, ...
For one object a gray PNG, 0 outside and 255 inside; for several an indexed (palette) PNG whose
pixel values are the object ids (0 is background), coloured with sam2nb's object colours.

Each file is written under a temporary name and renamed into place, so a run that is stopped
(Ctrl-C, a crash, a full disk) never leaves half a PNG under its final name, and
:func:`done_frames` can tell which frames a rerun may skip.

Example:
    >>> m = np.zeros((4, 6), bool)
    >>> m[1:3, 2:5] = True
    >>> write_label_png(f"{folder}/00003.png", {1: m}, [1], 4, 6).name
    '00003.png'
    >>> done_frames(folder)
    {3}
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..base.colors import PALETTE
from ..base.errors import ExportError
from ..base.files import atomic_write
from .outputs import png_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk every whole PNG ends with
FRAME_PNG = re.compile(r"^(\d{5,})\.png$")  # 00000.png ... 99999.png, 100000.png ...


def label_palette() -> list[int]:
    """The flat RGB palette of multi-object label PNGs: black, then the object colours (cycling).

    Example:
        >>> pal = label_palette()
        >>> len(pal), pal[:6]
        (768, [0, 0, 0, 31, 119, 180])
    """
    return [0, 0, 0] + [c for i in range(1, 256) for c in PALETTE[(i - 1) % len(PALETTE)]]


def write_label_png(
    path: str | os.PathLike,
    masks: Mapping[int, np.ndarray],
    obj_ids: Iterable[int],
    height: int,
    width: int,
    *,
    fsync: bool = False,
) -> Path:
    """Write one frame's masks as a label PNG, atomically (a temporary file renamed into place).

    Args:
        path: the PNG to write (its folder is made if missing), e.g. ``OUT/00012.png``.
        masks: ``{obj_id: (H, W) mask}`` on this frame (bool, or any dtype: nonzero is inside);
            objects missing here are empty on this frame.
        obj_ids: all the objects of the output, which decide the kind of PNG: one object gives a
            gray 0/255 PNG (``"L"``), several an indexed PNG (``"P"``) whose values are the ids
            (where masks overlap, the larger id wins).
        height: the frame's height in pixels.
        width: the frame's width in pixels.
        fsync: flush to disk before the rename (off: a lost frame is redone by a rerun).

    Returns:
        The path.

    Raises:
        ExportError: an object id outside 1..255, or a mask of another size (named).

    Example:
        >>> a, b = np.zeros((2, 3), bool), np.zeros((2, 3), bool)
        >>> a[0, 0], b[0, :2] = True, True
        >>> from PIL import Image
        >>> im = Image.open(write_label_png(f"{folder}/00000.png", {1: a, 7: b}, [1, 7], 2, 3))
        >>> im.mode, np.asarray(im).tolist()
        ('P', [[7, 7, 0], [0, 0, 0]])
    """
    ids = sorted({int(o) for o in obj_ids})
    bad = [o for o in ids if not 1 <= o <= 255]
    if bad:
        raise ExportError(
            f"Label PNGs hold object ids 1 to 255, not {bad}: renumber the objects (or export "
            "the 'png' format, one file per object)."
        )
    h, w = int(height), int(width)
    for o in ids:
        m = masks.get(o)
        if m is not None and np.shape(m) != (h, w):
            raise ExportError(
                f"The mask of object {o} is {np.shape(m)}, not the frame's ({h}, {w}) "
                "(height, width)."
            )
    if len(ids) == 1:
        m = masks.get(ids[0])
        lab = (
            np.zeros((h, w), np.uint8) if m is None else np.asarray(m).astype(bool) * np.uint8(255)
        )
        data = png_bytes(lab)
    else:
        lab = np.zeros((h, w), np.uint8)
        for o in ids:  # later (larger) ids win where masks overlap
            m = masks.get(o)
            if m is not None:
                lab[np.asarray(m).astype(bool)] = o
        data = png_bytes(lab, label_palette())
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(p, data, fsync=fsync)


def png_size(path: str | os.PathLike) -> tuple[int, int] | None:
    r"""``(width, height)`` of a whole PNG file; None when it is missing, not a PNG, or cut short.

    Reads the signature, the header and the last 12 bytes (the end chunk), not the pixels.

    Example:
        >>> png_size(write_label_png(f"{folder}/00001.png", {}, [1], 4, 6))
        (6, 4)
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
            if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
                return None
            fh.seek(-len(PNG_END), os.SEEK_END)
            if fh.read() != PNG_END:
                return None
    except OSError:
        return None
    w, h = struct.unpack(">II", head[16:24])
    return int(w), int(h)


def done_frames(folder: str | os.PathLike, size: tuple[int, int] | None = None) -> set[int]:
    r"""The frames whose PNG in ``folder`` is whole (``%05d.png``, signature to end chunk).

    A missing folder has none. Temporary files of an interrupted write, other names and PNGs cut
    short are not counted, so a rerun writes those frames again.

    Args:
        folder: the output folder.
        size: count only PNGs of this ``(width, height)`` (a rerun at another size redoes all).

    Example:
        >>> _ = write_label_png(f"{folder}/00002.png", {}, [1], 4, 6)
        >>> _ = Path(f"{folder}/00005.png").write_bytes(b"\x89PNG half a file")
        >>> done_frames(folder), done_frames(folder, size=(8, 8))
        ({2}, set())
    """
    d = Path(folder)
    if not d.is_dir():
        return set()
    out = set()
    with os.scandir(d) as entries:
        for e in entries:
            m = FRAME_PNG.match(e.name)
            if m is None or not e.is_file():
                continue
            got = png_size(e.path)
            if got is not None and (size is None or got == tuple(size)):
                out.add(int(m.group(1)))
    return out

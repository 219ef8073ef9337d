"""Names the package's doctests can use, so its examples run as written (``--doctest-modules``).

Each doctest gets ``s2`` and ``np``; the names below are made only for the doctests that use
them: ``engine`` (the untrained 256-px test model), ``clip`` (a 640x360 synthetic video of two
discs, disc 1 centred at (120 + 6t, 180 + t) on frame t), ``photo`` (a synthetic 640x480 picture),
``folder`` (an empty temporary folder) and ``sess`` (a fresh :class:`sam2nb.Session` on the
clip's first 8 frames, object 1 clicked at (120, 180) on frame 0, nothing tracked yet).
"""

from __future__ import annotations

import doctest
import re

import pytest


@pytest.fixture(scope="session")
def _doctest_media(tmp_path_factory):
    import sam2nb as s2

    d = tmp_path_factory.mktemp("doctest-media")
    return s2.synthetic_video(d / "clip.mp4", frames=16), s2.synthetic_image(d / "photo.png")


@pytest.fixture(autouse=True)
def _doctest_names(request, doctest_namespace):
    test = getattr(request.node, "dtest", None)
    if test is None:
        return
    import numpy as np

    import sam2nb as s2

    doctest_namespace.update(s2=s2, np=np)
    source = "\n".join(e.source for e in test.examples if not e.options.get(doctest.SKIP))
    used = set(re.findall(r"\b(engine|clip|photo|folder|sess)\b", source))
    if used & {"engine", "sess"}:
        doctest_namespace["engine"] = s2.load("test", device="cpu", progress=False)
    if used & {"clip", "photo", "sess"}:
        clip, photo = request.getfixturevalue("_doctest_media")
        doctest_namespace.update(clip=str(clip), photo=str(photo))
    if "folder" in used:
        doctest_namespace["folder"] = str(request.getfixturevalue("tmp_path"))
    if "sess" in used:
        sess = s2.Session(s2.open_video(clip, end=8), doctest_namespace["engine"])
        sess.add_object()
        sess.add_points(0, 1, [(120, 180)], [1])
        doctest_namespace["sess"] = sess

"""media/writer: timed (variable frame rate) videos keep their times, whatever else is loaded."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

TIMES = [0.0, 0.04, 0.1, 0.13, 0.3, 0.33, 0.5]


def _write_and_read(path):
    import av

    from sam2nb.media.writer import VP9_ALPHA, VideoWriter

    w = VideoWriter(path, (33, 24), 25.0, VP9_ALPHA, alpha=True, times=TIMES)
    for k in range(len(TIMES)):
        w.write(np.full((24, 33, 4), 40 * k, np.uint8))
    w.close()
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        return [float(f.pts * st.time_base) for f in c.decode(st)]


def test_a_timed_vp9_file_keeps_its_times(tmp_path):
    np.testing.assert_allclose(_write_and_read(tmp_path / "a.webm"), TIMES, atol=2e-3)


def test_a_timed_vp9_file_is_written_after_decord_was_loaded(tmp_path):
    """decord's own ffmpeg libraries break PyAV's VP9 encoder in the same process: the writer
    encodes in a child process then (a fresh interpreter here, so the test order cannot hide it)."""
    pytest.importorskip("decord")
    code = (
        "import decord, sys, pathlib, numpy as np\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_writer import _write_and_read\n"
        "print(_write_and_read(pathlib.Path(sys.argv[1])))\n"
    )
    here = str(__import__("pathlib").Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "b.webm"), here],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-800:]
    got = [float(v) for v in done.stdout.strip().strip("[]").split(",")]
    np.testing.assert_allclose(got, TIMES, atol=2e-3)

"""One live session writes to a folder: other processes are refused, a newer session in the
same kernel takes it over, and a killed process never leaves the folder locked."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

import sam2nb as s2
from sam2nb.storage.lock import holder_pid

pytestmark = pytest.mark.slow

HOLD = textwrap.dedent(
    """
    import sys, time
    import sam2nb as s2
    s = s2.open_session(sys.argv[1], s2.open_video(sys.argv[2], end=4), s2.load("test"))
    s.add_object()
    s.add_points(0, 1, [(450, 200)], [1])
    print("HOLDING", flush=True)
    time.sleep(600)
    """
)


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


def test_a_newer_session_in_the_same_kernel_takes_the_folder_over(engine, bedroom, tmp_path):
    video = s2.open_video(bedroom, end=4)
    old = s2.Session(video, engine, folder=tmp_path / "run")
    old.add_object()
    old.add_points(0, 1, [(450, 200)], [1])
    new = s2.open_session(tmp_path / "run", video, engine)  # the notebook cell run again
    assert new.resumed.startswith("1 object, 1 prompt")
    with pytest.raises(s2.SessionError, match="newer session in this kernel opened"):
        old.add_points(0, 1, [(300, 100)], [0])
    new.add_points(0, 1, [(300, 100)], [0])
    assert [e.op for e in s2.saved_log(tmp_path / "run")] == ["add_object", "points", "points"]
    new.close()
    old.close()  # closing the older one does not free the folder the newer one held
    assert holder_pid(tmp_path / "run") is None


def test_another_process_is_refused_until_it_closes_or_dies(engine, bedroom, tmp_path):
    folder = tmp_path / "run"
    script = tmp_path / "hold.py"
    script.write_text(HOLD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(folder), str(bedroom)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "HOLDING"
        assert holder_pid(folder) == proc.pid
        with pytest.raises(
            s2.SessionError, match=f"in use by a live session in process {proc.pid}"
        ):
            s2.open_session(folder, engine=engine)
        with pytest.raises(s2.SessionError, match="nothing was moved"):
            s2.open_session(folder, bedroom, engine, fresh=True)
        look = s2.load_session(folder, engine=engine, in_memory=True)  # reading is allowed
        assert look.resumed.startswith("1 object, 1 prompt") and look.folder is None
        look.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert holder_pid(folder) is None  # the system released the dead process's lock
    again = s2.open_session(folder, engine=engine)
    assert again.resumed.startswith("1 object, 1 prompt")
    again.add_points(0, 1, [(300, 100)], [0])
    again.close()

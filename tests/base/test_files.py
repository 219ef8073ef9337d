"""base/files: files written whole or not at all."""

from __future__ import annotations

import os

import pytest

from sam2nb.base import files
from sam2nb.base.files import atomic_write


@pytest.mark.parametrize(
    "data, want",
    [
        (b"\x00\xffbinary\n", b"\x00\xffbinary\n"),
        ("héllo wörld\n", "héllo wörld\n".encode()),
        (b"", b""),
        ("", b""),
    ],
    ids=["bytes", "str-as-utf8", "empty-bytes", "empty-str"],
)
@pytest.mark.parametrize("fsync", [True, False])
def test_writes_bytes_and_str(tmp_path, data, want, fsync):
    path = atomic_write(tmp_path / "out.bin", data, fsync=fsync)
    assert path == tmp_path / "out.bin"
    assert path.read_bytes() == want
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no .tmp left


def test_a_str_path_is_fine_and_a_path_comes_back(tmp_path):
    path = atomic_write(str(tmp_path / "a.txt"), "x")
    assert path == tmp_path / "a.txt" and path.read_text() == "x"


def test_an_existing_file_is_replaced_whole(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old content that is longer than the new one")
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert not (tmp_path / "f.json.tmp").exists()


@pytest.mark.parametrize("fsync, calls", [(True, 1), (False, 0)])
def test_fsync_flushes_to_disk_before_the_rename(tmp_path, monkeypatch, fsync, calls):
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: order.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        files.os, "replace", lambda a, b: order.append("replace") or real_replace(a, b)
    )
    atomic_write(tmp_path / "f", b"data", fsync=fsync)
    assert order == ["fsync"] * calls + ["replace"]


def _fail(*args, **kwargs):
    raise OSError("disk full")


@pytest.mark.parametrize("where", ["replace", "fsync"])
def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch, where):
    target = tmp_path / "session.json"
    target.write_text('{"old": true}')
    monkeypatch.setattr(files.os, where, _fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, '{"new": true, "padding": "' + "x" * 10_000 + '"}')
    assert target.read_text() == '{"old": true}'


def test_a_failed_first_write_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "replace", _fail)
    with pytest.raises(OSError):
        atomic_write(tmp_path / "new.txt", "data")
    assert not (tmp_path / "new.txt").exists()


def test_a_missing_folder_is_an_error_not_a_silent_skip(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "no" / "such" / "folder.txt", "x")

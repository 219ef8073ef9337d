from __future__ import annotations

import http.server
import os
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import send_from

import sam2nb as s2
from sam2nb.model import checkpoints as ck


def test_eight_official_checkpoints_and_the_test_model():
    official = [m for m in s2.MODELS.values() if m.url]
    assert len(official) == 8
    for m in official:
        base = "092824" if m.family == "sam2.1" else "072824"
        assert m.url == f"https://dl.fbaipublicfiles.com/segment_anything_2/{base}/{m.filename}"
        assert m.config.startswith(f"configs/{m.family}/")
    sizes = {m.name: m.num_bytes for m in official}
    assert sizes == {
        "tiny": 156_008_466,
        "small": 184_416_285,
        "base_plus": 323_606_802,
        "large": 898_083_611,
        "sam2_tiny": 155_906_050,
        "sam2_small": 184_309_650,
        "sam2_base_plus": 323_493_298,
        "sam2_large": 897_952_466,
    }
    test = s2.get_spec("test")
    assert test.untrained and test.image_size == 256 and test.url is None
    assert "untrained" in test.label.lower()


def test_every_config_exists_in_the_installed_sam2():
    import sam2

    root = Path(sam2.__file__).parent
    for m in s2.MODELS.values():
        assert (root / m.config).is_file(), m.config


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tiny", "tiny"),
        ("T", "tiny"),
        ("sam2.1_hiera_tiny", "tiny"),
        ("sam2.1_hiera_base_plus.pt", "base_plus"),
        ("b+", "base_plus"),
        ("base-plus", "base_plus"),
        ("sam2_tiny", "sam2_tiny"),
        ("sam2_hiera_l", "sam2_large"),
        ("test", "test"),
    ],
)
def test_aliases(name, expected):
    assert s2.get_spec(name).name == expected


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(s2.ModelError, match="Unknown model variant 'huge'.*tiny"):
        s2.get_spec("huge")


def test_cache_dir_argument_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM2NB_CACHE", str(tmp_path / "env"))
    assert s2.cache_dir() == tmp_path / "env" / "checkpoints"
    assert s2.cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("SAM2NB_CACHE")
    assert s2.cache_dir() == Path.home() / ".cache" / "sam2nb" / "checkpoints"


def _zip_bytes(path: Path, n: int) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", os.urandom(n))
    return path.read_bytes()


class _Server:
    """A local HTTP server with Range support; it can cut a response short once."""

    def __init__(self, payload: bytes, cut_at: int | None = None, honor_range: bool = True):
        self.payload, self.cut_at, self.honor_range = payload, cut_at, honor_range
        self.requests: list[str | None] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = int(rng.split("=")[1].rstrip("-")) if rng and outer.honor_range else 0
                if send_from(self, outer.payload, start, outer.cut_at):
                    outer.cut_at = None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/sam2.1_hiera_tiny.pt"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_tiny(tmp_path, monkeypatch):
    """Point the 'tiny' spec at a local server holding a zip of a known size."""
    payload = _zip_bytes(tmp_path / "src.zip", 300_000)

    def make(**kw):
        server = _Server(payload, **kw)
        spec = replace(s2.MODELS["tiny"], url=server.url, num_bytes=len(payload))
        monkeypatch.setitem(ck.MODELS, "tiny", spec)
        return server, spec

    servers = []
    yield lambda **kw: servers.append(make(**kw)) or servers[-1] + (payload,)
    for server, _ in servers:
        server.close()


def test_download_writes_part_then_renames(fake_tiny, tmp_path):
    server, spec, payload = fake_tiny()
    path = s2.download("tiny", tmp_path / "c", progress=False)
    assert path == tmp_path / "c" / "sam2.1_hiera_tiny.pt"
    assert path.read_bytes() == payload
    assert not (tmp_path / "c" / "sam2.1_hiera_tiny.pt.part").exists()
    assert s2.download("tiny", tmp_path / "c", progress=False) == path  # cached: no request
    assert len(server.requests) == 1
    rows = {r.name: r for r in s2.list_models(tmp_path / "c")}
    assert rows["tiny"].cached and rows["small"].status == "missing"


def test_download_resumes_after_a_broken_connection(fake_tiny, tmp_path):
    server, spec, payload = fake_tiny(cut_at=100_000)
    with pytest.raises(s2.CheckpointError, match="partial file .* is kept"):
        s2.download("tiny", tmp_path, progress=False)
    part = tmp_path / "sam2.1_hiera_tiny.pt.part"
    assert part.stat().st_size == 100_000
    assert "partial" in {r.name: r for r in s2.list_models(tmp_path)}["tiny"].status
    path = s2.download("tiny", tmp_path, progress=False)
    assert server.requests == [None, "bytes=100000-"]
    assert path.read_bytes() == payload and not part.exists()


def test_server_ignoring_range_restarts_cleanly(fake_tiny, tmp_path):
    server, spec, payload = fake_tiny(honor_range=False)
    (tmp_path / "sam2.1_hiera_tiny.pt.part").write_bytes(payload[:5000])
    assert s2.download("tiny", tmp_path, progress=False).read_bytes() == payload


def test_stop_keeps_the_partial_file(fake_tiny, tmp_path):
    fake_tiny()
    stop = threading.Event()
    stop.set()
    with pytest.raises(s2.CheckpointError, match="stopped"):
        s2.download("tiny", tmp_path, progress=False, stop=stop)
    assert (tmp_path / "sam2.1_hiera_tiny.pt.part").exists()


def test_offline_message_names_url_and_exact_path(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/sam2.1_hiera_small.pt"
    monkeypatch.setitem(ck.MODELS, "small", replace(s2.MODELS["small"], url=url))
    with pytest.raises(s2.CheckpointError) as err:
        s2.download("small", tmp_path, progress=False)
    msg = str(err.value)
    assert url in msg and str(tmp_path / "sam2.1_hiera_small.pt") in msg


def test_wrong_size_on_the_server_is_refused(fake_tiny, tmp_path, monkeypatch):
    server, spec, payload = fake_tiny()
    monkeypatch.setitem(ck.MODELS, "tiny", replace(spec, num_bytes=len(payload) + 1))
    with pytest.raises(s2.CheckpointError, match="official file is"):
        s2.download("tiny", tmp_path, progress=False)
    assert not (tmp_path / "sam2.1_hiera_tiny.pt").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "is 0 bytes"),
        (b"x" * 1000, "truncated or corrupt"),
    ],
)
def test_truncated_or_corrupt_checkpoint(tmp_path, content, needle):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    path.write_bytes(content)
    with pytest.raises(s2.CheckpointError) as err:
        s2.verify_checkpoint(path, "tiny")
    assert needle in str(err.value) and "sam2nb download tiny" in str(err.value)
    assert str(path) in str(err.value)


def test_corrupt_zip_of_the_right_shape_gives_no_raw_traceback(tmp_path):
    path = tmp_path / "own.pt"
    _zip_bytes(path, 1000)  # a zip, but not a torch checkpoint
    with pytest.raises(s2.CheckpointError, match="could not be read.*truncated or corrupt"):
        s2.load_state_dict(path, "tiny", check_size=False)


def test_checkpoint_without_model_key(tmp_path):
    import torch

    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(s2.CheckpointError, match="no 'model' entry"):
        s2.load_state_dict(path, "tiny", check_size=False)


def test_format_models_lists_all(tmp_path):
    text = ck.format_models(tmp_path)
    for name in s2.MODELS:
        assert name in text
    assert str(tmp_path) in text

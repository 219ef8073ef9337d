"""model/hf_hub: trained transformers variants downloaded from a local stand-in for the Hub."""

from __future__ import annotations

import json
import socket
import time

import pytest
from helpers import FakeHub

import sam2nb as s2
from sam2nb.cli.commands import main
from sam2nb.model import checkpoints as ck
from sam2nb.model import hf_hub, hf_models

pytest.importorskip("transformers")
import torch  # noqa: E402
import transformers as T  # noqa: E402

EDGETAM = "yonigozlan/EdgeTAM-hf"


@pytest.fixture(autouse=True)
def _no_token_no_engine(monkeypatch):
    """No real token reaches a test; no engine outlives one."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hf_hub, "get_token", lambda: None)
    yield
    s2.unload()


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub at $HF_ENDPOINT; tests add files to ``hub.files``."""
    server = FakeHub({})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


def _safetensors(tmp_path, n: int = 60_000) -> bytes:
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({"w": torch.arange(n, dtype=torch.float32)}, str(path))
    return path.read_bytes()


@pytest.fixture
def fake_edgetam(hub, tmp_path):
    """A safetensors file (not a model) and a config as ``yonigozlan/EdgeTAM-hf``."""
    weights = _safetensors(tmp_path)
    hub.files.update({f"{EDGETAM}/config.json": b"{}", f"{EDGETAM}/model.safetensors": weights})
    return hub, weights


def _tiny_edgetam(folder):
    torch.manual_seed(1)
    model = T.EdgeTamVideoModel(hf_models.edgetam_config(128, tiny=True))
    model.save_pretrained(folder)
    return model


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k].to(sa[k].device)) for k in sa)


def test_registry():
    m = hf_hub.HF_MODELS
    assert [n for n, s in m.items() if not s.untrained] == [
        "tiny@hf", "small@hf", "base_plus@hf", "large@hf", "edgetam", "sam3", "sam3.1",
    ]  # fmt: skip
    assert m["base_plus@hf"].repo == "facebook/sam2.1-hiera-base-plus"
    assert (m["edgetam"].repo, m["edgetam"].cls, m["edgetam"].params_m) == (
        EDGETAM,
        "EdgeTamVideoModel",
        13.9,
    )
    assert m["sam3"].gated and m["sam3.1"].gated and not m["edgetam"].gated
    assert {s.image_size for s in m.values() if s.kind == "sam3" and s.repo} == {1008}
    assert {s.files for s in m.values() if s.repo} == {("config.json", "model.safetensors")}
    assert hf_hub.get_hf_spec("Base-Plus@HF").name == "base_plus@hf"
    with pytest.raises(s2.ModelError, match="Unknown transformers variant 'sam9'.*edgetam"):
        hf_hub.get_hf_spec("sam9")


def test_get_spec_names_the_transformers_variants():
    with pytest.raises(s2.ModelError, match="Unknown model variant 'huge'.*tiny.*edgetam.*sam3"):
        s2.get_spec("huge")
    with pytest.raises(s2.ModelError, match="runs through transformers.*load\\('edgetam'\\)"):
        s2.get_spec("edgetam")


@pytest.mark.parametrize("size", ["tiny", "small", "base_plus", "large"])
def test_full_size_sam2_configs_have_sam2s_parameter_counts(size):
    with torch.device("meta"):
        model = T.Sam2VideoModel(hf_models.full_config(hf_hub.HF_MODELS[f"{size}@hf"]))
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert n == pytest.approx(s2.get_spec(size).params_m, abs=0.1)


def test_download_shows_progress_and_resumes(fake_edgetam, tmp_path, capsys):
    hub, weights = fake_edgetam
    hub.cut_at = 100_000
    with pytest.raises(s2.CheckpointError, match="partial file .* is kept"):
        hf_hub.download_hf("edgetam", tmp_path, progress=True)
    folder = tmp_path / "hf" / "yonigozlan--EdgeTAM-hf"
    assert (folder / "model.safetensors.part").stat().st_size == 100_000
    assert "model.safetensors" in capsys.readouterr().err  # the progress bar
    assert {r.name: r for r in s2.list_models(tmp_path)}["edgetam"].status.startswith("partial")
    assert hf_hub.download_hf("edgetam", tmp_path, progress=False) == folder
    gets = [h.get("Range") for m, p, h in hub.requests if m == "GET" and p.startswith("/cdn")]
    assert gets == [None, "bytes=100000-"]
    assert (folder / "model.safetensors").read_bytes() == weights
    meta = json.loads((folder / "model.safetensors.json").read_text())
    assert meta["size"] == len(weights) and len(meta["sha256"]) == 64 and meta["verified"]
    assert {r.name: r for r in s2.list_models(tmp_path)}["edgetam"].status == "cached"
    n = len(hub.requests)
    hf_hub.download_hf("edgetam", tmp_path, progress=False)  # cached and checked: no request
    assert len(hub.requests) == n


def test_small_files_redirected_within_the_hub_are_followed(fake_edgetam, tmp_path):
    hub, _ = fake_edgetam
    hub.redirect_small = True
    folder = hf_hub.download_hf("edgetam", tmp_path, progress=False)
    assert (folder / "config.json").read_bytes() == b"{}"
    assert json.loads((folder / "config.json.json").read_text())["size"] == 2


def test_a_wrong_hash_is_refused_and_never_loaded(fake_edgetam, tmp_path):
    hub, weights = fake_edgetam
    key = f"{EDGETAM}/model.safetensors"
    hub.serve[key] = weights[:-4] + b"\0\0\0\1"  # same size, other bytes
    with pytest.raises(s2.CheckpointError, match="sha256.*deleted|deleted.*sha256") as err:
        s2.load("edgetam", device="cpu", cache=tmp_path, progress=False)
    assert "sam2nb download edgetam" in str(err.value)
    assert not (tmp_path / "hf" / "yonigozlan--EdgeTAM-hf" / "model.safetensors").exists()
    assert s2.model.engine.current() is None


def test_a_file_changed_in_the_cache_is_not_loaded(fake_edgetam, tmp_path, monkeypatch):
    hub, weights = fake_edgetam
    folder = hf_hub.download_hf("edgetam", tmp_path, progress=False)
    path = folder / "model.safetensors"
    calls = []
    monkeypatch.setattr(hf_hub, "sha256_file", lambda p, stop=None: calls.append(p) or "x")
    hf_hub.verify_folder("edgetam", folder)  # stamped: the hash is not computed again
    assert calls == []
    time.sleep(0.01)
    path.write_bytes(weights[:-1] + b"\7")  # same size, new mtime: hashed again, refused
    with pytest.raises(s2.CheckpointError, match=f"{path}.*sam2nb download edgetam"):
        s2.load("edgetam", device="cpu", cache=tmp_path, download=False)
    path.write_bytes(weights[:1000])
    with pytest.raises(s2.CheckpointError, match="1,000 bytes.*truncated or corrupt"):
        hf_hub.verify_folder("edgetam", folder)


def test_a_wrong_size_is_refused(fake_edgetam, tmp_path):
    hub, _ = fake_edgetam
    hub.size_delta = 1
    with pytest.raises(s2.CheckpointError, match="offers .* bytes"):
        hf_hub.download_hf("edgetam", tmp_path, progress=False)
    assert not (tmp_path / "hf" / "yonigozlan--EdgeTAM-hf" / "model.safetensors").exists()


@pytest.mark.parametrize("token", [None, "wrong"])
def test_gated_without_a_valid_token_says_what_to_do(hub, tmp_path, monkeypatch, token):
    hub.token = "secret"
    hub.files.update({"facebook/sam3/config.json": b"{}"})
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
        monkeypatch.setattr(hf_hub, "get_token", lambda: token)
    with pytest.raises(s2.CheckpointError) as err:
        s2.load("sam3", device="cpu", cache=tmp_path, progress=False)
    msg = str(err.value)
    needles = ("HTTP 401", "https://huggingface.co/facebook/sam3", "accept the licence",
               "huggingface.co/settings/tokens", "export HF_TOKEN", "hf auth login")  # fmt: skip
    for needle in needles:
        assert needle in msg
    assert ("refused" in msg) == bool(token)
    exc = err.value  # no urllib traceback chained to it
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_unreachable_endpoint_gives_the_offline_message_fast(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    t0 = time.monotonic()
    with pytest.raises(s2.CheckpointError) as err:
        hf_hub.download_hf("edgetam", tmp_path, progress=False, timeout=3)
    assert time.monotonic() - t0 < 5
    msg = str(err.value)
    assert f"http://127.0.0.1:{port}/{EDGETAM}/resolve/main/model.safetensors" in msg
    assert str(tmp_path / "hf" / "yonigozlan--EdgeTAM-hf") in msg and "offline" in msg


def test_edgetam_round_trip_through_the_hub(hub, tmp_path):
    model = _tiny_edgetam(tmp_path / "saved")
    hub.add_folder(EDGETAM, tmp_path / "saved")
    engine = s2.load("edgetam", device="cpu", cache=tmp_path / "c", progress=False)
    assert not engine.untrained and engine.label == "EdgeTAM (transformers)"
    assert engine.image_size == 128  # the checkpoint's own size
    assert _same_weights(model, engine.model)
    assert s2.load("edgetam", device="cpu", cache=tmp_path / "c") is engine  # cached by key
    assert not any(h.get("Authorization") for _, _, h in hub.requests)  # no token, none sent


def _whole_sam3(folder):
    """A tiny tracker saved in the layout of facebook/sam3 (the whole SAM 3's checkpoint)."""
    from safetensors.torch import load_file, save_file

    torch.manual_seed(2)
    tracker = T.Sam3TrackerVideoModel(hf_models.sam3_config(tiny=True))
    tracker.save_pretrained(folder / "t")
    out = {}
    for k, v in load_file(folder / "t" / "model.safetensors").items():
        k = k.removeprefix("tracker_model.")
        whole = k.startswith(("detector_model.vision_encoder.backbone.", "tracker_neck."))
        out[k if whole else f"tracker_model.{k}"] = v
    out["detector_model.text_encoder.weight"] = torch.zeros(3)  # the detector: not the tracker's
    (folder / "w").mkdir()
    save_file(out, str(folder / "w" / "model.safetensors"), metadata={"format": "pt"})
    T.Sam3VideoConfig(tracker_config=tracker.config.to_dict()).save_pretrained(folder / "w")
    return tracker


def test_sam3_tracker_loads_from_the_whole_sam3_checkpoint_with_a_token(hub, tmp_path, monkeypatch):
    tracker = _whole_sam3(tmp_path)
    hub.add_folder("facebook/sam3", tmp_path / "w")
    hub.token = "secret"
    monkeypatch.setattr(hf_hub, "get_token", lambda: "secret")
    engine = s2.load("sam3", device="cpu", cache=tmp_path / "c", progress=False)
    assert _same_weights(tracker, engine.model) and engine.image_size == 112
    resolve = [h for m, p, h in hub.requests if "/resolve/" in p]
    assert resolve and all(h.get("Authorization") == "Bearer secret" for h in resolve)
    assert engine.label == "SAM 3 tracker (transformers)"


def test_random_weights_download_nothing(hub, tmp_path):
    engine = s2.load("edgetam", device="cpu", random_weights=True, cache=tmp_path)
    assert engine.untrained and engine.image_size == 1024 and not hub.requests
    assert "random weights" in engine.label.lower() and "timing only" in engine.label
    assert s2.load("edgetam", device="cpu", random_weights=True, cache=tmp_path) is engine
    with pytest.raises(s2.ModelError, match="sam3.1"):
        hf_models.full_config(hf_hub.HF_MODELS["sam3.1"])


def test_sam31_needs_a_newer_transformers(tmp_path):
    if hasattr(T, "Sam31TrackerVideoModel"):
        pytest.skip("this transformers has Sam31TrackerVideoModel")
    with pytest.raises(s2.ModelError, match=f"transformers {T.__version__}.*pip install -U"):
        s2.load("sam3.1", device="cpu", cache=tmp_path)
    assert not (tmp_path / "hf").exists()  # nothing downloaded first
    rows = {r.name: r for r in s2.list_models(tmp_path)}
    assert rows["sam3.1"].status == "needs newer transformers"


def test_models_command_lists_the_transformers_rows(tmp_path, capsys):
    assert main(["models", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name in hf_hub.HF_MODELS:
        assert name in rows, name
    assert "hf:facebook/sam3 (gated)" in rows["sam3"] and "SAM License" in rows["sam3"]
    assert "hf:yonigozlan/EdgeTAM-hf" in rows["edgetam"] and "missing" in rows["edgetam"]
    assert "dl.fbaipublicfiles.com" in rows["tiny"] and "Apache-2.0" in rows["tiny"]
    assert "built in" in rows["edgetam-test"]


def test_download_command_fetches_edgetam(fake_edgetam, tmp_path, capsys):
    assert main(["download", "edgetam", "sam3-test", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"edgetam: {tmp_path / 'hf' / 'yonigozlan--EdgeTAM-hf'}" in out
    assert "sam3-test: built in" in out
    assert {r.name: r for r in ck.list_models(tmp_path)}["edgetam"].cached

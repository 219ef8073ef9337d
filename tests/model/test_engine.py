from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

import sam2nb as s2
from sam2nb.model import device as devmod
from sam2nb.model import engine as modmod


@pytest.mark.parametrize(
    ("cuda", "mps", "requested", "expected"),
    [
        (True, True, None, "cuda"),
        (False, True, None, "mps"),
        (False, False, None, "cpu"),
        (True, False, "cpu", "cpu"),
    ],
)
def test_pick_device(cuda, mps, requested, expected):
    assert devmod.pick_device(cuda, mps, requested) == expected


@pytest.mark.parametrize(
    ("device", "cap", "bf16", "expected"),
    [
        ("cuda", (9, 0), True, "bfloat16"),  # H100
        ("cuda", (8, 0), True, "bfloat16"),  # A100
        ("cuda", (7, 5), False, "float16"),  # T4
        ("cuda", (7, 0), False, "float16"),  # V100
        ("mps", None, False, "float32"),
        ("cpu", None, False, "float32"),
    ],
)
def test_pick_dtype(device, cap, bf16, expected):
    assert devmod.pick_dtype(device, cap, bf16) == expected


def test_requested_dtype_is_checked():
    assert devmod.pick_dtype("cuda", (9, 0), True, "fp16") == "float16"
    with pytest.raises(ValueError, match="bf16"):
        devmod.pick_dtype("cuda", (7, 5), False, "bf16")
    with pytest.raises(ValueError, match="CPU"):
        devmod.pick_dtype("cpu", None, False, "fp16")
    with pytest.raises(ValueError, match="Unknown dtype"):
        devmod.normalize_dtype("int8")


@pytest.mark.parametrize(("cap", "on"), [((9, 0), True), ((8, 6), True), ((7, 5), False)])
def test_tf32_on_ampere_and_newer(cap, on):
    assert devmod.use_tf32("cuda", cap) is on
    assert devmod.use_tf32("cpu", None) is False


def test_backbone_sizes_follow_image_size():
    assert modmod.backbone_feature_sizes(256) == [(64, 64), (32, 32), (16, 16)]
    assert modmod.size_overrides(1024) == []
    with pytest.raises(ValueError):
        modmod.size_overrides(300)


def _digest(model) -> float:
    return float(sum(p.double().sum() for p in model.state_dict().values()))


@pytest.fixture
def engine():
    eng = s2.load("test", device="cpu")
    yield eng
    s2.unload()


def test_load_is_cached_and_labelled(engine):
    assert s2.load("test", device="cpu") is engine
    assert s2.current() is engine
    assert engine.untrained and "untrained" in engine.label.lower()
    assert engine.image_size == 256 and engine.dtype == "float32"
    assert engine.image_predictor.model is engine.video_predictor  # one set of weights
    assert engine.image_predictor is engine.image_predictor
    assert "untrained" in repr(engine).lower()


def test_test_model_weights_are_identical_on_every_build():
    spec = s2.get_spec("test")
    a, b = modmod.build_model(spec), modmod.build_model(spec)
    c = modmod.build_model(spec, seed=1)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    rng_before = torch.random.get_rng_state()
    modmod.build_model(spec)
    assert torch.equal(rng_before, torch.random.get_rng_state())  # user's RNG untouched


def test_loading_another_variant_frees_the_previous(engine, tmp_path):
    ref = weakref.ref(engine.video_predictor)
    other = s2.load("tiny", device="cpu", random_weights=True)
    gc.collect()
    assert ref() is None
    assert other.untrained and "RANDOM WEIGHTS" in other.label
    assert other.image_size == 1024
    with pytest.raises(s2.ModelError, match="unloaded"):
        _ = engine.video_predictor


def test_missing_checkpoint_never_falls_back_to_the_test_model(tmp_path):
    with pytest.raises(s2.CheckpointError) as err:
        s2.load("small", device="cpu", cache=tmp_path, download=False)
    assert str(tmp_path / "sam2.1_hiera_small.pt") in str(err.value)
    assert s2.current() is None or s2.current().name != "test"


def test_a_failed_load_keeps_the_current_engine(engine, tmp_path):
    with pytest.raises(s2.CheckpointError):
        s2.load("small", device="cpu", cache=tmp_path, download=False)
    wrong = tmp_path / "tiny.pt"
    torch.save({"model": engine.model.state_dict()}, wrong)
    with pytest.raises(s2.CheckpointError, match="does not fit"):
        s2.load("large", device="cpu", checkpoint=wrong)
    assert s2.current() is engine and engine.video_predictor is not None


def test_loads_a_real_checkpoint_file_with_weights_only(tmp_path):
    src = modmod.build_model(s2.get_spec("test"), seed=3)
    path = tmp_path / "my_finetune.pt"
    torch.save({"model": src.state_dict()}, path)
    eng = s2.load("tiny", device="cpu", checkpoint=path)
    try:
        assert not eng.untrained and eng.label == "SAM 2.1 tiny" and eng.checkpoint == path
        assert _digest(eng.model) == _digest(src)
    finally:
        s2.unload()


def test_checkpoint_of_another_variant_is_named(tmp_path):
    src = modmod.build_model(s2.get_spec("test"))
    path = tmp_path / "tiny.pt"
    torch.save({"model": src.state_dict()}, path)
    with pytest.raises(s2.CheckpointError, match="does not fit SAM 2.1 large"):
        s2.load("large", device="cpu", checkpoint=path)


def test_corrupt_cached_checkpoint_says_redownload(tmp_path):
    (tmp_path / "sam2.1_hiera_tiny.pt").write_bytes(b"\0" * 1234)
    with pytest.raises(s2.CheckpointError, match="sam2nb download tiny"):
        s2.load("tiny", device="cpu", cache=tmp_path)


def test_compile_option_builds_sams_vos_model():
    from sam2.sam2_video_predictor import SAM2VideoPredictorVOS

    m = modmod.build_model(s2.get_spec("test"), compile=True)
    assert isinstance(m, SAM2VideoPredictorVOS)


@pytest.mark.slow
def test_image_prediction_matches_the_official_predictor(engine, data_dir):
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    image = s2.read_image(data_dir / "truck.jpg")
    points, labels = np.array([[500.0, 375.0], [1100.0, 600.0]]), np.array([1, 0])
    pred = engine.image_predictor
    with engine.autocast():
        pred.set_image(image)
        masks, scores, _ = pred.predict(point_coords=points, point_labels=labels)
        box_mask, _, _ = pred.predict(box=np.array([100, 200, 900, 800]), multimask_output=False)
    assert masks.shape == (3, 1200, 1800) and scores.shape == (3,)
    assert box_mask.shape == (1, 1200, 1800)

    # the official image builder, the same weights: same masks
    official = build_sam2(
        engine.spec.config,
        device="cpu",
        hydra_overrides_extra=modmod.size_overrides(256),
    )
    official.load_state_dict(engine.model.state_dict(), strict=False)
    ref = SAM2ImagePredictor(official)
    ref._bb_feat_sizes = modmod.backbone_feature_sizes(256)
    ref.set_image(image)
    ref_masks, ref_scores, _ = ref.predict(point_coords=points, point_labels=labels)
    assert np.array_equal(masks, ref_masks)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5)
    assert 0 < masks[0].mean() < 1  # a real mask, neither empty nor full


@pytest.mark.slow
def test_short_video_propagation_through_sam2(engine, bedroom):
    predictor = engine.video_predictor
    with engine.autocast():
        state = predictor.init_state(str(bedroom))
        _, obj_ids, logits = predictor.add_new_points_or_box(
            state,
            frame_idx=0,
            obj_id=1,
            points=np.array([[210, 350]], np.float32),
            labels=np.array([1], np.int32),
        )
        frames = []
        for frame_idx, ids, mask_logits in predictor.propagate_in_video(
            state, max_frame_num_to_track=5
        ):
            frames.append(frame_idx)
            assert list(ids) == [1] and mask_logits.shape == (1, 1, 540, 960)
            assert torch.isfinite(mask_logits).all()
    assert obj_ids == [1] and frames == [0, 1, 2, 3, 4, 5]


def _plain(model):
    """The model's wrapped modules back to sam2's own forward (returns the wrappers)."""
    wrapped = []
    for mod in model.modules():
        if "forward" in vars(mod):
            wrapped.append((mod, vars(mod).pop("forward")))
    return wrapped


@pytest.mark.parametrize("limit", [1 << 16, 1 << 20])
def test_lean_activations_change_no_result(limit):
    from sam2nb.model import lean

    model = modmod.build_model(modmod.checkpoints.get_spec("test"))
    assert not _plain(model)  # slicing is load()'s choice, on a CPU
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, model.image_size, model.image_size, generator=g)
    with torch.inference_mode():
        want = model.forward_image(x)
        n = lean.chunk_activations(model, limit=limit)  # small enough to slice at 256 px
        assert n > 20
        got = model.forward_image(x)
        got_again = model.forward_image(x)  # position encodings now come from the cache
    for key in ("backbone_fpn", "vision_pos_enc"):
        for a, b, c in zip(want[key], got[key], got_again[key], strict=True):
            # a sliced 1x1 convolution may differ in the last bit (oneDNN's choice of kernel)
            assert torch.allclose(a, b, rtol=0, atol=1e-5) and torch.equal(b, c)
    pos = got_again["vision_pos_enc"][0]
    cache = model.image_encoder.neck.position_encoding.cache[tuple(pos.shape[-2:])]
    assert pos.data_ptr() == cache.data_ptr()  # a view of sam2's cache, not a copy


def test_load_wraps_the_model_on_a_cpu(engine):
    assert len(_plain(engine.video_predictor)) > 20  # (the test model's maps stay unsliced)
    s2.unload()  # unwrapped now: not for reuse


def test_lean_slices_really_slice():
    from sam2nb.model import lean

    seen = []
    x = torch.arange(64 * 32.0).reshape(1, 64, 8, 4)

    def f(t):
        seen.append(t.shape[1])
        return t + 1

    with torch.inference_mode():
        out = lean._run_in_slices(f, x, 1, 4.0, 1 << 12)
        assert sum(seen) == 64 and len(seen) == 8 and torch.equal(out, x + 1)
        seen.clear()
        assert torch.equal(lean._run_in_slices(f, x, 1, 4.0, 1 << 30), x + 1)
        assert seen == [64]  # small: one call
    seen.clear()
    lean._run_in_slices(f, x, 1, 4.0, 1 << 12)
    assert seen == [64]  # with autograd on (training), sam2's own path


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_spare_a_core_leaves_one_to_the_browser_and_puts_it_back(device):
    before = torch.get_num_threads()
    with devmod.spare_a_core(device) as n:
        inside = torch.get_num_threads()
    assert torch.get_num_threads() == before
    want = max(1, before - 1) if device == "cpu" else before  # a GPU's clicks: nothing changes
    assert n == inside == want


def test_compile_is_refused_for_a_transformers_tracker_never_ignored():
    pytest.importorskip("transformers")
    with pytest.raises(s2.ModelError, match="compile=True is sam2's.*edgetam-test"):
        s2.load("edgetam-test", compile=True)

"""model/adapter: the reads and edits of sam2's inference state, on a real state.

The states come from sessions of the untrained 256-px test model (the real sam2 code with
random weights) on a few frames of a real clip; only pure helpers use stand-ins.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import short_clip

import sam2nb as s2
from sam2nb.model import adapter as A

CLICK = [(450, 200)]  # on the child in bedroom.mp4 (960x540)
FRAMES = 8  # the clip every session here uses


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


@pytest.fixture(scope="module")
def clip(bedroom):
    return s2.open_video(bedroom, end=FRAMES)


@pytest.fixture
def sess(engine, clip):
    s = s2.Session(clip, engine, memory="full")
    s.add_object()
    yield s
    s.close()


@pytest.fixture(scope="module")
def tracked(engine, clip):
    """Object 1 clicked on frame 0, object 2 on frame 5, both tracked over frames 0-7."""
    s = s2.Session(clip, engine, memory="full")
    s.add_object()
    s.add_object()
    s.add_points(0, 1, CLICK, [1])
    s.add_points(5, 2, [(150, 420)], [1])
    assert s.run(start=0, progress=False) == FRAMES
    yield s
    s.close()


@pytest.fixture
def keep_outputs(tracked):
    """Put the tracked state's per-frame outputs and tracked flags back after a test."""
    st = tracked.tracker.state
    outs = {i: {k: dict(d[k]) for k in A.KEYS} for i, d in st["output_dict_per_obj"].items()}
    flags = {i: dict(d) for i, d in st["frames_tracked_per_obj"].items()}
    yield st
    for i, d in outs.items():
        for k in A.KEYS:
            st["output_dict_per_obj"][i][k].clear()
            st["output_dict_per_obj"][i][k].update(d[k])
    for i, d in flags.items():
        st["frames_tracked_per_obj"][i].clear()
        st["frames_tracked_per_obj"][i].update(d)


def _non_cond(st, idx):
    return set(st["output_dict_per_obj"][idx]["non_cond_frame_outputs"])


def _rect_mask(h=540, w=960):
    m = np.zeros((h, w), bool)
    m[150:300, 350:550] = True
    return m


# -- objects and frames --------------------------------------------------------------------
@pytest.mark.slow
def test_obj_idx_follows_sam2s_objects(sess):
    st = sess.tracker.state
    sess.add_object()
    assert A.obj_idx(st, 1) is None and A.obj_idx(st, 2) is None  # no prompt yet
    sess.add_points(0, 2, CLICK, [1])
    assert (A.obj_idx(st, 2), A.obj_idx(st, 1)) == (0, None)
    sess.add_points(0, 1, [(100, 100)], [1])
    assert (A.obj_idx(st, 2), A.obj_idx(st, 1)) == (0, 1)
    sess.remove_object(2)
    assert (A.obj_idx(st, 2), A.obj_idx(st, 1)) == (None, 0)  # sam2 renumbers


@pytest.mark.slow
def test_prompt_frames_are_clicks_and_masks(sess):
    st = sess.tracker.state
    assert A.prompt_frames(st, None) == set()
    sess.add_points(0, 1, CLICK, [1])
    idx = A.obj_idx(st, 1)
    sess.add_box(3, 1, [300, 100, 600, 400])
    sess.add_mask(5, 1, _rect_mask())
    assert A.prompt_frames(st, idx) == {0, 3, 5}
    sess.clear_frame(3, 1)
    assert A.prompt_frames(st, idx) == {0, 5}


@pytest.mark.slow
def test_cond_frames_output_and_has_state(sess):
    st = sess.tracker.state
    assert A.cond_frames(st, None) == [] and A.output(st, None, 0) is None
    sess.add_points(2, 1, CLICK, [1])
    idx = A.obj_idx(st, 1)
    assert A.cond_frames(st, idx) == [2]  # pending (not tracked yet) counts
    assert A.output(st, idx, 2)["pred_masks"].shape[-2:] == (64, 64)  # 256 px model / 4
    assert A.has_state(st, idx, 2) and not A.has_state(st, idx, 3)
    sess.run(max_frames=2, progress=False)
    assert A.cond_frames(st, idx) == [2]
    assert [A.has_state(st, idx, f) for f in range(6)] == [False, False, True, True, True, False]


@pytest.mark.slow
def test_video_size(tracked, clip):
    assert A.video_size(tracked.tracker.state) == clip.size == (960, 540)


@pytest.mark.slow
def test_state_frames_counts_every_objects_tracked_frames(tracked, sess):
    assert A.state_frames({}) == 0
    assert A.state_frames(sess.tracker.state) == 0
    sess.add_points(0, 1, CLICK, [1])
    assert A.state_frames(sess.tracker.state) == 0  # a prompt alone is pending, not tracked
    assert A.state_frames(tracked.tracker.state) == 2 * FRAMES == tracked.state_frames()


@pytest.mark.slow
def test_record_step_reports_conditioning_and_scores(tracked, keep_outputs):
    st = keep_outputs
    flags = st["frames_tracked_per_obj"]
    i1, i2 = A.obj_idx(st, 1), A.obj_idx(st, 2)
    assert (i1, i2) == (0, 1)
    for f in (0, 3, 5):
        steps = A.record_step(st, f, 2, reverse=True)
        assert [cond for cond, _ in steps] == [f == 0, f == 5]  # each object's own prompts
        for (_, score), o in zip(steps, (1, 2), strict=True):
            assert score == pytest.approx(tracked.results.get(f, o).score)  # what was stored
        assert flags[i1][f] == flags[i2][f] == {"reverse": True}
    A.record_step(st, 3, 2, reverse=False)
    assert flags[i1][3] == {"reverse": False}
    with pytest.raises(KeyError):
        A.record_step(st, FRAMES + 3, 2, reverse=False)  # never tracked


# -- undoing a prompt ----------------------------------------------------------------------
@pytest.mark.slow
def test_restore_removes_a_first_prompt_on_a_frame(sess):
    st = sess.tracker.state
    sess.add_points(0, 1, CLICK, [1])
    idx = A.obj_idx(st, 1)
    snap = A.snapshot(st, idx, 4)
    assert set(snap.values()) == {None}
    sess.add_points(4, 1, [(300, 300)], [1])
    assert 4 in A.prompt_frames(st, idx) and A.has_state(st, idx, 4)
    A.restore(st, idx, 4, snap)
    assert A.prompt_frames(st, idx) == {0} and not A.has_state(st, idx, 4)


@pytest.mark.slow
def test_restore_puts_back_a_frames_earlier_prompts(sess):
    st = sess.tracker.state
    sess.add_points(0, 1, CLICK, [1])
    idx = A.obj_idx(st, 1)
    snap = A.snapshot(st, idx, 0)
    assert snap["points"] is not None and snap["cond"] is not None and snap["mask"] is None
    before = snap["points"]["point_coords"].clone()
    sess.add_points(0, 1, [(100, 100)], [0])  # a second click changes the frame's state
    points = st["point_inputs_per_obj"][idx][0]
    assert points["point_coords"].shape[1] == 2
    A.restore(st, idx, 0, snap)
    assert st["point_inputs_per_obj"][idx][0] is snap["points"]
    assert torch.equal(st["point_inputs_per_obj"][idx][0]["point_coords"], before)
    assert A.output(st, idx, 0) is snap["cond"]


# -- bounded memory ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "t, keep, pins, kept, dropped",
    [
        # object 1 is conditioned on frame 0, object 2 on frame 5; non-conditioning states
        # within `keep` frames of t, of the object's own prompt or of a pin stay
        (7, 1, set(), {1: {1, 6, 7}, 2: {4, 6, 7}}, 8),
        (7, 1, {2}, {1: {1, 2, 3, 6, 7}, 2: {1, 2, 3, 4, 6, 7}}, 3),
        (0, 1, set(), {1: {1}, 2: {0, 1, 4, 6}}, 9),
        (7, 7, set(), {1: set(range(1, 8)), 2: {0, 1, 2, 3, 4, 6, 7}}, 0),
    ],
)
def test_prune_keeps_states_near_prompts_pins_and_the_current_frame(
    keep_outputs, t, keep, pins, kept, dropped
):
    st = keep_outputs
    conds = {o: A.cond_frames(st, A.obj_idx(st, o)) for o in (1, 2)}
    assert conds == {1: [0], 2: [5]}
    assert A.prune(st, t, keep, pins) == dropped
    assert {o: _non_cond(st, A.obj_idx(st, o)) for o in (1, 2)} == kept
    assert {o: A.cond_frames(st, A.obj_idx(st, o)) for o in (1, 2)} == conds  # never pruned
    assert A.state_frames(st) == 2 * FRAMES - dropped


@pytest.mark.parametrize(
    "stride, num_maskmem, max_ptrs, want",
    [
        (1, 7, 16, 15),  # SAM 2.1: object pointers reach furthest
        (1, 7, 1, 6),  # memories only: the six frames before
        (2, 7, 1, 11),  # every other frame: 2 * 4 + 2 + 1
        (3, 7, 4, 16),
        (1, 3, 2, 2),
    ],
)
def test_window(stride, num_maskmem, max_ptrs, want):
    predictor = SimpleNamespace(
        memory_temporal_stride_for_eval=stride,
        num_maskmem=num_maskmem,
        max_obj_ptrs_in_encoder=max_ptrs,
    )
    assert A.window(predictor) == want


# -- saving and loading the conditioning state ---------------------------------------------
def _reload(saved: dict) -> dict:
    buf = io.BytesIO()
    torch.save(saved, buf)
    buf.seek(0)
    return torch.load(buf, map_location="cpu", weights_only=True)  # as persist reads it


def _same_prompts(a: dict, b: dict) -> None:
    assert list(a["obj_ids"]) == list(b["obj_ids"])
    for o in a["obj_ids"]:
        ia, ib = A.obj_idx(a, o), A.obj_idx(b, o)
        assert A.prompt_frames(a, ia) == A.prompt_frames(b, ib)
        assert A.cond_frames(a, ia) == A.cond_frames(b, ib)
        pa, pb = a["point_inputs_per_obj"][ia], b["point_inputs_per_obj"][ib]
        for f in pa:
            for k in ("point_coords", "point_labels"):
                assert torch.equal(pa[f][k], pb[f][k])
        assert a["frames_tracked_per_obj"][ia] == b["frames_tracked_per_obj"][ib]


@pytest.mark.slow
def test_dump_then_load_gives_the_same_prompts_and_tracking(tracked, engine, clip):
    saved = _reload(A.dump_state(tracked.tracker.state))
    assert [o["obj_id"] for o in saved["objects"]] == [1, 2]
    assert [sorted(o["cond"]) for o in saved["objects"]] == [[0], [5]]  # no per-frame memory
    fresh = s2.Session(clip, engine, memory="full")
    try:
        fresh.add_object()
        fresh.add_object()
        A.load_state(fresh.tracker.predictor, fresh.tracker.state, saved)
        _same_prompts(tracked.tracker.state, fresh.tracker.state)
        assert A.state_frames(fresh.tracker.state) == 2  # the two conditioning frames
        for x, y in zip(
            fresh.tracker.state["constants"]["maskmem_pos_enc"],
            tracked.tracker.state["constants"]["maskmem_pos_enc"],
            strict=True,
        ):
            assert torch.equal(x, y)
        assert fresh.run(start=0, max_frames=3, progress=False) == 4
        for f in range(4):
            for o in (1, 2):
                assert fresh.results.get(f, o).rle == tracked.results.get(f, o).rle, (f, o)
    finally:
        fresh.close()


@pytest.mark.slow
def test_dump_then_load_of_pending_prompts(sess, engine, clip):
    sess.add_points(0, 1, CLICK, [1])
    sess.add_points(0, 1, [(100, 100)], [0])
    sess.add_mask(3, 1, _rect_mask())
    saved = _reload(A.dump_state(sess.tracker.state))
    fresh = s2.Session(clip, engine, memory="full")
    try:
        A.load_state(fresh.tracker.predictor, fresh.tracker.state, saved)
        _same_prompts(sess.tracker.state, fresh.tracker.state)
        idx = A.obj_idx(fresh.tracker.state, 1)
        assert A.prompt_frames(fresh.tracker.state, idx) == {0, 3}
        assert fresh.tracker.state["point_inputs_per_obj"][idx][0]["point_coords"].shape[1] == 2
        assert torch.equal(
            fresh.tracker.state["mask_inputs_per_obj"][idx][3],
            sess.tracker.state["mask_inputs_per_obj"][A.obj_idx(sess.tracker.state, 1)][3],
        )
    finally:
        fresh.close()


# -- sam2 with our settings ----------------------------------------------------------------
@pytest.fixture(scope="module")
def short_mp4(bedroom, tmp_path_factory):
    return short_clip(bedroom, tmp_path_factory.mktemp("clip") / "short.mp4", frames=4)


def _decord_returns(path) -> str:
    import decord

    frame = decord.VideoReader(str(path))[0]
    return "torch" if isinstance(frame, torch.Tensor) else "native"


@pytest.mark.slow
@pytest.mark.parametrize("bridge", ["native", "torch"])
def test_official_init_state_leaves_decords_bridge_as_found(engine, short_mp4, bridge):
    import decord

    decord.bridge.set_bridge(bridge)
    try:
        state = A.official_init_state(engine.video_predictor, str(short_mp4))
        assert _decord_returns(short_mp4) == bridge
        assert state["num_frames"] == 4 and A.video_size(state) == (320, 180)
        with pytest.raises(Exception):  # noqa: B017 - whatever sam2/decord raise
            A.official_init_state(engine.video_predictor, str(short_mp4.parent / "nope.mp4"))
        assert _decord_returns(short_mp4) == bridge  # also when sam2 fails half-way
    finally:
        decord.bridge.set_bridge("native")


def test_no_progress_bars_silences_and_restores_sam2s_tqdm():
    import sam2.sam2_video_predictor as svp
    import sam2.utils.misc as misc

    before = svp.tqdm, misc.tqdm
    with A.no_progress_bars():
        items = [1, 2, 3]
        assert svp.tqdm(items, desc="x") is items and misc.tqdm(items) is items
    assert (svp.tqdm, misc.tqdm) == before


@pytest.mark.parametrize("as_cond", [True, False])
def test_sam2_flags_set_and_restore_the_correction_policy(engine, as_cond):
    import sam2.sam2_video_predictor as svp

    p = engine.video_predictor
    before, bar = p.add_all_frames_to_correct_as_cond, svp.tqdm
    with A.sam2_flags(p, as_cond):
        assert p.add_all_frames_to_correct_as_cond is as_cond
        assert list(svp.tqdm(range(2), desc="x")) == [0, 1]
    assert p.add_all_frames_to_correct_as_cond == before and svp.tqdm is bar


def test_sam2_flags_restore_after_an_error(engine):
    p = engine.video_predictor
    before = p.add_all_frames_to_correct_as_cond
    with pytest.raises(RuntimeError), A.sam2_flags(p, not before):
        raise RuntimeError("inside")
    assert p.add_all_frames_to_correct_as_cond == before


def test_eager_prompts_uncompiles_and_restores():
    enc, dec = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    compiled = lambda x: "compiled"  # noqa: E731 - what torch.compile puts on an instance
    enc.forward = compiled
    model = SimpleNamespace(sam_prompt_encoder=enc, sam_mask_decoder=dec)
    x = torch.zeros(1, 2)
    assert enc(x) == "compiled"
    with A.eager_prompts(model):
        assert "forward" not in vars(enc) and isinstance(enc(x), torch.Tensor)
        assert isinstance(dec(x), torch.Tensor)
    assert enc.forward is compiled and "forward" not in vars(dec)
    with A.eager_prompts(SimpleNamespace()):  # a model without those modules: nothing to do
        pass


def test_the_iou_recorder_is_installed_once(engine):
    model = engine.video_predictor
    rec = A.recorder(model)
    assert A.recorder(model) is rec
    with rec.recording() as ious:
        assert ious == []
    assert getattr(rec.local, "sink", None) is None  # nothing is collected outside


@pytest.mark.parametrize(
    "exc, oom",
    [
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"), True),
        (RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"), True),
        (RuntimeError("CUDA error: device-side assert triggered"), False),
        (ValueError("bad frame"), False),
        (KeyError("memory"), False),
    ],
    ids=["torch-oom", "cuda-text", "mps-text", "other-cuda-error", "value-error", "key-error"],
)
def test_is_oom(exc, oom):
    assert A.is_oom(exc) is oom


def test_oom_message_names_the_situation_and_the_ways_out():
    msg = A.oom_message("tracking from frame 3", 4, "large")
    for needle in ("tracking from frame 3", "4 objects", "model large", "memory='bounded'"):
        assert needle in msg


def test_free_memory_drops_cached_features():
    state = {"cached_features": {0: "features"}, "other": 1}
    A.free_memory(state)
    assert state == {"cached_features": {}, "other": 1}
    A.free_memory(None)  # no state yet: nothing to drop, no error


@pytest.mark.slow
def test_image_is_set_follows_the_image_predictor(engine):
    pred = engine.image_predictor
    image = np.zeros((40, 60, 3), np.uint8)
    with engine.autocast():
        pred.set_image(image)
    assert A.image_is_set(pred, 40, 60)
    assert not A.image_is_set(pred, 60, 40)
    pred.reset_predictor()
    assert not A.image_is_set(pred, 40, 60)

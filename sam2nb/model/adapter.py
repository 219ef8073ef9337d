"""The one place that knows sam2's internals: its inference state and its private members.

sam2's video predictor keeps everything in the dict ``init_state`` returns. Every read or
write of that dict, and every use of a sam2 private, is here and reads or edits it the way
sam2's own methods do; nothing here runs the model on its own. The session
(:mod:`sam2nb.tracking.session`) uses it to stream frames into ``init_state``, capture the
predicted IoU that sam2 computes but drops, roll back a failed prompt, record each tracked
frame, and release per-frame state outside the model's memory window; persistence uses
:func:`dump_state` and :func:`load_state`; segment-everything uses :func:`mask_generator`.
A sam2 upgrade touches this module (and the model builder in :mod:`sam2nb.model.engine`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .tracker import IouSink, from_bytes, iou_sink, to_bytes, to_device, to_host

FWD, REV = {"reverse": False}, {"reverse": True}  # shared: sam2 only reads ["reverse"]
PATCH_LOCK = threading.RLock()
KEYS = ("cond_frame_outputs", "non_cond_frame_outputs")


def official_init_state(predictor: Any, video_path: str) -> dict:
    """sam2's own ``init_state(video_path=...)``, leaving decord's global bridge as it found it.

    sam2 switches decord to its torch bridge when it loads a video file, which would change
    what every later ``decord.VideoReader`` in the kernel returns (tensors, not arrays).

    Example:
        >>> state = official_init_state(engine.video_predictor, "clip.mp4")  # doctest: +SKIP
    """
    try:
        import decord

        before = getattr(decord.bridge._CURRENT_BRIDGE, "type", "native")  # per thread
    except Exception:  # no decord, or a version without that attribute
        decord, before = None, None
    try:
        return predictor.init_state(video_path=video_path)
    finally:
        if decord is not None and before is not None:
            decord.bridge.set_bridge(before)


def video_size(state: dict) -> tuple[int, int]:
    """``(width, height)`` of the video an inference state was made for."""
    return int(state["video_width"]), int(state["video_height"])


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """sam2's own tqdm bars off (in the video predictor and its frame loader)."""
    import sam2.sam2_video_predictor as svp
    import sam2.utils.misc as misc

    with PATCH_LOCK:
        saved = svp.tqdm, misc.tqdm
        svp.tqdm = misc.tqdm = lambda it, *a, **k: it
        try:
            yield
        finally:
            svp.tqdm, misc.tqdm = saved


def init_state(predictor: Any, frames: Any, width: int, height: int, offload_state: bool) -> dict:
    """sam2's ``init_state`` with ``frames`` (a lazy frame source) in place of the preloaded video.

    Example:
        >>> state = init_state(engine.video_predictor, stream, 960, 540, False)  # doctest: +SKIP
    """
    import sam2.sam2_video_predictor as svp

    with PATCH_LOCK:
        original = svp.load_video_frames
        svp.load_video_frames = lambda **kw: (frames, height, width)
        try:
            return predictor.init_state(
                video_path="<sam2nb frame stream>",
                offload_video_to_cpu=True,
                offload_state_to_cpu=offload_state,
            )
        finally:
            svp.load_video_frames = original


@contextlib.contextmanager
def sam2_flags(predictor: Any, corrections_as_cond: bool) -> Iterator[None]:
    """Run sam2 with our correction policy and without its own tqdm bar (ours replaces it)."""
    import sam2.sam2_video_predictor as svp

    with PATCH_LOCK:
        tq, old = svp.tqdm, predictor.add_all_frames_to_correct_as_cond
        predictor.add_all_frames_to_correct_as_cond = corrections_as_cond
        svp.tqdm = lambda it, **kw: it
        try:
            yield
        finally:
            predictor.add_all_frames_to_correct_as_cond = old
            svp.tqdm = tq


_EAGER_LOCK = threading.Lock()
PROMPT_MODULES = ("sam_prompt_encoder", "sam_mask_decoder")


@contextlib.contextmanager
def eager_prompts(model: Any) -> Iterator[None]:
    """Answer a click with the prompt encoder and mask decoder uncompiled.

    sam2's ``vos_optimized`` model compiles both with fixed shapes (``dynamic=False``,
    ``fullgraph=True``), so each new number of clicks on a frame recompiles them, and the ninth
    distinct count fails with torch's recompile limit (facebookresearch/sam2#517). A click is
    one decoder pass, so eager costs little; tracking (one shape) keeps the compiled ones. A
    no-op for models that are not compiled.
    """
    saved = {}
    with _EAGER_LOCK:
        for name in PROMPT_MODULES:
            mod = getattr(model, name, None)
            if mod is not None and "forward" in vars(mod):  # torch.compile set it on the instance
                saved[name] = vars(mod).pop("forward")
    try:
        yield
    finally:
        with _EAGER_LOCK:
            for name, fwd in saved.items():
                getattr(model, name).forward = fwd


def _install_iou(model: Any, sink: IouSink) -> None:
    """Put the predicted IoU of each tracking step into ``sink``; guard the memory dtype."""
    original = model._track_step

    def _track_step(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        if sink.active:
            ious = out[1][2]  # (current_out, sam_outputs, ...); sam_outputs[2] = ious
            sink.put(float(ious.float().max(dim=-1).values[0]))
        return out

    model._track_step = _track_step
    model.memory_attention.register_forward_pre_hook(_match_memory_dtype, with_kwargs=True)


def recorder(model: Any) -> IouSink:
    """The model's IoU recorder (installed once per model, with the memory dtype guard)."""
    return iou_sink(model, _install_iou)


def _match_memory_dtype(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Cast sam2's stored bf16 memories to the query's dtype when autocast is off.

    sam2 always stores memory features as bfloat16. Object pointers (float32) usually join
    them and ``torch.cat`` promotes the lot to float32, but a frame with memories and no
    pointers (an object whose only prompt lies ahead of the frame being tracked) hands the
    attention pure bf16 and, without autocast (the CPU in float32), matmul fails on mixed
    dtypes. The official predictor fails the same way; with autocast (GPUs) it runs. The
    cast is a no-op whenever the memory is already in the query's dtype.
    """
    import torch

    curr = kwargs.get("curr", args[0] if args else None)
    memory = kwargs.get("memory")
    if isinstance(curr, list):
        curr = curr[0]
    if curr is None or memory is None or memory.dtype == curr.dtype:
        return args, kwargs
    if torch.is_autocast_enabled(curr.device.type):
        return args, kwargs
    kwargs = dict(kwargs, memory=memory.to(curr.dtype))
    return args, kwargs


def window(predictor: Any) -> int:
    """How many frames back a tracking step reads: memory frames and object pointers."""
    r = predictor.memory_temporal_stride_for_eval
    reach = r * (predictor.num_maskmem - 3) + 2 + r - 1
    return max(predictor.max_obj_ptrs_in_encoder - 1, reach)


def cond_frames(state: dict, idx: int | None) -> list[int]:
    """Conditioning frames of an object (pending prompts included)."""
    if idx is None:
        return []
    out = state["output_dict_per_obj"][idx]["cond_frame_outputs"]
    tmp = state["temp_output_dict_per_obj"][idx]["cond_frame_outputs"]
    return sorted(set(out) | set(tmp))


def output(state: dict, idx: int | None, f: int) -> dict | None:
    """The newest output sam2 holds for an object on a frame, or None."""
    if idx is None:
        return None
    for d in (state["temp_output_dict_per_obj"][idx], state["output_dict_per_obj"][idx]):
        for key in KEYS:
            if f in d[key]:
                return d[key][f]
    return None


def features_cached(state: dict, f: int) -> bool:
    """Whether sam2 holds frame ``f``'s image features (a prompt there runs no encoder)."""
    return f in (state.get("cached_features") or {})


def has_state(state: dict, idx: int, f: int) -> bool:
    """Whether sam2 still holds an object's state for a frame."""
    return output(state, idx, f) is not None


def snapshot(state: dict, idx: int, f: int) -> dict:
    """What a prompt on frame ``f`` may change for object ``idx`` (see :func:`restore`)."""
    temp = state["temp_output_dict_per_obj"][idx]
    return {
        "points": state["point_inputs_per_obj"][idx].get(f),
        "mask": state["mask_inputs_per_obj"][idx].get(f),
        "cond": temp["cond_frame_outputs"].get(f),
        "non_cond": temp["non_cond_frame_outputs"].get(f),
    }


def restore(state: dict, idx: int, f: int, snap: dict) -> None:
    """Undo a failed prompt: put back what :func:`snapshot` saw."""
    temp = state["temp_output_dict_per_obj"][idx]
    for d, key in (
        (state["point_inputs_per_obj"][idx], "points"),
        (state["mask_inputs_per_obj"][idx], "mask"),
        (temp["cond_frame_outputs"], "cond"),
        (temp["non_cond_frame_outputs"], "non_cond"),
    ):
        if snap[key] is None:
            d.pop(f, None)
        else:
            d[f] = snap[key]


def prompt_inputs(state: dict, idx: int, f: int, window: int) -> tuple:
    """What a prompt on frame ``f`` for object ``idx`` reads from the state (references).

    sam2's ``add_new_points_or_box`` and ``add_new_mask`` read the frame's inputs, the newest
    output they refine (temporary, then conditioning, then non-conditioning), whether the
    frame was tracked and which way, and, on a tracked frame (a correction), the memory: every
    conditioning output and the non-conditioning outputs of the ``window`` frames before it
    in the way it was tracked. Two answers that hold the same objects mean the same
    prompt gets the same inputs at either time, so the same output.
    """
    out, tmp = state["output_dict_per_obj"][idx], state["temp_output_dict_per_obj"][idx]
    way = tracked_way(state, idx, f)
    own = (
        state["point_inputs_per_obj"][idx].get(f),
        state["mask_inputs_per_obj"][idx].get(f),
        tmp["cond_frame_outputs"].get(f),
        tmp["non_cond_frame_outputs"].get(f),
        out["cond_frame_outputs"].get(f),
        out["non_cond_frame_outputs"].get(f),
        way,
    )
    if way is None:  # an initial prompt: no memory is read
        return own
    step = 1 if way else -1  # tracked backward: the frames after it came first
    non = out["non_cond_frame_outputs"]
    near = tuple(non.get(f + step * k) for k in range(1, window + 1))
    return (*own, tuple(out["cond_frame_outputs"].items()), near)


def prune(state: dict, t: int, keep: int, pins: set[int]) -> int:
    """Release non-conditioning state more than ``keep`` frames from frame ``t``.

    State within ``keep`` frames of a conditioning frame or a pinned frame stays, so tracking
    in either direction from a prompt sees exactly what it would without pruning.

    Returns:
        How many frame states were released.
    """
    dropped = 0
    for out in state["output_dict_per_obj"].values():
        anchors = [*out["cond_frame_outputs"], *pins]
        non = out["non_cond_frame_outputs"]
        for k in [k for k in non if abs(k - t) > keep]:
            if not any(abs(k - a) <= keep for a in anchors):
                del non[k]
                dropped += 1
    return dropped


def is_oom(exc: BaseException) -> bool:
    """Whether an exception is the GPU running out of memory."""
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def oom_message(doing: str, num_objects: int, variant: str) -> str:
    """What to tell the user after the GPU ran out of memory."""
    return (
        f"The GPU ran out of memory while {doing} ({num_objects} objects, model {variant}). "
        "What was allocated is freed and the session is unchanged. Try a smaller variant "
        "(sam2nb.load('small') or 'tiny'), fewer objects at once, "
        "Session(..., memory='bounded', offload_state=True) for long videos, or open the video "
        "with max_side=... ."
    )


def free_memory(state: Any) -> None:
    """Drop cached features and return cached GPU blocks after an out-of-memory error."""
    import gc

    import torch

    if isinstance(state, dict):
        state["cached_features"] = {}
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- objects and frames in the inference state ----------------------------------------------
def obj_idx(state: dict, obj_id: int) -> int | None:
    """sam2's index of an object in the state, or None if sam2 has not seen it."""
    return state["obj_id_to_idx"].get(obj_id)


def prompt_frames(state: dict, idx: int | None) -> set[int]:
    """Frames where an object has click or mask inputs."""
    if idx is None:
        return set()
    return set(state["point_inputs_per_obj"][idx]) | set(state["mask_inputs_per_obj"][idx])


def record_step(state: dict, f: int, num_objects: int, reverse: bool) -> list[tuple[bool, float]]:
    """Mark frame ``f`` tracked for every object; each one's ``(is_conditioning, score)``.

    The score is sam2's object-score logit (above 0: the object is visible).
    """
    tracked = state["frames_tracked_per_obj"]
    out = []
    for idx in range(num_objects):
        d = state["output_dict_per_obj"][idx]
        cond = f in d["cond_frame_outputs"]
        cur = d["cond_frame_outputs"][f] if cond else d["non_cond_frame_outputs"][f]
        out.append((cond, float(cur["object_score_logits"].float().flatten()[0])))
        tracked[idx][f] = REV if reverse else FWD
    return out


def state_frames(state: dict) -> int:
    """How many per-frame tracking states sam2 holds (all objects)."""
    return sum(
        len(d["non_cond_frame_outputs"]) + len(d["cond_frame_outputs"])
        for d in state.get("output_dict_per_obj", {}).values()
    )


# -- saving and restoring the conditioning state ------------------------------------------
def dump_state(state: dict) -> dict:
    """What to save of a state: each object's prompts, their outputs, and the frames tracked.

    Per-frame tracking memory is left out (it is large and rebuilt by tracking again).
    """
    objs = []
    for obj_id in state["obj_ids"]:
        idx = state["obj_id_to_idx"][obj_id]
        tracked = state["frames_tracked_per_obj"][idx]
        objs.append(
            {
                "obj_id": int(obj_id),
                "points": to_host(state["point_inputs_per_obj"][idx]),
                "masks": to_host(state["mask_inputs_per_obj"][idx]),
                "cond": to_host(state["output_dict_per_obj"][idx]["cond_frame_outputs"]),
                "temp": to_host(state["temp_output_dict_per_obj"][idx]),
                "fwd": [f for f, v in tracked.items() if not v["reverse"]],
                "rev": [f for f, v in tracked.items() if v["reverse"]],
            }
        )
    return {"objects": objs}


def load_state(predictor: Any, state: dict, saved: dict) -> None:
    """Put what :func:`dump_state` saved into a fresh state of the same video."""
    dev, store_dev = state["device"], state["storage_device"]
    for o in saved["objects"]:
        idx = predictor._obj_id_to_idx(state, o["obj_id"])
        state["point_inputs_per_obj"][idx].update(to_device(o["points"], dev))
        state["mask_inputs_per_obj"][idx].update(to_device(o["masks"], dev))
        cond = state["output_dict_per_obj"][idx]["cond_frame_outputs"]
        cond.update(to_device(o["cond"], store_dev))
        for key, outs in o["temp"].items():
            state["temp_output_dict_per_obj"][idx][key].update(to_device(outs, store_dev))
        tracked = state["frames_tracked_per_obj"][idx]
        tracked.update(dict.fromkeys(o["fwd"], FWD))
        tracked.update(dict.fromkeys(o["rev"], REV))
    consts = state["constants"]
    for out in state["output_dict_per_obj"].values():  # maskmem_pos_enc is a shared constant
        for cur in out["cond_frame_outputs"].values():
            if cur.get("maskmem_pos_enc") is not None and "maskmem_pos_enc" not in consts:
                consts["maskmem_pos_enc"] = [x[0:1].clone() for x in cur["maskmem_pos_enc"]]


# -- the session journal: one object's state on one frame, as bytes -----------------------
PROMPT_PIECES = ("points", "mask", "cond", "temp_cond", "temp_non_cond")


def _pieces(state: dict, idx: int) -> dict[str, dict]:
    out, tmp = state["output_dict_per_obj"][idx], state["temp_output_dict_per_obj"][idx]
    return {
        "points": state["point_inputs_per_obj"][idx],
        "mask": state["mask_inputs_per_obj"][idx],
        "cond": out["cond_frame_outputs"],
        "temp_cond": tmp["cond_frame_outputs"],
        "temp_non_cond": tmp["non_cond_frame_outputs"],
        "non_cond": out["non_cond_frame_outputs"],
    }


def _compact(v: Any) -> Any:
    # maskmem_pos_enc is the same on every frame (a view of a constant): saved once apart
    if isinstance(v, dict) and "maskmem_pos_enc" in v:
        v = {**v, "maskmem_pos_enc": None if v["maskmem_pos_enc"] is None else True}
    return to_host(v)


def frame_state(state: dict, obj_id: int, f: int, kinds: tuple[str, ...] = PROMPT_PIECES) -> bytes:
    """An object's prompts and outputs on frame ``f`` (``kinds`` of them) as bytes; b"" if none.

    The default kinds are what a prompt makes; ``("non_cond",)`` is a tracked frame's memory.
    """
    idx = obj_idx(state, obj_id)
    if idx is None:
        return b""
    pieces = _pieces(state, idx)
    saved = {k: _compact(pieces[k][f]) for k in kinds if f in pieces[k]}
    return to_bytes(saved) if saved else b""


def constants(state: dict) -> bytes:
    """sam2's per-video constants (the memory position encoding) as bytes; b"" if none yet."""
    c = state["constants"].get("maskmem_pos_enc")
    return b"" if c is None else to_bytes(to_host(c))


def put_constants(state: dict, data: bytes) -> None:
    """Put back what :func:`constants` saved."""
    if data and "maskmem_pos_enc" not in state["constants"]:
        enc = from_bytes(data)
        state["constants"]["maskmem_pos_enc"] = [x.to(state["device"]) for x in enc]


def add_objects(predictor: Any, state: dict, obj_ids: list[int]) -> None:
    """Give sam2 these objects, in this order (sam2's object index follows it)."""
    for o in obj_ids:
        predictor._obj_id_to_idx(state, int(o))


def object_order(state: dict) -> list[int]:
    """The objects sam2 knows, in its index order."""
    return [int(o) for o in state["obj_ids"]]


def put_frame_state(predictor: Any, state: dict, obj_id: int, f: int, data: bytes) -> None:
    """Put back what :func:`frame_state` saved for an object on a frame."""
    if not data:
        return
    saved = from_bytes(data)
    idx = predictor._obj_id_to_idx(state, int(obj_id))
    pieces = _pieces(state, idx)
    dev, store_dev = state["device"], state["storage_device"]
    enc = state["constants"].get("maskmem_pos_enc")
    for k, v in saved.items():
        if isinstance(v, dict) and v.get("maskmem_pos_enc") is True:
            if enc is None:
                raise ValueError("the memory position encoding is missing from the journal")
            v["maskmem_pos_enc"] = [x.expand(1, -1, -1, -1) for x in enc]
        v = to_device(v, dev if k in ("points", "mask") else store_dev)
        if isinstance(v, dict):  # sam2 keeps these two on the device even when offloading
            for key in ("obj_ptr", "object_score_logits"):
                if v.get(key) is not None:
                    v[key] = v[key].to(dev)
        pieces[k][f] = v


def drop_frame_state(state: dict, obj_id: int, f: int, kinds: tuple[str, ...]) -> None:
    """Forget an object's ``kinds`` of state on frame ``f`` (before putting saved ones back)."""
    idx = obj_idx(state, obj_id)
    if idx is not None:
        pieces = _pieces(state, idx)
        for k in kinds:
            pieces[k].pop(f, None)


def tracked(state: dict, obj_id: int) -> dict[int, bool]:
    """``{frame: reverse}`` of the frames sam2 marked tracked for an object."""
    idx = obj_idx(state, obj_id)
    if idx is None:
        return {}
    return {f: bool(v["reverse"]) for f, v in state["frames_tracked_per_obj"][idx].items()}


def tracked_way(state: dict, idx: int, f: int) -> bool | None:
    """Whether sam2 tracked frame ``f`` of object ``idx`` in reverse (None: not tracked)."""
    v = state["frames_tracked_per_obj"][idx].get(f)
    return None if v is None else bool(v["reverse"])


def set_tracked(predictor: Any, state: dict, obj_id: int, frames: dict[int, bool]) -> None:
    """Mark frames tracked for an object, ``{frame: reverse}``."""
    idx = predictor._obj_id_to_idx(state, int(obj_id))
    state["frames_tracked_per_obj"][idx].update(
        {int(f): REV if r else FWD for f, r in frames.items()}
    )


# -- the image predictor and the automatic mask generator ----------------------------------
def set_backbone_sizes(image_predictor: Any, sizes: list[tuple[int, int]]) -> None:
    """Tell sam2's image predictor its backbone feature sizes (it hard-codes 1024-px ones)."""
    image_predictor._bb_feat_sizes = sizes


def image_is_set(image_predictor: Any, height: int, width: int) -> bool:
    """Whether the image predictor holds the embedding of an image of this size."""
    return bool(image_predictor._is_image_set) and image_predictor._orig_hw == [(height, width)]


def image_holder(image_predictor: Any) -> Any:
    """Who set the image whose embedding the predictor holds (see :func:`hold_image`)."""
    if not image_predictor._is_image_set:
        return None
    return getattr(image_predictor, "_sam2nb_holder", None)


def hold_image(image_predictor: Any, holder: Any) -> None:
    """Record who set the predictor's image (None: someone who does not say).

    One engine's image predictor serves every image session in the kernel: two images of the
    same size cannot be told apart by the predictor's own state.
    """
    image_predictor._sam2nb_holder = holder


def mask_generator(
    model: Any,
    sizes: list[tuple[int, int]],
    settings: dict,
    batch: Callable[[Callable[..., Any], Callable[[], Any]], Callable[..., Any]] | None = None,
) -> Any:
    """sam2's ``SAM2AutomaticMaskGenerator`` on ``model`` (COCO RLE output).

    Args:
        model: the sam2 model (shared with the predictors: no second copy of the weights).
        sizes: the backbone feature sizes for the model's input size.
        settings: the generator's keyword arguments.
        batch: ``batch(run, empty)`` returns the function that replaces the generator's
            per-point-batch step; ``run`` is sam2's step and ``empty()`` an empty result.
    """
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.utils.amg import MaskData

    gen = SAM2AutomaticMaskGenerator(model, output_mode="coco_rle", **settings)
    set_backbone_sizes(gen.predictor, sizes)
    if batch is not None:
        gen._process_batch = batch(gen._process_batch, MaskData)
    return gen


def has_cuda_extension() -> bool:
    """Whether sam2's optional CUDA extension (``sam2._C``) is importable.

    sam2 uses it only to label connected components (filling small holes in masks); without
    it, :mod:`sam2nb.model.holes` does the same on the CPU for CPU and GPU masks.
    """
    try:
        from sam2 import _C  # noqa: F401
    except Exception:
        return False
    return True

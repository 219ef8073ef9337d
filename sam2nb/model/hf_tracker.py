"""Hugging Face transformers' video trackers behind the seam: SAM 2.1, EdgeTAM, the SAM 3 tracker.

transformers (5.23 and later) ships ``Sam2VideoModel``, ``EdgeTamVideoModel`` and
``Sam3TrackerVideoModel`` behind one inference-session API. :class:`HFTracker` drives any of
them as a :class:`~sam2nb.model.tracker.Tracker`, the way sam2nb drives Meta's predictor:

- **frames** come from sam2nb's own :class:`~sam2nb.media.frames.FrameStream` (decoded and
  resized as sam2 does), so the session never holds the whole video preprocessed (transformers'
  ``init_video_session(video=...)`` does, about 12.6 MB a frame at 1024 px);
- **a prompt** touches only its object on its frame, as Meta's ``add_new_points_or_box`` does:
  a click on a tracked frame is answered from the frame's memory and previous mask and, with
  ``corrections_as_cond``, kept as a conditioning frame (the public API stores it as an
  ordinary tracked frame, so the next propagation over it loses the correction);
- **propagation** is the model's own step, ``model(session, frame_idx, reverse)``, a frame at
  a time (what ``propagate_in_video_iterator`` loops over), with each step's predicted IoU;
- **memory** is bounded: what a step never reads again is released (transformers keeps every
  frame's outputs, about 5.8 MB a frame and object at 1024 px: sam3#413), each output's
  full-size mask is dropped and the memory position encoding shared.

transformers has no API to clear a frame's prompts or remove an object; :meth:`clear_frame`
and :meth:`remove_object` do what Meta's predictor does, on the session's own fields.

Example:
    >>> t = s2.Session(clip, s2.load("test@hf")).tracker  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from .tracker import (
    IouSink,
    Prompted,
    Step,
    from_bytes,
    inference,
    iou_sink,
    same_objects,
    to_bytes,
    to_device,
    to_host,
)

LOGIT_CLAMP = 32.0  # Meta clamps the previous mask logits it feeds back with new clicks


class FrameView(Mapping):
    """The session's ``processed_frames``: sam2nb's frame stream, in the model's dtype.

    transformers reads only ``len()`` (the video's length) and ``[i]`` (one frame, normalised).

    Args:
        frames: a :class:`~sam2nb.media.frames.FrameStream` (ImageNet mean and std).
        dtype: the model's dtype.
        renorm: ``(scale, shift)`` per channel to the model's own normalisation (None: the same).
    """

    def __init__(self, frames: Any, dtype: Any, renorm: tuple | None = None):
        self.frames, self.dtype, self.renorm = frames, dtype, renorm

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.frames)))

    def __getitem__(self, i: int) -> Any:
        if not 0 <= int(i) < len(self.frames):
            raise KeyError(i)
        x = self.frames[int(i)]
        if self.renorm is not None:
            scale, shift = self.renorm
            x = x * scale.to(x.device) + shift.to(x.device)
        return x.to(self.dtype).contiguous()  # (a channels-last view convolves ~2x slower)


def _install_iou(model: Any, sink: IouSink) -> None:
    """Put the predicted IoU of the mask each decoder run chose into ``sink``.

    transformers' outputs carry no IoU; the decoder's do. A mask prompt puts None.
    """
    forward, as_output = model._single_frame_forward, model._use_mask_as_output
    flags = threading.local()

    def single_frame_forward(*a: Any, **kw: Any) -> Any:
        out = forward(*a, **kw)
        if sink.active and not getattr(flags, "mask", False):
            sink.put(float(out.iou_scores.float().max(-1).values.flatten()[0]))
        return out

    def use_mask_as_output(*a: Any, **kw: Any) -> Any:
        flags.mask = True
        try:
            out = as_output(*a, **kw)
        finally:
            flags.mask = False
        sink.put(None)
        return out

    model._single_frame_forward = single_frame_forward
    model._use_mask_as_output = use_mask_as_output


def recorder(model: Any) -> IouSink:
    """The model's IoU recorder (installed on first use)."""
    return iou_sink(model, _install_iou)


class HFTracker:
    """A transformers video tracker over one video (made by an engine's ``tracker()``).

    Args:
        engine: the loaded engine (its model, processor, device and dtype).
        frames: sam2nb's frame stream at the model's size.
        size: the video's ``(width, height)``.
        corrections_as_cond: a click on a tracked frame makes it a conditioning frame too.
    """

    def __init__(
        self,
        engine: Any,
        frames: Any,
        size: tuple[int, int],
        corrections_as_cond: bool = True,
    ):
        import sys

        self.engine = engine
        self.model, self.processor = engine.model, engine.processor
        self.frames, self.size = frames, size
        self.corrections_as_cond = bool(corrections_as_cond)
        self.edgetam = type(self.model).__name__.startswith("EdgeTam")
        w, h = size
        module = sys.modules[type(self.model).__module__]
        session_cls = getattr(
            module, type(self.model).__name__.replace("Model", "InferenceSession")
        )
        dtype = next(self.model.parameters()).dtype
        self.session = session_cls(
            video=None, video_height=h, video_width=w, inference_device=engine.device,
            inference_state_device=engine.device, video_storage_device=engine.device, dtype=dtype,
        )  # fmt: skip
        self.session.processed_frames = FrameView(frames, dtype, engine.renorm)
        self.iou = recorder(self.model)
        c = self.model.config
        # a step reads memories 1..num_maskmem-1 frames back and object pointers up to
        # max_object_pointers_in_encoder-1 back (transformers reads every frame: stride 1)
        self.window = max(c.num_maskmem - 1, c.max_object_pointers_in_encoder - 1)
        self._pos_enc: Any = None

    def inference(self) -> contextlib.ExitStack:
        """No gradients, in the engine's precision."""
        return inference(self.engine)

    # -- objects and frames ----------------------------------------------------------------
    def idx(self, obj_id: int) -> int | None:
        """The session's index of an object (None: not seen)."""
        return self.session._obj_id_to_idx.get(obj_id)

    def objects(self) -> list[int]:
        """The objects the model has seen, in its order."""
        return list(self.session.obj_ids)

    def has_object(self, obj_id: int) -> bool:
        """Whether the model has seen a prompt for the object."""
        return self.idx(obj_id) is not None

    def _outputs(self, i: int) -> dict:
        return self.session.output_dict_per_obj[i]

    def prompt_frames(self, obj_id: int) -> set[int]:
        """Frames where the object has click or mask inputs."""
        i = self.idx(obj_id)
        if i is None:
            return set()
        s = self.session
        return set(s.point_inputs_per_obj.get(i, {})) | set(s.mask_inputs_per_obj.get(i, {}))

    def cond_frames(self, obj_id: int) -> list[int]:
        """The object's conditioning frames."""
        i = self.idx(obj_id)
        return [] if i is None else sorted(self._outputs(i)["cond_frame_outputs"])

    def tracked(self, obj_id: int) -> dict[int, bool]:
        """``{frame_idx: reverse}`` of the frames the object was tracked on."""
        i = self.idx(obj_id)
        if i is None:
            return {}
        return {f: bool(v["reverse"]) for f, v in self.session.frames_tracked_per_obj[i].items()}

    def tracked_way(self, obj_id: int, frame_idx: int) -> bool | None:
        """True backward, False forward, None: not tracked."""
        return self.tracked(obj_id).get(frame_idx)

    def features_ready(self, frame_idx: int) -> bool:
        """Whether the frame's image features are cached."""
        return int(frame_idx) in self.session.cache._vision_features

    def state_frames(self) -> int:
        """How many per-frame outputs the session holds (all objects)."""
        return sum(
            len(d["cond_frame_outputs"]) + len(d["non_cond_frame_outputs"])
            for d in self.session.output_dict_per_obj.values()
        )

    # -- prompts ---------------------------------------------------------------------------
    def add_points(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any, clear: bool = False
    ) -> Prompted:
        """Clicks on a frame ((x, y) video pixels, labels 1/0)."""
        pts = [[[[float(x), float(y)] for x, y in points]]]  # [image][object][point][xy]
        lab = [[[int(v) for v in labels]]]  # [image][object][point]
        return self._prompt(frame_idx, obj_id, input_points=pts, input_labels=lab,
                            clear_old_inputs=bool(clear))  # fmt: skip

    def add_box(
        self, frame_idx: int, obj_id: int, box: Any, points: Any = None, labels: Any = None
    ) -> Prompted:
        """A box (and optional clicks); it replaces the frame's earlier prompts."""
        kw: dict = {"input_boxes": [[[float(v) for v in box]]]}  # [image][box][4]
        if points is not None and len(points):
            kw["input_points"] = [[[[float(x), float(y)] for x, y in points]]]
            kw["input_labels"] = [[[int(v) for v in labels]]]
        return self._prompt(frame_idx, obj_id, clear_old_inputs=True, **kw)

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> Prompted:
        """A mask at video resolution as the frame's prompt."""
        import numpy as np

        return self._prompt(frame_idx, obj_id, input_masks=np.asarray(mask, bool))

    def _prompt(self, f: int, o: int, **inputs: Any) -> Prompted:
        had = self.has_object(o)
        snap = self.snapshot(o, f) if had else None
        try:
            return self._run_prompt(f, o, inputs)
        except BaseException:
            if had:  # a failed prompt leaves the model as it was
                self.restore(o, f, snap)
            elif self.has_object(o):
                self.remove_object(o)
            raise

    def _run_prompt(self, f: int, o: int, inputs: dict) -> Prompted:
        s, m = self.session, self.model
        self.processor.add_inputs_to_inference_session(s, frame_idx=f, obj_ids=o, **inputs)
        s.obj_with_new_inputs = []  # answered here: the next step must not take them again
        i = s.obj_id_to_idx(o)
        tracked = s.frames_tracked_per_obj[i]
        first = f not in tracked
        reverse = False if first else bool(tracked[f]["reverse"])
        cond = first or self.corrections_as_cond
        clicks = s.point_inputs_per_obj[i].get(f)
        d = self._outputs(i)
        prev = None
        if clicks is not None:  # Meta refines the frame's previous mask with the new clicks
            old = d["cond_frame_outputs"].get(f) or d["non_cond_frame_outputs"].get(f)
            if old is not None and old.get("pred_masks") is not None:
                prev = old["pred_masks"].to(s.inference_device).clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
        kw = dict(
            inference_session=s, frame_idx=f, obj_idx=i, batch_size=1, is_init_cond_frame=first,
            point_inputs=clicks, mask_inputs=s.mask_inputs_per_obj[i].get(f), reverse=reverse,
            prev_sam_mask_logits=prev, streaming=False,
        )  # fmt: skip
        if self.edgetam:
            kw["run_mem_encoder"] = True  # EdgeTAM encodes the memory inside the step
        with self.inference(), self.iou.recording() as ious:
            out = m._run_single_frame_inference(**kw)
            # (EdgeTAM: a mask prompt's score comes back (1, 1); a frame shared with another
            # object then fails to concatenate: the shape every other output has)
            out["object_score_logits"] = out["object_score_logits"].reshape(-1, 1, 1)
            s.store_output(i, f, output_value=out, is_conditioning_frame=cond)
            (d["non_cond_frame_outputs"] if cond else d["cond_frame_outputs"]).pop(f, None)
            if not self.edgetam:  # the memory of a prompted frame (binarised, as Meta does)
                m._batch_encode_memories(
                    inference_session=s, frame_idx=f, objects_needing_memory_encoding=[i],
                    high_res_masks_for_memory=[out["high_res_masks"]],
                    object_score_logits_for_memory=[out["object_score_logits"]],
                    is_mask_from_pts_per_obj=[True],
                )  # fmt: skip
            self._slim(d["cond_frame_outputs" if cond else "non_cond_frame_outputs"][f])
            logits = self._video_size(out["pred_masks"])[0]
        score = float(out["object_score_logits"].float().flatten()[0])
        return Prompted(logits, score, ious[-1] if ious else None)

    def _video_size(self, low_res: Any) -> Any:
        """``(N, 1, h, w)`` low-resolution logits to ``(N, H, W)`` at video size."""
        w, h = self.size
        return self.processor.post_process_masks([low_res.float()], [[h, w]], binarize=False)[0][
            :, 0
        ]

    def _slim(self, out: dict) -> None:
        """Drop what no later step reads; keep one copy of the (constant) position encoding."""
        import torch

        out.pop("high_res_masks", None)  # image size squared, float: 4 MB at 1024 px
        pe = out.get("maskmem_pos_enc")
        if isinstance(pe, torch.Tensor):
            shared = self._pos_enc
            if shared is not None and shared.shape == pe.shape and torch.equal(shared, pe):
                out["maskmem_pos_enc"] = shared
            else:
                self._pos_enc = pe

    def clear_frame(self, frame_idx: int, obj_id: int) -> None:
        """Forget the object's prompts on a frame; its output stays as memory (as in Meta's)."""
        i = self.idx(obj_id)
        if i is None:
            return
        s, f = self.session, frame_idx
        s.remove_point_inputs(i, f)
        s.remove_mask_inputs(i, f)
        d = self._outputs(i)
        out = d["cond_frame_outputs"].pop(f, None)
        if out is not None:
            d["non_cond_frame_outputs"][f] = out
            s.frames_tracked_per_obj[i].pop(f, None)

    def remove_object(self, obj_id: int) -> None:
        """Forget an object; the objects after it move up one index (as in Meta's)."""
        s = self.session
        gone = self.idx(obj_id)
        if gone is None:
            return
        if len(s.obj_ids) == 1:
            s.reset_tracking_data()  # (frames and cached features stay)
            return
        keep = [k for k in range(len(s.obj_ids)) if k != gone]
        new = {k: n for n, k in enumerate(keep)}
        ids = [s.obj_ids[k] for k in keep]
        s._obj_id_to_idx.clear()
        s._obj_id_to_idx.update((o, n) for n, o in enumerate(ids))
        s._obj_idx_to_id.clear()
        s._obj_idx_to_id.update((n, o) for n, o in enumerate(ids))
        s.obj_ids = ids
        for name in ("point_inputs_per_obj", "mask_inputs_per_obj", "output_dict_per_obj",
                     "frames_tracked_per_obj"):  # fmt: skip
            d = getattr(s, name)
            moved = {new[k]: v for k, v in d.items() if k in new}
            d.clear()
            d.update(moved)
        s.obj_with_new_inputs = [o for o in s.obj_with_new_inputs if o != obj_id]

    # -- tracking --------------------------------------------------------------------------
    def propagate(self, start: int, reverse: bool, max_frames: int | None) -> Iterator[Step]:
        """The model's step a frame at a time, from ``start`` (as Meta's, reverse from 0: none)."""
        s = self.session
        n = len(s.processed_frames)
        k = n if max_frames is None else max_frames
        if reverse:
            order = range(start, max(start - k, 0) - 1, -1) if start > 0 else range(0)
        else:
            order = range(start, min(start + k, n - 1) + 1)
        for f in order:
            conds = [f in self._outputs(i)["cond_frame_outputs"] for i in range(len(s.obj_ids))]
            with self.inference(), self.iou.recording() as ious:
                out = self.model(inference_session=s, frame_idx=f, reverse=reverse)
            ious_left = iter(ious)
            for i, c in enumerate(conds):
                key = "cond_frame_outputs" if c else "non_cond_frame_outputs"
                self._slim(self._outputs(i)[key][f])
                if c:  # Meta marks a prompted frame tracked too (a later click reads memory)
                    s.frames_tracked_per_obj[i][f] = {"reverse": reverse}
            yield Step(
                f,
                [int(o) for o in out.object_ids],
                self._video_size(out.pred_masks),
                conds,
                [float(v) for v in out.object_score_logits.float().flatten()],
                [None if c else next(ious_left, None) for c in conds],
            )

    def scratch(self) -> HFTracker:
        """An empty tracker over the same frames and model."""
        return HFTracker(self.engine, self.frames, self.size, self.corrections_as_cond)

    def out_of_memory(self, exc: BaseException, doing: str, num_objects: int) -> str | None:
        """If ``exc`` is the GPU running out of memory: free cached blocks, say what to do."""
        from .device import out_of_memory

        said = out_of_memory(exc, doing, num_objects, self.engine.name)
        if said is not None:
            self.session.cache.clear_all()
        return said

    def close(self) -> None:
        """Let go of the session's state."""
        self.session.reset_inference_session()

    # -- snapshots (fast undo and redo) ----------------------------------------------------
    def snapshot(self, obj_id: int, frame_idx: int) -> Any:
        """The object's inputs, outputs and tracked mark on a frame (references)."""
        i, s, f = self.idx(obj_id), self.session, frame_idx
        if i is None:
            return None
        d = self._outputs(i)
        return {
            "points": s.point_inputs_per_obj[i].get(f),
            "mask": s.mask_inputs_per_obj[i].get(f),
            "cond": d["cond_frame_outputs"].get(f),
            "non_cond": d["non_cond_frame_outputs"].get(f),
            "tracked": s.frames_tracked_per_obj[i].get(f),
        }

    def restore(self, obj_id: int, frame_idx: int, snap: Any) -> None:
        """Put back what :meth:`snapshot` saw."""
        i, s, f = self.idx(obj_id), self.session, frame_idx
        d = self._outputs(i)
        for where, key in (
            (s.point_inputs_per_obj[i], "points"),
            (s.mask_inputs_per_obj[i], "mask"),
            (d["cond_frame_outputs"], "cond"),
            (d["non_cond_frame_outputs"], "non_cond"),
            (s.frames_tracked_per_obj[i], "tracked"),
        ):
            if snap[key] is None:
                where.pop(f, None)
            else:
                where[f] = snap[key]

    def prompt_inputs(self, obj_id: int, frame_idx: int) -> Any:
        """What a prompt on the frame reads: its inputs and outputs, and nearby memory."""
        i, f = self.idx(obj_id), frame_idx
        if i is None:
            return ()
        own = tuple(self.snapshot(obj_id, f).values())
        way = self.tracked_way(obj_id, f)
        if way is None:
            return own
        d = self._outputs(i)
        step = 1 if way else -1
        near = tuple(
            d["non_cond_frame_outputs"].get(f + step * k) for k in range(1, self.window + 1)
        )
        return (*own, tuple(d["cond_frame_outputs"].items()), near)

    def same_inputs(self, a: Any, b: Any) -> bool:
        """Whether two :meth:`prompt_inputs` hold the very same objects."""
        return same_objects(a, b)

    # -- bounded memory --------------------------------------------------------------------
    def has_state(self, obj_id: int, frame_idx: int) -> bool:
        """Whether the object's output on a frame is still held."""
        i = self.idx(obj_id)
        if i is None:
            return False
        d = self._outputs(i)
        return frame_idx in d["cond_frame_outputs"] or frame_idx in d["non_cond_frame_outputs"]

    def release(self, frame_idx: int, pins: set[int]) -> None:
        """Drop outputs no later step reads, in either direction.

        Those are the outputs more than :attr:`window` frames from ``frame_idx`` and from every
        conditioning or pinned frame.
        """
        for d in self.session.output_dict_per_obj.values():
            anchors = [*d["cond_frame_outputs"], *pins]
            non = d["non_cond_frame_outputs"]
            for k in [k for k in non if abs(k - frame_idx) > self.window]:
                if not any(abs(k - a) <= self.window for a in anchors):
                    del non[k]

    # -- resume ----------------------------------------------------------------------------
    def _pieces(self, i: int) -> dict[str, dict]:
        s, d = self.session, self._outputs(i)
        return {
            "points": s.point_inputs_per_obj[i],
            "mask": s.mask_inputs_per_obj[i],
            "cond": d["cond_frame_outputs"],
            "non_cond": d["non_cond_frame_outputs"],
        }

    def frame_state(self, obj_id: int, frame_idx: int, memory: bool = False) -> bytes:
        """The object's prompts and output on a frame (``memory``: its tracked output) as bytes.

        The memory position encoding, the same on every frame, is saved once by
        :meth:`constants`; b"" when the frame holds nothing.
        """
        i = self.idx(obj_id)
        if i is None:
            return b""
        pieces = self._pieces(i)
        kinds = ("non_cond",) if memory else ("points", "mask", "cond")
        saved = {k: self._portable(pieces[k][frame_idx]) for k in kinds if frame_idx in pieces[k]}
        return to_bytes(saved) if saved else b""

    def _portable(self, value: Any) -> Any:
        if isinstance(value, dict) and "maskmem_pos_enc" in value:
            pe = value["maskmem_pos_enc"]
            value = {**value, "maskmem_pos_enc": True if pe is self._pos_enc else pe}
        return to_host(value)

    def constants(self) -> bytes:
        """The memory position encoding every frame shares (b"" before the first memory)."""
        return b"" if self._pos_enc is None else to_bytes(self._pos_enc)

    def put_objects(self, obj_ids: list[int]) -> None:
        """Register objects in this order."""
        for o in obj_ids:
            self.session.obj_id_to_idx(int(o))

    def put_constants(self, data: bytes) -> None:
        """Take back :meth:`constants`."""
        if data and self._pos_enc is None:
            self._pos_enc = from_bytes(data).to(self.engine.device)

    def put_frame_state(self, obj_id: int, frame_idx: int, data: bytes) -> None:
        """Take back :meth:`frame_state`."""
        if not data:
            return
        pieces = self._pieces(self.session.obj_id_to_idx(int(obj_id)))
        for k, v in from_bytes(data).items():
            if isinstance(v, dict) and v.get("maskmem_pos_enc") is True:
                if self._pos_enc is None:
                    raise ValueError("the memory position encoding is missing from the journal")
                v["maskmem_pos_enc"] = self._pos_enc
            pieces[k][frame_idx] = to_device(v, self.engine.device)

    def set_tracked(self, obj_id: int, frames: dict[int, bool]) -> None:
        """Take back which frames the object was tracked on, and which way."""
        i = self.idx(obj_id)
        if i is not None:
            marks = self.session.frames_tracked_per_obj[i]
            marks.update({int(f): {"reverse": bool(r)} for f, r in frames.items()})

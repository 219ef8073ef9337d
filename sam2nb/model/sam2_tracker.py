"""The Meta sam2 tracker: sam2's ``SAM2VideoPredictor`` and its inference state behind the seam.

:class:`Sam2Tracker` is the first :class:`~sam2nb.model.tracker.Tracker`. It owns sam2's
predictor and one inference state over a streamed video, and runs sam2 the way sam2nb needs
it (see :mod:`sam2nb.model.adapter` for each patch and why): without sam2's own progress bars,
with our correction policy, prompts answered by the uncompiled decoder, each step's predicted
IoU recorded, and a frame's image features let go before the next step computes its own.
It has every optional capability: snapshots (fast undo), bounded memory and resume.

Example:
    >>> t = sess.tracker  # sess: a session on the test model, a click on frame 0 for object 1
    >>> t.objects(), t.cond_frames(1), t.window
    ([1], [0], 15)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import adapter as S
from .tracker import Prompted, Step, inference, same_objects

MEMORY_PIECES = ("non_cond",)  # a tracked frame's memory (its prompts: adapter.PROMPT_PIECES)


class Sam2Tracker:
    """sam2's video predictor over one video (made by :meth:`Engine.tracker`).

    Args:
        engine: the loaded engine (its predictor, device and precision).
        frames: the frame source sam2 reads (a :class:`~sam2nb.media.frames.FrameStream`).
        size: the video's ``(width, height)``.
        offload_state: keep sam2's per-frame state in host memory.
        corrections_as_cond: a click on a tracked frame makes it a conditioning frame too.
    """

    def __init__(
        self,
        engine: Any,
        frames: Any,
        size: tuple[int, int],
        offload_state: bool = False,
        corrections_as_cond: bool = True,
    ):
        self.engine = engine
        self.predictor = engine.video_predictor
        self.frames = frames
        self.size = size
        self.corrections_as_cond = bool(corrections_as_cond)
        self.window = S.window(self.predictor)
        self.iou = S.recorder(self.predictor)
        with self.inference():
            self.state: dict = S.init_state(self.predictor, frames, *size, offload_state)

    def inference(self) -> contextlib.ExitStack:
        """No gradients, in the engine's precision."""
        return inference(self.engine)

    # -- objects and frames ----------------------------------------------------------------
    def idx(self, obj_id: int) -> int | None:
        """sam2's index of an object (None: sam2 has not seen it)."""
        return S.obj_idx(self.state, obj_id)

    def objects(self) -> list[int]:
        """The objects sam2 has seen, in its order."""
        return S.object_order(self.state)

    def has_object(self, obj_id: int) -> bool:
        """Whether sam2 has seen a prompt for the object."""
        return self.idx(obj_id) is not None

    def prompt_frames(self, obj_id: int) -> set[int]:
        """Frames where the object has click or mask inputs."""
        return S.prompt_frames(self.state, self.idx(obj_id))

    def cond_frames(self, obj_id: int) -> list[int]:
        """The object's conditioning frames (pending prompts included)."""
        return S.cond_frames(self.state, self.idx(obj_id))

    def tracked(self, obj_id: int) -> dict[int, bool]:
        """``{frame_idx: reverse}`` of the frames sam2 tracked the object on."""
        return S.tracked(self.state, obj_id) if self.has_object(obj_id) else {}

    def tracked_way(self, obj_id: int, frame_idx: int) -> bool | None:
        """How sam2 tracked the object on a frame (True backward; None: it did not)."""
        idx = self.idx(obj_id)
        return None if idx is None else S.tracked_way(self.state, idx, frame_idx)

    def features_ready(self, frame_idx: int) -> bool:
        """Whether sam2 holds the frame's image features."""
        return S.features_cached(self.state, int(frame_idx))

    def state_frames(self) -> int:
        """How many per-frame tracking states sam2 holds (all objects)."""
        return S.state_frames(self.state)

    # -- prompts ---------------------------------------------------------------------------
    def add_points(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any, clear: bool = False
    ) -> Prompted:
        """Clicks on a frame (sam2's ``add_new_points_or_box``)."""
        p = self.predictor
        return self._prompt(frame_idx, obj_id, lambda: p.add_new_points_or_box(
            self.state, frame_idx, obj_id, points=points, labels=labels, clear_old_points=clear
        ))  # fmt: skip

    def add_box(
        self, frame_idx: int, obj_id: int, box: Any, points: Any = None, labels: Any = None
    ) -> Prompted:
        """A box and optional clicks on a frame."""
        p = self.predictor
        return self._prompt(frame_idx, obj_id, lambda: p.add_new_points_or_box(
            self.state, frame_idx, obj_id, points=points, labels=labels, box=box
        ))  # fmt: skip

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> Prompted:
        """A mask at video resolution as the frame's prompt (sam2's ``add_new_mask``)."""
        p = self.predictor
        return self._prompt(
            frame_idx, obj_id, lambda: p.add_new_mask(self.state, frame_idx, obj_id, mask)
        )

    def _prompt(self, f: int, o: int, run: Any) -> Prompted:
        idx = self.idx(o)
        snap = None if idx is None else S.snapshot(self.state, idx, f)
        try:
            with self.inference(), S.sam2_flags(self.predictor, self.corrections_as_cond):
                with self.iou.recording() as ious, S.eager_prompts(self.predictor):
                    _, obj_ids, masks = run()
        except BaseException:
            if idx is not None:  # a failed prompt leaves sam2 as it was
                S.restore(self.state, idx, f, snap)
            elif self.has_object(o):  # it was the object's first prompt
                with self.inference():
                    self.predictor.remove_object(self.state, o, need_output=False)
            raise
        out = S.output(self.state, self.idx(o), f)
        score = float(out["object_score_logits"].float().flatten()[0]) if out is not None else 1.0
        i = obj_ids.index(o)
        return Prompted(masks[i, 0], score, ious[-1] if ious else None)

    def clear_frame(self, frame_idx: int, obj_id: int) -> None:
        """Forget the object's prompts on a frame (sam2 keeps its output as memory)."""
        if self.has_object(obj_id):
            with self.inference():
                self.predictor.clear_all_prompts_in_frame(
                    self.state, frame_idx, obj_id, need_output=False
                )

    def remove_object(self, obj_id: int) -> None:
        """Forget an object."""
        if self.has_object(obj_id):
            with self.inference():
                self.predictor.remove_object(self.state, obj_id, need_output=False)

    # -- tracking --------------------------------------------------------------------------
    def propagate(self, start: int, reverse: bool, max_frames: int | None) -> Iterator[Step]:
        """sam2's ``propagate_in_video``, a :class:`Step` a frame.

        Before each step after the first, the last frame's image features go: they are of no
        use to the next step, and sam2 replaces them only after computing its own (both would
        be held at once). The first step may start on the frame just prompted, whose features
        it reuses.
        """
        gen = self.predictor.propagate_in_video(
            self.state, start_frame_idx=start, max_frame_num_to_track=max_frames, reverse=reverse
        )
        try:
            first = True
            while True:
                if not first:
                    self.state["cached_features"].clear()
                first = False
                try:
                    with (
                        self.inference(),
                        S.sam2_flags(self.predictor, self.corrections_as_cond),
                        self.iou.recording() as ious,
                    ):
                        f, obj_ids, masks = next(gen)
                except StopIteration:
                    return
                marks = S.record_step(self.state, f, len(obj_ids), reverse)
                it = iter(ious)
                conds = [c for c, _ in marks]
                yield Step(
                    f,
                    list(obj_ids),
                    masks[:, 0],
                    conds,
                    [s for _, s in marks],
                    [None if c else next(it, None) for c in conds],
                )
        finally:
            gen.close()

    def scratch(self) -> Sam2Tracker:
        """An empty tracker over the same frames (sam2's state made afresh)."""
        return Sam2Tracker(self.engine, self.frames, self.size, False, self.corrections_as_cond)

    def out_of_memory(self, exc: BaseException, doing: str, num_objects: int) -> str | None:
        """If ``exc`` is the GPU running out of memory: free cached blocks, say what to do."""
        if not S.is_oom(exc):
            return None
        S.free_memory(self.state)
        return S.oom_message(doing, num_objects, self.engine.name)

    def close(self) -> None:
        """Let go of sam2's state."""
        self.state = {}

    # -- snapshots (fast undo and redo) ----------------------------------------------------
    def snapshot(self, obj_id: int, frame_idx: int) -> Any:
        """sam2's inputs and outputs of the frame for the object (references)."""
        idx = self.idx(obj_id)
        return None if idx is None else S.snapshot(self.state, idx, frame_idx)

    def restore(self, obj_id: int, frame_idx: int, snap: Any) -> None:
        """Put back what :meth:`snapshot` saw."""
        S.restore(self.state, self.idx(obj_id), frame_idx, snap)

    def prompt_inputs(self, obj_id: int, frame_idx: int) -> Any:
        """What a prompt on the frame reads (see :func:`~sam2nb.model.adapter.prompt_inputs`)."""
        idx = self.idx(obj_id)
        return () if idx is None else S.prompt_inputs(self.state, idx, frame_idx, self.window)

    def same_inputs(self, a: Any, b: Any) -> bool:
        """Whether two :meth:`prompt_inputs` hold the very same objects."""
        return same_objects(a, b)

    # -- bounded memory --------------------------------------------------------------------
    def has_state(self, obj_id: int, frame_idx: int) -> bool:
        """Whether sam2 still holds the object's state on a frame."""
        idx = self.idx(obj_id)
        return idx is not None and S.has_state(self.state, idx, frame_idx)

    def release(self, frame_idx: int, pins: set[int]) -> None:
        """Release state more than :attr:`window` frames from ``frame_idx``."""
        S.prune(self.state, frame_idx, self.window, pins)

    # -- resume ----------------------------------------------------------------------------
    def frame_state(self, obj_id: int, frame_idx: int, memory: bool = False) -> bytes:
        """The object's prompt state on a frame (``memory``: its tracking memory) as bytes."""
        if memory:
            return S.frame_state(self.state, obj_id, frame_idx, MEMORY_PIECES)
        return S.frame_state(self.state, obj_id, frame_idx)

    def constants(self) -> bytes:
        """sam2's state shared by all frames."""
        return S.constants(self.state)

    def put_objects(self, obj_ids: list[int]) -> None:
        """Register objects in this order."""
        S.add_objects(self.predictor, self.state, obj_ids)

    def put_constants(self, data: bytes) -> None:
        """Take back :meth:`constants`."""
        S.put_constants(self.state, data)

    def put_frame_state(self, obj_id: int, frame_idx: int, data: bytes) -> None:
        """Take back :meth:`frame_state`."""
        S.put_frame_state(self.predictor, self.state, obj_id, frame_idx, data)

    def set_tracked(self, obj_id: int, frames: dict[int, bool]) -> None:
        """Take back which frames the object was tracked on."""
        if self.has_object(obj_id):
            S.set_tracked(self.predictor, self.state, obj_id, frames)

    def load_v1(self, saved: dict) -> None:
        """Take back a whole state saved by sam2nb's first session format (``state.pt``)."""
        S.load_state(self.predictor, self.state, saved)

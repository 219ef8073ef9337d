"""What a session asks of a video tracker: the one seam every model library is wrapped behind.

A :class:`~sam2nb.Session` never calls a model library. It owns a :class:`Tracker` (made by
its engine, :meth:`~sam2nb.model.engine.Engine.tracker`) and asks it for exactly this: objects
and their prompts, one propagation step at a time with its scores, and clearing or removing
prompts. What only some trackers can do is a capability of its own, checked once with
``isinstance``:

- :class:`Snapshots`: put a frame back as it was (fast undo and redo, a failed prompt);
- :class:`BoundedMemory`: release per-frame state outside the model's memory window;
- :class:`Resumable`: write its state to the session's journal and read it back, so a resumed
  session tracks on exactly where it stopped.

The Meta sam2 adapter (:class:`~sam2nb.model.sam2_tracker.Sam2Tracker`) has them all.

Example:
    >>> t = sess.tracker  # sess: a session on the test model
    >>> isinstance(t, Tracker), isinstance(t, Snapshots), isinstance(t, Resumable)
    (True, True, True)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass
class Prompted:
    """A prompt's answer for its object: the mask logits at video size, and two scores.

    Attributes:
        logits: ``(H, W)`` mask logits at video resolution (above 0: the object).
        score: the object-score logit (above 0: the object is visible).
        iou: the model's predicted IoU of the mask (None if it gives none).
    """

    logits: Any
    score: float
    iou: float | None


@dataclass
class Step:
    """One propagation step: a frame's masks for every tracked object.

    Attributes:
        frame_idx: the frame.
        obj_ids: the objects, in the tracker's order.
        logits: ``(N, H, W)`` mask logits at video resolution, one per object.
        conds: per object, whether the frame is one of its prompted (conditioning) frames.
        scores: per object, the object-score logit.
        ious: per object, the predicted IoU (None on a prompted frame: it keeps its prompt's).
    """

    frame_idx: int
    obj_ids: list[int]
    logits: Any
    conds: list[bool]
    scores: list[float]
    ious: list[float | None]


@runtime_checkable
class Tracker(Protocol):
    """Everything a session asks of a video tracker over one video.

    ``window`` is how many frames back a tracking step reads (memories and object pointers).
    """

    window: int
    corrections_as_cond: bool

    def objects(self) -> list[int]:
        """The objects the tracker has seen a prompt for, in its order."""
        ...

    def has_object(self, obj_id: int) -> bool:
        """Whether the tracker has seen a prompt for ``obj_id``."""
        ...

    def prompt_frames(self, obj_id: int) -> set[int]:
        """Frames where the object has click or mask inputs."""
        ...

    def cond_frames(self, obj_id: int) -> list[int]:
        """The object's prompted (conditioning) frames, pending prompts included."""
        ...

    def tracked(self, obj_id: int) -> dict[int, bool]:
        """``{frame_idx: reverse}`` of the frames the object was tracked on."""
        ...

    def tracked_way(self, obj_id: int, frame_idx: int) -> bool | None:
        """How the object was tracked on a frame: True backward, False forward, None not."""
        ...

    def add_points(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any, clear: bool
    ) -> Prompted:
        """Clicks on a frame (a failed prompt leaves the tracker as it was)."""
        ...

    def add_box(self, frame_idx: int, obj_id: int, box: Any, points: Any, labels: Any) -> Prompted:
        """A box (with optional clicks) on a frame; it replaces the frame's earlier prompts."""
        ...

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> Prompted:
        """A mask ``(H, W)`` bool at video resolution as the frame's prompt."""
        ...

    def clear_frame(self, frame_idx: int, obj_id: int) -> None:
        """Forget the object's prompts on a frame."""
        ...

    def remove_object(self, obj_id: int) -> None:
        """Forget an object, its prompts and its state."""
        ...

    def propagate(self, start: int, reverse: bool, max_frames: int | None) -> Iterator[Step]:
        """Track every object from ``start``, one :class:`Step` a frame (closing it ends it)."""
        ...

    def features_ready(self, frame_idx: int) -> bool:
        """Whether a prompt on the frame needs no image encoder run."""
        ...

    def state_frames(self) -> int:
        """How many per-frame states the tracker holds (all objects)."""
        ...

    def scratch(self) -> Tracker:
        """A new, empty tracker over the same frames and model (the drift check's)."""
        ...

    def out_of_memory(self, exc: BaseException, doing: str, num_objects: int) -> str | None:
        """If ``exc`` is the device running out of memory: free what can be, say what to do."""
        ...

    def inference(self) -> Any:
        """The context the model runs in (no gradients, the engine's precision)."""
        ...

    def close(self) -> None:
        """Let go of every state the tracker holds."""
        ...


@runtime_checkable
class Snapshots(Protocol):
    """A tracker that can put one object's frame back as it was (fast undo and redo)."""

    def snapshot(self, obj_id: int, frame_idx: int) -> Any:
        """What a prompt on the frame may change for the object (references, not copies)."""
        ...

    def restore(self, obj_id: int, frame_idx: int, snap: Any) -> None:
        """Put back what :meth:`snapshot` saw."""
        ...

    def prompt_inputs(self, obj_id: int, frame_idx: int) -> Any:
        """Everything a prompt on the frame reads for the object (see :meth:`same_inputs`)."""
        ...

    def same_inputs(self, a: Any, b: Any) -> bool:
        """Whether two :meth:`prompt_inputs` answers are the very same inputs."""
        ...


@runtime_checkable
class BoundedMemory(Protocol):
    """A tracker whose per-frame state outside the memory window can be released."""

    def has_state(self, obj_id: int, frame_idx: int) -> bool:
        """Whether the object's state on a frame is still held."""
        ...

    def release(self, frame_idx: int, pins: set[int]) -> None:
        """Release state more than ``window`` frames from ``frame_idx`` (prompts and pins stay)."""
        ...


@runtime_checkable
class Resumable(Protocol):
    """A tracker whose state goes into the session's journal and comes back from it."""

    def frame_state(self, obj_id: int, frame_idx: int, memory: bool = False) -> bytes:
        """One object's prompt state on a frame (``memory``: its tracking memory), as bytes."""
        ...

    def constants(self) -> bytes:
        """State shared by every frame (computed once), as bytes."""
        ...

    def put_objects(self, obj_ids: list[int]) -> None:
        """Register objects in this order (before their state comes back)."""
        ...

    def put_constants(self, data: bytes) -> None:
        """Take back :meth:`constants`."""
        ...

    def put_frame_state(self, obj_id: int, frame_idx: int, data: bytes) -> None:
        """Take back :meth:`frame_state`."""
        ...

    def set_tracked(self, obj_id: int, frames: dict[int, bool]) -> None:
        """Take back which frames the object was tracked on, and which way."""
        ...


def inference(engine: Any) -> contextlib.ExitStack:
    """The context a tracker runs its model in: no gradients, the engine's precision."""
    import torch

    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    stack.enter_context(engine.autocast())
    return stack


def same_objects(a: Any, b: Any) -> bool:
    """Whether two nests of tuples hold the very same objects (numbers and None: equal).

    What a snapshot's ``prompt_inputs`` are compared with: the same references mean the model
    would read the same inputs.

    Example:
        >>> x = object()
        >>> same_objects((x, None, (1, True)), (x, None, (1, True)))
        True
        >>> same_objects((x,), (object(),))
        False
    """
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same_objects(x, y) for x, y in zip(a, b, strict=True))
    if a is None or isinstance(a, (bool, int)):
        return type(a) is type(b) and a == b
    return a is b


# -- the decoder's predicted IoU ---------------------------------------------------------------
class IouSink:
    """The predicted IoUs a model's decoder reports, collected per thread while recording.

    Each adapter wraps its model's decoder step (see :func:`iou_sink`) to :meth:`put` the IoU
    of the mask it chose; a tracker reads them with :meth:`recording`.

    Example:
        >>> sink = IouSink()
        >>> with sink.recording() as ious:
        ...     sink.put(0.9)
        >>> sink.put(0.5)  # not recording: dropped
        >>> ious
        [0.9]
    """

    def __init__(self) -> None:
        self.local = threading.local()

    @property
    def active(self) -> bool:
        """Whether this thread is recording (compute an IoU only then)."""
        return getattr(self.local, "sink", None) is not None

    def put(self, value: float | None) -> None:
        """Record one decoder run's IoU (None: a mask prompt, no IoU) if this thread records."""
        sink = getattr(self.local, "sink", None)
        if sink is not None:
            sink.append(value)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list]:
        """Collect the IoUs of the decoder runs inside the block."""
        self.local.sink = sink = []
        try:
            yield sink
        finally:
            self.local.sink = None


def iou_sink(model: Any, install: Callable[[Any, IouSink], None]) -> IouSink:
    """The model's :class:`IouSink`, made and ``install(model, sink)`` run on first use only."""
    sink = model.__dict__.get("_sam2nb_iou")
    if sink is None:
        sink = IouSink()
        install(model, sink)
        model.__dict__["_sam2nb_iou"] = sink
    return sink


# -- state as bytes (for the journal) --------------------------------------------------------
def to_host(x: Any) -> Any:
    """Tensors inside dicts and lists, detached and copied to the host.

    Example:
        >>> import torch
        >>> to_host({"a": [torch.ones(1)]})["a"][0].device.type
        'cpu'
    """
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, dict):
        return {k: to_host(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_host(v) for v in x]
    return x


def to_device(x: Any, device: Any) -> Any:
    """Tensors inside dicts and lists, moved to ``device``."""
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    if isinstance(x, list):
        return [to_device(v, device) for v in x]
    return x


def to_bytes(value: Any) -> bytes:
    """``torch.save`` into bytes (tensors, dicts, lists and plain values)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(value, buf)
    return buf.getvalue()


def from_bytes(data: bytes) -> Any:
    """What :func:`to_bytes` saved, on the host (``weights_only``: no code is run).

    Example:
        >>> from_bytes(to_bytes({"x": 1}))
        {'x': 1}
    """
    import io

    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

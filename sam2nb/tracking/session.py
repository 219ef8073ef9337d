"""A tracking session: objects, prompts and propagation over a streamed video.

It wraps sam2's ``SAM2VideoPredictor`` and its inference state (see :mod:`sam2nb.sam2state`)
and never runs the model itself; results go to a :class:`~sam2nb.store.ResultStore`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..base.colors import default_color, parse_color
from ..base.errors import OutOfMemory, PromptError, Sam2nbError, SessionBusy, SessionError
from ..media.frames import FrameStream
from ..media.video import VideoSource, open_video
from ..model import adapter as S
from ..model import engine as modelmod
from ..model.device import trim_heap
from .converge import Settled
from .journal import VideoJournaled
from .log import (
    AddObject,
    Box,
    ClearFrame,
    Entry,
    Mask,
    Points,
    PromptLog,
    RemoveObject,
    RenameObject,
)
from .memory import MemoryWindow
from .prompts import TrackedObject, check_box, check_mask, check_obj_id, check_points
from .propagation import Propagation
from .runs import KEEPS_RUN, Runs
from .store import FrameResult, ResultStore
from .undo import FastUndo, RedoPoint, UndoPoint

MEMORY_MODES = ("auto", "full", "bounded")
AUTO_FULL_MAX_FRAMES = 500  # "auto" keeps every frame's state up to this many frames


class Session(Propagation, VideoJournaled, MemoryWindow, Runs, FastUndo):
    """Track objects through a video with sam2's video predictor, frames streamed.

    Args:
        video: a path, a frame folder, frames, or a :class:`~sam2nb.VideoSource`.
        engine: from :func:`sam2nb.load` (default: the kernel's current engine).
        memory: ``"full"`` keeps every frame's tracking state (like sam2: corrections anywhere
            are instant; device memory grows with the video); ``"bounded"`` releases state
            outside the model's memory window (flat memory; a correction far from any prompt
            first re-tracks from the nearest prompt); ``"auto"``: full up to 500 frames.
        results: a file to keep results in (spill to disk); default in memory.
        prefetch: frames to decode ahead in a background thread.
        offload_state: keep sam2's per-frame state in host memory instead of on the GPU.
        corrections_as_cond: a click on an already tracked frame also makes that frame a
            conditioning frame (kept in memory for the whole video, never overwritten by a
            later propagation). False is sam2's default.
        resize: how frames reach the model's size (see :class:`~sam2nb.FrameStream`):
            ``"auto"`` matches sam2's own loaders exactly.
        folder: keep the session in this folder as it happens (see
            :mod:`sam2nb.tracking.journal`): every prompt and tracked frame is on disk when the
            call returns or the frame finishes. It must not hold a session already (resume one
            with :func:`sam2nb.open_session`).

    Example:
        >>> import sam2nb as s2
        >>> sess = s2.Session(s2.open_video(clip, end=8), s2.load("test"))  # clip: a video file
        >>> sess.add_object(name="disc")
        TrackedObject(obj_id=1, name='disc', color=(31, 119, 180))
        >>> sess.add_points(0, 1, [(120, 180)], [1]).obj_ids
        [1]
        >>> [fr.frame_idx for fr in sess.propagate(progress=False)]
        [0, 1, 2, 3, 4, 5, 6, 7]
    """

    def __init__(
        self,
        video: Any,
        engine: modelmod.Engine | None = None,
        *,
        memory: str = "auto",
        results: Any = None,
        prefetch: int = 8,
        offload_state: bool = False,
        corrections_as_cond: bool = True,
        resize: str = "auto",
        folder: Any = None,
    ):
        if memory not in MEMORY_MODES:
            raise SessionError(f"memory must be one of {MEMORY_MODES}, got {memory!r}.")
        engine = engine or modelmod.current()
        if engine is None:
            raise SessionError(
                "No model is loaded: call sam2nb.load('tiny') first, or pass engine=."
            )
        self.engine = engine
        self.video: VideoSource = open_video(video)
        self.predictor = engine.video_predictor
        n = len(self.video)
        self.memory = (
            ("full" if n <= AUTO_FULL_MAX_FRAMES else "bounded") if memory == "auto" else memory
        )
        self.corrections_as_cond = bool(corrections_as_cond)
        self.window = S.window(self.predictor)  # frames of state a tracking step reads
        self.frames = FrameStream(self.video, engine.image_size, engine.device, prefetch, resize)
        if isinstance(results, ResultStore):
            self.results = results
        else:
            self.results = ResultStore(self.video.width, self.video.height, results)
        self.objects: dict[int, TrackedObject] = {}
        self.log = PromptLog()
        self.journal = None
        self.resumed: str | None = None  # what a resume brought back, in words
        self.moved_aside: Path | None = None  # where open_session(fresh=True) moved the old one
        self.dirty: set[int] = set()  # prompted frames not tracked since
        self._pins: set[int] = set()
        self._run: dict | None = None  # the propagation in progress, stopped or killed
        self.settled: list[Settled] = []  # where the last propagation's passes converged
        self._undo_point: UndoPoint | None = None  # what the last prompt replaced
        self._undo_len = 0
        self._redo_point: RedoPoint | None = None  # what the last fast undo took back
        self._constants_saved = False
        self._busy = threading.Lock()
        self._stop = threading.Event()
        self._iou = S.recorder(self.predictor)
        self._trim = getattr(getattr(engine, "device", None), "type", "cpu") == "cpu"
        self.state = self._init_state(offload_state)
        self._progress: list[Callable[[str, int, int], None]] = []
        if folder is not None:
            self.attach(folder)

    # -- the journal -----------------------------------------------------------------------
    def attach(self, folder: Any) -> Path:
        """Keep the session in ``folder`` from now on: what it has, then every change at once.

        The folder must not hold a session already (resume one with :func:`sam2nb.open_session`).
        """
        from .persist import attach

        return attach(self, folder)

    def on_progress(self, callback: Callable[[str, int, int], None], remove: bool = False) -> None:
        """Call ``callback(what, done, total)`` during slow work a click or a resume starts.

        Re-tracking released frames before a correction is the slow work: headless it shows a
        progress bar; an app shows it in its own. :meth:`stop` ends it (the click is not made).

        Example:
            >>> seen = []
            >>> sess.on_progress(lambda what, done, total: seen.append(done))
            >>> sess.on_progress(seen.append, remove=True)  # not registered: nothing happens
        """
        if remove:
            if callback in self._progress:
                self._progress.remove(callback)
        else:
            self._progress.append(callback)

    # -- sam2 plumbing ---------------------------------------------------------------------
    def _init_state(self, offload_state: bool) -> dict:
        w, h = self.video.size
        try:
            with self._ctx():
                state = S.init_state(self.predictor, self.frames, w, h, offload_state)
            if self._trim:
                trim_heap()  # frame 0's features are computed: the encoder's activations go back
            return state
        except Exception as exc:
            self.frames.close()
            raise self._translate(exc, "opening the session") from exc

    def _ctx(self) -> contextlib.ExitStack:
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(self.engine.autocast())
        return stack

    def _obj_idx(self, obj_id: int) -> int | None:
        return S.obj_idx(self.state, obj_id)

    def _cond_frames(self, obj_id: int) -> list[int]:
        return S.cond_frames(self.state, self._obj_idx(obj_id))

    def prompt_frames(self, obj_id: int | None = None) -> list[int]:
        """Frames with prompts (for one object, or any)."""
        ids = list(self.objects) if obj_id is None else [self._check_obj(obj_id)]
        frames: set[int] = set()
        for o in ids:
            frames |= S.prompt_frames(self.state, self._obj_idx(o))
        return sorted(frames)

    def _translate(self, exc: BaseException, doing: str) -> BaseException:
        if isinstance(exc, Sam2nbError):
            return exc
        if S.is_oom(exc):
            S.free_memory(getattr(self, "state", None))
            return OutOfMemory(S.oom_message(doing, len(self.objects), self.engine.name))
        return exc

    # -- checks ----------------------------------------------------------------------------
    def _check_idle(self) -> None:
        if self._busy.locked():
            raise SessionBusy(
                "The session is busy: a propagation or another edit is running. Wait for it (or"
                " call session.stop()), then try again."
            )

    def _check_frame(self, frame_idx: Any) -> int:
        n = len(self.video)
        if isinstance(frame_idx, bool) or not isinstance(frame_idx, (int, np.integer)):
            raise SessionError(f"frame_idx must be an integer, got {frame_idx!r}.")
        if not 0 <= int(frame_idx) < n:
            raise SessionError(
                f"frame_idx {frame_idx} is out of range: the video has {n} frames (0..{n - 1})."
            )
        return int(frame_idx)

    def _check_obj(self, obj_id: Any) -> int:
        oid = check_obj_id(obj_id)
        if oid not in self.objects:
            known = list(self.objects) or "none yet"
            raise SessionError(
                f"There is no object {oid} (objects: {known}): add it with "
                f"session.add_object({oid})."
            )
        return oid

    # -- objects ---------------------------------------------------------------------------
    def add_object(
        self, obj_id: int | None = None, name: str | None = None, color: Any = None
    ) -> TrackedObject:
        """Add an object to track (it needs a prompt before propagation).

        Example:
            >>> sess.add_object(name="dog", color="orange")
            TrackedObject(obj_id=2, name='dog', color=(255, 165, 0))
        """
        self._check_idle()
        oid = max(self.objects, default=0) + 1 if obj_id is None else check_obj_id(obj_id)
        if oid in self.objects:
            raise SessionError(f"Object {oid} exists already; pick another obj_id or leave it out.")
        rgb = default_color(oid) if color is None else parse_color(color)
        obj = TrackedObject(oid, str(name) if name is not None else f"object {oid}", rgb)
        self.objects[oid] = obj
        with self._tx():
            self._log(AddObject(oid, obj.name, rgb))
        return obj

    def rename_object(
        self, obj_id: int, name: str | None = None, color: Any = None
    ) -> TrackedObject:
        """Give an object another name or colour (None: keep it); logged like any change.

        Example:
            >>> sess.rename_object(1, name="cat", color="#ff8000")
            TrackedObject(obj_id=1, name='cat', color=(255, 128, 0))
            >>> sess.log[-1]
            RenameObject(obj_id=1, name='cat', color=(255, 128, 0))
        """
        self._check_idle()
        oid = self._check_obj(obj_id)
        obj = self.objects[oid]
        rgb = None if color is None else parse_color(color)
        if name is not None:
            obj.name = str(name)
        if rgb is not None:
            obj.color = rgb
        with self._tx():
            self._log(RenameObject(oid, None if name is None else str(name), rgb))
        return obj

    def remove_object(self, obj_id: int) -> None:
        """Remove an object, its prompts and its results."""
        self._check_idle()
        oid = self._check_obj(obj_id)
        if self._obj_idx(oid) is not None:
            with self._ctx():
                self.predictor.remove_object(self.state, oid, need_output=False)
        del self.objects[oid]
        with self._tx():
            self.results.delete(obj_id=oid)
            self._log(RemoveObject(oid))
            if self.journal is not None:
                self.journal.forget(oid)
                self.journal.put("obj_order", S.object_order(self.state))

    # -- prompts ---------------------------------------------------------------------------
    def add_points(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any = None, *, clear: bool = False
    ) -> FrameResult:
        """Click on a frame: points ``(x, y)`` in video pixels, labels 1 (positive) / 0 (negative).

        Clicks add to the frame's earlier clicks (``clear=True`` replaces them). A click on a
        frame that was already tracked is a correction: the next :meth:`propagate` starts there.

        Example:
            >>> fr = sess.add_points(0, 1, [(125, 170)], [0])  # a negative click
            >>> fr.frame_idx, fr.records[1].area > 0, sess.log.get(0, 1).labels
            (0, True, [1, 0])
        """
        f, o = self._check_frame(frame_idx), self._check_obj(obj_id)
        pts, lab = check_points(points, labels, *self.video.size)
        if pts is None:
            raise PromptError("add_points needs at least one point.")
        e = Points(f, o, pts.tolist(), lab.tolist(), clear)
        return self._prompt(
            f, o, e,
            lambda: self.predictor.add_new_points_or_box(
                self.state, f, o, points=pts, labels=lab, clear_old_points=clear
            ),
        )  # fmt: skip

    def add_box(
        self, frame_idx: int, obj_id: int, box: Any, points: Any = None, labels: Any = None
    ) -> FrameResult:
        """Prompt with a box ``[x0, y0, x1, y1]`` in video pixels (and optional clicks).

        A box replaces the frame's earlier prompts for this object.

        Example:
            >>> sess.add_box(4, 1, [130, 150, 180, 210]).frame_idx
            4
            >>> sess.prompt_frames(1)
            [0, 4]
        """
        f, o = self._check_frame(frame_idx), self._check_obj(obj_id)
        b = check_box(box, *self.video.size)
        if b is None:
            raise PromptError("add_box needs a box [x0, y0, x1, y1].")
        pts, lab = check_points(points, labels, *self.video.size)
        e = Box(f, o, b.tolist(), None if pts is None else pts.tolist(),
                None if lab is None else lab.tolist())  # fmt: skip
        p = self.predictor
        return self._prompt(
            f,
            o,
            e,
            lambda: p.add_new_points_or_box(self.state, f, o, points=pts, labels=lab, box=b),
        )

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> FrameResult:
        """Prompt with a mask ``(H, W)`` (bool) at video resolution.

        Example:
            >>> mask = np.zeros((360, 640), bool); mask[160:200, 100:140] = True
            >>> sess.add_mask(2, 1, mask).frame_idx, sess.log.get(2, 1).mask["size"]
            (2, [360, 640])
        """
        f, o = self._check_frame(frame_idx), self._check_obj(obj_id)
        m, rle = check_mask(mask, *self.video.size)
        e = Mask(f, o, rle)
        return self._prompt(f, o, e, lambda: self.predictor.add_new_mask(self.state, f, o, m))

    def clear_frame(self, frame_idx: int, obj_id: int | None = None) -> FrameResult:
        """Remove the prompts on a frame (for one object, or all)."""
        self._check_idle()
        f = self._check_frame(frame_idx)
        ids = list(self.objects) if obj_id is None else [self._check_obj(obj_id)]
        with self._ctx(), self._tx():
            for o in ids:
                if self._obj_idx(o) is not None:
                    self.predictor.clear_all_prompts_in_frame(self.state, f, o, need_output=False)
                    if f not in self._cond_frames(o):
                        self.results.delete(obj_id=o, frames=[f])
                    self.results.mark_stale(o, f, keep=self._cond_frames(o))
            self.dirty.add(f)
            self._log(ClearFrame(f, None if obj_id is None else int(obj_id)))
            self._journal_prompts((o, f) for o in ids if self._obj_idx(o) is not None)
        return self.frame(f)

    def _prompt(self, f: int, o: int, log_entry: Entry, run: Callable[[], Any]) -> FrameResult:
        self._check_idle()
        with self._busy:
            # the one store read of a click: the frame's masks, and what this one replaces
            on_frame = self.results.frame(f)
            rec = on_frame.get(o)
            retracked = rec is not None and self._ensure_memory(f, o, rec.reverse, "the click")
            if retracked:
                on_frame = self.results.frame(f)  # re-tracked: the frame was written again
                rec = on_frame.get(o)
            idx = self._obj_idx(o)
            snap = None if idx is None else S.snapshot(self.state, idx, f)
            try:
                with self._ctx(), S.sam2_flags(self.predictor, self.corrections_as_cond):
                    with self._iou.recording() as ious, S.eager_prompts(self.predictor):
                        _, obj_ids, masks = run()
            except BaseException as exc:
                if idx is not None:
                    S.restore(self.state, idx, f, snap)
                elif self._obj_idx(o) is not None:  # it was the object's first prompt
                    with self._ctx():
                        self.predictor.remove_object(self.state, o, need_output=False)
                err = self._translate(exc, f"prompting frame {f}")
                if err is exc:
                    raise
                raise err from exc
            i = obj_ids.index(o)
            out = S.output(self.state, self._obj_idx(o), f)
            score = (
                float(out["object_score_logits"].float().flatten()[0]) if out is not None else 1.0
            )
            # (re-tracking merged sam2's pending outputs: an earlier edit's undo point is stale)
            prev = self.log[-1] if len(self.log) and not retracked else None
            with self._tx():  # the mask, the log entry and sam2's state: one commit
                (on_frame[o],) = self.results.put(
                    f, [o], masks[i : i + 1, 0], scores=[score],
                    ious=[ious[-1] if ious else None], reverse=bool(rec.reverse) if rec else False,
                )  # fmt: skip
                self.dirty.add(f)
                self._log(log_entry)
                self._journal_prompts([(o, f)])
                marked = tuple(self.results.mark_stale(o, f, keep=self._cond_frames(o)))
            self._undo_point = (
                None if idx is None else UndoPoint(log_entry, f, o, snap, rec, prev, marked)
            )
            self._undo_len = len(self.log)
        previous = {} if rec is None else {o: rec}
        return FrameResult(f, dict(sorted(on_frame.items())), {o: masks[i, 0]}, previous)

    def _log(self, e: Entry) -> None:
        if e.op not in KEEPS_RUN:
            self._run_forget()  # a prompt changed: a stopped run's frames are stale
        super()._log(e)

    # -- results ---------------------------------------------------------------------------
    def frame(self, frame_idx: int) -> FrameResult:
        """What is known about a frame (its records from the result store)."""
        f = self._check_frame(frame_idx)
        return FrameResult(f, self.results.frame(f))

    @property
    def untrained(self) -> bool:
        """True when the masks come from an untrained (random-weight) model."""
        return self.engine.untrained

    def frame_state(self, frame_idx: int, obj_id: int) -> str:
        """Where an object's mask on a frame comes from, in a word for titles and tables.

        ``"prompted"`` (a prompt on that frame), ``"tracked"``, ``"stale"`` (tracked before a
        later prompt change: the next propagation tracks it again) or ``"not tracked"``.

        Example:
            >>> sess.frame_state(0, 1), sess.frame_state(5, 1)  # sess: a click on frame 0
            ('prompted', 'not tracked')
        """
        f, o = self._check_frame(frame_idx), self._check_obj(obj_id)
        if f in self.prompt_frames(o):
            return "prompted"
        if self.results.get(f, o) is None:
            return "not tracked"
        return "stale" if self.results.is_stale(f, o) else "tracked"

    def masks(self, frame_idx: int) -> dict[int, np.ndarray]:
        """A frame's masks at video resolution, ``{obj_id: (H, W) bool}``."""
        return self.frame(frame_idx).masks()

    def features_ready(self, frame_idx: int) -> bool:
        """Whether a prompt on ``frame_idx`` needs no image encoder run (its features are held).

        Example:
            >>> sess.features_ready(0), sess.features_ready(5)  # sess: a click on frame 0
            (True, False)
        """
        return S.features_cached(self.state, int(frame_idx))

    def state_frames(self) -> int:
        """How many per-frame tracking states sam2 holds now (all objects)."""
        return S.state_frames(self.state)

    # -- saving ----------------------------------------------------------------------------
    def save(self, folder: Any = None) -> Any:
        """Save to a folder atomically; resume it with :func:`sam2nb.load_session`.

        See :func:`sam2nb.save_session`.
        """
        from .persist import save_session

        return save_session(self, folder)

    def close(self) -> None:
        """Release the prefetch thread, sam2's state and the folder (for another session)."""
        self.frames.close()
        self.state = {}
        self._release_folder()

    def __repr__(self) -> str:
        return (
            f"Session({self.video.name!r}, {len(self.video)} frames, {len(self.objects)} objects, "
            f"{len(self.results)} masks, memory={self.memory}, model {self.engine.label})"
        )

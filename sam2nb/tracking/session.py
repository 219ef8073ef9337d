"""A tracking session: objects, prompts and propagation over a streamed video.

It wraps sam2's ``SAM2VideoPredictor`` and its inference state (see :mod:`sam2nb.sam2state`)
and never runs the model itself; results go to a :class:`~sam2nb.store.ResultStore`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import OutOfMemory, PromptError, Sam2nbError, SessionBusy, SessionError
from ..media.frames import FrameStream
from ..media.video import VideoSource, open_video
from ..model import engine as modelmod
from ..model.device import out_of_memory, trim_heap
from ..model.tracker import Prompted, Tracker
from ..prompts.checks import (
    TrackedObject,
    check_box,
    check_mask,
    check_points,
    known_object,
    new_object,
    rename,
)
from ..prompts.log import (
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
from ..storage.store import FrameResult, ResultStore
from ..storage.writer import JournalWriter
from .converge import Settled
from .memory import MemoryWindow
from .propagation import Propagator
from .record import StateRecord
from .runs import KEEPS_RUN, RunRecord
from .undo import RedoPoint, UndoHistory, UndoPoint

MEMORY_MODES = ("auto", "full", "bounded")
AUTO_FULL_MAX_FRAMES = 500  # "auto" keeps every frame's state up to this many frames


class Session:
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
            :mod:`sam2nb.storage.journal`): every prompt and tracked frame is on disk when the
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
        n = len(self.video)
        self.memory = (
            ("full" if n <= AUTO_FULL_MAX_FRAMES else "bounded") if memory == "auto" else memory
        )
        self.frames = FrameStream(self.video, engine.image_size, engine.device, prefetch, resize)
        if isinstance(results, ResultStore):
            self.results = results
        else:
            self.results = ResultStore(self.video.width, self.video.height, results)
        self.objects: dict[int, TrackedObject] = {}
        self.log = PromptLog()
        self.resumed: str | None = None  # what a resume brought back, in words
        self.moved_aside: Path | None = None  # where open_session(fresh=True) moved the old one
        self.dirty: set[int] = set()  # prompted frames not tracked since
        self.settled: list[Settled] = []  # where the last propagation's passes converged
        self._busy = threading.Lock()
        self._stop = threading.Event()
        self._progress: list[Callable[[str, int, int], None]] = []
        self._trim = getattr(getattr(engine, "device", None), "type", "cpu") == "cpu"
        # the collaborators, each with its own state
        self.tracker: Tracker = self._open_tracker(offload_state, corrections_as_cond)
        self.writer = JournalWriter()
        self.record = StateRecord(self.writer, self.tracker)
        self.memory_window = MemoryWindow(self.tracker, n, self.memory)
        self.runs = RunRecord(n, self.writer)
        self.history = UndoHistory(self.tracker)
        self.propagator = Propagator(self)
        if folder is not None:
            self.folder = folder

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

    def report(self, what: str, done: int, total: int) -> None:
        """Tell the :meth:`on_progress` callbacks how slow work goes ("" when it ended)."""
        for cb in list(self._progress):
            cb(what, done, total)

    @property
    def trims(self) -> bool:
        """Whether freed memory goes back to the system after each step (on the CPU)."""
        return self._trim

    # -- the collaborators ------------------------------------------------------------------
    def _open_tracker(self, offload_state: bool, corrections_as_cond: bool) -> Tracker:
        try:
            tracker = self.engine.tracker(
                self.frames, self.video.size, offload_state=offload_state,
                corrections_as_cond=corrections_as_cond,
            )  # fmt: skip
            if self._trim:
                trim_heap()  # frame 0's features are computed: the encoder's activations go back
            return tracker
        except Exception as exc:
            self.frames.close()
            said = out_of_memory(exc, "opening the session", 0, self.engine.name)
            if said is None:
                raise
            raise OutOfMemory(said) from exc

    @property
    def window(self) -> int:
        """How many frames back a tracking step reads (the model's memory window)."""
        return self.tracker.window

    @property
    def corrections_as_cond(self) -> bool:
        """Whether a click on a tracked frame also makes it a conditioning frame."""
        return self.tracker.corrections_as_cond

    @property
    def journal(self) -> Any:
        """The session's journal (None: kept in memory only, or taken over by a newer one)."""
        return self.writer.journal

    @journal.setter
    def journal(self, j: Any) -> None:
        self.writer.journal = j

    @property
    def folder(self) -> Path | None:
        """The folder the session is kept in as it happens (None: in memory only).

        Setting it keeps a session made in memory in that folder from now on: what it has,
        then every change at once. The folder must not hold a session already (resume one with
        :func:`sam2nb.open_session`); a session kept in one folder stays there (copy it
        elsewhere with :meth:`save`).

        Example:
            >>> kept = s2.Session(clip, engine)
            >>> kept.folder = folder + "/kept"
            >>> kept.folder.name, (kept.folder / "results.sqlite").is_file()
            ('kept', True)
        """
        return self.writer.folder

    @folder.setter
    def folder(self, folder: Any) -> None:
        from .folder import attach

        attach(self, folder)

    def prompt_frames(self, obj_id: int | None = None) -> list[int]:
        """Frames with prompts (for one object, or any)."""
        ids = list(self.objects) if obj_id is None else [self.check_obj(obj_id)]
        frames: set[int] = set()
        for o in ids:
            frames |= self.tracker.prompt_frames(o)
        return sorted(frames)

    def cond_frames(self, obj_id: int) -> list[int]:
        """An object's prompted (conditioning) frames, as the tracker holds them."""
        return self.tracker.cond_frames(obj_id)

    def failure(self, exc: BaseException, doing: str) -> BaseException:
        """What to raise for ``exc`` met while ``doing`` (the device out of memory: in words)."""
        if isinstance(exc, Sam2nbError):
            return exc
        said = self.tracker.out_of_memory(exc, doing, len(self.objects))
        return exc if said is None else OutOfMemory(said)

    # -- for the session's collaborators (propagation, drift, converge, undo) ---------------
    @contextlib.contextmanager
    def exclusive(self, what: str = "an edit") -> Iterator[None]:
        """Hold the session for ``what``: nothing else runs meanwhile (else :class:`SessionBusy`).

        Example:
            >>> with sess.exclusive("a look"):
            ...     sess.running
            True
        """
        if not self._busy.acquire(blocking=False):
            raise SessionBusy(
                f"The session is busy (a propagation or another edit is running), so {what} "
                "cannot start: wait for it (or call session.stop()), then try again."
            )
        try:
            yield
        finally:
            self._busy.release()

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One commit for everything written inside: masks, log entries, the tracker's state."""
        return self.writer.transaction()

    def write(self, e: Entry) -> None:
        """Log an entry (in the journal too): a prompt change makes a stopped run stale."""
        if e.op not in KEEPS_RUN:
            self.runs.forget()  # a prompt changed: a stopped run's frames are stale
        self.writer.append(e)
        self.log.append(e)

    def keep_prompts(self, prompted: Iterable[tuple[int, int]]) -> None:
        """Write the tracker's state of these ``(obj_id, frame_idx)`` prompts to the journal."""
        self.record.prompts(prompted, self.dirty)

    # -- checks ----------------------------------------------------------------------------
    def check_idle(self) -> None:
        """Raise :class:`SessionBusy` while a propagation or another edit runs."""
        if self._busy.locked():
            raise SessionBusy(
                "The session is busy: a propagation or another edit is running. Wait for it (or"
                " call session.stop()), then try again."
            )

    def check_frame(self, frame_idx: Any) -> int:
        """``frame_idx`` as an int, or a :class:`SessionError` naming the video's range."""
        n = len(self.video)
        if isinstance(frame_idx, bool) or not isinstance(frame_idx, (int, np.integer)):
            raise SessionError(f"frame_idx must be an integer, got {frame_idx!r}.")
        if not 0 <= int(frame_idx) < n:
            raise SessionError(
                f"frame_idx {frame_idx} is out of range: the video has {n} frames (0..{n - 1})."
            )
        return int(frame_idx)

    def check_obj(self, obj_id: Any) -> int:
        """``obj_id`` as an int, or a :class:`SessionError` when there is no such object."""
        return known_object(self.objects, obj_id)

    # -- objects ---------------------------------------------------------------------------
    def add_object(
        self, obj_id: int | None = None, name: str | None = None, color: Any = None
    ) -> TrackedObject:
        """Add an object to track (it needs a prompt before propagation).

        Example:
            >>> sess.add_object(name="dog", color="orange")
            TrackedObject(obj_id=2, name='dog', color=(255, 165, 0))
        """
        self.check_idle()
        obj = new_object(self.objects, obj_id, name, color)
        self.objects[obj.obj_id] = obj
        with self.transaction():
            self.write(AddObject(obj.obj_id, obj.name, obj.color))
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
        self.check_idle()
        oid = self.check_obj(obj_id)
        obj = self.objects[oid]
        new_name, rgb = rename(obj, name, color)
        with self.transaction():
            self.write(RenameObject(oid, new_name, rgb))
        return obj

    def remove_object(self, obj_id: int) -> None:
        """Remove an object, its prompts and its results."""
        self.check_idle()
        oid = self.check_obj(obj_id)
        self.tracker.remove_object(oid)
        del self.objects[oid]
        with self.transaction():
            self.results.delete(obj_id=oid)
            self.write(RemoveObject(oid))
            self.record.forget(oid)

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
        f, o = self.check_frame(frame_idx), self.check_obj(obj_id)
        pts, lab = check_points(points, labels, *self.video.size)
        if pts is None:
            raise PromptError("add_points needs at least one point.")
        e = Points(f, o, pts.tolist(), lab.tolist(), clear)
        return self._prompt(f, o, e, lambda: self.tracker.add_points(f, o, pts, lab, clear))

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
        f, o = self.check_frame(frame_idx), self.check_obj(obj_id)
        b = check_box(box, *self.video.size)
        if b is None:
            raise PromptError("add_box needs a box [x0, y0, x1, y1].")
        pts, lab = check_points(points, labels, *self.video.size)
        e = Box(f, o, b.tolist(), None if pts is None else pts.tolist(),
                None if lab is None else lab.tolist())  # fmt: skip
        return self._prompt(f, o, e, lambda: self.tracker.add_box(f, o, b, pts, lab))

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> FrameResult:
        """Prompt with a mask ``(H, W)`` (bool) at video resolution.

        Example:
            >>> mask = np.zeros((360, 640), bool); mask[160:200, 100:140] = True
            >>> sess.add_mask(2, 1, mask).frame_idx, sess.log.get(2, 1).mask["size"]
            (2, [360, 640])
        """
        f, o = self.check_frame(frame_idx), self.check_obj(obj_id)
        m, rle = check_mask(mask, *self.video.size)
        e = Mask(f, o, rle)
        return self._prompt(f, o, e, lambda: self.tracker.add_mask(f, o, m))

    def clear_frame(self, frame_idx: int, obj_id: int | None = None) -> FrameResult:
        """Remove the prompts on a frame (for one object, or all)."""
        self.check_idle()
        f = self.check_frame(frame_idx)
        ids = list(self.objects) if obj_id is None else [self.check_obj(obj_id)]
        t = self.tracker
        with self.transaction():
            for o in ids:
                if t.has_object(o):
                    t.clear_frame(f, o)
                    if f not in t.cond_frames(o):
                        self.results.delete(obj_id=o, frames=[f])
                    self.results.mark_stale(o, f, keep=t.cond_frames(o))
            self.dirty.add(f)
            self.write(ClearFrame(f, None if obj_id is None else int(obj_id)))
            self.keep_prompts((o, f) for o in ids if t.has_object(o))
        return self.frame(f)

    def _prompt(self, f: int, o: int, log_entry: Entry, run: Callable[[], Prompted]) -> FrameResult:
        self.check_idle()
        t = self.tracker
        with self._busy:
            # the one store read of a click: the frame's masks, and what this one replaces
            on_frame = self.results.frame(f)
            rec = on_frame.get(o)
            retracked = rec is not None and self.propagator.ensure_memory(
                f, o, rec.reverse, "the click"
            )
            if retracked:
                on_frame = self.results.frame(f)  # re-tracked: the frame was written again
                rec = on_frame.get(o)
            had = t.has_object(o)
            snap = t.snapshot(o, f) if had and self.history.enabled else None
            try:
                answer = run()
            except BaseException as exc:
                err = self.failure(exc, f"prompting frame {f}")
                if err is exc:
                    raise
                raise err from exc
            # (re-tracking merged the tracker's pending outputs: an earlier undo point is stale)
            prev = self.log[-1] if len(self.log) and not retracked else None
            with self.transaction():  # the mask, the log entry and the tracker's state: one commit
                (on_frame[o],) = self.results.put(
                    f, [o], answer.logits[None], scores=[answer.score], ious=[answer.iou],
                    reverse=bool(rec.reverse) if rec else False,
                )  # fmt: skip
                self.dirty.add(f)
                self.write(log_entry)
                self.keep_prompts([(o, f)])
                marked = tuple(self.results.mark_stale(o, f, keep=t.cond_frames(o)))
            point = UndoPoint(log_entry, f, o, snap, rec, prev, marked) if had else None
            self.history.took(point if self.history.enabled else None, len(self.log))
        previous = {} if rec is None else {o: rec}
        return FrameResult(f, dict(sorted(on_frame.items())), {o: answer.logits}, previous)

    # -- results ---------------------------------------------------------------------------
    def frame(self, frame_idx: int) -> FrameResult:
        """What is known about a frame (its records from the result store)."""
        f = self.check_frame(frame_idx)
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
        f, o = self.check_frame(frame_idx), self.check_obj(obj_id)
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
        return self.tracker.features_ready(int(frame_idx))

    def state_frames(self) -> int:
        """How many per-frame tracking states the tracker holds now (all objects)."""
        return self.tracker.state_frames()

    # -- tracking (the propagator does it) -------------------------------------------------
    def propagate(
        self,
        start: int | None = None,
        direction: str = "forward",
        *,
        max_frames: int | None = None,
        stop: Any = None,
        progress: bool = True,
        converge: Any = None,
    ) -> Iterator[FrameResult]:
        """Track every object from ``start``, yielding each frame as it finishes.

        Args:
            start: first frame (default: the earliest frame prompted since the last
                propagation, else the earliest prompt).
            direction: ``"forward"``, ``"backward"`` or ``"both"`` (forward, then backward).
            max_frames: how many frames past ``start`` to track (default: to the end).
            stop: a ``threading.Event`` or callable checked after every frame; the results
                stay consistent up to the last finished frame (also :meth:`stop`).
            progress: show a ``tqdm.auto`` progress bar.
            converge: re-track only what changed: ``True`` (or a :class:`sam2nb.Converge`,
                or ``[iou, frames]``) stops each pass once every object's new mask agrees
                with the stored one (IoU >= 0.9) on 5 frames in a row; the frames beyond that
                hold results keep them, and frames never tracked (past a stopped run) are still
                tracked. :attr:`settled` then says where each pass stopped and how many
                frames it skipped. Default: track to the end.

        Example:
            >>> for fr in sess.propagate(3, "both", max_frames=2, progress=False):
            ...     print(fr.frame_idx, sorted(fr.masks()), fr.masks()[1].shape)
            3 [1] (360, 640)
            4 [1] (360, 640)
            5 [1] (360, 640)
            3 [1] (360, 640)
            2 [1] (360, 640)
            1 [1] (360, 640)
        """
        return self.propagator.propagate(
            start, direction, max_frames=max_frames, stop=stop, progress=progress,
            converge=converge,
        )  # fmt: skip

    def run(self, start: int | None = None, direction: str = "forward", **kwargs: Any) -> int:
        """Propagate to the end without looking at each frame; returns frames tracked.

        Example:
            >>> sess.run(direction="both", progress=False)  # sess: 8 frames, a click on frame 0
            8
        """
        return sum(1 for _ in self.propagate(start, direction, **kwargs))

    def stop(self) -> None:
        """Ask a running propagation (or a re-track before a click) to stop after its frame."""
        self._stop.set()

    @property
    def stopping(self) -> threading.Event:
        """Set by :meth:`stop`; cleared when a propagation or a re-track starts."""
        return self._stop

    @property
    def running(self) -> bool:
        """Whether a propagation (or an edit) is in progress."""
        return self._busy.locked()

    @property
    def unfinished(self) -> dict | None:
        """The propagation that was stopped or killed, if no prompt changed since (else None).

        ``{"start", "direction", "max_frames", "reverse", "last"}``: how it was started, the
        pass it was in (``reverse``) and the last frame it finished. :meth:`propagate` with no
        ``start`` in that direction goes on from there to where it was going.

        Example:
            >>> sess.unfinished is None  # sess: nothing stopped half-way
            True
        """
        return self.runs.unfinished

    def set_unfinished(self, record: dict | None) -> None:
        """Take over a run record kept in a journal (what :func:`sam2nb.load_session` does)."""
        self.runs.take(record)

    def default_start(self) -> int:
        """Where :meth:`propagate` starts by default (going on with no stopped run).

        That is the earliest frame prompted since the last propagation, else the earliest prompt.

        Example:
            >>> sess.default_start()
            0
        """
        cond = self.dirty or {c for o in self.objects for c in self.cond_frames(o)}
        if not cond:
            raise SessionError("Nothing to track: add a click, box or mask on some object first.")
        return min(cond)

    def frames_to_track(
        self, start: int | None = None, direction: str = "forward", max_frames: int | None = None
    ) -> int:
        """How many frames :meth:`propagate` with these arguments will track.

        Example:
            >>> sess.frames_to_track(direction="both")  # sess: 8 frames, a click on frame 0
            9
        """
        _, passes, _ = self.runs.plan(start, direction, max_frames, self.default_start)
        return sum(self.runs.pass_length(f, rev, k) for f, rev, k in passes)

    def frames_to_rebuild(self, frame_idx: int, obj_id: int) -> int:
        """How many frames a prompt on ``frame_idx`` for ``obj_id`` would re-track first.

        Non-zero when the model's memory of the frames before it was released (bounded memory,
        or a resumed session): the prompt then re-tracks from the nearest prompt, with
        progress, and can be stopped. The apps run such a click in the background, with a stop
        button.

        Example:
            >>> sess.frames_to_rebuild(0, 1)  # a frame whose memory is all there
            0
        """
        return self.memory_window.frames_to_rebuild(frame_idx, obj_id)

    # -- fast undo and redo (see sam2nb.tracking.undo) -------------------------------------
    def undo_point(self) -> UndoPoint | None:
        """What the last prompt replaced, while it is the log's last entry (else None).

        Example:
            >>> _ = sess.add_points(0, 1, [(200, 100)], [0])
            >>> sess.undo_point().entry is sess.log[-1]
            True
        """
        return self.history.undo_point(len(self.log))

    def undo_last(
        self, point: UndoPoint, earlier: list[Entry], then: UndoPoint | None = None
    ) -> FrameResult | None:
        """Put a frame back as it was before the prompt ``point.entry``; None if too late.

        Args:
            point: from :meth:`undo_point`, right after the prompt.
            earlier: the frame's prompts for the object before it (what a replay would send).
            then: the undo point of the edit before it: if that prompt came right before this
                one, the session is now as it was right after it, so it can be undone fast too.

        Returns:
            The frame as it is now, or None when the prompt is no longer the last log entry
            (then replay it: :class:`~sam2nb.PromptEditor` does).
        """
        if self.undo_point() is not point:
            return None
        return self.history.undo(self, point, earlier, then)

    def redo_point(self) -> RedoPoint | None:
        """What the last fast undo took back, while a redo of it is still exact (else None).

        Example:
            >>> _ = sess.add_points(0, 1, [(200, 100)], [0])
            >>> ed_point = sess.undo_point()
            >>> _ = sess.undo_last(ed_point, sess.log.history(0, 1, len(sess.log) - 1))
            >>> sess.redo_point().entry is ed_point.entry
            True
        """
        return self.history.redo_point(self.results)

    def redo_valid(self, point: RedoPoint) -> bool:
        """Whether putting ``point`` back is exactly what sending its prompt again would give.

        So it is while everything a prompt on its frame reads for its object is the very same
        as right after the undo (the tracker's ``prompt_inputs``), and the frame's mask record
        too, whatever else was logged in between.

        Example:
            >>> _ = sess.add_points(0, 1, [(200, 100)], [0])
            >>> p = sess.undo_point()
            >>> _ = sess.undo_last(p, sess.log.history(0, 1, len(sess.log) - 1))
            >>> _ = sess.add_object(name="another")  # logged, but nothing frame 0 reads
            >>> sess.redo_valid(sess.redo_point())
            True
        """
        return self.history.redo_valid(point, self.results)

    def redo_last(self, point: RedoPoint) -> FrameResult | None:
        """Put back what a fast undo took back, and log its prompt again; None if not exact.

        Args:
            point: from :meth:`redo_point`, right after the undo.

        Returns:
            The frame as it is now, or None when sending the prompt again would no longer give
            the model the same inputs (see :meth:`redo_valid`; then send the prompt again:
            :class:`~sam2nb.PromptEditor` does).
        """
        return None if point is None else self.history.redo(self, point)

    # -- saving ----------------------------------------------------------------------------
    def save(self, folder: Any = None) -> Any:
        """Save to a folder atomically; resume it with :func:`sam2nb.load_session`.

        See :func:`sam2nb.save_session`.
        """
        from .folder import save_session

        return save_session(self, folder)

    def close(self) -> None:
        """Release the prefetch thread, the tracker's state and the folder (for another session)."""
        self.frames.close()
        self.tracker.close()
        self.writer.release()

    def __repr__(self) -> str:
        return (
            f"Session({self.video.name!r}, {len(self.video)} frames, {len(self.objects)} objects, "
            f"{len(self.results)} masks, memory={self.memory}, model {self.engine.label})"
        )

"""The video tracker: click, propagate, scrub, correct, save and export, in one widget.

It propagates, exports and re-tracks released memory in a background
:class:`~sam2nb.base.jobs.Job`, so the page stays live, the stop button works and masks appear
on the scrubber as frames finish (see :class:`~sam2nb.widgets.apps.PromptApp` for the clicks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as W

from ..base.jobs import Job
from ..media.overlay import DISPLAY_WIDTH, JPEG_QUALITY
from ..prompts.editor import PromptEditor
from ..storage.store import FrameResult
from ..tracking.resume import app_session
from .apps import PromptApp, banner, renamed
from .background import WidgetJob
from .layout import row
from .pacing import FOLLOW_EVERY_S, FOLLOW_SHARE, PROGRESS_EVERY_S

KEYS = {"f": "fix next"}  # the video tracker's keys, on top of the picture's (canvas.KEYS)


class VideoTracker(PromptApp):
    """Click objects on any frame, track them through the video, correct, save, export.

    Args:
        video: a video file, frame folder or :class:`~sam2nb.VideoSource`; or a
            :class:`~sam2nb.Session` to continue.
        engine: from :func:`sam2nb.load` (None: the cached one).
        memory: the session's memory mode (``"auto"``, ``"full"``, ``"bounded"``).
        folder: the session's folder: every click and tracked frame is written there as it
            happens (default ``sam2nb_sessions/<video name>``; None keeps it in memory only).
            A folder that holds a session is resumed, so re-running a notebook after a kernel
            restart brings the work back.
        fresh: start a new session even if ``folder`` holds one; the earlier one is moved
            aside to ``<folder>.<date-time>`` (never overwritten or deleted).
        export_dir: where Export writes PNG masks (default ``<folder>/masks``).
        max_width: display width limit in pixels.
        quality: JPEG quality of the displayed frames.
        threaded: draw and propagate in background threads (False: at once, for scripts).
        save_dir: the old name of ``folder`` (refused, with how to say it now).

    Example:
        >>> app = VideoTracker("bedroom.mp4", s2.load("tiny"))  # doctest: +SKIP
        >>> app.widget  # click, propagate, scrub  # doctest: +SKIP
        >>> app.session.results  # the masks  # doctest: +SKIP
    """

    def __init__(
        self,
        video: Any,
        engine: Any = None,
        *,
        memory: str = "auto",
        folder: Any = "default",
        fresh: bool = False,
        export_dir: Any = None,
        max_width: int | None = DISPLAY_WIDTH,
        quality: int = JPEG_QUALITY,
        threaded: bool = True,
        save_dir: Any = None,
    ):
        from .scrubber import FrameScrubber

        renamed("VideoTracker", save_dir=save_dir)
        sess, opened = app_session(video, engine, folder, fresh=fresh, memory=memory)
        self.session = sess
        self.folder = sess.folder
        self.export_dir = export_dir
        self.threaded = threaded
        self._job: Job | None = None  # the propagation or export running (or the last one)
        self.scrubber = FrameScrubber(
            sess.video, sess, max_width=max_width, quality=quality, threaded=threaded
        )
        super().__init__(PromptEditor(sess), self.scrubber.canvas)
        self.canvas.bind_keys(KEYS)
        self.scrubber.current_obj = self.editor.obj_id
        sess.on_progress(self._show_progress_of)  # re-tracking released frames before a click
        self.scrubber.layer_hook = self.picker.layer
        self.follow = W.Checkbox(value=True, description="follow", indent=False,
                                 layout=W.Layout(width="auto"))  # fmt: skip
        self.converge = W.Checkbox(
            value=True, description="only what changed", indent=False,
            layout=W.Layout(width="auto"),
            tooltip="after a correction, stop re-tracking once every mask agrees with the one "
            "it replaces (IoU >= 0.9 for 5 frames in a row) and keep the frames beyond; "
            "untick to re-track to the end",
        )  # fmt: skip
        if sess.unfinished is not None:  # a run cut off goes on as it began: the box says how
            self.converge.value = bool(sess.unfinished.get("converge"))
        self.run_btns = {}
        for label, direction in (("▶ forward", "forward"), ("◀ backward", "backward"),
                                 ("◀▶ both", "both")):  # fmt: skip
            tip = f"propagate {direction} from the earliest changed prompt"
            b = W.Button(description=label, layout=W.Layout(width="auto"), tooltip=tip)
            b.on_click(lambda _, d=direction: self.guard(self.propagate, d))
            self.run_btns[direction] = b
        self.stop_btn = W.Button(
            description="■ stop", disabled=True, layout=W.Layout(width="auto"),
            tooltip="stop the propagation, export or re-tracking after this frame",
        )  # fmt: skip
        self.stop_btn.add_class("sam2nb-stop")
        self.stop_btn.on_click(lambda _: self.stop())
        from ..analysis.quality import TUNED_ON  # (pandas: loaded once the app is made)

        self.suspects: Any = None  # the "fix next" queue, made when first asked for
        self._suspects_stale = True
        self.fix_btn = W.Button(
            description="fix next", icon="flag", layout=W.Layout(width="auto"),
            tooltip="go to the next place where a mask may have drifted, worst first (key f). "
            + TUNED_ON,
        )  # fmt: skip
        self.fix_btn.on_click(lambda _: self.guard(self.fix_next))
        self.drift_btn = W.Button(
            description="check drift", icon="exchange", layout=W.Layout(width="auto"),
            tooltip="track back from the last tracked frame and compare with the masks: where "
            "they disagree, the lane turns red (runs in the background; stop stops it)",
        )  # fmt: skip
        self.drift_btn.on_click(lambda _: self.guard(self.check_drift))
        # the bar and its figures together, at the end of the play row (right under the
        # picture, the status line under them): never on a line of their own, so nothing moves
        # when a run starts; hidden until then (an empty bar looks like a broken widget)
        self.progress = W.IntProgress(min=0, max=1, layout=W.Layout(width="120px"))
        self.progress_label = W.Label(layout=W.Layout(min_width="12em"))
        self.progress_box = W.HBox(
            [self.progress, self.progress_label],
            layout=W.Layout(flex="0 0 auto", flex_flow="row nowrap", align_items="center",
                            display="none"),
        )  # fmt: skip
        self._progress_t, self._progress_due = 0.0, None
        self.progress.add_class("sam2nb-progress-bar")
        self.progress_label.add_class("sam2nb-progress")
        self.save_btn = W.Button(description="save", icon="save", layout=W.Layout(width="auto"))
        self.save_btn.on_click(lambda _: self.guard(self.save))
        from ..io.export import FORMATS

        self.export_btn = W.Button(description="export", icon="download",
                                   layout=W.Layout(width="auto"))  # fmt: skip
        self.export_format = W.Dropdown(options=FORMATS, value="palette", description="as",
                                        style={"description_width": "auto"},
                                        layout=W.Layout(width="160px"))  # fmt: skip
        self.export_btn.on_click(lambda _: self.guard(self.export))
        # what matters at the top, together: the picture, its timeline, the frame slider, play
        # and the run's progress, what the app says (right under them, two lines at most: in
        # sight whenever the picture is, on a laptop too, whatever rows wrap below), propagate
        self.scrubber.play_row.children = (*self.scrubber.play_row.children, self.progress_box)
        self.status.layout.min_height = "calc(2 * 1.35em + 4px)"  # two lines: nothing jumps
        runs = row(*self.run_btns.values(), self.stop_btn, self.follow, self.converge,
                   self.fix_btn, self.drift_btn)  # fmt: skip
        runs.add_class("sam2nb-run")
        self.widget = W.VBox(
            [
                banner(sess.engine),
                row(self.mode, self.undo_btn, self.redo_btn, self.clear_btn, self.new_btn),
                self.objects_box,  # a row of its own: a new object never moves the picture
                self.scrubber.main,
                self.status,
                runs,
                self.scrubber.extras,
                self.picker.widget,
                row(self.save_btn, self.export_btn, self.export_format),
            ]
        )
        self.widget.add_class("sam2nb-app")
        self._objects_changed()
        self.say(opened or (
            "Click on an object to track (Shift + click or 'negative' for a negative point; drag "
            "for a box), then propagate."
        ))  # fmt: skip

    @property
    def frame_idx(self) -> int:
        """The frame shown."""
        return self.scrubber.frame_idx

    def show_frame(self, frame_idx: int) -> None:
        """Move to frame ``frame_idx`` (the scrubber's slider follows)."""
        self.scrubber.show(frame_idx)

    def _after(self, result: FrameResult | None, frame_idx: int | None = None) -> None:
        self.undo_btn.disabled = not self.editor.can_undo
        self.redo_btn.disabled = not self.editor.can_redo
        if result is None:
            return
        self._suspects_stale = True  # a correction: the queue is computed again when asked
        self.scrubber.update(result, redraw=False)
        stale = self.scrubber.refresh_stale()  # a prompt change makes masks after it stale
        if result.frame_idx != self.frame_idx:
            self.scrubber.show(result.frame_idx)  # undo of an edit on another frame: go there
        else:
            self.scrubber.render(result.frame_idx)  # the answer to a click: draw it now
        note = f" {self.editor.note}." if self.editor.note else ""  # e.g. redo gave another
        self.say(edit_note(self.session, result, self.editor.obj_id, stale) + note)

    def _objects_changed(self, redraw: bool = True) -> None:
        if hasattr(self, "scrubber"):
            self.scrubber.current_obj = self.editor.obj_id
            self.scrubber.refresh_objects()
        super()._objects_changed(redraw)

    def redraw(self) -> None:
        """Draw the shown frame again."""
        self.scrubber.request(self.frame_idx)

    def objects_added(self, obj_ids: list[int], frame_idx: int) -> None:
        """Show objects the picker added: their masks on ``frame_idx`` and their buttons."""
        self.scrubber.update(self.session.frame(frame_idx), redraw=False)
        super().objects_added(obj_ids, frame_idx)

    # -- propagation ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a propagation (or an export) runs."""
        return self._job is not None and self._job.running

    def propagate(self, direction: str = "forward", **kwargs: Any) -> None:
        """Track the objects through the video (in a background thread when threaded).

        Keyword arguments go to :meth:`sam2nb.Session.propagate` (``start``, ``max_frames``,
        ``converge``: default from the "only what changed" box).
        """
        if self.running:
            raise RuntimeError("A propagation is running already: stop it or wait.")
        if self.picker.running:
            raise RuntimeError("Segment everything is running: wait for it or stop it.")
        if not self.session.objects:
            raise RuntimeError("Nothing to track yet: click on an object first.")
        self._set_running(True)
        self._job = WidgetJob(
            lambda job: self._propagate(job, direction, kwargs), name="sam2nb-propagate",
            threaded=self.threaded, show_error=self.show_error,
            on_progress=self._show_progress, on_done=self._propagated,
        )  # fmt: skip
        self._job.start()

    def _edits_done(self) -> None:
        """Wait for an edit in flight before a job plans its work.

        JupyterLab may hand the app a button's click on another thread while a click on the
        picture is still running: a click then *forward* at once tracks from that click.
        """
        if not self.editing.acquire(blocking=False):
            self.say("Waiting for the click in progress to finish...")
            self.editing.acquire()
        self.editing.release()

    def _propagate(self, job: Job, direction: str, kwargs: dict) -> None:
        self._edits_done()
        sess, done, t0 = self.session, 0, time.perf_counter()
        total = sess.frames_to_track(direction=direction, **kwargs)
        run = sess.unfinished
        going_on = ""
        if run is not None and not kwargs and run["direction"] == direction:
            going_on = f", going on where the last run stopped (frame {run['last']})"
        self.say(f"Tracking {direction}{going_on}: {total} frames...")  # not the last click's
        next_draw, last, seen = 0.0, None, set()
        kwargs = {"converge": self.converge.value, **kwargs}
        job.progress(0, total, f"0 of {total} frames")  # not the last run's figures
        for fr in sess.propagate(direction=direction, stop=job, progress=False, **kwargs):
            done, now, last = done + 1, time.perf_counter(), fr
            seen.add(fr.frame_idx)  # "both" tracks the start frame in each pass
            job.progress(done, total, f"{done} frames, {done / (now - t0):.1f}/s")
            if not self.follow.value:
                self.scrubber.update(fr)  # drawn if it is the frame shown
            elif now >= next_draw and self.frame_idx != fr.frame_idx:
                self.scrubber.update(fr, redraw=False)
                self.scrubber.show(fr.frame_idx)
                # following costs at most FOLLOW_SHARE of the time: drawing competes with
                # the model for the same cores (every frame is in the timeline meanwhile)
                next_draw = now + max(FOLLOW_EVERY_S, self.scrubber.last_render_s / FOLLOW_SHARE)
            else:
                self.scrubber.update(fr, redraw=False)
        rate = f"{done / (time.perf_counter() - t0):.1f}/s, " if done else ""  # tracking's own
        if last is not None and self.follow.value and self.frame_idx != last.frame_idx:
            self.scrubber.show(last.frame_idx)  # where it ended
        n = len(seen)  # "both" steps on its start frame twice: frames are counted once
        if job.is_set():
            job.progress(done, total, f"{n} frames, {rate}stopped")
        else:  # full: frames a converged pass kept are done too
            job.progress(total, total, f"{n} frames, {rate}done")
        if not n and not job.is_set():
            p = sess.prompt_frames() or [0]
            where = {"backward": f"the first prompt is on frame {min(p)}, with no frame before it",
                     "forward": f"the prompts end on frame {max(p)}, the last one"}  # fmt: skip
            self.say(f"Nothing to track {direction}: {where.get(direction, 'no frame left')}.")
            return
        stopped = " (stopped: the same button goes on from there)" if job.is_set() else ""
        saved = f"; saved to {self.folder}" if self.folder is not None else ""
        self._refresh_suspects()  # here, in the background: long videos take a while
        self.say(f"Propagated {direction} over {n} frame{'s' if n != 1 else ''}{going_on}"
                 f"{stopped}{kept_note(sess.settled)}{saved}.")  # fmt: skip

    def _propagated(self) -> None:
        self._set_running(False)
        self.scrubber.refresh_stale()  # frames a converged pass kept are fresh again
        self.scrubber.draw_timeline(force=True)

    # -- fix next ----------------------------------------------------------------------------
    def _refresh_suspects(self) -> None:
        from ..analysis.quality import SuspectQueue

        if self.suspects is None:
            self.suspects = SuspectQueue(self.session)
        else:
            self.suspects.refresh()
        self._suspects_stale = False
        n = len(self.session.video)
        self.scrubber.suspects = {o: self.suspects.flagged(o, n) for o in self.session.objects}

    def fix_next(self) -> dict | None:
        """Go to the next suspect segment, worst first, with its object selected (key ``f``).

        Suspects are runs of frames where the quality flags say a mask may have drifted (see
        :mod:`sam2nb.analysis.quality`); the status line says why. A segment leaves the queue
        once shown or once it holds a prompt of its object. Returns the segment, or None.
        """
        if self.suspects is None or self._suspects_stale:
            self._refresh_suspects()
            self.scrubber.draw_timeline(force=True)
        seg = self.suspects.next()
        noise = " (untrained model: these flags are noise)" if self.session.engine.untrained else ""
        if seg is None:
            table = self.suspects.table
            flagged = int((table["severity"] > 0).sum()) if len(table) else 0
            self.suspects.reset()
            self.say(f"No suspect segment left to check ({flagged} flagged frames in all){noise}."
                     " fix next starts over from the worst.")  # fmt: skip
            return None
        o, a, b = int(seg["obj_id"]), int(seg["start"]), int(seg["end"])
        left = len(self.suspects.pending())
        if o != self.editor.obj_id:
            self.select(o)
        self.show_frame(a)
        name = self.session.objects[o].name
        name = name if name == f"object {o}" else f"{name} (object {o})"
        span = f"frame {a}" if a == b else f"frames {a}-{b}"
        self.say(f"Suspect: {name}, {span}: {seg['why']}{noise}. Click to correct "
                 f"it, or fix next (key f) for the next one ({left} more).")  # fmt: skip
        return seg

    def _key(self, action: str) -> None:
        if action == "fix next":
            self.fix_next()
        else:
            super()._key(action)

    def _show_progress_of(self, what: str, done: int, total: int) -> None:
        self._show_progress(done, total, what)

    def _show_progress(self, done: int, total: int, text: str) -> None:
        now = time.monotonic()
        self._progress_due = (done, total, text)
        if now - self._progress_t < PROGRESS_EVERY_S and 0 < done < total:
            return  # shown at the next update after the interval, or when the run ends
        self._progress_t = now
        self._flush_progress()

    def _flush_progress(self) -> None:
        """Show the newest progress (held back by the interval) now."""
        if self._progress_due is None:
            return
        done, total, text = self._progress_due
        self._progress_due = None
        self.progress.max, self.progress.value = max(total, 1), done
        self.progress_box.layout.display = None
        self.progress_label.value = text

    def stop(self) -> None:
        """Ask the running propagation, export or re-tracking to stop after the frame it is on."""
        if self._job is not None:
            self._job.stop()
            self.session.stop()

    def _when_ready(self, frame_idx: int | None, obj_id: int | None, work: Callable) -> None:
        """Run an edit now, or in the background when it must re-track released memory first.

        After a resume (or in bounded memory) a correction may first re-track from the
        nearest prompt, which can take a while: it then runs like a propagation, with the
        progress bar and the stop button, and the kernel stays free for the stop click.
        """
        if self.running:
            raise RuntimeError("Busy: wait for the propagation, export or re-tracking, or stop it.")
        sess = self.session
        n = 0
        if frame_idx is not None and obj_id in sess.objects:
            n = sess.frames_to_rebuild(frame_idx, obj_id)
        if n == 0:
            work()
            return
        self.say(f"Re-tracking {n} frames whose memory was released before this edit "
                 "(■ stop cancels the edit)...")  # fmt: skip
        self._set_running(True)
        self._job = WidgetJob(
            lambda job: work(), name="sam2nb-retrack", threaded=self.threaded,
            show_error=self.show_error, on_done=lambda: self._set_running(False),
        )  # fmt: skip
        self._job.start()

    def wait(self, timeout: float = 600.0, progress: bool = True) -> bool:
        """Block until the propagation and the drawing are done (for scripts and tests).

        With ``progress``, a bar under the cell follows the app's (the app may be scrolled
        out of view while a cell waits for it). Interrupting the cell (Kernel → Interrupt,
        or ``i i``) stops the work after the frame in flight, says so in one line and returns
        False; the rest of the cell runs (what was done is kept: the same button goes on).
        """
        job = self._job
        try:
            if job is not None and progress and job.running:
                from tqdm.auto import tqdm

                end = time.monotonic() + timeout
                with tqdm(total=job.total or None, desc="tracking", unit="frame") as bar:
                    while job.running and time.monotonic() < end:
                        job.wait(0.25)
                        bar.total = job.total or bar.total
                        bar.update(job.done - bar.n)
            if job is not None:
                job.wait(timeout)
            return self.scrubber.wait(timeout) and not self.running
        except KeyboardInterrupt:
            self.stop()
            if job is not None:
                job.wait(60)  # the frame in flight finishes: everything before it is kept
            print(f"Interrupted: stopped after {job.done if job else 0} frames; what was done is"
                  " kept (the same button goes on from there).")  # fmt: skip
            return False

    def _set_running(self, on: bool) -> None:
        for b in (*self.run_btns.values(), self.save_btn, self.export_btn, self.new_btn,
                  self.undo_btn, self.redo_btn, self.clear_btn, self.drift_btn,
                  self.fix_btn):  # fmt: skip
            b.disabled = on
        self.stop_btn.disabled = not on
        if not on:
            self._flush_progress()  # the run's last figures
            self.undo_btn.disabled = not self.editor.can_undo
            self.redo_btn.disabled = not self.editor.can_redo

    # -- files -----------------------------------------------------------------------------
    def save(self, folder: Any = None) -> Path:
        """Save the session (default: :attr:`folder`); it can be resumed after a restart."""
        target = folder or self.folder
        if target is None:
            raise RuntimeError("Where to? Give a folder: app.save('runs/my-video').")
        out = self.session.save(target)
        self.say(f"Saved to {out}: s2.VideoTracker(video, folder='{out}') resumes it.")
        return out

    def check_drift(self, start: int | None = None, end: int | None = None) -> None:
        """Run a drift check (see :func:`sam2nb.check_drift`) in the background.

        Tracks back from ``end``'s masks (default: the last tracked frame) to ``start`` (the
        first) with a temporary state; frames where the backward mask disagrees with the
        stored one get the ``drift`` flag, so they show in the quality lane and in fix next.
        """
        from ..tracking.drift import check_drift, drift_span

        if self.running:
            raise RuntimeError("Busy: wait for the propagation or export, or stop it.")

        def work(job: Job) -> None:
            def on_frame(f: int, _scores: dict) -> None:
                done[0] += 1
                job.progress(done[0], total, f"drift check: frame {f}")

            self._edits_done()
            rep = check_drift(self.session, start, end, stop=job, progress=False,
                              on_frame=on_frame)  # fmt: skip
            end_word = "stopped" if rep.stopped else "done"
            job.progress(done[0], total, f"drift check: {done[0]} frames, {end_word}")
            self._refresh_suspects()
            worst = [s for s in self.suspects.pending() if "drift" in s["flagged"]]
            where = ""
            if worst:
                w = worst[0]
                where = (f"; worst: object {w['obj_id']}, frames {w['start']}-{w['end']} "
                         "(fix next goes there)")  # fmt: skip
            self.say(f"{rep}{where}.")

        a, b = drift_span(self.session, start, end)
        done, total = [0], max(b - a + 1, 1)
        self.say(f"Checking drift: tracking back from frame {b} to {a}...")
        self._set_running(True)
        self._job = WidgetJob(
            work, name="sam2nb-drift", threaded=self.threaded, show_error=self.show_error,
            on_progress=self._show_progress, on_done=self._propagated,
        )  # fmt: skip
        self._job.start()

    def export(self, folder: Any = None, format: str | None = None, **options: Any) -> Path:
        """Export the masks (see :func:`sam2nb.export`; default: the format picked in the app).

        Writes into ``<export_dir or folder>/<format>`` in the background (when threaded),
        with the app's progress bar and stop button; a stopped export resumes next time.
        """
        from ..io.export import export

        if self.running:
            raise RuntimeError("Busy: wait for the propagation or export, or stop it.")
        fmt = format or self.export_format.value
        base = Path(self.export_dir or self.folder or "sam2nb_exports")
        out = Path(folder) if folder else base / fmt

        def work(job: Job) -> None:
            def on_frame(done: int, total: int) -> None:
                job.progress(done, total, f"export {done}/{total}")

            self._edits_done()
            res = export(self.session, out, fmt, progress=False, stop=job, on_frame=on_frame,
                         **options)  # fmt: skip
            how = "stopped (export again to resume)" if res.stopped else "done"
            note = f" Of these, {res.note()}." if res.note() else ""
            self.say(f"Export {how}: {res.frames} frame{'s' if res.frames != 1 else ''} as "
                     f"{fmt} to {out} ({res.files} file{'s' if res.files != 1 else ''} "
                     f"written, {res.kept} kept from before).{note}")  # fmt: skip

        self.say(f"Exporting {len(self.session.video)} frames as {fmt} to {out}...")
        self._set_running(True)
        self._job = WidgetJob(
            work, name="sam2nb-export", threaded=self.threaded, show_error=self.show_error,
            on_progress=self._show_progress, on_done=lambda: self._set_running(False),
        )  # fmt: skip
        self._job.start()
        return out


def edit_note(session: Any, result: FrameResult, obj_id: int | None, stale: int = 0) -> str:
    """The status line after an edit: the object's share of the picture, and what is stale.

    Example:
        >>> sess.frame(0).records[1].area > 0  # sess: object 1 clicked on frame 0
        True
        >>> edit_note(sess, sess.frame(0), 1, stale=12)  # doctest: +ELLIPSIS
        'Frame 0: object 1 covers ...% of the picture (untrained model); 12 frames tracked
        before this change are stale (struck through on the timeline): track again to renew
        them.'
    """
    f = result.frame_idx
    recs = result.records
    o = obj_id if obj_id in recs else next(iter(recs), None)
    word = " (untrained model)" if session.engine.untrained else ""
    if o is None:
        text = f"Frame {f}: no mask{word}"
    else:
        obj = session.objects.get(o)
        name = obj.name if obj is not None else f"object {o}"
        w, h = session.video.size
        share = 100.0 * recs[o].area / max(1, w * h)
        others = len(recs) - 1
        more = f", {others} other object{'s' if others != 1 else ''} here" if others else ""
        text = f"Frame {f}: {name} covers {share:.1f}% of the picture{more}{word}"
    if stale:
        text += (f"; {stale} frame{'s' if stale != 1 else ''} tracked before this change "
                 f"{'are' if stale != 1 else 'is'} stale (struck through on the timeline): "
                 "track again to renew them")  # fmt: skip
    return text + "."


def kept_note(settled: list) -> str:
    """What a propagation that converged skipped, in words ("" if it went to the end).

    Example:
        >>> from sam2nb import Settled
        >>> kept_note([Settled(45, False, 154, 0.97)])
        '; frames 46-199 (154) kept as they were: the new masks agreed with them (IoU >= 0.97)'
        >>> kept_note([Settled(25, False, 174, 0.99), Settled(15, True, 15, 0.995)])[:45]
        '; frames 26-199 (174) and 0-14 (15) kept as t'
    """
    parts = []
    for st in settled:
        a, b = (st.frame_idx - st.skipped, st.frame_idx - 1) if st.reverse else (
            st.frame_idx + 1, st.frame_idx + st.skipped)  # fmt: skip
        parts.append(f"{a}-{b} ({st.skipped})" if a != b else f"{a} (1)")
    if not parts:
        return ""
    worst = min(st.worst_iou for st in settled)
    return (f"; frames {' and '.join(parts)} kept as they were: the new masks agreed with them "
            f"(IoU >= {worst:.2f})")  # fmt: skip

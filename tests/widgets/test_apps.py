"""The apps driven headless from Python, on real media and the real sam2 code (test model)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import key, mouse

import sam2nb as s2
from sam2nb.media.video import read_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


def test_video_tracker_click_propagate_scrub_save_export(engine, bedroom, tmp_path):
    app = s2.VideoTracker(bedroom, engine, folder=tmp_path / "run", max_width=480)
    assert "UNTRAINED" in app.widget.children[0].value
    vp = app.canvas.viewport
    assert vp.display_size == (480, 270)
    mc = app.canvas.widget
    mouse(mc, "mouse_down", 225.0, 100.0)  # display pixels
    mouse(mc, "mouse_up", 225.0, 100.0)
    assert app.errors == []
    assert s2.frame_prompts(app.session.log)[(0, 1)].points == [(450.0, 200.0)]  # video pixels
    assert app.session.results.get(0, 1) is not None
    assert app.scrubber.last_render_s > 0
    app.propagate("forward", max_frames=6)
    assert app.wait(300) and app.errors == []
    assert app.session.results.frames(1) == list(range(7))
    assert app.frame_idx == 6  # followed the propagation
    assert app.scrubber._tracked[1][:7].all()
    app.scrubber.show(3)
    app.scrubber.wait()
    tracked3 = app.session.results.get(3, 1)
    mouse(mc, "mouse_down", 100.0, 60.0)  # a drag on frame 3: a box for object 1
    mouse(mc, "mouse_move", 180.0, 160.0)
    mouse(mc, "mouse_up", 200.0, 180.0)
    assert s2.frame_prompts(app.session.log)[(3, 1)].box == pytest.approx([200, 120, 400, 360])
    assert app.session.results.get(3, 1).rle != tracked3.rle
    app.undo()  # the correction goes, and frame 3 shows its tracked mask again
    assert (3, 1) not in s2.frame_prompts(app.session.log)
    assert app.session.results.get(3, 1) == tracked3
    out = app.save()
    assert (out / "session.json").is_file()
    masks = app.export(tmp_path / "palette")  # the app's default format, in the background
    assert app.wait(120) and app.errors == []
    assert len(list(masks.glob("*.png"))) == len(app.session.video)
    assert (masks / "manifest.json").is_file() and "Export done: 200 frames" in app.status.value
    app.scrubber.close()
    # resume in a new app: objects, prompts, results and the timeline come back
    again = s2.VideoTracker(s2.load_session(out, engine=engine), threaded=False, max_width=480)
    assert again.folder == out and list(again.session.objects) == [1]
    assert again.scrubber._tracked[1][:7].all() and not again.scrubber._tracked[1][7:].any()
    mouse(again.canvas.widget, "mouse_down", 300.0, 100.0)
    mouse(again.canvas.widget, "mouse_up", 300.0, 100.0)  # work goes on: a correction
    assert again.errors == [] and len(again.session.prompt_frames(1)) == 1
    again.propagate("forward", max_frames=2)
    assert again.errors == [] and again.frame_idx == 2


def test_tracker_errors_show_in_the_app(engine, bedroom, tmp_path):
    app = s2.VideoTracker(bedroom, engine, folder=None, threaded=False, max_width=320)
    app.run_btns["forward"].click()  # nothing to track yet
    assert "click on an object first" in app.status.value and len(app.errors) == 1
    app.new_object()
    app.run_btns["forward"].click()  # an object without prompts: the session says why
    assert "add a click, box or mask" in app.status.value
    key(app.canvas.widget, "z")
    assert "Nothing to undo" in app.status.value


def test_tracker_says_when_there_is_nothing_to_track_and_ends_its_bar(engine, bedroom):
    app = s2.VideoTracker(bedroom, engine, folder=None, threaded=False, max_width=320)
    app.click(225.0, 100.0, frame_idx=0, obj_id=1)
    app.propagate("backward")  # the first prompt is on frame 0
    assert app.said == (
        "Nothing to track backward: the first prompt is on frame 0, with no frame before it."
    )
    app.propagate("forward", max_frames=3)
    assert app.said.startswith("Propagated forward over 4 frames")
    assert app.progress.value == app.progress.max  # a finished run fills its bar
    assert app.progress_label.value.startswith("4 frames, ") and "done" in app.progress_label.value


def test_image_segmenter_candidates_and_choice(engine, data_dir, tmp_path):
    img = read_image(data_dir / "truck.jpg")
    app = s2.ImageSegmenter(img, engine, max_width=640, folder=tmp_path / "img")
    vp = app.canvas.viewport
    x, y = vp.to_display(img.shape[1] / 2, img.shape[0] / 2)
    mouse(app.canvas.widget, "mouse_down", x, y)
    mouse(app.canvas.widget, "mouse_up", x, y)
    assert app.errors == []
    assert len(app.choices.options) == 3  # one click: three candidates
    pred = app.session.candidates[1]
    best = int(np.argmax(pred.scores))
    assert app.choices.value == best
    assert np.array_equal(app.masks[1], pred.masks[best])
    other = (best + 1) % 3
    app.choices.value = other
    assert np.array_equal(app.masks[1], pred.masks[other])
    mouse(app.canvas.widget, "mouse_down", 10.0, 10.0)
    mouse(app.canvas.widget, "mouse_up", 200.0, 150.0)  # a box keeps the click
    p = s2.frame_prompts(app.session.log)[(0, 1)]
    assert p.box is not None and len(p.points) == 1
    assert len(app.choices.options) == 1  # box + click: one answer
    app.undo()
    assert s2.frame_prompts(app.session.log)[(0, 1)].box is None
    direct = s2.segment_image(engine, img, points=p.points, labels=p.labels)
    assert np.array_equal(app.session.candidates[1].masks, direct.masks)  # same as the API
    app.choices.value = other
    # a restart: the same call resumes, with the prompts, the candidates and the choice
    again = s2.ImageSegmenter(img, engine, max_width=640, folder=tmp_path / "img")
    assert again.status.value.startswith("resumed: 1 object") or "resumed: 1 object" in (
        again.status.value
    )
    assert again.session.log == app.session.log and again.choices.value == other
    assert np.array_equal(again.masks[1], app.masks[1])
    assert np.array_equal(again.session.candidates[1].masks, app.session.candidates[1].masks)
    fresh = s2.ImageSegmenter(img, engine, folder=tmp_path / "img", fresh=True)
    assert fresh.session.log == [] and fresh.session.moved_aside.is_dir()
    assert "earlier session is in" in fresh.status.value
    with pytest.raises(s2.SessionError, match="another image"):
        s2.ImageSegmenter(img[:, ::-1].copy(), engine, folder=tmp_path / "img")


def test_reopening_the_tracker_on_its_folder_resumes_never_overwrites(engine, bedroom, tmp_path):
    """The restart trap: re-running the notebook cell that makes the app brings the work back."""
    video = s2.open_video(bedroom, end=12)
    folder = tmp_path / "session"
    app = s2.VideoTracker(video, engine, folder=folder, threaded=False, max_width=320)
    app.click(450, 200)
    app.propagate("forward", max_frames=4)
    app.session.rename_object(1, name="child")
    log, masks = app.session.log.to_json(), {f: app.session.results.get(f, 1) for f in range(5)}
    app.scrubber.close()
    for make in (lambda: video, lambda: s2.Session(video, engine)):  # as the cell was written
        again = s2.VideoTracker(make(), engine, folder=folder, threaded=False, max_width=320)
        assert again.status.value.startswith("resumed: 1 object, 1 prompt, 5 frames tracked")
        assert again.session.log.to_json() == log and again.session.objects[1].name == "child"
        assert {f: again.session.results.get(f, 1) for f in range(5)} == masks
        again.scrubber.close()
        again.session.close()
    busy = s2.Session(video, engine)
    busy.add_object()
    with pytest.raises(s2.SessionError, match="has work of its own"):
        s2.VideoTracker(busy, engine, folder=folder)
    new = s2.VideoTracker(video, engine, folder=folder, fresh=True, threaded=False)
    assert len(new.session.log) == 0 and "earlier session is in" in new.status.value
    old = s2.load_session(new.session.moved_aside, in_memory=True)
    assert old.log.to_json() == log


def test_a_click_that_must_re_track_runs_in_the_background_and_stops(engine, bedroom, tmp_path):
    """A correction whose memory was released re-tracks off the kernel's thread: the click
    returns at once, the progress bar moves, the stop button cancels it (the click is not
    made, nothing else changes), and the same click without a stop is made."""
    sess = s2.Session(s2.open_video(bedroom, end=60), engine, memory="bounded")
    app = s2.VideoTracker(sess, folder=tmp_path / "run", max_width=320)
    app.click(450, 200)
    app.propagate("forward")
    assert app.wait(300) and app.errors == []
    app.show_frame(30)
    app.scrubber.wait()
    assert sess.frames_to_rebuild(30, 1) == 31  # frames 0..30: the window before 30 was released
    before, tracked = sess.log.to_json(), sess.results.get(30, 1)
    seen: list[tuple[int, int]] = []

    def press_stop(what: str, done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            app.stop_btn.click()  # what the browser's stop click does

    sess.on_progress(press_stop)
    app.click(100, 60)
    assert app.running and not app.stop_btn.disabled  # the click returned; the work goes on
    assert app.wait(300)
    assert "Stopped re-tracking frames 0..30" in app.status.value and "not made" in app.status.value
    assert (3, 31) in seen and (31, 31) not in seen[:-1]
    assert sess.log.to_json() == before and sess.results.get(30, 1) == tracked
    assert app.stop_btn.disabled and not app.run_btns["forward"].disabled
    sess.on_progress(press_stop, remove=True)
    app.errors.clear()
    app.click(100, 60)  # again, not stopped: the correction is made
    assert app.wait(300) and app.errors == []
    assert s2.frame_prompts(sess.log)[(30, 1)].points == [(100.0, 60.0)]
    assert app.progress.value == app.progress.max == 31
    assert sess.frames_to_rebuild(30, 1) == 0  # the memory is back
    app.scrubber.close()


def test_after_a_stop_the_same_button_goes_on_from_there(engine, bedroom, tmp_path):
    app = s2.VideoTracker(s2.open_video(bedroom, end=14), engine, folder=None, max_width=320)
    app.click(450, 200)
    update, shown = app.scrubber.update, []

    def stop_after_4(fr, redraw=True):
        shown.append(fr.frame_idx)
        if len(shown) == 4:
            app.stop_btn.click()
        update(fr, redraw=redraw)

    app.scrubber.update = stop_after_4
    app.run_btns["forward"].click()
    assert app.wait(300) and app.errors == [] and shown == [0, 1, 2, 3]
    assert "over 4 frames (stopped: the same button goes on from there)" in app.status.value
    app.run_btns["forward"].click()
    assert app.wait(300) and app.errors == []
    assert shown == list(range(14))  # frames 4..13: none twice
    assert "over 10 frames, going on where the last run stopped (frame 3)" in app.status.value
    assert app.progress.value == app.progress.max == 10
    app.scrubber.close()


def test_a_click_reads_the_log_index_once_the_store_once_and_draws_once(engine, bedroom):
    app = s2.VideoTracker(s2.open_video(bedroom, end=20), engine, threaded=False, folder=None)
    queries, renders = [], []
    store, scrubber = app.session.results, app.scrubber
    query, render = store._query, scrubber.render
    store._query = lambda *a: queries.append(a[0]) or query(*a)
    scrubber.render = lambda f: renders.append(f) or render(f)
    for i, (x, y) in enumerate([(450, 200), (470, 220), (300, 100)]):  # the first makes object 1
        queries.clear()
        renders.clear()
        app.click(x, y, 0 if i == 2 else 1)
        assert app.errors == []
        assert renders == [0], f"click {i + 1} drew the frame {len(renders)} times"
        assert len(queries) == 1 and queries[0].startswith("SELECT"), queries
    # what the app drew is what the store holds (the masks came from the click's records)
    drawn = app.scrubber.mask_png(0)
    assert drawn is not None
    app.scrubber._fresh.clear()
    app.scrubber.masks_cache.drop()
    again = app.scrubber.mask_png(0)
    assert np.array_equal(drawn.rgba, again.rgba) and (drawn.x, drawn.y) == (again.x, again.y)


def test_prompts_from_code_name_their_frame_and_object_wherever_the_user_left_the_app(
    engine, bedroom
):
    """A notebook's scripted cells must not depend on the frame or object the user left."""
    app = s2.VideoTracker(s2.open_video(bedroom, end=12), engine, folder=None, max_width=320)
    app.click(450, 200)  # the user: object 1 on frame 0, then a second object on frame 7
    app.new_object()
    app.show_frame(7)
    app.scrubber.wait()
    app.click(300, 100)
    assert (app.frame_idx, app.editor.obj_id) == (7, 2)
    app.click(460, 210, frame_idx=0, obj_id=1)  # the notebook's cell
    assert app.errors == [] and (app.frame_idx, app.editor.obj_id) == (0, 1)
    assert s2.frame_prompts(app.session.log)[(0, 1)].points == [(450.0, 200.0), (460.0, 210.0)]
    app.box([100, 100, 300, 300], frame_idx=7, obj_id=2)
    assert s2.frame_prompts(app.session.log)[(7, 2)].box == pytest.approx([100, 100, 300, 300])
    app.click(10, 10, obj_id=9)  # a new id makes the object, as a first click does
    assert app.errors == [] and 9 in app.session.objects and app.editor.obj_id == 9
    app.propagate("both", start=5)  # both ways from frame 5: frame 5 is tracked in each pass
    assert app.wait(300) and app.errors == []
    assert "Propagated both over 12 frames" in app.status.value
    app.scrubber.close()


def test_segment_everything_with_the_untrained_model_keeps_its_masks(engine, data_dir):
    app = s2.ImageSegmenter(read_image(data_dir / "truck.jpg"), engine, folder=None)
    assert app.picker.knobs == {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    assert app.picker.density.value == 8  # a CPU: the small grid


def test_tracker_retracks_only_what_changed_and_says_what_it_kept(engine, bedroom):
    app = s2.VideoTracker(s2.open_video(bedroom, end=30), engine, folder=None, threaded=False,
                          max_width=320)  # fmt: skip
    app.click(450, 200, frame_idx=0, obj_id=1)
    app.propagate("forward")
    assert app.errors == [] and len(app.session.results.frames(1)) == 30
    assert "kept as they were" not in app.status.value  # nothing stored before: all tracked
    app.click(300, 220, frame_idx=10, obj_id=1, label=0)  # a correction
    app.propagate("forward")
    (st,) = app.session.settled
    assert st.skipped == 29 - st.frame_idx > 0
    kept = f"frames {st.frame_idx + 1}-{st.frame_idx + st.skipped} ({st.skipped}) kept as they were"
    assert kept in app.status.value
    app.converge.value = False  # "everything": the next correction re-tracks to the end
    app.click(320, 230, frame_idx=10, obj_id=1, label=0)
    app.propagate("forward")
    assert app.session.settled == [] and "Propagated forward over 20 frames." in app.status.value


def test_tracker_drift_check_marks_the_lane_and_says_what_it_found(engine, bedroom):
    app = s2.VideoTracker(s2.open_video(bedroom, end=12), engine, folder=None, threaded=False,
                          max_width=320)  # fmt: skip
    app.drift_btn.click()
    assert "propagate first" in app.status.value  # nothing tracked yet
    app.click(450, 200, frame_idx=0, obj_id=1)
    app.propagate("forward")
    app.drift_btn.click()
    assert app.errors[1:] == [] and "Drift check of frames 0-11" in app.status.value
    assert "untrained" in app.status.value and app.progress.value == 12
    scores = s2.drift_scores(app.session)
    assert len(scores) == 12
    drifted = [f for (f, _), v in sorted(scores.items()) if v > 0.5]
    assert app.scrubber.suspects[1][drifted].all()  # shown in the quality lane
    assert app.progress_label.value == "drift check: 12 frames, done" and "stale" not in app.said
    # on masks made stale by a correction: said; stopped: the progress line says so
    app.click(300, 220, frame_idx=3, obj_id=1, label=0)
    show = app._show_progress

    def stop_at_3(done, total, text):
        show(done, total, text)
        if done == 3 and text.startswith("drift check: frame"):
            app.stop()

    app._show_progress = stop_at_3
    app.check_drift()
    assert "8 of these frames hold masks tracked before the last prompt change" in app.said
    assert app.progress_label.value == "drift check: 3 frames, stopped", app.progress_label.value


def test_a_click_on_a_frame_with_features_leaves_a_core_an_encoder_run_does_not(engine, bedroom):
    """The mask decoder alone runs on all cores but one; the image encoder keeps every core."""
    import torch

    app = s2.VideoTracker(s2.open_video(bedroom, end=10), engine, folder=None,
                          threaded=False, max_width=320)  # fmt: skip
    seen = []
    click = app.editor.click
    app.editor.click = lambda *a, **k: (seen.append(torch.get_num_threads()), click(*a, **k))[1]
    all_cores = torch.get_num_threads()
    app.click(450, 200, frame_idx=3, obj_id=1)  # frame 3's features: not computed yet
    app.click(300, 220, frame_idx=3, obj_id=1)  # now they are held
    assert app.errors == []
    assert seen == [all_cores, max(1, all_cores - 1)] and torch.get_num_threads() == all_cores


def test_an_edit_hands_back_its_threads_openmp_workers(engine, bedroom):
    """JupyterLab runs clicks in a subshell thread: its torch workers end with each edit, so a
    propagation started later from any thread runs with the only pool (see base.openmp)."""
    import os
    import threading
    import time

    import torch

    from sam2nb.base.openmp import release_workers

    if torch.get_num_threads() < 2 or not os.path.isdir("/proc/self/task"):
        pytest.skip("needs a worker pool and /proc")
    if not release_workers():
        pytest.skip("torch does not use GNU libgomp here")
    app = s2.VideoTracker(s2.open_video(bedroom, end=10), engine, folder=None,
                          threaded=False, max_width=320)  # fmt: skip
    count = lambda: len(os.listdir("/proc/self/task"))  # noqa: E731
    got = {}

    def subshell() -> None:
        base = count()
        torch.ones(1 << 22).add_(1)  # this thread has a pool now
        got["pool"] = count() - base
        app.click(450, 200, frame_idx=4, obj_id=1)  # an encoder run, on every core
        deadline = time.monotonic() + 5  # ended workers leave /proc a moment later
        while count() > base and time.monotonic() < deadline:
            time.sleep(0.01)
        got["after"] = count() - base

    t = threading.Thread(target=subshell)
    t.start()
    t.join()
    assert app.errors == [] and got["pool"] == torch.get_num_threads() - 1
    assert got["after"] == 0, got  # the edit's pool is gone


def test_the_main_threads_workers_end_after_each_cell():
    """The apps have IPython end the main thread's pool after every cell (post_execute)."""
    import os
    import time

    import torch
    from IPython.core.events import EventManager, available_events

    from sam2nb.base.openmp import release_after_cells, release_workers

    class Shell:  # IPython's own event manager, without a whole interactive shell
        def __init__(self) -> None:
            self.events = EventManager(self, available_events)

    shell = Shell()
    assert release_after_cells(shell) and release_after_cells(shell)  # registered once
    assert len(shell.events.callbacks["post_execute"]) == 1
    if torch.get_num_threads() < 2 or not os.path.isdir("/proc/self/task"):
        return
    if not release_workers():
        pytest.skip("torch does not use GNU libgomp here")
    count = lambda: len(os.listdir("/proc/self/task"))  # noqa: E731
    prev, deadline = -1, time.monotonic() + 5  # a pool released above leaves /proc a moment later
    while count() != prev and time.monotonic() < deadline:
        prev = count()
        time.sleep(0.05)
    base = count()  # no pool on this thread now, whatever the tests before left
    torch.ones(1 << 22).add_(1)  # a cell ran torch
    assert count() == base + torch.get_num_threads() - 1
    shell.events.trigger("post_execute")  # the cell ended
    deadline = time.monotonic() + 5
    while count() > base and time.monotonic() < deadline:
        time.sleep(0.01)
    assert count() == base


def test_tracking_sends_the_browser_few_updates(engine, bedroom, monkeypatch):
    """While tracking, follow, the progress line and the timeline are paced: the browser's
    work for them shares the cores with the model (see widgets/pacing.py)."""
    import time

    from sam2nb.base.openmp import usable_cores
    from sam2nb.widgets import pacing as T

    app = s2.VideoTracker(bedroom, engine, folder=None, threaded=False, max_width=320)
    app.click(225.0, 100.0, frame_idx=0, obj_id=1)
    labels, draws, lanes = [], [], []
    app.progress_label.observe(lambda c: labels.append((time.monotonic(), c["new"])), "value")
    render = app.scrubber.render
    monkeypatch.setattr(
        app.scrubber, "render", lambda f: draws.append(time.monotonic()) or render(f)
    )
    draw_timeline = app.scrubber.draw_timeline

    def lane(force: bool = False, **kw) -> None:  # the timeline drawn as frames stream in
        before = app.scrubber._timeline_t
        draw_timeline(force=force, **kw)
        if not force and app.scrubber._timeline_t != before:
            lanes.append(time.monotonic())

    monkeypatch.setattr(app.scrubber, "draw_timeline", lane)
    t0 = time.monotonic()
    app.propagate("forward", max_frames=16)
    took = time.monotonic() - t0
    assert app.said.startswith("Propagated forward over 17 frames")
    assert app.frame_idx == 16  # follow ends on the last frame tracked

    def gaps(times):
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    # the first and last of each are the run's start and end: the rest keep their interval
    assert all(g >= T.FOLLOW_EVERY_S for g in gaps(draws[:-1])), (gaps(draws), took)
    during = [t for t, text in labels if "of 17 frames" in text
              or text.endswith("/s") and int(text.split()[0]) < 17]  # fmt: skip
    assert labels[-1][1].endswith("done"), labels
    assert all(g >= T.PROGRESS_EVERY_S for g in gaps(during)), (labels, took)
    assert all(g >= T.TIMELINE_INTERVAL for g in gaps(lanes)), (gaps(lanes), took)
    assert len(draws) <= 2 + took / T.FOLLOW_EVERY_S
    if usable_cores() <= 4:  # this machine: the browser shares the cores
        assert T.FOLLOW_EVERY_S >= 4 and T.PROGRESS_EVERY_S >= 2 and T.TIMELINE_INTERVAL >= 2


def test_forward_right_after_a_click_tracks_from_that_click(engine, bedroom, monkeypatch):
    """In JupyterLab a button's click may be handled on another thread while a click on the
    picture still runs (seen in the browser: a click on a new frame, then *forward* at once,
    planned the run from frame 0 and failed with "busy" while the click went on). Jobs wait for
    the edit in flight and plan after it."""
    import threading
    import time

    app = s2.VideoTracker(bedroom, engine, folder=None, threaded=True, max_width=320)
    app.click(225.0, 100.0, frame_idx=0, obj_id=1)
    app.propagate("forward", max_frames=4)
    assert app.wait(120)
    started, click = threading.Event(), app.editor.click

    def slow_click(*args, **kwargs):  # the model's work on a frame it has no features of yet
        started.set()
        time.sleep(0.5)
        return click(*args, **kwargs)

    monkeypatch.setattr(app.editor, "click", slow_click)
    app.scrubber.show(6)
    edit = threading.Thread(target=app.click, args=(230.0, 110.0), kwargs={"label": 0})
    edit.start()
    assert started.wait(30)
    app.propagate("forward", max_frames=2)  # the click is still running
    edit.join(60)
    assert app.wait(120)
    assert not app.errors, app.errors[-1]
    ops = [(e["op"], e.get("frame_idx", e.get("start"))) for e in app.session.log.to_json()]
    assert ops[-2:] == [("points", 6), ("propagate", 6)], ops
    assert app.said.startswith("Propagated forward over 3 frames"), app.said


def test_masks_tracked_before_a_change_are_stale_in_the_app_until_tracked_again(engine, bedroom):
    """A click on a tracked frame strikes the masks after it through, says so, and tracking
    renews them; the frame line names a stale frame's objects."""
    video = s2.open_video(bedroom, end=30)
    app = s2.VideoTracker(video, engine, folder=None, threaded=False, max_width=320)
    app.click(225.0, 100.0, frame_idx=0, obj_id=1)
    app.propagate("forward", max_frames=10)
    assert not app.scrubber._stale[1].any()
    app.click(200.0, 120.0, frame_idx=4, obj_id=1)  # a correction: frames 5-10 are stale
    assert "6 frames tracked before this change are stale" in app.said, app.said
    assert "{" not in app.said and "covers" in app.said
    assert np.flatnonzero(app.scrubber._stale[1]).tolist() == list(range(5, 11))
    app.scrubber.show(7)
    app.scrubber.wait()
    assert "stale: tracked before the last change (object 1)" in app.scrubber.info_text
    app.propagate("forward", max_frames=3)  # a run stopped at frame 7: 8-10 stay stale
    assert "Tracking forward" not in app.said and app.said.startswith("Propagated")
    assert np.flatnonzero(app.scrubber._stale[1]).tolist() == [8, 9, 10]
    assert app.session.results.stale_frames(1) == [8, 9, 10]
    app.propagate("forward")
    assert not app.scrubber._stale[1].any() and app.session.results.stale_frames() == []


def test_interrupting_a_cell_that_waits_stops_the_tracking_in_one_line(engine, bedroom, capsys):
    """Kernel -> Interrupt (SIGINT) while app.wait() blocks: the run stops after the frame in
    flight, one line says so, nothing tracked is lost, and the cell goes on."""
    import os
    import signal
    import threading
    import time

    app = s2.VideoTracker(s2.open_video(bedroom, end=60), engine, folder=None, max_width=320)
    app.click(225.0, 100.0, frame_idx=0, obj_id=1)
    app.propagate("forward")
    while app._job.done < 3:  # a few frames in
        time.sleep(0.05)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    assert app.wait(progress=False) is False  # no KeyboardInterrupt escapes
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Interrupted: stopped after"), out
    assert not app.running
    n = len(app.session.results.frames(1))
    time.sleep(1.0)
    assert len(app.session.results.frames(1)) == n < 60  # nothing goes on in the background
    assert app.session.unfinished is not None  # the same button goes on from there
    app.scrubber.close()


def test_a_resumed_tracker_says_a_run_was_cut_off_and_keeps_only_what_changed(
    engine, bedroom, tmp_path
):
    video = s2.open_video(bedroom, end=16)
    folder = tmp_path / "session"
    for converge in (False, True):
        app = s2.VideoTracker(video, engine, folder=folder, fresh=True, threaded=False,
                              max_width=320)  # fmt: skip
        app.click(450, 200, frame_idx=0, obj_id=1)
        app.converge.value = converge
        stop_at = app._show_progress

        def stop_after_4(done, total, text, app=app, show=stop_at):
            show(done, total, text)
            if done == 4:
                app.stop()

        app._show_progress = stop_after_4
        app.propagate("forward")
        assert app.session.unfinished is not None
        app.scrubber.close()
        app.session.close()
        again = s2.VideoTracker(video, engine, folder=folder, threaded=False, max_width=320)
        assert "A forward propagation" in again.said and "was cut off after frame 3" in again.said
        assert ("(only what changed)" in again.said) == converge
        assert again.converge.value == converge  # the box as the run began
        again.scrubber.close()
        again.session.close()


def test_notebook_01_counts_its_automatic_masks_in_words():
    """The "segment everything" figure of notebook 01 says 1 automatic mask, 2 automatic masks
    (its cell run on stand-ins: the title is what is checked)."""
    import json
    from pathlib import Path
    from types import SimpleNamespace as NS

    nb = Path(__file__).parents[2] / "notebooks" / "01_image_segmentation.ipynb"
    cells = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"]]
    code = next(c for c in cells if "plt.title(" in c and "segment_everything" in c)

    class Found(list):
        masks: list = []

        def filter(self, **_):
            return self

        def overlay(self, image):
            return image

    for n, want in ((1, "1 automatic mask"), (2, "2 automatic masks"), (0, "0 automatic masks")):
        titles: list[str] = []
        plt = NS(figure=lambda **_: None, imshow=lambda *_: None, title=titles.append,
                 axis=lambda *_: None, show=lambda: None)  # fmt: skip
        exec(code, {"plt": plt, "s2": NS(segment_everything=lambda *_, n=n, **__: Found([0] * n)),
                    "engine": NS(untrained=False, device=NS(type="cpu")), "app": NS(picker=NS()),
                    "POINTS_PER_SIDE": None, "image": None, "w": 10, "h": 10,
                    "print": lambda *_: None})  # fmt: skip
        assert titles == [want], (n, titles)


def test_the_tracker_app_runs_a_transformers_tracker_and_says_what_it_cannot(bedroom, tmp_path):
    """Last here: loading another model unloads the module's test engine."""
    pytest.importorskip("transformers")
    hf = s2.load("edgetam-test")
    app = s2.VideoTracker(s2.open_video(bedroom, end=8), hf, folder=tmp_path / "run",
                          threaded=False, max_width=320)  # fmt: skip
    assert "UNTRAINED" in app.widget.children[0].value
    mc = app.canvas.widget
    mouse(mc, "mouse_down", 150.0, 67.0)  # display pixels: (450, 200) in the video
    mouse(mc, "mouse_up", 150.0, 67.0)
    app.propagate("forward")
    assert app.wait(300) and app.errors == []
    assert app.session.results.frames(1) == list(range(8))
    picker = app.picker  # segment everything is sam2's: the button says so, in one line
    assert picker.run_btn.disabled
    assert picker.info.value.startswith("edgetam-test tracks videos only: segment everything")
    app.scrubber.close()

"""Batch runs: manifests, one item, and a local Ray instance with two CPU workers.

Six short clips are cut from ../shared/data into a temporary folder (one is then truncated, a
corrupt item on purpose). Ray's results must equal the same items run one by one in this
process, and a run killed midway must finish the rest on a rerun without redoing finished ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sam2nb as s2
from sam2nb.batch.items import STATUS

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CLIPS = [("bedroom.mp4", 0), ("bedroom.mp4", 100), ("cups.mp4", 0), ("cups.mp4", 150),
         ("pingpong.mp4", 0), ("pingpong.mp4", 120)]  # fmt: skip
FRAMES, WIDTH = 6, 320
BROKEN = "pingpong-120"  # truncated on purpose


def _log(w: int, h: int) -> list[dict]:
    """A click and a box on frame 0, in video pixels."""
    return [
        {"op": "points", "frame_idx": 0, "obj_id": 1, "points": [[w * 0.45, h * 0.4]],
         "labels": [1]},
        {"op": "box", "frame_idx": 0, "obj_id": 2, "box": [w * 0.1, h * 0.5, w * 0.4, h * 0.95]},
        {"op": "propagate", "direction": "forward"},  # a batch ignores it: it tracks everything
    ]  # fmt: skip


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, list[s2.BatchItem]]:
    """Six 6-frame clips (mp4, 320 px wide) with prompt files and a JSON manifest."""
    import cv2

    if not DATA.is_dir():
        pytest.skip(f"no {DATA}")
    root = tmp_path_factory.mktemp("clips")
    rows = []
    for name, start in CLIPS:
        src = s2.open_video(DATA / name, start=start, end=start + FRAMES, max_side=WIDTH)
        stem = f"{Path(name).stem}-{start}"
        w, h = src.size
        out = cv2.VideoWriter(
            str(root / f"{stem}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 24, (w, h)
        )
        for i in range(len(src)):
            out.write(cv2.cvtColor(src[i], cv2.COLOR_RGB2BGR))
        out.release()
        (root / f"{stem}.json").write_text(json.dumps(_log(w, h)))
        rows.append({"video": f"{stem}.mp4", "prompts": f"{stem}.json"})
    broken = root / f"{BROKEN}.mp4"
    broken.write_bytes(broken.read_bytes()[:3000])
    manifest = root / "clips.json"
    manifest.write_text(json.dumps({"defaults": {"model": "test"}, "items": rows}))
    return manifest, s2.read_manifest(manifest)


def _statuses(out: Path) -> list[Path]:
    """Finished items' status files (not those of items being built in .work-*)."""
    return [p for p in out.glob(f"*/{STATUS}") if not p.parent.name.startswith(".")]


# -- manifests (no model) ------------------------------------------------------------------


def test_json_manifest_resolves_paths_and_defaults(clips):
    manifest, items = clips
    assert [it.id for it in items] == [f"{Path(n).stem}-{s}" for n, s in CLIPS]
    assert items[0].video == str(manifest.parent / "bedroom-0.mp4")
    assert all(it.model == "test" and it.formats == ("palette", "coco") for it in items)


def test_csv_manifest(tmp_path):
    (tmp_path / "m.csv").write_text(
        "video,prompts,model,formats,end\nclips/a.mp4,a.json,test,png;mot,8\nb.mp4,b.json,,,\n"
    )
    a, b = s2.read_manifest(tmp_path / "m.csv", model="small")
    assert (a.model, a.formats, a.end, a.video) == ("test", ("png", "mot"), 8,
                                                     str(tmp_path / "clips/a.mp4"))  # fmt: skip
    assert (b.model, b.end, b.id) == ("small", None, "b")


def test_csv_with_a_byte_order_mark_and_a_stray_value(tmp_path):
    (tmp_path / "m.csv").write_bytes("\ufeffvideo, prompts\na.mp4,a.json\n".encode())
    assert s2.read_manifest(tmp_path / "m.csv")[0].video == str(tmp_path / "a.mp4")
    (tmp_path / "m.csv").write_text("video,prompts\na.mp4,a.json,extra\n")
    with pytest.raises(s2.BatchError, match="row 1 has more values than the header"):
        s2.read_manifest(tmp_path / "m.csv")


def test_defaults_order_and_checks(tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"defaults": {"model": "small"}, "items": [
        {"video": "a.mp4", "prompts": "p.json"}, {"video": "b.mp4", "prompts": "p", "model": "test"}
    ]}))  # fmt: skip
    assert [i.model for i in s2.read_manifest(m)] == ["small", "test"]
    assert [i.model for i in s2.read_manifest(m, model="large")] == ["large", "test"]
    m.write_text(json.dumps({"defaults": {"id": "x"}, "items": []}))
    with pytest.raises(s2.BatchError, match="cannot be shared"):
        s2.read_manifest(m)
    with pytest.raises(s2.BatchError, match="do not apply to BatchItems"):
        s2.read_manifest([s2.BatchItem("a.mp4", "p.json")], model="test")


def test_paths_resolve_so_a_manifest_means_the_same_from_any_folder(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.json").write_text(json.dumps([{"video": "a.mp4", "prompts": "p"}]))
    monkeypatch.chdir(tmp_path / "sub")
    here = s2.read_manifest("m.json")[0]
    monkeypatch.chdir(tmp_path)
    there = s2.read_manifest("sub/m.json")[0]
    assert here.video == there.video == str(tmp_path / "sub" / "a.mp4")
    assert here.fingerprint() == there.fingerprint()


def test_inline_prompts_are_copied_and_numpy_is_fine():
    import numpy as np

    log = [{"op": "box", "frame_idx": 0, "obj_id": 1, "box": np.array([1.5, 2, 30, 40])}]
    item = s2.BatchItem("a.mp4", log, model="test")
    log.append({"op": "points"})
    assert item.prompts == [{"op": "box", "frame_idx": 0, "obj_id": 1, "box": [1.5, 2, 30, 40]}]
    assert len(item.fingerprint()) == 16


def test_a_folder_that_is_not_a_batch_result_is_never_replaced(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("mine")
    with pytest.raises(s2.BatchError, match="is not a batch result"):
        s2.run_batch([{"video": "a.mp4", "prompts": "p.json"}], tmp_path, model="test")
    assert (tmp_path / "a" / "notes.txt").read_text() == "mine"


def test_equal_stems_get_unique_ids():
    items = s2.read_manifest([{"video": "x/a.mp4", "prompts": "p.json"},
                              {"video": "y/a.mp4", "prompts": "p.json"}])  # fmt: skip
    assert [it.id for it in items] == ["a", "a-2"]
    made = [s2.BatchItem("x/a b.mp4", "p.json"), s2.BatchItem("y/a b.mp4", "p.json")]
    assert [it.id for it in s2.read_manifest(made)] == ["a_b", "a_b-2"]


@pytest.mark.parametrize(
    "rows, match",
    [
        ([{"video": "a.mp4", "prompts": "p.json", "colour": 1}], "unknown field.*colour"),
        ([{"video": "a.mp4", "prompts": "p.json", "formats": "gif"}], "unknown export format"),
        ([{"video": "a.mp4", "prompts": "p.json", "model": "huge"}], "huge"),
        ([{"video": "a.mp4"}], "'prompts' must be"),
        ([{"prompts": "p.json"}], "no video"),
        ([{"video": "a.mp4", "prompts": "p.json", "end": "ten"}], "end must be a whole number"),
        (
            [
                {"video": "a.mp4", "prompts": "p", "id": "x"},
                {"video": "b.mp4", "prompts": "p", "id": "x"},
            ],
            "id 'x' is used by items 1 and 2",
        ),  # fmt: skip
        ([{"video": "a.mp4", "prompts": "p", "id": "../x"}], "plain file name"),
        ([], "no items"),
        ([{"video": "a.mp4", "prompts": "p", "out": "."}], "inside the batch folder"),
        ([{"video": "a.mp4", "prompts": "p", "out": "../x"}], "inside the batch folder"),
        ([{"video": "a.mp4", "prompts": "p", "out": "/tmp/x"}], "inside the batch folder"),
        (
            [
                {"video": "a.mp4", "prompts": "p", "out": "x"},
                {"video": "b.mp4", "prompts": "p", "out": "./x/"},
            ],
            "share the output folder",
        ),  # fmt: skip
    ],
)
def test_bad_manifests_name_the_item_and_the_fix(rows, match):
    with pytest.raises(s2.BatchError, match=match):
        s2.read_manifest(rows)


def test_bad_manifest_files(tmp_path):
    with pytest.raises(s2.BatchError, match="No manifest at"):
        s2.read_manifest(tmp_path / "nope.json")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(s2.BatchError, match="not valid JSON"):
        s2.read_manifest(tmp_path / "m.json")
    with pytest.raises(s2.BatchError, match="holds no saved sessions"):
        s2.read_manifest(tmp_path)


def test_fingerprint_follows_the_prompt_file(tmp_path):
    p = tmp_path / "p.json"
    p.write_text("[]")
    item = s2.BatchItem("a.mp4", str(p), model="test")
    before = item.fingerprint()
    p.write_text('[{"op": "points"}]')
    assert item.fingerprint() != before


@pytest.mark.parametrize(
    "prompts, match",
    [
        ([{"op": "propagate"}], "no click, box or mask"),
        ([{"op": "jump"}], "needs an 'op'"),
        ("missing.json", "No prompt file"),
    ],
)
def test_bad_prompts(prompts, match):
    with pytest.raises(s2.BatchError, match=match):
        s2.load_prompts(s2.BatchItem("a.mp4", prompts, model="test"))


def test_cli_refuses_a_bad_manifest_before_starting_ray(tmp_path, capsys):
    from sam2nb.cli.commands import main

    (tmp_path / "m.json").write_text(json.dumps([{"video": "a.mp4", "prompts": "p", "x": 1}]))
    assert main(["batch", str(tmp_path / "m.json"), "--out", str(tmp_path / "o")]) == 2
    assert "unknown field(s) ['x']" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- one item, in this process ---------------------------------------------------------------


@pytest.mark.slow
def test_a_bad_prompt_fails_the_item_with_its_error(clips, tmp_path):
    _, items = clips
    click = {"op": "points", "frame_idx": 99, "obj_id": 1, "points": [[5, 5]], "labels": [1]}
    bad = s2.BatchItem(items[0].video, [click], model="test")
    st = s2.run_item(bad, tmp_path)
    assert st["state"] == "failed" and "99" in st["error"]
    on_disk = json.loads((tmp_path / bad.id / STATUS).read_text())
    assert on_disk["error"] == st["error"]
    assert sorted(p.name for p in (tmp_path / bad.id).iterdir()) == [STATUS]  # no partial exports


@pytest.mark.slow
def test_a_failed_redo_keeps_the_earlier_result(clips, serial, tmp_path):
    import shutil

    _, items = clips
    good = items[0]
    shutil.copytree(serial / good.id, tmp_path / good.id)
    broken = s2.BatchItem(str(Path(good.video).with_name(f"{BROKEN}.mp4")), good.prompts,
                          id=good.id, model="test")  # fmt: skip
    st = s2.run_item(broken, tmp_path)
    assert st["state"] == "failed" and st["kept_previous"]
    _same_results(tmp_path, serial, good)


@pytest.fixture(scope="module")
def serial(clips, tmp_path_factory) -> Path:
    """The good items run one by one in this process (1 torch thread, like each worker)."""
    import torch

    _, items = clips
    out = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))  # what each of 2 workers gets
    try:
        for it in items:
            st = s2.run_item(it, out)
            assert st["state"] == ("failed" if it.id == BROKEN else "done"), st
    finally:
        torch.set_num_threads(threads)
    return out


def _same_results(a: Path, b: Path, item: s2.BatchItem) -> None:
    pa, pb = (
        sorted((a / item.id / "palette").glob("*.png")),
        sorted((b / item.id / "palette").glob("*.png")),
    )
    assert [p.name for p in pa] == [p.name for p in pb] and len(pa) == FRAMES
    for x, y in zip(pa, pb, strict=True):
        assert x.read_bytes() == y.read_bytes(), f"{item.id}: {x.name} differs"
    ca, cb = (json.loads((d / item.id / "coco" / "coco.json").read_text()) for d in (a, b))
    assert ca["annotations"] == cb["annotations"] and len(ca["annotations"]) == 2 * FRAMES


# -- on Ray -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_run(clips, tmp_path_factory):
    manifest, _ = clips
    out = tmp_path_factory.mktemp("ray")
    report = s2.run_batch(manifest, out, workers=2, progress=False)
    return out, report


@pytest.mark.slow
def test_two_workers_run_every_item_and_isolate_the_corrupt_one(ray_run, clips):
    out, report = ray_run
    _, items = clips
    assert (report.done, report.failed, report.workers) == (5, 1, 2)
    (bad,) = [s for s in report.items if s["state"] == "failed"]
    assert bad["id"] == BROKEN and f"{BROKEN}.mp4" in bad["error"]
    workers = report.per_worker()
    assert len(workers) == 2 and set(workers["model_loads"]) == {1}  # one load per worker
    assert workers["items"].sum() == 6 and workers["frames"].sum() == 5 * FRAMES
    table = __import__("pandas").read_csv(out / "summary.csv")
    assert list(table["id"]) == [it.id for it in items] and table["untrained"].iloc[0]
    assert "UNTRAINED" in report.summary()


@pytest.mark.slow
def test_ray_results_equal_the_serial_run(ray_run, serial, clips):
    out, _ = ray_run
    for it in clips[1]:
        if it.id != BROKEN:
            _same_results(out, serial, it)


@pytest.mark.slow
def test_killed_midway_the_rerun_finishes_the_rest_only(clips, serial, tmp_path):
    manifest, items = clips
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sam2nb", "batch", str(manifest), "--out", str(out),
           "--workers", "2", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    try:
        while len(_statuses(out)) < 2:
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "no item finished in 300 s"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Ray processes
        proc.wait()
    before = {p.parent.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in _statuses(out)}
    assert 2 <= len(before) < len(items), before.keys()

    report = s2.run_batch(manifest, out, workers=2, progress=False)
    states = {s["id"]: s["state"] for s in report.items}
    assert {i for i, s in states.items() if s == "skipped"} == {
        i for i in before if json.loads(before[i][1])["state"] == "done"
    }
    for name, (mtime, data) in before.items():
        if states[name] == "skipped":
            p = out / name / STATUS
            assert (p.stat().st_mtime_ns, p.read_bytes()) == (mtime, data)  # not redone
    assert sum(s in ("done", "skipped") for s in states.values()) == 5
    assert states[BROKEN] == "failed"  # a failed item is tried again, and fails again
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the killed run's leftovers
    for it in items:
        if it.id != BROKEN:
            _same_results(out, serial, it)

    again = s2.run_batch(manifest, out, workers=2, progress=False)  # nothing left but the failure
    assert again.count("skipped") == 5 and again.failed == 1


@pytest.mark.slow
def test_a_background_job_stops_and_a_rerun_finishes(clips, tmp_path):
    manifest, items = clips
    job = s2.start_batch(manifest, tmp_path, workers=1, progress=False)
    while job.running and not _statuses(tmp_path):
        time.sleep(0.1)
    job.stop()
    report = job.wait(300)
    assert report.stopped and report.done >= 1 and report.done + report.failed < len(items)
    assert "stopped: run again to finish" in report.summary()
    rest = s2.run_batch(manifest, tmp_path, workers=1, progress=False)
    assert (
        rest.count("skipped") == report.done and rest.done + rest.failed == len(items) - report.done
    )


@pytest.mark.slow
def test_a_worker_killed_mid_item_fails_only_that_item(clips, tmp_path):
    import psutil

    manifest, items = clips
    job = s2.start_batch(manifest, tmp_path, workers=2, progress=False)
    killed, deadline = None, time.monotonic() + 120
    while job.running and killed is None and time.monotonic() < deadline:
        for p in psutil.process_iter(["cmdline"]):
            if "BatchWorker.run" in " ".join(p.info["cmdline"] or []):
                p.kill()  # as the kernel's OOM killer or a segfault would
                killed = p.pid
                break
        time.sleep(0.05)
    report = job.wait(300)
    assert killed is not None, "no worker was seen running an item"
    died = [s for s in report.items if "its worker died" in (s.get("error") or "")]
    assert len(died) == 1 and "a new worker took its place" in died[0]["error"]
    lost = {died[0]["id"], BROKEN}  # that item and the corrupt clip (maybe the same)
    assert report.failed == len(lost) and report.done == len(items) - len(lost)


@pytest.mark.slow
def test_an_item_stopped_mid_way_goes_on_from_the_frame_it_reached(clips, serial, tmp_path):
    import torch

    _, items = clips
    item = items[0]
    seen = []

    def stop_after_3() -> bool:  # checked after every tracked frame
        seen.append(1)
        return len(seen) >= 3

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))  # as the serial run had
    try:
        st = s2.run_item(item, tmp_path, stop=stop_after_3)
        assert st["state"] == "stopped" and not (tmp_path / item.id).exists()
        kept = tmp_path / f".session-{item.id}"
        assert s2.load_session(kept / "session", in_memory=True).results.frames() == [0, 1, 2]
        st = s2.run_item(item, tmp_path)  # the rerun goes on from frame 3
    finally:
        torch.set_num_threads(threads)
    assert st["state"] == "done" and st["frames_skipped"] == 3 and st["frames_tracked"] == 3
    assert not kept.exists()  # done: the item's outputs hold it all
    _same_results(tmp_path, serial, item)


def test_per_worker_rounds_what_it_shows():
    """Issue 31 (18): per_worker() showed fps as 0.821757."""
    from sam2nb.batch.workers import BatchReport

    report = BatchReport(Path("out"), items=[
        {"id": "a", "state": "done", "worker": "w1", "frames": 6, "seconds": 7.30148},
        {"id": "b", "state": "failed", "worker": "w1", "frames": 0, "seconds": 0.4},
        {"id": "c", "state": "done", "worker": "w2", "frames": 5, "seconds": 3.0},
    ])  # fmt: skip
    table = report.per_worker()
    assert list(table["fps"]) == [0.78, 1.67] and list(table["busy_s"]) == [7.7, 3.0]
    assert list(table["frames"]) == [6, 5] and list(table["failed"]) == [1, 0]
    assert "0.779" not in table.to_string()


def test_the_batch_bar_keeps_its_counter_on_its_line(capsys):
    """Issue 31 (18): in notebook 05 the bar's counter wrapped under the bar.

    Measured in JupyterLab (1000 px window, file browser open: a 568 px output, ~7.5 px a
    character): label and counter must stay within ~60 characters to leave the bar room.
    """
    from sam2nb.batch.workers import progress_bar

    bar = progress_bar(3, 2, "cuda")
    bar.update(2)
    bar.set_postfix_str("1 failed")
    left, _bar, right = bar.format_meter(**{**bar.format_dict, "elapsed": 83}).split("|")
    bar.close()
    assert left.startswith("batch, 2 cuda workers:") and right == " 2/3 [01:23<00:41, 1 failed]"
    assert len(left) + len(right) <= 60, (left, right)
    one = progress_bar(1, 1, "cpu")
    assert str(one).startswith("batch, 1 cpu worker: ")
    one.close()
    capsys.readouterr()


@pytest.mark.slow
def test_a_manifest_names_a_transformers_tracker(clips, tmp_path):
    """Last here: it loads another model than the other tests' test model."""
    pytest.importorskip("transformers")
    _, items = clips
    rows = [{"video": items[0].video, "prompts": items[0].prompts, "model": "EdgeTAM-test"}]
    mf = tmp_path / "hf.json"
    mf.write_text(json.dumps({"items": rows}))
    (item,) = s2.read_manifest(mf)
    assert item.model == "EdgeTAM-test"
    st = s2.run_item(item, tmp_path / "out")
    assert st["state"] == "done", st
    assert len(list((tmp_path / "out" / item.id / "palette").glob("*.png"))) == FRAMES
    bad = [{"video": items[0].video, "prompts": items[0].prompts, "model": "edgetamm"}]
    mf.write_text(json.dumps({"items": bad}))
    with pytest.raises(s2.BatchError, match="edgetamm.*edgetam"):
        s2.read_manifest(mf)

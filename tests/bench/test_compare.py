"""The tracker bake-off (``s2.compare``, ``sam2nb compare``): real untrained models, short clip."""

from __future__ import annotations

import csv
import threading

import pytest
from helpers import sam2_unfilled, short_clip

import sam2nb as s2
from sam2nb.bench.compare import COLUMNS, CompareError
from sam2nb.cli.commands import main

CLICK = (70, 117)  # a child in bedroom.mp4 shrunk to 320x180 (210, 350 at full size)
FRAMES = 4


@pytest.fixture(scope="module")
def clip(bedroom, tmp_path_factory):
    return short_clip(bedroom, tmp_path_factory.mktemp("cmp") / "clip.mp4", frames=FRAMES)


@pytest.fixture(scope="module")
def three(clip, tmp_path_factory):
    """test, test@hf and edgetam-test on the same click, sessions kept in a folder."""
    out = tmp_path_factory.mktemp("cmp-out")
    with sam2_unfilled():  # transformers fills no small holes: compare the same computation
        cmp = s2.compare(clip, ["test", "test@hf", "edgetam-test"], points=[(0, *CLICK)],
                         direction="forward", device="cpu", out=out, progress=False)  # fmt: skip
    return cmp, out


@pytest.mark.slow
def test_one_row_per_model_against_the_first(three):
    cmp, out = three
    assert [r.model for r in cmp.rows] == ["test", "test@hf", "edgetam-test"]
    assert not cmp.failed and not cmp.stopped
    first, hf, edge = cmp.rows
    assert first.iou_vs_first == 1.0
    assert hf.iou_vs_first >= 0.98  # the same weights through transformers
    assert {r.frames for r in cmp.rows} == {FRAMES}
    for r in cmp.rows:
        assert r.untrained and "untrained" in r.label.lower()
        assert r.fps > 0 and r.peak_mb == r.peak_mb and r.first_mask_s >= r.load_s > 0
        assert 0 <= r.flagged <= 1 and r.memory == "rss" and r.objects == 1
    assert 0 <= edge.iou_vs_first <= 1
    # masks at the video's size, whichever model's input size
    for store in cmp.results.values():
        assert store.get(3, 1).mask().shape == (180, 320)
    assert s2.current() is None  # every model was released
    text = str(cmp)
    assert text.splitlines()[0].split() == list(COLUMNS)
    assert "untrained = random weights" in text
    assert list(cmp.table.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert "<table" in cmp._repr_html_()
    # the sessions are kept and open again
    again = s2.load_session(out / "test")
    assert len(again.results) == FRAMES and again.log == s2.saved_log(out / "test")
    again.close()


@pytest.mark.slow
def test_csv_plot_and_masks_side_by_side(three, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    cmp, _ = three
    path = cmp.to_csv(tmp_path / "cmp.csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["model"] for r in rows] == ["test", "test@hf", "edgetam-test"]
    assert float(rows[1]["iou_vs_first"]) == pytest.approx(cmp.rows[1].iou_vs_first)
    with pytest.raises(CompareError, match="overwrite"):
        cmp.to_csv(path)
    cmp.to_csv(path, overwrite=True)
    fig = cmp.plot()
    assert len(fig.axes) == 2 and "UNTRAINED" in fig._suptitle.get_text()
    fig = cmp.show(frames=[0, 3])
    assert len(fig.axes) == 2 * 3
    assert fig.axes[1].get_title() == "test@hf (untrained)"


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_the_same_rows(clip, tmp_path, capsys):
    path = tmp_path / "cmp.csv"
    rc = main(["compare", str(clip), "--models", "edgetam-test,sam3-test", "--point",
               f"0:{CLICK[0]},{CLICK[1]}", "--box", "0:10,10,120,170:2", "--direction", "both",
               "--device", "cpu", "--csv", str(path), "--quiet"])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == list(COLUMNS)
    table = [line.split() for line in printed[1:3]]
    rows = list(csv.DictReader(path.open()))
    assert [t[0] for t in table] == [r["model"] for r in rows] == ["edgetam-test", "sam3-test"]
    assert [t[1] for t in table] == [r["frames"] for r in rows] == [str(FRAMES)] * 2
    assert [r["objects"] for r in rows] == ["2", "2"]
    assert table[0][5] == "1.000" and all(t[-1] == "yes" for t in table)  # untrained: yes
    rc = main(["compare", str(clip), "--models", "sam3-test", "--point", "0:5,5",
               "--csv", str(path), "--quiet"])  # fmt: skip
    assert rc == 2 and "--overwrite" in capsys.readouterr().err  # never overwritten silently


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--models", "test,nope", "--point", "0:5,5"], "unknown model 'nope'"),
        (["--models", "test,test", "--point", "0:5,5"], "name it once"),
        (["--models", "test"], "Nothing to track"),
        (["--models", "test", "--point", "0:5,5", "--prompts", "x"], "not both"),
        (["--models", "test", "--point", "9:5,5"], "frame 9 (object 1) is outside the video"),
        (["--models", "test", "--point", "0:500,5"], "outside the 320x180 image"),
        (["--models", "test", "--point", "0:5"], "FRAME:X,Y"),
        (["--models", "test", "--point", "0:5,5", "--direction", "both", "--frames", "0"],
         "positive number of frames"),
    ],
)  # fmt: skip
def test_bad_input_fails_before_any_model_loads(clip, capsys, args, needle):
    s2.unload()
    rc = main(["compare", str(clip), "--quiet", *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert s2.current() is None


@pytest.mark.slow
def test_a_saved_sessions_prompts_are_replayed(clip, tmp_path):
    saved = tmp_path / "saved"
    sess = s2.Session(clip, s2.load("sam3-test", device="cpu"), folder=saved)
    sess.add_object()
    sess.add_object()
    sess.add_box(1, 1, [10, 10, 120, 170])
    sess.add_points(1, 2, [CLICK], [1])
    sess.add_points(2, 2, [(200, 60)], [0])  # a negative click on a later frame
    sess.run(progress=False)
    sess.close()
    cmp = s2.compare(clip, ["sam3-test"], prompts=saved, device="cpu", progress=False)
    (row,) = cmp.rows
    assert row.objects == 2 and row.iou_vs_first == 1.0
    assert sorted(cmp.results["sam3-test"].obj_ids()) == [1, 2]
    assert set(cmp.results["sam3-test"].frames()) == set(range(FRAMES))
    with pytest.raises(CompareError, match="not both"):
        s2.compare(clip, ["sam3-test"], prompts=saved, points=[(0, 5, 5)], progress=False)


@pytest.mark.slow
def test_a_model_that_cannot_load_keeps_the_other_rows(clip, tmp_path, capsys):
    bad = s2.checkpoint_path("tiny")  # this test's own empty cache: a broken file, no download
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"not a checkpoint")
    path = tmp_path / "cmp.csv"
    rc = main(["compare", str(clip), "--models", "edgetam-test,tiny,sam3-test", "--point",
               "0:5,5", "--device", "cpu", "--csv", str(path), "--quiet"])  # fmt: skip
    assert rc == 2
    out, err = capsys.readouterr()
    assert "model 'tiny' did not run: CheckpointError" in err
    assert [r["model"] for r in csv.DictReader(path.open())] == ["edgetam-test", "sam3-test"]
    assert "tiny: FAILED" in out and out.splitlines()[1].startswith("edgetam-test")


@pytest.mark.slow
def test_a_stop_keeps_what_was_measured(clip):
    stop = threading.Event()
    stop.set()
    cmp = s2.compare(clip, ["sam3-test", "edgetam-test"], points=[(0, 5, 5)], stop=stop,
                     progress=False)  # fmt: skip
    assert cmp.stopped and not cmp.rows
    cmp = s2.compare(clip, ["sam3-test", "edgetam-test"], points=[(0, 5, 5)],
                     stop=lambda: True if s2.current() else False, progress=False)  # fmt: skip
    (row,) = cmp.rows
    assert row.stopped and row.frames == 1 and cmp.stopped
    assert "stopped" in str(cmp)

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

import sam2nb as s2
from sam2nb.base.errors import ExportError
from sam2nb.cli.commands import main
from sam2nb.synthetic import benchmark as bm
from sam2nb.synthetic.benchmark import SyntheticSet, synthetic_benchmark
from sam2nb.synthetic.scenes import KINDS, NEAR_PX, make_scene

SIZE, FRAMES = (320, 180), 40


def _scenes(kind, seeds=(0, 1, 2)):
    return [make_scene(s, kind, SIZE, FRAMES) for s in seeds]


def _events(sc, kind):
    return [e for e in sc.events if e["kind"] == kind]


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest distance (pixels) from a pixel of ``b`` to one of ``a``."""
    return float(ndimage.distance_transform_edt(~a)[b].min())


def _largest(sc, labs, o):
    """The object's pixels where it shows whole (its largest visible area), unblurred."""
    i = int(np.argmax([(lab == o).sum() for lab in labs]))
    return sc.frame(i, blur=False)[labs[i] == o].astype(float)


def test_same_seed_same_pixels_other_seed_other_pixels():
    for kind in KINDS:
        a, b = make_scene(7, kind, (192, 108), 12), make_scene(7, kind, (192, 108), 12)
        for i in range(12):
            assert np.array_equal(a.labels(i), b.labels(i))
            assert np.array_equal(a.frame(i), b.frame(i))
        assert a.to_dict() == b.to_dict() and a.prompts() == b.prompts()
        c = make_scene(8, kind, (192, 108), 12)
        assert not np.array_equal(a.frame(0), c.frame(0))
        assert any(not np.array_equal(a.labels(i), c.labels(i)) for i in range(12))


def test_entries_enter_exit_and_come_back():
    for sc in _scenes("entries"):
        present = np.array([[o.obj_id in sc.labels(i) for o in sc.objects] for i in range(FRAMES)])
        ids = [o.obj_id for o in sc.objects]
        enters, exits = _events(sc, "enter"), _events(sc, "exit")
        for e in enters:
            k = ids.index(e["obj_id"])
            assert not present[e["frame_idx"] - 1, k] and present[e["frame_idx"], k]
        for e in exits:
            k = ids.index(e["obj_id"])
            assert present[e["frame_idx"] - 1, k] and not present[e["frame_idx"], k]
        first: dict[int, int] = {}
        for e in enters:
            first.setdefault(e["obj_id"], e["frame_idx"])
        for o, f in first.items():  # absent before it first enters (unless it left first)
            if not any(x["obj_id"] == o and x["frame_idx"] < f for x in exits):
                assert not present[:f, ids.index(o)].any()
        late = [f for f in first.values() if f >= FRAMES // 2]
        back = [
            x for x in exits for e in enters
            if e["obj_id"] == x["obj_id"] and e["frame_idx"] > x["frame_idx"]
        ]  # fmt: skip
        assert late and back and min(first.values()) > 0
        assert any(o.first_frame and o.first_frame > 0 for o in sc.objects)


def test_occlusion_hides_the_back_object():
    for sc in _scenes("occlusion") + _scenes("mixed"):
        events = _events(sc, "occlusion")
        assert events
        for e in events:
            o, shares = e["obj_id"], []
            for i in range(max(e["start"] - 1, 0), min(e["end"] + 2, FRAMES)):
                whole, seen = sc.amodal(i).get(o), sc.labels(i) == o
                shares.append(1 - seen.sum() / whole.sum() if whole is not None else 0.0)
                if e["start"] <= i <= e["end"]:  # the visible area drops by more than 30%
                    assert shares[-1] > 0.3 and (sc.labels(i)[whole & ~seen] == e["by"]).any()
                else:
                    assert shares[-1] <= 0.3
            assert e["by"] != o and max(shares) == pytest.approx(e["max_hidden"], abs=1e-3)


def test_lookalikes_share_a_texture_and_cross():
    for sc in _scenes("lookalikes"):
        twins = [o for o in sc.objects if o.look_alike_of]
        assert len(twins) == 2
        labs = [sc.labels(i) for i in range(FRAMES)]
        for t in twins:
            a, b = _largest(sc, labs, t.look_alike_of), _largest(sc, labs, t.obj_id)
            assert len(a) == pytest.approx(len(b), rel=0.05)
            assert np.abs(a.mean(0) - b.mean(0)).max() < 6
            assert np.abs(a.std(0) - b.std(0)).max() < 8
            pair = [t.look_alike_of, t.obj_id]
            crossed = [e for e in _events(sc, "cross") if e["obj_ids"] == pair]
            assert crossed
            lab = sc.labels(crossed[0]["start"])
            assert _gap(lab == t.look_alike_of, lab == t.obj_id) <= NEAR_PX + 1
        for e in _events(sc, "near"):
            lab = sc.labels(e["start"])
            assert _gap(lab == e["obj_ids"][0], lab == e["obj_ids"][1]) <= NEAR_PX + 1


def test_scale_changes_area_and_blur_smears_the_frame():
    for sc in _scenes("scale_blur"):
        scaled = _events(sc, "scale")
        assert len(scaled) == 2
        for e in scaled:
            a0 = (sc.labels(e["start"]) == e["obj_id"]).sum()
            a1 = (sc.labels(e["end"]) == e["obj_id"]).sum()
            assert a1 / a0 == pytest.approx((e["to"] / e["from"]) ** 2, rel=0.25)
        blurred = _events(sc, "blur")
        assert blurred
        i = (blurred[0]["start"] + blurred[0]["end"]) // 2
        sharp, smeared = sc.frame(i, blur=False).astype(int), sc.frame(i).astype(int)
        assert np.abs(sharp - smeared).mean() > 2
    still = make_scene(0, "occlusion", SIZE, 8)
    assert np.array_equal(still.frame(3), still.frame(3, blur=False))


def test_prompts_lie_inside_the_visible_mask():
    for kind in KINDS:
        sc = make_scene(11, kind, SIZE, FRAMES)
        prompts = sc.prompts()
        assert set(prompts) == {o.obj_id for o in sc.objects if o.first_frame is not None}
        for o, p in prompts.items():
            mask = sc.labels(p["frame_idx"]) == o
            ((x, y),) = p["points"]
            assert mask[y, x] and p["labels"] == [1]
            ys, xs = np.nonzero(mask)
            assert p["box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert mask.sum() >= min(200, SIZE[0] * SIZE[1] // 1000)


def test_benchmark_folder_reads_back(tmp_path):
    size, frames = (160, 96), 8
    bench = synthetic_benchmark(tmp_path / "b", 2, 3, size=size, frames=frames, progress=False)
    again = synthetic_benchmark(tmp_path / "c", 2, 3, size=size, frames=frames, progress=False)
    head = json.loads((tmp_path / "b" / "benchmark.json").read_text())
    assert head["generator"] == "sam2nb.synthetic" and head["version"] == 1
    assert head["videos"] == bench.names == ["v000_occlusion", "v001_entries"]
    assert head["size"] == [160, 96] and head["frames"] == 8 and head["seed"] == 3
    assert "synthetic" in head["note"] and head["kinds"] == list(KINDS)
    opened = SyntheticSet.open(tmp_path / "b")
    assert opened.names == bench.names and opened.complete
    for k, name in enumerate(bench.names):
        video = s2.open_video(bench.video(name))
        assert (len(video), video.width, video.height) == (frames, *size)
        scene = opened.make(name)
        masks = s2.read_masks(bench.annotations(name), size)
        for i in range(frames):
            lab = np.zeros(size[::-1], np.uint8)
            for o, m in masks.get(i, {}).items():
                lab[m] = o
            assert np.array_equal(lab, scene.labels(i))
        assert bench.read_prompts(name) == scene.prompts()
        doc = bench.scene(name)
        assert doc["kind"] == KINDS[k] and doc["num_frames"] == frames and doc["size"] == [160, 96]
        assert doc["seed"] == bm.video_seed(3, k) and doc["events"] == scene.events
        assert {"obj_id", "shape", "look_alike_of", "first_frame", "last_frame"} <= set(
            doc["objects"][0]
        )
        pngs = sorted(bench.annotations(name).glob("*.png"))
        twins = sorted(again.annotations(name).glob("*.png"))
        assert [p.read_bytes() for p in pngs] == [p.read_bytes() for p in twins]
    assert not list((tmp_path / "b").glob(".tmp-*"))


def test_refuses_to_overwrite_and_finishes_a_stopped_run(tmp_path, monkeypatch):
    kw = {"size": (128, 72), "frames": 6, "progress": False}
    synthetic_benchmark(tmp_path, 3, **kw)
    with pytest.raises(ExportError, match="overwrite=True") as err:
        synthetic_benchmark(tmp_path, 3, **kw)
    assert str(tmp_path) in str(err.value) and "--overwrite" in str(err.value)
    bench = synthetic_benchmark(tmp_path, 1, kinds="lookalikes", overwrite=True, **kw)
    assert bench.names == ["v000_lookalikes"]
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["v000_lookalikes.mp4"]

    calls = []
    real = bm._write_video

    def stop_at_second(folder, scene, extra):
        calls.append(scene.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(folder, scene, extra)

    monkeypatch.setattr(bm, "_write_video", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        synthetic_benchmark(tmp_path / "s", 3, **kw)
    part = SyntheticSet.open(tmp_path / "s")
    assert part.names == ["v000_occlusion"] and not part.complete
    monkeypatch.setattr(bm, "_write_video", real)
    done = synthetic_benchmark(tmp_path / "s", 3, **kw)  # the same call finishes it
    assert SyntheticSet.open(tmp_path / "s").names == done.names and len(done) == 3


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"videos": 0}, "at least 1 video"),
        ({"size": (10, 10)}, "at least 64"),
        ({"size": (161, 96)}, "even"),
        ({"kinds": ["occlusion", "nope"]}, "Unknown scene kind 'nope'"),
        ({"frames": 2}, "at least 4 frames"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_say_what_to_fix(tmp_path, kw, words):
    with pytest.raises(ExportError, match=words):
        synthetic_benchmark(tmp_path, **{"progress": False, **kw})
    assert not (tmp_path / "benchmark.json").exists()


def test_cli_writes_a_tiny_benchmark(tmp_path, capsys):
    args = ["synthetic", str(tmp_path), "--videos", "2", "--size", "128x72", "--frames", "6",
            "--kinds", "occlusion,lookalikes", "--seed", "4", "--quiet"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "v000_occlusion" in out and "v001_lookalikes" in out
    assert (tmp_path / "videos" / "v001_lookalikes.mp4").is_file()
    assert len(list((tmp_path / "Annotations" / "v000_occlusion").glob("*.png"))) == 6
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0

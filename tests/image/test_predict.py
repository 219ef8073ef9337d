from __future__ import annotations

import numpy as np
import pytest

import sam2nb as s2
from sam2nb.prompts.checks import check_box, check_points


@pytest.mark.parametrize(
    ("points", "labels", "needle"),
    [
        ([(11, 5)], [1], "outside the 10x8 image"),
        ([(-1, 5)], [1], "outside"),
        ([(float("nan"), 5)], [1], "finite"),
        ([(float("inf"), 5)], [1], "finite"),
        ([(1, 2)], [2], "1 (positive) or 0"),
        ([(1, 2), (3, 4)], [1], "one label per point"),
        ([1, 2, 3], None, "(x, y) pairs"),
        (None, [1], "without points"),
    ],
)
def test_bad_points(points, labels, needle):
    with pytest.raises(s2.PromptError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        check_points(points, labels, 10, 8)


@pytest.mark.parametrize(
    ("box", "needle"),
    [
        ([5, 1, 2, 6], "x1 <= x0"),
        ([1, 1, 1, 6], "zero or negative area"),
        ([0, 0, 20, 6], "outside"),
        ([0, 0, float("nan"), 6], "finite"),
        ([1, 2, 3], r"\[x0, y0, x1, y1\]"),
    ],
)
def test_bad_boxes(box, needle):
    with pytest.raises(s2.PromptError, match=needle):
        check_box(box, 10, 8)


def test_defaults_are_positive_clicks():
    pts, lab = check_points([(1, 2), (3, 4)], None, 10, 8)
    assert lab.tolist() == [1, 1] and pts.dtype == np.float32


@pytest.fixture(scope="module")
def engine():
    yield s2.load("test", device="cpu")
    s2.unload()


@pytest.mark.slow
def test_segment_image_matches_raw_predictor_and_is_labelled(engine, data_dir):
    image = s2.read_image(data_dir / "groceries.jpg")
    h, w = image.shape[:2]
    res = s2.segment_image(engine, image, points=[(w / 2, h / 2), (10, 10)], labels=[1, 0])
    assert res.untrained and "untrained" in res.model.lower()
    assert res.masks.shape == (3, h, w) and res.masks.dtype == bool
    raw, scores, _ = engine.image_predictor.predict(
        point_coords=np.array([[w / 2, h / 2], [10, 10]]), point_labels=np.array([1, 0])
    )
    assert np.array_equal(res.masks, raw.astype(bool))
    assert np.array_equal(res.best, res.masks[int(np.argmax(scores))])
    boxed = s2.segment_image(
        engine,
        image,
        box=[w * 0.2, h * 0.2, w * 0.8, h * 0.8],
        multimask=False,
        reuse_embedding=True,
    )
    assert boxed.masks.shape == (1, h, w)


def test_no_prompt_is_a_clear_error(engine):
    with pytest.raises(s2.PromptError, match="at least one click"):
        s2.segment_image(engine, np.zeros((8, 8, 3), np.uint8))


@pytest.mark.slow
def test_two_image_sessions_of_one_size_never_share_an_embedding(engine, data_dir):
    """One engine serves both (two image apps): a click after the other's uses its own image."""
    a = s2.read_image(data_dir / "cars.jpg")
    b = np.ascontiguousarray(a[::-1, ::-1])  # the same size, another picture
    first, second = s2.ImageSession(a, engine), s2.ImageSession(b, engine)
    for sess in (first, second):
        sess.add_object()
        sess.add_points(0, 1, [(200, 150)], [1])
    assert second.features_ready() and not first.features_ready()  # b's features are held
    got = first.add_points(0, 1, [(220, 160)], [1]).records[1].mask()
    alone = s2.ImageSession(a, engine)
    alone.add_object()
    alone.add_points(0, 1, [(200, 150)], [1])
    want = alone.add_points(0, 1, [(220, 160)], [1]).records[1].mask()
    assert np.array_equal(got, want)
    s2.segment_image(engine, b, points=[(10, 10)])  # a direct call takes them too
    assert not alone.features_ready()

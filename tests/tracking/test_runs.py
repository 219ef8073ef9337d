"""A stopped propagation goes on where it stopped: the same masks, no frame tracked twice."""

from __future__ import annotations

import pytest

import sam2nb as s2

pytestmark = pytest.mark.slow

END = 16  # frames of the bedroom clip


@pytest.fixture(scope="module")
def engine():
    return s2.load("test")


def _session(engine, bedroom, folder=None) -> s2.Session:
    sess = s2.Session(s2.open_video(bedroom, end=END), engine, folder=folder)
    sess.add_object()
    sess.add_points(6, 1, [(450, 200)], [1])
    return sess


def _masks(sess) -> dict:
    return {(r.frame_idx, r.obj_id): r.rle for f in sess.results.frames() for r in
            sess.results.frame(f).values()}  # fmt: skip


def _first(frames) -> int:
    """The first frame a propagation tracks (then it is closed, as a loop left early does)."""
    try:
        return next(frames).frame_idx
    finally:
        frames.close()


def _stop_after(k: int):
    seen = []
    return seen, lambda: len(seen) >= k


@pytest.fixture(scope="module")
def uninterrupted(engine, bedroom):
    out = {}
    for direction in ("forward", "backward", "both"):
        sess = _session(engine, bedroom)
        frames = [fr.frame_idx for fr in sess.propagate(direction=direction, progress=False)]
        out[direction] = (frames, _masks(sess))
        sess.close()
    return out


@pytest.mark.parametrize(
    "direction, k",
    [("forward", 4), ("backward", 3), ("both", 5), ("both", 12)],
    ids=["forward", "backward", "both-in-forward-pass", "both-in-backward-pass"],
)
def test_propagating_again_goes_on_where_it_was_stopped(
    engine, bedroom, uninterrupted, direction, k
):
    frames, masks = uninterrupted[direction]
    sess = _session(engine, bedroom)
    seen, stop = _stop_after(k)
    for fr in sess.propagate(direction=direction, stop=stop, progress=False):
        seen.append(fr.frame_idx)
    assert seen == frames[:k]
    run = sess.unfinished
    assert run is not None and run["last"] == frames[k - 1] and run["direction"] == direction
    assert sess.frames_to_track(direction=direction) == len(frames) - k
    rest = [fr.frame_idx for fr in sess.propagate(direction=direction, progress=False)]
    assert rest == frames[k:]  # nothing tracked twice
    assert _masks(sess) == masks  # as if it had never stopped
    assert sess.unfinished is None
    # a propagation that got where it was going starts over from the prompt next time
    assert sess.frames_to_track(direction=direction) == len(frames)


def test_a_prompt_after_the_stop_starts_over_from_the_prompt(engine, bedroom):
    sess = _session(engine, bedroom)
    seen, stop = _stop_after(4)
    for fr in sess.propagate(stop=stop, progress=False):
        seen.append(fr.frame_idx)
    assert sess.unfinished is not None
    sess.add_points(8, 1, [(300, 100)], [0])  # the frames tracked after 8 are stale now
    assert sess.unfinished is None
    assert _first(sess.propagate(progress=False)) == 8
    other = _session(engine, bedroom)
    seen, stop = _stop_after(3)
    for fr in other.propagate(stop=stop, progress=False):
        seen.append(fr.frame_idx)
    other.rename_object(1, name="cat")  # a name does not change a mask: it goes on
    assert _first(other.propagate(progress=False)) == 9
    assert _first(other.propagate(direction="backward", progress=False)) == 6


def test_a_stopped_run_goes_on_after_the_session_is_reopened(engine, bedroom, tmp_path):
    sess = _session(engine, bedroom, folder=tmp_path / "run")
    seen, stop = _stop_after(5)
    for fr in sess.propagate(stop=stop, progress=False):
        seen.append(fr.frame_idx)
    sess.close()
    again = s2.open_session(tmp_path / "run")
    assert again.unfinished["last"] == 10
    rest = [fr.frame_idx for fr in again.propagate(progress=False)]
    assert rest == list(range(11, END))
    ref = _session(engine, bedroom)
    ref.run(progress=False)
    assert _masks(again) == _masks(ref)
    # the log replays to the same masks: one entry for the stopped run, one for the rest
    props = [(e.start, e.direction, e.frames_done) for e in again.log if e.op == "propagate"]
    assert props == [(6, "forward", 5), (11, "forward", 5)]

"""A drift check without ground truth: track back from a later frame and compare.

Tracking forward from a prompt, a mask that drifts onto the background or a look-alike usually
does so gradually. Tracking the same objects backward from a later frame's masks, with a state
of its own, reaches the same frames from the other side; where the two agree the track is
self-consistent, and where they disagree one of them drifted. The disagreement, ``1 - IoU``
between the backward mask and the stored (forward) one, is each frame's *drift score*.

The check never touches the session's results or sam2 memory: it builds a temporary sam2 state
over the same frames, seeds it with the stored masks on the last frame of the segment, tracks
backward to its first frame and throws the state away. The scores are kept in the result store
(table ``drift``, one row per frame and object, written as each frame finishes), so the quality
table, its lane in the tracker and ``sam2nb quality`` show them, and a killed check keeps the
frames it finished. Cost: one tracking step per frame of the segment (as much as tracking it).

Example:
    >>> _ = sess.run(progress=False)  # sess: 8 frames, one object clicked on frame 0
    >>> rep = check_drift(sess, 2, 7, progress=False)
    >>> rep.frames, sorted(rep.scores)[0]
    (6, (2, 1))
    >>> 0.0 <= rep.scores[(7, 1)] <= 1.0
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base.errors import SessionError
from ..base.jobs import as_stop
from ..model.tracker import BoundedMemory

DRIFT_SQL = """
CREATE TABLE IF NOT EXISTS drift (
    frame_idx INTEGER NOT NULL, obj_id INTEGER NOT NULL, score REAL NOT NULL,
    seeded_at INTEGER NOT NULL, area INTEGER NOT NULL, PRIMARY KEY (frame_idx, obj_id)
);
"""


@dataclass
class DriftReport:
    """What one drift check found.

    Attributes:
        start: first frame checked.
        end: the frame it tracked back from (its stored masks were the seeds).
        obj_ids: the objects checked (those visible on ``end``).
        scores: ``{(frame_idx, obj_id): 1 - IoU}`` of the backward mask against the stored one.
        frames: how many frames it tracked.
        seconds: how long it took.
        stopped: whether it was stopped before reaching ``start``.
        untrained: whether the model had random weights (the scores are then noise).
        stale: frames of the span holding a checked object's stale mask (tracked before a
            later prompt change): the check scored masks the next propagation replaces.
    """

    start: int
    end: int
    obj_ids: list[int]
    scores: dict[tuple[int, int], float] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0
    stopped: bool = False
    untrained: bool = False
    stale: int = 0

    def per_object(self) -> dict[int, float]:
        """Each object's mean drift over the frames checked."""
        out: dict[int, list[float]] = {}
        for (_, o), v in self.scores.items():
            out.setdefault(o, []).append(v)
        return {o: float(np.mean(v)) for o, v in sorted(out.items())}

    def __str__(self) -> str:
        tag = " (untrained model: noise)" if self.untrained else ""
        per = ", ".join(f"object {o}: {v:.2f}" for o, v in self.per_object().items())
        cut = ", stopped" if self.stopped else ""
        old = (f"; {self.stale} of these frames hold masks tracked before the last prompt "
               "change (stale): track again first to check what tracking gives now"
               if self.stale else "")  # fmt: skip
        return (f"Drift check of frames {self.start}-{self.end} ({self.frames} tracked back in "
                f"{self.seconds:.1f} s{cut}): mean drift {per or 'none'}{tag}{old}")  # fmt: skip


def drift_scores(results: Any) -> dict[tuple[int, int], float]:
    """The drift scores kept in a result store, ``{(frame_idx, obj_id): score}``.

    A score whose mask has changed since (a correction re-tracked the frame) is left out: it
    scored a mask that is no longer there.
    """
    store = getattr(results, "results", results)
    if not store.sql("SELECT name FROM sqlite_master WHERE type='table' AND name='drift'"):
        return {}
    rows = store.sql(
        "SELECT d.frame_idx, d.obj_id, d.score FROM drift d JOIN masks m ON "
        "m.frame_idx = d.frame_idx AND m.obj_id = d.obj_id AND m.area = d.area"
    )
    return {(int(f), int(o)): float(s) for f, o, s in rows}


def drift_span(session: Any, start: int | None = None, end: int | None = None) -> tuple[int, int]:
    """The frames a drift check covers: ``(start, end)``, by default the tracked ones.

    Example:
        >>> drift_span(sess)  # doctest: +SKIP
        (0, 7)
    """
    tracked = session.results.frames()
    if not tracked:
        raise SessionError("Nothing is tracked yet: propagate first, then check for drift.")
    a = tracked[0] if start is None else session.check_frame(start)
    b = tracked[-1] if end is None else session.check_frame(end)
    if b <= a:
        raise SessionError(f"A drift check needs end > start (got start={a}, end={b}).")
    return a, b


def check_drift(
    session: Any,
    start: int | None = None,
    end: int | None = None,
    *,
    obj_ids: Iterable[int] | None = None,
    stop: Any = None,
    progress: bool = True,
    on_frame: Callable[[int, dict[int, float]], None] | None = None,
) -> DriftReport:
    """Track back from frame ``end``'s stored masks to ``start`` and score the disagreement.

    Args:
        session: a tracked :class:`~sam2nb.Session` (it is left as it was).
        start: first frame to check (default: the first tracked frame).
        end: the later frame to track back from (default: the last tracked frame).
        obj_ids: the objects (default: all with a visible mask on ``end``).
        stop: a ``threading.Event`` or callable checked after each frame.
        progress: show a ``tqdm.auto`` progress bar.
        on_frame: called with ``(frame_idx, {obj_id: score})`` as each frame finishes.

    Returns:
        A :class:`DriftReport`; the scores are also kept in ``session.results`` (table ``drift``).

    Example:
        >>> rep = check_drift(sess, 0, 3, obj_ids=[1], progress=False)  # doctest: +SKIP
    """
    store = session.results
    a, b = drift_span(session, start, end)
    seeds = {o: r for o, r in store.frame(b).items() if r.visible and r.area > 0}
    if obj_ids is not None:
        want = {int(o) for o in obj_ids}
        seeds = {o: r for o, r in seeds.items() if o in want}
    if not seeds:
        raise SessionError(
            f"No object is visible on frame {b} to track back from: pick another end frame "
            "(one where the objects you want to check have masks)."
        )
    halt = as_stop(stop, SessionError)
    rep = DriftReport(a, b, sorted(seeds), untrained=bool(session.engine.untrained))
    stale = getattr(store, "stale_frames", None)
    if stale is not None:
        rep.stale = len({f for o in seeds for f in stale(o) if a <= f <= b})
    with session.exclusive("a drift check"):
        return _check(session, rep, seeds, a, b, halt, progress, on_frame)


def _check(
    session: Any,
    rep: DriftReport,
    seeds: dict,
    a: int,
    b: int,
    halt: Callable[[], bool],
    progress: bool,
    on_frame: Callable[[int, dict[int, float]], None] | None,
) -> DriftReport:
    import time

    from tqdm.auto import tqdm

    store = session.results
    t0 = time.perf_counter()
    bar = tqdm(total=b - a + 1, desc="drift check", unit="frame", disable=not progress)
    frames = _track_back(session, seeds, a, b)  # nothing runs until the first frame is asked
    try:
        store.sql_script(DRIFT_SQL)
        for f, scores, areas in frames:
            with store.transaction():  # on disk as the frame finishes
                store.sql_many(
                    "INSERT OR REPLACE INTO drift VALUES (?, ?, ?, ?, ?)",
                    [(f, o, s, b, areas[o]) for o, s in scores.items()],
                )
            rep.scores.update({(f, o): s for o, s in scores.items()})
            rep.frames += 1
            bar.update(1)
            if on_frame is not None:
                on_frame(f, scores)
            if halt() and f > a:
                rep.stopped = True
                break
    finally:
        frames.close()  # the temporary state goes now
        bar.close()
        rep.seconds = time.perf_counter() - t0
    return rep


def _track_back(session: Any, seeds: dict, a: int, b: int) -> Iterator[tuple[int, dict, dict]]:
    """Yield ``(frame_idx, {obj_id: 1 - IoU}, {obj_id: stored area})`` from ``b`` down to ``a``.

    It tracks with a scratch tracker over the same frames (the session's own is untouched),
    releasing state outside the memory window as it goes (flat memory on long segments).
    """
    store = session.results
    tmp = session.tracker.scratch()
    try:
        for o, r in seeds.items():
            tmp.add_mask(b, o, r.mask())
        bounded = isinstance(tmp, BoundedMemory)
        for step in tmp.propagate(b, True, b - a):
            f = step.frame_idx
            if bounded:
                tmp.release(f, {b})
            back = (step.logits > 0).cpu().numpy()
            recs = store.frame(f)
            scores, areas = {}, {}
            for i, o in enumerate(step.obj_ids):
                r = recs.get(int(o))
                if r is None:
                    continue
                m = r.mask()
                u = np.logical_or(back[i], m).sum()
                scores[r.obj_id] = (
                    0.0 if u == 0 else float(1 - np.logical_and(back[i], m).sum() / u)
                )
                areas[r.obj_id] = r.area
            yield f, scores, areas
    finally:
        tmp.close()  # the temporary state and its features go now

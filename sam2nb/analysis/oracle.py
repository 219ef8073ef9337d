"""Correctness oracle: the official sam2 predictor vs a sam2nb session, frame by frame.

Both run on the same weights, video and prompt log.

Segmentation quality cannot be measured without trained checkpoints; agreement with the
official predictor on the same (possibly random) weights can, and is what this measures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.adapter import official_init_state
from ..model.engine import Engine
from ..prompts.log import as_log


@dataclass
class Agreement:
    """How closely a sam2nb session matched the official predictor.

    Attributes:
        frames: frame-object pairs compared.
        iou_min: the lowest per-frame, per-object mask IoU.
        iou_mean: the mean of those IoUs.
        logit_diff_mean: mean absolute logit difference over all pixels and frames.
        logit_diff_min: the smallest per-frame maximum absolute logit difference.
        logit_diff_max: the largest per-frame maximum absolute logit difference.
        missing: frame-object pairs one side produced and the other did not.
    """

    frames: int
    iou_min: float
    iou_mean: float
    logit_diff_mean: float
    logit_diff_min: float
    logit_diff_max: float
    missing: int

    def row(self) -> str:
        """One line for a table."""
        return (
            f"{self.frames:5d} {self.iou_mean:.5f} {self.iou_min:.5f} "
            f"{self.logit_diff_mean:.2e} {self.logit_diff_min:.2e} {self.logit_diff_max:.2e} "
            f"{self.missing}"
        )


def _official_steps(
    engine: Engine, video_path: str, log: list[dict], corrections_as_cond: bool
) -> Iterator[tuple[int, dict]]:  # noqa: E501
    import torch

    p = engine.video_predictor
    old = p.add_all_frames_to_correct_as_cond
    p.add_all_frames_to_correct_as_cond = corrections_as_cond
    try:
        with torch.inference_mode(), engine.autocast():
            state = official_init_state(p, video_path)
            for e in as_log(log).to_json():
                op, f, o = e["op"], e.get("frame_idx"), e.get("obj_id")
                if op == "points":
                    _, ids, m = p.add_new_points_or_box(
                        state, f, o, points=np.asarray(e["points"], np.float32),
                        labels=np.asarray(e["labels"], np.int32),
                        clear_old_points=e.get("clear", False),
                    )  # fmt: skip
                    yield f, {o: m[ids.index(o), 0]}
                elif op == "box":
                    pts = None if e.get("points") is None else np.asarray(e["points"], np.float32)
                    lab = None if e.get("labels") is None else np.asarray(e["labels"], np.int32)
                    _, ids, m = p.add_new_points_or_box(
                        state, f, o, points=pts, labels=lab, box=np.asarray(e["box"])
                    )  # noqa: E501
                    yield f, {o: m[ids.index(o), 0]}
                elif op == "propagate":
                    passes = {"forward": [False], "backward": [True], "both": [False, True]}[
                        e["direction"]
                    ]  # noqa: E501
                    for rev in passes:
                        for fi, ids, m in p.propagate_in_video(
                            state, e["start"], e.get("max_frames"), reverse=rev
                        ):  # noqa: E501
                            yield fi, {oid: m[i, 0] for i, oid in enumerate(ids)}
                elif op != "add_object":
                    raise ValueError(f"the oracle does not replay {op!r}")
    finally:
        p.add_all_frames_to_correct_as_cond = old


def run_official(
    engine: Engine,
    video_path: str | os.PathLike,
    log: list[dict],
    *,
    corrections_as_cond: bool = True,
) -> dict[int, dict[int, np.ndarray]]:  # noqa: E501
    """Replay a prompt log on sam2's own ``init_state``/``propagate_in_video``.

    Returns:
        ``{frame_idx: {obj_id: logits (H, W) float32}}``, the last output of each frame.
    """
    out: dict[int, dict[int, np.ndarray]] = {}
    for f, d in _official_steps(engine, str(video_path), log, corrections_as_cond):
        out.setdefault(f, {}).update({o: t.float().cpu().numpy() for o, t in d.items()})
    return out


def run_session(sess: Any, log: list[dict]) -> dict[int, dict[int, np.ndarray]]:
    """Replay the same log on a sam2nb session; returns the last logits of each frame."""
    out: dict[int, dict[int, np.ndarray]] = {}

    def keep(fr: Any) -> None:
        out.setdefault(fr.frame_idx, {}).update(
            {o: t.float().cpu().numpy() for o, t in fr.logits.items()}
        )  # noqa: E501

    for e in as_log(log).to_json():
        op = e["op"]
        if op == "add_object":
            sess.add_object(e["obj_id"])
        elif op == "points":
            keep(
                sess.add_points(
                    e["frame_idx"],
                    e["obj_id"],
                    e["points"],
                    e["labels"],
                    clear=e.get("clear", False),
                )
            )  # noqa: E501
        elif op == "box":
            keep(
                sess.add_box(
                    e["frame_idx"], e["obj_id"], e["box"], e.get("points"), e.get("labels")
                )
            )  # noqa: E501
        elif op == "propagate":
            for fr in sess.propagate(
                e["start"], e["direction"], max_frames=e.get("max_frames"), progress=False
            ):  # noqa: E501
                keep(fr)
    return out


def compare(ours: dict, official: dict) -> Agreement:
    """Per frame and object: mask IoU and logit differences between two runs."""
    ious, diffs_mean, diffs_max, missing = [], [], [], 0
    for f in sorted(set(ours) | set(official)):
        a, b = ours.get(f, {}), official.get(f, {})
        for o in set(a) | set(b):
            if o not in a or o not in b:
                missing += 1
                continue
            ma, mb = a[o] > 0, b[o] > 0
            union = np.logical_or(ma, mb).sum()
            ious.append(1.0 if union == 0 else np.logical_and(ma, mb).sum() / union)
            d = np.abs(a[o] - b[o])
            diffs_mean.append(float(d.mean()))
            diffs_max.append(float(d.max()))
    if not ious:
        return Agreement(
            0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), missing
        )  # noqa: E501
    return Agreement(
        len(ious), float(min(ious)), float(np.mean(ious)), float(np.mean(diffs_mean)),
        float(min(diffs_max)), float(max(diffs_max)), missing,
    )  # fmt: skip

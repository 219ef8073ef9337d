"""transformers' own plain loop over a video: what sam2nb's transformers trackers are timed against.

This is the loop transformers documents for its video trackers, nothing of sam2nb's in it: the
whole video decoded and preprocessed by the processor into ``init_video_session(video=...)``,
clicks through ``add_inputs_to_inference_session`` and ``model(session, frame_idx)``, tracking
through ``propagate_in_video_iterator``, each frame's masks post-processed to the video's size
and brought to the host. The benchmark runs it beside a sam2nb session on the same engine (its
``official`` side for a transformers model), as it runs Meta's predictor beside a sam2 engine.

Example:
    >>> loop = PlainLoop(s2.load("edgetam-test"), "bedroom.mp4")  # doctest: +SKIP
    >>> mask = loop.click(0, 1, [(210, 350)], [1])  # doctest: +SKIP
    >>> for frame_idx in loop.propagate(0): ...  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .tracker import inference


def read_frames(path: Any, limit: int | None = None) -> list:
    """Every frame of a video as ``H x W x 3`` uint8 RGB arrays (what the processor takes).

    Example:
        >>> len(read_frames(s2.sample_video(), limit=3))  # doctest: +SKIP
        3
    """
    from ..media.video import open_video

    src = open_video(path, end=limit)
    return [src[i] for i in range(len(src))]


def encode_image(engine: Any, frame: Any) -> None:
    """One frame through the processor and the image encoder (the benchmark's encoder time).

    Example:
        >>> encode_image(s2.load("edgetam-test"), s2.sample_image())  # doctest: +SKIP
    """
    model = engine.model
    with inference(engine):
        px = engine.processor(images=frame, return_tensors="pt").pixel_values
        out = model.get_image_features(px.to(engine.device, next(model.parameters()).dtype))
        del out


class PlainLoop:
    """A transformers video session over a whole video, driven as transformers' docs do.

    Args:
        engine: a loaded transformers engine (:class:`~sam2nb.model.hf_models.HFEngine`).
        video: a video file or frame folder (decoded whole, as ``init_video_session`` wants).
        limit: decode only the first ``limit`` frames.
    """

    def __init__(self, engine: Any, video: Any, limit: int | None = None):
        self.engine, self.model, self.processor = engine, engine.model, engine.processor
        frames = read_frames(video, limit)
        self.height, self.width = frames[0].shape[:2]
        dtype = next(self.model.parameters()).dtype
        with inference(engine):
            self.session = self.processor.init_video_session(
                video=frames, inference_device=engine.device, dtype=dtype
            )

    def _host(self, masks: Any) -> Any:
        out = self.processor.post_process_masks(
            [masks], original_sizes=[[self.height, self.width]], binarize=True
        )[0]
        return out.cpu()

    def click(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any, clear_old: bool = True
    ) -> Any:
        """Clicks for one object on a frame; returns its mask (bool, on the host)."""
        with inference(self.engine):
            self.processor.add_inputs_to_inference_session(
                self.session, frame_idx=frame_idx, obj_ids=obj_id,
                input_points=[[[list(map(float, p)) for p in points]]],
                input_labels=[[[int(v) for v in labels]]], clear_old_inputs=clear_old,
            )  # fmt: skip
            out = self.model(inference_session=self.session, frame_idx=frame_idx)
            return self._host(out.pred_masks)

    def propagate(self, start: int = 0, max_frames: int | None = None) -> Iterator[int]:
        """Track forward from ``start``; yields each frame index once its masks are on the host."""
        with inference(self.engine):
            for out in self.model.propagate_in_video_iterator(
                self.session, start_frame_idx=start, max_frame_num_to_track=max_frames
            ):
                self._host(out.pred_masks)
                yield out.frame_idx

    def close(self) -> None:
        """Drop the session (the whole preprocessed video)."""
        self.session = None

"""sam2nb: a Jupyter workbench for Meta's SAM 2.1.

A flat public namespace::

    import sam2nb as s2
    s2.info()                         # GPU, driver, torch/CUDA, traps and fixes
    engine = s2.load("tiny")          # one cached model per kernel ("test": untrained, CPU)
    video = s2.open_video("clip.mp4") # lazy: nothing is decoded until a frame is read
"""

from ._version import __version__
from .analysis.evaluate import JFResult, db_eval_boundary, db_eval_iou, evaluate
from .analysis.jf_metrics import db_statistics
from .analysis.jf_videos import VideosResult, evaluate_videos
from .base.errors import (
    CheckpointError,
    ModelError,
    OutOfMemory,
    PromptError,
    Sam2nbError,
    SessionBusy,
    SessionError,
    VideoError,
)
from .batch.items import (
    BatchError,
    BatchItem,
    load_prompts,
    read_manifest,
    run_item,
    write_manifest,
)
from .batch.workers import BatchJob, BatchReport, BatchWorker, run_batch, start_batch
from .bench.compare import Comparison, compare
from .bench.report import (
    OFFICIAL_A100_FPS,
    BenchCurve,
    BenchReport,
    BenchRow,
    cost_per_video_minute,
    default_csv,
    read_bench,
)
from .bench.run import BenchError, benchmark
from .image.everything import AutoMask, AutoMasks, EverythingError, segment_everything
from .image.predict import ImagePrediction, segment_image
from .image.session import ImageSession
from .io.export import FORMATS as EXPORT_FORMATS
from .io.export import ExportError, ExportResult, davis_palette, export
from .io.import_masks import import_masks, read_masks
from .media.frames import FrameStream
from .media.overlay import (
    FrameCache,
    MaskLayer,
    Viewport,
    encode_jpeg,
    fit_size,
    mask_layer,
    overlay_frame,
)
from .media.samples import (
    frames_to_use,
    sample_image,
    sample_path,
    sample_video,
    synthetic_image,
    synthetic_video,
)
from .media.video import FrameDecodeError, VideoSource, open_video, read_image, to_rgb8
from .model.checkpoints import (
    MODELS,
    CachedModel,
    ModelSpec,
    cache_dir,
    checkpoint_path,
    download,
    format_models,
    get_spec,
    list_models,
    load_state_dict,
    verify_checkpoint,
)
from .model.engine import Engine, current, load, unload
from .model.info import SystemInfo, diagnose, info
from .prompts.checks import TrackedObject
from .prompts.editor import PromptEditor
from .prompts.log import (
    AddObject,
    Box,
    ClearFrame,
    Entry,
    FramePrompts,
    Mask,
    Points,
    PromptLog,
    Propagate,
    RemoveObject,
    RenameObject,
    frame_prompts,
    read_log,
)
from .prompts.protocol import SessionLike
from .storage.folders import holds_session, move_aside
from .storage.store import FrameResult, MaskRecord, ResultStore, StoreError, encode_masks
from .synthetic.benchmark import SyntheticSet, synthetic_benchmark
from .synthetic.scenes import Scene, make_scene
from .tracking.converge import Converge, Settled
from .tracking.drift import DriftReport, check_drift, drift_scores
from .tracking.folder import save_session
from .tracking.resume import load_session, open_session, replay, saved_log
from .tracking.session import Session

__all__ = [
    "AddObject",
    "Box",
    "ClearFrame",
    "Entry",
    "Mask",
    "Points",
    "Propagate",
    "PromptLog",
    "RemoveObject",
    "RenameObject",
    "BatchError",
    "BatchItem",
    "BatchJob",
    "BatchReport",
    "BatchWorker",
    "load_prompts",
    "read_manifest",
    "run_batch",
    "run_item",
    "start_batch",
    "write_manifest",
    "AutoMask",
    "AutoMasks",
    "EverythingError",
    "segment_everything",
    "BenchCurve",
    "BenchError",
    "BenchReport",
    "BenchRow",
    "OFFICIAL_A100_FPS",
    "benchmark",
    "compare",
    "Comparison",
    "cost_per_video_minute",
    "default_csv",
    "read_bench",
    "CachedModel",
    "EXPORT_FORMATS",
    "ExportError",
    "ExportResult",
    "davis_palette",
    "export",
    "frames_to_use",
    "sample_image",
    "sample_path",
    "sample_video",
    "synthetic_image",
    "synthetic_video",
    "JFResult",
    "VideosResult",
    "Scene",
    "SyntheticSet",
    "make_scene",
    "synthetic_benchmark",
    "db_eval_boundary",
    "db_eval_iou",
    "db_statistics",
    "evaluate",
    "evaluate_videos",
    "import_masks",
    "read_masks",
    "FrameCache",
    "FramePrompts",
    "ImageSession",
    "MaskLayer",
    "PromptEditor",
    "Viewport",
    "encode_jpeg",
    "fit_size",
    "frame_prompts",
    "mask_layer",
    "overlay_frame",
    "CheckpointError",
    "Engine",
    "FrameResult",
    "FrameStream",
    "ImagePrediction",
    "MODELS",
    "MaskRecord",
    "ModelError",
    "ModelSpec",
    "OutOfMemory",
    "PromptError",
    "ResultStore",
    "Sam2nbError",
    "Session",
    "Converge",
    "DriftReport",
    "check_drift",
    "drift_scores",
    "Settled",
    "SessionLike",
    "SessionBusy",
    "SessionError",
    "StoreError",
    "SystemInfo",
    "TrackedObject",
    "VideoError",
    "FrameDecodeError",
    "VideoSource",
    "__version__",
    "cache_dir",
    "checkpoint_path",
    "current",
    "diagnose",
    "download",
    "encode_masks",
    "format_models",
    "get_spec",
    "info",
    "list_models",
    "load",
    "load_session",
    "holds_session",
    "move_aside",
    "open_session",
    "saved_log",
    "load_state_dict",
    "open_video",
    "read_image",
    "read_log",
    "replay",
    "save_session",
    "segment_image",
    "to_rgb8",
    "unload",
    "verify_checkpoint",
]

# Widgets (ipywidgets, ipycanvas) and analysis (pandas) load when first used: the CLI and
# headless tracking never pay for them.
_WIDGETS = {
    "BenchmarkPanel": "widgets.bench_panel",
    "MaskPicker": "widgets.picker",
    **{
        name: "analysis.table"
        for name in (
            "contacts",
            "plot_contacts",
            "plot_heatmap",
            "plot_presence",
            "plot_timelines",
            "plot_trajectories",
            "save_table",
            "track_table",
        )
    },  # fmt: skip
    **{
        name: "analysis.quality"
        for name in ("QualityRules", "SuspectQueue", "quality", "quality_table", "worst_segments")
    },  # fmt: skip
    "PromptCanvas": "widgets.canvas",
    "FrameScrubber": "widgets.scrubber",
    "ImageSegmenter": "widgets.apps",
    "VideoTracker": "widgets.tracker",
}

__all__ += list(_WIDGETS)


def __getattr__(name: str):
    if name in _WIDGETS:
        import importlib

        return getattr(importlib.import_module(f".{_WIDGETS[name]}", __name__), name)
    raise AttributeError(f"module 'sam2nb' has no attribute {name!r}")

"""One cached SAM 2.1 model per kernel: :func:`load` returns an :class:`Engine`.

The engine's image predictor and video predictor share one set of weights, loaded once.
Calling :func:`load` again with the same arguments returns the same engine; loading another
variant frees the previous one's (GPU) memory first.

Example:
    >>> import sam2nb as s2
    >>> engine = s2.load("test")          # the untrained test model: runs anywhere
    >>> engine is s2.load("test")
    True
"""

from __future__ import annotations

import gc
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base.errors import CheckpointError, ModelError
from . import adapter, checkpoints, hf_models, holes, lean
from . import device as devmod
from .checkpoints import ModelSpec

#: Seed of the test model's random weights (identical on every run).
TEST_SEED = 0

_LOCK = threading.RLock()
_CURRENT: Engine | None = None
_CURRENT_KEY: tuple | None = None


def _quiet_sam2() -> None:
    # sam2's transforms use torch.jit.script, which recent torch flags as deprecated
    warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated")


def size_overrides(image_size: int) -> list[str]:
    """Hydra overrides that run a SAM 2 config at another input size (the test model uses 256).

    The memory attention's RoPE ``feat_sizes`` must match the backbone's stride-16 grid.

    Example:
        >>> size_overrides(256)[1]
        '++model.memory_attention.layer.self_attention.feat_sizes=[16,16]'
    """
    if image_size == 1024:
        return []
    if image_size % 64:
        raise ValueError(f"image_size must be a multiple of 64, got {image_size}.")
    g = image_size // 16
    return [
        f"++model.image_size={image_size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{g},{g}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{g},{g}]",
    ]


def backbone_feature_sizes(image_size: int) -> list[tuple[int, int]]:
    """The image predictor's backbone feature sizes at strides 4, 8 and 16.

    ``SAM2ImagePredictor`` hard-codes them for 1024 px; they follow from the input size.

    Example:
        >>> backbone_feature_sizes(1024)
        [(256, 256), (128, 128), (64, 64)]
    """
    return [(image_size // s, image_size // s) for s in (4, 8, 16)]


def build_model(
    spec: ModelSpec,
    state_dict: dict | None = None,
    *,
    device: Any = "cpu",
    compile: bool = False,
    seed: int = TEST_SEED,
) -> Any:
    """Build sam2's ``SAM2VideoPredictor`` for a spec, with given or seeded random weights.

    This is the one place sam2nb constructs a model; the official builder does the work.

    Args:
        spec: the variant.
        state_dict: weights to load; None gives seeded random weights (same on every run).
        device: where to put the model.
        compile: build sam2's ``SAM2VideoPredictorVOS`` (``vos_optimized``: torch.compile).
        seed: the seed of the random weights.

    Returns:
        The video predictor (an ``nn.Module`` in eval mode).
    """
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    _quiet_sam2()
    holes.install()  # without sam2's CUDA extension, sam2nb's connected components fill holes
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_sam2_video_predictor(
            spec.config,
            ckpt_path=None,
            device="cpu",
            hydra_overrides_extra=size_overrides(spec.image_size),
            vos_optimized=compile,
        )
    if state_dict is not None:
        try:
            missing, unexpected = model.load_state_dict(state_dict, strict=False)
            problem = (
                f"{len(missing)} missing and {len(unexpected)} unexpected weights "
                f"(e.g. {(missing or unexpected)[:3]})"
                if missing or unexpected
                else ""
            )
        except RuntimeError as exc:  # shape mismatches
            problem = str(exc).strip().splitlines()[-1].strip()
        if problem:
            raise CheckpointError(
                f"The checkpoint does not fit {spec.label}: {problem}. Is it the checkpoint of "
                "another variant? `sam2nb models` lists which file goes with which variant."
            )
    if not compile:
        lean.share_position_encodings(model)
    return model.to(device).eval()


@dataclass
class Engine:
    """A loaded model: sam2's video predictor and an image predictor on the same weights.

    Attributes:
        spec: the variant.
        device: the torch device it runs on.
        dtype: the autocast precision (``'bfloat16'``, ``'float16'`` or ``'float32'``).
        compiled: whether sam2's ``vos_optimized`` (torch.compile) model was built.
        checkpoint: the checkpoint file the weights came from (None: random weights).
    """

    spec: ModelSpec
    device: Any
    dtype: str
    compiled: bool
    checkpoint: Path | None
    _model: Any = field(repr=False, default=None)
    _image_predictor: Any = field(repr=False, default=None)

    @property
    def name(self) -> str:
        """The variant name."""
        return self.spec.name

    @property
    def loaded(self) -> bool:
        """False once :meth:`unload` dropped the weights."""
        return self._model is not None

    @property
    def untrained(self) -> bool:
        """True when the weights are random (the test model, or ``random_weights=True``)."""
        return self.spec.untrained or self.checkpoint is None

    @property
    def label(self) -> str:
        """What to show a user next to anything this engine produced."""
        if self.untrained and not self.spec.untrained:
            return f"{self.spec.label} with RANDOM WEIGHTS (untrained): masks are meaningless"
        return self.spec.label

    @property
    def image_size(self) -> int:
        """The model's input size in pixels."""
        return self.spec.image_size

    @property
    def video_predictor(self) -> Any:
        """sam2's ``SAM2VideoPredictor`` (it is the model itself)."""
        if self._model is None:
            raise ModelError(
                f"This {self.name!r} engine was unloaded (another model was loaded since). "
                f"Call sam2nb.load({self.name!r}) again."
            )
        return self._model

    @property
    def model(self) -> Any:
        """The underlying ``SAM2Base`` module (same object as :attr:`video_predictor`)."""
        return self.video_predictor

    @property
    def image_predictor(self) -> Any:
        """sam2's ``SAM2ImagePredictor`` on the same weights (made on first use)."""
        model = self.video_predictor
        if self._image_predictor is None:
            from sam2.sam2_image_predictor import SAM2ImagePredictor

            pred = SAM2ImagePredictor(model)
            adapter.set_backbone_sizes(pred, backbone_feature_sizes(self.image_size))
            self._image_predictor = pred
        return self._image_predictor

    def tracker(
        self,
        frames: Any,
        size: tuple[int, int],
        *,
        offload_state: bool = False,
        corrections_as_cond: bool = True,
    ) -> Any:
        """A :class:`~sam2nb.model.tracker.Tracker` over ``frames`` (what a session tracks with).

        Args:
            frames: the frame source (a :class:`~sam2nb.media.frames.FrameStream`).
            size: the video's ``(width, height)``.
            offload_state: keep per-frame state in host memory.
            corrections_as_cond: a click on a tracked frame makes it a conditioning frame.
        """
        from .sam2_tracker import Sam2Tracker

        return Sam2Tracker(self, frames, size, offload_state, corrections_as_cond)

    def autocast(self) -> Any:
        """The precision context to run the model in (no-op for fp32).

        Example:
            >>> with engine.autocast():  # doctest: +SKIP
            ...     engine.image_predictor.set_image(img)
        """
        return devmod.autocast(self.device.type, self.dtype)

    def unload(self) -> None:
        """Drop the weights and free their memory; the engine cannot be used afterwards."""
        self._model = None
        self._image_predictor = None
        _free_memory()

    def __repr__(self) -> str:
        state = "unloaded" if self._model is None else f"{self.device} {self.dtype}"
        extra = ", compiled" if self.compiled else ""
        return f"Engine({self.label}, {state}{extra})"


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def load(
    variant: str | ModelSpec = "tiny",
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str | None = None,
    dtype: Any = None,
    compile: bool = False,
    cache: str | os.PathLike | None = None,
    download: bool = True,
    random_weights: bool = False,
    progress: bool = True,
) -> Engine:
    """Load a model once per kernel and return its :class:`Engine`.

    Args:
        variant: ``"tiny"``, ``"small"``, ``"base_plus"``, ``"large"`` (SAM 2.1), the same with a
            ``"sam2_"`` prefix (SAM 2), or ``"test"`` (untrained, 256 px, runs on any CPU).
            Through transformers (the ``hf`` extra; see :mod:`sam2nb.model.hf_models`):
            ``"tiny@hf"``, ``"small@hf"``, ``"base_plus@hf"``, ``"large@hf"`` (SAM 2.1 in
            ``Sam2VideoModel``), ``"edgetam"`` (EdgeTAM), ``"sam3"`` (the SAM 3 tracker; gated:
            accept its licence on the Hub and give a token) and ``"sam3.1"`` (gated; needs a
            transformers that has ``Sam31TrackerVideoModel``), downloaded from the Hugging
            Face Hub into the cache; and the untrained test variants ``"test@hf"``,
            ``"edgetam-test"``, ``"sam3-test"``, built offline.
        checkpoint: a checkpoint file to use instead of the cached one (for a transformers
            variant: a folder with ``config.json`` and ``model.safetensors``).
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``; default cuda > mps > cpu.
        dtype: ``"bf16"``, ``"fp16"`` or ``"fp32"``; default bf16 where the GPU supports it,
            fp16 on older CUDA GPUs, fp32 on the CPU.
        compile: use sam2's ``vos_optimized`` model (torch.compile; minutes of warm-up, then the
            fastest propagation on recent GPUs).
        cache: the checkpoint cache folder (default ``$SAM2NB_CACHE`` or ``~/.cache/sam2nb``).
        download: download the checkpoint if it is not cached.
        random_weights: full-size model with seeded random weights (valid for timing only; the
            engine is labelled untrained).
        progress: show download progress.

    Returns:
        The engine (the same object for the same arguments).

    Raises:
        CheckpointError: the checkpoint is missing and cannot be downloaded, or is corrupt (a
            transformers variant: the wrong size or sha256; gated without a token). The test
            model is never used in its place.
        ModelError: an unknown variant, or the transformers variant needs the ``hf`` extra or a
            newer transformers.

    Example:
        >>> engine = load("test", device="cpu")
        >>> engine.untrained
        True
    """
    global _CURRENT, _CURRENT_KEY
    devmod.huge_pages()  # before torch's first CPU allocation reads it
    from . import hf_hub

    if hf_hub.is_hf_name(variant):  # through transformers: the same caching by key
        hspec = hf_hub.get_hf_spec(variant)
        if compile:  # never silently eager
            raise ModelError(
                f"compile=True is sam2's vos_optimized model: {hspec.name} runs through "
                "transformers. Leave compile out."
            )
        resolved = str(devmod.resolve(device, dtype))
        if hspec.untrained:  # the test variants' key, as before
            hkey: tuple = (hspec.name, None, resolved, False, True)
        else:
            where = None
            if not random_weights:
                where = str(checkpoint) if checkpoint else str(hf_hub.hf_folder(hspec, cache))
            hkey = (hspec.name, where, resolved, False, bool(random_weights))
        with _LOCK:
            if _CURRENT is not None and _CURRENT_KEY == hkey and _CURRENT.loaded:
                return _CURRENT
            weights = None
            if hspec.name == "test@hf":  # the test model's own weights, through transformers
                weights = build_model(checkpoints.get_spec("test")).state_dict()
            engine = hf_models.load_hf(
                hspec.name, device, dtype, weights, cache=cache, checkpoint=checkpoint,
                download=download, random_weights=random_weights, progress=progress,
                before_move=unload,  # the previous model's (GPU) memory, before this moves in
            )  # fmt: skip
            _CURRENT, _CURRENT_KEY = engine, hkey
            return engine
    spec = checkpoints.get_spec(variant)
    dev, dt = devmod.resolve(device, dtype)
    untrained = spec.untrained or random_weights
    ckpt = None
    if not untrained:
        ckpt = Path(checkpoint) if checkpoint else checkpoints.checkpoint_path(spec, cache)
    key = (spec.name, str(ckpt), str(dev), dt, bool(compile), untrained)
    with _LOCK:
        if _CURRENT is not None and _CURRENT_KEY == key and _CURRENT.loaded:
            return _CURRENT
        state_dict = None  # read (and download) first: a failure keeps the current engine
        if ckpt is not None:
            if not ckpt.is_file() and checkpoint is None and download:
                checkpoints.download(spec, cache, progress=progress)
            if not ckpt.is_file():
                raise CheckpointError(
                    f"No checkpoint for {spec.label} at {ckpt}. Run `sam2nb download "
                    f"{spec.name}` (or pass download=True), or put the file from {spec.url} there."
                )
            # the official size applies to cached files, not to a file the user names
            state_dict = checkpoints.load_state_dict(ckpt, spec, check_size=checkpoint is None)
        model = build_model(spec, state_dict, device="cpu", compile=compile)
        del state_dict
        unload()  # free the previous model's (GPU) memory before moving in
        if dev.type == "cpu":
            devmod.return_freed_memory()
            if not compile:
                lean.chunk_activations(model)  # a CPU's memory is the machine's memory
        if dev.type == "cuda":
            import torch

            if devmod.use_tf32("cuda", torch.cuda.get_device_capability(dev)):
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
        engine = Engine(spec, dev, dt, bool(compile), ckpt, model.to(dev))
        _CURRENT, _CURRENT_KEY = engine, key
        return engine


def current() -> Engine | None:
    """Return the engine loaded in this kernel, or None.

    Example:
        >>> current() is None or current().name in checkpoints.MODELS
        True
    """
    return _CURRENT if _CURRENT is not None and _CURRENT.loaded else None


def unload() -> None:
    """Free the cached engine (if any) and its memory.

    Example:
        >>> unload()
    """
    global _CURRENT, _CURRENT_KEY
    with _LOCK:
        if _CURRENT is not None:
            _CURRENT.unload()
        _CURRENT, _CURRENT_KEY = None, None

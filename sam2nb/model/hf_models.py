"""Trackers through transformers: their configs, offline test variants, and an engine for them.

Needs the optional extra: ``pip install sam2nb[hf]`` (transformers and timm).

Trained variants are downloaded from the Hugging Face Hub (:mod:`sam2nb.model.hf_hub`):
``tiny@hf``, ``small@hf``, ``base_plus@hf``, ``large@hf`` (SAM 2.1 in ``Sam2VideoModel``),
``edgetam`` (``EdgeTamVideoModel``), ``sam3`` (``Sam3TrackerVideoModel``, gated) and ``sam3.1``
(gated; needs a transformers newer than 5.25). With ``random_weights=True`` they are built at
full size with seeded random weights and nothing is downloaded (valid for timing only).

Test variants are built offline from small configs with seeded random weights and are labelled
untrained like the test model:

- ``test@hf``: the test model's own weights (SAM 2.1-tiny at 256 px, seed 0), converted to the
  transformers layout, in ``Sam2VideoModel``: the same model through another library;
- ``edgetam-test``: ``EdgeTamVideoModel`` (RepViT backbone given as an explicit timm config:
  the default one fetches it from the Hub), 128 px;
- ``sam3-test``: ``Sam3TrackerVideoModel``, 112 px.

Example:
    >>> eng = load_hf("edgetam-test")  # doctest: +SKIP
    >>> eng.untrained, eng.image_size  # doctest: +SKIP
    (True, 128)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base.errors import CheckpointError, ModelError
from . import device as devmod
from . import hf_hub

HF_TEST_VARIANTS = ("test@hf", "edgetam-test", "sam3-test")
#: The trained variants (downloaded from the Hub): see :mod:`sam2nb.model.hf_hub`.
HF_TRAINED = tuple(n for n, s in hf_hub.HF_MODELS.items() if not s.untrained)
VISIBLE = 10.0  # added to the object-score bias of the small test variants: their masks show
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # sam2nb's frames are normalised so

# sam2 (Meta) parameter names -> transformers' Sam2VideoModel names: plain renames, in order
_RENAMES = (
    ("iou_prediction_head.layers.0", "iou_prediction_head.proj_in"),
    ("iou_prediction_head.layers.1", "iou_prediction_head.layers.0"),
    ("iou_prediction_head.layers.2", "iou_prediction_head.proj_out"),
    ("mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"),
    ("mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"),
    ("mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"),
    ("mask_downscaling.0", "mask_embed.conv1"),
    ("mask_downscaling.1", "mask_embed.layer_norm1"),
    ("mask_downscaling.3", "mask_embed.conv2"),
    ("mask_downscaling.4", "mask_embed.layer_norm2"),
    ("mask_downscaling.6", "mask_embed.conv3"),
    ("dwconv", "depthwise_conv"),
    ("pwconv", "pointwise_conv"),
    ("fuser", "memory_fuser"),
    ("point_embeddings", "point_embed"),
    ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    ("obj_ptr_tpos_proj", "temporal_positional_encoding_projection_layer"),
    ("no_obj_embed_spatial", "occlusion_spatial_embedding_parameter"),
    ("sam_prompt_encoder", "prompt_encoder"),
    ("sam_mask_decoder", "mask_decoder"),
    ("maskmem_tpos_enc", "memory_temporal_positional_encoding"),
    ("gamma", "scale"),
    ("image_encoder.neck", "vision_encoder.neck"),
    ("image_encoder", "vision_encoder.backbone"),
    ("neck.0", "neck.conv1"),
    ("neck.1", "neck.layer_norm1"),
    ("neck.2", "neck.conv2"),
    ("neck.3", "neck.layer_norm2"),
    ("pix_feat_proj", "feature_projection"),
    ("patch_embed.proj", "patch_embed.projection"),
    ("no_mem_embed", "no_memory_embedding"),
    ("no_mem_pos_enc", "no_memory_positional_encoding"),
    ("obj_ptr", "object_pointer"),
    (".norm", ".layer_norm"),
    ("trunk.", ""),
    ("out_proj", "o_proj"),
)
_TWO = ("proj_in", "proj_out")
_THREE = ("proj_in", "layers.0", "proj_out")
_THREE_LAYERS = r"(mask_decoder\.pred_obj_score_head|object_pointer_proj)\.layers\.(\d+)"


def sam2_to_hf(state_dict: dict) -> dict:
    """A Meta sam2 model's weights under transformers' ``Sam2VideoModel`` names.

    The same mapping as transformers' ``convert_sam2_video_to_hf.py`` (not shipped in its
    wheel): renames, MLP layers renumbered, the four point embeddings stacked into one.
    """
    import torch

    out = {}
    for key, value in state_dict.items():
        for a, b in _RENAMES:
            if a in key:
                key = key.replace(a, b)
        if m := re.match(r"vision_encoder\.backbone\.blocks\.\d+\.mlp\.layers\.(\d+)", key):
            key = key.replace(f"layers.{m[1]}", _TWO[int(m[1])])
        if m := re.match(r"mask_decoder\.transformer\.layers\.\d+\.mlp\.layers\.(\d+)", key):
            key = key.replace(f"mlp.layers.{m[1]}", "mlp." + _TWO[int(m[1])])
        if m := re.match(
            r"(mask_decoder\.pred_obj_score_head|object_pointer_proj)\.layers\.(\d+)", key
        ):
            key = key.replace(f"layers.{m[2]}", _THREE[int(m[2])])
        if m := re.match(r".*\.output_hypernetworks_mlps\.\d+\.layers\.(\d+)", key):
            key = key.replace(f"layers.{m[1]}", _THREE[int(m[1])])
        if re.match(r"vision_encoder\.neck\.convs\.\d+\.conv", key):
            key = key.replace(".conv.", ".")
        if key.startswith("memory_encoder.o_proj"):
            key = key.replace(".o_proj.", ".projection.")
        if m := re.match(r"memory_encoder\.mask_downsampler\.encoder\.(\d+)", key):
            n = int(m[1])
            part = "conv" if n % 3 == 0 else "layer_norm"
            new = "final_conv" if n == 12 else f"layers.{n // 3}.{part}"
            key = key.replace(f"encoder.{n}", new)
        out[key] = value
    out["shared_image_embedding.positional_embedding"] = out[
        "prompt_encoder.shared_embedding.positional_embedding"
    ]
    out["prompt_encoder.point_embed.weight"] = torch.cat(
        [out.pop(f"prompt_encoder.point_embed.{i}.weight") for i in range(4)], dim=0
    )
    return out


def _sizes(image_size: int) -> tuple[int, list]:
    g = image_size // 16
    return g, [[4 * g, 4 * g], [2 * g, 2 * g], [g, g]]


def _small(**extra: Any) -> dict:
    """The small memory and decoder of the test variants (hidden 128: above 64, a multiple)."""
    return dict(memory_attention_hidden_size=128, memory_attention_num_layers=1,
                memory_encoder_hidden_size=128, mask_downsampler_embed_dim=128,
                memory_fuser_embed_dim=128, memory_fuser_intermediate_dim=64, **extra)  # fmt: skip


# SAM 2.1's Hiera sizes (sam2's configs/sam2.1/*.yaml, as transformers' conversion script sets
# them): hidden size, heads, blocks per stage, global-attention blocks, window sizes per stage,
# window position-embedding background size; stage widths and heads double per stage.
_HIERA = {
    "tiny": (96, 1, [1, 2, 7, 2], [5, 7, 9], [8, 4, 14, 7], [7, 7]),
    "small": (96, 1, [1, 2, 11, 2], [7, 10, 13], [8, 4, 14, 7], [7, 7]),
    "base_plus": (112, 2, [2, 3, 16, 3], [12, 16, 20], [8, 4, 14, 7], [14, 14]),
    "large": (144, 2, [2, 6, 36, 4], [23, 33, 43], [8, 4, 16, 8], [7, 7]),
}


def sam2_config(image_size: int = 1024, size: str = "tiny") -> Any:
    """``Sam2VideoConfig`` of SAM 2.1 at ``image_size`` (the test model: tiny at 256).

    Args:
        image_size: the input size in pixels (a multiple of 64).
        size: ``"tiny"``, ``"small"``, ``"base_plus"`` or ``"large"``.

    Example:
        >>> sam2_config(1024, "large").vision_config.backbone_channel_list  # doctest: +SKIP
        [1152, 576, 288, 144]
    """
    import transformers as T

    if size not in _HIERA:
        raise ModelError(f"Unknown SAM 2.1 size {size!r}: one of {', '.join(_HIERA)}.")
    hidden, heads, blocks, glob, windows, bkg = _HIERA[size]
    g, feats = _sizes(image_size)
    hiera = T.Sam2HieraDetConfig(
        hidden_size=hidden,
        num_attention_heads=heads,
        blocks_per_stage=blocks,
        global_attention_blocks=glob,
        window_size_per_stage=windows,
        window_positional_embedding_background_size=bkg,
        embed_dim_per_stage=[hidden * 2**i for i in range(4)],
        num_attention_heads_per_stage=[heads * 2**i for i in range(4)],
    )
    return T.Sam2VideoConfig(
        vision_config=T.Sam2VisionConfig(
            backbone_config=hiera, backbone_feature_sizes=feats,
            backbone_channel_list=[hidden * 2**i for i in range(3, -1, -1)],
        ),
        prompt_encoder_config=T.Sam2VideoPromptEncoderConfig(image_size=image_size),
        mask_decoder_config=T.Sam2VideoMaskDecoderConfig(),
        image_size=image_size, memory_attention_rope_feat_sizes=[g, g],
        enable_temporal_pos_encoding_for_object_pointers=True,
        enable_occlusion_spatial_embedding=True,
    )  # fmt: skip


def repvit_config(tiny: bool = False) -> Any:
    """EdgeTAM's RepViT-M1 backbone as an explicit timm config (nothing fetched from the Hub)."""
    import transformers as T

    args: dict = {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]}
    if tiny:
        args.update(embed_dim=[12, 24, 48, 96], depth=[1, 1, 1, 1])
    return T.TimmWrapperConfig(architecture="repvit_m1", model_args=args)


def edgetam_config(image_size: int = 1024, tiny: bool = False) -> Any:
    """``EdgeTamVideoConfig`` with its vision config given (the defaults are not EdgeTAM's)."""
    import transformers as T

    g, feats = _sizes(image_size)
    if not tiny:
        return T.EdgeTamVideoConfig(
            vision_config=T.EdgeTamVisionConfig(backbone_config=repvit_config(),
                                                backbone_feature_sizes=feats),
            prompt_encoder_config=T.EdgeTamVideoPromptEncoderConfig(image_size=image_size),
            mask_decoder_config=T.EdgeTamVideoMaskDecoderConfig(),
            image_size=image_size, memory_attention_rope_feat_sizes=[g, g],
        )  # fmt: skip
    return T.EdgeTamVideoConfig(
        vision_config=T.EdgeTamVisionConfig(
            backbone_config=repvit_config(tiny=True), backbone_channel_list=[96, 48, 24, 12],
            backbone_feature_sizes=feats, fpn_hidden_size=128,
        ),
        prompt_encoder_config=T.EdgeTamVideoPromptEncoderConfig(
            hidden_size=128, image_size=image_size, mask_input_channels=8
        ),
        mask_decoder_config=T.EdgeTamVideoMaskDecoderConfig(
            hidden_size=128, mlp_dim=64, num_attention_heads=4, iou_head_hidden_dim=32
        ),
        image_size=image_size, memory_attention_rope_feat_sizes=[g, g],
        **_small(memory_attention_mlp_hidden_size=64, perceiver_resampler_num_latents=16,
                 perceiver_resampler_num_latents_2d=16,
                 perceiver_resampler_mlp_intermediate_size=32,
                 memory_attention_rope_k_sizes=[4, 4]),
    )  # fmt: skip


def sam3_config(tiny: bool = False) -> Any:
    """``Sam3TrackerVideoConfig``: the default (1008 px) or a small one (112 px)."""
    import transformers as T

    if not tiny:
        return T.Sam3TrackerVideoConfig()
    vit = T.Sam3ViTConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2, image_size=112, patch_size=14, window_size=4,
                          global_attn_indexes=[1])  # fmt: skip
    return T.Sam3TrackerVideoConfig(
        vision_config=T.Sam3VisionConfig(backbone_config=vit, fpn_hidden_size=128),
        prompt_encoder_config=T.Sam3TrackerVideoPromptEncoderConfig(
            hidden_size=128, mask_input_channels=8
        ),
        mask_decoder_config=T.Sam3TrackerVideoMaskDecoderConfig(
            hidden_size=128, mlp_dim=64, num_attention_heads=4, iou_head_hidden_dim=32
        ),
        image_size=112, **_small(memory_attention_feed_forward_hidden_size=64),
    )  # fmt: skip


def _processor(kind: str, image_size: int) -> Any:
    import transformers as T

    size = {"height": image_size, "width": image_size}
    if kind == "sam3":
        ip = T.Sam3ImageProcessor(size=size)
        vp = T.Sam2VideoVideoProcessor(
            size=size, image_mean=list(ip.image_mean), image_std=list(ip.image_std)
        )
        return T.Sam3TrackerVideoProcessor(image_processor=ip, video_processor=vp)
    return T.Sam2VideoProcessor(
        image_processor=T.Sam2ImageProcessor(size=size),
        video_processor=T.Sam2VideoVideoProcessor(size=size),
    )


def _renorm(processor: Any) -> tuple | None:
    """Per-channel scale and shift from sam2nb's frames to the processor's normalisation."""
    import torch

    mean = tuple(processor.image_processor.image_mean)
    std = tuple(processor.image_processor.image_std)
    if (tuple(round(v, 3) for v in mean), tuple(round(v, 3) for v in std)) == IMAGENET:
        return None
    m0, s0 = (torch.tensor(v)[:, None, None] for v in IMAGENET)
    m1, s1 = (torch.tensor(v)[:, None, None] for v in (mean, std))
    return s0 / s1, (m0 - m1) / s1  # x1 = (x0 * s0 + m0 - m1) / s1


@dataclass
class HFEngine:
    """A transformers video tracker loaded once per kernel (what :func:`load_hf` returns).

    It offers what a :class:`~sam2nb.Session` asks of an engine; single images (the image
    predictor, segment everything) are sam2's only.
    """

    name: str
    label: str
    untrained: bool
    device: Any
    dtype: str
    image_size: int
    model: Any = field(repr=False)
    processor: Any = field(repr=False)
    renorm: Any = field(repr=False, default=None)
    compiled: bool = False
    checkpoint: Any = None

    def tracker(
        self,
        frames: Any,
        size: tuple[int, int],
        *,
        offload_state: bool = False,
        corrections_as_cond: bool = True,
    ) -> Any:
        """An :class:`~sam2nb.model.hf_tracker.HFTracker` over ``frames``."""
        from .hf_tracker import HFTracker

        if offload_state:
            raise ModelError(
                f"{self.name} cannot keep its state in host memory (offload_state=True is "
                "sam2's): leave it out, or use memory='bounded'."
            )
        return HFTracker(self, frames, size, corrections_as_cond)

    def autocast(self) -> Any:
        """The precision context to run the model in."""
        return devmod.autocast(self.device.type, self.dtype)

    @property
    def image_predictor(self) -> Any:
        """Single images are segmented by sam2's image predictor only."""
        raise ModelError(
            f"{self.name} tracks videos only: segment images with a sam2 model "
            "(sam2nb.load('tiny'), or 'test')."
        )

    video_predictor = image_predictor

    @property
    def loaded(self) -> bool:
        """False once :meth:`unload` dropped the weights."""
        return self.model is not None

    def unload(self) -> None:
        """Drop the weights."""
        self.model = None


def _hf() -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelError(
            "The transformers trackers need the hf extra: pip install 'sam2nb[hf]' "
            "(transformers and timm)."
        ) from None
    return transformers


def load_hf(
    name: str,
    device: str | None = None,
    dtype: Any = None,
    sam2_weights: dict | None = None,
    *,
    cache: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    download: bool = True,
    random_weights: bool = False,
    progress: bool = True,
    before_move: Callable[[], None] | None = None,
) -> HFEngine:
    """Build a transformers tracker: a test variant offline, or a trained one from the Hub.

    Args:
        name: a test variant (``test@hf``, ``edgetam-test``, ``sam3-test``) or a trained one
            (``tiny@hf`` ... ``large@hf``, ``edgetam``, ``sam3``, ``sam3.1``; see
            :data:`~sam2nb.model.hf_hub.HF_MODELS`).
        device: ``"cuda"``, ``"mps"`` or ``"cpu"`` (default: the best there is).
        dtype: ``"bf16"``, ``"fp16"`` or ``"fp32"``.
        sam2_weights: for ``test@hf``, the test model's weights (sam2's names), converted here.
        cache: the cache folder the trained variants are downloaded to.
        checkpoint: a folder with ``config.json`` and ``model.safetensors`` to load instead of
            the cached download (your own fine-tune; no size or hash check).
        download: download a trained variant that is not cached.
        random_weights: a trained variant's full-size model with seeded random weights, nothing
            downloaded (valid for timing only; labelled untrained).
        progress: show download progress.
        before_move: called once the model is built, before it moves to the device (the
            caller frees the previous model's memory there).

    Raises:
        ModelError: an unknown name, transformers not installed (says how to install it), or
            too old for the variant (says which is needed).
        CheckpointError: the download failed, or a file does not match its size or sha256.

    Example:
        >>> eng = load_hf("edgetam", random_weights=True)  # doctest: +SKIP
        >>> eng.untrained, eng.image_size  # doctest: +SKIP
        (True, 1024)
    """
    import torch

    spec = hf_hub.get_hf_spec(name)
    name = spec.name
    if spec.untrained:
        _hf()
    cls = hf_hub.model_class(spec)  # before any download: sam3.1 needs a newer transformers
    dev, dt = devmod.resolve(device, dtype)
    untrained = spec.untrained or random_weights
    if spec.untrained:
        model = _test_model(name, cls, sam2_weights)
    elif random_weights:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = cls(full_config(spec))
            with torch.no_grad():  # random weights score every object absent: no masks
                model.mask_decoder.pred_obj_score_head.proj_out.bias += VISIBLE
    else:
        model = _pretrained(spec, cls, cache, checkpoint, download, progress)
    size = int(getattr(model.config, "image_size", spec.image_size))  # a fine-tune's own size
    processor = _processor(spec.kind, size)
    if spec.untrained:
        label = (
            f"{name.upper()} (untrained, random weights, {size} px, transformers): "
            "masks are meaningless"
        )
    elif untrained:
        label = (
            f"{spec.label} with RANDOM WEIGHTS (untrained, {size} px): valid for timing only, "
            "masks are meaningless"
        )
    else:
        label = spec.label
    if before_move is not None:
        before_move()
    where = None if untrained else model.name_or_path
    return HFEngine(name, label, untrained, dev, dt, size, model.to(dev).eval(), processor,
                    _renorm(processor), checkpoint=where)  # fmt: skip


def full_config(spec: hf_hub.HFSpec) -> Any:
    """The full-size config of a trained variant (for ``random_weights=True``).

    Raises:
        ModelError: no config is known here for the variant (``sam3.1``).
    """
    if spec.kind == "sam2" and spec.size is not None:
        return sam2_config(spec.image_size, spec.size)
    if spec.kind == "edgetam":
        return edgetam_config(spec.image_size)
    if spec.name == "sam3":
        return sam3_config()
    raise ModelError(
        f"{spec.name} has no full-size config here: random_weights=True works for "
        f"{', '.join(n for n, s in hf_hub.HF_MODELS.items() if s.repo and s.name != spec.name)}."
    )


def _test_model(name: str, cls: Any, sam2_weights: dict | None) -> Any:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if name == "test@hf":
            if sam2_weights is None:
                raise ModelError("test@hf is the test model's weights: pass sam2_weights.")
            model = cls(sam2_config(256))
            missing, unexpected = model.load_state_dict(sam2_to_hf(sam2_weights), strict=False)
            if missing or unexpected:
                raise ModelError(
                    f"The test model's weights do not fit transformers' Sam2VideoModel "
                    f"({len(missing)} missing, {len(unexpected)} unexpected, e.g. "
                    f"{(missing or unexpected)[:3]}): this transformers is not supported."
                )
            return model
        model = cls(edgetam_config(128, tiny=True) if name == "edgetam-test" else sam3_config(True))
        with torch.no_grad():  # (random weights score every object absent: masks would be empty)
            model.mask_decoder.pred_obj_score_head.proj_out.bias += VISIBLE
        return model


def _pretrained(
    spec: hf_hub.HFSpec,
    cls: Any,
    cache: str | os.PathLike | None,
    checkpoint: str | os.PathLike | None,
    download: bool,
    progress: bool,
) -> Any:
    """The trained model from its (downloaded, size- and hash-checked) folder."""
    if checkpoint is not None:
        folder = Path(checkpoint).expanduser()
        missing = [f for f in spec.files if not (folder / f).is_file()]
        if missing:
            raise CheckpointError(
                f"{folder} lacks {', '.join(missing)}: a {spec.name} checkpoint folder holds "
                f"{' and '.join(spec.files)} (what save_pretrained writes)."
            )
    else:
        folder = hf_hub.hf_folder(spec, cache)
        whole = all((folder / f).is_file() for f in spec.files)
        if not whole and download:
            hf_hub.download_hf(spec, cache, progress=progress)
        elif not whole:
            raise CheckpointError(
                f"{spec.name} is not downloaded (no {' and '.join(spec.files)} in {folder}). Run "
                f"`sam2nb download {spec.name}`, or pass download=True."
            )
        hf_hub.verify_folder(spec, folder)  # size always; sha256 unless already stamped
    try:
        model, info = cls.from_pretrained(
            folder, trust_remote_code=False, use_safetensors=True, output_loading_info=True
        )
    except Exception as exc:  # a config or file transformers cannot read: one clear message
        raise CheckpointError(
            f"transformers could not load {spec.name} from {folder} ({type(exc).__name__}: "
            f"{exc}). Delete the folder and run `sam2nb download {spec.name}`."
        ) from None
    if info.get("missing_keys") or info.get("mismatched_keys"):
        bad = list(info.get("missing_keys") or info.get("mismatched_keys"))[:3]
        raise CheckpointError(
            f"The checkpoint in {folder} does not fit {spec.cls} ({bad} ... missing or of "
            f"another shape): it is not a {spec.name} checkpoint."
        )
    return model

"""The checkpoint manager: official SAM 2 / SAM 2.1 checkpoints, the cache folder, downloads.

Downloads resume a partial file, show a progress bar (a widget bar in Jupyter), write to a
temporary ``.part`` name and rename only once the size checks out.

Example:
    >>> import sam2nb as s2
    >>> [m.name for m in s2.list_models()][:2]
    ['tiny', 'small']
"""

from __future__ import annotations

import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..base.download import CACHE_ENV, cache_dir, fetch, part_path
from ..base.errors import CheckpointError, ModelError
from . import hf_hub
from .hf_hub import HFSpec

#: Environment variable naming the cache folder (checkpoints go to ``$SAM2NB_CACHE/checkpoints``).

_SAM21_BASE = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_SAM2_BASE = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"


@dataclass(frozen=True)
class ModelSpec:
    """One model variant: its sam2 config, checkpoint file and where to get it.

    Attributes:
        name: sam2nb's variant name, e.g. ``"tiny"`` (SAM 2.1) or ``"sam2_tiny"`` (SAM 2).
        family: ``"sam2.1"``, ``"sam2"`` or ``"test"``.
        size: ``"tiny"``, ``"small"``, ``"base_plus"`` or ``"large"``.
        config: the hydra config name inside the ``sam2`` package.
        filename: the checkpoint's file name in the cache (None for the test model).
        url: the official download URL (None for the test model).
        num_bytes: the checkpoint's exact size in bytes.
        params_m: parameters, in millions.
        image_size: the model's input size in pixels.
        untrained: True for random weights (the test model): its masks mean nothing.
    """

    name: str
    family: str
    size: str
    config: str
    filename: str | None
    url: str | None
    num_bytes: int | None
    params_m: float
    image_size: int = 1024
    untrained: bool = False

    @property
    def approx_mb(self) -> int:
        """The checkpoint's size in MB, for display."""
        return round((self.num_bytes or 0) / 1e6)

    @property
    def label(self) -> str:
        """A human label, e.g. ``'SAM 2.1 tiny'``; the test model's says it is untrained."""
        if self.untrained:
            return "TEST MODEL (untrained, random weights, 256 px): masks are meaningless"
        return f"{'SAM 2.1' if self.family == 'sam2.1' else 'SAM 2'} {self.size}"


_SIZES = {  # size: (config letter, params in M, SAM 2.1 bytes)
    "tiny": ("t", 38.9, 156_008_466),
    "small": ("s", 46.0, 184_416_285),
    "base_plus": ("b+", 80.8, 323_606_802),
    "large": ("l", 224.4, 898_083_611),
}

# Exact sizes of the SAM 2 (July 2024) files. Meta publishes none next to the URLs; these agree
# across several independent download manifests (and wget's Content-Length for tiny).
_SAM2_BYTES = {
    "tiny": 155_906_050,
    "small": 184_309_650,
    "base_plus": 323_493_298,
    "large": 897_952_466,
}


def _specs() -> dict[str, ModelSpec]:
    out: dict[str, ModelSpec] = {}
    for size, (letter, params, nbytes) in _SIZES.items():
        out[size] = ModelSpec(
            name=size,
            family="sam2.1",
            size=size,
            config=f"configs/sam2.1/sam2.1_hiera_{letter}.yaml",
            filename=f"sam2.1_hiera_{size}.pt",
            url=f"{_SAM21_BASE}sam2.1_hiera_{size}.pt",
            num_bytes=nbytes,
            params_m=params,
        )
    for size, (letter, params, _) in _SIZES.items():
        out[f"sam2_{size}"] = ModelSpec(
            name=f"sam2_{size}",
            family="sam2",
            size=size,
            config=f"configs/sam2/sam2_hiera_{letter}.yaml",
            filename=f"sam2_hiera_{size}.pt",
            url=f"{_SAM2_BASE}sam2_hiera_{size}.pt",
            num_bytes=_SAM2_BYTES[size],
            params_m=params,
        )
    out["test"] = ModelSpec(
        name="test",
        family="test",
        size="tiny",
        config="configs/sam2.1/sam2.1_hiera_t.yaml",
        filename=None,
        url=None,
        num_bytes=None,
        params_m=38.9,
        image_size=256,
        untrained=True,
    )
    return out


MODELS: dict[str, ModelSpec] = _specs()

_ALIASES = {
    "t": "tiny",
    "s": "small",
    "b+": "base_plus",
    "b": "base_plus",
    "base": "base_plus",
    "base-plus": "base_plus",
    "baseplus": "base_plus",
    "l": "large",
}


def get_spec(variant: str | ModelSpec) -> ModelSpec:
    """Return the :class:`ModelSpec` for a variant name, accepting common aliases.

    ``"tiny"``, ``"sam2.1_tiny"``, ``"sam2.1_hiera_tiny"``, ``"t"`` all name SAM 2.1 tiny;
    ``"sam2_tiny"`` / ``"sam2_hiera_t"`` name SAM 2 tiny; ``"test"`` is the untrained test model.

    Args:
        variant: a variant name or a spec (returned as is).

    Returns:
        The spec.

    Raises:
        ModelError: the name is unknown; the message lists the valid names.

    Example:
        >>> get_spec("b+").filename
        'sam2.1_hiera_base_plus.pt'
    """
    if isinstance(variant, ModelSpec):
        return variant
    key = str(variant).strip().lower().replace(" ", "_")
    if key == "instrument":
        raise ModelError(
            "'instrument' is not a model: it is sam2nb's test instrument (the true masks of a "
            "generated video with injected faults), for scoring the tools that read masks. "
            "Build it with sam2nb.synthetic.instrument.Instrument(truth, faults); for real "
            "work load a model, e.g. sam2nb.load('tiny')."
        )
    if key.endswith(".pt"):
        key = key[:-3]
    family = "sam2.1"
    for prefix, fam in (("sam2.1_", "sam2.1"), ("sam2_", "sam2"), ("sam2.0_", "sam2")):
        if key.startswith(prefix):
            key, family = key[len(prefix) :], fam
            break
    key = key.removeprefix("hiera_")
    key = _ALIASES.get(key, key)
    if key == "test":
        return MODELS["test"]
    if key in _SIZES:
        return MODELS[key if family == "sam2.1" else f"sam2_{key}"]
    hf = ", ".join(hf_hub.HF_MODELS)
    if hf_hub.is_hf_name(variant):
        raise ModelError(
            f"{variant!r} runs through transformers, not sam2: load it with "
            f"sam2nb.load({hf_hub.get_hf_spec(variant).name!r}) (its spec: "
            "sam2nb.model.hf_hub.get_hf_spec)."
        )
    raise ModelError(
        f"Unknown model variant {variant!r}. Use one of: {', '.join(MODELS)} "
        "(SAM 2.1 by default; prefix 'sam2_' for the July 2024 SAM 2 checkpoints; "
        f"'test' is the untrained test model); through transformers (the hf extra): {hf}."
    )


def checkpoint_path(variant: str | ModelSpec, cache: str | os.PathLike | None = None) -> Path:
    """Return where a variant's checkpoint lives (or would live) in the cache.

    Example:
        >>> checkpoint_path("tiny", "/c").name
        'sam2.1_hiera_tiny.pt'
    """
    spec = get_spec(variant)
    if spec.filename is None:
        raise ModelError(
            f"The {spec.name!r} model has no checkpoint file: its weights are made on the fly."
        )
    return cache_dir(cache) / spec.filename


@dataclass(frozen=True)
class CachedModel:
    """A row of :func:`list_models`: a spec and the state of its checkpoint in the cache.

    A transformers variant's row holds an :class:`~sam2nb.model.hf_hub.HFSpec` and its folder.
    """

    spec: ModelSpec | HFSpec
    path: Path | None
    # "cached", "missing", "partial (N%)", "wrong size", "built in"; transformers variants also
    # "needs hf extra" and "needs newer transformers"
    status: str

    @property
    def name(self) -> str:
        """The variant name."""
        return self.spec.name

    @property
    def cached(self) -> bool:
        """True if the checkpoint (or the built-in test model) is ready to load."""
        return self.status in ("cached", "built in")


def list_models(cache: str | os.PathLike | None = None) -> list[CachedModel]:
    """List every variant and whether its checkpoint is in the cache.

    sam2's variants come first, then the transformers ones (:data:`hf_hub.HF_MODELS`).

    Example:
        >>> rows = list_models("/nonexistent")
        >>> rows[0].name, rows[0].status
        ('tiny', 'missing')
    """
    rows = []
    for spec in MODELS.values():
        if spec.filename is None:
            rows.append(CachedModel(spec, None, "built in"))
            continue
        path = checkpoint_path(spec, cache)
        part = part_path(path)
        if path.is_file():
            size = path.stat().st_size
            ok = spec.num_bytes is None or size == spec.num_bytes
            rows.append(CachedModel(spec, path, "cached" if ok else "wrong size"))
        elif part.is_file():
            pct = min(99, int(100 * part.stat().st_size / max(spec.num_bytes or 1, 1)))
            rows.append(CachedModel(spec, path, f"partial ({pct}%)"))
        else:
            rows.append(CachedModel(spec, path, "missing"))
    for hspec in hf_hub.HF_MODELS.values():
        rows.append(CachedModel(hspec, *hf_hub.status(hspec, cache)))
    return rows


def _mb(mb: int | None) -> str:
    if mb is None:
        return "-"
    return f"{mb} MB" if mb < 1000 else f"{mb / 1000:.1f} GB"


def format_models(cache: str | os.PathLike | None = None) -> str:
    """Render :func:`list_models` as a text table (what ``sam2nb models`` prints).

    Columns: variant, model, parameters, download size, licence, source, status, path.
    """
    lines = [
        f"{'variant':<16}{'model':<18}{'params':>7}{'size':>9}  {'licence':<13}{'source':<36}"
        f"{'status':<25}path"
    ]
    for row in list_models(cache):
        s = row.spec
        if isinstance(s, HFSpec):
            model, size, source = s.model, _mb(s.download_mb), s.source
            licence = s.licence
        else:
            model = "test (256px)" if s.untrained else f"{s.family} {s.size}"
            size = "-" if s.untrained else _mb(s.approx_mb)
            source = "built in" if s.url is None else s.url.split("/")[2]
            licence = "Apache-2.0"
        params = "?" if s.params_m is None else f"{s.params_m:.1f}M"
        where = "" if row.path is None else str(row.path)
        if s.untrained:  # the test models: random weights, whatever the library
            source = "built in: UNTRAINED"
        lines.append(
            f"{s.name:<16}{model:<18}{params:>7}{size:>9}  {licence:<13}{source:<36}"
            f"{row.status:<25}{where}"
        )
    lines.append(f"cache folder: {cache_dir(cache)} (set ${CACHE_ENV} or pass --cache to change)")
    gated = ", ".join(n for n, h in hf_hub.HF_MODELS.items() if h.gated)
    lines.append(
        f"gated ({gated}): accept the licence on the model's Hugging Face page, then "
        "`export HF_TOKEN=...` or `hf auth login`."
    )
    return "\n".join(lines)


def verify_checkpoint(
    path: str | os.PathLike, variant: str | ModelSpec | None = None, *, check_size: bool = True
) -> Path:
    """Check that a checkpoint file is whole: the expected size and a readable zip archive.

    Args:
        path: the checkpoint file.
        variant: the variant it belongs to (names the fix in messages).
        check_size: compare with the official file's size (off for your own fine-tuned files).

    Returns:
        The path.

    Raises:
        CheckpointError: missing, truncated or corrupt, with the fix in the message.

    Example:
        >>> verify_checkpoint("missing.pt")  # doctest: +SKIP
        CheckpointError: Checkpoint missing.pt does not exist ...
    """
    path = Path(path)
    spec = get_spec(variant) if variant is not None else None
    fix = (
        f"Delete it and run `sam2nb download {spec.name}` to fetch it again."
        if spec is not None and spec.url
        else "Delete it and download it again."
    )
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist. {fix}")
    size = path.stat().st_size
    if check_size and spec is not None and spec.num_bytes is not None and size != spec.num_bytes:
        raise CheckpointError(
            f"Checkpoint {path} is {size:,} bytes but {spec.label} is {spec.num_bytes:,} bytes: "
            f"the file is truncated or corrupt. {fix}"
        )
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"Checkpoint {path} ({size:,} bytes) is not a valid PyTorch checkpoint (not a zip "
            f"archive): the file is truncated or corrupt. {fix}"
        )
    return path


def load_state_dict(
    path: str | os.PathLike, variant: str | ModelSpec | None = None, *, check_size: bool = True
) -> dict:
    """Load a checkpoint's ``model`` state dict safely (``weights_only=True``).

    Truncated or corrupt files raise :class:`CheckpointError`, never a raw zip/pickle error.

    Example:
        >>> sd = load_state_dict(checkpoint_path("tiny"))  # doctest: +SKIP
    """
    import torch

    path = verify_checkpoint(path, variant, check_size=check_size)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, pickle, EOF and unpickler errors all mean "broken file"
        name = get_spec(variant).name if variant is not None else "VARIANT"
        raise CheckpointError(
            f"Checkpoint {path} could not be read ({type(exc).__name__}: {exc}). The file is "
            f"truncated or corrupt: delete it and run `sam2nb download {name}`."
        ) from None
    if not isinstance(blob, dict) or "model" not in blob:
        raise CheckpointError(
            f"Checkpoint {path} has no 'model' entry: it is not a SAM 2 checkpoint as published "
            "by Meta. Use the official .pt files (`sam2nb models` lists them)."
        )
    return blob["model"]


def download(
    variant: str | ModelSpec,
    cache: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    url: str | None = None,
    stop: threading.Event | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download a variant's official checkpoint into the cache, resuming a partial file.

    Args:
        variant: the variant name (see :func:`list_models`).
        cache: the cache folder (default: :func:`cache_dir`).
        force: download again even if a whole file is cached.
        progress: show a ``tqdm.auto`` progress bar.
        url: download from this URL instead of the official one (a mirror).
        stop: set this event to stop; the partial file is kept and the next call resumes.
        timeout: seconds to wait for the server before giving up.

    Returns:
        The checkpoint's path.

    Raises:
        CheckpointError: the server cannot be reached (the message names the URL and the exact
            path to put the file at), the download was stopped, or the size does not check out.

    Example:
        >>> path = download("tiny")  # doctest: +SKIP
    """
    spec = get_spec(variant)
    if spec.url is None:
        raise ModelError(f"The {spec.name!r} model needs no download: its weights are made here.")
    dest = checkpoint_path(spec, cache)
    if dest.is_file() and not force:
        verify_checkpoint(dest, spec)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = url or spec.url
    fetch(source, dest, spec.num_bytes, progress=progress, stop=stop, timeout=timeout)
    return verify_checkpoint(dest, spec)

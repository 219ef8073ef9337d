"""Trained transformers trackers: their registry, and downloads from the Hugging Face Hub.

Each trained variant is a Hub repository holding ``config.json`` and ``model.safetensors``.
They are downloaded into sam2nb's cache (``<cache>/hf/<owner>--<repo>/``) by plain HTTPS with
:func:`~sam2nb.base.download.fetch` (progress bar, resume of a ``.part`` file, stop event,
timeouts). Before the weights are downloaded the Hub is asked for their size and sha256 (the
``X-Linked-Size`` and ``X-Linked-Etag`` headers of the resolve URL); both are kept beside the
file in ``model.safetensors.json`` and checked after the download and before every load (the
hash once per file: a stamp of size and mtime records a successful check).

``HF_ENDPOINT`` points downloads at a mirror (default ``https://huggingface.co``). Gated
repositories (SAM 3) need a token: ``HF_TOKEN``, or the token file ``hf auth login`` writes.

Example:
    >>> spec = get_hf_spec("edgetam")
    >>> spec.repo, spec.image_size
    ('yonigozlan/EdgeTAM-hf', 1024)
    >>> hf_url(spec, "config.json", endpoint="https://hf-mirror.com")
    'https://hf-mirror.com/yonigozlan/EdgeTAM-hf/resolve/main/config.json'
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base.download import CHUNK, cache_dir, fetch, part_path
from ..base.errors import CheckpointError, ModelError

ENDPOINT_ENV = "HF_ENDPOINT"
DEFAULT_ENDPOINT = "https://huggingface.co"
TOKEN_ENV = "HF_TOKEN"
WEIGHTS = "model.safetensors"
FILES = ("config.json", WEIGHTS)
APACHE = "Apache-2.0"
SAM_LICENSE = "SAM License"


@dataclass(frozen=True)
class HFSpec:
    """One transformers variant: its model class, Hub repository and what it weighs.

    Attributes:
        name: sam2nb's variant name, e.g. ``"edgetam"`` or ``"tiny@hf"``.
        cls: the transformers class, e.g. ``"EdgeTamVideoModel"``.
        kind: ``"sam2"``, ``"edgetam"`` or ``"sam3"``: which processor sam2nb builds for it.
        model: what it is, for display (``"SAM 2.1 tiny"``, ``"EdgeTAM"``).
        repo: the Hub repository (None for the offline test variants).
        licence: the weights' licence.
        params_m: the tracker's parameters in millions (None: not known here).
        download_mb: the approximate download in MB (None for the test variants).
        image_size: the model's input size in pixels.
        gated: the repository asks to accept a licence and for a token.
        revision: the branch, tag or commit downloaded.
        files: the files downloaded.
        size: the SAM 2.1 size (``tiny`` ... ``large``) for the Sam2VideoModel variants.
        untrained: an offline test variant (seeded random weights).
        min_transformers: the transformers version that first has ``cls`` (None: any with it).
    """

    name: str
    cls: str
    kind: str
    model: str
    repo: str | None
    licence: str
    params_m: float | None
    download_mb: int | None
    image_size: int
    gated: bool = False
    revision: str = "main"
    files: tuple[str, ...] = FILES
    size: str | None = None
    untrained: bool = False
    min_transformers: str | None = None

    @property
    def label(self) -> str:
        """A human label, e.g. ``'EdgeTAM (transformers)'``."""
        return f"{self.model} (transformers)"

    @property
    def source(self) -> str:
        """Where the weights come from, e.g. ``'hf:facebook/sam3 (gated)'``."""
        if self.repo is None:
            return "built in"
        return f"hf:{self.repo}" + (" (gated)" if self.gated else "")


_SAM21 = {  # size: (params in M, download in MB)
    "tiny": (38.9, 156),
    "small": (46.0, 184),
    "base_plus": (80.8, 323),
    "large": (224.4, 898),
}


def _specs() -> dict[str, HFSpec]:
    out = {
        "test@hf": HFSpec("test@hf", "Sam2VideoModel", "sam2", "test (256px)", None, APACHE,
                          38.9, None, 256, untrained=True, size="tiny"),
        "edgetam-test": HFSpec("edgetam-test", "EdgeTamVideoModel", "edgetam", "EdgeTAM test",
                               None, APACHE, None, None, 128, untrained=True),
        "sam3-test": HFSpec("sam3-test", "Sam3TrackerVideoModel", "sam3", "SAM 3 test", None,
                            SAM_LICENSE, None, None, 112, untrained=True),
    }  # fmt: skip
    for size, (params, mb) in _SAM21.items():
        repo = f"facebook/sam2.1-hiera-{size.replace('_', '-')}"
        out[f"{size}@hf"] = HFSpec(f"{size}@hf", "Sam2VideoModel", "sam2", f"SAM 2.1 {size}",
                                   repo, APACHE, params, mb, 1024, size=size)  # fmt: skip
    out["edgetam"] = HFSpec("edgetam", "EdgeTamVideoModel", "edgetam", "EdgeTAM",
                            "yonigozlan/EdgeTAM-hf", APACHE, 13.9, 56, 1024)  # fmt: skip
    out["sam3"] = HFSpec("sam3", "Sam3TrackerVideoModel", "sam3", "SAM 3 tracker",
                         "facebook/sam3", SAM_LICENSE, 466.0, 3400, 1008, gated=True)  # fmt: skip
    out["sam3.1"] = HFSpec("sam3.1", "Sam31TrackerVideoModel", "sam3", "SAM 3.1 tracker",
                           "facebook/sam3.1", SAM_LICENSE, None, 3400, 1008, gated=True,
                           min_transformers="a release newer than 5.25")  # fmt: skip
    return out


#: Every transformers variant: the offline test variants, then the trained ones.
HF_MODELS: dict[str, HFSpec] = _specs()

_ALIASES = {"sam31": "sam3.1", "sam3_1": "sam3.1", "sam3-1": "sam3.1", "edge_tam": "edgetam"}


def _key(name: str) -> str:
    key = str(name).strip().lower()
    if key.endswith("@hf"):
        key = key[:-3].replace("-", "_").replace("baseplus", "base_plus") + "@hf"
    return _ALIASES.get(key, key)


def is_hf_name(name: Any) -> bool:
    """True when ``name`` is a transformers variant (trained or test).

    Example:
        >>> is_hf_name("base-plus@hf"), is_hf_name("tiny")
        (True, False)
    """
    return isinstance(name, (str, HFSpec)) and (isinstance(name, HFSpec) or _key(name) in HF_MODELS)


def get_hf_spec(name: str | HFSpec) -> HFSpec:
    """The :class:`HFSpec` of a transformers variant name.

    Raises:
        ModelError: the name is unknown; the message lists the valid names.

    Example:
        >>> get_hf_spec("SAM3").gated
        True
    """
    if isinstance(name, HFSpec):
        return name
    key = _key(name)
    if key not in HF_MODELS:
        raise ModelError(
            f"Unknown transformers variant {name!r}. Use one of: {', '.join(HF_MODELS)}."
        )
    return HF_MODELS[key]


def transformers_installed() -> bool:
    """True when the ``hf`` extra (transformers) is installed (nothing is imported)."""
    return importlib.util.find_spec("transformers") is not None


def model_class(spec: HFSpec) -> Any:
    """The transformers class of ``spec`` (imports transformers).

    Raises:
        ModelError: transformers is missing, or too old to have the class (says what to do).
    """
    try:
        import transformers
    except ImportError:
        raise ModelError(
            f"{spec.name} runs through transformers: pip install 'sam2nb[hf]' "
            "(transformers and timm)."
        ) from None
    cls = getattr(transformers, spec.cls, None)
    if cls is None:
        need = spec.min_transformers or "a newer release"
        raise ModelError(
            f"{spec.name} needs transformers' {spec.cls}, which transformers "
            f"{transformers.__version__} does not have: it needs {need}. Upgrade with "
            "pip install -U transformers."
        )
    return cls


def has_class(spec: HFSpec) -> bool:
    """True when the installed transformers has ``spec``'s model class."""
    try:
        model_class(spec)
    except ModelError:
        return False
    return True


def hub_endpoint() -> str:
    """The Hub's address: ``$HF_ENDPOINT`` (a mirror) or ``https://huggingface.co``."""
    return (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")


def hf_url(spec: HFSpec, filename: str, endpoint: str | None = None) -> str:
    """The resolve URL of one of ``spec``'s files."""
    base = (endpoint or hub_endpoint()).rstrip("/")
    return f"{base}/{spec.repo}/resolve/{spec.revision}/{filename}"


def hf_folder(spec: str | HFSpec, cache: str | os.PathLike | None = None) -> Path:
    """Where a variant's files live in the cache: ``<cache>/hf/<owner>--<repo>[@revision]``.

    Example:
        >>> hf_folder("sam3", "/c").as_posix()
        '/c/hf/facebook--sam3'
    """
    spec = get_hf_spec(spec)
    if spec.repo is None:
        raise ModelError(f"{spec.name} has no files: it is built here with random weights.")
    name = spec.repo.replace("/", "--") + ("" if spec.revision == "main" else f"@{spec.revision}")
    return cache_dir(cache) / "hf" / name


def get_token() -> str | None:
    """The Hugging Face token: ``$HF_TOKEN``, else the one ``hf auth login`` saved, else None."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token.strip()
    try:
        from huggingface_hub import get_token as hub_token
    except ImportError:
        home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
        path = home.expanduser() / "token"
        return path.read_text().strip() or None if path.is_file() else None
    return hub_token()


def _auth_message(spec: HFSpec, url: str, code: int, has_token: bool) -> str:
    page = f"https://huggingface.co/{spec.repo}"
    token = (
        "The token that was sent was refused: check that it belongs to the account that "
        "accepted the licence and that it may read gated repositories."
        if has_token
        else "No token was found."
    )
    return (
        f"{spec.name} could not be downloaded: {url} answered HTTP {code} "
        f"({'gated repository' if spec.gated else 'access refused'}). {token} To get it: "
        f"sign in at https://huggingface.co, open {page} and accept the licence "
        f"({spec.licence}); create a token at https://huggingface.co/settings/tokens (read "
        "access); then `export HF_TOKEN=hf_...` or run `hf auth login`, and run "
        f"`sam2nb download {spec.name}` again."
    )


def _offline_message(spec: HFSpec, folder: Path, reason: object, base: str) -> str:
    urls = " and ".join(hf_url(spec, f, base) for f in spec.files)
    login = " (signed in there, with the licence accepted: the repository is gated)"
    return (
        f"Could not download {spec.name} from {base} ({reason}). If this machine is offline, "
        f"download {urls} on a machine that is online{login if spec.gated else ''} and copy "
        f"them into exactly {folder}/ (same file names), or set ${ENDPOINT_ENV} to a mirror; "
        "then run again."
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None  # a redirect comes back as an HTTPError carrying the headers


def _head(url: str, headers: dict, timeout: float) -> tuple[int, Any]:
    """One HEAD request, no redirect followed: ``(status, headers)``."""
    req = urllib.request.Request(url, headers=headers, method="HEAD")
    try:
        with urllib.request.build_opener(_NoRedirect).open(req, timeout=timeout) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def remote_info(
    spec: HFSpec, filename: str, *, token: str | None, timeout: float, base: str, folder: Path
) -> dict:
    """Ask the Hub for a file's size and sha256 (HEAD requests).

    Redirects are followed (the Hub redirects small files within its host), up to the first
    response carrying ``X-Linked-Size`` and ``X-Linked-Etag``: a large (LFS) file's size and
    sha256, on its redirect to the CDN. The token is not sent on to another host.

    Returns:
        ``{"size": int | None, "sha256": str | None, "commit": str | None, "url": str}``.

    Raises:
        CheckpointError: 401/403 (the licence and token paragraph), another HTTP error, or the
            server cannot be reached (where to put the files by hand).
    """
    url = hf_url(spec, filename, base)
    headers = {"User-Agent": "sam2nb", "Accept-Encoding": "identity"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    at = url
    try:
        for _ in range(6):
            code, got = _head(at, headers, timeout)
            if code not in (301, 302, 303, 307, 308) or got.get("X-Linked-Size"):
                break
            nxt = urllib.parse.urljoin(at, got.get("Location") or "")
            if urllib.parse.urlsplit(nxt).netloc != urllib.parse.urlsplit(at).netloc:
                headers.pop("Authorization", None)  # the token stays with the Hub
            at = nxt
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CheckpointError(_offline_message(spec, folder, reason, base)) from None
    if code in (401, 403):
        raise CheckpointError(_auth_message(spec, url, code, bool(token)))
    redirect = code in (301, 302, 303, 307, 308)
    if code >= 400 or (redirect and not got.get("X-Linked-Size")):
        what = " (no such repository, revision or file)" if code == 404 else ""
        raise CheckpointError(
            f"{url} answered HTTP {code}{what}. "
            + _offline_message(spec, folder, f"HTTP {code}", base)
        )
    size = got.get("X-Linked-Size") or (None if redirect else got.get("Content-Length"))
    sha = (got.get("X-Linked-Etag") or got.get("ETag") or "").strip().removeprefix("W/")
    sha = sha.strip('"').lower()
    ok = len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
    return {
        "size": int(size) if size and size.isdigit() else None,
        "sha256": sha if ok else None,
        "commit": got.get("X-Repo-Commit"),
        "url": url,
    }


def meta_path(path: Path) -> Path:
    """The JSON beside a downloaded file: its expected size and sha256, and the hash stamp."""
    return path.with_name(path.name + ".json")


def read_meta(path: Path) -> dict | None:
    """The JSON beside ``path`` (None when there is none or it is unreadable)."""
    try:
        return json.loads(meta_path(path).read_text())
    except (OSError, ValueError):
        return None


def _write_meta(path: Path, meta: dict) -> None:
    meta_path(path).write_text(json.dumps(meta, indent=1))


def sha256_file(path: Path, stop: threading.Event | None = None) -> str:
    """The file's sha256, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK * 8):
            if stop is not None and stop.is_set():
                raise CheckpointError(f"Checking {path} was stopped.")
            h.update(chunk)
    return h.hexdigest()


def safetensors_size(path: Path) -> int | None:
    """The size a safetensors file must have, read from its header (None: not safetensors)."""
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100_000_000:
                return None
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error):
        return None
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    return 8 + n + max(ends, default=0)


def verify_file(
    path: Path, spec: HFSpec, *, hash_check: bool = True, stop: threading.Event | None = None
) -> Path:
    """Check a downloaded file against its size and sha256 (the JSON beside it).

    The hash is computed once: a stamp (size and mtime) in the JSON records the success. A
    file without the JSON (copied in by hand) is checked against its safetensors header.

    Raises:
        CheckpointError: missing, the wrong size or hash; names the file and the fix.
    """
    fix = f"Delete it and run `sam2nb download {spec.name}` to fetch it again."
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist. Run `sam2nb download {spec.name}`.")
    st = path.stat()
    meta = read_meta(path) or {}
    want = meta.get("size")
    if want is None and path.name.endswith(".safetensors"):
        want = safetensors_size(path)
        if want is None:
            raise CheckpointError(f"{path} is not a safetensors file (no readable header). {fix}")
    if want is not None and st.st_size != want:
        raise CheckpointError(
            f"{path} is {st.st_size:,} bytes but {spec.name}'s file is {want:,} bytes: it is "
            f"truncated or corrupt and will not be loaded. {fix}"
        )
    sha = meta.get("sha256")
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if hash_check and sha and meta.get("verified") != stamp:
        got = sha256_file(path, stop)
        if got != sha:
            raise CheckpointError(
                f"{path} has sha256 {got} but the Hub's file has {sha}: it is corrupt or was "
                f"replaced, and will not be loaded. {fix}"
            )
        _write_meta(path, {**meta, "verified": stamp})
    return path


def verify_folder(spec: str | HFSpec, folder: Path) -> Path:
    """Check every file of a downloaded variant (see :func:`verify_file`); return the folder."""
    spec = get_hf_spec(spec)
    for name in spec.files:
        verify_file(folder / name, spec)
    return folder


def download_hf(
    variant: str | HFSpec,
    cache: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    stop: threading.Event | None = None,
    timeout: float = 30.0,
    token: str | None = None,
    endpoint: str | None = None,
) -> Path:
    """Download a transformers variant's files from the Hub into the cache, resuming.

    Args:
        variant: a trained transformers variant (``"edgetam"``, ``"sam3"``, ``"tiny@hf"`` ...).
        cache: the cache folder (default: :func:`~sam2nb.base.download.cache_dir`).
        force: download again even if the files are cached and check out.
        progress: show a ``tqdm.auto`` progress bar.
        stop: set this event to stop; the partial file is kept and the next call resumes.
        timeout: seconds to wait for the server before giving up.
        token: the Hugging Face token (default :func:`get_token`).
        endpoint: the Hub's address (default ``$HF_ENDPOINT`` or https://huggingface.co).

    Returns:
        The folder holding ``config.json`` and ``model.safetensors``.

    Raises:
        ModelError: a test variant (nothing to download) or an unknown name.
        CheckpointError: gated without a (valid) token, offline, stopped, or a file whose size
            or sha256 does not match the Hub's; the message says what to do.

    Example:
        >>> folder = download_hf("edgetam")  # doctest: +SKIP
    """
    spec = get_hf_spec(variant)
    folder = hf_folder(spec, cache)
    base = (endpoint or hub_endpoint()).rstrip("/")
    token = token or get_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    folder.mkdir(parents=True, exist_ok=True)
    for name in spec.files:
        dest = folder / name
        if dest.is_file() and not force:
            try:
                verify_file(dest, spec, stop=stop)
                continue
            except CheckpointError:
                if read_meta(dest) is None:
                    raise  # a file put there by hand: not replaced without force
        info = remote_info(spec, name, token=token, timeout=timeout, base=base, folder=folder)
        old = read_meta(dest) or {}
        if old.get("sha256") != info["sha256"] or old.get("size") != info["size"]:
            part_path(dest).unlink(missing_ok=True)  # another file upstream: do not resume
        if dest.is_file():
            dest.unlink()
        _write_meta(dest, {k: info[k] for k in ("size", "sha256", "commit", "url")})
        fetch(info["url"], dest, info["size"], progress=progress, stop=stop, timeout=timeout,
              headers=headers)  # fmt: skip
        try:
            verify_file(dest, spec, stop=stop)
        except CheckpointError as exc:
            dest.unlink(missing_ok=True)
            raise CheckpointError(
                f"The download of {info['url']} did not check out and was deleted: {exc} If it "
                "happens again, the server (or mirror) serves another file than the Hub lists."
            ) from None
    return folder


def status(spec: HFSpec, cache: str | os.PathLike | None = None) -> tuple[Path | None, str]:
    """A variant's row state for ``sam2nb models``: ``(folder or None, status)``.

    Status: ``built in``, ``cached``, ``missing``, ``partial (N%)``, ``wrong size``,
    ``needs hf extra`` or ``needs newer transformers``.
    """
    if not transformers_installed():
        return (None if spec.repo is None else hf_folder(spec, cache)), "needs hf extra"
    if spec.repo is None:
        return None, "built in"
    folder = hf_folder(spec, cache)
    if spec.min_transformers and not has_class(spec):
        return folder, "needs newer transformers"
    weights = folder / WEIGHTS
    meta = read_meta(weights) or {}
    if weights.is_file() and all((folder / f).is_file() for f in spec.files):
        want = meta.get("size") or safetensors_size(weights)
        return folder, "cached" if weights.stat().st_size == want else "wrong size"
    part = part_path(weights)
    if part.is_file():
        total = meta.get("size") or (spec.download_mb or 1) * 1_000_000
        return folder, f"partial ({min(99, int(100 * part.stat().st_size / total))}%)"
    return folder, "missing"

"""``sam2nb info``: what this machine has, and the usual GPU-rental traps with their fixes.

:func:`collect` reads the machine; :func:`diagnose` is a pure function of what was read, so
every trap is tested with faked inputs.

Example:
    >>> import sam2nb as s2
    >>> report = s2.info()          # a notebook displays it; print(report) in a terminal
    >>> report.device in ("cuda", "mps", "cpu")
    True
"""

from __future__ import annotations

import html
import platform
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from importlib import metadata

from .._version import __version__
from . import checkpoints as checkpoints

WIDTH = 88  # the text report's line length (its findings are wrapped at words)
# JupyterLab breaks an output's <pre> anywhere (word-break: break-all), mid-word at a narrow width:
# the report's lines wrap between words instead (a word too long for the line scrolls)
_PRE_STYLE = "white-space: pre-wrap; word-break: normal; overflow-wrap: normal"

# CUDA builds that PyTorch publishes wheels for (download.pytorch.org/whl/<tag>).
_TORCH_CUDA_TAGS = ((11, 8), (12, 1), (12, 4), (12, 6), (12, 8), (12, 9), (13, 0))


@dataclass
class GpuInfo:
    """One GPU as torch sees it."""

    name: str
    capability: tuple[int, int]
    total_bytes: int
    free_bytes: int | None
    bf16: bool


@dataclass
class Finding:
    """A problem or a note about the environment, with the exact fix where there is one."""

    level: str  # "error", "warning" or "note"
    message: str
    fix: str = ""


@dataclass
class SystemInfo:
    """Everything ``sam2nb info`` reports. Fields are plain values so tests can fake them."""

    python: str = ""
    platform: str = ""
    sam2nb_version: str = __version__
    torch_version: str | None = None
    torch_cuda: str | None = None  # torch.version.cuda: the CUDA it was built for
    torch_hip: str | None = None
    cuda_available: bool = False
    cuda_error: str = ""
    mps_available: bool = False
    gpus: list[GpuInfo] = field(default_factory=list)
    nvidia_gpus: list[str] = field(default_factory=list)  # what nvidia-smi lists
    driver_version: str | None = None
    driver_cuda: str | None = None  # the newest CUDA the driver supports
    torchvision_version: str | None = None
    torchvision_error: str = ""
    sam2_version: str | None = None
    sam2_extension: bool = False
    decord_version: str | None = None
    pyav_version: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    cache_dir: str = ""
    cached: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def __str__(self) -> str:
        return format_info(self)

    def _repr_html_(self) -> str:
        colors = {"error": "#b00020", "warning": "#a15c00", "note": "#555"}
        body = html.escape(format_info(self, findings=False))
        rows = "".join(
            f'<div style="color:{colors[f.level]}"><b>{f.level.upper()}</b>: '
            f"{html.escape(f.message)}"
            + (f"<br><code>{html.escape(f.fix)}</code>" if f.fix else "")
            + "</div>"
            for f in self.findings
        )
        return f'<pre style="{_PRE_STYLE}">{body}</pre>{rows}'


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def nvidia_smi() -> tuple[list[str], str | None, str | None]:
    """Return (GPU names, driver version, driver's CUDA version) from nvidia-smi, if present."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return [], None, None
    try:
        head = subprocess.run([exe], capture_output=True, text=True, timeout=15).stdout
        names = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=15).stdout
    except (OSError, subprocess.SubprocessError):
        return [], None, None
    drv = re.search(r"Driver Version:\s*([\d.]+)", head)
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", head)
    gpus = [m.group(1).strip() for m in re.finditer(r"GPU \d+:\s*([^(\n]+)", names)]
    return gpus, drv and drv.group(1), cuda and cuda.group(1)


def collect(cache: str | None = None) -> SystemInfo:
    """Read this machine: torch, CUDA, the driver, GPUs, free VRAM, cached checkpoints.

    Example:
        >>> collect().python.startswith("3.")
        True
    """
    from . import device as devmod

    info = SystemInfo(python=platform.python_version(), platform=platform.platform())
    info.nvidia_gpus, info.driver_version, info.driver_cuda = nvidia_smi()
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        info.torch_version = torch.__version__
        info.torch_cuda = torch.version.cuda
        info.torch_hip = getattr(torch.version, "hip", None)
        try:
            info.cuda_available = torch.cuda.is_available()
        except Exception as exc:  # broken CUDA install
            info.cuda_error = str(exc)
        mps = getattr(torch.backends, "mps", None)
        info.mps_available = bool(mps and mps.is_available())
        if info.cuda_available:
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                try:
                    free, _ = torch.cuda.mem_get_info(i)
                except Exception:
                    free = None
                cap = (props.major, props.minor)
                bf16 = cap >= (8, 0)
                info.gpus.append(GpuInfo(props.name, cap, props.total_memory, free, bf16))
        try:
            dev, dt = devmod.resolve()
            info.device, info.dtype = dev.type, dt
        except Exception as exc:
            info.cuda_error = info.cuda_error or str(exc)
        info.torchvision_version = _version("torchvision")
        if info.torchvision_version:
            try:
                import torchvision

                torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
            except Exception as exc:
                info.torchvision_error = str(exc).strip().splitlines()[0][:300]
    info.sam2_version = _version("rf-sam-2") or _version("sam-2") or _version("SAM-2")
    if info.sam2_version:
        from .adapter import has_cuda_extension

        info.sam2_extension = has_cuda_extension()
    info.decord_version = _version("decord") or _version("eva-decord")
    info.pyav_version = _version("av")
    info.cache_dir = str(checkpoints.cache_dir(cache))
    info.cached = [r.name for r in checkpoints.list_models(cache) if r.status == "cached"]
    info.findings = diagnose(info)
    return info


def _ver(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def torch_index_for(driver_cuda: str | None) -> str:
    """The PyTorch wheel index for the newest CUDA build a driver can run.

    Example:
        >>> torch_index_for("12.2")
        'https://download.pytorch.org/whl/cu121'
    """
    have = _ver(driver_cuda)
    fits = [t for t in _TORCH_CUDA_TAGS if not have or t <= have]
    tag = fits[-1] if fits else _TORCH_CUDA_TAGS[0]
    return f"https://download.pytorch.org/whl/cu{tag[0]}{tag[1]}"


def diagnose(info: SystemInfo) -> list[Finding]:
    """Find the usual traps in an environment report and say how to fix each.

    Args:
        info: what :func:`collect` read (or a faked one, in tests).

    Returns:
        Findings, errors first.

    Example:
        >>> bad = SystemInfo(torch_version="2.6.0+cpu", nvidia_gpus=["Tesla T4"])
        >>> diagnose(bad)[0].level
        'error'
    """
    out: list[Finding] = []
    nvidia = bool(info.nvidia_gpus)
    reinstall = (
        "pip install --force-reinstall torch torchvision --index-url "
        f"{torch_index_for(info.driver_cuda)}"
    )
    if info.torch_version is None:
        out.append(
            Finding("error", "torch is not installed.", "bash scripts/lab.sh (sets everything up)")
        )
    elif nvidia and not info.cuda_available:
        if info.torch_cuda is None and not info.torch_hip:
            out.append(
                Finding(
                    "error",
                    f"An NVIDIA GPU is present ({info.nvidia_gpus[0]}) but torch "
                    f"{info.torch_version} is a CPU-only build: everything would run on the CPU.",
                    reinstall,
                )
            )
        elif info.driver_cuda and _ver(info.torch_cuda) > _ver(info.driver_cuda):
            out.append(
                Finding(
                    "error",
                    f"torch {info.torch_version} is built for CUDA {info.torch_cuda}, but the "
                    f"NVIDIA driver {info.driver_version or ''} supports CUDA up to "
                    f"{info.driver_cuda}: torch cannot use the GPU. Install a torch built for "
                    "your driver (or upgrade the driver).",
                    reinstall,
                )
            )
        else:
            out.append(
                Finding(
                    "error",
                    f"An NVIDIA GPU is present ({info.nvidia_gpus[0]}) but torch cannot use it"
                    + (f": {info.cuda_error}" if info.cuda_error else "")
                    + ". Check CUDA_VISIBLE_DEVICES and that the container was started with GPU "
                    "access (docker --gpus all).",
                    'python -c "import torch; print(torch.cuda.is_available())"',
                )
            )
    if info.torchvision_error:
        tv = _ver(info.torch_version)
        pin = f"==0.{tv[1] + 15}.*" if len(tv) == 2 and tv[0] == 2 else ""
        out.append(
            Finding(
                "error",
                f"torchvision {info.torchvision_version} cannot load its compiled ops "
                f"({info.torchvision_error}); it does not match torch {info.torch_version}.",
                f"pip install --force-reinstall --no-deps 'torchvision{pin}'",
            )
        )
    if info.torch_version is not None and info.sam2_version is None:
        out.append(Finding("error", "sam2 is not installed.", "pip install rf-sam-2"))
    if info.torch_version is not None and info.pyav_version is None:
        if info.decord_version is None:
            out.append(Finding("error", "No video decoder is installed.", "pip install av"))
        else:
            out.append(
                Finding(
                    "warning",
                    "PyAV (the default video decoder) is not installed: videos open with decord, "
                    "whose memory grows with the file's length.",
                    "pip install av",
                )
            )
    for gpu in info.gpus:
        if not gpu.bf16:
            out.append(
                Finding(
                    "note",
                    f"{gpu.name} (compute {gpu.capability[0]}.{gpu.capability[1]}) has no bf16: "
                    "sam2nb runs it in fp16 (the official examples hard-code bf16 and fail here).",
                )
            )
        if gpu.free_bytes is not None and gpu.free_bytes < 2 * 1024**3:
            out.append(
                Finding(
                    "warning",
                    f"Only {gpu.free_bytes / 1024**3:.1f} GiB free on {gpu.name}: another "
                    "process holds the GPU; large variants may run out of memory.",
                    "nvidia-smi   # see which process holds the memory",
                )
            )
    if info.torch_version is not None and not nvidia and not info.cuda_available:
        where = "Apple GPU (MPS)" if info.mps_available else "CPU"
        out.append(
            Finding(
                "note",
                f"No NVIDIA GPU: sam2nb runs on the {where}. Expect seconds per frame with real "
                "variants; the 'test' model (untrained) runs fast anywhere.",
            )
        )
    order = {"error": 0, "warning": 1, "note": 2}
    return sorted(out, key=lambda f: order[f.level])


def hole_filling(info: SystemInfo) -> str:
    """Who fills sam2's small mask holes (``fill_hole_area``): its CUDA extension or sam2nb.

    Example:
        >>> hole_filling(SystemInfo(sam2_extension=False))[:16]
        'filled by sam2nb'
    """
    if info.sam2_extension:
        return "filled by sam2's CUDA extension"
    return "filled by sam2nb (CPU and GPU masks; sam2's CUDA extension is not built)"


def format_info(info: SystemInfo, findings: bool = True) -> str:
    """Render a report as text (what ``sam2nb info`` prints).

    Example:
        >>> "torch" in format_info(SystemInfo(torch_version="2.6.0"))
        True
    """
    lines = [
        f"sam2nb      {info.sam2nb_version}   python {info.python}   {info.platform}",
        f"torch       {info.torch_version or 'NOT INSTALLED'}"
        f"   built for CUDA {info.torch_cuda or '-'}   cuda available: {info.cuda_available}",
        f"torchvision {info.torchvision_version or 'NOT INSTALLED'}"
        f"   sam2 (rf-sam-2) {info.sam2_version or 'NOT INSTALLED'}"
        f"   PyAV {info.pyav_version or 'NOT INSTALLED'}"
        f"   decord {info.decord_version or 'not installed (optional)'}",
        f"driver      {info.driver_version or '-'}   supports CUDA {info.driver_cuda or '-'}"
        f"   nvidia-smi GPUs: {', '.join(info.nvidia_gpus) or 'none'}",
    ]
    for i, g in enumerate(info.gpus):
        free = "?" if g.free_bytes is None else f"{g.free_bytes / 1024**3:.1f}"
        lines.append(
            f"gpu {i}       {g.name}   compute {g.capability[0]}.{g.capability[1]}   "
            f"bf16: {g.bf16}   VRAM free {free} / {g.total_bytes / 1024**3:.1f} GiB"
        )
    lines.append(f"runs on     {info.device} in {info.dtype}")
    if info.sam2_version:
        lines.append(f"holes       {hole_filling(info)}")
    lines.append(f"checkpoints {', '.join(info.cached) or 'none cached'}   ({info.cache_dir})")
    if findings:
        for f in info.findings:  # wrapped at words: a notebook's output breaks long lines anywhere
            head = f"{f.level.upper()}: "
            lines += textwrap.wrap(f.message, WIDTH, initial_indent=head,
                                   subsequent_indent=" " * len(head), break_long_words=False,
                                   break_on_hyphens=False)  # fmt: skip
            if f.fix:
                lines.append(f"    fix: {f.fix}")
    return "\n".join(lines)


def info(cache: str | None = None) -> SystemInfo:
    """Collect and diagnose this machine; display the result in a notebook or print it.

    Example:
        >>> print(info())  # doctest: +SKIP
    """
    return collect(cache)


if __name__ == "__main__":  # pragma: no cover
    print(info())
    sys.exit(0)

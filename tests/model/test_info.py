from __future__ import annotations

import pytest

import sam2nb as s2
from sam2nb.model.info import GpuInfo, SystemInfo, diagnose, format_info, torch_index_for

H100 = GpuInfo("NVIDIA H100 80GB HBM3", (9, 0), 80 * 1024**3, 79 * 1024**3, True)
T4 = GpuInfo("Tesla T4", (7, 5), 15 * 1024**3, 14 * 1024**3, False)
OK = dict(
    torchvision_version="0.20.1",
    sam2_version="1.0.3",
    decord_version="0.6.0",
    pyav_version="18.1.0",
)


def _levels(info):
    return [(f.level, f.message, f.fix) for f in diagnose(info)]


def test_healthy_gpu_has_no_errors():
    info = SystemInfo(
        torch_version="2.5.1+cu124",
        torch_cuda="12.4",
        cuda_available=True,
        nvidia_gpus=["NVIDIA H100 80GB HBM3"],
        driver_cuda="12.4",
        gpus=[H100],
        sam2_extension=True,
        **OK,
    )
    assert _levels(info) == []


def test_cpu_only_torch_on_a_gpu_machine():
    info = SystemInfo(
        torch_version="2.5.1+cpu",
        torch_cuda=None,
        nvidia_gpus=["NVIDIA A10G"],
        driver_version="535.104.05",
        driver_cuda="12.2",
        **OK,
    )
    level, message, fix = _levels(info)[0]
    assert level == "error" and "CPU-only" in message and "A10G" in message
    assert fix.endswith("--index-url https://download.pytorch.org/whl/cu121")


def test_torch_built_for_newer_cuda_than_the_driver():
    info = SystemInfo(
        torch_version="2.9.0+cu130",
        torch_cuda="13.0",
        nvidia_gpus=["NVIDIA L4"],
        driver_version="550.54",
        driver_cuda="12.4",
        **OK,
    )
    level, message, fix = _levels(info)[0]
    assert level == "error" and "CUDA 13.0" in message and "12.4" in message
    assert "cu124" in fix and "--force-reinstall torch torchvision" in fix


def test_gpu_hidden_from_torch_for_other_reasons():
    info = SystemInfo(
        torch_version="2.5.1+cu124",
        torch_cuda="12.4",
        nvidia_gpus=["NVIDIA A100"],
        driver_cuda="12.4",
        cuda_error="no CUDA-capable device is detected",
        **OK,
    )
    level, message, _ = _levels(info)[0]
    assert level == "error" and "CUDA_VISIBLE_DEVICES" in message and "no CUDA-capable" in message


def test_old_gpu_gets_fp16_note_and_low_vram_warning():
    low = GpuInfo("Tesla T4", (7, 5), 15 * 1024**3, 1024**3, False)
    info = SystemInfo(
        torch_version="2.5.1",
        torch_cuda="12.4",
        cuda_available=True,
        nvidia_gpus=["Tesla T4"],
        gpus=[low],
        sam2_extension=True,
        **OK,
    )
    found = _levels(info)
    assert [f[0] for f in found] == ["warning", "note"]
    assert "fp16" in found[1][1] and "1.0 GiB free" in found[0][1]


def test_broken_torchvision_gets_matching_pin():
    info = SystemInfo(
        torch_version="2.5.1",
        torchvision_version="0.22.0",
        torchvision_error="operator torchvision::nms does not exist",
        sam2_version="1.0.3",
        decord_version="0.6.0",
    )
    errors = [f for f in diagnose(info) if f.level == "error"]
    assert "torchvision==0.20.*" in errors[0].fix


@pytest.mark.parametrize(
    ("missing", "needle"),
    [("torch_version", "torch is not installed"), ("sam2_version", "rf-sam-2")],
)
def test_missing_packages(missing, needle):
    fields = dict(torch_version="2.5.1", **OK)
    fields[missing] = None
    text = " ".join(f"{f.message} {f.fix}" for f in diagnose(SystemInfo(**fields)))
    assert needle in text


def test_no_gpu_note():
    found = _levels(SystemInfo(torch_version="2.5.1", **OK))
    assert any("No NVIDIA GPU" in m for _, m, _ in found)


@pytest.mark.parametrize(
    ("driver", "tag"), [("12.2", "cu121"), ("12.9", "cu129"), ("13.1", "cu130"), ("11.4", "cu118")]
)
def test_torch_index_for_driver(driver, tag):
    assert torch_index_for(driver).endswith(tag)


def test_collect_on_this_machine():
    report = s2.info()
    text = str(report)
    assert report.torch_version and report.sam2_version and report.decord_version
    assert "runs on" in text and report.device in ("cuda", "mps", "cpu")
    assert "<pre" in report._repr_html_()
    assert not [f for f in report.findings if f.level == "error"], text


def test_format_shows_gpus():
    text = format_info(SystemInfo(torch_version="2.5.1", gpus=[H100, T4]))
    assert "H100" in text and "T4" in text and "compute 7.5" in text


def test_findings_wrap_at_words_and_fixes_stay_whole():
    """A notebook's output breaks long lines anywhere: the text report wraps its findings."""
    info = SystemInfo(torch_version="2.5.1", **OK)
    info.findings = found = diagnose(info)
    text = format_info(info)
    assert any(len(f"NOTE: {f.message}") > 88 for f in found)  # one that needs wrapping
    assert all(len(line) <= 88 for line in text.splitlines() if not line.startswith("    fix:"))
    words = " ".join(text.split())  # the messages, every word intact, in order
    assert all(" ".join(f.message.split()) in words for f in found)
    assert all(f"fix: {f.fix}" in text for f in found if f.fix)  # a command is never broken


def test_the_notebook_view_wraps_only_between_words():
    """JupyterLab's outputs break a <pre> anywhere (``.jp-OutputArea-output pre`` has
    ``word-break: break-all``): at a narrow width "NVIDIA" became "NVI" / "DIA". The report's
    HTML overrides that on its own elements, so lines wrap between words."""
    from html.parser import HTMLParser

    class Styles(HTMLParser):  # the inline style of every <pre>, as {property: value}
        def __init__(self):
            super().__init__()
            self.pre: list[dict] = []

        def handle_starttag(self, tag, attrs):
            if tag == "pre":
                decls = (d.partition(":") for d in (dict(attrs).get("style") or "").split(";"))
                self.pre.append({k.strip(): v.strip() for k, _, v in decls})

    info = SystemInfo(torch_version="2.5.1", gpus=[H100], nvidia_gpus=[H100.name], **OK)
    info.findings = diagnose(info)
    page = info._repr_html_()
    parsed = Styles()
    parsed.feed(page)
    assert parsed.pre  # the report's table
    for style in parsed.pre:
        assert style.get("word-break") == "normal"  # not break-all
        assert style.get("overflow-wrap") == "normal"  # not break-word
        assert style.get("white-space") == "pre-wrap"  # columns kept, long lines wrapped
    assert "NVIDIA H100 80GB HBM3" in page


@pytest.mark.parametrize(
    ("built", "needle"),
    [(False, "filled by sam2nb (CPU and GPU masks"), (True, "filled by sam2's CUDA extension")],
)
def test_hole_filling_is_reported_not_missing(built, needle):
    info = SystemInfo(torch_version="2.5.1", sam2_extension=built, **OK)
    assert f"holes       {needle}" in format_info(info)
    assert not [f for f in diagnose(info) if "hole" in f.message or "extension" in f.message]
    assert "holes" not in format_info(SystemInfo(torch_version="2.5.1"))  # no sam2: no line

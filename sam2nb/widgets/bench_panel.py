"""A benchmark panel for JupyterLab: pick settings, run and stop, read the table, plots and card.

The panel only turns clicks into a :func:`sam2nb.benchmark` call, run in a background
:class:`~sam2nb.base.jobs.Job` (the page stays live and *stop* works at once), and draws the
:class:`~sam2nb.BenchReport` it returns.

Example:
    >>> panel = s2.BenchmarkPanel(price_per_hour=2.49)  # doctest: +SKIP
    >>> panel.widget  # doctest: +SKIP
"""

from __future__ import annotations

import html
import io
import traceback
from typing import Any

import ipywidgets as W

from ..base.jobs import Job
from ..bench.report import BenchReport
from ..bench.run import benchmark
from ..model.names import canonical
from .background import WidgetJob

# the results table keeps its columns (a narrow window scrolls it sideways); the card's lines
# wrap between words, never inside one (JupyterLab's output style breaks anywhere)
TABLE_CSS = "white-space: pre; overflow-x: auto; word-break: normal; overflow-wrap: normal"
CARD_CSS = "white-space: pre-wrap; word-break: normal; overflow-wrap: break-word"
VARIANTS = (  # sam2's, then transformers' (timed against transformers' own loop)
    "test", "tiny", "small", "base_plus", "large",
    "edgetam-test", "tiny@hf", "edgetam", "sam3",
)  # fmt: skip
DTYPES = ("default", "bf16", "fp16", "fp32")


def parse_objects(text: str) -> list[int]:
    """``"1, 3, 10"`` -> ``[1, 3, 10]``; anything else raises ValueError naming the fix.

    Example:
        >>> parse_objects("1, 3 10")
        [1, 3, 10]
    """
    parts = text.replace(",", " ").split()
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if not nums or any(n < 1 for n in nums):
        raise ValueError(f"objects: {text!r} is not a list of positive whole numbers (1, 3, 10).")
    return nums


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


class BenchmarkPanel:
    """Settings, *run* / *stop*, progress, then the table, the ratios, two plots and the GPU card.

    Args:
        variants: the variants ticked at first (default: all four on a GPU, ``test`` on a CPU).
        objects: the object counts, e.g. ``(1, 3, 10)``.
        frames: frames timed after the warm-up.
        video: the video (default: SAM 2's bedroom.mp4, offline a drawn clip).
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None (cuda > mps > cpu).
        csv: append the rows to this CSV as they are measured.
        price_per_hour: the machine's price, for the card (change it any time: the card follows).
        video_fps: your videos' frame rate, for the cost per video-minute.
        threaded: run in a background thread (False: in the caller's thread, for scripts).

    Attributes:
        report: the last :class:`~sam2nb.BenchReport` (None before the first run).
        errors: tracebacks of errors shown in the panel.
    """

    def __init__(
        self,
        *,
        variants: Any = None,
        objects: Any = (1, 3, 10),
        frames: int = 30,
        video: Any = None,
        device: str | None = None,
        csv: Any = None,
        price_per_hour: float = 2.0,
        video_fps: float = 30.0,
        threaded: bool = True,
    ):
        if variants is None:
            import torch

            gpu = torch.cuda.is_available() and device in (None, "cuda")
            variants = ("tiny", "small", "base_plus", "large") if gpu else ("test",)
        variants = (variants,) if isinstance(variants, str) else tuple(variants)
        variants = tuple(canonical(v) for v in variants)
        self.video, self.device, self.csv, self.threaded = video, device, csv, threaded
        self.report: BenchReport | None = None
        self.errors: list[str] = []
        self._job: Job | None = None  # the run going on (or the last one)
        self.variants = W.SelectMultiple(options=VARIANTS, value=variants, rows=6,
                                         description="variants")  # fmt: skip
        self.dtypes = W.SelectMultiple(options=DTYPES, value=("default",), rows=4,
                                       description="precision")  # fmt: skip
        self.compile = W.SelectMultiple(options=("off", "on"), value=("off",), rows=2,
                                        description="compile")  # fmt: skip
        self.objects = W.Text(", ".join(str(k) for k in objects), description="objects")
        self.frames = W.BoundedIntText(frames, min=10, max=100_000, description="frames")
        self.price = W.BoundedFloatText(price_per_hour, min=0.01, max=1e6, step=0.1,
                                        description="price/hour")  # fmt: skip
        self.video_fps = W.BoundedFloatText(video_fps, min=1, max=1000, description="video fps")
        self.run_btn = W.Button(description="run", button_style="primary", icon="play")
        self.stop_btn = W.Button(description="stop", icon="stop", disabled=True)
        self.progress = W.IntProgress(0, 0, 1, layout=W.Layout(width="240px"))
        self.status = W.HTML("", layout=W.Layout(min_width="0"))  # wraps: a long path stays whole
        self.message = W.HTML("")
        self.table = W.HTML("")
        self.card = W.HTML("")
        # an empty image shows as a broken one: each is shown once drawn
        self.fps_plot = W.Image(format="png", layout=W.Layout(width="auto", max_width="100%",
                                                                display="none"))  # fmt: skip
        self.memory_plot = W.Image(format="png", layout=W.Layout(width="auto", max_width="100%",
                                                                   display="none"))  # fmt: skip
        self.run_btn.on_click(lambda _: self._guard(self.run))
        self.stop_btn.on_click(lambda _: self.stop())
        self.price.observe(lambda _: self._draw_card(), "value")
        self.video_fps.observe(lambda _: self._draw_card(), "value")
        self.widget = W.VBox([
            W.HBox([self.variants, self.dtypes, self.compile]),
            W.HBox([self.objects, self.frames]),
            W.HBox([self.price, self.video_fps]),
            W.HBox([self.run_btn, self.stop_btn, self.progress, self.status],
                   layout=W.Layout(flex_flow="row wrap")),
            self.message, self.table,
            W.HBox([self.fps_plot, self.memory_plot], layout=W.Layout(flex_flow="row wrap")),
            self.card,
        ])  # fmt: skip

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a benchmark runs."""
        return self._job is not None and self._job.running

    def run(self) -> None:
        """Run the benchmark with the panel's settings (in a background thread if threaded)."""
        if self.running:
            raise RuntimeError("A benchmark is running already: stop it or wait.")
        if not self.variants.value:
            raise ValueError("variants: tick at least one.")
        kwargs = dict(
            variants=list(self.variants.value),
            dtypes=[None if d == "default" else d for d in self.dtypes.value or ("default",)],
            compile=[c == "on" for c in self.compile.value or ("off",)],
            objects=parse_objects(self.objects.value),
            frames=int(self.frames.value),
            video=self.video, device=self.device, csv=self.csv, progress=False,
        )  # fmt: skip
        self._set_running(True)
        self.message.value = ""
        self._job = WidgetJob(
            lambda job: self._work(job, kwargs), name="sam2nb-benchmark", threaded=self.threaded,
            show_error=self.show_error, on_progress=self._show_progress,
            on_done=lambda: self._set_running(False),
        )  # fmt: skip
        self._job.start()

    def _work(self, job: Job, kwargs: dict) -> None:
        self.report = benchmark(**kwargs, stop=job, on_run=job.progress)
        self.draw()
        stopped = " (stopped: these are the runs that finished)" if self.report.stopped else ""
        saved = f"; rows appended to {self.csv}" if self.csv else ""
        self.status.value = html.escape(f"{len(self.report.rows)} runs measured{stopped}{saved}")

    def _show_progress(self, done: int, total: int, what: str) -> None:
        self.progress.max, self.progress.value = max(total, 1), done
        self.status.value = html.escape(f"{done}/{total}: {what}")

    def stop(self) -> None:
        """Stop after the frame being measured; what finished is kept."""
        if self._job is not None:
            self._job.stop()

    def wait(self, timeout: float = 3600.0) -> bool:
        """Block until the run is over (for scripts and tests); True if it is."""
        if self._job is not None:
            self._job.wait(timeout)
        return not self.running

    def _set_running(self, on: bool) -> None:
        self.run_btn.disabled = on
        self.stop_btn.disabled = not on

    # -- drawing ---------------------------------------------------------------------------
    def draw(self) -> None:
        """Draw the last report: table and ratios, FPS and memory plots, the card."""
        r = self.report
        if r is None or not r.rows:
            self.table.value = "<i>nothing measured yet</i>"
            return
        self.table.value = f"<pre style='{TABLE_CSS}'>{html.escape(str(r))}</pre>"
        self.fps_plot.value = _png(r.plot_fps().figure)
        self.fps_plot.layout.display = None
        if r.curves:
            self.memory_plot.value = _png(r.plot_memory())
            self.memory_plot.layout.display = None
        self._draw_card()

    def _draw_card(self) -> None:
        if self.report is None or not self.report.rows:
            return
        try:
            text = self.report.card(float(self.price.value), float(self.video_fps.value))
        except Exception as exc:  # a price the card refuses: say so, keep the rest
            text = str(exc)
        self.card.value = f"<pre style='{CARD_CSS}'>{html.escape(text)}</pre>"

    # -- errors ----------------------------------------------------------------------------
    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:
            self.show_error(exc)

    def show_error(self, exc: BaseException) -> None:
        """Show an error in red under the buttons (its traceback goes to :attr:`errors`)."""
        self.errors.append("".join(traceback.format_exception(exc)))
        self.message.value = (
            f'<span style="color:#b00020">{html.escape(type(exc).__name__)}: '
            f"{html.escape(str(exc))}</span>"
        )

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a front end
        from IPython.display import display

        display(self.widget)

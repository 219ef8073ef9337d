"""J&F over a folder of videos, aggregated as DAVIS and SA-V do: the mean over all objects.

Ground truth and predictions are folders with one sub-folder per video (matched by name), or
one video's folder. A video is DAVIS palette PNGs (``00000.png``, pixel = obj_id) or per-object
PNGs (``<obj_id>/00000.png``: SA-V's ``<video>/<obj_id:03d>/`` or sam2nb's ``png`` export; any
non-zero pixel is the object, as SA-V reads them). A DAVIS root (``Annotations/480p/<video>/``)
works as the ground-truth root. A prediction frame that is missing counts as empty masks.

The headline is the mean over all objects of all videos, not the mean of per-video scores;
Recall and Decay are DAVIS's (:func:`~sam2nb.analysis.jf_metrics.db_statistics`), averaged over
objects the same way.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from ..base.errors import ExportError
from ..io.import_masks import read_masks
from .jf_metrics import BOUND_TH, STATS, VideoScore, score_video

COLUMNS = ["video", "obj_id", "J", "F", "J&F", *STATS, "frames"]


@dataclass
class VideoMasks:
    """One video's masks, read from a folder.

    Attributes:
        frames: ``{frame_idx: {obj_id: (H, W) bool}}``, one entry per PNG frame.
        object_frames: per-object layouts: each object's frames (its folder's files); ``None``
            for palette PNGs, where every object is annotated on every frame.
    """

    frames: dict[int, dict[int, np.ndarray]]
    object_frames: dict[int, list[int]] | None = None


def _object_dirs(folder: Path) -> list[Path]:
    return [d for d in sorted(folder.iterdir()) if d.is_dir() and d.name.isdigit()]


def is_video_folder(folder: str | Path) -> bool:
    """Whether a folder holds one video's masks (palette PNGs or ``<obj_id>/`` folders).

    Example:
        >>> is_video_folder("DAVIS/Annotations/480p/bear")  # doctest: +SKIP
        True
    """
    d = Path(folder)
    if not d.is_dir():
        return False
    if next(d.glob("*.png"), None) is not None:
        return True
    return any(next(o.glob("*.png"), None) is not None for o in _object_dirs(d))


def mask_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of the first PNG under ``path`` (in name order).

    Example:
        >>> mask_size("DAVIS/Annotations/480p/bear")  # doctest: +SKIP
        (854, 480)
    """
    p = Path(path).expanduser()
    first = p if p.is_file() else next(iter(sorted(p.rglob("*.png"))), None)
    if first is None:
        raise ExportError(
            f"No PNG masks in {p}: give DAVIS palette PNGs or per-object <obj_id>/NNNNN.png "
            "folders."
        )
    with Image.open(first) as img:
        return img.size


def _binary(p: Path, size: tuple[int, int]) -> np.ndarray:
    with Image.open(p) as img:
        if img.size != tuple(size):
            raise ExportError(
                f"{p} is {img.size[0]}x{img.size[1]} but the ground truth is {size[0]}x{size[1]}:"
                " masks must have the video's size."
            )
        a = np.asarray(img if img.mode not in ("RGB", "RGBA", "LA") else img.convert("L"))
    return a > 0


def read_video(source: str | Path, size: tuple[int, int]) -> VideoMasks:
    """Read one video's masks for evaluation.

    Palette PNGs and COCO JSON go through :func:`sam2nb.read_masks`; per-object PNGs are read
    as SA-V's evaluator reads them (any non-zero pixel belongs to the object), each object
    keeping its own list of frames.

    Args:
        source: a palette-PNG folder (or file), an ``<obj_id>/NNNNN.png`` folder, a folder that
            holds one SA-V video (``<video>/<obj_id>/``), or a COCO JSON file.
        size: the video's ``(width, height)``.

    Returns:
        The masks.

    Example:
        >>> read_video("sav_val/sav_000001", (1920, 1080)).object_frames.keys()  # doctest: +SKIP
        dict_keys([0, 1])
    """
    src = Path(source).expanduser()
    if not src.exists():
        raise ExportError(f"{src} does not exist: give a mask folder, a PNG or a COCO JSON file.")
    if src.is_file() or next(src.glob("*.png"), None) is not None:
        return VideoMasks(read_masks(src, size))
    objs = _object_dirs(src)
    if not objs and len(kids := [d for d in src.iterdir() if d.is_dir()]) == 1:
        objs = _object_dirs(kids[0])  # SA-V: a folder holding one video
    if not objs:
        return VideoMasks(read_masks(src, size))  # its message says what it expected
    frames: dict[int, dict[int, np.ndarray]] = {}
    per_obj: dict[int, list[int]] = {}
    for d in objs:
        o = int(d.name)
        for p in sorted(d.glob("*.png")):
            if (f := _frame_of(p)) is not None:
                frames.setdefault(f, {})[o] = _binary(p, size)
                per_obj.setdefault(o, []).append(f)
    return VideoMasks(frames, {o: sorted(fs) for o, fs in per_obj.items()})


def _frame_of(p: Path) -> int | None:
    m = re.search(r"(\d+)$", p.stem)
    return int(m.group(1)) if m else None


def find_videos(root: str | Path) -> dict[str, Path]:
    """The videos under a ground-truth or prediction root: ``{name: folder}``.

    ``root`` is one video's folder, a folder of video folders, or a DAVIS root (its
    ``Annotations/480p/`` is used).

    Example:
        >>> list(find_videos("DAVIS"))[:2]  # doctest: +SKIP
        ['bike-packing', 'blackswan']
    """
    r = Path(root).expanduser()
    if not r.exists():
        raise ExportError(
            f"{r} does not exist: give a folder with one sub-folder of masks per video, or one "
            "video's mask folder."
        )
    for sub in ("Annotations/480p", "Annotations"):
        if (r / sub).is_dir() and not is_video_folder(r):
            r = r / sub
            break
    if r.is_file() or is_video_folder(r):
        return {r.stem: r}
    found = {d.name: d for d in sorted(r.iterdir()) if is_video_folder(d)}
    if not found:
        raise ExportError(
            f"No videos in {r}: expected <video>/00000.png palette PNGs, <video>/<obj_id>/"
            "00000.png (SA-V) or a DAVIS root with Annotations/480p/<video>/."
        )
    return found


@dataclass
class VideosResult:
    """J&F of a set of videos: per-object rows and their means (0..1 scale).

    Attributes:
        rows: one row per scored object: ``video, obj_id, J, F, J&F, J-Recall, J-Decay,
            F-Recall, F-Decay, frames`` (frames: how many counted).
        protocol: ``"davis"`` or ``"sav"``.
        frames: per video, the annotated frames evaluated (first and last dropped).
        unscored: per video, ground-truth ids the protocol left out.
    """

    rows: pd.DataFrame
    protocol: str
    frames: dict[str, list[int]] = field(default_factory=dict)
    unscored: dict[str, list[int]] = field(default_factory=dict)

    def _mean(self, col: str) -> float:
        return float(self.rows[col].mean())

    @property
    def J(self) -> float:  # noqa: N802 (the benchmarks' name)
        """Mean J over all objects of all videos."""
        return self._mean("J")

    @property
    def F(self) -> float:  # noqa: N802
        """Mean F over all objects of all videos."""
        return self._mean("F")

    @property
    def JF(self) -> float:  # noqa: N802
        """``(J + F) / 2``: the headline."""
        return (self.J + self.F) / 2

    @property
    def recall_decay(self) -> dict[str, float]:
        """DAVIS's J/F Recall and Decay, averaged over all objects."""
        return {c: self._mean(c) for c in STATS}

    def table(self) -> str:
        """Per-object rows and the global row, x100 with one decimal (as SA-V prints)."""
        w = max([len("Global"), *(len(str(v)) for v in self.rows["video"])])
        head = f"{'video':<{w}} {'obj':>4} {'J&F':>6} {'J':>6} {'F':>6}"
        lines = [head + "".join(f" {c:>8}" for c in STATS) + f" {'frames':>6}"]

        def line(video: str, obj: str, vals: list[float], frames: str) -> str:
            nums = " ".join(f"{v * 100:6.1f}" for v in vals[:3])
            rest = "".join(f" {v * 100:8.1f}" for v in vals[3:])
            return f"{video:<{w}} {obj:>4} {nums}{rest} {frames:>6}"

        for r in self.rows.itertuples(index=False):
            d = dict(zip(COLUMNS, r, strict=True))
            vals = [d["J&F"], d["J"], d["F"], *(d[c] for c in STATS)]
            lines.append(line(str(d["video"]), f"{d['obj_id']:03d}", vals, str(d["frames"])))
        rd = self.recall_decay
        vals = [self.JF, self.J, self.F, *(rd[c] for c in STATS)]
        lines.append(line("Global", "", vals, str(int(self.rows["frames"].sum()))))
        return "\n".join(lines)

    def summary(self) -> str:
        """``J&F x J y F z`` on the x100 scale with one decimal (SA-V's summary line)."""
        return f"J&F {self.JF * 100:.1f} J {self.J * 100:.1f} F {self.F * 100:.1f}"

    def to_csv(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the per-object rows (0..1 scale, full precision) to a CSV file.

        Args:
            path: the file.
            force: overwrite an existing file.

        Returns:
            The path.
        """
        p = Path(path).expanduser()
        if p.exists() and not force:
            raise ExportError(
                f"{p} exists: pass force=True (sam2nb jf --force) to overwrite it, or give "
                "another file."
            )
        if not p.parent.is_dir():
            raise ExportError(f"{p.parent} does not exist: create it first or give another file.")
        self.rows.to_csv(p, index=False)
        return p


def object_rows(video: str, score: VideoScore) -> list[dict]:
    """The per-object rows (:data:`COLUMNS`) of one scored video."""
    out = []
    for o, s in sorted(score.objects.items()):
        row = {"video": video, "obj_id": o, "J": s.J, "F": s.F, "J&F": s.JF, **s.stats()}
        out.append({**row, "frames": len(s.frames)})
    return out


def unscored_note(video: str, score: VideoScore, protocol: str) -> str | None:
    """The warning for ground-truth ids a protocol leaves out, or ``None``."""
    if not score.unscored:
        return None
    if protocol == "davis":
        why = (
            "first appear after the first annotated frame: DAVIS takes the ids from that frame "
            "and does not score them (protocol 'sav' does)"
        )
    else:
        why = "appear only on the dropped first/last frames, so SA-V does not score them"
    return f"{video}: ids {score.unscored} {why}."


def score_truth(
    truth: Any,
    predicted: Any,
    protocol: str,
    skip_first_last: bool,
    bound_th: float,
    name: str,
) -> VideoScore:
    """Score one video's prediction against its ground truth; warn about ids DAVIS leaves out."""
    score = score_video(
        truth.frames,
        predicted,
        protocol=protocol,
        object_frames=truth.object_frames,
        skip_first_last=skip_first_last,
        bound_th=bound_th,
        name=f"Video {name!r}",
    )
    if protocol == "davis" and (note := unscored_note(name, score, protocol)) is not None:
        warnings.warn(note, stacklevel=3)
    return score


def evaluate_videos(
    pred_root: str | Path,
    gt_root: str | Path,
    *,
    protocol: str = "davis",
    skip_first_last: bool = True,
    bound_th: float = BOUND_TH,
    videos: Iterable[str] | None = None,
) -> VideosResult:
    """J&F of predicted masks for a set of videos (or one) against their ground truth.

    Args:
        pred_root: the predictions: one sub-folder per video (named as in the ground truth),
            or one video's folder when ``gt_root`` is one video.
        gt_root: the ground truth: a folder of videos, a DAVIS root or one video's folder.
        protocol: ``"davis"`` (DAVIS 2017) or ``"sav"`` (SA-V / vos-benchmark); see
            :mod:`sam2nb.analysis.jf_metrics`.
        skip_first_last: drop each video's first and last annotated frames (both benchmarks).
        bound_th: boundary tolerance (a fraction of the diagonal, or pixels if >= 1).
        videos: evaluate only these videos (default: every ground-truth video).

    Returns:
        The per-object rows and the means over all objects of all videos.

    Example:
        >>> r = evaluate_videos("preds", "DAVIS", protocol="davis")  # doctest: +SKIP
        >>> print(r.table()); print(r.summary())  # doctest: +SKIP
    """
    gt_videos = find_videos(gt_root)
    pred = Path(pred_root).expanduser()
    if not pred.exists():
        raise ExportError(f"{pred} does not exist: give the folder of predicted masks.")
    if videos is not None:
        want = list(videos)
        unknown = [v for v in want if v not in gt_videos]
        if unknown:
            raise ExportError(f"No ground truth for videos {unknown} in {gt_root}.")
        gt_videos = {v: gt_videos[v] for v in want}
    rows: list[dict] = []
    result = VideosResult(pd.DataFrame(columns=COLUMNS), protocol)
    for name, g in gt_videos.items():
        p = pred / name
        if not p.is_dir():
            if len(gt_videos) == 1 and is_video_folder(pred):
                p = pred
            else:
                raise ExportError(
                    f"No prediction for video {name!r}: {p} does not exist. Write its masks "
                    f"there (palette PNGs or <obj_id>/NNNNN.png), or leave it out with "
                    "videos=[...]."
                )
        size = mask_size(g)
        truth = read_video(g, size)
        predicted = read_video(p, size).frames
        score = score_truth(truth, predicted, protocol, skip_first_last, bound_th, name)
        rows += object_rows(name, score)
        result.frames[name] = score.frames
        result.unscored[name] = score.unscored
    if not rows:
        raise ExportError(
            f"No objects to score in {gt_root}: the ground truth is empty on the evaluated "
            "frames (DAVIS takes the ids from the first frame)."
        )
    result.rows = pd.DataFrame(rows, columns=COLUMNS)
    return result

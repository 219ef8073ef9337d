"""Video decoders side by side: decord, PyAV, torchcodec and OpenCV, on evidence.

Makes its test files at run time in a temp folder (with the ffmpeg of ``imageio_ffmpeg``) from
the clips in ../shared/data, then measures, for each decoder that imports:

* ``rss``: open time and process RSS while reading a 10,200-frame file (bedroom.mp4 joined 51
  times with the concat demuxer, ``-c copy``) sequentially, every 1,000 frames, then random
  access at a few positions. One subprocess per decoder, so RSS is the decoder's own.
* ``speed``: sequential decode frames/s (RGB uint8 numpy out, one decoder thread) at 720p,
  1080p and 4K, at full size and scaled to fit 1024 px where the decoder scales natively
  (OpenCV: decode, then ``cv2.resize``). All decoders in one process, interleaved, repeated;
  medians and the ratio to decord.
* ``seek``: frame-exact random access: random indices, in random order, against the same
  decoder's sequential decode (equal arrays), on files with real GOPs; PyAV with a frame index
  (packet pts from a demux pass) and keyframe seeks.
* ``vfr``: per-frame presentation times on a variable-frame-rate file against the times it was
  made with.
* ``rotation``: a stream-copied file with a 90 degree display matrix: is it exposed, applied?
* ``damaged``: truncated (index first and index last) and corrupt copies: open, frame count,
  frames decoded, garbage, crashes (each read in its own subprocess).
* ``wheels`` (only when asked for): binary wheels on the package index per Python and platform.

    python benchmarks/decoders.py [--quick] [--sections rss speed seek vfr rotation damaged]
        [--decoders decord pyav torchcodec opencv] [--repeats 3] [--out report.md] [--wheels]

The default takes 10-15 minutes on a busy 2-core machine (the 10,200-frame reads dominate);
``--quick`` about 5. Decoders that do not import are reported as "not installed" (``pip install
av torchcodec``; torchcodec also needs FFmpeg's shared libraries, versions 4 to 9, on the system,
e.g. Debian's libavcodec59 and friends: without them its load error is reported as it is).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DECODERS = ["decord", "pyav", "torchcodec", "opencv"]
SECTIONS = ["rss", "speed", "seek", "vfr", "rotation", "damaged"]
FIT = 1024


# --------------------------------------------------------------------------------------------
# Readers: one small adapter per decoder, all giving RGB uint8 numpy arrays (H, W, 3).
# --------------------------------------------------------------------------------------------


def fit(w: int, h: int, side: int = FIT) -> tuple[int, int]:
    """(w, h) scaled to fit ``side`` px, even sizes."""
    s = min(1.0, side / max(w, h))
    return max(2, round(w * s / 2) * 2), max(2, round(h * s / 2) * 2)


class DecordReader:
    name = "decord"
    native_scale = True

    def __init__(self, path, size=None):
        import cv2  # noqa: F401  (before decord: decord's zlib breaks OpenCV's PNG codec)
        import decord

        w, h = size or (-1, -1)
        self.vr = decord.VideoReader(str(path), num_threads=1, width=w, height=h)
        self.n = len(self.vr)

    def frames(self):
        for i in range(self.n):
            yield self.vr[i].asnumpy()

    def get(self, i):
        return self.vr[i].asnumpy()

    def times(self):
        return [float(t[0]) for t in self.vr.get_frame_timestamp(list(range(self.n)))]

    def rotation(self):
        return "no API"

    def close(self):
        del self.vr


class PyAVReader:
    """PyAV with a frame index: exact random access by presentation timestamp.

    At open, one demux pass (packets only, nothing decoded) lists every frame's pts and which
    packets are keyframes. ``get(i)``: the frame with the i-th smallest pts. If the target is
    at most 8 frames past the last one returned, or no keyframe lies between the two, decoding
    just goes on; otherwise it seeks to the last keyframe (in decode order) whose pts is <= the
    target's, and decodes forward until ``frame.pts == target``.
    """

    name = "pyav"
    native_scale = True

    def __init__(self, path, size=None, threads=1):
        import av

        t = time.perf_counter()
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.codec_context.thread_count = threads
        self.open_s = time.perf_counter() - t
        t = time.perf_counter()
        self.pts, self.keys = self.build_index()
        self.index_s = time.perf_counter() - t
        self.n = len(self.pts)
        self.header_n = self.stream.frames  # what the container says; n is what is there
        self.size = size
        self._gen, self._last = None, None

    def build_index(self):
        pts, keys = [], []  # keys: pts of keyframe packets, in decode order
        for p in self.container.demux(self.stream):
            if p.pts is None or p.size == 0 or p.is_discard:  # flush packet, dropped by edit list
                continue
            pts.append(p.pts)
            if p.is_keyframe:
                keys.append(p.pts)
        self.container.seek(0, stream=self.stream, backward=True, any_frame=False)
        return sorted(pts), keys

    def rgb(self, frame):
        if self.size:
            w, h = self.size
            return frame.to_ndarray(format="rgb24", width=w, height=h)
        return frame.to_ndarray(format="rgb24")

    def frames(self):
        self.container.seek(0, stream=self.stream, backward=True, any_frame=False)
        for frame in self.container.decode(self.stream):
            yield self.rgb(frame)

    def frame_at(self, i):
        target = self.pts[i]
        last = self._last
        ahead = last is not None and self.pts[last] < target
        if not (
            ahead and (i - last <= 8 or not any(self.pts[last] < k <= target for k in self.keys))
        ):
            before = [k for k in self.keys if k <= target]
            key = before[-1] if before else self.keys[0]
            self.container.seek(key, stream=self.stream, backward=True, any_frame=False)
            self._gen = self.container.decode(self.stream)
        for frame in self._gen:
            if frame.pts is None or frame.pts < target:
                continue
            if frame.pts == target:
                self._last = i
                return frame
            break
        self._last, self._gen = None, None
        raise RuntimeError(f"frame {i} (pts {target}) not found after the seek")

    def get(self, i):
        return self.rgb(self.frame_at(i))

    def times(self):
        return [float(p * self.stream.time_base) for p in self.pts]

    def decoded_times(self):
        self.container.seek(0, stream=self.stream, backward=True, any_frame=False)
        return [f.time for f in self.container.decode(self.stream)]

    def rotation(self):
        self.container.seek(0, stream=self.stream, backward=True, any_frame=False)
        frame = next(self.container.decode(self.stream))
        return f"frame.rotation={getattr(frame, 'rotation', 'n/a')}"

    def close(self):
        self.container.close()


class TorchCodecReader:
    name = "torchcodec"
    native_scale = True

    def __init__(self, path, size=None):
        from torchcodec.decoders import VideoDecoder

        transforms = None
        if size:
            from torchcodec.transforms import Resize

            transforms = [Resize((size[1], size[0]))]
        self.d = VideoDecoder(
            str(path),
            dimension_order="NHWC",
            num_ffmpeg_threads=1,
            seek_mode="exact",
            transforms=transforms,
        )
        self.n = len(self.d)

    def frames(self):
        for i in range(self.n):
            yield self.d[i].numpy()

    def get(self, i):
        return self.d[i].numpy()

    def times(self):
        return [float(t) for t in self.d.get_frames_at(list(range(self.n))).pts_seconds]

    def rotation(self):
        return f"metadata.rotation={self.d.metadata.rotation}"

    def close(self):
        del self.d


class OpenCVReader:
    name = "opencv"
    native_scale = False  # decodes full size; the scaled runs add cv2.resize

    def __init__(self, path, size=None):
        import cv2

        self.cv2 = cv2
        self.cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not self.cap.isOpened():
            raise RuntimeError("VideoCapture.isOpened() is False")
        self.n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.size = size
        self._next = 0

    def rgb(self, bgr):
        cv2 = self.cv2
        if self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def frames(self):
        self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, 0)
        while True:
            ok, bgr = self.cap.read()
            if not ok:
                return
            yield self.rgb(bgr)

    def get(self, i):
        if i != self._next:
            self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, i)
        ok, bgr = self.cap.read()
        if not ok:
            raise RuntimeError(f"read() failed at frame {i}")
        self._next = i + 1
        return self.rgb(bgr)

    def times(self):
        self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, 0)
        out = []
        while self.cap.read()[0]:
            out.append(self.cap.get(self.cv2.CAP_PROP_POS_MSEC) / 1000)
        return out

    def rotation(self):
        cv2 = self.cv2
        meta = self.cap.get(cv2.CAP_PROP_ORIENTATION_META)
        return f"ORIENTATION_META={meta:g} AUTO={self.cap.get(cv2.CAP_PROP_ORIENTATION_AUTO):g}"

    def close(self):
        self.cap.release()


MODULES = {"decord": "decord", "pyav": "av", "torchcodec": "torchcodec", "opencv": "cv2"}
READERS = {r.name: r for r in (DecordReader, PyAVReader, TorchCodecReader, OpenCVReader)}


def available(name: str) -> str | None:
    """None if the decoder works here, else why not (first line of the error)."""
    try:
        __import__(MODULES[name])
    except ImportError:
        return "not installed"
    if name == "torchcodec":
        try:
            from torchcodec.decoders import VideoDecoder

            VideoDecoder(str(DATA / "bedroom.mp4"))  # loads libtorchcodec, which needs FFmpeg
        except Exception as exc:  # FFmpeg's libraries missing, or a torch it was not built for
            text = str(exc)
            missing = sorted(
                {
                    ln.split(":")[0].split()[-1]
                    for ln in text.splitlines()
                    if "cannot open shared object file" in ln
                }
            )
            return "cannot load: " + (f"missing {', '.join(missing)}" if missing else text[:200])
    return None


def version(name: str) -> str:
    try:
        if name == "pyav":
            import av

            return f"{av.__version__} (FFmpeg {av.ffmpeg_version_info})"
        if name == "opencv":
            import cv2

            return cv2.__version__
        return __import__(name).__version__
    except Exception:
        return "?"


def short(exc: BaseException, n: int = 90) -> str:
    """An exception's type and first line, without the C++ source paths decoders put in."""
    text = " ".join(w for w in str(exc).split() if not re.search(r"/\S+:\d+|^\[\d+:\d+:\d+\]$", w))
    return f"{type(exc).__name__}: {text}"[:n]


def digest(a) -> str:
    return hashlib.blake2b(a.tobytes(), digest_size=8).hexdigest() + str(a.shape)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# --------------------------------------------------------------------------------------------
# Workers (run in subprocesses: ``--worker JSON``); each returns a JSON-able dict.
# --------------------------------------------------------------------------------------------


def work_rss(decoder, path, frames, probes):
    base = rss_mb()
    t = time.perf_counter()
    __import__(MODULES[decoder])
    if decoder == "torchcodec":
        import torchcodec.decoders  # noqa: F401  (imports torch)
    imported = time.perf_counter() - t
    out = {"import_s": imported, "rss_base": base, "rss_import": rss_mb()}
    t = time.perf_counter()
    r = READERS[decoder](path)
    out.update(open_s=time.perf_counter() - t, rss_open=rss_mb(), n=r.n)
    out["index_s"] = getattr(r, "index_s", None)
    curve, hashes, t = [], [], time.perf_counter()
    for i in range(min(frames, r.n)):  # get(i) in order: how sam2nb reads a video
        hashes.append(digest(r.get(i)))
        if (i + 1) % 1000 == 0:
            curve.append((i + 1, round(rss_mb())))
    out.update(seq_fps=len(hashes) / (time.perf_counter() - t), decoded=len(hashes), curve=curve)
    ok, t = 0, time.perf_counter()
    probes = [p for p in probes if p < len(hashes)]
    for p in probes:
        ok += digest(r.get(p)) == hashes[p]
    out.update(random_ok=f"{ok}/{len(probes)}", random_s=(time.perf_counter() - t) / len(probes))
    out["rss_end"] = rss_mb()
    import resource

    out["rss_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def work_seek(decoder, path, count, seed, save):
    import numpy as np

    r = READERS[decoder](path)
    n = r.n
    idx = random.Random(seed).sample(range(n), min(count, n))
    want = set(idx)
    hashes, keep, t = [], {}, time.perf_counter()
    for i, a in enumerate(r.frames()):
        hashes.append(digest(a))
        if i in want:
            keep[i] = a
    seq_s = time.perf_counter() - t
    where = {}
    for i, h in enumerate(hashes):
        where.setdefault(h, []).append(i)
    results, t = [], time.perf_counter()
    for i in idx:
        try:
            a = r.get(i)
        except Exception as exc:
            results.append((i, "error", short(exc)))
            continue
        if i >= len(hashes):
            results.append((i, "beyond sequential", ""))
        elif digest(a) == hashes[i]:
            results.append((i, "exact", ""))
        else:
            diff = (
                int(np.abs(a.astype(np.int16) - keep[i]).max()) if a.shape == keep[i].shape else -1
            )
            results.append((i, "differs", f"max|d|={diff} equals frame(s) {where.get(digest(a))}"))
    rand_s = (time.perf_counter() - t) / max(1, len(idx))
    if save:
        np.savez_compressed(save, **{str(i): keep[i] for i in sorted(keep)})
    return {
        "n": n,
        "sequential": len(hashes),
        "seq_s": seq_s,
        "random_s": rand_s,
        "results": results,
    }


def work_vfr(decoder, path):
    r = READERS[decoder](path)
    out = {"n": r.n, "times": r.times()}
    if decoder == "pyav":
        out["decoded_times"] = r.decoded_times()
    return out


def work_rotation(decoder, path):
    r = READERS[decoder](path)
    a = next(iter(r.frames()))
    return {"shape": list(a.shape), "info": r.rotation()}


def work_damaged(decoder, path, reference, bad_index):
    """Open, count, decode everything (comparing with the undamaged file), then one bad frame."""
    import numpy as np

    out = {"open": "ok"}
    try:
        r = READERS[decoder](path)
    except Exception as exc:
        return {"open": "raises " + short(exc)}
    out["n"] = r.n
    ref = READERS[decoder](reference)
    good = ref.frames()
    decoded, garbage, first_bad, error = 0, 0, None, None
    try:
        for a in r.frames():
            b = next(good, None)
            if b is None or a.shape != b.shape or np.abs(a.astype(np.int16) - b).mean() > 2:
                garbage += 1
                first_bad = decoded if first_bad is None else first_bad
            decoded += 1
    except Exception as exc:
        error = short(exc)
    out.update(decoded=decoded, garbage=garbage, first_garbage=first_bad, seq_error=error)
    r2 = READERS[decoder](path)
    i = min(bad_index, max(0, r2.n - 1))
    try:
        a = r2.get(i)
        b = ref.get(i)
        d = float(np.abs(a.astype(np.int16) - b).mean()) if a.shape == b.shape else -1.0
        out["get"] = f"get({i}) returns, mean|d|={d:.1f}"
    except Exception as exc:
        out["get"] = f"get({i}) raises {short(exc)}"
    return out


def work_speed(decoders, files, frames, repeats, order_seed):
    """All decoders in one process, taking turns; returns the fps of every run."""
    import cv2  # noqa: F401  (first: see DecordReader)

    runs = []
    rng = random.Random(order_seed)
    for rep in range(repeats):
        for label, path, w, h in files:
            for scaled in (False, True):
                order = list(decoders)
                rng.shuffle(order)
                for dec in order:
                    size = fit(w, h) if scaled else None
                    t = time.perf_counter()
                    r = READERS[dec](path, size)
                    opened = time.perf_counter() - t
                    count, t = 0, time.perf_counter()
                    for _a in r.frames():
                        count += 1
                        if count >= frames:
                            break
                    fps = count / (time.perf_counter() - t)
                    r.close()
                    runs.append(
                        {
                            "rep": rep,
                            "file": label,
                            "scaled": scaled,
                            "dec": dec,
                            "fps": fps,
                            "open_s": opened,
                            "shape": list(_a.shape),
                        }
                    )
    return {"runs": runs}


def work_avail(decoder):
    why = available(decoder)
    return {"why": why, "version": version(decoder) if why is None else "-"}


WORKERS = {
    "avail": work_avail,
    "rss": work_rss,
    "seek": work_seek,
    "vfr": work_vfr,
    "rotation": work_rotation,
    "damaged": work_damaged,
    "speed": work_speed,
}


def run_worker(kind: str, timeout: float = 600, **kw) -> dict:
    """Run one worker in a fresh Python; a crash or a hang is a result too."""
    cmd = [sys.executable, __file__, "--worker", json.dumps({"kind": kind, **kw})]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"crash": f"hung (killed after {timeout:.0f} s)"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            out = json.loads(line[7:])
            out["wall_s"] = time.perf_counter() - t
            return out
    tail = (p.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1][:160]
    sig = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
    return {"crash": f"{sig}: {tail}"}


def worker_main(spec: str) -> None:
    kw = json.loads(spec)
    kind = kw.pop("kind")
    try:
        out = WORKERS[kind](**kw)
    except Exception as exc:
        out = {
            "error": short(exc, 160),
            "trace": traceback.format_exc()[-600:],
        }
    print("RESULT " + json.dumps(out), flush=True)


# --------------------------------------------------------------------------------------------
# Test files
# --------------------------------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args]
    subprocess.run(cmd, check=True)


def make_files(root: Path, quick: bool) -> dict[str, Path]:
    f = {}
    bedroom, cups, pingpong = DATA / "bedroom.mp4", DATA / "cups.mp4", DATA / "pingpong.mp4"
    lst = root / "list.txt"
    lst.write_text("".join(f"file '{bedroom}'\n" for _ in range(51)))
    f["long"] = root / "long.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", str(f["long"]))
    n = "45" if quick else "60"
    x264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-an"]
    for label, scale in (("1080p", "1920:1080"), ("4k", "3840:2160")):
        f[label] = root / f"{label}.mp4"
        ffmpeg("-i", str(cups), "-frames:v", n, "-vf", f"scale={scale}", *x264, str(f[label]))
    # a short GOP (keyframe every 24 frames, B-frames): seeks land on many keyframes
    f["gop24"] = root / "gop24.mp4"
    ffmpeg(
        "-i", str(pingpong), "-vf", "scale=640:360", "-g", "24", "-bf", "3", *x264, str(f["gop24"])
    )
    # variable frame rate: t(N) = N/30 + 0.05 * floor(N/7) s (a 50 ms gap after every 7th frame)
    f["vfr"] = root / "vfr.mp4"
    setpts = "setpts=(N/30+0.05*floor(N/7))/TB"  # the encoder keeps the filter's time base:
    vfr = ["-fps_mode", "passthrough", "-enc_time_base:v", "filter"]  # else it rounds to 1/30 s
    ffmpeg("-i", str(bedroom), "-frames:v", "60", "-vf", setpts, *vfr, *x264, str(f["vfr"]))
    # a phone-style rotation tag (display matrix), stream copy
    f["rot90"] = root / "rot90.mp4"
    ffmpeg(
        "-display_rotation",
        "90",
        "-i",
        str(bedroom),
        "-frames:v",
        "30",
        "-c",
        "copy",
        str(f["rot90"]),
    )
    # damaged copies of cups.mp4 (its index is in front); a remux puts the index at the end
    sys.path.insert(0, str(HERE.parent / "tests"))
    from helpers import corrupt_copy, faststart, truncated_copy

    f["cups"] = cups
    f["cups_moov_end"] = root / "cups_moov_end.mp4"
    ffmpeg("-i", str(cups), "-c", "copy", str(f["cups_moov_end"]))
    f["cups_fast"] = faststart(f["cups_moov_end"], root / "cups_fast.mp4")
    f["trunc_moov_end"] = truncated_copy(f["cups_moov_end"], root / "trunc_moov_end.mp4", 0.6)
    f["trunc_fast"] = truncated_copy(f["cups_fast"], root / "trunc_fast.mp4", 0.6)
    f["corrupt"] = corrupt_copy(f["cups_fast"], root / "corrupt.mp4", where=0.5, length=20000)
    f["bedroom"] = bedroom
    return f


def vfr_truth(n: int) -> list[float]:
    return [i / 30 + 0.05 * (i // 7) for i in range(n)]


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def sec_rss(decs, files, args) -> str:
    frames = 3000 if args.quick else 10200
    probes = [9999, 123, 5000, 7777, 2999, 10100, 1500, 42]
    rows, curves = [], []
    for d in decs:
        r = run_worker("rss", decoder=d, path=str(files["long"]), frames=frames, probes=probes)
        if "crash" in r or "error" in r:
            rows.append([d, r.get("crash") or r.get("error")] + [""] * 9)
            continue
        idx = f"{r['index_s']:.3f}" if r.get("index_s") is not None else "-"
        rows.append(
            [
                d,
                r["n"],
                f"{r['open_s']:.3f}",
                idx,
                f"{r['import_s']:.2f}",
                f"{r['rss_base']:.0f} / {r['rss_import']:.0f}",
                f"{r['rss_open']:.0f}",
                f"{r['rss_end']:.0f}",
                f"{r['rss_peak']:.0f}",
                f"{r['seq_fps']:.0f}",
                f"{r['random_ok']} ({r['random_s'] * 1000:.0f} ms)",
            ]
        )
        curves.append([d] + [mb for _, mb in r["curve"]])
    out = f"### RSS on the {frames}-frame read of long.mp4 (10,200 frames, 960x540, GOP 200)\n\n"
    out += table(
        [
            "decoder",
            "len()",
            "open s",
            "PyAV index s",
            "import s",
            "RSS MB: start / after import",
            "after open",
            "end",
            "peak (ru_maxrss)",
            "get(i) in order, fps",
            "random ok (ms/read)",
        ],
        rows,
    )
    k = max((len(c) for c in curves), default=1) - 1
    out += "\n\nRSS (MB) after every 1,000 frames read sequentially:\n\n"
    out += table(["decoder"] + [f"{(i + 1) * 1000}" for i in range(k)], curves)
    return out


def sec_speed(decs, files, args) -> str:
    labels = [("720p", files["cups"]), ("1080p", files["1080p"]), ("4k", files["4k"])]
    specs = []
    for label, path in labels:
        import cv2

        cap = cv2.VideoCapture(str(path))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        specs.append((label, str(path), w, h))
    frames = 45 if args.quick else 60
    runs = run_worker(
        "speed",
        timeout=1200,
        decoders=decs,
        files=specs,
        frames=frames,
        repeats=args.repeats,
        order_seed=1,
    )
    if "crash" in runs or "error" in runs:
        return f"speed worker failed: {runs}"
    runs = runs["runs"]
    rows = []
    for label, *_ in specs:
        for scaled in (False, True):
            med = {}
            for d in decs:
                fps = [
                    r["fps"]
                    for r in runs
                    if (r["file"], r["scaled"], r["dec"]) == (label, scaled, d)
                ]
                med[d] = statistics.median(fps), min(fps), max(fps)
            shape = next(r["shape"] for r in runs if r["file"] == label and r["scaled"] == scaled)
            base = med.get("decord", (None,))[0]
            cells = []
            for d in decs:
                m, lo, hi = med[d]
                note = "" if scaled is False or READERS[d].native_scale else " (+cv2.resize)"
                ratio = f" x{m / base:.2f}" if base else ""
                cells.append(f"{m:.1f} [{lo:.0f}-{hi:.0f}]{ratio}{note}")
            rows.append([label, f"{shape[1]}x{shape[0]}"] + cells)
    out = (
        f"### Sequential decode, frames/s (median [min-max] of {args.repeats} interleaved runs "
        f"of {frames} frames, 1 decoder thread, RGB uint8 numpy; xN = ratio to decord)\n\n"
    )
    return out + table(["source", "output"] + decs, rows)


def sec_seek(decs, files, args) -> str:
    import numpy as np

    count = 15 if args.quick else 30
    rows, saved = [], {}
    root = Path(args.workdir)
    for label in ("bedroom", "cups", "gop24"):
        for d in decs:
            save = str(root / f"seek-{label}-{d}.npz")
            r = run_worker(
                "seek", decoder=d, path=str(files[label]), count=count, seed=7, save=save
            )
            if "crash" in r or "error" in r:
                rows.append([label, d, r.get("crash") or r.get("error"), "", "", ""])
                continue
            saved[label, d] = save
            res = r["results"]
            exact = sum(1 for _, s, _ in res if s == "exact")
            bad = [f"{i}: {s} {x}".strip() for i, s, x in res if s != "exact"][:3]
            rows.append(
                [
                    label,
                    d,
                    f"{r['n']}/{r['sequential']}",
                    f"{exact}/{len(res)}",
                    f"{r['random_s'] * 1000:.0f}",
                    "; ".join(bad) or "-",
                ]
            )
    out = (
        f"### Frame-exact random access ({count} random indices in random order vs the same "
        "decoder's sequential decode; bedroom: 1 keyframe in 200 frames, cups: keyframes at 0 "
        "and 250, gop24: 640x360, keyframe every 24, 3 B-frames)\n\n"
    )
    out += table(
        ["file", "decoder", "len()/sequential frames", "exact", "ms/read", "first failures"], rows
    )
    # do the decoders agree on the pixels? (colour conversion, not seeking)
    agree = []
    for label in ("bedroom", "cups", "gop24"):
        if (label, "pyav") not in saved:
            continue
        ref = np.load(saved[label, "pyav"])
        cells = [label]
        for d in decs:
            if (label, d) not in saved:
                cells.append("-")
                continue
            other = np.load(saved[label, d])
            diffs = [
                np.abs(ref[k].astype(np.int16) - other[k]).max()
                for k in ref.files
                if k in other.files and ref[k].shape == other[k].shape
            ]
            cells.append(f"max {max(diffs)}, mean-of-max {np.mean(diffs):.1f}" if diffs else "?")
        agree.append(cells)
    out += "\n\nSame frames (sequential), pixel difference to PyAV's rgb24 (0 = identical):\n\n"
    return out + table(["file"] + decs, agree)


def sec_vfr(decs, files, args) -> str:
    truth = vfr_truth(60)
    rows = []
    for d in decs:
        r = run_worker("vfr", decoder=d, path=str(files["vfr"]))
        if "crash" in r or "error" in r:
            rows.append([d, r.get("crash") or r.get("error"), "", "", ""])
            continue
        t = r["times"]
        k = min(len(t), len(truth))
        err = max(abs(a - b) for a, b in zip(t[:k], truth[:k], strict=True)) * 1000
        verdict = "true times" if err < 1.5 and len(t) == 60 else "WRONG"
        extra = ""
        if "decoded_times" in r:
            dt = r["decoded_times"]
            e2 = max(abs(a - b) for a, b in zip(dt, truth, strict=False)) * 1000
            extra = f"; decoded frame.time max err {e2:.1f} ms"
        rows.append(
            [
                d,
                f"{r['n']}/{len(t)}",
                f"{err:.1f}",
                verdict + extra,
                ", ".join(f"{x:.3f}" for x in t[5:10]),
            ]
        )
    out = (
        "### Variable frame rate (60 frames, t(N) = N/30 + 0.05*floor(N/7) s; truth for "
        "frames 5-9: " + ", ".join(f"{x:.3f}" for x in truth[5:10]) + ")\n\n"
    )
    return out + table(
        ["decoder", "len()/times", "max err ms", "verdict", "times of frames 5-9"], rows
    )


def sec_rotation(decs, files, args) -> str:
    rows = []
    for d in decs:
        r = run_worker("rotation", decoder=d, path=str(files["rot90"]))
        if "crash" in r or "error" in r:
            rows.append([d, r.get("crash") or r.get("error"), "", ""])
            continue
        applied = "yes" if r["shape"][:2] == [960, 540] else "no"
        rows.append([d, "x".join(map(str, r["shape"][:2])), applied, r["info"]])
    out = (
        "### Rotation (bedroom.mp4 960x540, stream copy with `-display_rotation 90`; "
        "applied = frames come out 540 wide, 960 high)\n\n"
    )
    return out + table(["decoder", "frame HxW", "applied", "exposed as"], rows)


def sec_damaged(decs, files, args) -> str:
    cases = [
        ("truncated 60%, index at end", "trunc_moov_end", "cups_moov_end"),
        ("truncated 60%, index in front", "trunc_fast", "cups_fast"),
        ("20 kB zeroed at 50% of mdat", "corrupt", "cups_fast"),
    ]
    rows = []
    for label, name, ref in cases:
        for d in decs:
            r = run_worker(
                "damaged",
                timeout=300,
                decoder=d,
                path=str(files[name]),
                reference=str(files[ref]),
                bad_index=250,
            )
            if "crash" in r or "error" in r:
                rows.append([label, d, r.get("crash") or r.get("error")] + [""] * 4)
                continue
            if r["open"] != "ok":
                rows.append([label, d, r["open"]] + [""] * 4)
                continue
            dec = f"{r['decoded']}" + (f", then {r['seq_error']}" if r["seq_error"] else "")
            garbage = f"{r['garbage']}" + (f" (from {r['first_garbage']})" if r["garbage"] else "")
            rows.append([label, d, "ok", r["n"], dec, garbage, r["get"]])
    out = (
        "### Damaged files (cups.mp4, 300 frames; garbage = frames whose mean |diff| to the "
        "undamaged file's is > 2)\n\n"
    )
    return out + table(
        [
            "case",
            "decoder",
            "open",
            "len()",
            "decoded sequentially",
            "garbage frames",
            "reading frame 250",
        ],
        rows,
    )


def sec_wheels(args) -> str:
    """Ask the index (pip download) for a binary wheel per Python and platform."""
    pkgs = {"decord": "decord", "pyav": "av", "torchcodec": "torchcodec",
            "opencv": "opencv-python-headless"}  # fmt: skip
    linux = [f"manylinux_2_{v}" for v in (35, 34, 31, 28, 27, 24, 17, 12, 5)]
    linux += ["manylinux2014", "manylinux2010", "manylinux1"]  # pip does not expand --platform
    plats = {"linux x86_64": [f"{t}_x86_64" for t in linux],
             "linux aarch64": [f"{t}_aarch64" for t in linux],
             "macOS arm64": [f"macosx_{v}_0_arm64" for v in (15, 14, 13, 12, 11)]}  # fmt: skip
    pys = ["3.10", "3.11", "3.12", "3.13"]
    dest = Path(args.workdir) / "wheels"
    rows = []
    for name, pkg in pkgs.items():
        for plat, tags in plats.items():
            cells = [name, plat]
            for py in pys:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                       "--python-version", py, "-d", str(dest), pkg]  # fmt: skip
                cmd += [x for t in tags for x in ("--platform", t)]
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                saved = re.findall(r"(?:Saved|already downloaded) (\S+\.whl)", p.stdout)
                cells.append(Path(saved[-1]).name.split("-")[1] if saved else "none")
            rows.append(cells)
    return (
        "### Binary wheels on the index (`pip download --only-binary=:all:`; newest version "
        "that has one; manylinux_2_35 and older, macOS 15 and older)\n\n"
        + table(["decoder", "platform"] + pys, rows)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="fewer frames: 3,000 of the long file, 2 speed runs (about 5 minutes)",
    )
    ap.add_argument("--sections", nargs="*", default=SECTIONS, choices=SECTIONS)
    ap.add_argument("--decoders", nargs="+", default=DECODERS, choices=DECODERS)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved speed runs")
    ap.add_argument("--wheels", action="store_true", help="also ask the index for wheels")
    ap.add_argument("--workdir", help="where to make the test files (default: a temp dir)")
    ap.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args()
    if args.worker:
        return worker_main(args.worker)
    if args.quick:
        args.repeats = min(args.repeats, 2)
    tmp = None
    if not args.workdir:
        tmp = tempfile.TemporaryDirectory(prefix="decoders-")
        args.workdir = tmp.name
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    parts = ["## Video decoders\n"]
    rows, decs = [], []
    for d in args.decoders:  # in a subprocess: torch's RSS would be inherited (ru_maxrss)
        r = run_worker("avail", decoder=d)
        why = r.get("why", "") if "crash" not in r and "error" not in r else str(r)
        rows.append([d, r.get("version", "-"), why or "ok"])
        if why is None:
            decs.append(d)
    parts.append(table(["decoder", "version", "status"], rows))
    files = make_files(Path(args.workdir), args.quick) if args.sections else {}
    print(f"test files made in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    sections = {
        "rss": sec_rss,
        "speed": sec_speed,
        "seek": sec_seek,
        "vfr": sec_vfr,
        "rotation": sec_rotation,
        "damaged": sec_damaged,
    }
    for name in SECTIONS:
        if name in args.sections and decs:
            t = time.perf_counter()
            parts.append(sections[name](decs, files, args))
            print(f"{name}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if args.wheels:
        parts.append(sec_wheels(args))
    parts.append(
        f"_{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{time.perf_counter() - t0:.0f} s in all._"
    )
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()

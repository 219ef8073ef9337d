"""Writing videos: raw frames piped into ffmpeg (imageio-ffmpeg's binary by default)."""

from __future__ import annotations

import os
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import ExportError
from .backend import uneven


def ffmpeg_exe() -> str:
    """The ffmpeg binary: ``$SAM2NB_FFMPEG``, else imageio-ffmpeg's, else one on the PATH."""
    exe = os.environ.get("SAM2NB_FFMPEG")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        import shutil

        found = shutil.which("ffmpeg")
        if found:
            return found
    raise ExportError(
        "No ffmpeg for video export: `pip install imageio-ffmpeg` (it ships one), or set "
        "SAM2NB_FFMPEG to an ffmpeg binary."
    )


H264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart", "-f", "mp4"]  # fmt: skip
VP9_ALPHA = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "0", "-crf", "30",
             "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-f", "webm"]  # fmt: skip


_TICKS = 90000  # time base of a timed (variable frame rate) file, ticks per second

# A timed VP9 file encoded in a child process: in a process that loaded decord (its own ffmpeg
# libraries), PyAV's libvpx-vp9 encoder fails to open ("Invalid argument"). The child runs the
# same PyAV encoding from a JSON header line and raw frames on its stdin.
_CHILD = """
import json, sys
from fractions import Fraction
import av, numpy as np
head = json.loads(sys.stdin.buffer.readline())
w, h, alpha, times, T = head["w"], head["h"], head["alpha"], head["times"], head["ticks"]
out = av.open(head["path"], "w", format="webm")
st = out.add_stream("libvpx-vp9", rate=head["rate"])
st.width, st.height = w, h
st.pix_fmt = "yuva420p" if alpha else "yuv420p"
st.time_base = st.codec_context.time_base = Fraction(1, T)
st.options = head["options"]
fmt, size = ("rgba", 4) if alpha else ("rgb24", 3)
n = 0
while True:
    buf = sys.stdin.buffer.read(w * h * size)
    if len(buf) < w * h * size:
        break
    vf = av.VideoFrame.from_ndarray(np.frombuffer(buf, np.uint8).reshape(h, w, size), format=fmt)
    vf.pts, vf.time_base = round(times[min(n, len(times) - 1)] * T), Fraction(1, T)
    n += 1
    for pkt in st.encode(vf):
        out.mux(pkt)
for pkt in st.encode():
    out.mux(pkt)
out.close()
"""
VP9_OPTIONS = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}


class VideoWriter:
    """Raw RGB(A) frames in, an encoded video file out (through an ffmpeg pipe).

    With ``times`` (each frame's time in seconds, as the source's presentation times) whose
    gaps vary, frames are encoded with PyAV at exactly those times instead: a variable frame
    rate source keeps its timing rather than being stretched to an average rate.
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: float, codec: list[str],
                 alpha: bool = False, times: Any = None):  # fmt: skip
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self._timed = None
        self._child_size: tuple[int, int] | None = None  # a timed VP9 file encoded by a child
        if times is not None and uneven(times):
            self._open_timed(size, fps, codec, alpha, times)
            return
        w, h = size
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
               "-pix_fmt", "rgba" if alpha else "rgb24", "-s", f"{w}x{h}",
               "-r", f"{fps or 25:.6g}", "-i", "-", *codec, str(self.tmp)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def _open_timed(self, size: tuple[int, int], fps: float, codec: list[str], alpha: bool,
                    times: Any) -> None:  # fmt: skip
        import sys

        webm = "webm" in codec
        self._times = [float(t) - float(times[0]) for t in times]
        self._n = 0
        self._alpha = alpha
        if webm and "decord" in sys.modules:  # (see _CHILD)
            import json

            w, h = (size[0] + 1) // 2 * 2, (size[1] + 1) // 2 * 2
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stderr=subprocess.PIPE
            )
            head = {"path": str(self.tmp), "w": w, "h": h, "alpha": alpha, "rate": round(fps or 25),
                    "times": self._times, "ticks": _TICKS, "options": VP9_OPTIONS}  # fmt: skip
            self.proc.stdin.write(json.dumps(head).encode() + b"\n")
            self._child_size = (w, h)
            return
        import av

        opts = {} if webm else {"movflags": "+faststart"}
        self._timed = av.open(str(self.tmp), "w", format="webm" if webm else "mp4", options=opts)
        st = self._timed.add_stream("libvpx-vp9" if webm else "libx264", rate=round(fps or 25))
        st.width, st.height = (size[0] + 1) // 2 * 2, (size[1] + 1) // 2 * 2
        st.pix_fmt = "yuva420p" if alpha else "yuv420p"
        st.time_base = Fraction(1, _TICKS)
        st.codec_context.time_base = Fraction(1, _TICKS)
        st.options = dict(VP9_OPTIONS) if webm else {"crf": "20", "preset": "veryfast"}
        self._stream = st

    def _write_timed(self, frame: np.ndarray) -> None:
        import av

        st = self._stream
        h, w = frame.shape[:2]
        if (w, h) != (st.width, st.height):  # even sides, as the ffmpeg pipe pads them
            frame = np.pad(frame, ((0, st.height - h), (0, st.width - w), (0, 0)))
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, np.uint8),
                                        format="rgba" if self._alpha else "rgb24")  # fmt: skip
        t = self._times[min(self._n, len(self._times) - 1)]
        vf.pts, vf.time_base = round(t * _TICKS), Fraction(1, _TICKS)
        self._n += 1
        for pkt in st.encode(vf):
            self._timed.mux(pkt)

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3|4)`` uint8 frame."""
        if self._timed is not None:
            self._write_timed(frame)
            return
        if self._child_size is not None:
            w, h = self._child_size
            fh, fw = frame.shape[:2]
            if (fw, fh) != (w, h):  # even sides
                frame = np.pad(frame, ((0, h - fh), (0, w - fw), (0, 0)))
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        except BrokenPipeError:
            self.close(keep=False)
            raise ExportError(f"ffmpeg stopped while writing {self.path}: {self._err()}") from None

    def _err(self) -> str:
        return (self.proc.stderr.read() or b"").decode(errors="replace").strip()[-500:]

    def close(self, keep: bool = True) -> None:
        """Finish the file (renamed into place), or drop it with ``keep=False``."""
        if self._timed is not None:
            try:
                if keep:
                    for pkt in self._stream.encode():
                        self._timed.mux(pkt)
            finally:
                self._timed.close()
                self._timed = None
            if keep:
                os.replace(self.tmp, self.path)
            elif self.tmp.exists():
                self.tmp.unlink()
            return
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        rc = self.proc.wait()
        if keep and rc != 0:
            raise ExportError(f"ffmpeg failed on {self.path} (exit {rc}): {self._err()}")
        if keep:
            os.replace(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()


def join_videos(parts: list[str | os.PathLike], dst: str | os.PathLike, repeat: int = 1) -> Path:
    """Join video files end to end by stream copy (no re-encoding): one long file, fast.

    The parts must share codec, size and frame rate (clips from one camera or cut from one
    file). Written next to ``dst`` and renamed into place when complete.

    Args:
        parts: the files, in order.
        dst: the joined file (MP4 by its extension).
        repeat: join the list this many times (a long test recording from one clip).

    Raises:
        ExportError: ffmpeg failed (the message has its words).

    Example:
        >>> join_videos(["../shared/data/bedroom.mp4"], "long.mp4", repeat=51)  # doctest: +SKIP
        PosixPath('long.mp4')
    """
    import tempfile

    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".tmp" + dst.suffix)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        for _ in range(int(repeat)):
            for p in parts:
                fh.write("file '" + str(Path(p).resolve()).replace("'", "'\\''") + "'\n")
        listing = fh.name
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", listing,
           "-c", "copy", "-an", "-movflags", "+faststart", str(tmp)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True)
    finally:
        os.unlink(listing)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        err = done.stderr.decode(errors="replace").strip()[-500:]
        raise ExportError(f"ffmpeg could not join the videos into {dst}: {err}")
    os.replace(tmp, dst)
    return dst

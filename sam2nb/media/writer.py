"""Writing videos: raw frames piped into ffmpeg (imageio-ffmpeg's binary by default)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from ..base.errors import ExportError


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


class VideoWriter:
    """Raw RGB(A) frames in, an encoded video file out (through an ffmpeg pipe)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, codec: list[str],
                 alpha: bool = False):  # fmt: skip
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        w, h = size
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
               "-pix_fmt", "rgba" if alpha else "rgb24", "-s", f"{w}x{h}",
               "-r", f"{fps or 25:.6g}", "-i", "-", *codec, str(self.tmp)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3|4)`` uint8 frame."""
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        except BrokenPipeError:
            self.close(keep=False)
            raise ExportError(f"ffmpeg stopped while writing {self.path}: {self._err()}") from None

    def _err(self) -> str:
        return (self.proc.stderr.read() or b"").decode(errors="replace").strip()[-500:]

    def close(self, keep: bool = True) -> None:
        """Finish the file (renamed into place), or drop it with ``keep=False``."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        rc = self.proc.wait()
        if keep and rc != 0:
            raise ExportError(f"ffmpeg failed on {self.path} (exit {rc}): {self._err()}")
        if keep:
            os.replace(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()

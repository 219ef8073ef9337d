"""What more than one test file uses: ``from helpers import ...`` in any folder under tests/.

- media: odd and broken media files, made in temp folders (:func:`faststart`,
  :func:`truncated_copy`, :func:`short_clip`, :func:`stream_cut`, :func:`corrupt_copy`);
- widgets: frontend events injected on the comm message path (:func:`frontend`, :func:`mouse`,
  :func:`key`) and the draw traffic ipycanvas sends (:func:`record_draws`);
- tracking: a tracked two-object session on a real clip (:func:`tracked`) and its masks in a
  comparable form (:func:`rles`).

pytest's default ``prepend`` import mode puts this folder (tests/conftest.py's) on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest


def _boxes(data: bytes, start: int = 0, end: int | None = None):
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        yield kind.decode("latin1"), pos, size, header
        pos += size


_CONTAINERS = {"moov", "trak", "mdia", "minf", "stbl", "edts", "dinf", "udta"}


def _shift_chunk_offsets(moov: bytearray, delta: int, start: int = 8) -> None:
    for kind, pos, size, header in list(_boxes(bytes(moov), start, None)):
        if kind in _CONTAINERS:
            sub = moov[pos : pos + size]
            _shift_chunk_offsets(sub, delta, header)
            moov[pos : pos + size] = sub
        elif kind in ("stco", "co64"):
            n = struct.unpack(">I", moov[pos + 12 : pos + 16])[0]
            fmt, width = (">I", 4) if kind == "stco" else (">Q", 8)
            for i in range(n):
                off = pos + 16 + i * width
                (v,) = struct.unpack(fmt, moov[off : off + width])
                moov[off : off + width] = struct.pack(fmt, v + delta)


def faststart(src: Path, dst: Path) -> Path:
    """Rewrite an mp4 with its index (moov) before the data, as streaming sites serve them."""
    data = Path(src).read_bytes()
    boxes = {k: (p, s) for k, p, s, _ in _boxes(data)}
    mp, ms = boxes["moov"]
    dp, _ = boxes["mdat"]
    if mp < dp:
        Path(dst).write_bytes(data)
        return Path(dst)
    moov = bytearray(data[mp : mp + ms])
    _shift_chunk_offsets(moov, ms)
    out = data[:dp] + bytes(moov) + data[dp:mp] + data[mp + ms :]
    Path(dst).write_bytes(out)
    return Path(dst)


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    """Copy the first ``fraction`` of a file's bytes (an interrupted download)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def short_clip(src: Path, dst: Path, frames: int = 8, max_side: int = 320) -> Path:
    """The first ``frames`` frames of a video, shrunk, as a small mp4 of its own (mp4v)."""
    import cv2

    import sam2nb as s2

    video = s2.open_video(src, end=frames, max_side=max_side)
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), video.fps, video.size)
    for frame in video:
        out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    out.release()
    return Path(dst)


def stream_cut(src: Path, dst: Path, frames: int = 60) -> Path:
    """The first ``frames`` frames of a video by stream copy (no re-encoding), index in front.

    The index (moov) comes first, as streaming sites serve MP4s, so a copy cut short still opens
    and its header lists frames whose data is gone.
    """
    import subprocess

    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-an",
           "-frames:v", str(frames), "-c", "copy", "-movflags", "+faststart", str(dst)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return Path(dst)


def corrupt_copy(src: Path, dst: Path, where: float = 0.5, length: int = 20000) -> Path:
    """A copy with ``length`` bytes of its mp4 data (mdat) zeroed at ``where`` of the way in."""
    data = bytearray(Path(src).read_bytes())
    mdat = next((pos, size) for kind, pos, size, _ in _boxes(bytes(data)) if kind == "mdat")
    at = mdat[0] + int(mdat[1] * where)
    data[at : at + length] = bytes(length)
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


# -- widgets: events in, draw traffic out ------------------------------------------------------
def frontend(widget, content, buffers=()):
    """Exactly what the comm delivers for a browser-side ``model.send(content)``."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": list(buffers)}
    )


STAGE = {"mouse_down": "down", "mouse_move": "move", "mouse_up": "up", "mouse_out": "cancel"}


def mouse(stage, event, x, y, shift=False):
    """A pointer event as the picture's stage sends it (display pixels, the event's keys)."""
    frontend(stage, {"event": STAGE.get(event, event), "x": x, "y": y, "shift": shift,
                     "ctrl": False, "meta": False, "alt": False, "button": 0})  # fmt: skip


def key(stage, k, shift=False):
    """A key press as the picture's stage sends it."""
    frontend(stage, {"event": "key", "key": k, "shift": shift, "ctrl": False, "meta": False})


def record_draws(monkeypatch) -> list[list[bytes]]:
    """Every draw message ipycanvas sends from now on: a list of [json, *buffers] byte strings."""
    from ipycanvas.canvas import _CANVAS_MANAGER

    out: list[list[bytes]] = []
    monkeypatch.setattr(
        _CANVAS_MANAGER, "send", lambda c, buffers=None: out.append([bytes(b) for b in buffers])
    )
    return out


# -- tracking: a session to compare ----------------------------------------------------------
def tracked(engine, video, folder=None, end=40):
    """Two objects clicked on frame 0 of the first ``end`` frames of ``video`` (bedroom.mp4),
    tracked forward with the full memory."""
    import sam2nb as s2

    sess = s2.Session(s2.open_video(video, end=end), engine, memory="full", folder=folder)
    sess.add_object()
    sess.add_points(0, 1, [(450, 200)], [1])
    sess.add_object()
    sess.add_points(0, 2, [(200, 250)], [1])
    sess.run(progress=False)
    return sess


def rles(sess, frames) -> dict:
    """``{(frame, object): RLE counts}`` of a session's stored masks on ``frames``."""
    return {(f, o): r.rle["counts"] for f in frames for o, r in sess.results.frame(f).items()}


# -- downloads: a local stand-in for the Hugging Face Hub ------------------------------------
class FakeHub:
    """A local HTTP server answering like the Hub: ``/{repo}/resolve/{rev}/{file}``.

    A HEAD of a resolve URL answers 302 with ``X-Linked-Size`` and ``X-Linked-Etag`` (the
    sha256 in quotes) for ``.safetensors`` files, 200 with ``Content-Length`` for others; a GET
    follows a 302 to ``/cdn/...`` and honours ``Range``. ``files`` maps ``"repo/file"`` to
    bytes. Knobs: ``token`` (gated: 401 without ``Authorization: Bearer token``), ``cut_at``
    (break the next safetensors body off at that byte), ``serve`` (other bytes served than
    announced), ``size_delta`` (announce a wrong size), ``redirect_small`` (a HEAD of a small
    file answers 307 within the host, as the Hub does now). ``requests`` records
    ``(method, path, headers)``.
    """

    def __init__(self, files: dict[str, bytes], token: str | None = None):
        import hashlib
        import http.server
        import threading

        self.files, self.token = files, token
        self.cut_at: int | None = None
        self.serve: dict[str, bytes] = {}
        self.size_delta = 0
        self.redirect_small = False
        self.requests: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _key(self):
                path = self.path.lstrip("/")
                if path.startswith("cdn/"):
                    return path[4:], True
                repo, _, rest = path.partition("/resolve/")
                return f"{repo}/{rest.partition('/')[2]}", False

            def _denied(self):
                if outer.token and self.headers.get("Authorization") != f"Bearer {outer.token}":
                    self.send_response(401)
                    self.send_header("X-Error-Code", "GatedRepo")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return True
                return False

            def do_HEAD(self):
                outer.requests.append(("HEAD", self.path, dict(self.headers)))
                key, cdn = self._key()
                if self._denied():
                    return
                if key not in outer.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = outer.files[key]
                if outer.redirect_small and not cdn and not key.endswith(".safetensors"):
                    self.send_response(307)  # as the Hub answers small files now
                    self.send_header("Location", f"/cdn/{key}")
                    self.send_header("Content-Length", "7")
                    self.end_headers()
                    return
                if key.endswith(".safetensors") and not cdn:
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{key}")
                    self.send_header("X-Linked-Size", str(len(data) + outer.size_delta))
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                else:
                    self.send_response(200)
                self.send_header("X-Repo-Commit", "0" * 40)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_GET(self):
                outer.requests.append(("GET", self.path, dict(self.headers)))
                key, cdn = self._key()
                if not cdn:
                    if self._denied():
                        return
                    if key.endswith(".safetensors"):
                        self.send_response(302)
                        self.send_header("Location", f"/cdn/{key}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                data = outer.serve.get(key, outer.files.get(key))
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                rng = self.headers.get("Range")
                start = int(rng.split("=")[1].rstrip("-")) if rng else 0
                cut = outer.cut_at if key.endswith(".safetensors") else None
                if send_from(self, data, start, cut):
                    outer.cut_at = None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add_folder(self, repo: str, folder) -> None:
        """Serve every file of ``folder`` (e.g. what ``save_pretrained`` wrote) as ``repo``."""
        for f in Path(folder).iterdir():
            if f.is_file():
                self.files[f"{repo}/{f.name}"] = f.read_bytes()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send_from(handler, data: bytes, start: int, cut_at: int | None) -> bool:
    """Answer a GET with ``data[start:]`` (206 for a range); cut it off at byte ``cut_at``
    (then the connection is closed mid-body, as a network failure does). True if it was cut."""
    body = data[start:]
    handler.send_response(206 if start else 200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if cut_at is not None:
        handler.wfile.write(body[: cut_at - start])
        handler.wfile.flush()
        handler.connection.shutdown(2)
        return True
    handler.wfile.write(body)
    return False


@contextlib.contextmanager
def sam2_unfilled():
    """sam2's video predictor without its small-hole filling (``fill_hole_area``).

    transformers' trackers fill no holes (they have no ``fill_hole_area``), so sam2 and
    transformers on the same weights agree only with sam2's fill off.
    """
    import sam2.sam2_video_predictor as vp

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vp, "fill_holes_in_mask_scores", lambda mask, max_area: mask)
        yield

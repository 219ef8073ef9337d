"""Downloads that resume, and the cache folder they go to."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .errors import CheckpointError

CACHE_ENV = "SAM2NB_CACHE"
CHUNK = 1 << 20


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Return the folder checkpoints are cached in (not created).

    Order: the ``path`` argument, then ``$SAM2NB_CACHE/checkpoints``, then
    ``~/.cache/sam2nb/checkpoints``.

    Example:
        >>> cache_dir("/tmp/ckpts")
        PosixPath('/tmp/ckpts')
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser() / "checkpoints"
    return Path.home() / ".cache" / "sam2nb" / "checkpoints"


def part_path(path: Path) -> Path:
    """Where a download of ``path`` is written until it is whole (``NAME.part``).

    Example:
        >>> part_path(Path("/c/tiny.pt")).name
        'tiny.pt.part'
    """
    return path.with_name(path.name + ".part")


def offline_message(url: str, dest: Path, reason: object) -> str:
    """What to tell the user when a download cannot be made (where to put the file by hand)."""
    return (
        f"Could not download {url} ({reason}). If this machine is offline, download that file on "
        f"a machine that is online and copy it to exactly {dest} (or point ${CACHE_ENV} at a "
        "folder whose checkpoints/ holds it), then run again."
    )


class _KeepAuthOnSameHost(urllib.request.HTTPRedirectHandler):
    """Follows redirects, dropping ``Authorization`` when one leads to another host (a CDN)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


def open_url(req: urllib.request.Request, timeout: float) -> Any:
    """``urlopen`` that never sends a request's ``Authorization`` header on to another host."""
    return urllib.request.build_opener(_KeepAuthOnSameHost).open(req, timeout=timeout)


def fetch(
    url: str,
    dest: Path,
    expected: int | None,
    *,
    progress: bool,
    stop: threading.Event | None,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> None:
    """Stream ``url`` to ``dest`` through ``dest.part``, resuming, then rename.

    A broken-off download keeps ``dest.part``; the next call resumes it (HTTP range request).

    Args:
        url: what to download.
        dest: where the whole file goes.
        expected: its size in bytes, if known (a server offering another size is refused).
        progress: show a tqdm bar.
        stop: set it to stop; the partial file is kept.
        timeout: seconds to wait for the server.
        headers: extra request headers (e.g. ``Authorization: Bearer TOKEN``); an
            ``Authorization`` header is not sent on when the server redirects to another host.

    Raises:
        CheckpointError: offline, an HTTP error, a size mismatch, stopped or broken off; the
            message names the URL, the exact path to put the file at, and how to resume.

    Example:
        >>> fetch(url, Path("~/.cache/sam2nb/checkpoints/x.pt"), None,
        ...       progress=True, stop=None, timeout=30)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    part = part_path(dest)
    have = part.stat().st_size if part.is_file() else 0
    total = expected
    if expected is not None and have > expected:
        part.unlink()
        have = 0
    if expected is not None and have == expected:
        os.replace(part, dest)
        return
    req = urllib.request.Request(url, headers={"User-Agent": "sam2nb", **(headers or {})})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = open_url(req, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range not satisfiable: the part file is already whole
            resp = None
        else:
            raise CheckpointError(offline_message(url, dest, f"HTTP {exc.code}")) from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CheckpointError(offline_message(url, dest, reason)) from None
    if resp is not None:
        with resp:
            if have and resp.status != 206:  # server ignored the range: start over
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length is not None else expected
            if expected is not None and total is not None and total != expected:
                raise CheckpointError(
                    f"The server offers {total:,} bytes for {url} but the official file is "
                    f"{expected:,} bytes. Check the URL or mirror."
                )
            mode = "ab" if have else "wb"
            bar = tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
            )
            try:
                with open(part, mode) as fh:
                    while True:
                        if stop is not None and stop.is_set():
                            raise CheckpointError(
                                f"Download of {dest.name} stopped at {fh.tell():,} bytes; the "
                                f"partial file {part} is kept and the next download resumes it."
                            )
                        try:
                            chunk = resp.read(CHUNK)
                        except (TimeoutError, OSError) as exc:
                            raise CheckpointError(
                                f"Download of {url} broke off after {fh.tell():,} bytes ({exc}). "
                                f"The partial file {part} is kept: run the same download again "
                                "to resume it."
                            ) from None
                        if not chunk:
                            break
                        fh.write(chunk)
                        bar.update(len(chunk))
            finally:
                bar.close()
    size = part.stat().st_size if part.is_file() else 0
    want = expected if expected is not None else total
    if want is not None and size != want:
        raise CheckpointError(
            f"Download of {url} ended at {size:,} of {want:,} bytes. The partial file {part} is "
            "kept: run the same download again to resume it."
        )
    os.replace(part, dest)

"""The ``sam2nb`` command: info, models, download, lab, track, everything, jf, bench, synthetic.

Example:
    $ sam2nb models
    $ sam2nb download tiny small
    $ sam2nb lab --public --port 8888
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from .._version import __version__
from ..base.errors import Sam2nbError


def _cmd_info(args: argparse.Namespace) -> int:
    from ..model.info import collect

    report = collect(args.cache)
    print(report)
    return 1 if any(f.level == "error" for f in report.findings) else 0


def _cmd_models(args: argparse.Namespace) -> int:
    from ..model.checkpoints import format_models

    print(format_models(args.cache))
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from ..model import hf_hub
    from ..model.checkpoints import download, get_spec

    # reject typos before downloading anything
    specs = [hf_hub.get_hf_spec(v) if hf_hub.is_hf_name(v) else get_spec(v) for v in args.variants]
    for spec in specs:
        if isinstance(spec, hf_hub.HFSpec):
            if spec.repo is None:
                print(f"{spec.name}: built in, nothing to download")
                continue
            path = hf_hub.download_hf(spec, args.cache, force=args.force, endpoint=args.url)
            try:
                hf_hub.model_class(spec)
            except Sam2nbError as exc:  # the files are here; loading them needs more
                print(f"{spec.name}: downloaded, but {exc}")
        elif spec.url is None:
            print(f"{spec.name}: built in, nothing to download")
            continue
        else:
            path = download(spec, args.cache, force=args.force, url=args.url)
        print(f"{spec.name}: {path}")
    return 0


def default_notebook_dir() -> Path:
    """The repository's ``notebooks/`` folder when sam2nb runs from a checkout, else the cwd."""
    repo_nb = Path(__file__).resolve().parents[2] / "notebooks"
    return repo_nb if repo_nb.is_dir() else Path.cwd()


def lab_command(
    *,
    port: int = 8888,
    public: bool = False,
    token: str | None = None,
    notebook_dir: str | os.PathLike | None = None,
    open_browser: bool = False,
) -> tuple[list[str], str]:
    """Build the JupyterLab command line and the token it uses (token auth is always on).

    Example:
        >>> cmd, token = lab_command(port=9999, token="abc")
        >>> "--ServerApp.port=9999" in cmd and "--IdentityProvider.token=abc" in cmd
        True
    """
    if token is not None and not token.strip():
        raise Sam2nbError(
            "An empty token would let anyone who reaches the port run code on this machine; "
            "sam2nb always uses one. Drop --token to get a random one."
        )
    token = token or os.environ.get("SAM2NB_TOKEN") or secrets.token_hex(24)
    if not 1 <= int(port) <= 65535:
        raise Sam2nbError(f"--port must be between 1 and 65535, got {port}.")
    root = Path(notebook_dir) if notebook_dir else default_notebook_dir()
    if not root.is_dir():
        raise Sam2nbError(f"Notebook folder {root} does not exist.")
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.ip={'0.0.0.0' if public else '127.0.0.1'}",
        f"--ServerApp.port={int(port)}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # rental images run as root
        cmd.append("--allow-root")
    return cmd, token


def _port_free(port: int, public: bool) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0" if public else "127.0.0.1", port))
        except OSError:
            return False
    return True


_STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to ``child``'s process group, if it is still running."""
    if child.returncode is not None:  # reaped: its pid may already belong to another process
        return
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def run_stoppable(cmd: list[str], *, grace_s: float = 20.0) -> int:
    """Run ``cmd`` and stop it with this process: SIGTERM, SIGINT or SIGHUP reach it too.

    The child runs in its own process group. The first stop signal this process gets sends
    SIGTERM to that group (JupyterLab's clean stop: it shuts its kernels down, while SIGINT on a
    terminal only asks "Shut down? y/n" and SIGHUP ends it on the spot); a group still running
    ``grace_s`` seconds later, or when the same signal comes again (Ctrl-C twice), is killed.
    The previous signal handlers come back when the child has ended. (On Windows it simply
    runs ``cmd``.)

    Args:
        cmd: The command line to run.
        grace_s: Seconds the child has to stop after SIGTERM before it is killed.

    Returns:
        The child's exit status, or 128 + the signal's number if a signal ended it (the shell's
        convention).

    Example:
        >>> run_stoppable([sys.executable, "-c", "raise SystemExit(3)"])
        3
    """
    if os.name == "nt":  # no process groups or POSIX signals
        return subprocess.call(cmd)
    child: subprocess.Popen | None = None
    received: list[int] = []
    timers: list[threading.Timer] = []

    def stop(signum: int, _frame: object) -> None:
        received.append(signum)
        if child is None:  # not started yet: stopped right after the start below
            return
        if len(received) > 1:  # the same signal again (Ctrl-C twice): kill it now
            if signum in received[:-1]:
                _signal_group(child, signal.SIGKILL)
            return
        try:
            os.write(2, f"sam2nb: {signal.Signals(signum).name}, stopping JupyterLab\n".encode())
        except OSError:  # the terminal is gone (SIGHUP)
            pass
        _signal_group(child, signal.SIGTERM)
        timer = threading.Timer(grace_s, _signal_group, (child, signal.SIGKILL))
        timer.daemon = True
        timers.append(timer)
        timer.start()

    # signal handlers can only be set from the main thread; elsewhere the child runs unwatched
    on_main = threading.current_thread() is threading.main_thread()
    names = [n for n in _STOP_SIGNALS if hasattr(signal, n) and on_main]
    previous = {getattr(signal, n): signal.signal(getattr(signal, n), stop) for n in names}
    try:
        group = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
        child = subprocess.Popen(cmd, **group)
        if received:  # a signal came while it started
            first = received[0]
            received.clear()
            stop(first, None)
        rc = child.wait()
    finally:
        for timer in timers:
            timer.cancel()
        if child is not None and child.returncode is None:  # an error in this process
            _signal_group(child, signal.SIGKILL)
            child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - rc if rc < 0 else rc


def _cmd_lab(args: argparse.Namespace) -> int:
    cmd, token = lab_command(
        port=args.port,
        public=args.public,
        token=args.token,
        notebook_dir=args.dir,
        open_browser=args.browser,
    )
    if not _port_free(args.port, args.public):
        raise Sam2nbError(
            f"Port {args.port} is already in use (another Jupyter?). Pick another with --port."
        )
    host = socket.gethostname() if args.public else "127.0.0.1"
    print(f"sam2nb {__version__}: JupyterLab on {'all interfaces' if args.public else 'localhost'}")
    print(f"  open  http://{host}:{args.port}/lab?token={token}")
    if args.public:
        print(
            "  listening on 0.0.0.0: anyone who can reach this port and has the token can run "
            "code here. Open the port only to yourself (provider firewall), or drop --public and "
            f"tunnel instead: ssh -L {args.port}:127.0.0.1:{args.port} USER@SERVER"
        )
    else:
        print(
            f"  on a remote server, tunnel first: ssh -L {args.port}:127.0.0.1:{args.port} "
            "USER@SERVER (or use --public)"
        )
    sys.stdout.flush()
    return run_stoppable(cmd)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sam2nb`` command."""
    p = argparse.ArgumentParser(
        prog="sam2nb", description="A Jupyter workbench for SAM 2.1 (segment, track, export)."
    )
    p.add_argument("--version", action="version", version=f"sam2nb {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="GPU, driver, torch/CUDA, bf16, free VRAM; the usual traps")
    s.add_argument("--cache", help="checkpoint cache folder (default $SAM2NB_CACHE/checkpoints)")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser(
        "models", help="list the model variants (sam2 and transformers) and which are cached"
    )
    s.add_argument("--cache", help="checkpoint cache folder")
    s.set_defaults(func=_cmd_models)

    s = sub.add_parser("download", help="download official checkpoints (resumes partial files)")
    s.add_argument("variants", nargs="+", metavar="VARIANT", help="e.g. tiny small edgetam sam3")
    s.add_argument("--cache", help="checkpoint cache folder")
    s.add_argument("--force", action="store_true", help="download again even if cached")
    s.add_argument(
        "--url",
        help="download from this mirror URL instead (one variant); for the transformers "
        "variants (edgetam, sam3, tiny@hf ...) a Hub mirror's address, like $HF_ENDPOINT",
    )
    s.set_defaults(func=_cmd_download)

    s = sub.add_parser("lab", help="open the workbench: JupyterLab on notebooks/, token auth on")
    s.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    s.add_argument(
        "--public", action="store_true", help="listen on 0.0.0.0 (a GPU rental's public port)"
    )
    s.add_argument("--token", help="the access token (default: $SAM2NB_TOKEN or a random one)")
    s.add_argument("--dir", help="folder to open (default: the repository's notebooks/)")
    s.add_argument("--browser", action="store_true", help="open a local browser too")
    s.set_defaults(func=_cmd_lab)

    from ..analysis.evaluate import add_parser as add_jf
    from ..analysis.quality import add_parser as add_quality
    from .batch import add_parser as add_batch
    from .bench import add_parser as add_bench
    from .compare import add_parser as add_compare
    from .everything import add_parser as add_everything
    from .synthetic import add_parser as add_synthetic
    from .track import add_parser

    add_parser(sub)
    add_everything(sub)
    add_jf(sub)
    add_quality(sub)
    add_bench(sub)
    add_compare(sub)
    add_batch(sub)
    add_synthetic(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``sam2nb`` command.

    Example:
        >>> main(["models"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    if getattr(args, "url", None) and len(args.variants) != 1:
        print("sam2nb: --url works with one variant at a time", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except Sam2nbError as exc:
        print(f"sam2nb: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sam2nb: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

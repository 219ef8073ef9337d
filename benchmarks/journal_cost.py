"""What the session journal costs: per click and per tracked frame, in memory vs in a folder.

A session kept in a folder (``Session(video, folder=...)``) commits each prompt and each
tracked frame to ``folder/results.sqlite`` (masks, log entry, sam2's state) before the call
returns or the frame is yielded. This runs the same clicks and the same propagation on a
session in memory and on one kept in a folder, alternated (memory first, then folder first),
several times, and reports medians:

- ms per click and per tracked frame (wall time), the difference and its share of the
  per-frame time. On a busy CPU that difference is within the noise of sam2's own time, so
- the part of each that is bookkeeping is timed inside the session too: a click less sam2's
  call (store read, mask encode, log, journal, commit), a frame's store-and-journal step
  (``put`` + sam2 state + commit). Their difference in memory vs in a folder is the journal.

Sizes: 960x540 (bedroom.mp4) and 1920x1080 (bedroom.mp4 scaled with ffmpeg into a temporary
folder at run time); 1 and 3 objects; the test model on the CPU unless ``--model``/``--device``.
Then the time to reopen (``load_session``) a session that tracked ``--long`` frames of a real
long MP4 (bedroom.mp4 concatenated by stream copy with ffmpeg's concat demuxer).

    python benchmarks/journal_cost.py [--frames 12] [--repeats 3] [--long 1000] [--long-side 320]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from results_csv import append_rows

import sam2nb as s2
from sam2nb.tracking import resume as resume_mod
from sam2nb.tracking.session import Session

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent.parent / "shared" / "data" / "bedroom.mp4"
# where to click, as fractions of the frame: the jumping child, the bed, the window
OBJECTS = [(0.47, 0.37), (0.35, 0.8), (0.85, 0.15)]


class Timers:
    """Time spent inside the session: sam2's prompt calls, bookkeeping, frame steps."""

    def __init__(self) -> None:
        self.prompt_book: list[float] = []  # a click's time less sam2's call
        self.step: list[float] = []  # a tracked frame's store-and-journal step
        self.init: list[float] = []  # sam2's init_state (encodes frame 0)
        self.restore: list[float] = []  # rebuilding a session from its journal

    def install(self) -> None:
        prompt, step, init = Session._prompt, Session._store_step, Session._init_state
        restore = resume_mod._restore
        timers = self

        def timed_prompt(self, f, o, entry, run):
            model = []

            def timed_run():
                t0 = time.perf_counter()
                try:
                    return run()
                finally:
                    model.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            out = prompt(self, f, o, entry, timed_run)
            timers.prompt_book.append(time.perf_counter() - t0 - sum(model))
            return out

        def timed(fn, into):
            def wrapper(*a, **k):
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    into.append(time.perf_counter() - t0)

            return wrapper

        Session._prompt = timed_prompt
        Session._store_step = timed(step, self.step)
        Session._init_state = timed(init, self.init)
        resume_mod._restore = timed(restore, self.restore)


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def scaled(video: Path, out: Path, width: int, height: int) -> Path:
    """Re-encode ``video`` at ``width`` x ``height`` (H.264)."""
    cmd = [
        ffmpeg(),
        "-v",
        "error",
        "-y",
        "-i",
        str(video),
        "-vf",
        f"scale={width}:{height}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-pix_fmt",
        "yuv420p",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def concatenated(video: Path, out: Path, frames: int, clip_frames: int) -> Path:
    """A real long MP4: ``video`` repeated by stream copy (ffmpeg's concat demuxer)."""
    times = -(-frames // clip_frames)
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{video.resolve()}'\n" for _ in range(times)))
    cmd = [
        ffmpeg(),
        "-v",
        "error",
        "-y",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        "-c",
        "copy",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def one_run(video, engine, n_obj: int, frames: int, folder: Path | None, t: Timers) -> dict:
    """Clicks and a propagation on a fresh session; wall times and bookkeeping per step."""
    sess = Session(video, engine, folder=folder)
    w, h = video.size
    t.prompt_book.clear()
    t.step.clear()
    clicks, steps = [], []
    try:
        for i, (x, y) in enumerate(OBJECTS[:n_obj]):
            sess.add_object()
            for dx, label in ((0.0, 1), (0.06, 0)):  # a positive click, then a negative one
                t0 = time.perf_counter()
                sess.add_points(0, i + 1, [(w * (x + dx), h * y)], [label])
                clicks.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for fr in sess.propagate(max_frames=frames - 1, progress=False):
            t1 = time.perf_counter()
            if fr.frame_idx > 0:  # frame 0 is the prompted frame: no tracking step
                steps.append(t1 - t0)
            t0 = t1
        finish = time.perf_counter() - t0  # the end of the propagation (its log entry, meta)
        x, y = OBJECTS[0]  # a correction on a tracked frame
        t0 = time.perf_counter()
        sess.add_points(frames // 2, 1, [(w * x, h * (y + 0.05))], [1])
        clicks.append(time.perf_counter() - t0)
        size = 0 if folder is None else sum(p.stat().st_size for p in folder.iterdir())
    finally:
        sess.close()
        del sess
    return {
        "click": clicks,
        "frame": steps,
        "click_book": list(t.prompt_book),
        "frame_book": list(t.step[1:]),  # without frame 0 (no tracking step)
        "finish": [finish],
        "bytes": size,
    }


def med_ms(xs: list[float]) -> float:
    return 1000 * statistics.median(xs) if xs else float("nan")


def cost(video, engine, n_obj: int, frames: int, repeats: int, tmp: Path, t: Timers) -> dict:
    """Alternate memory and folder runs ``repeats`` times each; pool the samples."""
    runs: dict[str, list[dict]] = {"memory": [], "folder": []}
    for r in range(repeats):
        order = ("memory", "folder") if r % 2 == 0 else ("folder", "memory")
        for mode in order:
            folder = None if mode == "memory" else tmp / f"run-{n_obj}-{r}"
            runs[mode].append(one_run(video, engine, n_obj, frames, folder, t))
            if folder is not None:
                shutil.rmtree(folder)
    pooled = {
        m: {k: [x for run in rs for x in run[k]] for k in rs[0] if k != "bytes"}
        for m, rs in runs.items()
    }
    pooled["folder"]["bytes"] = statistics.median(run["bytes"] for run in runs["folder"])
    for m, rs in runs.items():  # each run's median, in the order they ran: the noise
        for k in ("click", "frame"):
            pooled[m][k + "_runs"] = [round(med_ms(run[k])) for run in rs]
    return pooled


def rows_for(size: str, n_obj: int, frames: int, repeats: int, p: dict) -> list[dict]:
    mem, fol = p["memory"], p["folder"]
    frame_ms = med_ms(mem["frame"])
    out = []
    for what in ("click", "frame"):
        m, f = med_ms(mem[what]), med_ms(fol[what])
        bm, bf = med_ms(mem[what + "_book"]), med_ms(fol[what + "_book"])
        out.append(
            {
                "what": f"per {what}",
                "size": size,
                "objects": n_obj,
                "frames": frames,
                "repeats": repeats,
                "samples": len(fol[what]),
                "memory_ms": round(m, 1),
                "folder_ms": round(f, 1),
                "overhead_ms": round(f - m, 1),
                "overhead_pct_of_frame": round(100 * (f - m) / frame_ms, 1),
                "book_memory_ms": round(bm, 2),
                "book_folder_ms": round(bf, 2),
                "journal_ms": round(bf - bm, 2),
                "journal_pct_of_frame": round(100 * (bf - bm) / frame_ms, 2),
                "note": f"run medians ms: memory {mem[what + '_runs']}, "
                f"folder {fol[what + '_runs']}",
            }
        )
    out.append(
        {
            **out[-1],
            "what": "end of propagation",
            "memory_ms": round(med_ms(mem["finish"]), 1),
            "folder_ms": round(med_ms(fol["finish"]), 1),
            "overhead_ms": round(med_ms(fol["finish"]) - med_ms(mem["finish"]), 1),
            "overhead_pct_of_frame": "",
            "book_memory_ms": "",
            "book_folder_ms": "",
            "journal_ms": "",
            "journal_pct_of_frame": "",
            "note": f"folder {fol['bytes'] / 1024 / frames:.0f} KB per frame tracked",
        }
    )
    return out


def time_reopen(
    folder: Path, engine, repeats: int, t: Timers, autosave: bool, reopen_video
) -> dict:
    """Median wall time of ``load_session`` on fresh copies of a folder (and of its parts).

    ``reopen_video()`` opens the video again (inside the timing): ``load_session`` cannot
    reopen a video opened with ``max_side`` by itself (``VideoSource.max_side`` is None for
    files, so it reopens it full size and refuses the size).
    """
    walls, restores, inits, said = [], [], [], ""
    for k in range(repeats):
        where = folder.with_name(f"{folder.name}-reopen-{k}")
        shutil.copytree(folder, where)
        t.restore.clear()
        t.init.clear()
        t0 = time.perf_counter()
        again = s2.load_session(where, engine=engine, video=reopen_video(), in_memory=not autosave)
        walls.append(time.perf_counter() - t0)
        restores.append(t.restore[-1])
        inits.append(t.init[-1])
        said = again.resumed
        again.close()
        again.results.close()
        del again
        shutil.rmtree(where)
    return {"wall": walls, "restore": restores, "init": inits, "said": said}


def reopen_rows(folder: Path, state: str, size: str, n: int, note: str, engine, repeats: int,
                t: Timers, reopen_video) -> list[dict]:  # fmt: skip
    rows = []
    mib = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    for autosave in (False, True):
        r = time_reopen(folder, engine, repeats, t, autosave, reopen_video)
        rows.append(
            {
                "what": f"reopen ({state}), autosave={autosave}",
                "size": size,
                "objects": 1,
                "frames": n,
                "repeats": repeats,
                "samples": len(r["wall"]),
                "memory_ms": "",
                "folder_ms": round(med_ms(r["wall"]), 1),
                "overhead_ms": "",
                "overhead_pct_of_frame": "",
                "book_memory_ms": round(med_ms(r["init"]), 1),
                "book_folder_ms": round(med_ms(r["restore"]), 1),
                "journal_ms": "",
                "journal_pct_of_frame": "",
                "note": (
                    f"resumed: {r['said']}; folder {mib:.1f} MiB; {note}; book_memory_ms: "
                    f"sam2 init (encodes frame 0), book_folder_ms: journal restore; min "
                    f"{1000 * min(r['wall']):.0f}, max {1000 * max(r['wall']):.0f} ms"
                ),
            }
        )
    return rows


def reopen(
    video_path: Path,
    engine,
    frames: int,
    side: int,
    repeats: int,
    tmp: Path,
    t: Timers,
    snapshots: list[int],
    emit,
) -> None:
    """Track ``frames`` frames of a long video into a folder, timing reopens along the way.

    At each of ``snapshots`` frames tracked, the folder is copied as it is (write-ahead log
    and all: between frames nothing is being written, so this is what a killed kernel
    leaves) and the copy is reopened; at the end, the folder after a clean close.
    """

    def reopen_video():
        return s2.open_video(video_path, end=frames, max_side=side)

    video = reopen_video()
    assert len(video) == frames, (len(video), frames)
    size = f"{video.size[0]}x{video.size[1]}"
    folder = tmp / "long"
    sess = Session(video, engine, folder=folder)
    sess.add_object(name="child")
    w, h = video.size
    sess.add_points(0, 1, [(w * OBJECTS[0][0], h * OBJECTS[0][1])], [1])
    t0 = time.perf_counter()
    done, paused = 0, 0.0
    for _ in sess.propagate(progress=False):
        done += 1
        if done % 100 == 0:
            took = time.perf_counter() - t0 - paused
            print(f"  tracked {done}/{frames} frames, {took:.0f} s", flush=True)
        if done in snapshots:
            p0 = time.perf_counter()
            snap = tmp / f"long-{done}"
            shutil.copytree(folder, snap)
            took = p0 - t0 - paused
            note = f"a copy taken while tracking ({done} frames in {took:.0f} s)"
            emit(reopen_rows(snap, "as killed", size, done, note, engine, repeats, t, reopen_video))
            shutil.rmtree(snap)
            paused += time.perf_counter() - p0
    track_s = time.perf_counter() - t0 - paused
    sess.close()
    sess.results.close()  # a clean stop: the write-ahead log folded into the database
    del sess
    note = f"tracking {frames} frames took {track_s:.0f} s"
    emit(reopen_rows(folder, "closed", size, frames, note, engine, repeats, t, reopen_video))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="test")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--frames", type=int, default=12, help="frames tracked per run")
    ap.add_argument("--repeats", type=int, default=3, help="runs per mode (memory, folder)")
    ap.add_argument("--objects", default="1,3")
    ap.add_argument("--sizes", default="960x540,1920x1080", help="'' to skip")
    ap.add_argument(
        "--long", type=int, default=1000, help="frames of the session reopened (0: skip)"
    )
    ap.add_argument("--long-side", type=int, default=320, help="max_side of the long video")
    ap.add_argument(
        "--snapshots", default="100,300", help="also reopen copies made at these frames"
    )
    ap.add_argument("--csv", default=str(HERE / "results" / "journal_cost.csv"))
    args = ap.parse_args()

    import torch

    engine = s2.load(args.model, device=args.device, progress=False)
    timers = Timers()
    timers.install()
    src = Path(args.video)
    native = s2.open_video(src)
    print(
        f"{args.model} model on {engine.device} ({torch.get_num_threads()} threads), "
        f"{src.name} {native.size[0]}x{native.size[1]}, {len(native)} frames; "
        f"{args.frames} frames tracked per run, {args.repeats} runs per mode, alternated"
    )

    def write(new: list[dict]) -> None:
        out = append_rows(args.csv, new, model=engine.name, device=str(engine.device),
                          threads=torch.get_num_threads())  # fmt: skip
        print(f"wrote {len(new)} rows to {out}", flush=True)

    head = (
        f"{'':<20} {'size':>9} {'obj':>3} {'memory ms':>9} {'folder ms':>9} {'diff ms':>8} "
        f"{'% frame':>7} | {'book mem':>8} {'book fold':>9} {'journal':>8} {'% frame':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="journal_cost-") as tmp_s:
        tmp = Path(tmp_s)
        print(head)
        for size in filter(None, args.sizes.split(",")):
            w, h = (int(v) for v in size.split("x"))
            path = src if (w, h) == native.size else scaled(src, tmp / f"{src.stem}-{h}p.mp4", w, h)
            video = s2.open_video(path, end=args.frames)
            assert video.size == (w, h), video.size
            for n_obj in (int(v) for v in args.objects.split(",")):
                p = cost(video, engine, n_obj, args.frames, args.repeats, tmp, timers)
                rows = rows_for(size, n_obj, args.frames, args.repeats, p)
                for r in rows:
                    print(
                        f"{r['what']:<20} {size:>9} {n_obj:>3} {r['memory_ms']:>9} "
                        f"{r['folder_ms']:>9} {r['overhead_ms']:>8} "
                        f"{r['overhead_pct_of_frame']:>7} | {r['book_memory_ms']:>8} "
                        f"{r['book_folder_ms']:>9} {r['journal_ms']:>8} "
                        f"{r['journal_pct_of_frame']:>7}  {r['note']}",
                        flush=True,
                    )
                write(rows)
        if args.long:
            long_mp4 = concatenated(src, tmp / f"{src.stem}-long.mp4", args.long, len(native))
            n = len(s2.open_video(long_mp4))
            print(
                f"reopen: {long_mp4.name} ({n} frames, stream copy), tracking {args.long} "
                f"frames at max_side {args.long_side} ...",
                flush=True,
            )
            snaps = [int(v) for v in args.snapshots.split(",") if v and int(v) < args.long]

            def emit(new: list[dict]) -> None:
                for row in new:
                    print(
                        f"{row['what']}, {row['frames']} frames tracked: median "
                        f"{row['folder_ms'] / 1000:.2f} s (sam2 init "
                        f"{row['book_memory_ms'] / 1000:.2f} s, journal restore "
                        f"{row['book_folder_ms'] / 1000:.2f} s); {row['note']}",
                        flush=True,
                    )
                write(new)

            reopen(long_mp4, engine, args.long, args.long_side, 3, tmp, timers, snaps, emit)


if __name__ == "__main__":
    main()

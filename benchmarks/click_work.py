"""What one click costs in sam2nb: modules passed, log entries read, store queries, renders.

Drives the video tracker headless (``threaded=False``) on a real video with the test model and
counts, for each click: the sam2nb modules its code passes through, how many prompt-log
entries are read (and so how many whole-log passes), how many SQLite queries the result store
runs, and how often the frame and its masks are rendered. Counts, not timings: they do not
depend on the machine. Run it on any checkout (it only uses names every version has):

    python benchmarks/click_work.py --video ../shared/data/bedroom.mp4 --clicks 6
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path


class CountingList(list):
    """A list that counts the items read by iterating it (the prompt log's storage)."""

    reads = 0

    def __iter__(self):
        for x in super().__iter__():
            CountingList.reads += 1
            yield x

    def __getitem__(self, i):
        out = super().__getitem__(i)
        if isinstance(i, slice):
            CountingList.reads += len(out)
            return CountingList(out)
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default=str(Path("..") / "shared" / "data" / "bedroom.mp4"))
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--clicks", type=int, default=6)
    args = ap.parse_args()

    import sam2nb as s2

    root = Path(s2.__file__).resolve().parent
    engine = s2.load("test", device="cpu", progress=False)
    app = s2.VideoTracker(
        s2.open_video(args.video, end=args.frames), engine, threaded=False, folder=None
    )
    sess = app.session
    log = sess.log
    if isinstance(log, list):  # before the typed log: a plain list of dicts
        sess.log = CountingList(log)
    else:
        log._entries = CountingList(log._entries)
    store = type(sess.results)
    canvas, scrubber = type(app.canvas), type(app.scrubber)
    counts: collections.Counter = collections.Counter()

    def counted(cls, name, key):
        fn = getattr(cls, name)

        def wrap(*a, **k):
            counts[key] += 1
            return fn(*a, **k)

        setattr(cls, name, wrap)

    counted(store, "_query", "store queries")
    counted(store, "put", "store writes")
    counted(canvas, "show", "canvas draws")
    counted(scrubber, "render", "frame renders")

    modules: set[str] = set()

    def profile(frame, event, arg):
        if event == "call":
            f = frame.f_code.co_filename
            if f.startswith(str(root)):
                modules.add(str(Path(f).relative_to(root)))

    w, h = sess.video.size
    print(f"sam2nb at {root}; {args.video} {w}x{h}, {args.frames} frames, test model (untrained)")
    print(f"{'click':>5} {'log len':>7} {'modules':>7} {'log entries read':>16} "
          f"{'log passes':>10} {'store queries':>13} {'store writes':>12} {'renders':>7} "
          f"{'canvas draws':>12}")  # fmt: skip
    for i in range(args.clicks):
        counts.clear()
        modules.clear()
        CountingList.reads = 0
        n = len(sess.log)
        x, y = w * (0.3 + 0.05 * i), h * (0.4 + 0.03 * i)
        sys.setprofile(profile)
        try:
            app.click(x, y, 1 if i % 3 else 0 if i else 1)
        finally:
            sys.setprofile(None)
        app.scrubber.wait()
        passes = CountingList.reads / max(n, 1)
        print(f"{i + 1:>5} {n:>7} {len(modules):>7} {CountingList.reads:>16} {passes:>10.1f} "
              f"{counts['store queries']:>13} {counts['store writes']:>12} "
              f"{counts['frame renders']:>7} {counts['canvas draws']:>12}")  # fmt: skip
        if i == args.clicks - 1:
            print("modules passed by the last click:", ", ".join(sorted(modules)))


if __name__ == "__main__":
    main()

"""gpu-render demo: build the synthetic dataset, render it, say where the PNGs are."""
from __future__ import annotations

import os
import time

from . import _common as C

HELP = "render a built-in synthetic dataset (10M points in Gaussian clusters) to PNGs"


def add_arguments(p):
    p.add_argument("--rows", type=C.positive_int, default=10_000_000)
    p.add_argument("--width", type=C.positive_int, default=800)
    p.add_argument("--height", type=C.positive_int, default=600)
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("-o", "--out-dir", default="out", help="folder for the PNGs (created)")


def run(args) -> int:
    from .. import by, count, info, mean
    from ..demo import make_frame
    from ..files import make_folder
    from ..render import render
    from ..transfer_functions import save_png

    make_folder(args.out_dir)
    t0 = time.perf_counter()
    df = make_frame(args.rows)
    print(f"made {args.rows:,} points in {time.perf_counter() - t0:.2f} s")
    jobs = (("demo_count.png", count(), "fire"), ("demo_mean_val.png", mean("val"), "bmy"),
            ("demo_by_cat.png", by("cat"), None))
    for name, agg, cmap in jobs:
        t = time.perf_counter()
        kw = {"cmap": cmap} if cmap else {}
        img = render(df, "x", "y", agg, args.width, args.height, x_range=(-5, 5), y_range=(-4, 4),
                     backend=args.backend, **kw)
        path = os.path.join(args.out_dir, name)
        save_png(img, path)
        print(f"{agg!r:>16} -> {os.path.abspath(path)} ({time.perf_counter() - t:.2f} s, "
              f"{info()['last_used']} backend)")
    return 0

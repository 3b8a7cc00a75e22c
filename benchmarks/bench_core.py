"""Core-engine benchmark: gpu-render's CPU backend vs datashader's pandas path, same process.

In-memory float32 points (x, y, a float32 value and a 5-category column), 800x600, for count,
mean and count_cat; best of N alternating runs after a warm-up (compilation excluded for both), each
also against the memory-read floor measured in the same run: a parallel sum over the columns that
reduction reads (x and y, plus the value column or the category codes). Then the
command line: a 1M-row Parquet file to PNG in a fresh process (kernels cached by an earlier run)
against the same job written with datashader. Results: benchmarks/results/core.json and core.md.

    python benchmarks/bench_core.py [--rows 20000000 100000000] [--repeat 5] [--note "..."]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numba as nb
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

DS_SCRIPT = """
import sys, datashader as ds, datashader.transfer_functions as tf, pandas as pd, colorcet
df = pd.read_parquet(sys.argv[1], columns=['x', 'y'])
agg = ds.Canvas(800, 600).points(df, 'x', 'y', ds.count())
tf.shade(agg, cmap=colorcet.fire, how='eq_hist').to_pil().save(sys.argv[2])
"""


def frame(n, seed=0):
    import pandas as pd
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.standard_normal(n, dtype=np.float32), "y": rng.standard_normal(n, dtype=np.float32),
        "v": rng.random(n, dtype=np.float32),
        "c": pd.Categorical.from_codes(rng.integers(0, 5, n, dtype=np.int8), list("abcde"))})


@nb.njit(parallel=True, fastmath=True, nogil=True, cache=True)
def read_floor(x, y, v, c, parts):
    """Sum of every element of x, y and (when not empty) v and c, one contiguous range per thread:
    the least work that reads the same bytes as a reduction (fastmath lets LLVM vectorise)."""
    n = x.shape[0]
    out = np.zeros(parts)
    for t in nb.prange(parts):
        lo = t * n // parts
        hi = (t + 1) * n // parts
        s = 0.0
        for i in range(lo, hi):
            s += x[i]
        for i in range(lo, hi):
            s += y[i]
        if v.shape[0]:
            for i in range(lo, hi):
                s += v[i]
        if c.shape[0]:
            k = 0
            for i in range(lo, hi):
                k += c[i]
            s += k
        out[t] = s
    return out.sum()


def floor_fn(df, name):
    """The memory-read floor of reduction ``name`` over ``df``, as a function to time."""
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    v = df["v"].to_numpy() if name == "mean" else x[:0]
    c = df["c"].cat.codes.to_numpy() if name == "count_cat" else np.zeros(0, np.int8)
    parts = nb.get_num_threads()
    return lambda: read_floor(x, y, v, c, parts)


def interleaved(fns, repeat):
    """Run each function once to warm up, then alternately ``repeat`` times: (best, median) each.
    Alternating spreads the noise of a shared machine over both sides alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [(min(ts), float(np.median(ts))) for ts in times]


def bench_in_memory(rows, repeat):
    import datashader as dsh

    import gpu_render as gr
    out = []
    for n in rows:
        df = frame(n)
        for name, ours, theirs in (("count", gr.count(), dsh.count()), ("mean", gr.mean("v"), dsh.mean("v")),
                                   ("count_cat", gr.count_cat("c"), dsh.count_cat("c"))):
            ranges = dict(x_range=(-4, 4), y_range=(-3, 3))
            ref = dsh.Canvas(800, 600, **ranges).points(df, "x", "y", theirs)
            mine = gr.Canvas(800, 600, **ranges).points(df, "x", "y", ours, backend="cpu")
            same = np.allclose(np.asarray(mine.values, float), np.asarray(ref.values, float), equal_nan=True)
            t_ds, t_gr, t_floor = interleaved(
                [lambda: dsh.Canvas(800, 600, **ranges).points(df, "x", "y", theirs),
                 lambda: gr.Canvas(800, 600, **ranges).points(df, "x", "y", ours, backend="cpu"),
                 floor_fn(df, name)], repeat)
            read = sum(df[c].to_numpy().nbytes if c != "c" else n for c in READS[name])
            row = {"rows": n, "reduction": name, "datashader_s": t_ds[0], "gpu_render_s": t_gr[0],
                   "datashader_median_s": t_ds[1], "gpu_render_median_s": t_gr[1],
                   "speedup": t_ds[0] / t_gr[0], "gpu_render_Mpts_per_s": n / t_gr[0] / 1e6,
                   "results_equal": bool(same), "read_floor_s": t_floor[0],
                   "read_floor_median_s": t_floor[1], "bytes_read": read,
                   "read_floor_GB_per_s": read / t_floor[0] / 1e9, "gpu_render_over_floor": t_gr[0] / t_floor[0]}
            print(f"{n:>11,} {name:<9} datashader {t_ds[0] * 1e3:8.1f} ms  gpu-render {t_gr[0] * 1e3:8.1f} ms"
                  f"  x{row['speedup']:.2f}  read floor {t_floor[0] * 1e3:7.1f} ms "
                  f"({row['read_floor_GB_per_s']:.2f} GB/s, gpu-render {row['gpu_render_over_floor']:.2f}x it)"
                  f"  equal={same}", flush=True)
            out.append(row)
        df = None  # free before the next size
    return out


READS = {"count": ("x", "y"), "mean": ("x", "y", "v"), "count_cat": ("x", "y", "c")}


def bench_cli(repeat):
    import pyarrow as pa
    import pyarrow.parquet as pq
    tmp = tempfile.mkdtemp(prefix="gr-bench-")
    path = os.path.join(tmp, "points.parquet")
    df = frame(1_000_000)
    pq.write_table(pa.Table.from_pandas(df[["x", "y", "v"]], preserve_index=False), path)
    script = os.path.join(tmp, "ds_render.py")
    with open(script, "w") as f:
        f.write(DS_SCRIPT)
    ours = [sys.executable, "-m", "gpu_render", "render", path, "--x", "x", "--y", "y", "--quiet",
            "-o", os.path.join(tmp, "ours.png")]
    theirs = [sys.executable, script, path, os.path.join(tmp, "theirs.png")]

    def run(cmd):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t

    run(ours), run(theirs)  # first runs fill numba's on-disk caches (ours and datashader's)
    t_ours, t_ds = [], []
    for _ in range(repeat):   # alternate, so both sides see the same machine
        t_ours.append(run(ours))
        t_ds.append(run(theirs))
    t_ours.sort()
    t_ds.sort()
    print(f"CLI 1M-row Parquet -> PNG, fresh process: gpu-render {t_ours[0]:.2f} s (median "
          f"{t_ours[len(t_ours) // 2]:.2f}), datashader {t_ds[0]:.2f} s (median {t_ds[len(t_ds) // 2]:.2f})")
    return {"gpu_render_s": t_ours[0], "gpu_render_median_s": t_ours[len(t_ours) // 2],
            "datashader_s": t_ds[0], "datashader_median_s": t_ds[len(t_ds) // 2], "rows": 1_000_000}


def machine():
    import numba
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(), "python": platform.python_version()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[20_000_000, 100_000_000])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--out", default=os.path.join(RESULTS, "core"))
    ap.add_argument("--note", default="", help="a line for the md, e.g. what else ran on the machine")
    args = ap.parse_args()
    import datashader
    import gpu_render
    result = {"machine": machine(), "datashader": datashader.__version__, "gpu_render": gpu_render.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "canvas": "800x600", "note": args.note,
              "in_memory": bench_in_memory(args.rows, args.repeat)}
    if not args.skip_cli:
        result["cli_parquet_1m"] = bench_cli(args.repeat)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    lines = [f"# Core benchmark ({result['date']}, {result['machine']['cpus']} CPUs, {result['machine']['processor']})",
             *([f"", args.note] if args.note else []), "",
             "Read floor: a parallel sum over the columns the reduction reads (same run, best of the same "
             "alternation); gpu-render / floor is how far the reduction is from only reading its input.", "",
             "| rows | reduction | datashader (ms) | gpu-render (ms) | speedup | read floor (ms) | floor GB/s "
             "| gpu-render / floor | equal |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["in_memory"]:
        lines.append(f"| {r['rows']:,} | {r['reduction']} | {r['datashader_s'] * 1e3:.1f} | {r['gpu_render_s'] * 1e3:.1f} "
                     f"| {r['speedup']:.2f}x | {r['read_floor_s'] * 1e3:.1f} | {r['read_floor_GB_per_s']:.2f} "
                     f"| {r['gpu_render_over_floor']:.2f}x | {r['results_equal']} |")
    if "cli_parquet_1m" in result:
        c = result["cli_parquet_1m"]
        lines += ["", f"CLI, 1M-row Parquet to PNG in a fresh process: gpu-render {c['gpu_render_s']:.2f} s "
                  f"(median {c['gpu_render_median_s']:.2f} s), datashader {c['datashader_s']:.2f} s "
                  f"(median {c['datashader_median_s']:.2f} s)."]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}.json and {args.out}.md")


if __name__ == "__main__":
    main()

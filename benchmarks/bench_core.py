"""Core-engine benchmark: gpu-render's CPU backend vs datashader's pandas path, same process.

In-memory float32 points (x, y, a float32 value and a 5-category column), 800x600, for count,
mean and count_cat; best of N alternating runs after a warm-up (compilation excluded for both). Then the
command line: a 1M-row Parquet file to PNG in a fresh process (kernels cached by an earlier run)
against the same job written with datashader. Results: benchmarks/results/core.json and core.md.

    python benchmarks/bench_core.py [--rows 20000000 100000000] [--repeat 5]
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
            t_ds, t_gr = interleaved([lambda: dsh.Canvas(800, 600, **ranges).points(df, "x", "y", theirs),
                                      lambda: gr.Canvas(800, 600, **ranges).points(df, "x", "y", ours, backend="cpu")],
                                     repeat)
            row = {"rows": n, "reduction": name, "datashader_s": t_ds[0], "gpu_render_s": t_gr[0],
                   "datashader_median_s": t_ds[1], "gpu_render_median_s": t_gr[1],
                   "speedup": t_ds[0] / t_gr[0], "gpu_render_Mpts_per_s": n / t_gr[0] / 1e6,
                   "results_equal": bool(same)}
            print(f"{n:>11,} {name:<9} datashader {t_ds[0] * 1e3:8.1f} ms  gpu-render {t_gr[0] * 1e3:8.1f} ms"
                  f"  x{row['speedup']:.2f}  equal={same}", flush=True)
            out.append(row)
        df = None  # free before the next size
    return out


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
    args = ap.parse_args()
    import datashader
    import gpu_render
    result = {"machine": machine(), "datashader": datashader.__version__, "gpu_render": gpu_render.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "canvas": "800x600", "in_memory": bench_in_memory(args.rows, args.repeat)}
    if not args.skip_cli:
        result["cli_parquet_1m"] = bench_cli(args.repeat)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    lines = [f"# Core benchmark ({result['date']}, {result['machine']['cpus']} CPUs, {result['machine']['processor']})",
             "", "| rows | reduction | datashader (ms) | gpu-render (ms) | speedup | equal |", "|---|---|---|---|---|---|"]
    for r in result["in_memory"]:
        lines.append(f"| {r['rows']:,} | {r['reduction']} | {r['datashader_s'] * 1e3:.1f} | {r['gpu_render_s'] * 1e3:.1f} "
                     f"| {r['speedup']:.2f}x | {r['results_equal']} |")
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

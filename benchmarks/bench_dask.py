"""Dask benchmarks: per-render overhead on a warm 2-worker LocalCluster, and 1 vs 2 workers.

1. Overhead: 1,000 points in a 2-partition dask DataFrame, rendered (count, 400x300) on a warm
   2-worker LocalCluster, against the same call on the pandas frame in-process and against
   datashader's dask path on the same cluster. The overhead is dask time minus in-process time.
2. Scaling: a Parquet dataset of ``--rows`` points (x, y float64, files of ``--file-rows``),
   aggregated on a LocalCluster of 1 worker and of 2 workers (one thread each), and in-process.

    python benchmarks/bench_dask.py                 # 100M rows (what the issue asks)
    python benchmarks/bench_dask.py --rows 20000000 # a reduced run for a shared machine

Results: benchmarks/results/dask.json and dask.md (medians of --repeat timed runs).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _median_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times)


def overhead(repeat):
    import dask.dataframe as dd
    import datashader
    import pandas as pd
    from distributed import Client, LocalCluster

    import gpu_render as gr

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=1000), "y": rng.normal(size=1000)})
    ddf = dd.from_pandas(df, npartitions=2)
    rng_kw = dict(x_range=(-4, 4), y_range=(-4, 4))
    out = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
            Client(cl) as client:
        ours = gr.Canvas(400, 300, **rng_kw)
        ours_auto = gr.Canvas(400, 300)
        theirs = datashader.Canvas(400, 300, **rng_kw)
        cases = {
            "gpu_render in-process (pandas)": lambda: ours.points(df, "x", "y"),
            "gpu_render dask, ranges given": lambda: ours.points(ddf, "x", "y", scheduler=client),
            "gpu_render dask, ranges computed": lambda: ours_auto.points(ddf, "x", "y", scheduler=client),
            "datashader dask, ranges given": lambda: theirs.points(ddf, "x", "y"),
        }
        a = ours.points(ddf, "x", "y", scheduler=client)
        b = theirs.points(ddf, "x", "y")
        assert np.array_equal(a.values, b.values), "results differ from datashader's"
        for name, fn in cases.items():
            for _ in range(3):
                fn()          # warm: JIT on the workers, graph caches
            med, best = _median_ms(fn, repeat)
            out[name] = {"median_ms": round(med, 2), "min_ms": round(best, 2)}
    base = out["gpu_render in-process (pandas)"]["median_ms"]
    out["overhead_ms (dask, ranges given, minus in-process)"] = round(
        out["gpu_render dask, ranges given"]["median_ms"] - base, 2)
    out["datashader / gpu_render dask time"] = round(
        out["datashader dask, ranges given"]["median_ms"] / out["gpu_render dask, ranges given"]["median_ms"], 2)
    return out


def write_dataset(folder, rows, file_rows):
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(1)
    done, i = 0, 0
    while done < rows:
        n = min(file_rows, rows - done)
        t = pa.table({"x": rng.normal(size=n), "y": rng.normal(size=n)})
        pq.write_table(t, os.path.join(folder, f"part-{i:04d}.parquet"))
        done += n
        i += 1
    return i


def scaling(rows, file_rows, repeat):
    from distributed import Client, LocalCluster

    import gpu_render as gr
    out = {"rows": rows, "file_rows": file_rows}
    cvs = gr.Canvas(800, 600, x_range=(-5, 5), y_range=(-5, 5))
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as folder:
        t = time.perf_counter()
        out["files"] = write_dataset(folder, rows, file_rows)
        out["write_s"] = round(time.perf_counter() - t, 1)
        ref = None
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cl, Client(cl) as client:
                run = lambda: cvs.points(folder, "x", "y", scheduler=client)  # noqa: E731
                res = run()   # warm-up (JIT, page cache)
                assert int(res.values.sum()) <= rows
                ref = res if ref is None else ref
                assert np.array_equal(ref.values, res.values)
                med, best = _median_ms(run, repeat)
                out[f"{workers} worker(s)"] = {"median_s": round(med / 1e3, 3), "min_s": round(best / 1e3, 3)}
        run = lambda: cvs.points(folder, "x", "y")  # noqa: E731
        res = run()
        assert np.array_equal(ref.values, res.values)
        med, best = _median_ms(run, repeat)
        out["in-process (no dask)"] = {"median_s": round(med / 1e3, 3), "min_s": round(best / 1e3, 3)}
    out["speedup 2 vs 1 workers"] = round(out["1 worker(s)"]["median_s"] / out["2 worker(s)"]["median_s"], 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--file-rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per scaling case")
    ap.add_argument("--overhead-repeat", type=int, default=30)
    args = ap.parse_args()
    import dask
    import datashader
    import distributed
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()], "python": platform.python_version(),
                    "dask": dask.__version__, "distributed": distributed.__version__,
                    "datashader": datashader.__version__},
        "overhead_1000_points": overhead(args.overhead_repeat),
        "scaling_parquet": scaling(args.rows, args.file_rows, args.repeat),
    }
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "dask.json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = ["# Dask benchmarks", "",
             f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}; dask "
             f"{dask.__version__}, datashader {datashader.__version__}; load average at start "
             f"{result['machine']['load_average_at_start']} (a shared machine: timings are noisy).", "",
             "## Per-render overhead, 1,000 points, warm 2-worker LocalCluster (400x300 count)", "",
             "| case | median ms | min ms |", "|---|---|---|"]
    for k, v in result["overhead_1000_points"].items():
        if isinstance(v, dict):
            lines.append(f"| {k} | {v['median_ms']} | {v['min_ms']} |")
    o = result["overhead_1000_points"]
    lines += ["", f"Overhead (dask minus in-process): **{o['overhead_ms (dask, ranges given, minus in-process)']} ms**; "
              f"datashader's dask path takes {o['datashader / gpu_render dask time']}x our dask time.", ""]
    s = result["scaling_parquet"]
    lines += [f"## {s['rows']:,} points from a Parquet dataset ({s['files']} files), 800x600 count", "",
              "| run | median s | min s |", "|---|---|---|"]
    for k in ("1 worker(s)", "2 worker(s)", "in-process (no dask)"):
        lines.append(f"| {k} | {s[k]['median_s']} | {s[k]['min_s']} |")
    lines += ["", f"Speedup 2 vs 1 workers: **{s['speedup 2 vs 1 workers']}x**.", ""]
    with open(os.path.join(RESULTS, "dask.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Spatial index benchmark: building a Z-order index of a Parquet file in bounded memory, then
zoomed renders of the index against the same renders of the source file.

The source is ``--rows`` float32 normal x/y plus a float32 value, in random order (so its row
groups cannot be skipped). The build runs in a fresh process under ``--memory-limit``; its wall
time and peak RSS are reported. Then for views of decreasing area (count and mean): the source
rendered (every row read), the index rendered (only the row groups meeting the view), rows read,
and whether both aggregates are equal. Times are the best of ``--repeat`` after a warm-up, the
source and the index alternating.
Results go to benchmarks/results/index.json and index.md.

    python benchmarks/bench_index.py [--rows 20000000] [--memory-limit 256MB] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from timing import best_pair

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
RESULTS = os.path.join(HERE, "results")
W, H = 800, 600
BUILD = r"""
import sys, time
from gpu_render.cli import main
t0 = time.perf_counter()
rc = main(sys.argv[1:])
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
print("BUILT", rc, time.perf_counter() - t0, hwm)
"""


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--rows", type=int, default=20_000_000)
    a.add_argument("--memory-limit", default="256MB")
    a.add_argument("--repeat", type=int, default=3)
    a.add_argument("--out", default=RESULTS)
    args = a.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    import gpu_render as ds

    folder = tempfile.mkdtemp(prefix="bench_index_")
    src, idx = os.path.join(folder, "points.parquet"), os.path.join(folder, "points.index")
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(src, pa.schema([("x", pa.float32()), ("y", pa.float32()), ("v", pa.float32())])) as w:
        for r0 in range(0, args.rows, 5_000_000):
            n = min(5_000_000, args.rows - r0)
            w.write_table(pa.table({"x": rng.standard_normal(n, dtype=np.float32),
                                    "y": rng.standard_normal(n, dtype=np.float32),
                                    "v": rng.random(n, dtype=np.float32)}), row_group_size=1 << 20)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", BUILD, "index", src, "--x", "x", "--y", "y", "--keep", "v",
                          "-o", idx, "--memory-limit", args.memory_limit, "--quiet"],
                         capture_output=True, text=True, env=env)
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("BUILT")]
    if run.returncode or not line:
        sys.exit(f"the index build failed:\n{run.stderr[-2000:]}")
    _, rc, build_s, peak = line[0].split()
    manifest = json.load(open(os.path.join(idx, "_manifest.json")))
    build = dict(seconds=float(build_s), peak_rss_bytes=int(peak), memory_limit=args.memory_limit,
                 index_bytes=sum(f["bytes"] for f in manifest["files"]), source_bytes=os.path.getsize(src),
                 rows_per_s=args.rows / float(build_s))
    print(json.dumps(build), flush=True)

    rows = []
    for side in (8.0, 2.0, 0.5, 0.1):    # view side in standard deviations, centred at (0.3, -0.2)
        xr, yr = (0.3 - side / 2, 0.3 + side / 2), (-0.2 - side / 2, -0.2 + side / 2)
        cvs = ds.Canvas(W, H, xr, yr)
        for name, agg in (("count", ds.count()), ("mean", ds.mean("v"))):
            t_src, t_idx = best_pair(lambda: cvs.points(src, "x", "y", agg),
                                     lambda: cvs.points(idx, "x", "y", agg), args.repeat)
            a, b = cvs.points(src, "x", "y", agg), cvs.points(idx, "x", "y", agg)
            p = ds.profile(idx, "x", "y", agg, width=W, height=H, x_range=xr, y_range=yr)
            same = bool(np.allclose(np.asarray(a.data), np.asarray(b.data), equal_nan=True))
            row = dict(view_side=side, agg=name, source_s=t_src, index_s=t_idx, speedup=t_src / t_idx,
                       rows_read=p.rows, rows=args.rows, equal=same)
            rows.append(row)
            print(json.dumps(row), flush=True)
            assert same, "the index and the source give different aggregates"
    out = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "python": platform.python_version(),
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": args.rows,
           "canvas": [W, H], "repeat": args.repeat, "build": build, "results": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(out, f, indent=2)
    lines = [f"# Spatial index: {args.rows:,} float32 rows (x, y normal, v), {W}x{H}", "",
             f"{out['machine']}, {out['when']}, best of {args.repeat}; aggregates equal in every row.", "",
             f"Build (`gpu-render index --memory-limit {args.memory_limit}`, fresh process): "
             f"{build['seconds']:.1f} s ({build['rows_per_s'] / 1e6:.2f} M rows/s), peak RSS "
             f"{build['peak_rss_bytes'] / 2**20:.0f} MiB; index {build['index_bytes'] / 2**20:.0f} MiB "
             f"(source {build['source_bytes'] / 2**20:.0f} MiB).", "",
             "| view side (sd) | agg | rows read | source s | index s | speedup |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['view_side']} | {r['agg']} | {r['rows_read']:,} | {r['source_s']:.3f} "
                     f"| {r['index_s']:.3f} | {r['speedup']:.2f}x |")
    with open(os.path.join(args.out, "index.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()

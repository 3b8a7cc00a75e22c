"""Spatial index benchmark: building a Z-order index of a Parquet file in bounded memory, then
zoomed renders of the index against the same renders of the source file.

The source is ``--rows`` float32 normal x/y plus a float32 value, in random order (so its row
groups cannot be skipped). The build runs in a fresh process under ``--memory-limit``; its wall
time and peak RSS are reported. Then for views of decreasing area (count and mean): the source
rendered (every row read), the index rendered (only the row groups meeting the view), rows read,
and whether both aggregates are equal. Times are the best of ``--repeat`` after a warm-up, the
source and the index alternating.
Results go to benchmarks/results/index.json and index.md.

``--targets`` measures issue 12's figures instead (results in index_targets.json/.md): the
build's peak RSS, its peak extra disk (staging + index, sampled) against the finished index,
its time against one ``gpu-render render`` of the source in the same run, where the build's
time went (the manifest's phases), and a view holding 0.1% of the points through the index,
from the source (every row read) and by datashader from the Parquet file (dask). At 1e9 rows
the source and datashader renders are timed once each (a full read takes about a minute here).

    python benchmarks/bench_index.py [--rows 20000000] [--memory-limit 256MB] [--repeat 3]
    python benchmarks/bench_index.py --targets --rows 1000000000 --memory-limit 4GB --repeat 1
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
    a.add_argument("--targets", action="store_true", help="issue 12's figures (see above)")
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
    base_used = shutil.disk_usage(folder).used
    proc = subprocess.Popen([sys.executable, "-c", BUILD, "index", src, "--x", "x", "--y", "y", "--keep", "v",
                             "-o", idx, "--memory-limit", args.memory_limit, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak_used = base_used
    while proc.poll() is None:      # the build's disk: staging files and the index being written
        peak_used = max(peak_used, shutil.disk_usage(folder).used)
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    line = [ln for ln in stdout.splitlines() if ln.startswith("BUILT")]
    if proc.returncode or not line:
        sys.exit(f"the index build failed:\n{stderr[-2000:]}")
    _, rc, build_s, peak = line[0].split()
    manifest = json.load(open(os.path.join(idx, "_manifest.json")))
    build = dict(seconds=float(build_s), peak_rss_bytes=int(peak), memory_limit=args.memory_limit,
                 index_bytes=sum(f["bytes"] for f in manifest["files"]), source_bytes=os.path.getsize(src),
                 rows_per_s=args.rows / float(build_s), peak_extra_disk_bytes=peak_used - base_used,
                 phases={k: v for k, v in manifest["build"].items() if k.endswith("_seconds")})
    print(json.dumps(build), flush=True)
    if args.targets:
        targets(args, src, idx, build, env)
        shutil.rmtree(folder)
        return

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


def _normal_side(fraction, centre):
    """Side of a square view centred at ``centre`` holding ``fraction`` of standard normal x/y."""
    import math

    def mass(c, s):
        return 0.5 * (math.erf((c + s / 2) / math.sqrt(2)) - math.erf((c - s / 2) / math.sqrt(2)))
    lo, hi = 1e-6, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mass(centre[0], mid) * mass(centre[1], mid) < fraction else (lo, mid)
    return (lo + hi) / 2


def targets(args, src, idx, build, env):
    """Issue 12's figures: build against one render of the source, and a 0.1% view."""
    import datashader as dsh
    import dask.dataframe as dd

    import gpu_render as ds
    t = time.perf_counter()
    png = os.path.join(os.path.dirname(src), "full.png")
    subprocess.run([sys.executable, "-m", "gpu_render", "render", src, "--x", "x", "--y", "y",
                    "-o", png, "--quiet"], check=True, env=env)
    render_s = time.perf_counter() - t
    centre = (0.3, -0.2)
    side = _normal_side(0.001, centre)
    xr, yr = (centre[0] - side / 2, centre[0] + side / 2), (centre[1] - side / 2, centre[1] + side / 2)
    cvs = ds.Canvas(W, H, xr, yr)
    t_idx = best_pair(lambda: cvs.points(idx, "x", "y", ds.count()), None, max(args.repeat, 3))[0]
    once = args.rows >= 100_000_000
    timed = (lambda f: _once(f)) if once else (lambda f: best_pair(f, None, args.repeat)[0])
    t_src = timed(lambda: cvs.points(src, "x", "y", ds.count()))
    dcvs = dsh.Canvas(W, H, xr, yr)
    t_dsh = timed(lambda: dcvs.points(dd.read_parquet(src, columns=["x", "y"]), "x", "y", dsh.count()))
    a, b = cvs.points(src, "x", "y", ds.count()), cvs.points(idx, "x", "y", ds.count())
    want = dcvs.points(dd.read_parquet(src, columns=["x", "y"]), "x", "y", dsh.count())
    p = ds.profile(idx, "x", "y", ds.count(), width=W, height=H, x_range=xr, y_range=yr)
    view = dict(side=side, centre=centre, points_in_view=int(np.asarray(b.data).sum()),
                fraction=float(np.asarray(b.data).sum()) / args.rows, rows_read=p.rows,
                index_s=t_idx, source_s=t_src, datashader_s=t_dsh, vs_source=t_src / t_idx,
                vs_datashader=t_dsh / t_idx,
                equal=bool(np.array_equal(np.asarray(a.data), np.asarray(b.data))
                           and np.array_equal(np.asarray(b.data), want.data)),
                timed_once=once)
    build.update(render_s=render_s, build_over_render=build["seconds"] / render_s,
                 disk_over_index=build["peak_extra_disk_bytes"] / build["index_bytes"])
    out = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "python": platform.python_version(),
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": args.rows,
           "canvas": [W, H], "build": build, "view": view}
    print(json.dumps(out, indent=1), flush=True)
    assert view["equal"], "the index, the source and datashader give different counts"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "index_targets.json"), "w") as f:
        json.dump(out, f, indent=2)
    ph = ", ".join(f"{k[:-8]} {v:.1f} s" for k, v in build["phases"].items())
    lines = [f"# Spatial index targets: {args.rows:,} float32 rows (x, y normal, v)", "",
             f"{out['machine']}, {out['when']}.", "",
             f"- Build (`gpu-render index --memory-limit {args.memory_limit}`, fresh process): "
             f"{build['seconds']:.0f} s ({build['rows_per_s'] / 1e6:.2f} M rows/s); where it went: {ph}.",
             f"- One `gpu-render render` of the source Parquet, same run: {render_s:.1f} s; the build "
             f"took **{build['build_over_render']:.1f}x** that (target: at most 40x).",
             f"- Peak RSS of the build: **{build['peak_rss_bytes'] / 2**30:.2f} GiB** (target: at most 5 GB).",
             f"- Peak extra disk during the build: {build['peak_extra_disk_bytes'] / 2**30:.1f} GiB, "
             f"**{build['disk_over_index']:.2f}x** the finished index of {build['index_bytes'] / 2**30:.1f} GiB "
             f"(target: at most 2.5x); source {build['source_bytes'] / 2**30:.1f} GiB.",
             f"- A {W}x{H} count of a view holding {view['fraction'] * 100:.3f}% of the points "
             f"({view['points_in_view']:,}; side {side:.4f} sd at {centre}): index {t_idx * 1e3:.0f} ms "
             f"({view['rows_read']:,} rows read), the source Parquet {t_src:.2f} s "
             f"(**{view['vs_source']:.0f}x**, target at least 100x), datashader from the Parquet file "
             f"{t_dsh:.2f} s (**{view['vs_datashader']:.0f}x**, target at least 30x)"
             + ("; source and datashader timed once each" if once else "") + "; the three counts equal."]
    with open(os.path.join(args.out, "index_targets.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _once(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()

"""Benchmark: HoloViews ``rasterize`` of points in memory, datashader vs gpu-render, same run.

``--rows`` points (default 20M, the demo's five float32 clusters) in a ``hv.Points``; a
``RangeXY`` stream drives a scripted zoom into a cluster and a pan across it, ``--views`` views
(default 20) at 800x600, one view at a time, as a Bokeh plot's range changes would. Each view is
aggregated by HoloViews' own ``rasterize`` (datashader) and by ``gpu_render.holoviews.rasterize``
(backend auto) alternately, after one warm-up view each (JIT). Per-view latency: median and p95.
The two images of each view are checked equal. Writes benchmarks/results/holoviews.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def views(n):
    """``n`` (x_range, y_range): zoom from the whole field into the cluster at (2, -2), then pan."""
    out = []
    zoom = max(n * 2 // 3, 1)
    for i in range(zoom):
        half = 6.0 * (0.05 / 6.0) ** (i / max(zoom - 1, 1))
        cx, cy = 2.0 * i / max(zoom - 1, 1), -2.0 * i / max(zoom - 1, 1)
        out.append(((cx - half, cx + half), (cy - 0.75 * half, cy + 0.75 * half)))
    (x0, x1), (y0, y1) = out[-1]
    for j in range(n - zoom):
        dx = (x1 - x0) * 0.25 * (j + 1)
        out.append(((x0 + dx, x1 + dx), (y0, y1)))
    return out


def from_disk(df, scripted, width, height, stats):
    """Per-view latency of ``Canvas.points`` count over ``df`` written as Parquet and over its
    spatial index, views alternated, after one warm-up each."""
    import tempfile

    import gpu_render as gr
    from gpu_render import index

    with tempfile.TemporaryDirectory() as tmp:
        src, idx = os.path.join(tmp, "points.parquet"), os.path.join(tmp, "points.index")
        df[["x", "y", "val"]].to_parquet(src, row_group_size=1 << 20)
        t0 = time.perf_counter()
        index.build(src, "x", "y", idx, progress=False)
        build_s = time.perf_counter() - t0
        paths = {"parquet": src, "index": idx}
        times = {k: [] for k in paths}
        for (xr_, yr_) in [scripted[0]] + scripted:
            cvs = gr.Canvas(width, height, xr_, yr_)
            for k, path in paths.items():
                t0 = time.perf_counter()
                cvs.points(path, "x", "y", gr.count(), progress=False)
                times[k].append(time.perf_counter() - t0)
    return {"build_s": build_s, **{k: stats(v[1:]) for k, v in times.items()}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000_000)
    p.add_argument("--views", type=int, default=20)
    p.add_argument("--width", type=int, default=800)
    p.add_argument("--height", type=int, default=600)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "holoviews"))
    p.add_argument("--note", default="", help="a line for the results, e.g. that the machine was shared")
    p.add_argument("--index", action="store_true",
                   help="also time the same views read from disk: the frame as Parquet, and its spatial index")
    args = p.parse_args(argv)

    import holoviews as hv
    from holoviews.operation import datashader as hvds

    import gpu_render
    import gpu_render.holoviews as grh
    from gpu_render.demo import make_frame

    df = make_frame(args.rows)
    points = hv.Points(df, ["x", "y"], ["val"])
    ops = {"datashader": hvds.rasterize, "gpu-render": grh.rasterize}
    scripted = views(args.views)
    times = {k: [] for k in ops}
    dmaps, streams = {}, {}
    for name, op in ops.items():
        streams[name] = hv.streams.RangeXY(x_range=scripted[0][0], y_range=scripted[0][1])
        dmaps[name] = op(points, streams=[streams[name]], width=args.width, height=args.height,
                         dynamic=True)
        dmaps[name][()]                                 # warm-up view (JIT, first allocation)
    mismatches = 0
    for xr_, yr_ in scripted:
        images = {}
        for name in ops:
            t0 = time.perf_counter()
            streams[name].event(x_range=xr_, y_range=yr_)
            images[name] = dmaps[name][()]
            times[name].append(time.perf_counter() - t0)
        a, b = (images[k].data[images[k].vdims[0].name].values for k in ops)
        mismatches += not np.array_equal(a, b)

    def stats(ts):
        return {"median_ms": float(np.median(ts) * 1e3), "p95_ms": float(np.percentile(ts, 95) * 1e3),
                "first_ms": float(ts[0] * 1e3), "max_ms": float(np.max(ts) * 1e3), "views": len(ts)}
    result = {
        "rows": args.rows, "views": args.views, "size": [args.width, args.height],
        "backend": gpu_render.info()["auto"], "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "note": args.note, "mismatched_views": mismatches,
        **{k: stats(v) for k, v in times.items()},
    }
    if args.index:
        result["from_disk"] = from_disk(df, scripted, args.width, args.height, stats)
    result["speedup_median"] = result["datashader"]["median_ms"] / result["gpu-render"]["median_ms"]
    result["speedup_p95"] = result["datashader"]["p95_ms"] / result["gpu-render"]["p95_ms"]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    md = [f"# HoloViews rasterize, {args.rows:,} points in memory, {args.views} scripted views "
          f"({args.width}x{args.height})", "",
          f"Machine: {result['machine']}; gpu-render backend: {result['backend']}. {args.note}".strip(), "",
          "| per-view latency | HoloViews + datashader | HoloViews + gpu-render | speed-up |",
          "|---|---|---|---|"]
    for k in ("median", "p95"):
        md.append(f"| {k} | {result['datashader'][k + '_ms']:.0f} ms | {result['gpu-render'][k + '_ms']:.0f} ms "
                  f"| {result['speedup_' + k]:.1f}x |")
    md += [f"| slowest view | {result['datashader']['max_ms']:.0f} ms | {result['gpu-render']['max_ms']:.0f} ms | |",
           "", "gpu-render sorts a frame into grid cells (`spatialframe.SpatialFrame`) the second time "
           "it aggregates it, so one view (the slowest) pays that sort; later views read only the "
           "rows of the cells they overlap.",
           "", f"Views whose images differ: {mismatches} of {args.views}."]
    if args.index:
        d = result["from_disk"]
        md += ["", f"## The same views from disk (`--index`; build of the index: {d['build_s']:.1f} s)", "",
               "HoloViews elements hold data in memory, so this times the aggregation HoloViews would "
               "call, `Canvas.points(path, ...)` count, over the frame written as Parquet and over its "
               "spatial index (`gpu-render index`), same views, same run.", "",
               "| per-view latency | Parquet file | spatial index | speed-up |", "|---|---|---|---|"]
        for k in ("median", "p95"):
            md.append(f"| {k} | {d['parquet'][k + '_ms']:.0f} ms | {d['index'][k + '_ms']:.0f} ms "
                      f"| {d['parquet'][k + '_ms'] / d['index'][k + '_ms']:.1f}x |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

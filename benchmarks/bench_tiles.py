"""Benchmark: on-demand tiles over points held in memory, and the ``tiles`` pyramid writer.

1. Build a ``TileIndex`` over ``--rows`` points (default 100M; clustered "cities + roads +
   background" in lon/lat), then script a zoom from z0 to z12 into the densest area and back on a
   1280x768 view, asking for every tile in view (aggregate + level colour scaling + PNG encoding,
   the PNG cache disabled so every tile is re-aggregated). One pass warms up (JIT, level scales);
   the next ``--passes`` are timed: median and p95 tile latency.
2. ``tiles`` for z0..``--max-zoom`` (default 8) of the same points, in a child process: tiles per
   second, data passes per level, peak RSS.
Writes JSON + a markdown table to benchmarks/results/. Timings are wall-clock on this machine.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DENSE = (2.35, 48.85)   # the densest cluster's centre (lon, lat)


def make_points(n, seed=1):
    rng = np.random.default_rng(seed)
    cities = np.array([DENSE, (-0.13, 51.5), (13.4, 52.5), (12.5, 41.9), (-3.7, 40.4), (-74.0, 40.7),
                       (139.7, 35.7), (-46.6, -23.5), (77.2, 28.6), (151.2, -33.9)])
    k = n * 6 // 10
    which = rng.integers(0, len(cities), k)
    sig = np.where(which == 0, 0.01, 0.2) * rng.choice([1.0, 3.0, 10.0], k)
    lon = np.empty(n)
    lat = np.empty(n)
    lon[:k] = cities[which, 0] + rng.standard_normal(k) * sig
    lat[:k] = cities[which, 1] + rng.standard_normal(k) * sig * 0.7
    r = n * 3 // 10
    a, b, t = rng.integers(0, len(cities), r), rng.integers(0, len(cities), r), rng.random(r)
    lon[k:k + r] = cities[a, 0] * (1 - t) + cities[b, 0] * t + rng.normal(0, 0.02, r)
    lat[k:k + r] = cities[a, 1] * (1 - t) + cities[b, 1] * t + rng.normal(0, 0.02, r)
    rest = n - k - r
    lon[k + r:] = rng.uniform(-180, 180, rest)
    lat[k + r:] = rng.uniform(-80, 80, rest)
    return {"lon": lon, "lat": lat}


def view_tiles(z, lon, lat, w=1280, h=768):
    from gpu_render.tiles import TILE, WORLD
    from gpu_render.utils import lnglat_to_meters
    mx, my = lnglat_to_meters(lon, lat)
    size = TILE * (1 << z)
    cx, cy = (mx + WORLD) / (2 * WORLD) * size, (WORLD - my) / (2 * WORLD) * size
    n = 1 << z
    xs = range(max(0, int((cx - w / 2) // TILE)), min(n - 1, int((cx + w / 2) // TILE)) + 1)
    ys = range(max(0, int((cy - h / 2) // TILE)), min(n - 1, int((cy + h / 2) // TILE)) + 1)
    return [(z, x, y) for y in ys for x in xs]


def bench_index(rows, passes):
    import psutil

    import gpu_render as gr
    from gpu_render.server import TileService
    proc = psutil.Process()
    t0 = time.perf_counter()
    data = make_points(rows)
    gen_s = time.perf_counter() - t0
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    svc = TileService(data, "lon", "lat", {"count": gr.count()}, geo=True, log=lambda *_: None)
    build_s = time.perf_counter() - t0
    svc.png_cache.max_bytes = 0          # every request re-aggregates
    script = [t for z in list(range(0, 13)) + list(range(12, -1, -1)) for t in view_tiles(z, *DENSE)]

    def run_pass():
        lat = []
        for z, x, y in script:
            t = time.perf_counter()
            svc.tile_png(z, x, y, "count", "fire", "eq_hist")
            lat.append(time.perf_counter() - t)
        return lat

    cold = run_pass()
    warm = [v for _ in range(passes) for v in run_pass()]
    idx = svc.index
    pts = [idx._rows(z, x, y) for z, x, y in view_tiles(12, *DENSE)]
    return {"rows": rows, "generate_s": gen_s, "index_build_s": build_s, "index_sort_s": idx.sort_seconds,
            "index_bytes": idx.nbytes, "rss_growth_bytes": proc.memory_info().rss - rss0,
            "stored_zooms": idx.stored_zooms, "tiles_per_pass": len(script),
            "max_rows_in_a_z12_view_tile": max(b - a for a, b in pts),
            "cold_pass_s": sum(cold), "cold_max_ms": max(cold) * 1e3,
            "warm_median_ms": float(np.median(warm)) * 1e3,
            "warm_p95_ms": float(np.percentile(warm, 95)) * 1e3,
            "warm_max_ms": max(warm) * 1e3, "warm_requests": len(warm)}


def _tiles_child(rows, max_zoom, q):
    from gpu_render.tiles import tiles
    data = make_points(rows)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        reps = tiles(data, "lon", "lat", out_dir=os.path.join(d, "t"), min_zoom=0, max_zoom=max_zoom,
                     geo=True, progress=False)
        dt = time.perf_counter() - t0
    q.put({"seconds": dt, "tiles": sum(r.tiles_written for r in reps),
           "levels": [vars(r) for r in reps], "peak_rss_bytes": resource.getrusage(
               resource.RUSAGE_SELF).ru_maxrss * 1024, "rss_after_data_bytes": rss_data})


def bench_pyramid(rows, max_zoom):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_tiles_child, args=(rows, max_zoom, q))
    p.start()
    res = q.get()
    p.join()
    res["tiles_per_s"] = res["tiles"] / res["seconds"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--max-zoom", type=int, default=8)
    ap.add_argument("--skip-pyramid", action="store_true")
    args = ap.parse_args()
    import numba
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
               "python": platform.python_version(),
               "note": os.environ.get("BENCH_NOTE", "load average %.2f at start" % os.getloadavg()[0])}
    res = {"machine": machine, "index": bench_index(args.rows, args.passes)}
    print(json.dumps(res["index"], indent=1))
    if not args.skip_pyramid:
        res["pyramid"] = bench_pyramid(args.rows, args.max_zoom)
        print(json.dumps(res["pyramid"], indent=1))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, f"tiles_{args.rows // 1_000_000}M")
    with open(stem + ".json", "w") as fh:
        json.dump(res, fh, indent=1)
    i = res["index"]
    sz = i["stored_zooms"]
    lines = [f"# tiles benchmark, {args.rows:,} points ({machine['cpus']} CPUs, {machine['note']})", "",
             "| measure | value |", "|---|---|",
             f"| index build (s) | {i['index_build_s']:.2f} (sort {i['index_sort_s']:.2f}) |",
             f"| index memory (MiB) | {i['index_bytes'] / 2**20:.0f} |",
             f"| pre-aggregated zooms | {f'{sz[0]}..{sz[-1]}' if sz else 'none'} |",
             f"| most rows in one z12 tile in view | {i['max_rows_in_a_z12_view_tile']:,} |",
             f"| zoom z0->z12->z0: tiles per pass | {i['tiles_per_pass']} |",
             f"| cold pass (s) / slowest cold tile (ms) | {i['cold_pass_s']:.2f} / {i['cold_max_ms']:.0f} |",
             f"| warm median tile latency (ms) | {i['warm_median_ms']:.1f} |",
             f"| warm p95 tile latency (ms) | {i['warm_p95_ms']:.1f} |"]
    if "pyramid" in res:
        p = res["pyramid"]
        lines += [f"| tiles z0..{args.max_zoom}: tiles written | {p['tiles']} |",
                  f"| tiles z0..{args.max_zoom}: tiles/s | {p['tiles_per_s']:.1f} ({p['seconds']:.1f} s) |",
                  f"| tiles z0..{args.max_zoom}: data passes per level | {[lv['passes'] for lv in p['levels']]} |",
                  f"| tiles: peak RSS (MiB) / after making the data (MiB) | {p['peak_rss_bytes'] / 2**20:.0f} / "
                  f"{p['rss_after_data_bytes'] / 2**20:.0f} |"]
    with open(stem + ".md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

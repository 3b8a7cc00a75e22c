"""GPU benchmark: count / mean / count_cat of device-resident float32 points at 1920x1080.

Uniform and skewed data (90% of the points in 1% of the pixels, randomly interleaved), 1e8 and
1e9 points, and at the smallest size the uniform points sorted by pixel (as a spatial index
stores them); each configuration warmed up, then timed with CUDA events, median of ``--runs``.
count and count_cat are timed with both large-grid count kernels: the default one (device
atomics after per-thread runs) and the warp-aggregated one (``GPUBackend.warp_aggregate``).
Baselines measured in the same run: a plain CuPy count (linear pixel index + ``cupy.bincount``),
the CPU fallback on 1e8 points, datashader on cuDF where cuDF is importable, and the device's
copy bandwidth, which gives each run's memory floor (bytes of the columns read once).

    python benchmarks/bench_gpu.py --out DIR                 # on a GPU
    python benchmarks/bench_gpu.py --sim-smoke --out /tmp/x  # dry run on the CUDA simulator

The timed region is ``pipeline.run(job)``: aggregation and result construction; ``prepare``
(validation, plan, category labels) is done once per source, outside it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WARP_AGGS = ("count", "count_cat")   # the aggregates whose large-grid kernel has a warp variant
TARGETS = {"count_1e9_ms": 20.0, "speedup_vs_cupy": 5.0, "mean_count_cat_vs_count": 3.0,
           "skewed_vs_uniform": 3.0}


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for results.json and results.md")
    p.add_argument("--sizes", default="1e8,1e9", help="point counts, comma-separated")
    p.add_argument("--runs", type=int, default=10, help="timed runs per configuration (median)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--cpu-size", default="1e8", help="points for the CPU-fallback baseline (0: skip)")
    p.add_argument("--ncat", type=int, default=8)
    p.add_argument("--sim-smoke", action="store_true",
                   help="tiny sizes on Numba's CUDA simulator (numpy for CuPy): checks the script only")
    a = p.parse_args()
    if a.sim_smoke:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        a.sizes, a.cpu_size, a.runs, a.warmup, a.width, a.height = "2000", "2000", 2, 0, 64, 36
    a.sizes = [int(float(s)) for s in a.sizes.split(",")]
    a.cpu_size = int(float(a.cpu_size))
    return a


class Timer:
    """Median milliseconds of ``fn`` over ``runs`` after ``warmup``: CUDA events on a GPU."""

    def __init__(self, xp, simulated):
        self.xp, self.simulated = xp, simulated

    def __call__(self, fn, runs, warmup):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(runs):
            if self.simulated:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
            else:
                start, stop = self.xp.cuda.Event(), self.xp.cuda.Event()
                start.record()
                fn()
                stop.record()
                stop.synchronize()
                times.append(self.xp.cuda.get_elapsed_time(start, stop))
        return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": runs}


def make_points(xp, n, skewed, ncat, w, h, seed=0, ordered=False):
    """float32 x, y in [0, 1), v, and int8 categories; skewed: 90% in a box of 1% of the pixels;
    ordered: the rows sorted by their pixel (row-major), so consecutive rows share pixels."""
    rs = xp.random.RandomState(seed)

    def rand():  # float32 straight from the generator on a GPU (no float64 temporaries)
        return rs.random_sample(n).astype(xp.float32) if xp.__name__ == "numpy" else \
            rs.random_sample(n, dtype=xp.float32)
    x, y = rand(), rand()
    if skewed:                       # a 10% x 10% box of the canvas holds 1% of its pixels
        hot = rand() < 0.9
        x = xp.where(hot, xp.float32(0.45) + xp.float32(0.1) * x, x)
        y = xp.where(hot, xp.float32(0.45) + xp.float32(0.1) * y, y)
        del hot
    v = rand()
    c = (rand() * ncat).astype(xp.int8)
    if ordered:
        order = xp.argsort(xp.minimum((y * h).astype(xp.int32), h - 1) * w
                           + xp.minimum((x * w).astype(xp.int32), w - 1))
        x, y, v, c = x[order], y[order], v[order], c[order]
        del order
    return {"x": x, "y": y, "v": v, "c": c}


def copy_bandwidth(xp, timer, nbytes):
    """Device-to-device copy rate in bytes/s, counting bytes read plus bytes written."""
    a = xp.ones(nbytes // 4, dtype=xp.float32)
    b = xp.empty_like(a)
    t = timer(lambda: xp.copyto(b, a), runs=10, warmup=2)
    return 2 * a.nbytes / (t["median_ms"] / 1e3)


def cupy_count(xp, d, w, h):
    """The baseline: linear pixel index with plain array operations, then bincount."""
    x, y = d["x"], d["y"]
    ix = xp.minimum((x * w).astype(xp.int32), w - 1)
    iy = xp.minimum((y * h).astype(xp.int32), h - 1)
    keep = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
    idx = xp.where(keep, iy * w + ix, w * h)
    return xp.bincount(idx, minlength=w * h + 1)[: w * h].reshape(h, w)


def main():
    a = parse()
    import numpy as np

    import gpu_render as ds
    from gpu_render import backend as B
    from gpu_render import pipeline
    from gpu_render.xp import to_host

    be = B.select("gpu")
    xp, sim = be.xp, be.simulated
    timer = Timer(xp, sim)
    desc = be.describe()
    w, h = a.width, a.height
    cvs = ds.Canvas(w, h, (0.0, 1.0), (0.0, 1.0))
    aggs = {"count": ds.count(), "mean": ds.mean("v"), "count_cat": ds.count_cat("c")}
    col_bytes = {"count": 8, "mean": 12, "count_cat": 9}
    bw = copy_bandwidth(xp, timer, (1 << 20) if sim else (2 << 30))
    out = {"device": desc.get("device"), "simulated": sim, "describe": desc, "host": platform.node(),
           "python": platform.python_version(), "canvas": [w, h], "runs": a.runs,
           "copy_bandwidth_GBps": bw / 1e9, "results": [], "targets": TARGETS}
    print(f"device: {desc.get('device')}  copy bandwidth {bw / 1e9:.0f} GB/s", flush=True)

    for n in a.sizes:
        layouts = [("uniform", False, False), ("skewed", True, False)]
        if n == a.sizes[0]:
            layouts.append(("sorted", False, True))
        for dist, skewed, ordered in layouts:
            d = make_points(xp, n, skewed, a.ncat, w, h, ordered=ordered)
            refs = {}    # each aggregate as the default kernel computed it
            for warp, impl in ((False, "gpu_render"), (True, "gpu_render_warp")):
                be.warp_aggregate = warp
                for name, agg in aggs.items():
                    if warp and name not in WARP_AGGS:
                        continue
                    job = pipeline.prepare(cvs, d, "x", "y", agg, backend="gpu")
                    t = timer(lambda: pipeline.run(job), a.runs, a.warmup)
                    res = to_host(pipeline.run(job).data)
                    if name == "count":
                        assert int(res.sum()) == n, f"{impl} count lost points"
                    first = refs.setdefault(name, res)
                    assert np.array_equal(res, first, equal_nan=True), f"{impl} {name} differs from the default kernel"
                    floor_ms = n * col_bytes[name] / bw * 1e3
                    row = dict(impl=impl, agg=name, n=n, dist=dist, **t,
                               gpoints_per_s=n / t["median_ms"] / 1e6, memory_floor_ms=floor_ms,
                               fraction_of_floor=floor_ms / t["median_ms"])
                    out["results"].append(row)
                    print(f"{n:>12,} {dist:8} {name + (' warp' if warp else ''):15} {t['median_ms']:9.3f} ms  "
                          f"{row['gpoints_per_s']:6.2f} Gpt/s  floor {floor_ms:.3f} ms", flush=True)
            be.warp_aggregate = False
            t = timer(lambda: cupy_count(xp, d, w, h), a.runs, a.warmup)
            base = to_host(cupy_count(xp, d, w, h))
            out["results"].append(dict(impl="cupy_bincount", agg="count", n=n, dist=dist, **t,
                                       same_as_gpu_render=bool(np.array_equal(base, refs["count"]))))
            print(f"{n:>12,} {dist:8} {'cupy count':10} {t['median_ms']:9.3f} ms", flush=True)
            _datashader_cudf(out, d, n, dist, w, h, timer, a)
            if n == a.cpu_size or (n == a.sizes[0] and a.cpu_size and a.cpu_size <= n):
                _cpu_baseline(out, d, a.cpu_size, dist, cvs, aggs, a)
            d = None  # free device memory before the next size
            if not sim:
                xp.get_default_memory_pool().free_all_blocks()
            _summarise(out, a.sizes)
            _write(out, a.out, quiet=True)   # partial results survive a time limit
    _write(out, a.out)


def _cpu_baseline(out, d, n, dist, cvs, aggs, a):
    from gpu_render import pipeline
    from gpu_render.xp import to_host
    host = {k: to_host(v[:n]) for k, v in d.items()}
    for name, agg in aggs.items():
        job = pipeline.prepare(cvs, host, "x", "y", agg, backend="cpu")
        pipeline.run(job)
        times = []
        for _ in range(max(3, a.runs // 2)):
            t0 = time.perf_counter()
            pipeline.run(job)
            times.append((time.perf_counter() - t0) * 1e3)
        out["results"].append(dict(impl="cpu_fallback", agg=name, n=n, dist=dist,
                                   median_ms=statistics.median(times), runs=len(times),
                                   threads=os.cpu_count()))
        print(f"{n:>12,} {dist:8} {'cpu ' + name:10} {statistics.median(times):9.3f} ms", flush=True)


def _datashader_cudf(out, d, n, dist, w, h, timer, a):
    try:
        import cudf
        import datashader
    except ImportError as exc:
        note = f"datashader+cuDF baseline: {exc}"
        if note not in out.setdefault("skipped", []):
            out["skipped"].append(note)
        return
    gdf = cudf.DataFrame({"x": d["x"], "y": d["y"]})
    cvs = datashader.Canvas(w, h, (0.0, 1.0), (0.0, 1.0))
    t = timer(lambda: cvs.points(gdf, "x", "y", datashader.count()), a.runs, a.warmup)
    out["results"].append(dict(impl="datashader_cudf", agg="count", n=n, dist=dist, **t))
    print(f"{n:>12,} {dist:8} {'ds+cudf':10} {t['median_ms']:9.3f} ms", flush=True)


def _find(out, **kw):
    for r in out["results"]:
        if all(r.get(k) == v for k, v in kw.items()):
            return r["median_ms"]
    return None


def _summarise(out, sizes):
    """Measured ratios against the issue's targets (reported, never asserted)."""
    s = {}
    big = max(sizes)
    for dist in ("uniform", "skewed"):
        c = _find(out, impl="gpu_render", agg="count", n=big, dist=dist)
        cp = _find(out, impl="cupy_bincount", n=big, dist=dist)
        s[f"{dist}_count_ms_at_{big:.0e}"] = c
        s[f"{dist}_speedup_vs_cupy"] = cp / c if c and cp else None
        s[f"{dist}_count_Gpoints_per_s"] = big / c / 1e6 if c else None
        for agg in ("mean", "count_cat"):
            m = _find(out, impl="gpu_render", agg=agg, n=big, dist=dist)
            s[f"{dist}_{agg}_vs_count"] = m / c if m and c else None
    for agg in ("count", "mean", "count_cat"):
        u = _find(out, impl="gpu_render", agg=agg, n=big, dist="uniform")
        k = _find(out, impl="gpu_render", agg=agg, n=big, dist="skewed")
        s[f"{agg}_skewed_vs_uniform"] = k / u if k and u else None
    for r in out["results"]:   # warp-aggregated kernel against the default, same data
        if r["impl"] == "gpu_render_warp":
            base = _find(out, impl="gpu_render", agg=r["agg"], n=r["n"], dist=r["dist"])
            s[f"{r['agg']}_{r['dist']}_{r['n']:.0e}_warp_speedup"] = base / r["median_ms"] if base else None
    out["summary"] = s


def _write(out, folder, quiet=False):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "results.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=2, default=str)
    os.replace(path + ".tmp", path)
    lines = [f"# GPU benchmark on {out['device']}" + (" (CUDA SIMULATOR: not a GPU result)" if out["simulated"] else ""),
             "", f"canvas {out['canvas'][0]}x{out['canvas'][1]}, median of {out['runs']} runs; "
             f"copy bandwidth {out['copy_bandwidth_GBps']:.0f} GB/s (read+write)", "",
             "| impl | agg | points | data | median ms | Gpoints/s | memory floor ms | of floor |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in out["results"]:
        gps = r["n"] / r["median_ms"] / 1e6
        floor = f"{r['memory_floor_ms']:.3f}" if "memory_floor_ms" in r else ""
        frac = f"{r['fraction_of_floor']:.0%}" if "fraction_of_floor" in r else ""
        lines.append(f"| {r['impl']} | {r['agg']} | {r['n']:.0e} | {r['dist']} | {r['median_ms']:.3f} "
                     f"| {gps:.2f} | {floor} | {frac} |")
    lines += ["", "Against the targets (measured ratios):", ""]
    lines += [f"- {k}: {v:.3g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in out["summary"].items()]
    lines += [f"- skipped: {s}" for s in out.get("skipped", [])]
    with open(os.path.join(folder, "results.md.tmp"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(os.path.join(folder, "results.md.tmp"), os.path.join(folder, "results.md"))
    if not quiet:
        print("\n".join(lines))


if __name__ == "__main__":
    main()

"""GPU check, sanity stage: every reduction on the GPU backend against the CPU backend.

10M points by default (NaN/inf coordinates and values, points on the range edges and outside,
three categories), at a shared-memory-sized and a large canvas, linear and log axes; integer
results must be equal, float results close (std/var: the same cells finite). Writes
``sanity.json`` and ``sanity.md`` to ``--out`` and exits 1 on any mismatch.

    python benchmarks/gpu_sanity.py --out DIR                 # on a GPU
    python benchmarks/gpu_sanity.py --rows 600 --large 80x60 --out DIR   # NUMBA_ENABLE_CUDASIM=1
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data(n, log, seed=11):
    rng = np.random.default_rng(seed)
    lo, hi = (0.01, 10.0) if log else (-2.0, 2.0)
    x = 10 ** rng.uniform(-2.2, 1.1, n) if log else rng.normal(0, 1.2, n)
    y = 10 ** rng.uniform(-2.2, 1.1, n) if log else rng.normal(0, 1.2, n)
    x[::37], y[::53] = np.nan, np.inf
    x[5::61], y[7::67] = hi, lo
    v = rng.normal(10, 3, n)
    v[::19], v[3::211] = np.nan, np.inf
    c = pd.Categorical.from_codes(rng.integers(0, 3, n), ["a", "b", "c"])
    return pd.DataFrame({"x": x, "y": y, "v": v, "c": c}), (lo, hi)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--rows", type=float, default=1e7)
    p.add_argument("--large", default="1920x1080", help="the canvas beyond shared memory, WxH")
    a = p.parse_args()
    import gpu_render as ds
    from gpu_render.xp import to_host
    reds = dict(count=ds.count(), count_v=ds.count("v"), any=ds.any(), sum=ds.sum("v"),
                mean=ds.mean("v"), min=ds.min("v"), max=ds.max("v"), std=ds.std("v"),
                var=ds.var("v"), first=ds.first("v"), last=ds.last("v"),
                count_cat=ds.count_cat("c"), by_mean=ds.by("c", ds.mean("v")))
    rows, bad = [], 0
    for log in (False, True):
        df, edges = data(int(a.rows), log)
        axis = "log" if log else "linear"
        for w, h in ((40, 30), tuple(int(v) for v in a.large.split("x"))):
            cvs = ds.Canvas(w, h, edges, edges, x_axis_type=axis, y_axis_type=axis)
            got = cvs.points(df, "x", "y", ds.summary(**reds), backend="gpu")
            ref = cvs.points(df, "x", "y", ds.summary(**reds), backend="cpu")
            for name in reds:
                g, c = to_host(got[name].data), np.asarray(ref[name].data)
                if c.dtype.kind in "iub":
                    ok = bool(np.array_equal(g, c))
                elif name in ("std", "var"):
                    ok = bool(np.array_equal(np.isfinite(g), np.isfinite(c)) and np.allclose(
                        np.where(np.isfinite(g), g, 0), np.where(np.isfinite(c), c, 0), rtol=1e-9, atol=1e-9))
                else:
                    ok = bool(np.allclose(g, c, rtol=1e-9, atol=1e-9, equal_nan=True))
                bad += not ok
                rows.append(dict(reduction=name, canvas=f"{w}x{h}", axis=axis, rows=len(df), equal=ok))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "sanity.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(a.out, "sanity.md"), "w") as f:
        f.write("| reduction | canvas | axis | rows | GPU equals CPU |\n|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['reduction']} | {r['canvas']} | {r['axis']} | {r['rows']:,} | {'yes' if r['equal'] else 'NO'} |\n")
    print(f"{len(rows) - bad} of {len(rows)} reduction results equal the CPU backend's")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

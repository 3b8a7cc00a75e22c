"""First-run compile cost: the three `gpu-render demo` images in a fresh process, from an empty
numba cache, with and without `gpu-render warm` (what `make` runs at install) before them.

Per image it records wall and CPU seconds (CPU seconds are the steadier figure on a shared
machine) and how many variants of the CPU ``aggregate`` kernel the process ended up with.
It deletes the numba cache files (*.nbi, *.nbc) under the source tree it imports from.

    python benchmarks/bench_first_run.py [--rounds 2] [--note "..."]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DEMO = """
import json, time
c0 = time.perf_counter()
import gpu_render as ds
from gpu_render.demo import make_frame
from gpu_render.render import render
df = make_frame(10_000_000)
out = {"import_and_data_wall_s": round(time.perf_counter() - c0, 2)}
for name, agg, kw in (("count", ds.count(), {"cmap": "fire"}), ("mean_val", ds.mean("val"), {"cmap": "bmy"}),
                      ("by_cat", ds.by("cat"), {})):
    t, c = time.perf_counter(), time.process_time()
    img = render(df, "x", "y", agg, 800, 600, x_range=(-5, 5), y_range=(-4, 4), backend="cpu", **kw)
    img.to_pil()
    out[name] = {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(time.process_time() - c, 2)}
from cpu_fallback import kernels as K
out["aggregate_variants"] = len(K.aggregate.signatures)
print(json.dumps(out))
"""


def clear_cache():
    for d, _, files in os.walk(ROOT):
        if ".venv" in d or ".git" in d:
            continue
        for f in files:
            if f.endswith((".nbi", ".nbc")):
                os.remove(os.path.join(d, f))


def fresh(cmd):
    t = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return done.stdout, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "first_run_run"))
    args = ap.parse_args()
    runs = []
    for _ in range(args.rounds):
        for warm in (False, True):
            clear_cache()
            row = {"warm_first": warm, "load": os.getloadavg()[0]}
            if warm:
                _, row["warm_wall_s"] = fresh([sys.executable, "-m", "gpu_render", "warm"])
            out, _ = fresh([sys.executable, "-c", DEMO])
            row.update(json.loads(out))
            print(json.dumps(row), flush=True)
            runs.append(row)
    with open(args.out + ".json", "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "note": args.note, "runs": runs}, f, indent=2)
    print(f"wrote {args.out}.json")


if __name__ == "__main__":
    main()

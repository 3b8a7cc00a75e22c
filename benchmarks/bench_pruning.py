"""Row-group pruning benchmark: zoomed renders of a Parquet file sorted by x read only the row
groups whose statistics meet the view.

For views of 100%, 10% and 1% of the x span, in the same run: ``Canvas.points`` on the file
(pruned), the same with pruning switched off (every row group read: the baseline), and
datashader over ``dask.dataframe.read_parquet`` of the same file. Also a file of the same rows
in random order, where no group can be skipped, to show the check costs nothing there. Counts
are checked equal across all three. Times are the best of ``--repeat`` after a warm-up, the
pruned and the full read alternating.
Results go to benchmarks/results/pruning.json and pruning.md.

    python benchmarks/bench_pruning.py [--rows 20000000] [--row-group 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

from timing import best, best_pair

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
W, H = 800, 600


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--rows", type=int, default=20_000_000)
    a.add_argument("--row-group", type=int, default=1_000_000)
    a.add_argument("--repeat", type=int, default=3)
    a.add_argument("--out", default=RESULTS)
    args = a.parse_args()

    import dask.dataframe as dd
    import datashader
    import pyarrow as pa
    import pyarrow.parquet as pq

    import gpu_render as ds
    from gpu_render.filetable import FileTable

    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0, 1, args.rows).astype(np.float32))
    y = rng.standard_normal(args.rows, dtype=np.float32)
    folder = tempfile.mkdtemp(prefix="bench_pruning_")
    files = {"sorted by x": os.path.join(folder, "sorted.parquet"),
             "random order": os.path.join(folder, "random.parquet")}
    pq.write_table(pa.table({"x": x, "y": y}), files["sorted by x"], row_group_size=args.row_group)
    order = rng.permutation(args.rows)
    pq.write_table(pa.table({"x": x[order], "y": y[order]}), files["random order"], row_group_size=args.row_group)
    del x, y, order

    prune = FileTable.pieces
    rows = []
    for layout, path in files.items():
        for share in (1.0, 0.1, 0.01):
            lo = 0.5 - share / 2
            xr, yr = (lo, lo + share), (-4.0, 4.0)
            cvs = ds.Canvas(W, H, xr, yr)

            def pruned_read():
                return cvs.points(path, "x", "y", ds.count())

            def full_read():   # the same render with pruning switched off
                FileTable.pieces = lambda self, where: None
                try:
                    return cvs.points(path, "x", "y", ds.count())
                finally:
                    FileTable.pieces = prune
            t_pruned, t_full = best_pair(pruned_read, full_read, args.repeat)
            pruned, full = pruned_read(), full_read()
            p = ds.profile(path, "x", "y", width=W, height=H, x_range=xr, y_range=yr)
            dcvs = datashader.Canvas(W, H, xr, yr)

            def datashader_dask():
                return dcvs.points(dd.read_parquet(path), "x", "y", datashader.count())
            t_ds = best(datashader_dask, args.repeat)
            ref = datashader_dask()
            same = bool(np.array_equal(pruned.data, full.data) and np.array_equal(pruned.data, ref.data))
            row = dict(layout=layout, view_share_of_x=share, rows=args.rows, rows_read=p.rows,
                       pruned_s=t_pruned, full_read_s=t_full, datashader_dask_s=t_ds,
                       speedup_vs_full_read=t_full / t_pruned, speedup_vs_datashader=t_ds / t_pruned,
                       counts_equal=same)
            rows.append(row)
            print(json.dumps(row), flush=True)
            assert same, "pruned, full-read and datashader counts differ"
    out = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "python": platform.python_version(),
           "rows": args.rows, "row_group": args.row_group, "canvas": [W, H], "repeat": args.repeat,
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pruning.json"), "w") as f:
        json.dump(out, f, indent=2)
    lines = [f"# Row-group pruning: {args.rows:,} float32 rows, row groups of {args.row_group:,}, "
             f"{W}x{H}", "", f"{out['machine']}, {out['when']}, best of {args.repeat}; counts equal "
             "across all three in every row.", "",
             "| file | view (share of x) | rows read | pruned s | full read s | datashader+dask s "
             "| vs full read | vs datashader |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['layout']} | {r['view_share_of_x']:.0%} | {r['rows_read']:,} | {r['pruned_s']:.3f} "
                     f"| {r['full_read_s']:.3f} | {r['datashader_dask_s']:.3f} | {r['speedup_vs_full_read']:.2f}x "
                     f"| {r['speedup_vs_datashader']:.2f}x |")
    with open(os.path.join(args.out, "pruning.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    for p in files.values():
        os.unlink(p)
    os.rmdir(folder)


if __name__ == "__main__":
    main()

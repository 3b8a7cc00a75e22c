"""gpu-render index: build a spatial index of a file, which zoomed renders read only in part."""
from __future__ import annotations

from . import _common as C

HELP = "sort a file's points in Z-order into a Parquet index that zoomed renders read only in part"


def add_arguments(p):
    p.add_argument("source", help="a .csv/.csv.gz/.parquet/.arrow file, or a Parquet dataset")
    p.add_argument("--x", required=True, help="x column (longitude with --geo)")
    p.add_argument("--y", required=True, help="y column (latitude with --geo)")
    p.add_argument("--geo", action="store_true",
                   help="x/y are longitude/latitude degrees (recorded in the manifest)")
    p.add_argument("--keep", type=lambda s: [c for c in s.split(",") if c], default=[],
                   metavar="COL[,COL...]", help="other columns to store beside x/y (values, categories)")
    p.add_argument("-o", "--output", required=True, help="the index folder to write")
    p.add_argument("--memory-limit", type=C.memory_size, default=None, metavar="SIZE")
    p.add_argument("--quiet", action="store_true", help="no progress bar, print nothing on success")


def run(args) -> int:
    from ..index import build

    m = build(args.source, args.x, args.y, args.output, geo=args.geo, keep=args.keep,
              memory_limit=args.memory_limit, progress=False if args.quiet else None)
    if not args.quiet:
        size = sum(f["bytes"] for f in m["files"])
        dropped = f", {m['dropped_rows']:,} rows without finite x/y left out" if m["dropped_rows"] else ""
        files = len(m["files"])
        print(f"wrote index {args.output} ({m['rows']:,} rows in {files} file{'s' if files != 1 else ''}, "
              f"{size / 2**20:.1f} MiB, {m['build']['seconds']:.1f} s{dropped})")
    return 0

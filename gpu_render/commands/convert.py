"""gpu-render convert: CSV to Parquet or Arrow IPC, for fast re-renders."""
from __future__ import annotations

import sys

from . import _common as C

HELP = "convert a CSV (or other file) to Parquet or Arrow IPC in bounded memory, atomically"


def add_arguments(p):
    p.add_argument("input", help="a .csv/.csv.gz/.parquet/.arrow file")
    p.add_argument("output", help="the .parquet or .arrow/.feather file to write")
    p.add_argument("--float32", action="store_true", help="store float64 columns as float32")
    p.add_argument("--columns", type=lambda s: [c for c in s.split(",") if c], default=None,
                   help="comma-separated columns to keep (default: all)")
    p.add_argument("--row-group-rows", type=C.positive_int, default=None,
                   help="rows per Parquet row group (default: about a million, within the memory limit)")
    p.add_argument("--memory-limit", type=C.memory_size, default=None, metavar="SIZE")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip and count malformed CSV rows")
    p.add_argument("--quiet", action="store_true", help="no progress bar, print nothing on success")


def run(args) -> int:
    from ..convert import convert

    info = convert(args.input, args.output, float32=args.float32, columns=args.columns,
                   memory_limit=args.memory_limit, skip_bad_rows=args.skip_bad_rows,
                   row_group_rows=args.row_group_rows, progress=False if args.quiet else None)
    if not args.quiet:
        extra = f", float32: {', '.join(info['float32'])}" if info["float32"] else ""
        if info["bad_rows"]:
            print(f"note: skipped {info['bad_rows']:,} malformed row(s)", file=sys.stderr)
        print(f"wrote {args.output} ({info['rows']:,} rows, {info['format']}, "
              f"{info['bytes'] / 2**20:.1f} MiB{extra})")
    return 0

"""gpu-render tiles: a file to a Web Mercator XYZ pyramid of PNG tiles."""
from __future__ import annotations

import sys
import time

from ..errors import RenderError
from . import _common as C

HELP = "write a Web Mercator XYZ pyramid of 256 px PNG tiles (DIR/{z}/{x}/{y}.png)"


def _max_zoom():
    from ..tiles import MAX_ZOOM
    return MAX_ZOOM


def add_arguments(p):
    p.add_argument("file", help="a .parquet/.csv/.csv.gz/.arrow/.feather file, a Parquet directory "
                                "or glob, or a `gpu-render index` directory")
    C.add_map_columns(p, index=True)
    p.add_argument("--agg", default="count",
                   help="count|any|sum:COL|mean:COL|min:COL|max:COL|std:COL|var:COL|first:COL|last:COL")
    zoom = C.int_in("zoom level", "zoom", 0, _max_zoom)
    p.add_argument("--min-zoom", type=zoom, default=0)
    p.add_argument("--max-zoom", type=zoom, default=8)
    C.add_shade_arguments(p, categories=False)
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--memory-limit", type=C.memory_size, default=None, metavar="SIZE",
                   help="memory for one block of a level and the file's chunks, e.g. 256MB "
                        "(default: min(1 GiB, 1/4 of free memory))")
    p.add_argument("--memory-mb", type=C.positive_int, default=None,
                   help="deprecated: --memory-limit in MiB")
    C.add_glyph_arguments(p)
    p.add_argument("-o", "--out-dir", required=True, help="folder for the tiles (created)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args) -> int:
    from .. import reductions
    from ..tiles import tiles

    C.view_columns(args)
    agg = reductions.parse(args.agg)
    limit = args.memory_limit
    if args.memory_mb is not None:
        if limit is not None:
            raise RenderError("give --memory-limit only: --memory-mb is its deprecated old name.")
        print("note: --memory-mb is deprecated; use --memory-limit (e.g. --memory-limit "
              f"{args.memory_mb}MiB).", file=sys.stderr)
        limit = args.memory_mb * 2**20
    t0 = time.perf_counter()
    reports = tiles(args.file, args.x, args.y, agg, out_dir=args.out_dir, min_zoom=args.min_zoom,
                    max_zoom=args.max_zoom, geo=args.geo, cmap=args.cmap, how=args.how,
                    backend=args.backend, progress=not args.quiet,
                    memory_limit=limit, hex_size=C.hex_size(args))
    if not args.quiet:
        n = sum(r.tiles_written for r in reports)
        dt = time.perf_counter() - t0
        print(f"wrote {n} tiles to {args.out_dir} in {dt:.2f} s ({n / dt:.1f} tiles/s), zoom "
              f"{args.min_zoom}..{args.max_zoom}")
    return 0

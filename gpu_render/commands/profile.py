"""gpu-render profile: where the time of a render goes, and how to make it faster."""
from __future__ import annotations

import json

from . import _common as C

HELP = "render a file without writing it and report time per stage, memory and the bottleneck"


def add_arguments(p):
    p.add_argument("file", help="a .parquet/.csv/.csv.gz/.arrow/.feather file, a Parquet directory or glob")
    C.add_view_arguments(p)
    C.add_shade_arguments(p)
    C.add_file_arguments(p)
    p.add_argument("--json", action="store_true", help="print the profile as JSON")


def run(args) -> int:
    from .. import reductions
    from ..colormaps import resolve_cmap
    from ..profiling import profile

    C.view_columns(args)
    agg = reductions.parse(args.agg)
    resolve_cmap(args.cmap)
    prof = profile(args.file, args.x, args.y, agg, width=args.width, height=args.height,
                   x_range=args.x_range, y_range=args.y_range, cmap=args.cmap, how=args.how,
                   geo=args.geo, backend=args.backend, **C.shade_options(args), **C.file_options(args))
    print(json.dumps(prof.to_dict(), indent=2) if args.json else prof.report())
    return 0

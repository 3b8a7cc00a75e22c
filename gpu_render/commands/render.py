"""gpu-render render: a file to a PNG in one command."""
from __future__ import annotations

import sys
import time

from . import _common as C

HELP = "render a Parquet, CSV or Arrow file to a PNG"


def add_arguments(p):
    p.add_argument("file", help="a .parquet/.csv/.csv.gz/.arrow/.feather file, a Parquet directory or glob")
    C.add_view_arguments(p)
    C.add_shade_arguments(p)
    p.add_argument("-o", "--output", required=True, help="the PNG to write")
    C.add_glyph_arguments(p)
    C.add_file_arguments(p)
    p.add_argument("--png-level", type=C.int_in("whole number", "--png-level", 0, 9), default=None,
                   metavar="0-9", help="PNG (zlib) compression: 0 none, 9 smallest; default 2, fast")
    p.add_argument("--profile", action="store_true",
                   help="print time per stage, peak memory, rows/s and what limits the speed")
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--scheduler", metavar="ADDRESS", default=None,
                      help="aggregate on this Dask scheduler's workers (e.g. tcp://host:8786)")
    dask.add_argument("--workers", type=C.positive_int, metavar="N", default=None,
                      help="aggregate on a local Dask cluster of N worker processes started for this call")


def run(args) -> int:
    from .. import png, reductions
    from ..colormaps import resolve_cmap
    from ..profiling import NO_PROFILE, Profile
    from ..render import render_pixels

    out = C.check_output(args.output)
    C.view_columns(args)
    agg = reductions.parse(args.agg)
    resolve_cmap(args.cmap)  # an unknown colormap fails before any data is read
    prof = Profile().start(args.backend) if args.profile else None
    t0 = time.perf_counter()
    try:
        with _scheduler(args) as scheduler:
            pixels, grid = render_pixels(args.file, args.x, args.y, agg, args.width, args.height,
                                         args.x_range, args.y_range, cmap=args.cmap, how=args.how,
                                         geo=args.geo, backend=args.backend, scheduler=scheduler,
                                         profile=prof, shade_kwargs=C.shade_options(args),
                                         hex_size=C.hex_size(args),
                                         **C.file_options(args))
        with (prof or NO_PROFILE).stage("encode"):
            png.write(pixels, out, png.LEVEL if args.png_level is None else args.png_level)
    finally:
        if prof is not None:
            prof.stop()
    if not args.quiet:
        for note in grid.attrs.get("notes", []):
            print(f"note: {note}", file=sys.stderr)
        print(f"wrote {out} ({args.width}x{args.height}, {grid.backend} backend, "
              f"{time.perf_counter() - t0:.2f} s)")
    if prof is not None:
        print(prof.report())
    return 0


def _scheduler(args):
    """The Dask scheduler for --scheduler/--workers (a local cluster lives for the call only)."""
    import contextlib
    if args.workers is not None:
        from ..dask_scheduler import local_client
        return local_client(args.workers)
    return contextlib.nullcontext(args.scheduler)

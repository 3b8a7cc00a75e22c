"""gpu-render serve: a local web map of a file, re-aggregated at full detail for every view."""
from __future__ import annotations

from . import _common as C

HELP = "serve a pannable, zoomable web map of a file (tiles aggregated on demand)"


def add_arguments(p):
    p.add_argument("file", help="a .parquet/.csv/.arrow file, or a directory of Parquet files")
    C.add_map_columns(p)
    p.add_argument("--agg", action="append", default=None, metavar="SPEC",
                   help="a reduction offered in the viewer (repeatable): count, any, sum:COL, mean:COL, "
                        "min:COL, max:COL, std:COL, var:COL; default: count")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=C.int_in("port number", "port", 0, 65535), default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=C.positive_int, default=8, help="request threads (default 8)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another host name the browser may use for this server (repeatable); "
                        "loopback names and --host are always allowed, other names get 403")
    p.add_argument("--follow", action="store_true",
                   help="FILE is a directory receiving Parquet files: re-index when files appear")
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")
    C.add_glyph_arguments(p)   # what the viewer starts with (it has a points/hexagons toggle)


def run(args) -> int:
    import sys

    from .. import reductions
    from ..errors import RenderError
    from ..server import is_loopback, make_server

    size = C.hex_size(args)    # (its width is checked before the index is built)
    specs = args.agg or ["count"]
    reds = {s: reductions.parse(s) for s in specs}
    if args.workers > 256:
        raise RenderError(f"--workers must be at most 256, got {args.workers}.")
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}, which is reachable from other machines; the "
              "server has no authentication.", file=sys.stderr)
    server = make_server(args.file, args.x, args.y, reds, geo=args.geo, host=args.host,
                         port=args.port, backend=args.backend, follow=args.follow,
                         workers=args.workers, hosts=args.allow_host, glyph=args.glyph,
                         hex_size=size)
    host, port = server.server_address[:2]
    print(f"serving {args.file} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

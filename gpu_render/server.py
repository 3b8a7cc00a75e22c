"""A local tile server: a pannable, zoomable map of the data, re-aggregated at full detail.

``/`` is the viewer (``gpu_render/static``, no CDN). ``/tiles/{z}/{x}/{y}.png`` are 256 px tiles
from a ``TileIndex`` (204 when a tile is empty), shaded with one colour scaling per zoom level;
``glyph=hex&size=N`` asks any route for hexagons N px wide (``hexindex``: the tiles of ``tiles
--glyph hex``); a request without them gets the server's ``glyph``/``hex_size``;
``/api/meta``, ``/api/scale`` (colour-bar values) and ``/api/value`` (the value under the cursor)
are JSON; ``/render.png`` renders one arbitrary view (at most ``MAX_SIDE`` px per side).

Safety: only exact routes are served (static files come from a fixed list, never from a path),
every parameter is checked and answered with 4xx (too many query fields: 400; other methods than
GET/HEAD: 405 with ``Allow``), the ``Host`` header must name the server (loopback names, or the
host it was started for: DNS rebinding gets 403), and the default host is loopback. Each
connection has its own thread from a bounded pool (``max_connections``; beyond it the answer is
503), so idle keep-alive connections never delay others; at most ``workers`` requests aggregate
at once. A request must arrive whole within ``REQUEST_TIMEOUT`` seconds of the connection being
ready for it (idle keep-alive, a partial header, a TLS handshake or a bare line are cut then),
and a stalled send gives up after ``SEND_TIMEOUT``.

With ``follow=True`` and a directory as the source, new or changed Parquet files are noticed
(polled) and the index is rebuilt in the background; files that cannot be read yet are skipped
and retried, and ``/api/meta``'s ``follow_status`` names them. The page polls ``/api/meta`` and
refreshes when its ``version`` changes.

The pieces: ``tileservice`` (what is answered, no HTTP), ``httpserver`` (HTTP: connections,
routes, the watchdog, the ``Host`` check), ``lrucache`` (the bounded caches); this module puts
them together.
"""
from __future__ import annotations

import socket

from .errors import RenderError
from .httpserver import TileHTTPServer, allowed_hosts
from .tileservice import TileService

__all__ = ["TileService", "TileHTTPServer", "allowed_hosts", "is_loopback", "make_server"]


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise RenderError(f"cannot resolve host {host!r}.") from None
    import ipaddress
    return all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def make_server(source, x, y, reductions, *, geo=False, host="127.0.0.1", port=8000,
                backend="auto", follow=False, workers=8, poll_seconds=2.0, log=print,
                max_points=1_000_000, hosts=(), glyph="points", hex_size=None):
    """Build the index and a ready (not yet serving) ``TileHTTPServer``; port 0 picks a free one.
    ``hosts``: more host names the ``Host`` header may give (beyond loopback names and ``host``);
    ``glyph``/``hex_size``: what the viewer starts with and a request leaves out ('points', or
    'hex' with hexagons ``hex_size`` px wide, default 12)."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise RenderError(f"port must be from 0 to 65535, got {port!r}.")
    if not isinstance(workers, int) or not 1 <= workers <= 256:
        raise RenderError(f"workers must be from 1 to 256, got {workers!r}.")
    service = TileService(source, x, y, reductions, geo=geo, backend=backend, follow=follow,
                          poll_seconds=poll_seconds, log=log, max_points=max_points, glyph=glyph,
                          hex_size=hex_size)
    try:
        return TileHTTPServer((host, port), service, workers=workers, hosts=hosts)
    except OSError as exc:
        service.stop()
        raise RenderError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.") from None

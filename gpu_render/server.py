"""A local tile server: a pannable, zoomable map of the data, re-aggregated at full detail.

``/`` is the viewer (``gpu_render/static``, no CDN). ``/tiles/{z}/{x}/{y}.png`` are 256 px tiles
from a ``TileIndex`` (204 when a tile is empty), shaded with one colour scaling per zoom level;
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
"""
from __future__ import annotations

import collections
import glob
import json
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import png
from .errors import RenderError
from .levelscale import HOWS
from .tilemath import MAX_ZOOM, TILE, TILE_PNG_LEVEL, WORLD, check_tile

REQUEST_TIMEOUT = 10.0     # seconds for a whole request header, idle keep-alive included
SEND_TIMEOUT = 30.0        # seconds any one socket read/write may block
MAX_QUERY_FIELDS = 20
MAX_CONNECTIONS = 256
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CMAPS = ("fire", "bmy", "bgy", "kbc", "kgy", "blues", "gray", "rainbow", "coolwarm", "bkr")
MAX_SIDE = 4096
_TILE_RE = re.compile(r"^/tiles/(\d{1,3})/(\d{1,9})/(\d{1,9})\.png$")
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".txt": "text/plain"}


class BadRequest(Exception):
    """A request the server answers with a 4xx status and a one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _static_files():
    """{url path: (bytes, content type)} of the packaged viewer, read once."""
    out = {}
    root = resources.files("gpu_render") / "static"
    for entry in root.iterdir():
        ext = os.path.splitext(entry.name)[1]
        if entry.is_file() and ext in _STATIC_TYPES:
            out["/static/" + entry.name] = (entry.read_bytes(), _STATIC_TYPES[ext])
    out["/"] = out["/static/index.html"]
    return out


class _LRU:
    """A thread-safe LRU cache bounded by total size (``size(value)`` bytes)."""

    def __init__(self, max_bytes, size=len):
        self.max_bytes, self.size = max_bytes, size
        self.data = collections.OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return True, self.data[key]
            return False, None

    def put(self, key, value):
        n = self.size(value)
        with self.lock:
            if key in self.data:
                return
            self.data[key] = value
            self.used += n
            while self.used > self.max_bytes and self.data:
                _, old = self.data.popitem(last=False)
                self.used -= self.size(old)

    def clear(self):
        with self.lock:
            self.data.clear()
            self.used = 0


def _png_bytes(img) -> bytes:
    buf = BytesIO()
    png.encode(img.data, buf, TILE_PNG_LEVEL)
    return buf.getvalue()


class TileService:
    """Everything the HTTP handler calls: tiles, scales, values, metadata. No HTTP in here."""

    def __init__(self, source, x, y, reductions, *, geo=False, backend="auto", follow=False,
                 poll_seconds=2.0, cache_bytes=128 * 2**20, max_points=1_000_000, log=print):
        self.source, self.x, self.y, self.geo, self.backend = source, x, y, geo, backend
        self.reductions = dict(reductions)
        self.max_points = max_points
        self.log = log
        self.version = 0
        self.index = None
        self.png_cache = _LRU(cache_bytes, size=lambda v: len(v) if v else 64)
        self.agg_cache = _LRU(256, size=lambda v: 1)
        self._files = None
        self.follow_status = {"skipped": [], "error": None}   # shown by the page (--follow)
        self._rebuild_lock = threading.Lock()
        self.requests = collections.deque(maxlen=10_000)   # recent request paths, for tests/logs
        self.follow = bool(follow)
        if self.follow and not (isinstance(source, (str, os.PathLike)) and os.path.isdir(source)):
            raise RenderError("follow needs a directory of Parquet files as the source.")
        self._build()
        self._stop = threading.Event()
        if self.follow:
            self.poll_seconds = poll_seconds
            threading.Thread(target=self._watch, daemon=True, name="gpu-render-follow").start()

    # ------------------------------------------------------------------ data
    def _snapshot(self):
        return sorted((p, os.path.getsize(p), os.path.getmtime(p))
                      for p in glob.glob(os.path.join(os.fspath(self.source), "*.parquet")))

    def _build(self):
        from .tileindex import TileIndex
        src = self.source
        if self.follow:
            files = self._snapshot()
            if not files:
                raise RenderError(f"no .parquet files in {self.source} yet.")
            src, skipped = _read_parquet_files([p for p, _, _ in files],
                                               [self.x, self.y, *_value_columns(self.reductions)])
            self._files = files
            self.follow_status = {"skipped": skipped, "error": None}
            for name, why in skipped:
                self.log(f"follow: skipped {name} for now ({why})")
            if src is None:
                raise RenderError(f"none of the {len(files)} .parquet file(s) in {self.source} can be "
                                  f"read yet ({skipped[0][0]}: {skipped[0][1]}).")
        t0 = time.perf_counter()
        index = TileIndex(src, self.x, self.y, self.reductions, geo=self.geo, backend=self.backend,
                          max_points=self.max_points)
        self.index = index
        self.version += 1
        self.png_cache.clear()
        self.agg_cache.clear()
        self.log(f"indexed {index.rows:,} rows in {time.perf_counter() - t0:.2f} s "
                 f"(version {self.version}, {index.nbytes / 2**20:.0f} MiB)")

    def _watch(self):
        """Poll the folder for ever: a file that cannot be read (half-written, corrupt) is skipped
        and retried at the next change, and no error ends the watch; the page is told through
        ``/api/meta``'s ``follow_status``."""
        while not self._stop.wait(self.poll_seconds):
            try:
                if self._snapshot() != self._files:
                    with self._rebuild_lock:
                        self._build()
            except Exception as exc:  # noqa: BLE001 - keep watching whatever one rebuild hit
                self._files = self._snapshot_or_none()
                message = str(exc) if isinstance(exc, RenderError) else f"{type(exc).__name__}: {exc}"
                self.follow_status = dict(self.follow_status, error=message)
                self.log(f"follow: {message}")

    def _snapshot_or_none(self):
        try:
            return self._snapshot()
        except OSError:
            return None

    def stop(self):
        self._stop.set()

    # ------------------------------------------------------------------ parameters
    def params(self, query):
        agg = query.get("agg", [next(iter(self.reductions))])[0]
        cmap = query.get("cmap", ["fire"])[0]
        how = query.get("how", ["eq_hist"])[0]
        if agg not in self.reductions:
            raise BadRequest(400, f"unknown reduction {agg!r}; use one of {', '.join(self.reductions)}.")
        if cmap not in CMAPS:
            raise BadRequest(400, f"unknown colormap {cmap!r}; use one of {', '.join(CMAPS)}.")
        if how not in HOWS:
            raise BadRequest(400, f"unknown how {how!r}; use one of {', '.join(HOWS)}.")
        return agg, cmap, how

    @staticmethod
    def tile_address(z, x, y):
        try:
            return check_tile(int(z), int(x), int(y))
        except (RenderError, ValueError) as exc:
            raise BadRequest(400, str(exc)) from None

    # ------------------------------------------------------------------ answers
    def tile_png(self, z, x, y, agg, cmap, how):
        """PNG bytes of a tile, or None when it is empty."""
        key = (self.version, z, x, y, agg, cmap, how)
        hit, png = self.png_cache.get(key)
        if hit:
            return png
        index = self.index
        img, tile_agg = index.tile_image(z, x, y, agg, cmap=cmap, how=how)
        self.agg_cache.put((self.version, z, x, y, agg), tile_agg)
        png = None if img is None else _png_bytes(img)
        self.png_cache.put(key, png)
        return png

    def value(self, z, mx, my, agg):
        """The aggregate value of the pixel at zoom ``z`` holding Web Mercator (mx, my)."""
        if not (-WORLD <= mx <= WORLD and -WORLD <= my <= WORLD):
            return {"value": None, "inside": False}
        n = 1 << z
        size = 2 * WORLD / n
        tx = min(int((mx + WORLD) / size), n - 1)
        ty = min(int((WORLD - my) / size), n - 1)
        key = (self.version, z, tx, ty, agg)
        hit, tile = self.agg_cache.get(key)
        if not hit:
            tile = self.index.tile_agg(z, tx, ty, agg)
            self.agg_cache.put(key, tile)
        col = min(int((mx + WORLD) / size * TILE) - tx * TILE, TILE - 1)
        row = min(int((WORLD - my) / size * TILE) - ty * TILE, TILE - 1)
        v = tile.data[TILE - 1 - row, col]
        v = v.item() if hasattr(v, "item") else v
        if isinstance(v, float) and v != v:
            v = None
        if v is not None and not isinstance(v, bool) and float(v) == 0 and tile.dtype.kind == "u":
            v = 0
        return {"value": v, "inside": True, "tile": [z, tx, ty], "pixel": [col, row]}

    def scale(self, z, agg, cmap, how):
        import colorcet
        sc = self.index.scale(z, agg, how)
        pal = colorcet.palette[cmap]
        colors = [pal[int(i)] for i in np.linspace(0, len(pal) - 1, 32)]
        return {"zoom": z, "agg": agg, "how": how, "cmap": cmap, "colors": colors,
                "ticks": sc.ticks(5), "span": None if sc.empty else [float(v) for v in sc.span]}

    def meta(self):
        from .mercator import meters_to_lnglat
        idx = self.index
        (x0, x1), (y0, y1) = idx.bounds
        lon, lat = meters_to_lnglat([x0, x1], [y0, y1])
        return {"version": self.version, "follow": self.follow, "reductions": list(self.reductions),
                "cmaps": list(CMAPS), "hows": list(HOWS), "max_zoom": MAX_ZOOM, "tile_size": TILE,
                "bounds_m": [x0, y0, x1, y1], "bounds_lnglat": [float(lon[0]), float(lat[0]),
                                                             float(lon[1]), float(lat[1])],
                "geo": self.geo, "index": idx.describe(),
                "follow_status": {"skipped": [f"{n}: {why}" for n, why in self.follow_status["skipped"]],
                                  "error": self.follow_status["error"]}}

    def render_png(self, query, agg, cmap, how):
        """One view of ``width`` x ``height`` px over ``bbox=x0,y0,x1,y1`` (metres)."""
        from .canvas import Canvas
        from .pipeline import finalize
        from .plan import make_plan
        from . import transfer_functions as tf
        try:
            w, h = int(query.get("width", ["800"])[0]), int(query.get("height", ["600"])[0])
            bbox = [float(v) for v in query["bbox"][0].split(",")]
        except (KeyError, ValueError):
            raise BadRequest(400, "render.png needs bbox=x0,y0,x1,y1 and whole-number width/height.") from None
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise BadRequest(400, f"width and height must be from 1 to {MAX_SIDE} pixels.")
        if len(bbox) != 4 or not all(np.isfinite(bbox)) or bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
            raise BadRequest(400, "bbox must be four finite numbers x0,y0,x1,y1 with x0<x1, y0<y1.")
        idx = self.index
        cvs = Canvas(w, h, (bbox[0], bbox[2]), (bbox[1], bbox[3]))
        from .axes import Viewport
        red, _ = idx.outputs[agg]
        plan = make_plan(Viewport(w, h, cvs.x_range, cvs.y_range), "x", "y", {None: red}, {})
        out = finalize(plan, idx.aggregate(plan), idx.backend)
        return _png_bytes(tf.shade(out, cmap=cmap, how=how))


def _value_columns(reductions):
    return list(dict.fromkeys(c for r in reductions.values() for c in r.columns()))


def _read_parquet_files(paths, columns):
    """(one Arrow table of the files that read, or None; [(name, why)] of those that do not:
    half-written, corrupt, or without the columns), so one bad file never hides the others."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    tables, skipped = [], []
    for p in paths:
        try:
            tables.append(pq.read_table(p, columns=columns))
        except (OSError, pa.ArrowException, ValueError) as exc:
            why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            skipped.append((os.path.basename(p), why))
    if not tables:
        return None, skipped
    if len(tables) == 1:
        return tables[0], skipped
    try:
        return pa.concat_tables(tables, promote_options="default"), skipped
    except pa.ArrowException as exc:
        raise RenderError(f"the .parquet files do not share one schema: {exc}") from None


class _Handler(BaseHTTPRequestHandler):
    server_version = "gpu-render"
    protocol_version = "HTTP/1.1"
    timeout = SEND_TIMEOUT                  # socket timeout of every read and write

    def log_message(self, fmt, *args):      # the service keeps its own request log
        pass

    def handle_one_request(self):
        """One request, which must arrive whole within ``REQUEST_TIMEOUT`` (the watchdog closes
        the connection otherwise: slow or partial headers, idle keep-alive, non-HTTP bytes)."""
        self.server.watchdog.arm(self.connection, REQUEST_TIMEOUT)
        try:
            super().handle_one_request()
        except OSError:              # cut by the watchdog, or the peer went away
            self.close_connection = True
        finally:
            self.server.watchdog.disarm(self.connection)

    def parse_request(self):
        ok = super().parse_request()
        self.server.watchdog.disarm(self.connection)    # the header is in: the answer may take time
        if ok and self.request_version == "HTTP/0.9":
            self.send_error(400, "HTTP/0.9 requests are not served")
            return False
        return ok

    def send_error(self, code, message=None, explain=None):
        """Errors found by the standard library (bad request line, unknown method) as one-line
        JSON; an unsupported method is 405 with ``Allow`` (not 501)."""
        self.close_connection = True     # the rest of the connection (e.g. a body) is not read
        if code == 501:
            code, message = 405, f"method {self.command!r} is not allowed; use GET or HEAD."
        if self.request_version == "HTTP/0.9" or not hasattr(self, "command") or self.command is None:
            self.request_version, self.command = "HTTP/1.1", "GET"   # answer with a status line
        try:
            self._json({"error": message or "bad request."}, code,
                       {"Allow": "GET, HEAD", "Connection": "close"} if code == 405 else
                       {"Connection": "close"})
        except OSError:
            pass

    def _send(self, status, body, ctype, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data, status=200, extra=None):
        self._send(status, json.dumps(data).encode(), "application/json",
                   {"Cache-Control": "no-store", **(extra or {})})

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        svc = self.server.service
        svc.requests.append(self.path)
        try:
            self._route(svc)
        except BadRequest as exc:
            self._json({"error": str(exc)}, exc.status)
        except RenderError as exc:
            self._json({"error": str(exc)}, 400)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - one bad request must not take the server down
            self.server.service.log(f"error serving {self.path!r}: {type(exc).__name__}: {exc}")
            try:
                self._json({"error": "internal error"}, 500)
            except OSError:
                pass

    def _route(self, svc):
        if len(self.path) > 2048:
            raise BadRequest(414, "the request line is too long.")
        self.server.check_host(self.headers.get("Host"))
        parts = urlsplit(self.path)
        try:
            query = parse_qs(parts.query, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            raise BadRequest(400, f"too many query parameters (at most {MAX_QUERY_FIELDS}).") from None
        path = parts.path
        static = self.server.static
        if path in static:
            body, ctype = static[path]
            return self._send(200, body, ctype, {"Cache-Control": "no-cache"})
        with self.server.busy:      # at most ``workers`` requests compute at once
            return self._answer(svc, path, query)

    def _answer(self, svc, path, query):
        m = _TILE_RE.match(path)
        if m:
            z, x, y = svc.tile_address(*m.groups())
            agg, cmap, how = svc.params(query)
            png = svc.tile_png(z, x, y, agg, cmap, how)
            if png is None:
                return self._send(204, b"", "image/png", {"Cache-Control": "max-age=300"})
            return self._send(200, png, "image/png", {"Cache-Control": "max-age=300"})
        if path.startswith("/tiles/"):
            raise BadRequest(400 if path.endswith(".png") and ".." not in path else 404,
                             "tiles are at /tiles/{z}/{x}/{y}.png with whole-number z, x, y.")
        if path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        if path == "/api/meta":
            return self._json(svc.meta())
        if path == "/api/scale":
            z = _int_param(query, "z", 0, MAX_ZOOM)
            return self._json(svc.scale(z, *svc.params(query)))
        if path == "/api/value":
            z = _int_param(query, "z", 0, MAX_ZOOM)
            mx, my = _float_param(query, "x"), _float_param(query, "y")
            agg, _, _ = svc.params(query)
            return self._json(svc.value(z, mx, my, agg))
        if path == "/render.png":
            agg, cmap, how = svc.params(query)
            return self._send(200, svc.render_png(query, agg, cmap, how), "image/png")
        raise BadRequest(404, f"nothing at {path[:100]!r}.")


def _int_param(query, name, lo, hi):
    try:
        v = int(query[name][0])
    except (KeyError, ValueError):
        raise BadRequest(400, f"parameter {name} must be a whole number.") from None
    if not lo <= v <= hi:
        raise BadRequest(400, f"parameter {name}={v} is outside {lo}..{hi}.")
    return v


def _float_param(query, name):
    try:
        v = float(query[name][0])
    except (KeyError, ValueError):
        raise BadRequest(400, f"parameter {name} must be a number.") from None
    if not np.isfinite(v):
        raise BadRequest(400, f"parameter {name} must be finite.")
    return v


class _Watchdog:
    """Closes connections whose deadline passed (one thread for all): ``arm(sock, seconds)``
    before reading a request, ``disarm(sock)`` once its header is in."""

    def __init__(self):
        self.deadlines = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="gpu-render-watchdog").start()

    def arm(self, sock, seconds):
        with self.lock:
            self.deadlines[sock] = time.monotonic() + seconds

    def disarm(self, sock):
        with self.lock:
            self.deadlines.pop(sock, None)

    def _run(self):
        while not self.stopped.wait(0.25):
            now = time.monotonic()
            with self.lock:
                late = [s for s, t in self.deadlines.items() if t <= now]
                for s in late:
                    del self.deadlines[s]
            for s in late:
                try:
                    s.shutdown(socket.SHUT_RDWR)    # wakes the blocked read with EOF / an error
                except OSError:
                    pass

    def stop(self):
        self.stopped.set()


def _host_name(header):
    """The host of a ``Host`` header, lower case, without port or IPv6 brackets."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def allowed_hosts(host):
    """Host names a server bound to ``host`` answers to: loopback names, ``host`` itself, and
    for a wildcard address (0.0.0.0, ::) any IP address (DNS rebinding needs a name)."""
    names = set(LOOPBACK_NAMES) | {_host_name(host)}
    return frozenset(names), host in ("", "0.0.0.0", "::")


class TileHTTPServer(HTTPServer):
    """``HTTPServer`` giving each connection a thread from a bounded pool; a semaphore lets at
    most ``workers`` requests aggregate and shade at once."""

    daemon_threads = True
    request_queue_size = 1024      # listen backlog: bursts of connections wait in the kernel

    def __init__(self, address, service, workers=8, max_connections=MAX_CONNECTIONS, hosts=()):
        self.service = service
        self.static = _static_files()
        self.pool = ThreadPoolExecutor(max_workers=max_connections, thread_name_prefix="gpu-render-http")
        self.slots = threading.BoundedSemaphore(max_connections)
        self.busy = threading.BoundedSemaphore(workers)
        names, any_ip = allowed_hosts(address[0])
        self.hosts, self.any_ip = names | {_host_name(h) for h in hosts}, any_ip
        self.watchdog = _Watchdog()
        super().__init__(address, _Handler)

    def check_host(self, header):
        """403 unless the ``Host`` header names this server (no header: an HTTP/1.0 client)."""
        if header is None:
            return
        name = _host_name(header)
        if name in self.hosts:
            return
        if self.any_ip:
            import ipaddress
            try:
                ipaddress.ip_address(name)
                return
            except ValueError:
                pass
        raise BadRequest(403, f"this server does not answer for host {header[:100]!r}; "
                              f"use http://{self.server_address[0]}:{self.server_address[1]}/.")

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            finally:
                self.shutdown_request(request)
            return
        self.pool.submit(self._work, request, client_address)

    def _work(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self.slots.release()

    def server_close(self):
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.watchdog.stop()
        self.service.stop()


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise RenderError(f"cannot resolve host {host!r}.") from None
    import ipaddress
    return all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def make_server(source, x, y, reductions, *, geo=False, host="127.0.0.1", port=8000,
                backend="auto", follow=False, workers=8, poll_seconds=2.0, log=print,
                max_points=1_000_000, hosts=()):
    """Build the index and a ready (not yet serving) ``TileHTTPServer``; port 0 picks a free one.
    ``hosts``: more host names the ``Host`` header may give (beyond loopback names and ``host``)."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise RenderError(f"port must be from 0 to 65535, got {port!r}.")
    if not isinstance(workers, int) or not 1 <= workers <= 256:
        raise RenderError(f"workers must be from 1 to 256, got {workers!r}.")
    service = TileService(source, x, y, reductions, geo=geo, backend=backend, follow=follow,
                          poll_seconds=poll_seconds, log=log, max_points=max_points)
    try:
        return TileHTTPServer((host, port), service, workers=workers, hosts=hosts)
    except OSError as exc:
        service.stop()
        raise RenderError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.") from None

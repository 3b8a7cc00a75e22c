"""The tile server's HTTP side: ``TileHTTPServer`` (one thread per connection from a bounded pool, a
header watchdog, the ``Host`` check) and its request handler, which routes each URL to the
``TileService``. The routes and the safety rules are described in ``server``.
"""
from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .errors import RenderError
from .tilemath import MAX_ZOOM
from .tileservice import BadRequest

REQUEST_TIMEOUT = 10.0     # seconds for a whole request header, idle keep-alive included
SEND_TIMEOUT = 30.0        # seconds any one socket read/write may block
MAX_QUERY_FIELDS = 20
MAX_CONNECTIONS = 256
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_TILE_RE = re.compile(r"^/tiles/(\d{1,3})/(\d{1,9})/(\d{1,9})\.png$")
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".txt": "text/plain"}


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
            png = svc.tile_png(z, x, y, agg, cmap, how, svc.hex_size_of(query))
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
            return self._json(svc.scale(z, *svc.params(query), svc.hex_size_of(query)))
        if path == "/api/value":
            z = _int_param(query, "z", 0, MAX_ZOOM)
            mx, my = _float_param(query, "x"), _float_param(query, "y")
            agg, _, _ = svc.params(query)
            return self._json(svc.value(z, mx, my, agg, svc.hex_size_of(query)))
        if path == "/render.png":
            agg, cmap, how = svc.params(query)
            return self._send(200, svc.render_png(query, agg, cmap, how, svc.hex_size_of(query)),
                              "image/png")
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

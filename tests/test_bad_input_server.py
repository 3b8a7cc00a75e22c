"""Hostile HTTP against the tile server, on 127.0.0.1 only: stalled and idle connections,
non-HTTP bytes, too many fields, other methods, foreign Host headers, absurd views, infinities,
and a followed folder receiving a half-written file. Every answer is a status and one sentence;
the server keeps serving."""
import http.client
import json
import socket
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_render as gr
from gpu_render import httpserver as H
from gpu_render import server as S
from gpu_render.server import make_server

HOST = "127.0.0.1"


def _points(n=3000, seed=7, inf=False):
    rng = np.random.default_rng(seed)
    v = rng.random(n)
    if inf:
        v[:3] = [np.inf, -np.inf, np.inf]
    return {"lon": rng.uniform(-170, 170, n), "lat": rng.uniform(-60, 60, n), "v": v}


def _serve(source, **kw):
    kw.setdefault("log", lambda *_: None)
    srv = make_server(source, "lon", "lat", {"count": gr.count(), "mean:v": gr.mean("v")},
                      geo=True, host=HOST, port=0, **kw)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setattr(H, "REQUEST_TIMEOUT", 1.0)


@pytest.fixture
def server(short_timeout):
    srv = _serve(_points(), workers=2)
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method, path, headers=None, timeout=10):
    conn = http.client.HTTPConnection(HOST, srv.server_address[1], timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def one_sentence(body):
    msg = json.loads(body)["error"]
    assert msg.endswith(".") and "\n" not in msg and "Traceback" not in msg
    return msg


# --------------------------------------------------------------------------- 11: connections

def test_idle_keepalive_connections_do_not_stall_another_request(server):
    idle = []
    try:
        for _ in range(12):      # more than the workers: browsers keep connections open
            c = http.client.HTTPConnection(HOST, server.server_address[1], timeout=10)
            c.request("GET", "/api/meta")
            assert c.getresponse().read()
            idle.append(c)
        # a socket timeout bounds the wait: the answer must come while the others sit idle
        assert request(server, "GET", "/api/meta", timeout=3)[0] == 200
    finally:
        for c in idle:
            c.close()


@pytest.mark.parametrize("opening", [
    b"GET /\n",                                           # a bare HTTP/0.9 line
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),   # a TLS ClientHello
    b"GET /api/meta HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",      # a header that never ends
    b"",                                                   # nothing at all
])
def test_stalled_connections_are_cut_and_others_served(short_timeout, opening):
    srv = _serve(_points(), workers=1)
    held = []
    try:
        for _ in range(3):
            s = socket.create_connection((HOST, srv.server_address[1]), timeout=20)
            s.sendall(opening)
            held.append(s)
        assert request(srv, "GET", "/api/meta", timeout=3)[0] == 200   # not queued behind them
        for s in held:    # and each is closed by the server (bounded by the socket timeout)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data == b"" or data.startswith(b"HTTP/1.1 4")
    finally:
        for s in held:
            s.close()
        srv.shutdown()
        srv.server_close()


def test_slow_header_dribble_is_cut(short_timeout):
    srv = _serve(_points(), workers=1)
    s = socket.create_connection((HOST, srv.server_address[1]), timeout=20)
    try:
        s.sendall(b"GET /api/meta HTTP/1.1\r\n")
        closed = False
        for _ in range(40):        # one header byte every 0.1 s: each read is quick, the whole never ends
            try:
                s.sendall(b"X")
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            s.setblocking(False)
            try:
                closed = s.recv(4096) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            s.setblocking(True)
            if closed:
                break
        assert closed
    finally:
        s.close()
        srv.shutdown()
        srv.server_close()


# --------------------------------------------------------------------------- 12, methods, Host

def test_too_many_query_fields_is_400(server):
    query = "&".join(f"f{i}=1" for i in range(25))
    status, _, body = request(server, "GET", "/tiles/1/0/0.png?" + query)
    assert status == 400
    assert "too many query parameters" in one_sentence(body)
    assert request(server, "GET", "/tiles/1/0/0.png")[0] in (200, 204)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_other_methods_are_405_with_allow(server, method):
    status, headers, body = request(server, method, "/api/meta")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert method in one_sentence(body)
    assert request(server, "GET", "/api/meta")[0] == 200


@pytest.mark.parametrize("host,ok", [
    ("attacker.example", False), ("attacker.example:8000", False), ("127.0.0.1.nip.io", False),
    ("127.0.0.1", True), ("localhost", True), ("LOCALHOST:8000", True), ("[::1]:8000", True),
])
def test_host_header_must_name_the_server(server, host, ok):
    status, _, body = request(server, "GET", "/api/meta", headers={"Host": host})
    if ok:
        assert status == 200
    else:
        assert status == 403
        assert "does not answer for host" in one_sentence(body)
        assert request(server, "GET", "/tiles/0/0/0.png", headers={"Host": host})[0] == 403


def test_allowed_hosts():
    assert S.allowed_hosts("127.0.0.1") == (frozenset({"localhost", "127.0.0.1", "::1"}), False)
    names, any_ip = S.allowed_hosts("0.0.0.0")
    assert any_ip and "localhost" in names
    assert S.allowed_hosts("myhost.lan")[0] >= {"myhost.lan"}


# --------------------------------------------------------------------------- 4, 6

@pytest.mark.parametrize("bbox", ["-1.7e308,-1,1.7e308,1", "0,0,1e-310,1",
                                  "1e308,0,1.0000000000000002e308,1"])
def test_render_png_bbox_float64_cannot_resolve_is_400(server, bbox):
    status, _, body = request(server, "GET", f"/render.png?bbox={bbox}&width=64&height=64")
    assert status == 400
    assert "float64" in one_sentence(body)


def test_inf_values_are_shaded_everywhere(short_timeout):
    srv = _serve(_points(inf=True), workers=2)
    try:
        for how in ("eq_hist", "linear", "log", "cbrt"):
            q = f"agg=mean:v&how={how}"
            assert request(srv, "GET", f"/tiles/0/0/0.png?{q}")[0] == 200
            status, _, body = request(srv, "GET", f"/api/scale?z=0&{q}")
            assert status == 200
            scale = json.loads(body)
            assert all(np.isfinite(scale["span"])) and all(np.isfinite(scale["ticks"]))
            status, _, _ = request(srv, "GET", f"/render.png?bbox=-2e7,-2e7,2e7,2e7&width=64&height=64&{q}")
            assert status == 200
    finally:
        srv.shutdown()
        srv.server_close()


# --------------------------------------------------------------------------- 3: --follow

def _meta(srv):
    return json.loads(request(srv, "GET", "/api/meta")[2])


def _wait(srv, done, seconds=30):
    deadline = time.monotonic() + seconds
    meta = _meta(srv)
    while not done(meta) and time.monotonic() < deadline:
        time.sleep(0.1)
        meta = _meta(srv)
    return meta


def test_follow_survives_a_half_written_file(tmp_path):
    d = tmp_path / "incoming"
    d.mkdir()
    pq.write_table(pa.table(_points(1000, 1)), d / "a.parquet")
    srv = _serve(str(d), follow=True, poll_seconds=0.1)
    try:
        assert _meta(srv)["index"]["rows"] == 1000
        pq.write_table(pa.table(_points(500, 2)), tmp_path / "whole.parquet")
        data = (tmp_path / "whole.parquet").read_bytes()
        (d / "b.parquet").write_bytes(data[: len(data) // 2])       # a writer still at work
        meta = _wait(srv, lambda m: m["follow_status"]["skipped"])
        assert meta["follow_status"]["skipped"][0].startswith("b.parquet: ")
        pq.write_table(pa.table(_points(700, 3)), d / "c.parquet")   # later good files show
        meta = _wait(srv, lambda m: m["index"]["rows"] == 1700)
        assert meta["index"]["rows"] == 1700
        (d / "b.parquet").write_bytes(data)                         # and b, once complete
        meta = _wait(srv, lambda m: m["index"]["rows"] == 2200)
        assert meta["index"]["rows"] == 2200 and meta["follow_status"]["skipped"] == []
        assert [t.name for t in threading.enumerate() if t.name == "gpu-render-follow"]
    finally:
        srv.shutdown()
        srv.server_close()


def test_follow_reports_a_rebuild_that_fails(tmp_path):
    d = tmp_path / "incoming"
    d.mkdir()
    pq.write_table(pa.table(_points(1000, 1)), d / "a.parquet")
    srv = _serve(str(d), follow=True, poll_seconds=0.1)
    try:
        # a file without the columns: the index cannot use it, the old view stays
        pq.write_table(pa.table({"other": [1.0, 2.0]}), d / "z.parquet")
        meta = _wait(srv, lambda m: m["follow_status"]["skipped"] or m["follow_status"]["error"])
        assert meta["index"]["rows"] == 1000
        assert request(srv, "GET", "/tiles/0/0/0.png")[0] == 200
        pq.write_table(pa.table(_points(300, 4)), d / "b.parquet")
        assert _wait(srv, lambda m: m["index"]["rows"] == 1300)["index"]["rows"] == 1300
    finally:
        srv.shutdown()
        srv.server_close()


def test_viewer_shows_follow_status():
    from importlib import resources
    js = (resources.files("gpu_render") / "static" / "viewer.js").read_text()
    html = (resources.files("gpu_render") / "static" / "index.html").read_text()
    assert 'id="notice"' in html and "follow_status" in js

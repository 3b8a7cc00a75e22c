"""The tile server over HTTP on loopback: endpoints, bad requests, a concurrent load, following."""
import http.client
import io
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import gpu_render as gr
from gpu_render.errors import RenderError
from gpu_render.server import is_loopback, make_server
from gpu_render.tiles import lnglat_to_tile


def _points(n=50_000, seed=5):
    rng = np.random.default_rng(seed)
    lon = np.concatenate([rng.normal(2.35, 0.05, n // 2), rng.uniform(-170, 170, n - n // 2)])
    lat = np.concatenate([rng.normal(48.85, 0.03, n // 2), rng.uniform(-60, 60, n - n // 2)])
    return {"lon": lon, "lat": lat, "v": rng.random(n)}


def _serve(source, **kw):
    kw.setdefault("log", lambda *_: None)
    srv = make_server(source, "lon", "lat", {"count": gr.count(), "mean:v": gr.mean("v")},
                      geo=True, port=0, **kw)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def server():
    srv = _serve(_points(), max_points=5_000)
    yield srv
    srv.shutdown()
    srv.server_close()


def get(srv, path):
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=30)
    try:
        conn.request("GET", path)   # sent as given: no client-side normalisation of '..'
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def test_page_and_static_assets(server):
    status, ctype, body = get(server, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b"/static/viewer.js" in body and b"http" not in body.replace(b"http-equiv", b"")
    status, ctype, js = get(server, "/static/viewer.js")
    assert status == 200 and "javascript" in ctype and b"/tiles/" in js
    assert get(server, "/static/viewer.css")[0] == 200


def test_meta(server):
    status, _, body = get(server, "/api/meta")
    meta = json.loads(body)
    assert status == 200 and meta["reductions"] == ["count", "mean:v"] and meta["version"] == 1
    lon0, lat0, lon1, lat1 = meta["bounds_lnglat"]
    assert -171 < lon0 < lon1 < 171 and -61 < lat0 < lat1 < 61
    assert meta["index"]["rows"] == 50_000


def test_tile_png_is_the_index_tile(server):
    z = 8
    tx, ty = lnglat_to_tile(z, 2.35, 48.85)
    status, ctype, body = get(server, f"/tiles/{z}/{tx}/{ty}.png?agg=count&cmap=fire&how=eq_hist")
    assert status == 200 and ctype == "image/png"
    png = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    assert png.shape == (256, 256, 4) and (png[..., 3] > 0).sum() > 100
    img, agg = server.service.index.tile_image(z, tx, ty, "count")
    assert np.array_equal(png, np.asarray(img.to_pil()))
    # transparent exactly where the aggregate is empty (north-up: rows flipped)
    assert np.array_equal(png[..., 3] > 0, agg.values[::-1] > 0)
    # mean tile and another colormap answer differently
    _, _, other = get(server, f"/tiles/{z}/{tx}/{ty}.png?agg=mean:v&cmap=kbc&how=linear")
    assert other != body


def test_empty_tile_is_204(server):
    status, _, body = get(server, "/tiles/6/0/0.png")   # the far north-west: no data
    assert status == 204 and body == b""


def test_value_and_scale(server):
    z = 10
    from datashader.utils import lnglat_to_meters
    mx, my = lnglat_to_meters(2.35, 48.85)
    status, _, body = get(server, f"/api/value?z={z}&x={mx}&y={my}&agg=count")
    v = json.loads(body)
    assert status == 200 and v["inside"]
    zz, tx, ty = v["tile"]
    col, row = v["pixel"]
    agg = server.service.index.tile_agg(zz, tx, ty, "count")
    assert v["value"] == int(agg.values[255 - row, col]) and v["value"] > 0
    status, _, body = get(server, "/api/scale?z=3&agg=mean:v&cmap=bmy&how=linear")
    s = json.loads(body)
    assert status == 200 and len(s["colors"]) == 32 and len(s["ticks"]) == 5
    assert 0 <= s["ticks"][0] <= s["ticks"][-1] <= 1


def test_render_png(server):
    w = 20037508.342789244
    status, ctype, body = get(server, f"/render.png?bbox={-w},{-w},{w},{w}&width=300&height=200")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (300, 200)


BAD = [
    "/tiles/25/0/0.png", "/tiles/../../etc/passwd", "/tiles/a/b/c.png", "/tiles/2/-1/0.png",
    "/tiles/2/4/0.png", "/tiles/2/0/4.png", "/tiles/1/0/0.png?agg=median", "/tiles/1/0/0.png?cmap=nope",
    "/tiles/1/0/0.png?how=sqrt", "/static/../server.py", "/static/%2e%2e/server.py", "/etc/passwd",
    "/render.png?bbox=0,0,1,1&width=100000&height=10", "/render.png?bbox=1,1,0,0", "/render.png",
    "/api/value?z=30&x=0&y=0", "/api/value?z=3&x=nan&y=0", "/api/scale?z=abc",
    "/tiles/99999999999999/0/0.png", "/" + "a" * 5000,
]


@pytest.mark.parametrize("path", BAD)
def test_bad_requests_get_4xx_and_the_server_goes_on(server, path):
    status, ctype, body = get(server, path)
    assert 400 <= status < 500, (path, status)
    assert b"root:" not in body and b"import" not in body
    assert get(server, "/tiles/0/0/0.png")[0] == 200


def test_200_concurrent_tile_requests(server):
    """200 tile requests at once on loopback, from 200 threads: every one answered, no error."""
    paths = []
    for z in range(0, 9):
        n = 1 << z
        for i in range(200):
            paths.append(f"/tiles/{z}/{(i * 7) % n}/{(i * 3) % n}.png?agg=count")
    paths = paths[-200:]
    start = threading.Barrier(200)

    def one(p):
        start.wait()
        return get(server, p)[0]

    with ThreadPoolExecutor(200) as ex:
        statuses = list(ex.map(one, paths))
    assert len(statuses) == 200 and set(statuses) <= {200, 204}, sorted(set(statuses))
    assert statuses.count(200) > 0


def test_follow_a_growing_directory(tmp_path):
    import pandas as pd
    d = tmp_path / "incoming"
    d.mkdir()
    pd.DataFrame(_points(2_000, 1)).to_parquet(d / "a.parquet")
    srv = _serve(str(d), follow=True, poll_seconds=0.1)
    try:
        meta = json.loads(get(srv, "/api/meta")[2])
        assert meta["follow"] and meta["version"] == 1 and meta["index"]["rows"] == 2_000
        tmp = d / ".b.tmp"
        pd.DataFrame(_points(3_000, 2)).to_parquet(tmp)
        os.replace(tmp, d / "b.parquet")
        deadline = time.time() + 20
        while time.time() < deadline:
            meta = json.loads(get(srv, "/api/meta")[2])
            if meta["version"] > 1:
                break
            time.sleep(0.1)
        assert meta["version"] == 2 and meta["index"]["rows"] == 5_000
        assert get(srv, "/tiles/0/0/0.png")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_server_arguments():
    assert is_loopback("127.0.0.1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    with pytest.raises(RenderError, match="port"):
        make_server(_points(100), "lon", "lat", {"count": gr.count()}, geo=True, port=70000)
    with pytest.raises(RenderError, match="follow"):
        make_server(_points(100), "lon", "lat", {"count": gr.count()}, geo=True, follow=True, port=0)


def test_cli_serve_rejects_bad_input(tmp_path, capsys):
    from gpu_render.cli import main
    assert main(["serve", str(tmp_path / "missing.parquet"), "--x", "a", "--y", "b"]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "x.parquet", "--x", "a", "--y", "b", "--port", "99999"])

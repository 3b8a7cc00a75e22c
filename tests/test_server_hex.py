"""Hexagon tiles from the tile server (``glyph=hex&size=N``): the tiles ``tiles(..., hex_size=N)``
writes, byte for byte, at stored-level and direct zooms; hexagons whole across tile edges; the
value under the cursor is the hexagon's (``Canvas.hexbin``'s); bad glyph or size is 400."""
import http.client
import io
import json
import os
import threading

import numpy as np
import pytest
from PIL import Image

import gpu_render as gr
from gpu_render.server import make_server
from gpu_render.tiles import WORLD, tile_bounds, tiles

SIZE = 10
STORED, DIRECT = (3, 8), 10       # zooms answered from hexagon levels, and from the rows


def _points(n=40_000, seed=3):
    rng = np.random.default_rng(seed)
    lon = np.concatenate([rng.normal(2.35, 0.1, n // 2), rng.uniform(1.5, 3.5, n - n // 2)])
    lat = np.concatenate([rng.normal(48.85, 0.07, n // 2), rng.uniform(48.0, 49.5, n - n // 2)])
    return {"lon": lon, "lat": lat, "v": rng.random(n)}


@pytest.fixture(scope="module")
def points():
    return _points()


@pytest.fixture(scope="module")
def server(points):
    srv = make_server(points, "lon", "lat", {"count": gr.count(), "mean:v": gr.mean("v")}, geo=True,
                      port=0, max_points=16_000, log=lambda *_: None)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(srv, path):
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=60)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_zooms_split_between_levels_and_rows(server):
    stored = server.service.index.stored_zooms
    assert all(z in stored for z in STORED) and DIRECT not in stored


@pytest.mark.parametrize("agg,spec,how", [(gr.count(), "count", "eq_hist"),
                                          (gr.mean("v"), "mean:v", "eq_hist"), (gr.count(), "count", "log")])
def test_hex_tiles_are_those_tiles_writes(server, points, tmp_path, agg, spec, how):
    """Every tile of ``tiles(hex_size=)`` at a few zooms is the server's, byte for byte (same
    hexagons and the same colour scale: the level's hexagons); every other tile of the level's
    rectangle is empty (204)."""
    out = tmp_path / "t"
    zooms = (*STORED, DIRECT)
    tiles(points, "lon", "lat", agg, out_dir=str(out), min_zoom=min(zooms), max_zoom=max(zooms), geo=True,
          progress=False, hex_size=SIZE, how=how, cmap="fire")
    meta = json.load(open(out / "metadata.json"))
    for z in zooms:
        written = {(int(tx), int(ty[:-4])) for tx in os.listdir(out / str(z))
                   for ty in os.listdir(out / str(z) / tx)}
        assert written
        x0, x1, y0, y1 = meta["levels"][str(z)]["tile_range"]
        for tx in range(x0, x1 + 1):
            for ty in range(y0, y1 + 1):
                status, body = get(server, f"/tiles/{z}/{tx}/{ty}.png?agg={spec}&how={how}&cmap=fire"
                                           f"&glyph=hex&size={SIZE}")
                if (tx, ty) not in written:
                    assert status == 204, (z, tx, ty)
                    continue
                assert status == 200
                ref = (out / str(z) / str(tx) / f"{ty}.png").read_bytes()
                assert np.array_equal(np.asarray(Image.open(io.BytesIO(body))),
                                      np.asarray(Image.open(io.BytesIO(ref)))), (z, tx, ty)
                assert body == ref
        scale = json.loads(get(server, f"/api/scale?z={z}&agg={spec}&how={how}&glyph=hex&size={SIZE}")[1])
        # (a mean's sums are added in another order: equal to the last few bits)
        assert scale["span"] == pytest.approx(meta["levels"][str(z)]["span"], rel=1e-12, abs=0)
        assert scale["glyph"] == "hex" and scale["size"] == SIZE


def _tile(server, z, tx, ty, size=SIZE):
    status, body = get(server, f"/tiles/{z}/{tx}/{ty}.png?agg=mean:v&how=linear&glyph=hex&size={size}")
    assert status == 200
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))


@pytest.mark.parametrize("z", [STORED[1], DIRECT])
def test_a_hexagon_cut_by_tile_edges_has_one_colour(server, z):
    """2x2 neighbouring tiles stitched: each hexagon of the world lattice (``Canvas.hexbin``'s
    cells over the same pixels) has one colour, and hexagons crossing the inner edges are drawn."""
    from gpu_render.hexbin import pixel_cells
    from gpu_render.hexgrid import HexLattice
    from gpu_render.tiles import lnglat_to_tile
    size = 24
    tx, ty = lnglat_to_tile(z, 2.35, 48.85)
    big = np.zeros((512, 512, 4), np.uint8)
    for dx in (0, 1):
        for dy in (0, 1):
            big[dy * 256:(dy + 1) * 256, dx * 256:(dx + 1) * 256] = _tile(server, z, tx + dx, ty + dy, size)
    big = big[::-1]                            # row 0 = the south edge
    n = 1 << z
    origin = (-tx * 256.0, -(n - 2 - ty) * 256.0)   # world pixel (0, 0) in the stitched square
    cells = pixel_cells(HexLattice(512, 512, size, origin))
    colours = big.view(np.uint32)[..., 0]
    order = np.argsort(cells, axis=None, kind="stable")
    c, v = cells.ravel()[order], colours.ravel()[order]
    first = np.r_[True, c[1:] != c[:-1]]
    assert (v == v[np.flatnonzero(first)][np.cumsum(first) - 1]).all()
    drawn = big[..., 3] > 0
    for a, b in ((np.s_[:, :256], np.s_[:, 256:]), (np.s_[:256], np.s_[256:])):   # the inner edges
        assert np.intersect1d(cells[a][drawn[a]], cells[b][drawn[b]]).size > 5


@pytest.mark.parametrize("z", [STORED[1], DIRECT])
@pytest.mark.parametrize("spec,agg", [("count", gr.count()), ("mean:v", gr.mean("v"))])
def test_value_is_the_hexagons(server, points, z, spec, agg):
    """/api/value with glyph=hex is the value of the hexagon drawn at that pixel: Canvas.hexbin's
    over 3x3 tiles around it on the world-anchored lattice (so the hexagon is whole)."""
    from gpu_render import Canvas
    from gpu_render.mercator import lnglat_to_meters
    from gpu_render.tiles import lnglat_to_tile
    tx, ty = lnglat_to_tile(z, 2.35, 48.85)
    n, px = 1 << z, 2 * WORLD / (256 << z)
    xa, ya, _, _ = tile_bounds(z, tx - 1, ty + 1)
    _, _, xb, yb = tile_bounds(z, tx + 1, ty - 1)
    mx, my = lnglat_to_meters(points["lon"], points["lat"])
    ref = Canvas(768, 768, (xa, xb), (ya, yb)).hexbin(
        {"x": mx, "y": my, "v": points["v"]}, "x", "y", agg, size=SIZE,
        origin=(-(tx - 1) * 256.0, -(n - 2 - ty) * 256.0))
    cx, cy = ref.coords["x"].values.ravel(), ref.coords["y"].values.ravel()
    values = ref.values.ravel()
    rng = np.random.default_rng(z)
    seen = 0
    for col, row in rng.integers(0, 256, (12, 2)):
        qx = tile_bounds(z, tx, ty)[0] + (col + 0.5) * px       # a pixel centre of tile (tx, ty)
        qy = tile_bounds(z, tx, ty)[3] - (row + 0.5) * px
        status, body = get(server, f"/api/value?z={z}&x={float(qx)!r}&y={float(qy)!r}&agg={spec}"
                                   f"&glyph=hex&size={SIZE}")
        v = json.loads(body)
        assert status == 200 and v["tile"] == [z, tx, ty] and v["pixel"] == [col, row]
        expect = values[np.argmin((cx - qx) ** 2 + (cy - qy) ** 2)].item()   # the nearest centre
        if expect != expect or expect == 0:
            assert v["value"] in (None, 0)
            continue
        seen += 1
        assert v["value"] == pytest.approx(expect, rel=1e-12)
    assert seen >= 3


@pytest.mark.parametrize("query,words", [
    ("glyph=hexagon", ["glyph", "hexagon"]),
    ("glyph=hex&size=1", ["size=1.0", "2-pixel"]),
    ("glyph=hex&size=300", ["size=300.0", "256x256"]),
    ("glyph=hex&size=abc", ["size", "abc"]),
    ("glyph=hex&size=nan", ["size", "positive"]),
    ("glyph=hex&size=-4", ["size", "positive"]),
    ("size=12", ["glyph=hex"]),
    ("glyph=points&size=12", ["glyph=hex"]),
])
@pytest.mark.parametrize("route", ["/tiles/3/4/2.png", "/api/scale?z=3", "/api/value?z=3&x=0&y=0",
                                   "/render.png?bbox=0,0,1,1"])
def test_bad_glyph_or_size_is_400_with_one_sentence(server, route, query, words):
    status, body = get(server, route + ("&" if "?" in route else "?") + query)
    assert status == 400, (route, query, status)
    message = json.loads(body)["error"]
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0, message
    for w in words:
        assert w in message, message


def test_meta_names_the_starting_glyph(points):
    from gpu_render.errors import RenderError
    srv = make_server(points, "lon", "lat", {"count": gr.count()}, geo=True, port=0, glyph="hex",
                      hex_size=16, log=lambda *_: None)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        meta = json.loads(get(srv, "/api/meta")[1])
        assert meta["glyph"] == "hex" and meta["hex_size"] == 16 and meta["glyphs"] == ["points", "hex"]
        # a request without glyph/size gets the server's: the same tile as glyph=hex&size=16
        assert get(srv, "/tiles/8/129/88.png")[1] == get(srv, "/tiles/8/129/88.png?glyph=hex&size=16")[1]
        assert get(srv, "/tiles/8/129/88.png")[1] != get(srv, "/tiles/8/129/88.png?glyph=points")[1]
        assert json.loads(get(srv, "/api/scale?z=8")[1])["glyph"] == "hex"
    finally:
        srv.shutdown()
        srv.server_close()
    for kw, words in (({"glyph": "hex", "hex_size": 1}, "2-pixel"), ({"hex_size": 12}, "glyph='hex'"),
                      ({"glyph": "hexagons"}, "unknown glyph")):
        with pytest.raises(RenderError, match=words):
            make_server(points, "lon", "lat", {"count": gr.count()}, geo=True, port=0, **kw)


def test_export_view_draws_hexagons(server):
    """/render.png with glyph=hex over 2x2 tiles at their scale draws the tiles' hexagons (the
    world-anchored lattice, each hexagon whole): the same pixels are drawn, in one colour each."""
    from gpu_render.tiles import lnglat_to_tile
    z = DIRECT
    tx, ty = lnglat_to_tile(z, 2.3, 48.8)
    x0, y0 = tile_bounds(z, tx, ty + 1)[:2]
    x1, y1 = tile_bounds(z, tx + 1, ty)[2:]
    query = f"/render.png?bbox={x0!r},{y0!r},{x1!r},{y1!r}&width=512&height=512"
    status, hexes = get(server, query + f"&glyph=hex&size={SIZE}")
    _, dots = get(server, query + "&glyph=points")
    assert status == 200 and hexes != dots
    view = np.asarray(Image.open(io.BytesIO(hexes)).convert("RGBA"))
    big = np.zeros((512, 512, 4), np.uint8)
    for dx in (0, 1):
        for dy in (0, 1):
            status, body = get(server, f"/tiles/{z}/{tx + dx}/{ty + dy}.png?glyph=hex&size={SIZE}")
            if status == 200:
                big[dy * 256:(dy + 1) * 256, dx * 256:(dx + 1) * 256] = np.asarray(
                    Image.open(io.BytesIO(body)).convert("RGBA"))
    assert np.array_equal(view[..., 3] > 0, big[..., 3] > 0) and (big[..., 3] > 0).any()


def test_concurrent_hexagon_requests(points):
    """60 requests at once over stored and direct zooms and three sizes (levels built while
    others wait for them): each answer is the one a lone request gets afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from gpu_render.tiles import lnglat_to_tile
    srv = make_server(points, "lon", "lat", {"count": gr.count(), "mean:v": gr.mean("v")}, geo=True,
                      port=0, max_points=16_000, log=lambda *_: None)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        paths = []
        for z in (*STORED, DIRECT):
            tx, ty = lnglat_to_tile(z, 2.35, 48.85)
            for size in (8, 14, 30):
                for spec in ("count", "mean:v"):
                    paths += [f"/tiles/{z}/{tx}/{ty}.png?agg={spec}&glyph=hex&size={size}",
                              f"/api/scale?z={z}&agg={spec}&glyph=hex&size={size}"]
        paths = (paths * 2)[:60]
        start = threading.Barrier(len(paths))

        def one(p):
            start.wait()
            return get(srv, p)

        with ThreadPoolExecutor(len(paths)) as ex:
            answers = list(ex.map(one, paths))
        assert all(status == 200 for status, _ in answers)
        for cache in (srv.service.png_cache, srv.service.hexes.levels, srv.service.hexes.scales):
            cache.clear()
        for p, answer in zip(paths, answers):
            assert get(srv, p) == answer, p
    finally:
        srv.shutdown()
        srv.server_close()

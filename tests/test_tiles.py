"""Tile math and the pyramid writer: bounds, per-level passes, seamless scaling, datashader parity."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from gpu_render import count, first, mean
from gpu_render.errors import RenderError
from gpu_render.tiles import WORLD, tile_bounds, tile_range, tiles

W = 20037508.342789244


def test_world_constant():
    assert WORLD == pytest.approx(W, abs=1e-6)


@pytest.mark.parametrize("z,x,y,expected", [
    (0, 0, 0, (-W, -W, W, W)),
    (1, 0, 0, (-W, 0.0, 0.0, W)),
    (1, 1, 1, (0.0, -W, W, 0.0)),
    (2, 1, 2, (-W / 2, -W / 2, 0.0, 0.0)),
    # z10 tile of Greenwich (x=511, y=340): north/south edges from the OSM wiki's latitude
    # formula (lat = atan(sinh(pi * (1 - 2y/2^z)))), projected by datashader
    (10, 511, 340, "osm"),
])
def test_tile_bounds_known_values(z, x, y, expected):
    if expected == "osm":
        from datashader.utils import lnglat_to_meters
        lat = [np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * t / 2**z)))) for t in (y + 1, y)]
        lon = [t / 2**z * 360 - 180 for t in (x, x + 1)]
        (x0, x1), (y0, y1) = lnglat_to_meters(np.array(lon), np.array(lat))
        expected = (x0, y0, x1, y1)
    assert np.allclose(tile_bounds(z, x, y), expected, rtol=0, atol=1e-3)


def test_tile_range_of_a_point():
    from gpu_render.tiles import lnglat_to_tile
    assert lnglat_to_tile(10, -0.1276, 51.5072) == (511, 340)      # London
    assert lnglat_to_tile(12, 2.3522, 48.8566) == (2074, 1409)     # Paris
    assert tile_range(3, (-W, W), (-W, W)) == (0, 7, 0, 7)
    assert tile_range(3, (3 * W, 4 * W), (0, 1)) is None


@pytest.mark.parametrize("bad", [(25, 0, 0), (-1, 0, 0), (2, 4, 0), (2, 0, -1), (1.5, 0, 0)])
def test_bad_tile_addresses(bad):
    with pytest.raises(RenderError):
        tile_bounds(*bad)


@pytest.fixture(scope="module")
def geo_points():
    rng = np.random.default_rng(7)
    n = 60_000
    return {"lon": rng.normal(10, 25, n).clip(-179, 179), "lat": rng.normal(40, 12, n).clip(-80, 80),
            "v": rng.random(n)}


def _read(path):
    return np.asarray(Image.open(path).convert("RGBA"))


def _stitch(out, z, n):
    """The whole level as one north-up RGBA image (missing tiles transparent)."""
    big = np.zeros((n * 256, n * 256, 4), np.uint8)
    for tx in range(n):
        for ty in range(n):
            p = os.path.join(out, str(z), str(tx), f"{ty}.png")
            if os.path.exists(p):
                big[ty * 256:(ty + 1) * 256, tx * 256:(tx + 1) * 256] = _read(p)
    return big


@pytest.mark.parametrize("agg,how", [(count(), "eq_hist"), (mean("v"), "eq_hist"), (count(), "log")])
def test_level_matches_datashader_render_of_the_whole_level(tmp_path, geo_points, agg, how):
    """Stitched tiles of a level == datashader aggregating + shading that level as one image."""
    import datashader as ds
    import datashader.transfer_functions as dtf
    import pandas as pd
    from datashader.utils import lnglat_to_meters

    out = tmp_path / "t"
    reports = tiles(geo_points, "lon", "lat", agg, out_dir=out, min_zoom=0, max_zoom=3, geo=True,
                    how=how, progress=False)
    assert [r.zoom for r in reports] == [0, 1, 2, 3]
    assert all(r.passes == 1 for r in reports)
    mx, my = lnglat_to_meters(geo_points["lon"], geo_points["lat"])
    df = pd.DataFrame({"x": mx, "y": my, "v": geo_points["v"]})
    dagg = ds.count() if isinstance(agg, count) else ds.mean("v")
    for z in (1, 3):
        n = 1 << z
        cvs = ds.Canvas(256 * n, 256 * n, x_range=(-W, W), y_range=(-W, W))
        import colorcet
        expected = np.asarray(dtf.shade(cvs.points(df, "x", "y", dagg), cmap=colorcet.fire,
                                        how=how).to_pil())
        got = _stitch(out, z, n)
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1, f"zoom {z}"
        assert (got[..., 3] > 0).sum() == (expected[..., 3] > 0).sum()


def test_empty_tiles_skipped_and_metadata(tmp_path):
    # all points in one small area: only a few tiles per level exist
    rng = np.random.default_rng(1)
    d = {"x": rng.uniform(1e6, 1.5e6, 5000), "y": rng.uniform(-2e6, -1.5e6, 5000)}
    out = tmp_path / "p"
    reports = tiles(d, "x", "y", out_dir=out, max_zoom=4, progress=False)
    written = {z: sorted(os.listdir(out / str(z))) for z in range(5)}
    assert written[0] == ["0"] and reports[0].tiles_written == 1
    assert reports[4].tiles_written == sum(len(os.listdir(out / "4" / c)) for c in written[4])
    assert reports[4].tiles_written <= 4
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["levels"]["4"]["tiles"] == reports[4].tiles_written
    assert len(meta["levels"]["0"]["ticks"]) == 5
    assert not any(n.endswith(".tmp") for _, _, files in os.walk(out) for n in files)


def test_small_memory_limit_uses_several_passes_and_gives_the_same_tiles(tmp_path, geo_points):
    a, b = tmp_path / "a", tmp_path / "b"
    tiles(geo_points, "lon", "lat", out_dir=a, min_zoom=3, max_zoom=3, geo=True, progress=False)
    rep = tiles(geo_points, "lon", "lat", out_dir=b, min_zoom=3, max_zoom=3, geo=True, progress=False,
                memory_limit=3 * 2**20)
    assert rep[0].passes > 1
    for root, _, files in os.walk(a / "3"):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), a)
            assert np.array_equal(_read(a / rel), _read(b / rel)), rel
    assert sum(len(f) for _, _, f in os.walk(b / "3")) == rep[0].tiles_written


def test_spilled_tiles_equal_in_memory_ones(tmp_path, geo_points, monkeypatch):
    from gpu_render import tiles as T
    a, b = tmp_path / "a", tmp_path / "b"
    tiles(geo_points, "lon", "lat", out_dir=a, min_zoom=2, max_zoom=2, geo=True, progress=False)
    orig = T._TileStore.__init__
    monkeypatch.setattr(T._TileStore, "__init__", lambda self, budget: orig(self, 0))
    tiles(geo_points, "lon", "lat", out_dir=b, min_zoom=2, max_zoom=2, geo=True, progress=False)
    for root, _, files in os.walk(a / "2"):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), a)
            assert np.array_equal(_read(a / rel), _read(b / rel))


@pytest.mark.parametrize("kwargs,msg", [
    (dict(max_zoom=25), "zoom"), (dict(min_zoom=3, max_zoom=2), "min_zoom"),
    (dict(how="bogus"), "how"), (dict(cmap="nope_cmap"), "nope_cmap"),
])
def test_bad_arguments(tmp_path, geo_points, kwargs, msg):
    with pytest.raises(RenderError, match=msg):
        tiles(geo_points, "lon", "lat", out_dir=tmp_path / "x", geo=True, progress=False, **kwargs)


def test_cli_tiles(tmp_path, geo_points, capsys):
    import pandas as pd
    from gpu_render.cli import main
    src = tmp_path / "pts.parquet"
    pd.DataFrame(geo_points).to_parquet(src)
    out = tmp_path / "cli"
    assert main(["tiles", str(src), "--x", "lon", "--y", "lat", "--geo", "--min-zoom", "0",
                 "--max-zoom", "2", "-o", str(out), "--quiet"]) == 0
    assert (out / "0" / "0" / "0.png").exists()
    assert main(["tiles", str(src), "--x", "lon", "--y", "nope", "--geo", "-o", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tiles", str(src), "--x", "lon", "--y", "lat", "--max-zoom", "30", "-o", str(out)])


def test_spilled_tiles_are_not_kept_in_memory():
    """A tile spilled to disk must not stay alive through references kept with it."""
    import gc
    import weakref

    import xarray as xr

    from gpu_render.tiles import _TileStore
    store = _TileStore(budget=0)   # everything spills
    agg = xr.DataArray(np.arange(16.0).reshape(4, 4), coords={"y": np.arange(4.0), "x": np.arange(4.0)},
                       dims=("y", "x"), name="t")
    ref = weakref.ref(agg)
    store.put((1, 2), agg)
    del agg
    gc.collect()
    try:
        assert ref() is None
        back = store.get((1, 2))
        np.testing.assert_array_equal(back.values, np.arange(16.0).reshape(4, 4))
        np.testing.assert_array_equal(back.x.values, np.arange(4.0))
    finally:
        store.close()


@pytest.mark.parametrize("limit", [None, "1MB"], ids=["one block", "many blocks"])
def test_hex_tiles_join_across_tiles_and_blocks(tmp_path, geo_points, limit):
    """Stitched hexagon tiles of a level: every hexagon of the world-anchored lattice has one
    colour, whichever tiles and blocks it crosses; the hexagons drawn are the occupied ones of
    ``Canvas.hexbin`` over the whole level on the same lattice."""
    from gpu_render import Canvas
    from gpu_render.hexbin import pixel_cells
    from gpu_render.hexgrid import HexLattice
    from gpu_render.sources import MercatorTable
    from gpu_render.frames import DictTable
    z, size, n = 2, 10, 4
    out = tmp_path / "t"
    report, = tiles(geo_points, "lon", "lat", count(), out_dir=str(out), min_zoom=z, max_zoom=z,
                    geo=True, progress=False, hex_size=size, memory_limit=limit)
    assert (report.passes > 1) == (limit is not None)
    big = _stitch(str(out), z, n)[::-1]               # row 0 = the world's south edge
    lat = HexLattice(n * 256, n * 256, size, (0.0, 0.0))
    cells = pixel_cells(lat)
    colours = big.view(np.uint32)[..., 0]
    order = np.argsort(cells, axis=None, kind="stable")
    c, v = cells.ravel()[order], colours.ravel()[order]
    first = np.r_[True, c[1:] != c[:-1]]
    start = np.cumsum(first) - 1
    assert (v == v[np.flatnonzero(first)][start]).all()    # one colour per hexagon
    whole = Canvas(n * 256, n * 256, (-W, W), (-W, W)).hexbin(
        MercatorTable(DictTable(geo_points), "lon", "lat"), "lon", "lat", count(), size=size)
    occupied = np.flatnonzero(whole.data.ravel() > 0)
    drawn = np.unique(cells[(big[..., 3] > 0)])
    assert np.array_equal(drawn, occupied)
    meta = json.load(open(out / "metadata.json"))
    assert meta["glyph"] == "hex" and meta["hex_size"] == size


@pytest.mark.parametrize("agg,in_order", [(mean("v"), False), (first("v"), True)], ids=["mean", "first"])
def test_hex_tile_blocks_read_only_the_rows_near_them(tmp_path, geo_points, monkeypatch, agg, in_order):
    """Many blocks of hexagon tiles give the tiles of one block, each block reading the rows of
    the grid cells under it and its margin (``SpatialFrame``), not all of them; first() reads
    the rows in their order."""
    from gpu_render.spatialframe import SpatialFrame
    read, original = [], SpatialFrame.chunks

    def counting(self, *args, **kwargs):
        for row0, cols in original(self, *args, **kwargs):
            read.append(len(next(iter(cols.values()))))
            yield row0, cols
    monkeypatch.setattr(SpatialFrame, "chunks", counting)
    z, n = 3, 8
    kw = dict(min_zoom=z, max_zoom=z, geo=True, progress=False, hex_size=9)
    one, = tiles(geo_points, "lon", "lat", agg, out_dir=str(tmp_path / "one"), **kw)
    assert not read
    many, = tiles(geo_points, "lon", "lat", agg, out_dir=str(tmp_path / "many"), memory_limit="1MB", **kw)
    assert many.passes > 4 and many.tiles_written == one.tiles_written
    np.testing.assert_array_equal(_stitch(str(tmp_path / "many"), z, n), _stitch(str(tmp_path / "one"), z, n))
    if in_order:
        assert not read
    else:
        assert 0 < sum(read) < many.passes * len(geo_points["lon"]) / 3


@pytest.mark.parametrize("agg", [count(), mean("v")], ids=["count", "mean"])
@pytest.mark.parametrize("z,limit", [(2, None), (2, "1MB"), (7, None), (7, "1MB")],
                         ids=["z2-one-block", "z2-tile-blocks", "z7-one-block", "z7-tile-blocks"])
def test_hex_level_is_the_shaded_hexbin_of_the_level(tmp_path, agg, z, limit):
    """Stitched, a level's hexagon tiles are ``tf.shade`` of ``Canvas.hexbin`` over the level's
    tile rectangle on the world-anchored lattice: the same hexagons, each whole, and one colour
    scale from the level's occupied hexagons (each counted once, whichever block owns it); the
    tiles east of the data's, where its easternmost hexagon reaches, are written too."""
    from gpu_render import Canvas
    from gpu_render import transfer_functions as tf
    from gpu_render.mercator import lnglat_to_meters
    rng = np.random.default_rng(11)
    n = 20_000
    lon, lat = rng.normal(5, 1.5, n), rng.normal(45, 1, n)
    lon[0], lat[0] = 22.5 - 0.5 * 360 / (256 << 7), 45.0   # half a zoom-7 pixel west of a tile edge
    pts = {"lon": lon, "lat": lat, "v": rng.random(n)}
    out = tmp_path / "t"
    report, = tiles(pts, "lon", "lat", agg, out_dir=str(out), min_zoom=z, max_zoom=z, geo=True,
                    progress=False, hex_size=10, memory_limit=limit, cmap="fire")
    assert (report.passes > 1) == (limit is not None)
    x0, x1, y0, y1 = json.load(open(out / "metadata.json"))["levels"][str(z)]["tile_range"]
    w, h = (x1 - x0 + 1) * 256, (y1 - y0 + 1) * 256
    big = np.zeros((h, w, 4), np.uint8)
    for tx in range(x0, x1 + 1):
        for ty in range(y0, y1 + 1):
            p = os.path.join(out, str(z), str(tx), f"{ty}.png")
            if os.path.exists(p):
                big[(ty - y0) * 256:(ty - y0 + 1) * 256, (tx - x0) * 256:(tx - x0 + 1) * 256] = _read(p)
    xa, ya = tile_bounds(z, x0, y1)[:2]
    xb, yb = tile_bounds(z, x1, y0)[2:]
    mx, my = lnglat_to_meters(lon, lat)
    whole = Canvas(w, h, (xa, xb), (ya, yb)).hexbin(
        {"x": mx, "y": my, "v": pts["v"]}, "x", "y", agg, size=10,
        origin=(-x0 * 256.0, -((1 << z) - 1 - y1) * 256.0))
    assert np.array_equal(big, np.asarray(tf.shade(whole, cmap="fire").to_pil().convert("RGBA")))
    if z == 7:
        east = tile_range(z, (mx.min(), mx.max()), (my.min(), my.max()))[1] + 1
        assert (big[:, (east - x0) * 256:(east - x0 + 1) * 256, 3] > 0).any()

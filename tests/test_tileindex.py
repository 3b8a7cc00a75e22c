"""The tile index answers every tile exactly as datashader aggregates the tile's bounds."""
import numpy as np
import pytest

import gpu_render as gr
from gpu_render.errors import RenderError
from gpu_render.tileindex import TileIndex
from gpu_render.tiles import lnglat_to_tile, tile_bounds

REDS = {"count": gr.count(), "any": gr.any(), "sum": gr.sum("v"), "mean": gr.mean("v"),
        "std": gr.std("v"), "var": gr.var("v"), "min": gr.min("v"), "max": gr.max("v"),
        "count_v": gr.count("v")}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 80_000
    lon = np.concatenate([rng.normal(2.35, 0.01, n // 2), rng.uniform(-180, 180, n // 2)])
    lat = np.concatenate([rng.normal(48.85, 0.01, n // 2), rng.uniform(-85, 85, n // 2)])
    v = rng.random(n)
    v[::97] = np.nan
    return {"lon": lon, "lat": lat, "v": v}


@pytest.fixture(scope="module")
def index(data):
    # a small max_points so both paths run: pre-aggregated levels and rows aggregated directly
    return TileIndex(data, "lon", "lat", REDS, geo=True, max_points=5_000, backend="cpu")


def _datashader(data, bounds, red):
    import datashader as ds
    import pandas as pd
    from datashader.utils import lnglat_to_meters
    mx, my = lnglat_to_meters(data["lon"], data["lat"])
    df = pd.DataFrame({"x": mx, "y": my, "v": data["v"]})
    x0, y0, x1, y1 = bounds
    dred = {"count": ds.count(), "any": ds.any(), "count_v": ds.count("v")}.get(red) or \
        getattr(ds, red)("v")
    return ds.Canvas(256, 256, x_range=(x0, x1), y_range=(y0, y1)).points(df, "x", "y", dred)


def test_index_uses_both_paths(index):
    assert 0 in index.stored_zooms and 16 not in index.stored_zooms
    assert index.rows == 80_000 and index.dropped == 0


@pytest.mark.parametrize("z", [0, 3, 9, 13, 17, 20])
def test_tiles_equal_datashader(index, data, z):
    tx, ty = lnglat_to_tile(z, 2.35, 48.85)
    bounds = tile_bounds(z, tx, ty)
    for name in REDS:
        got = index.tile_agg(z, tx, ty, name)
        exp = _datashader(data, bounds, name)
        assert got.dims == exp.dims and got.shape == (256, 256)
        assert np.allclose(got.x.values, exp.x.values) and np.allclose(got.y.values, exp.y.values)
        assert np.allclose(got.values.astype(float), exp.values.astype(float), equal_nan=True,
                           rtol=1e-9, atol=1e-12), (z, name)


def test_empty_tile_and_level_scale(index):
    img, agg = index.tile_image(6, 0, 63, "count")   # far south-west corner: no points
    assert img is None and not agg.values.any()
    img, _ = index.tile_image(0, 0, 0, "count")
    assert img is not None and (img.values != 0).any()
    sc = index.scale(3, "mean", "eq_hist")
    assert sc.lo >= 0 and sc.hi <= 1 and len(sc.ticks()) == 5


def test_index_errors(data):
    with pytest.raises(RenderError, match="first"):
        TileIndex(data, "lon", "lat", {"f": gr.first("v")}, geo=True)
    with pytest.raises(RenderError, match="nope"):
        TileIndex(data, "lon", "nope", {"count": gr.count()}, geo=True)
    far = {"x": np.array([1e9, 2e9]), "y": np.array([0.0, 1.0])}
    with pytest.raises(RenderError, match="Web Mercator"):
        TileIndex(far, "x", "y", {"count": gr.count()})


def test_bad_tile_request(index):
    with pytest.raises(RenderError):
        index.tile_agg(25, 0, 0)
    with pytest.raises(RenderError, match="unknown reduction"):
        index.tile_agg(1, 0, 0, "median")

"""Every path that aggregates goes through the pipeline's one loop and one finalize: each result
equals ``Canvas.points`` on the same rows (render, tiles' blocks, the tile index, the server,
streaming, Dask partitions, profiles), and float64 narrowing is reported where it happens."""
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import gpu_render as ds
import gpu_render.transfer_functions as tf
from gpu_render.tiles import TILE, WORLD, tile_bounds

RANGES = dict(x_range=(-3.0, 3.0), y_range=(-2.0, 2.0))
AGGS = [ds.count(), ds.mean("v"), ds.max("v"), ds.last("v")]


def _same(got, ref):
    assert got.dims == ref.dims and got.shape == ref.shape
    assert got.dtype == ref.dtype
    np.testing.assert_allclose(np.asarray(got.values, dtype=float), np.asarray(ref.values, dtype=float),
                               equal_nan=True, rtol=1e-12)


@pytest.fixture
def frame(n_points, rng):
    x = rng.normal(0, 1.2, n_points)
    y = rng.normal(0, 0.9, n_points)
    x[::97] = np.nan
    return pd.DataFrame({"x": x, "y": y, "v": rng.normal(size=n_points)})


@pytest.mark.parametrize("agg", AGGS, ids=repr)
def test_render_aggregate_equals_canvas_points(frame, backend, agg):
    from gpu_render.render import aggregate
    ref = ds.Canvas(40, 30, **RANGES).points(frame, "x", "y", agg, backend=backend)
    got = aggregate(frame, "x", "y", agg, 40, 30, backend=backend, **RANGES)
    _same(got, ref)


@pytest.mark.parametrize("agg", AGGS, ids=repr)
def test_streaming_batches_equal_canvas_points(frame, backend, agg):
    from gpu_render.streaming import StreamingAggregate
    ref = ds.Canvas(40, 30, **RANGES).points(frame, "x", "y", agg, backend=backend)
    stream = StreamingAggregate("x", "y", agg, width=40, height=30, backend=backend, **RANGES)
    for part in np.array_split(np.arange(len(frame)), 3):
        stream.update(frame.iloc[part])
    got = stream.agg()
    _same(got, ref)
    assert got.attrs["rows"] == len(frame) and got.attrs["batches"] == 3


@pytest.mark.parametrize("agg", [ds.count(), ds.mean("v"), ds.first("v")], ids=repr)
def test_dask_partitions_equal_canvas_points(frame, backend, agg):
    dd = pytest.importorskip("dask.dataframe")
    ref = ds.Canvas(40, 30, **RANGES).points(frame, "x", "y", agg, backend=backend)
    ddf = dd.from_pandas(frame, npartitions=3)
    got = ds.Canvas(40, 30, **RANGES).points(ddf, "x", "y", agg, backend=backend, scheduler="sync")
    _same(got, ref)
    assert ds.info()["last_used"] == backend


def test_a_profiled_render_equals_canvas_points_and_reports_peaks(frame, backend, tmp_path):
    from gpu_render.profiling import Profile
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)
    ref = ds.Canvas(40, 30, **RANGES).points(frame, "x", "y", ds.mean("v"), backend=backend)
    prof = Profile().start(backend)
    got = ds.Canvas(40, 30, **RANGES).points(str(path), "x", "y", ds.mean("v"), backend=backend,
                                             profile=prof, float32=False)
    prof.stop()
    _same(got, ref)
    assert prof.rows == len(frame) and prof.chunks >= 1
    if backend == "gpu":
        grid_bytes = (40 * 30 + 1) * (8 + 4)    # sum and count planes of mean
        assert prof.peak_device >= grid_bytes
        assert "peak device memory" in prof.report()
    else:
        assert prof.peak_device is None and prof.peak_rss > 0


def test_gpu_narrows_float64_file_coordinates_by_default_and_says_so(frame, backend, tmp_path):
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)     # x, y float64
    from gpu_render import pipeline
    cvs = ds.Canvas(40, 30, **RANGES)
    job = pipeline.prepare(cvs, str(path), "x", "y", ds.count(), backend=backend)
    notes = " ".join(job.notes)
    if backend == "gpu":
        assert job.float32 == ("x", "y")
        assert "aggregated as float32" in notes
    else:
        assert job.float32 == () and "float32" not in notes
    got = pipeline.run(job)
    ref = cvs.points(frame.astype({"x": np.float32, "y": np.float32}) if backend == "gpu" else frame,
                     "x", "y", ds.count(), backend=backend)
    np.testing.assert_array_equal(got.values, ref.values)
    assert ("aggregated as float32" in " ".join(got.attrs.get("notes", []))) == (backend == "gpu")
    off = pipeline.prepare(cvs, str(path), "x", "y", ds.count(), backend=backend, float32=False)
    assert off.float32 == ()


@pytest.fixture
def mercator(n_points, rng):
    return pd.DataFrame({"x": rng.normal(2.0e6, 1.5e6, n_points).clip(-WORLD + 1, WORLD - 1),
                         "y": rng.normal(1.0e6, 1.5e6, n_points).clip(-WORLD + 1, WORLD - 1),
                         "v": rng.random(n_points)})


@pytest.mark.parametrize("agg", [ds.count(), ds.mean("v")], ids=repr)
def test_tile_index_tiles_equal_canvas_points(mercator, backend, agg):
    from gpu_render.tileindex import TileIndex
    # max_points=50: the low zooms come from stored levels, the deep ones from the rows
    index = TileIndex(mercator, "x", "y", {"a": agg}, backend=backend, max_points=50)
    assert index.stored_zooms
    for z in (min(index.stored_zooms), 12):
        from gpu_render.tiles import lnglat_to_tile
        from gpu_render.utils import meters_to_lnglat
        lon, lat = meters_to_lnglat(mercator["x"].iloc[0], mercator["y"].iloc[0])
        tx, ty = lnglat_to_tile(z, float(lon), float(lat))
        x0, y0, x1, y1 = tile_bounds(z, tx, ty)
        ref = ds.Canvas(TILE, TILE, x_range=(x0, x1), y_range=(y0, y1)).points(
            mercator, "x", "y", agg, backend=backend)
        got = index.tile_agg(z, tx, ty, "a")
        assert got.dtype == ref.dtype
        np.testing.assert_allclose(np.asarray(got.values, float), np.asarray(ref.values, float),
                                   equal_nan=True, rtol=1e-9)


def test_server_view_equals_shaded_canvas_points(mercator, backend):
    from gpu_render.server import TileService
    svc = TileService(mercator, "x", "y", {"count": ds.count()}, backend=backend,
                      log=lambda *a: None)
    bbox = (0.0, -1.0e6, 4.0e6, 3.0e6)
    png = svc.render_png({"bbox": [",".join(map(str, bbox))], "width": ["64"], "height": ["48"]},
                         "count", "fire", "eq_hist")
    ref = ds.Canvas(64, 48, x_range=(bbox[0], bbox[2]), y_range=(bbox[1], bbox[3])).points(
        mercator, "x", "y", ds.count(), backend=backend)
    expected = np.asarray(tf.shade(ref, cmap="fire", how="eq_hist").to_pil())
    got = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    np.testing.assert_array_equal(got, expected)

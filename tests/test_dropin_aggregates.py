"""Aggregates identical to datashader's: attrs, coords and ranges computed from the data, dask
categories, empty frames, Canvas's validation API and lnglat_to_meters' forms."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gpu_render as gr
from gpu_render.errors import RenderError

ds = pytest.importorskip("datashader")
dd = pytest.importorskip("dask.dataframe")
from datashader.utils import lnglat_to_meters as ds_lnglat  # noqa: E402

from gpu_render.utils import lnglat_to_meters  # noqa: E402


@pytest.fixture(autouse=True)
def _sync_dask():
    """dask in-process (the simulated GPU cannot run kernels from several threads)."""
    import dask
    with dask.config.set(scheduler="sync"):
        yield


def _frames(rng, n):
    lon, lat = rng.uniform(-74.3, -73.7, n), rng.uniform(40.5, 40.9, n)
    mx, my = ds_lnglat(lon, lat)
    return {
        "mercator": pd.DataFrame({"x": mx, "y": my}),
        "float32": pd.DataFrame({"x": rng.normal(size=n).astype("f4"),
                                 "y": rng.normal(size=n).astype("f4")}),
        "int": pd.DataFrame({"x": rng.integers(0, 100, n), "y": rng.integers(-5, 5, n)}),
        "constant": pd.DataFrame({"x": np.full(n, 3.0), "y": rng.normal(size=n)}),
        "nan": pd.DataFrame({"x": np.where(rng.uniform(size=n) < 0.2, np.nan, rng.normal(size=n)),
                             "y": rng.normal(size=n)}),
    }


@pytest.mark.parametrize("kind", ["mercator", "float32", "int", "constant", "nan"])
@pytest.mark.parametrize("lazy", [False, True], ids=["pandas", "dask"])
@pytest.mark.parametrize("red", ["count", "any", "max"])
def test_identical_to_datashader_with_ranges_from_the_data(backend, n_points, rng, kind, lazy, red):
    df = _frames(rng, n_points)[kind]
    df["v"] = rng.normal(size=len(df))
    src = dd.from_pandas(df, npartitions=3) if lazy else df
    args = () if red in ("count", "any") else ("v",)
    expected = ds.Canvas(37, 23).points(src, "x", "y", getattr(ds, red)(*args))
    got = gr.Canvas(37, 23).points(src, "x", "y", getattr(gr, red)(*args), backend=backend)
    xr.testing.assert_identical(got, expected)   # values, dims, coords (bit for bit) and attrs
    assert got.attrs == expected.attrs


def test_identical_with_ranges_given(backend, n_points, rng):
    df = _frames(rng, n_points)["mercator"]
    rngs = dict(x_range=(-8260000, -8210000.5), y_range=(4940000.25, 4990000))
    expected = ds.Canvas(50, 31, **rngs).points(df, "x", "y", ds.count())
    got = gr.Canvas(50, 31, **rngs).points(df, "x", "y", gr.count(), backend=backend)
    xr.testing.assert_identical(got, expected)
    assert "backend" not in got.attrs
    assert gr.info()["last_used"] == backend


def test_summary_attrs_identical(backend, rng):
    df = _frames(rng, 300)["float32"]
    expected = ds.Canvas(9, 7).points(df, "x", "y", ds.summary(n=ds.count(), a=ds.any()))
    got = gr.Canvas(9, 7).points(df, "x", "y", gr.summary(n=gr.count(), a=gr.any()), backend=backend)
    xr.testing.assert_identical(got, expected)


def test_dask_parquet_unknown_categories_are_sorted_as_datashader(tmp_path, backend, rng):
    n = 600
    df = pd.DataFrame({"x": rng.uniform(0, 1, n), "y": rng.uniform(0, 1, n),
                       "c": pd.Categorical(rng.choice(list("zbam"), n), categories=list("zbam"))})
    dd.from_pandas(df, npartitions=3).to_parquet(tmp_path / "pq")
    ddf = dd.read_parquet(tmp_path / "pq")
    assert not ddf["c"].cat.known
    kw = dict(plot_width=8, plot_height=6, x_range=(0, 1), y_range=(0, 1))
    expected = ds.Canvas(**kw).points(ddf, "x", "y", ds.count_cat("c"))
    got = gr.Canvas(**kw).points(ddf, "x", "y", gr.count_cat("c"), backend=backend)
    assert list(got.c.values) == list(expected.c.values) == ["a", "b", "m", "z"]
    xr.testing.assert_identical(got, expected)
    # a positional colour key therefore colours the same categories as datashader's
    import datashader.transfer_functions as dtf

    import gpu_render.transfer_functions as tf
    key = ["red", "green", "blue", "orange"]
    a = tf.shade(got, color_key=key).data.view(np.uint8).astype(int)
    b = dtf.shade(expected, color_key=key).data.view(np.uint8).astype(int)
    assert np.abs(a - b).max() <= 1


def test_census_like_categorical_dask_example(tmp_path, backend, rng):
    """As the census notebook does: by-race counts of a dask frame, shaded with a colour key
    dict, spread, on a background, exported."""
    n = 900
    df = pd.DataFrame({"easting": rng.normal(0, 1e5, n), "northing": rng.normal(0, 1e5, n),
                       "race": pd.Categorical(rng.choice(list("wbahio"), n))})
    ddf = dd.from_pandas(df, npartitions=4)
    key = {"w": "aqua", "b": "lime", "a": "red", "h": "fuchsia", "o": "yellow", "i": "white"}
    kw = dict(plot_width=60, plot_height=40, x_range=(-3e5, 3e5), y_range=(-2e5, 2e5))
    import datashader.transfer_functions as dtf
    from datashader.utils import export_image as ds_export

    import gpu_render.transfer_functions as tf
    from gpu_render.utils import export_image
    agg = gr.Canvas(**kw).points(ddf, "easting", "northing", gr.count_cat("race"), backend=backend)
    ref = ds.Canvas(**kw).points(ddf, "easting", "northing", ds.count_cat("race"))
    xr.testing.assert_identical(agg, ref)
    img = export_image(tf.dynspread(tf.shade(agg, color_key=key, how="eq_hist")), "census",
                       background="black", export_path=str(tmp_path))
    expected = ds_export(dtf.dynspread(dtf.shade(ref, color_key=key, how="eq_hist")), "ref",
                         background="black", export_path=str(tmp_path))
    assert np.abs(img.data.view(np.uint8).astype(int) - expected.data.view(np.uint8).astype(int)).max() <= 1


def test_empty_frame_with_ranges_is_an_empty_aggregate(backend):
    df = pd.DataFrame({"x": np.zeros(0), "y": np.zeros(0), "v": np.zeros(0)})
    kw = dict(plot_width=5, plot_height=4, x_range=(0, 1), y_range=(0, 1))
    for ours, theirs in ((gr.count(), ds.count()), (gr.mean("v"), ds.mean("v"))):
        xr.testing.assert_identical(gr.Canvas(**kw).points(df, "x", "y", ours, backend=backend),
                                    ds.Canvas(**kw).points(df, "x", "y", theirs))


def test_empty_frame_without_ranges_says_so(backend):
    df = pd.DataFrame({"x": np.zeros(0), "y": np.zeros(0)})
    with pytest.raises(RenderError, match="has no rows, so x_range and y_range cannot be computed"):
        gr.Canvas(5, 4, x_range=(0, 1)).points(df, "x", "y", backend=backend)


def test_canvas_axes_and_validation_as_datashader():
    ours, theirs = gr.Canvas(10, 20, (1, 100), (0, 5), x_axis_type="log"), \
        ds.Canvas(10, 20, (1, 100), (0, 5), x_axis_type="log")
    for a, b, rng in ((ours.x_axis, theirs.x_axis, (1, 100)), (ours.y_axis, theirs.y_axis, (0, 5))):
        st = a.compute_scale_and_translate(rng, 10)
        assert st == b.compute_scale_and_translate(rng, 10)
        np.testing.assert_array_equal(a.compute_index(st, 10), b.compute_index(st, 10))
        assert a.mapper(10.0) == b.mapper(10.0)
    ours.validate()
    theirs.validate()
    for canvas in (ours, theirs):
        with pytest.raises(ValueError):
            canvas.validate_ranges((-1, 10), (0, 1))   # not positive on the log axis
        with pytest.raises(ValueError):
            canvas.validate_size(0, 10)
        canvas.validate_ranges(None, None)


def test_lnglat_to_meters_keeps_the_form_and_the_bits(rng):
    lon, lat = rng.uniform(-180, 180, 50), rng.uniform(-85, 85, 50)
    for a, b in zip(lnglat_to_meters(lon, lat), ds_lnglat(lon, lat)):
        np.testing.assert_array_equal(a, b)
    s = pd.DataFrame({"lon": lon, "lat": lat})
    e, n = lnglat_to_meters(s.lon, s.lat)
    assert isinstance(e, pd.Series) and isinstance(n, pd.Series)
    pd.testing.assert_series_equal(e, ds_lnglat(s.lon, s.lat)[0])
    ddf = dd.from_pandas(s, npartitions=2)
    ddf["x"], ddf["y"] = lnglat_to_meters(ddf.lon, ddf.lat)   # lazy, as the notebooks do
    assert isinstance(ddf["x"], dd.Series)
    np.testing.assert_array_equal(ddf["y"].compute().values, ds_lnglat(lon, lat)[1])
    assert lnglat_to_meters(-74, 40.71) == ds_lnglat(-74, 40.71)
    assert [list(v) for v in lnglat_to_meters([1, 2], (3, 4))] == \
        [list(v) for v in ds_lnglat([1, 2], (3, 4))]

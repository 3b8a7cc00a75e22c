"""Bad in-memory sources: each gives one RenderError sentence naming what was wrong, before any
kernel reads the data (issue 11, items 1, 14, 16 and 19, in-memory side)."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import gpu_render as gr
from gpu_render import RenderError
from gpu_render.streaming import StreamingAggregate


def _canvas():
    return gr.Canvas(10, 10, x_range=(0, 10), y_range=(0, 10))


@pytest.mark.parametrize("nx,ny", [(10, 5), (5, 10), (20_000, 10)])
def test_unequal_lengths_are_refused_naming_columns_and_lengths(backend, nx, ny):
    data = {"x": np.arange(nx, dtype=float) % 10, "y": np.arange(ny, dtype=float) % 10}
    with pytest.raises(RenderError, match=rf"'x' has {nx:,}, 'y' has {ny:,} values"):
        _canvas().points(data, "x", "y", backend=backend)


def test_unequal_value_column_is_refused(backend):
    data = {"x": np.arange(10.0), "y": np.arange(10.0), "v": np.arange(3.0)}
    with pytest.raises(RenderError, match="'v' has 3 values"):
        _canvas().points(data, "x", "y", gr.mean("v"), backend=backend)


def test_unequal_lengths_in_a_stream_batch(backend):
    stream = StreamingAggregate("x", "y", x_range=(0, 10), y_range=(0, 10), width=10, height=10,
                                backend=backend)
    with pytest.raises(RenderError, match="'x' has 10, 'y' has 5 values"):
        stream.update({"x": np.arange(10.0), "y": np.arange(5.0)})
    assert stream.rows == 0


def test_unequal_lengths_in_render():
    with pytest.raises(RenderError, match="differ in length"):
        gr.render({"x": np.arange(10.0), "y": np.arange(5.0)}, "x", "y", width=10, height=10)


def test_2d_array_is_refused(backend):
    data = {"x": np.ones((3, 2)), "y": np.ones((3, 2))}
    with pytest.raises(RenderError, match=r"column 'x' of the dict of arrays is a 2-D array of shape \(3, 2\)"):
        gr.Canvas(4, 4).points(data, "x", "y", backend=backend)


@pytest.mark.parametrize("value", [np.float64(1.0), np.array(1.0), 1.0])
def test_0d_scalar_is_refused(value):
    with pytest.raises(RenderError, match="column 'x' of the dict of arrays is a single value"):
        gr.Canvas(4, 4).points({"x": value, "y": np.arange(3.0)}, "x", "y")


def test_polars_lazyframe_is_collected_with_the_needed_columns(backend):
    pl = pytest.importorskip("polars")
    import datashader as ds
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500), "v": rng.random(500),
                       "unused": ["a"] * 500})
    lazy = pl.from_pandas(df).lazy().filter(pl.col("x") > -1)
    got = gr.Canvas(20, 20, x_range=(-3, 3), y_range=(-3, 3)).points(lazy, "x", "y", gr.mean("v"), backend=backend)
    want = ds.Canvas(20, 20, x_range=(-3, 3), y_range=(-3, 3)).points(df[df.x > -1], "x", "y", ds.mean("v"))
    np.testing.assert_allclose(np.asarray(got.data), want.data, equal_nan=True)


def test_polars_lazyframe_missing_column_names_its_columns():
    pl = pytest.importorskip("polars")
    lazy = pl.DataFrame({"x": [1.0], "y": [2.0]}).lazy()
    with pytest.raises(RenderError, match="column 'nope' not found in the polars LazyFrame; its columns are 'x', 'y'"):
        gr.Canvas(4, 4).points(lazy, "x", "nope")


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_timezone_aware_datetimes_are_named_with_how_to_convert(tz):
    df = pd.DataFrame({"t": pd.date_range("2020", periods=3, tz=tz), "y": [1.0, 2.0, 3.0]})
    with pytest.raises(RenderError, match=r"column 't' is not numeric \(it holds timezone-aware dates and times\).*astype\('int64'\)"):
        gr.Canvas(4, 4).points(df, "t", "y")
    # and the conversion the message suggests works
    df["t"] = df["t"].astype("int64")
    assert int(gr.Canvas(4, 4).points(df, "t", "y").sum()) == 3


def test_timezone_aware_datetimes_in_arrow_tables_are_named():
    table = pa.table({"t": pa.array(pd.date_range("2020", periods=3, tz="UTC")), "y": [1.0, 2.0, 3.0]})
    with pytest.raises(RenderError, match="holds dates and times"):
        gr.Canvas(4, 4).points(table, "t", "y")


def test_arrow_integers_beyond_2_53_with_nulls_render_as_pandas_does(backend):
    import datashader as ds
    big = [2**60, None, 3, 2**62 + 1, 7]
    got = gr.Canvas(8, 4).points(pa.table({"x": pa.array(big, pa.int64()), "y": [1.0, 2, 3, 4, 5]}),
                                 "x", "y", backend=backend)
    want = ds.Canvas(8, 4).points(pd.DataFrame({"x": pd.array(big, "Int64").astype(float), "y": [1.0, 2, 3, 4, 5]}),
                                  "x", "y")
    np.testing.assert_array_equal(np.asarray(got.data), want.data)
    assert int(got.sum()) == 4


def test_all_null_value_column_is_named_in_render():
    df = pd.DataFrame({"x": np.arange(1000.0), "y": np.arange(1000.0), "v": np.full(1000, np.nan)})
    with pytest.raises(RenderError, match="column 'v' has no finite values in any of the 1,000 rows"):
        gr.render(df, "x", "y", gr.mean("v"), width=10, height=10)
    # rows outside the ranges still say so
    with pytest.raises(RenderError, match="none of the 1,000 rows falls inside"):
        gr.render(df.assign(v=1.0), "x", "y", gr.mean("v"), width=10, height=10, x_range=(5000, 6000))

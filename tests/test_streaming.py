"""Streaming aggregates equal the batch aggregate of the same rows; decay and windows."""
import numpy as np
import pandas as pd
import pytest

import gpu_render as gr
from gpu_render.errors import RenderError
from gpu_render.streaming import StreamingAggregate, watch_parquet

RANGES = dict(x_range=(-4, 4), y_range=(-4, 4), width=64, height=48)


@pytest.fixture
def frame(rng, n_points):
    n = n_points
    v = rng.normal(size=n)
    v[::31] = np.nan
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n), "v": v,
                         "c": pd.Categorical.from_codes(rng.integers(0, 3, n), ["a", "b", "c"])})


def _batches(df, k=5):
    edges = np.linspace(0, len(df), k + 1).astype(int)
    return [df.iloc[a:b] for a, b in zip(edges[:-1], edges[1:])]


AGGS = [gr.count(), gr.sum("v"), gr.mean("v"), gr.std("v"), gr.var("v"), gr.min("v"), gr.max("v"),
        gr.first("v"), gr.last("v"), gr.count_cat("c"), gr.any()]


@pytest.mark.parametrize("agg", AGGS, ids=repr)
def test_stream_equals_batch(frame, backend, agg):
    s = StreamingAggregate("x", "y", agg, backend=backend, **RANGES)
    for b in _batches(frame):
        s.update(b)
    cvs = gr.Canvas(RANGES["width"], RANGES["height"], RANGES["x_range"], RANGES["y_range"])
    expected = cvs.points(frame, "x", "y", agg, backend=backend)
    got = s.agg()
    assert got.dtype == expected.dtype and got.dims == expected.dims and s.rows == len(frame)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-12)
    else:
        assert np.array_equal(got.values, expected.values)


@pytest.mark.parametrize("agg", AGGS, ids=repr)
def test_hexagon_stream_equals_hexbin(frame, backend, agg):
    """Per hexagon, batches merged equal ``Canvas.hexbin`` of all rows (first/last in stream
    order), and shade as it does."""
    import gpu_render.transfer_functions as tf
    s = StreamingAggregate("x", "y", agg, backend=backend, hex_size=7, hex_origin=(2.0, -1.5), **RANGES)
    for b in _batches(frame):
        s.update(b)
    cvs = gr.Canvas(RANGES["width"], RANGES["height"], RANGES["x_range"], RANGES["y_range"])
    expected = cvs.hexbin(frame, "x", "y", agg, size=7, origin=(2.0, -1.5), backend=backend)
    got = s.agg()
    assert got.dtype == expected.dtype and got.dims == expected.dims and s.rows == len(frame)
    np.testing.assert_array_equal(got["x"].values, expected["x"].values)
    assert {k: v for k, v in got.attrs.items() if k not in ("rows", "batches")} == expected.attrs
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-12)
    else:
        assert np.array_equal(got.values, expected.values)
    if got.ndim == 2:
        np.testing.assert_array_equal(s.shade(cmap="fire").data,
                                      tf.shade(expected, cmap="fire", how="eq_hist").data)


def test_stream_matches_datashader(frame):
    import datashader as ds
    s = StreamingAggregate("x", "y", gr.mean("v"), **RANGES)
    for b in _batches(frame, 7):
        s.update(b)
    exp = ds.Canvas(RANGES["width"], RANGES["height"], RANGES["x_range"], RANGES["y_range"]).points(
        frame, "x", "y", ds.mean("v"))
    np.testing.assert_allclose(s.agg().values, exp.values, rtol=1e-9)


def test_decay_one_and_full_window_equal_batch(frame):
    cvs = gr.Canvas(RANGES["width"], RANGES["height"], RANGES["x_range"], RANGES["y_range"])
    for agg in (gr.count(), gr.mean("v"), gr.std("v")):
        expected = cvs.points(frame, "x", "y", agg).values
        dec = StreamingAggregate("x", "y", agg, decay=1.0, **RANGES)
        win = StreamingAggregate("x", "y", agg, window=10, **RANGES)
        for b in _batches(frame):
            dec.update(b)
            win.update(b)
        np.testing.assert_allclose(dec.agg().values, expected.astype(float), rtol=1e-9)
        np.testing.assert_allclose(win.agg().values.astype(float), expected.astype(float), rtol=1e-9)


def test_exponential_decay_weights(frame):
    b = _batches(frame, 3)
    s = StreamingAggregate("x", "y", gr.count(), decay=0.5, **RANGES)
    for part in b:
        s.update(part)
    cvs = gr.Canvas(RANGES["width"], RANGES["height"], RANGES["x_range"], RANGES["y_range"])
    c = [cvs.points(p, "x", "y", gr.count()).values.astype(float) for p in b]
    np.testing.assert_allclose(s.agg().values, 0.25 * c[0] + 0.5 * c[1] + c[2])
    m = StreamingAggregate("x", "y", gr.mean("v"), decay=0.5, **RANGES)
    for part in b:
        m.update(part)
    sums = [cvs.points(p, "x", "y", gr.sum("v")).fillna(0).values for p in b]
    cnts = [cvs.points(p, "x", "y", gr.count("v")).values for p in b]
    with np.errstate(invalid="ignore", divide="ignore"):
        exp = (0.25 * sums[0] + 0.5 * sums[1] + sums[2]) / (0.25 * cnts[0] + 0.5 * cnts[1] + cnts[2])
    np.testing.assert_allclose(m.agg().values, exp, rtol=1e-9)


def test_sliding_window_keeps_last_batches(frame):
    b = _batches(frame, 5)
    s = StreamingAggregate("x", "y", gr.max("v"), window=2, **RANGES)
    for part in b:
        s.update(part)
    cvs = gr.Canvas(RANGES["width"], RANGES["height"], RANGES["x_range"], RANGES["y_range"])
    exp = cvs.points(pd.concat(b[-2:]), "x", "y", gr.max("v")).values
    np.testing.assert_allclose(s.agg().values, exp)
    img = s.shade(cmap="fire")
    assert img.shape == (RANGES["height"], RANGES["width"])


def test_stream_errors(frame):
    with pytest.raises(RenderError, match="x_range"):
        StreamingAggregate("x", "y", x_range=None, y_range=(0, 1))
    with pytest.raises(RenderError, match="decay"):
        StreamingAggregate("x", "y", decay=1.5, **RANGES)
    with pytest.raises(RenderError, match="under the 2-pixel minimum"):
        StreamingAggregate("x", "y", hex_size=1, **RANGES)
    with pytest.raises(RenderError, match="positive number"):
        StreamingAggregate("x", "y", hex_size="big", **RANGES)
    with pytest.raises(RenderError, match="not both"):
        StreamingAggregate("x", "y", decay=0.5, window=3, **RANGES)
    s = StreamingAggregate("x", "y", gr.min("v"), decay=0.5, **RANGES)
    with pytest.raises(RenderError, match="window"):
        s.update(frame)
    with pytest.raises(RenderError, match="update"):
        StreamingAggregate("x", "y", **RANGES).agg()
    s = StreamingAggregate("x", "y", gr.count_cat("c"), **RANGES)
    s.update(frame)
    other = frame.assign(c=pd.Categorical.from_codes(np.zeros(len(frame), int), ["z", "y", "w"]))
    with pytest.raises(RenderError, match="categories"):
        s.update(other)


def test_watch_parquet_feeds_a_stream(tmp_path, frame):
    for i, part in enumerate(_batches(frame, 3)):
        part.drop(columns="c").to_parquet(tmp_path / f"{i}.parquet")
    s = StreamingAggregate("x", "y", gr.count(), **RANGES)
    for path, table in watch_parquet(str(tmp_path), poll_seconds=0.01, timeout=0.05):
        s.update(table)
    assert s.batches == 3 and s.rows == len(frame)
    cvs = gr.Canvas(RANGES["width"], RANGES["height"], RANGES["x_range"], RANGES["y_range"])
    assert np.array_equal(s.agg().values, cvs.points(frame, "x", "y", gr.count()).values)

"""datashader's own reduction objects given to gpu-render: converted by ``reductions.coerce`` and
aggregated to datashader's answer on both backends."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gpu_render as gr
from gpu_render import reductions as R
from gpu_render.errors import RenderError

ds = pytest.importorskip("datashader")
rd = pytest.importorskip("datashader.reductions")


def _frame(n, rng):
    v = rng.normal(size=n)
    v[::17] = np.nan
    return pd.DataFrame({
        "x": rng.uniform(-1, 1, n), "y": rng.uniform(-1, 1, n), "v": v,
        "w": rng.integers(0, 5, n).astype(np.float64),
        "c": pd.Categorical(rng.choice(list("abc"), n), categories=list("cab")),
    })


DS_REDUCTIONS = [
    lambda: rd.count(), lambda: rd.count("v"), lambda: rd.any(), lambda: rd.any("v"),
    lambda: rd.sum("v"), lambda: rd.mean("v"), lambda: rd.min("v"), lambda: rd.max("v"),
    lambda: rd.std("v"), lambda: rd.var("v"), lambda: rd.first("v"), lambda: rd.last("v"),
    lambda: rd.count_cat("c"), lambda: ds.count_cat("c"), lambda: rd.by("c"),
    lambda: rd.by("c", rd.mean("v")), lambda: rd.by("c", rd.max("w")),
]


@pytest.mark.parametrize("make", DS_REDUCTIONS, ids=lambda f: repr(f()))
def test_datashader_reductions_accepted(backend, n_points, rng, make):
    df = _frame(n_points, rng)
    kw = dict(plot_width=23, plot_height=17, x_range=(-1, 1), y_range=(-1, 1))
    expected = ds.Canvas(**kw).points(df, "x", "y", make())
    got = gr.Canvas(**kw).points(df, "x", "y", make(), backend=backend)
    assert got.dtype == expected.dtype
    assert got.dims == expected.dims
    for d in expected.dims:
        np.testing.assert_array_equal(got.coords[d].values, expected.coords[d].values)
    np.testing.assert_allclose(got.values.astype(float), expected.values.astype(float),
                               rtol=1e-12, atol=1e-12, equal_nan=True)


def test_datashader_summary_accepted(backend, n_points, rng):
    df = _frame(n_points, rng)
    kw = dict(plot_width=11, plot_height=9, x_range=(-1, 1), y_range=(-1, 1))
    red = rd.summary(n=rd.count(), m=rd.mean("v"), hi=rd.max("v"))
    expected = ds.Canvas(**kw).points(df, "x", "y", red)
    got = gr.Canvas(**kw).points(df, "x", "y", red, backend=backend)
    assert isinstance(got, xr.Dataset)
    assert set(got.data_vars) == set(expected.data_vars)
    for k in expected.data_vars:
        np.testing.assert_allclose(got[k].values.astype(float), expected[k].values.astype(float),
                                   rtol=1e-12, equal_nan=True)


def test_coerce_converts_to_equal_reductions():
    assert R.coerce(rd.mean("v")) == R.mean("v")
    assert R.coerce(rd.count()) == R.count()
    assert R.coerce(rd.count_cat("c")) == R.count_cat("c")
    assert R.coerce(rd.by("c", rd.sum("v"))) == R.by("c", R.sum("v"))
    ours = R.max("v")
    assert R.coerce(ours) is ours
    assert R.coerce(None) is None
    s = R.coerce(rd.summary(a=rd.count(), b=rd.min("v")))
    assert isinstance(s, R.summary) and s.reductions == {"a": R.count(), "b": R.min("v")}


def test_coerce_rejects_non_reductions():
    with pytest.raises(RenderError, match="agg must be a reduction"):
        R.coerce("count")
    with pytest.raises(RenderError, match="mode"):
        R.coerce(rd.mode("v"))


def test_render_and_tiles_accept_datashader_reductions(tmp_path, rng):
    df = _frame(500, rng)
    img = gr.render(df, "x", "y", rd.mean("v"), width=20, height=10, backend="cpu")
    ref = gr.render(df, "x", "y", gr.mean("v"), width=20, height=10, backend="cpu")
    np.testing.assert_array_equal(img.values, ref.values)


def test_by_and_count_cat_column_is_the_category_column():
    # datashader's colour-key helpers read .column of a categorical reduction
    assert gr.count_cat("c").column == rd.count_cat("c").column == "c"
    assert gr.by("c", gr.mean("v")).column == rd.by("c", rd.mean("v")).column == "c"
    assert gr.by("c", gr.mean("v")).value_column == "v"

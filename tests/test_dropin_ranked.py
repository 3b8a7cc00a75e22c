"""where, max_n, min_n, first_n, last_n: datashader's results (ties, NaN, padding, dims) on both
backends, from pandas, dask and files, with our reductions and datashader's."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gpu_render as gr
from gpu_render import reductions as R
from gpu_render.errors import RenderError

ds = pytest.importorskip("datashader")
dd = pytest.importorskip("dask.dataframe")

KW = dict(plot_width=7, plot_height=5, x_range=(0, 1), y_range=(0, 1))


@pytest.fixture
def frame(rng, n_points):
    n = min(n_points, 4000)
    df = pd.DataFrame({"x": rng.uniform(0, 1, n), "y": rng.uniform(0, 1, n),
                       # few distinct values: many ties, decided by row order
                       "v": rng.integers(0, 4, n).astype(float), "o": rng.normal(size=n),
                       "c": pd.Categorical(rng.choice(list("ab"), n))})
    df.loc[::7, "v"] = np.nan
    df.loc[::5, "o"] = np.nan
    df.loc[3, "x"] = np.nan
    df.loc[4, "x"] = 2.0    # out of range
    return df


CASES = {
    "max_n": lambda m: m.max_n("v", 3), "min_n": lambda m: m.min_n("v", 2),
    "first_n": lambda m: m.first_n("v", 4), "last_n": lambda m: m.last_n("v", 3),
    "max_n_n0": lambda m: m.max_n("v", 0),
    "where_max": lambda m: m.where(m.max("v"), "o"), "where_min_row": lambda m: m.where(m.min("v")),
    "where_first": lambda m: m.where(m.first("v"), "o"), "where_last_row": lambda m: m.where(m.last("v")),
    "where_max_n": lambda m: m.where(m.max_n("v", 3), "o"),
    "where_min_n_row": lambda m: m.where(m.min_n("v", 2)),
    "where_first_n": lambda m: m.where(m.first_n("v", 2), "o"),
    "where_last_n_row": lambda m: m.where(m.last_n("v", 3)),
    "by_max_n": lambda m: m.by("c", m.max_n("v", 2)),
    "by_where": lambda m: m.by("c", m.where(m.max("v"), "o")),
    "summary": lambda m: m.summary(top=m.max_n("v", 2), at=m.where(m.max_n("v", 2), "o"),
                                   n=m.count()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ranked_reductions_identical_to_datashader(backend, frame, case):
    make = CASES[case]
    expected = ds.Canvas(**KW).points(frame, "x", "y", make(ds))
    for red in (make(gr), make(ds)):   # ours, and datashader's own objects
        got = gr.Canvas(**KW).points(frame, "x", "y", red, backend=backend)
        xr.testing.assert_identical(got, expected)


def test_ranked_reductions_from_dask_and_files(backend, frame, tmp_path):
    import dask
    path = tmp_path / "f.parquet"
    frame.drop(columns="c").to_parquet(path, row_group_size=500)   # several chunks
    ddf = dd.from_pandas(frame.drop(columns="c"), npartitions=3)
    for case in ("max_n", "last_n", "where_max_n", "where_first"):
        make = CASES[case]
        expected = ds.Canvas(**KW).points(frame, "x", "y", make(ds))
        got = gr.Canvas(**KW).points(str(path), "x", "y", make(gr), backend=backend)
        np.testing.assert_array_equal(got.values, expected.values)
        with dask.config.set(scheduler="sync"):
            got = gr.Canvas(**KW).points(ddf, "x", "y", make(gr), backend=backend)
        np.testing.assert_array_equal(got.values, expected.values)


def test_taxi_like_where_and_max_n_example(backend, rng):
    """As the taxi notebooks do: the fare of the biggest tip per pixel, the three biggest tips,
    and hover-style row indices looked up back in the frame."""
    n = 3000 if backend == "gpu" else 20000
    df = pd.DataFrame({"dropoff_x": rng.normal(0, 1, n), "dropoff_y": rng.normal(0, 1, n),
                       "tip_amount": np.round(rng.exponential(2, n), 1),
                       "fare_amount": np.round(rng.uniform(3, 60, n), 2)})
    kw = dict(plot_width=40, plot_height=30, x_range=(-2, 2), y_range=(-2, 2))
    cvs, ref = gr.Canvas(**kw), ds.Canvas(**kw)
    for make in (lambda m: m.where(m.max("tip_amount"), "fare_amount"),
                 lambda m: m.max_n("tip_amount", 3), lambda m: m.where(m.max_n("tip_amount", 3))):
        got = cvs.points(df, "dropoff_x", "dropoff_y", make(gr), backend=backend)
        xr.testing.assert_identical(got, ref.points(df, "dropoff_x", "dropoff_y", make(ds)))
    rows = cvs.points(df, "dropoff_x", "dropoff_y", gr.where(gr.max_n("tip_amount", 3)),
                      backend=backend).values
    top = cvs.points(df, "dropoff_x", "dropoff_y", gr.max_n("tip_amount", 3), backend=backend).values
    hit = rows >= 0
    np.testing.assert_array_equal(df["tip_amount"].values[rows[hit]], top[hit])
    import gpu_render.transfer_functions as tf
    img = tf.shade(cvs.points(df, "dropoff_x", "dropoff_y", gr.where(gr.max("tip_amount"), "fare_amount"),
                              backend=backend), cmap="fire")
    assert img.shape == (30, 40)


def test_ranked_reduction_mistakes():
    with pytest.raises(TypeError):
        gr.where(gr.mean("v"), "o")
    with pytest.raises(RenderError, match="same column"):
        gr.where(gr.max("v"), "v")
    with pytest.raises(TypeError):
        gr.max_n("v", 2.5)
    assert R.coerce(ds.where(ds.max_n("v", 2), "o")) == gr.where(gr.max_n("v", 2), "o")
    assert R.coerce(ds.where(ds.first("v"))) == gr.where(gr.first("v"))
    assert gr.max_n("v", 0).n == ds.max_n("v", 0).n == 1

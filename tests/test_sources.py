"""Every source kind gives the same aggregate; columns are read zero-copy where possible."""
import datashader as dsh
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import gpu_render as gr
from gpu_render.sources import open_table

RANGES = dict(x_range=(-3, 3), y_range=(-3, 3))


@pytest.fixture
def frame(rng):
    n = 3000
    x = rng.standard_normal(n).astype("float32")
    y = rng.standard_normal(n).astype("float32")
    v = rng.standard_normal(n)
    x[::50] = np.nan
    v[::7] = np.nan
    cat = pd.Categorical.from_codes(rng.integers(0, 3, n), ["lo", "mid", "hi"])
    return pd.DataFrame({"x": x, "y": y, "v": v, "c": cat})


def _reference(frame, agg):
    return dsh.Canvas(40, 30, **RANGES).points(frame, "x", "y", agg)


def _sources(frame, tmp_path):
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "d.parquet")
    feather.write_feather(table, tmp_path / "d.arrow")
    frame.assign(c=frame.c.astype(str)).to_csv(tmp_path / "d.csv", index=False)
    return {
        "pandas": frame,
        "arrow": table,
        "polars": pl.from_pandas(frame),
        "dict": {k: (frame[k].to_numpy() if k != "c" else frame[k].values) for k in frame},
        "parquet": str(tmp_path / "d.parquet"),
        "arrow_ipc": tmp_path / "d.arrow",
        "csv": str(tmp_path / "d.csv"),
    }


@pytest.mark.parametrize("kind", ["pandas", "arrow", "polars", "dict", "parquet", "arrow_ipc", "csv"])
def test_every_source_matches_datashader(backend, frame, tmp_path, kind):
    src = _sources(frame, tmp_path)[kind]
    cv = gr.Canvas(40, 30, **RANGES)
    for ours_agg, ref_agg in ((gr.count(), dsh.count()), (gr.mean("v"), dsh.mean("v")),
                              (gr.count_cat("c"), dsh.count_cat("c"))):
        ours = cv.points(src, "x", "y", ours_agg, backend=backend)
        ref = _reference(frame, ref_agg)
        if ours.ndim == 3 and kind in ("csv", "polars"):
            ref = ref.sel(c=["hi", "lo", "mid"])
        np.testing.assert_allclose(np.asarray(ours.values, dtype=float), np.asarray(ref.values, dtype=float),
                                   rtol=1e-9, equal_nan=True)
        assert ours.dtype == ref.dtype
        if ours.ndim == 3:  # categorical order kept; sorted for CSV strings and polars Categorical
            expected = ["lo", "mid", "hi"] if kind not in ("csv", "polars") else ["hi", "lo", "mid"]
            assert list(ours.coords["c"].values) == expected


def test_float_columns_are_not_copied(frame):
    table = open_table(frame, ["x", "y"])
    assert np.shares_memory(table.numeric("x"), frame["x"].to_numpy())
    arrays = {"x": np.arange(10, dtype="float32"), "y": np.arange(10.0)}
    t2 = open_table(arrays, ["x", "y"])
    assert t2.numeric("x") is arrays["x"] and t2.numeric("y") is arrays["y"]
    at = pa.table({"x": np.arange(10.0), "y": np.arange(10.0)})
    assert np.shares_memory(open_table(at, ["x"]).numeric("x"), at.column("x").chunk(0).to_numpy())


def test_integer_and_nullable_columns(backend):
    df = pd.DataFrame({"x": pd.array([1, 2, None, 4], dtype="Int64"), "y": np.array([1, 2, 3, 4], dtype="int32"),
                       "v": pd.array([1.5, None, 2.5, 3.5], dtype="Float64")})
    agg = gr.Canvas(4, 4, x_range=(0, 5), y_range=(0, 5)).points(df, "x", "y", gr.sum("v"), backend=backend)
    assert np.nansum(np.asarray(agg.values)) == pytest.approx(5.0)  # rows 1 and 4; row 3 has no x
    assert int(np.isfinite(np.asarray(agg.values)).sum()) == 2


def test_polars_enum_keeps_declared_order(backend):
    df = pl.DataFrame({"x": [0.5, 1.5], "y": [0.5, 0.5], "c": pl.Series(["z", "a"], dtype=pl.Enum(["z", "a"]))})
    agg = gr.Canvas(2, 1, x_range=(0, 2), y_range=(0, 1)).points(df, "x", "y", gr.count_cat("c"), backend=backend)
    assert list(agg.coords["c"].values) == ["z", "a"]
    np.testing.assert_array_equal(np.asarray(agg.values)[0], [[1, 0], [0, 1]])


def test_parquet_glob_and_directory(backend, tmp_path, rng):
    frames = [pd.DataFrame({"x": rng.uniform(0, 1, 300), "y": rng.uniform(0, 1, 300)}) for _ in range(3)]
    (tmp_path / "ds").mkdir()
    for i, f in enumerate(frames):
        pq.write_table(pa.Table.from_pandas(f, preserve_index=False), tmp_path / "ds" / f"part{i}.parquet")
    whole = pd.concat(frames, ignore_index=True)
    ref = dsh.Canvas(8, 6, x_range=(0, 1), y_range=(0, 1)).points(whole, "x", "y").values
    cv = gr.Canvas(8, 6, x_range=(0, 1), y_range=(0, 1))
    for src in (str(tmp_path / "ds" / "part*.parquet"), str(tmp_path / "ds")):
        np.testing.assert_array_equal(np.asarray(cv.points(src, "x", "y", backend=backend).values), ref)

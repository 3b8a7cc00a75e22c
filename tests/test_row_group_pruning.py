"""Zoomed renders of Parquet files read only the row groups whose x/y statistics meet the view.

Datashader (on the same rows in memory) is the oracle; the pruned read must also equal the
same render reading every row group (``FileTable.pieces`` forced to None), on both backends,
for every reduction, with NaN/inf coordinates, views whose edges fall exactly on row-group
minima and maxima, views outside the data, datasets of several files (row numbers for
first/last run on across files), float64 coordinates the GPU narrows to float32, and geo.
"""
import datashader
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_render as ds
from gpu_render.filetable import FileTable, _coalesce, open_file
from agg_compare import assert_same
from gpu_render.xp import to_host

GROUP = 250


def _frame(n, seed=5):
    """x sorted (so row groups cover narrow x bands), y random; NaN/inf sprinkled in."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 100, n))
    y = rng.uniform(0, 100, n)
    v = rng.normal(10, 3, n)
    x[7::97], y[11::89], v[5::61] = np.nan, np.inf, np.nan
    c = pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"])
    return pd.DataFrame({"x": x, "y": y, "v": v, "c": c})


@pytest.fixture
def sorted_file(tmp_path, n_points):
    df = _frame(min(n_points, 3_000))
    path = tmp_path / "sorted.parquet"
    df.to_parquet(path, row_group_size=GROUP)
    return path, df


REDUCTIONS = dict(n=ds.count(), s=ds.sum("v"), m=ds.mean("v"), lo=ds.min("v"), hi=ds.max("v"),
                  sd=ds.std("v"), f=ds.first("v"), la=ds.last("v"), cc=ds.count_cat("c"))
ORACLE = dict(n=datashader.count(), s=datashader.sum("v"), m=datashader.mean("v"),
              lo=datashader.min("v"), hi=datashader.max("v"), sd=datashader.std("v"),
              f=datashader.first("v"), la=datashader.last("v"), cc=datashader.count_cat("c"))


def _views(df):
    """Zoomed views, one with edges exactly on a row group's x minimum and maximum."""
    g = df.x.iloc[GROUP:2 * GROUP].dropna()
    return [((g.min(), g.max()), (0, 100)),            # exactly one row group's x span
            ((21.5, 23.25), (10, 60)),
            ((60, 100), (50, 100)),
            ((-20, -10), (0, 100))]                     # left of every point


def _unpruned(monkeypatch):
    monkeypatch.setattr(FileTable, "pieces", lambda self, where: None)


def test_pieces_skip_row_groups_outside_the_view(sorted_file):
    path, df = sorted_file
    t = open_file(str(path), ["x", "y"])
    groups = pq.ParquetFile(path).metadata.num_row_groups
    assert groups >= 4
    (lo, hi), _ = _views(df)[0]
    pieces = t.pieces({"x": (lo, hi), "y": (0, 100)})
    assert [p.groups for p in pieces] == [(1,)] and pieces[0].row0 == GROUP and pieces[0].rows == GROUP
    assert t.rows_within({"x": (lo, hi), "y": (0, 100)}) == GROUP
    assert t.pieces({"x": (-20, -10), "y": (0, 100)}) == []
    assert t.pieces({"x": (-1, 101), "y": (-1, 101)}) is None       # nothing ruled out: read all
    assert t.rows_within({"x": (-1, 101), "y": (-1, 101)}) == len(df)


@pytest.mark.parametrize("view", range(4))
def test_pruned_render_equals_datashader_and_the_full_read(sorted_file, backend, monkeypatch, view):
    path, df = sorted_file
    xr, yr = _views(df)[view]
    kw = dict(plot_width=30, plot_height=20, x_range=xr, y_range=yr)
    # float64 kept for the oracle: the GPU's default float32 narrowing (noted on the result) may
    # move a point lying exactly on the view's edge out of it, pruned or not
    exact = ds.Canvas(**kw).points(str(path), "x", "y", ds.summary(**REDUCTIONS), backend=backend,
                                   float32=False)
    cvs = datashader.Canvas(**kw)
    for name, red in ORACLE.items():
        assert_same(exact[name], cvs.points(df, "x", "y", red))
    got = ds.Canvas(**kw).points(str(path), "x", "y", ds.summary(**REDUCTIONS), backend=backend)
    _unpruned(monkeypatch)
    full = ds.Canvas(**kw).points(str(path), "x", "y", ds.summary(**REDUCTIONS), backend=backend)
    for name in REDUCTIONS:
        assert_same(got[name], full[name])


def test_profile_reports_rows_read_against_the_source(sorted_file):
    path, df = sorted_file
    (lo, hi), yr = _views(df)[0]
    p = ds.profile(str(path), "x", "y", width=30, height=20, x_range=(lo, hi), y_range=yr)
    assert p.rows == GROUP and p.source_rows == len(df)
    assert p.to_dict()["source_rows"] == len(df)
    assert f"read {GROUP:,} of the source's {len(df):,} rows" in p.report()
    full = ds.profile(str(path), "x", "y", width=30, height=20, x_range=(-1, 101), y_range=(-1, 101))
    assert full.rows == full.source_rows == len(df)
    assert "of the source's" not in full.report()


def test_a_view_with_no_row_group_names_the_source_rows(sorted_file):
    path, df = sorted_file
    with pytest.raises(ds.RenderError, match=f"none of the {len(df):,} rows falls inside"):
        ds.render(str(path), "x", "y", width=30, height=20, x_range=(-20, -10), y_range=(0, 100))
    out = ds.Canvas(30, 20, (-20, -10), (0, 100)).points(str(path), "x", "y", ds.count())
    assert int(out.data.sum()) == 0


def test_dataset_of_several_files_keeps_row_numbers(tmp_path, backend, n_points, monkeypatch):
    """first/last pick rows by their number in the whole dataset: skipped groups and files
    must not shift it. Each file holds x bands interleaved with the others' (the view meets
    row groups of every file, not one)."""
    df = _frame(min(n_points, 3_000), seed=9)
    folder = tmp_path / "parts"
    folder.mkdir()
    parts = np.array_split(np.arange(len(df)), 3)
    for k, rows in enumerate(parts):
        df.iloc[rows].to_parquet(folder / f"part-{k}.parquet", row_group_size=GROUP // 2)
    kw = dict(plot_width=12, plot_height=9, x_range=(30, 36), y_range=(0, 100))
    agg = ds.summary(f=ds.first("v"), la=ds.last("v"), n=ds.count())
    got = ds.Canvas(**kw).points(str(folder), "x", "y", agg, backend=backend)
    cvs = datashader.Canvas(**kw)
    assert_same(got["f"], cvs.points(df, "x", "y", datashader.first("v")))
    assert_same(got["la"], cvs.points(df, "x", "y", datashader.last("v")))
    assert_same(got["n"], cvs.points(df, "x", "y", datashader.count()))
    t = open_file(str(folder), ["x", "y"])
    assert t.rows_within({"x": (30, 36), "y": (0, 100)}) < len(df) / 2


def test_float64_rounding_into_the_view_is_kept(tmp_path, backend, monkeypatch):
    """A row group whose float64 x all lie just above the view's edge, but whose float32
    rounding equals it: a render that narrows to float32 counts those rows, so the group is read."""
    edge = 1.0
    above = np.full(400, edge + 1e-12)              # float32(above) == 1.0
    x = np.concatenate([np.linspace(0, 0.5, 400), above])
    df = pd.DataFrame({"x": x, "y": np.full(800, 0.5)})
    path = tmp_path / "edge.parquet"
    df.to_parquet(path, row_group_size=400)
    t = open_file(str(path), ["x", "y"])
    assert [p.groups for p in t.pieces({"x": (0.75, edge), "y": (0, 1)})] == [(1,)]
    kw = dict(plot_width=4, plot_height=2, x_range=(0.75, edge), y_range=(0, 1))
    got = ds.Canvas(**kw).points(str(path), "x", "y", ds.count(), backend=backend)
    _unpruned(monkeypatch)
    full = ds.Canvas(**kw).points(str(path), "x", "y", ds.count(), backend=backend)
    assert_same(got, full)


def test_groups_without_statistics_are_read(tmp_path):
    df = _frame(2_000)
    path = tmp_path / "nostats.parquet"
    pq.write_table(pa.Table.from_pandas(df), path, row_group_size=GROUP, write_statistics=False)
    t = open_file(str(path), ["x", "y"])
    assert t.pieces({"x": (10, 12), "y": (0, 100)}) is None
    kw = dict(plot_width=10, plot_height=10, x_range=(10, 12), y_range=(0, 100))
    got = ds.Canvas(**kw).points(str(path), "x", "y", ds.count())
    assert_same(got, datashader.Canvas(**kw).points(df, "x", "y", datashader.count()))


def test_geo_view_prunes_by_longitude_latitude(tmp_path, monkeypatch):
    """``geo``: the view is in Web Mercator metres, the file's statistics in degrees; the box is
    translated back, so a zoomed map reads only its row groups and draws what the full read does."""
    rng = np.random.default_rng(4)
    n = 4_000
    lon = np.sort(rng.uniform(-180, 180, n))
    lat = rng.uniform(-80, 80, n)
    path = tmp_path / "geo.parquet"
    pd.DataFrame({"lon": lon, "lat": lat}).to_parquet(path, row_group_size=GROUP)
    from gpu_render.render import aggregate
    kw = dict(width=40, height=30, x_range=(10.0, 20.0), y_range=(-30.0, 40.0), geo=True)  # degrees
    p = ds.profile(str(path), "lon", "lat", **kw)
    assert 0 < p.rows < n / 10 and p.source_rows == n
    got = aggregate(str(path), "lon", "lat", **kw)
    _unpruned(monkeypatch)
    full = aggregate(str(path), "lon", "lat", **kw)
    assert_same(got, full)
    assert int(to_host(got.data).sum()) == int(((lon >= 10) & (lon <= 20) & (lat >= -30) & (lat <= 40)).sum())


def test_a_file_rewritten_after_a_render_is_read_anew(tmp_path):
    """Footers and group ranges are kept per process, keyed by the file's size and time stamp:
    a file replaced under the same name is pruned and rendered from its new contents."""
    import os
    path = tmp_path / "f.parquet"
    view = dict(plot_width=10, plot_height=10, x_range=(0, 50), y_range=(0, 100))
    first = _frame(2000)
    first.to_parquet(path, row_group_size=GROUP)
    assert_same(ds.Canvas(**view).points(str(path), "x", "y"), ds.Canvas(**view).points(first, "x", "y"))
    second = _frame(1500, seed=9).assign(x=lambda d: d.x.values[::-1])   # other groups, other order
    second.to_parquet(path, row_group_size=GROUP // 2)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))    # a new time stamp, surely
    t = open_file(str(path), ["x", "y"])
    assert t.rows_within({"x": (0, 50), "y": (0, 100)}) < len(second)
    assert_same(ds.Canvas(**view).points(str(path), "x", "y"), ds.Canvas(**view).points(second, "x", "y"))


def test_coalesce_joins_only_consecutive_rows():
    def batch(n):
        return pa.record_batch({"a": np.arange(n, dtype=np.float64)})
    pairs = [(0, batch(10)), (10, batch(10)), (50, batch(10)), (60, batch(5))]
    out = [(r, b.num_rows) for r, b in _coalesce(iter(pairs), 100, None)]
    assert out == [(0, 20), (50, 15)]
    out = [(r, b.num_rows) for r, b in _coalesce(iter(pairs), 20, None)]
    assert out == [(0, 10), (10, 10), (50, 10), (60, 5)]

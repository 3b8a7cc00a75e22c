"""Hexagonal binning (``Canvas.hexbin``) against a brute-force reference: each point's hexagon is
the nearest of all centres, computed here by distances to every centre, ties to the lowest row
then the leftmost column (the rule ``hexgrid`` documents)."""
import math

import numpy as np
import pandas as pd
import pytest
from agg_compare import assert_same

import gpu_render as ds
import gpu_render.transfer_functions as tf
from gpu_render.axes import Viewport
from gpu_render.errors import RenderError
from gpu_render.hexbin import pixel_cells
from gpu_render.hexgrid import PIXELS, HexLattice
from gpu_render.hextable import HexBinning
from gpu_render.hostkernels.hexbin import hex_cells
from gpu_render.xp import to_host

W, H = 60, 45
RANGES = dict(x_range=(-2.0, 2.5), y_range=(-1.5, 2.0))

REDUCTIONS = dict(
    count=ds.count(), count_v=ds.count("v"), any=ds.any(), sum=ds.sum("v"), mean=ds.mean("v"),
    min=ds.min("v"), max=ds.max("v"), std=ds.std("v"), var=ds.var("v"), first=ds.first("v"),
    last=ds.last("v"), count_cat=ds.count_cat("c"), by_mean=ds.by("c", ds.mean("v")),
    max_n=ds.max_n("v", 3), where_max=ds.where(ds.max("v")))


def reference_cells(px, py, lat):
    """(column, row) of each pixel-space point (NaN: none) by distances to every centre, in
    row-major order so that argmin's first minimum is the tie rule's choice."""
    size, (ox, oy) = lat.size, lat.origin
    v = size * math.sqrt(3) / 2
    rows = np.arange(lat.row0, lat.row0 + lat.nrows, dtype=np.float64)
    cols = np.arange(lat.col0, lat.col0 + lat.ncols, dtype=np.float64)
    R, C = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    shift = np.where(R % 2 == 1, size / 2, 0.0)   # odd rows' centres: size / 2 further right
    cy = R * v
    col = np.full(px.shape, np.nan)
    row = np.full(px.shape, np.nan)
    ok = ~(np.isnan(px) | np.isnan(py))
    X, Y = px[ok] - ox, py[ok] - oy
    dx, dy = (X[:, None] - shift[None, :]) - C[None, :] * size, Y[:, None] - cy[None, :]
    best = np.argmin(dx * dx + dy * dy, axis=1)
    col[ok], row[ok] = C[best] - lat.col0, R[best] - lat.row0
    return col, row


_LOG10 = np.frompyfunc(lambda v: math.log10(v) if v > 0 else math.nan, 1, 1)


def log10(a):
    """The C library's log10 (the kernels' ``math.log10``), not numpy's: they can differ in the
    last bit (numpy 2.4: log10(40)), which moves a point on a hexagon edge across it."""
    return _LOG10(a.astype(np.float64)).astype(np.float64)


def to_pixels(xs, ys, vp):
    """Data -> pixel space with the canvas' scale and translate, NaN outside the inclusive ranges."""
    sx, tx, sy, ty, x0, x1, y0, y1 = vp.params
    with np.errstate(invalid="ignore", divide="ignore"):
        fx = log10(xs) if vp.x_log else xs.astype(np.float64)
        fy = log10(ys) if vp.y_log else ys.astype(np.float64)
        ok = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    return np.where(ok, fx * sx + tx, np.nan), np.where(ok, fy * sy + ty, np.nan)


def points(n, seed=0, x_range=RANGES["x_range"], y_range=RANGES["y_range"]):
    """Random points over and beyond the ranges (a tenth outside), NaN and inf sprinkled in."""
    rng = np.random.default_rng(seed)
    (a, b), (c, d) = x_range, y_range
    x = rng.uniform(a - 0.1 * (b - a), b + 0.1 * (b - a), n)
    y = rng.uniform(c - 0.1 * (d - c), d + 0.1 * (d - c), n)
    x[::31], y[::37], x[5::41], y[7::43] = np.nan, np.nan, np.inf, -np.inf
    x[11::53], y[11::53] = b, d     # on the upper edges: inside, as in Canvas.points
    x[13::59], y[13::59] = a, c
    v = rng.normal(10, 3, n)
    v[3::29] = np.nan
    return pd.DataFrame({"x": x, "y": y, "v": v,
                         "c": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"])})


LATTICES = [(W, H, 12, (0.0, 0.0)), (W, H, 7.5, (3.25, -5.5)), (W, H, 2, (0.0, 0.0)),
            (W, H, 45, (-100.0, 77.0)), (33, 80, 5.5, (0.0, 0.0))]


@pytest.mark.parametrize("w,h,size,origin", LATTICES)
@pytest.mark.parametrize("logs", [(False, False), (True, False)])
def test_cells_equal_brute_force(w, h, size, origin, logs):
    lat = HexLattice(w, h, size, origin)
    x_range = (0.5, 40.0) if logs[0] else RANGES["x_range"]
    vp = Viewport(w, h, x_range, RANGES["y_range"], *logs)
    df = points(4000, seed=int(size * 10), x_range=x_range)
    want = reference_cells(*to_pixels(df.x.values, df.y.values, vp), lat)
    assert np.nanmin(want[0]) >= 0 and np.nanmax(want[0]) < lat.ncols   # the cells cover the canvas
    assert np.nanmin(want[1]) >= 0 and np.nanmax(want[1]) < lat.nrows
    for dtype in (np.float64, np.float32):
        xs, ys = df.x.values.astype(dtype), df.y.values.astype(dtype)
        col, row = reference_cells(*to_pixels(xs, ys, vp), lat)
        want = row * lat.ncols + col + 0.5
        host = HexBinning("x", "y", "cell", vp, lat).project({"x": xs, "y": ys})[0]["cell"]
        assert host.dtype == np.float32
        np.testing.assert_array_equal(host, want)


def pixel_space_cells(px, py, lat):
    out = np.empty(len(px))
    hex_cells(px, py, PIXELS, lat.params, False, False, out)
    return out


@pytest.mark.parametrize("w,h,size,origin", LATTICES[1:3])
@pytest.mark.parametrize("logs", [(False, False), (False, True)])
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")   # simulator: inf - inf
def test_device_kernel_equals_brute_force(w, h, size, origin, logs):
    """The CUDA kernel (device arrays' binning; simulated where there is no GPU) gives the brute
    force's cells, ties included, for float32 and float64 points."""
    from gpu_render import backend as B
    gpu, why = B.probe("gpu", explicit=True)
    if gpu is None:
        pytest.skip(f"GPU backend unavailable: {why}")
    lat = HexLattice(w, h, size, origin)
    y_range = (0.5, 40.0) if logs[1] else RANGES["y_range"]
    vp = Viewport(w, h, RANGES["x_range"], y_range, *logs)
    df = points(700, seed=3, y_range=y_range)
    xs, ys = df.x.values, df.y.values
    for dtype in (np.float64, np.float32):
        x, y = xs.astype(dtype), ys.astype(dtype)
        col, row = reference_cells(*to_pixels(x, y, vp), lat)
        got = gpu.hex_cells(x, y, vp.params, lat.params, vp.x_log, vp.y_log, lat.dtype)
        np.testing.assert_array_equal(to_host(got), (row * lat.ncols + col + 0.5).astype(lat.dtype))
    # exact ties (data units are pixels): between two centres of a row, to the left one
    lat, vp = HexLattice(64, 48, 8), Viewport(64, 48, (0.0, 64.0), (0.0, 48.0))
    xs = np.r_[np.arange(8) * 8.0 + 4.0, np.arange(1, 8) * 8.0]
    ys = np.r_[np.zeros(8), np.full(7, lat.v)]
    got = gpu.hex_cells(xs, ys, vp.params, lat.params, False, False, np.float64)
    col, row = reference_cells(*to_pixels(xs, ys, vp), lat)
    np.testing.assert_array_equal(to_host(got), row * lat.ncols + col + 0.5)
    np.testing.assert_array_equal(col + lat.col0, np.r_[np.arange(8), np.arange(7)])


def test_every_pixel_of_the_canvas_has_a_cell():
    """The corners and edges of [0, W] x [0, H] lie in a cell, whatever the origin."""
    edge = np.array([0.0, 1e-9, 0.5, W / 2, W - 1e-9, W])
    for origin in [(0.0, 0.0), (5.9, -3.3), (-17.0, 40.0)]:
        lat = HexLattice(W, H, 9, origin)
        px, py = (a.ravel() for a in np.meshgrid(edge, edge * H / W))
        col, row = reference_cells(px, py, lat)
        assert (pixel_space_cells(px, py, lat) == row * lat.ncols + col + 0.5).all()
        assert (col >= 0).all() and (col < lat.ncols).all() and (row >= 0).all() and (row < lat.nrows).all()
        cells = pixel_cells(lat)
        want = reference_cells(*(a.ravel() for a in np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)), lat)
        np.testing.assert_array_equal(cells.ravel(), want[1] * lat.ncols + want[0])


@pytest.mark.parametrize("size", [8, 12, 10.5, 7])
def test_ties_on_vertical_edges_go_to_the_left_column(size):
    """Points exactly between two centres of a row (multiples of size / 2, exact in binary) go to
    the left one; the brute force agrees."""
    lat = HexLattice(64, 48, size)
    vp = Viewport(64, 48, (0.0, 64.0), (0.0, 48.0))
    n = int(64 // size)
    even = (np.arange(n) * size + size / 2, np.zeros(n))        # row 0: centres at 0, size, ...
    odd = (np.arange(1, n) * size, np.full(n - 1, lat.v))      # row 1: centres at size / 2, ...
    for (xs, ys), row in ((even, 0), (odd, 1)):
        got = HexBinning("x", "y", "cell", vp, lat).project({"x": xs, "y": ys})[0]["cell"]
        col, rows = reference_cells(*to_pixels(xs, ys, vp), lat)
        shift = 0 if row == 0 else size / 2
        np.testing.assert_array_equal(col + lat.col0, (xs - shift - size / 2) // size)   # the left centre
        np.testing.assert_array_equal(rows + lat.row0, row)
        np.testing.assert_array_equal(got, rows * lat.ncols + col + 0.5)


def lattice_reference(df, lat, vp, agg, backend):
    """The aggregate of ``df`` per brute-force cell, through Canvas.points on the cells."""
    col, row = reference_cells(*to_pixels(df.x.values, df.y.values, vp), lat)
    cells = df.assign(x=col + 0.5, y=row + 0.5)
    return ds.Canvas(lat.ncols, lat.nrows, (0, lat.ncols), (0, lat.nrows)).points(
        cells, "x", "y", agg, backend=backend)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_every_reduction_equals_brute_force(name, backend, n_points):
    df = points(n_points, seed=3)
    cvs = ds.Canvas(W, H, **RANGES)
    got = cvs.hexbin(df, "x", "y", REDUCTIONS[name], size=7.5, backend=backend)
    lat = HexLattice(W, H, 7.5)
    want = lattice_reference(df, lat, Viewport(W, H, *RANGES.values()), REDUCTIONS[name], backend)
    assert got.dims[:2] == ("hex_row", "hex_col") and got.shape == want.shape
    assert got.dtype == want.dtype
    assert_same(got, want)
    if name == "count":   # and independently of Canvas.points
        col, row = reference_cells(*to_pixels(df.x.values, df.y.values, Viewport(W, H, *RANGES.values())), lat)
        ok = ~np.isnan(col)
        hist = np.zeros((lat.nrows, lat.ncols), np.int64)
        np.add.at(hist, (row[ok].astype(int), col[ok].astype(int)), 1)
        np.testing.assert_array_equal(to_host(got.data), hist)
    if name == "count_cat":
        assert list(got.coords["c"].values) == ["a", "b", "c"]


def test_coords_and_attrs_describe_the_lattice():
    df = points(2000)
    got = ds.Canvas(W, H, x_range=(0.5, 40.0), y_range=RANGES["y_range"], x_axis_type="log").hexbin(
        df.assign(x=np.abs(df.x) * 10 + 0.5), "x", "y", size=12, origin=(2.0, 3.0))
    lat = HexLattice(W, H, 12, (2.0, 3.0))
    assert got.attrs["glyph"] == "hex" and got.attrs["orientation"] == "pointy"
    assert (got.attrs["hex_size"], got.attrs["origin"]) == (12.0, (2.0, 3.0))
    assert (got.attrs["plot_width"], got.attrs["plot_height"]) == (W, H)
    assert got.attrs["x_range"] == (0.5, 40.0) and got.attrs["x_axis_type"] == "log"
    r, c = 3, 2
    gr_, gc = r + lat.row0, c + lat.col0
    px = gc * 12 + (gr_ % 2) * 6 + 2.0
    py = gr_ * lat.v + 3.0
    sx, tx, sy, ty = Viewport(W, H, (0.5, 40.0), RANGES["y_range"], True).params[:4]
    assert got.coords["x"].values[r, c] == pytest.approx(10 ** ((px - tx) / sx), rel=1e-12)
    assert got.coords["y"].values[r, c] == pytest.approx((py - ty) / sy, rel=1e-12)


def test_computed_ranges_and_summary():
    df = points(3000).dropna()
    df = df[np.isfinite(df.x) & np.isfinite(df.y)]
    cvs = ds.Canvas(W, H)
    got = cvs.hexbin(df, "x", "y", ds.summary(n=ds.count(), m=ds.mean("v")), size=9)
    lo, hi = float(df.x.min()), float(df.x.max())
    assert got.attrs["x_range"] == (lo, hi)
    want = lattice_reference(df, HexLattice(W, H, 9), Viewport(W, H, (lo, hi), got.attrs["y_range"]),
                             ds.count(), "cpu")
    assert_same(got["n"], want)
    assert int(got["n"].sum()) == len(df)


def test_value_column_that_is_a_coordinate():
    """sum('x') sums the data x, not the cell coordinates."""
    df = points(3000)
    got = ds.Canvas(W, H, **RANGES).hexbin(df, "x", "y", ds.sum("x"), size=10)
    want = lattice_reference(df.assign(xv=df.x), HexLattice(W, H, 10), Viewport(W, H, *RANGES.values()),
                             ds.sum("xv"), "cpu")
    assert_same(got, want)


@pytest.fixture(scope="module")
def frame():
    return points(20_000, seed=5)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_streamed_files_equal_in_memory(fmt, frame, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    from cpu_fallback.backend import CPUBackend
    from gpu_render.profiling import Profile
    monkeypatch.setattr(CPUBackend, "merge_rows", 3000)
    t = pa.Table.from_pandas(frame.assign(c=frame.c.astype(str)), preserve_index=False)
    path = str(tmp_path / f"d.{fmt}")
    pq.write_table(t, path, row_group_size=3000) if fmt == "parquet" else pcsv.write_csv(t, path)
    cvs = ds.Canvas(W, H, **RANGES)
    agg = ds.summary(n=ds.count(), m=ds.mean("v"), f=ds.first("v"), c=ds.count_cat("c"))
    prof = Profile()
    got = cvs.hexbin(path, "x", "y", agg, size=8, memory_limit="16MiB", profile=prof, backend="cpu")
    want = cvs.hexbin(frame, "x", "y", agg, size=8, backend="cpu")
    assert prof.chunks >= 2
    for k in ("n", "m", "f", "c"):
        assert_same(got[k], want[k])
    assert got.attrs["glyph"] == "hex"


def test_dask_equals_in_memory_and_geo_composes(frame):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    from gpu_render.sources import MercatorTable
    cvs = ds.Canvas(W, H, **RANGES)
    agg = ds.summary(n=ds.count(), m=ds.max("v"), c=ds.count_cat("c"))
    geo = pd.DataFrame({"lon": frame.x * 40, "lat": frame.y * 30, "v": frame.v})
    merc = lambda t: MercatorTable(t, "lon", "lat")   # noqa: E731
    gcvs = ds.Canvas(W, H, x_range=(-8e6, 9e6), y_range=(-5e6, 6e6))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        got = cvs.hexbin(dd.from_pandas(frame, npartitions=3), "x", "y", agg, size=8, scheduler=client)
        ggot = gcvs.hexbin(dd.from_pandas(geo, npartitions=2), "lon", "lat", ds.mean("v"), size=8,
                           wrap_table=merc, scheduler=client)
    want = cvs.hexbin(frame, "x", "y", agg, size=8)
    for k in ("n", "m", "c"):
        assert_same(got[k], want[k])
    from gpu_render.mercator import lnglat_to_meters
    mx, my = lnglat_to_meters(geo.lon.values, geo.lat.values)
    gwant = gcvs.hexbin(pd.DataFrame({"lon": mx, "lat": my, "v": geo.v}), "lon", "lat", ds.mean("v"), size=8)
    glocal = gcvs.hexbin(geo, "lon", "lat", ds.mean("v"), size=8, wrap_table=merc)
    np.testing.assert_allclose(to_host(ggot.data), gwant.data, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(glocal.data, gwant.data, rtol=1e-12, equal_nan=True)


def test_pruning_box_in_data_units(frame, tmp_path):
    """The Parquet reader is given the canvas' data box (row groups outside it are skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    sorted_ = frame.sort_values("x").reset_index(drop=True).drop(columns="c")
    path = str(tmp_path / "s.parquet")
    pq.write_table(pa.Table.from_pandas(sorted_, preserve_index=False), path, row_group_size=1000)
    cvs = ds.Canvas(W, H, x_range=(-0.5, 0.5), y_range=RANGES["y_range"])
    from gpu_render.profiling import Profile
    prof = Profile()
    got = cvs.hexbin(path, "x", "y", size=6, profile=prof)
    assert_same(got, cvs.hexbin(sorted_, "x", "y", size=6))
    assert prof.rows < len(sorted_) / 2


def test_shade_draws_each_pixel_with_its_nearest_hexagon():
    df = points(5000, seed=9)
    cvs = ds.Canvas(W, H, **RANGES)
    lat = HexLattice(W, H, 9, (1.5, 2.5))
    for agg, how in ((ds.count(), "eq_hist"), (ds.mean("v"), "log"), (ds.count_cat("c"), "eq_hist")):
        hexagg = cvs.hexbin(df, "x", "y", agg, size=9, origin=(1.5, 2.5))
        img = tf.shade(hexagg, how=how, span=None if how == "eq_hist" else (1, 20))
        cells = tf.shade(hexagg.drop_vars(["x", "y"]).assign_attrs({"glyph": None}), how=how,
                         span=None if how == "eq_hist" else (1, 20)).data.ravel()
        assert img.shape == (H, W) and img.dims == ("y", "x")
        pc, pr = reference_cells(*(a.ravel() for a in np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)), lat)
        want = cells[(pr * lat.ncols + pc).astype(int)].reshape(H, W)
        np.testing.assert_array_equal(img.data, want)
        empty = (hexagg.data.sum(axis=2) if hexagg.ndim == 3 else hexagg.fillna(0).data) == 0
        pixel_empty = empty.ravel()[(pr * lat.ncols + pc).astype(int)]
        assert pixel_empty.any() and (img.data.ravel()[pixel_empty] >> 24 == 0).all()   # transparent
        np.testing.assert_array_equal(img.coords["x"].values, Viewport(W, H, *RANGES.values()).x_coords)
    points_img = tf.shade(cvs.points(df, "x", "y"))
    stacked = tf.stack(img, points_img)
    assert stacked.shape == (H, W)
    bg = tf.set_background(img, "white")
    assert bg.shape == (H, W) and (bg.data >> 24 == 255).all()


@pytest.mark.parametrize("size,match", [
    (0, "size must be a positive number"), (-3, "size must be a positive number"),
    (float("nan"), "size must be a positive number"), ("12", "size must be a positive number"),
    (True, "size must be a positive number"), (1.5, "under the 2-pixel minimum"),
    (46, "larger than the 60x45 canvas")])
def test_bad_size(size, match):
    with pytest.raises(RenderError, match=match):
        ds.Canvas(W, H, **RANGES).hexbin(points(10), "x", "y", size=size)


def test_bad_origin_and_grid_memory():
    with pytest.raises(RenderError, match="origin must be a pair of finite pixel offsets"):
        ds.Canvas(W, H, **RANGES).hexbin(points(10), "x", "y", origin=(0, float("inf")))
    with pytest.raises(RenderError, match="too much for memory_limit"):
        ds.Canvas(8000, 8000, **RANGES).hexbin(points(10), "x", "y", ds.mean("v"), size=2,
                                               memory_limit="20MB")


def test_backends_agree(backend):
    """Each backend (the GPU simulated where there is none) gives the CPU's hexbin."""
    df = points(2000, seed=4)
    cvs = ds.Canvas(W, H, **RANGES)
    got = cvs.hexbin(df, "x", "y", ds.mean("v"), size=6, backend=backend)
    assert_same(got, cvs.hexbin(df, "x", "y", ds.mean("v"), size=6, backend="cpu"))


def test_pieces_of_a_large_chunk_keep_row_order(monkeypatch, backend):
    """A chunk binned in pieces (``PIECE`` rows) aggregates as in one: first/last by row number."""
    import gpu_render.hextable as HT
    df = points(3000, seed=6)
    cvs = ds.Canvas(W, H, **RANGES)
    agg = ds.summary(f=ds.first("v"), l=ds.last("v"), m=ds.mean("v"), c=ds.count_cat("c"))
    whole = cvs.hexbin(df, "x", "y", agg, size=8, backend=backend)
    monkeypatch.setattr(HT, "PIECE", 700)
    pieces = cvs.hexbin(df, "x", "y", agg, size=8, backend=backend)
    for k in ("f", "l", "m", "c"):
        assert_same(pieces[k], whole[k])

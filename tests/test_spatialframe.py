"""``SpatialFrame``: views of a cell-sorted in-memory table equal views of the unsorted one."""
import numpy as np
import pandas as pd
import pytest

import gpu_render as ds
from gpu_render import spatialframe
from gpu_render.frames import PandasTable
from gpu_render.spatialframe import SpatialFrame

from agg_compare import assert_same, awkward_points

# the whole field, a zoom, boxes whose edges lie exactly on data values, one beyond the data
BOXES = [((-4, 4), (-4, 4)), ((-0.3, 0.2), (0.1, 0.45)), ((-1.5, -1.0), (0.0, 0.5)),
         ((0.5, 3.5), (-3.0, -1.0)), ((10, 11), (10, 11))]
REDUCTIONS = [ds.count(), ds.any(), ds.sum("v"), ds.mean("v"), ds.min("v"), ds.max("v"),
              ds.std("v"), ds.var("v"), ds.count("v"), ds.by("c"), ds.by("c", ds.mean("v")),
              ds.first("v"), ds.last("v"), ds.max_n("v", 3), ds.where(ds.max("v"), "x")]


@pytest.fixture
def frame(n_points, rng):
    df = awkward_points(rng, n_points)
    df.loc[::5, "x"] = df.loc[::5, "x"].round(1)     # many points exactly on box edges
    df.loc[::3, "y"] = df.loc[::3, "y"].round(1)
    return df


@pytest.fixture
def fine(monkeypatch):
    """Ranges never joined, so that the cells' bounds decide what each view reads."""
    monkeypatch.setattr(spatialframe, "JOIN_GAP", -1)


@pytest.mark.parametrize("agg", REDUCTIONS, ids=repr)
def test_views_equal_the_unsorted_frame(frame, backend, agg, fine):
    sf = SpatialFrame(PandasTable(frame), "x", "y", cells=32)
    for xr, yr in BOXES:
        cvs = ds.Canvas(37, 23, xr, yr)
        assert_same(cvs.points(sf, "x", "y", agg, backend=backend),
                    cvs.points(frame, "x", "y", agg, backend=backend))


def test_log_axes_and_computed_ranges(frame, fine):
    df = frame.assign(x=frame.x.abs() + 0.01, y=frame.y.abs() + 0.01)
    sf = SpatialFrame(PandasTable(df), "x", "y", cells=16)
    for xr in ((0.01, 3.0), (0.5, 0.9), None):
        cvs = ds.Canvas(40, 30, xr, None, x_axis_type="log", y_axis_type="log")
        assert_same(cvs.points(sf, "x", "y", ds.mean("v")), cvs.points(df, "x", "y", ds.mean("v")))


def test_a_view_reads_only_its_cells_but_every_row_inside(frame, fine):
    sf = SpatialFrame(PandasTable(frame), "x", "y", cells=32)
    x, y = sf.numeric("x"), sf.numeric("y")
    for (x0, x1), (y0, y1) in BOXES:
        read = np.zeros(len(sf), bool)
        for a, b in sf.row_ranges({"x": (x0, x1), "y": (y0, y1)}):
            read[a:b] = True
        inside = (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)
        assert not (inside & ~read).any()
        if x1 - x0 < 1:
            assert read.sum() < len(sf) / 4
    assert sf.rows_within({"x": (10, 11), "y": (10, 11)}) == 0
    assert sf.row_ranges(None) == [(0, len(sf))]


def test_rows_keep_their_order_within_a_cell(rng):
    n = 10_000
    x, y = rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)
    sf = SpatialFrame(PandasTable(pd.DataFrame({"x": x, "y": y, "r": np.arange(n, dtype=float)})),
                      "x", "y", cells=4)
    r, cell = sf.numeric("r"), (sf.numeric("y") * 4 + sf.numeric("x")).astype(int)
    assert (np.diff(cell) >= 0).all()
    for c in range(16):
        assert (np.diff(r[cell == c]) > 0).all()


def test_order_dependent_reductions_read_the_source_order(frame):
    sf = SpatialFrame(PandasTable(frame), "x", "y")
    assert sf.in_source_order().df is frame
    plain = PandasTable(frame)
    assert not plain.sorted_in_space and plain.in_source_order() is plain

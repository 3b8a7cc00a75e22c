"""gpu_render.holoviews against HoloViews' own operations (datashader underneath) on the same data."""
import logging

import numpy as np
import pytest

param = pytest.importorskip("param")

hv = pytest.importorskip("holoviews")
ds = pytest.importorskip("datashader")
from holoviews.operation import datashader as hvds  # noqa: E402

import gpu_render.canvas  # noqa: E402
import gpu_render.holoviews as grh  # noqa: E402
from agg_compare import awkward_points  # noqa: E402

REDUCTIONS = [
    ds.count(), ds.any(), ds.sum("v"), ds.mean("v"), ds.min("v"), ds.max("v"), ds.std("v"),
    ds.var("v"), ds.first("v"), ds.last("v"), ds.count("v"), ds.count_cat("c"),
    ds.by("c", ds.mean("v")), ds.by("c", ds.max("v")), ds.by("c"),
    "count", "any", "sum", "mean", "min", "max", "std", "var", "first", "last", "count_cat",
]


@pytest.fixture
def frame(n_points, rng):
    """Points with NaN coordinates and values, +-inf and points outside the ranges used below."""
    return awkward_points(rng, n_points)


@pytest.fixture
def calls(monkeypatch):
    """Counts the gpu-render aggregations, to know which path ran."""
    seen = []
    points = gpu_render.canvas.Canvas.points

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("backend"))
        return points(self, *args, **kwargs)
    monkeypatch.setattr(gpu_render.canvas.Canvas, "points", spy)
    return seen


def assert_same_element(ours, theirs):
    assert type(ours) is type(theirs)
    assert ours.kdims == theirs.kdims
    assert ours.vdims == theirs.vdims
    assert [d.nodata for d in ours.vdims] == [d.nodata for d in theirs.vdims]
    assert ours.bounds.lbrt() == theirs.bounds.lbrt()
    a, b = ours.data, theirs.data
    assert dict(a.sizes) == dict(b.sizes)
    for c in b.coords:
        np.testing.assert_array_equal(a[c].values, b[c].values, err_msg=f"coordinate {c}")
    arrays = ([(k, a[k], b[k]) for k in b.data_vars] if hasattr(b, "data_vars") else [("", a, b)])
    for name, va, vb in arrays:
        assert va.dtype == vb.dtype, name
        if vb.dtype.kind in "fiub":
            np.testing.assert_allclose(va.values, vb.values, rtol=1e-12, atol=1e-12,
                                       equal_nan=True, err_msg=f"values of {name}")
        else:
            np.testing.assert_array_equal(va.values, vb.values, err_msg=f"values of {name}")
        assert va.dims == vb.dims


@pytest.mark.parametrize("agg", REDUCTIONS, ids=str)
def test_rasterize_equals_holoviews(agg, frame, backend, calls):
    # a string aggregator takes the first value dimension: the category one for 'count_cat'
    pts = hv.Points(frame, ["x", "y"], ["c", "v"] if agg == "count_cat" else ["v", "c"])
    kw = dict(aggregator=agg, width=37, height=23, x_range=(-2, 2.5), y_range=(-1.5, 2), dynamic=False)
    theirs = hvds.rasterize(pts, **kw)
    ours = grh.rasterize(pts, backend=backend, **kw)
    assert calls == [backend]
    assert_same_element(ours, theirs)


@pytest.mark.parametrize("agg", [ds.count(), ds.mean("v"), ds.count_cat("c")], ids=str)
def test_aggregate_scatter_ranges_from_data(agg, frame, backend, calls):
    """Scatter elements, ranges from the data (HoloViews' sampling), aggregate and datashade."""
    sc = hv.Scatter(frame.replace([np.inf, -np.inf], np.nan), "x", ["y", "v", "c"])
    theirs = hvds.aggregate(sc, aggregator=agg, width=50, height=40, dynamic=False)
    ours = grh.aggregate(sc, aggregator=agg, width=50, height=40, dynamic=False, backend=backend)
    assert calls == [backend]
    assert_same_element(ours, theirs)
    rgb_theirs = hvds.datashade(sc, aggregator=agg, width=50, height=40, dynamic=False)
    rgb_ours = grh.datashade(sc, aggregator=agg, width=50, height=40, dynamic=False, backend=backend)
    assert isinstance(rgb_ours, hv.RGB)
    assert rgb_ours.bounds.lbrt() == rgb_theirs.bounds.lbrt()
    assert rgb_ours.vdims == rgb_theirs.vdims
    for d in rgb_theirs.vdims:
        np.testing.assert_array_equal(rgb_ours.dimension_values(d, flat=False),
                                      rgb_theirs.dimension_values(d, flat=False))


@pytest.mark.parametrize("axes", [("log", "linear"), ("linear", "log"), ("log", "log")])
@pytest.mark.parametrize("agg", [ds.count(), ds.mean("v"), ds.by("c", ds.sum("v"))], ids=str)
def test_log_axes_equal_datashader(axes, agg, frame, backend, calls):
    """HoloViews builds a linear Canvas; a log one (a subclass's) is passed through as log."""
    df = frame.assign(x=np.abs(frame.x) * 10, y=np.abs(frame.y) * 10)   # zeros and NaN stay in
    df.loc[::13, "x"] = -1.0                                            # invalid on a log axis
    cvs = ds.Canvas(31, 19, (0.1, 30), (0.2, 25), x_axis_type=axes[0], y_axis_type=axes[1])
    op = grh.aggregate.instance(backend=backend)
    op.p = param.ParamOverrides(op, {})             # as Operation.__call__ sets it
    x, y = hv.Dimension("x"), hv.Dimension("y")
    ours = op._apply_datashader(df, cvs.points, agg, x, y, hvds.AggState.get_state(agg, None))
    theirs = cvs.points(df, "x", "y", agg)
    if isinstance(agg, ds.by):       # HoloViews drops the empty category the same way for both
        theirs = hvds.aggregate.instance()._apply_where_summary(df, "x", "y", agg, theirs,
                                                                hvds.AggState.AGG_BY)
    assert calls == [backend]
    for c in theirs.coords:
        np.testing.assert_allclose(ours[c].values, theirs[c].values, rtol=1e-12) if theirs[c].dtype.kind == "f" \
            else np.testing.assert_array_equal(ours[c].values, theirs[c].values)
    np.testing.assert_allclose(ours.values, theirs.values, rtol=1e-12, equal_nan=True)


def _unsupported_reduction(monkeypatch):
    """A datashader reduction gpu-render does not convert. gpu-render now converts every
    datashader reduction HoloViews can apply to points (``mode`` is raster-only in datashader,
    the row-index ones take no column), so one is made unconvertible here: the fallback path
    itself is what is under test."""
    from gpu_render.errors import RenderError

    real = grh.coerce

    def refuse_var(red):
        if type(red).__name__ == "var":
            raise RenderError("datashader's var reduction is not supported by gpu-render (test).")
        return real(red)
    monkeypatch.setattr(grh, "coerce", refuse_var)
    return ds.var("v")


def test_unknown_reductions_take_holoviews_path_noted_once(frame, calls, caplog, monkeypatch):
    red = _unsupported_reduction(monkeypatch)
    pts = hv.Points(frame, ["x", "y"], ["v", "c"])
    grh._noted.clear()
    kw = dict(aggregator=red, width=20, height=10, dynamic=False)
    with caplog.at_level(logging.INFO, logger="gpu_render.holoviews"):
        for _ in range(2):
            assert_same_element(grh.rasterize(pts, **kw), hvds.rasterize(pts, **kw))
    assert calls == []
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1, notes            # one note per reason, not per call
    assert "HoloViews' own" in notes[0] and type(red).__name__ in notes[0]


def test_selector_equals_holoviews(frame, calls):
    """``selector=`` (a summary with ``where``): on gpu-render where it converts, else HoloViews'."""
    pts = hv.Points(frame, ["x", "y"], ["v", "c"])
    kw = dict(aggregator=ds.mean("v"), selector=ds.first("v"), width=20, height=10,
              x_range=(-2, 2), y_range=(-2, 2), dynamic=False)
    assert_same_element(grh.rasterize(pts, **kw), hvds.rasterize(pts, **kw))


def test_non_point_elements_take_holoviews_path(calls):
    curve = hv.Curve((np.arange(100.0), np.sin(np.arange(100.0))))
    kw = dict(width=30, height=20, dynamic=False)
    assert_same_element(grh.rasterize(curve, **kw), hvds.rasterize(curve, **kw))
    img = hv.Image(np.arange(64.0).reshape(8, 8))
    assert_same_element(grh.rasterize(img, **kw), hvds.rasterize(img, **kw))
    assert calls == []


def test_dynamic_with_streams_and_pixel_ratio(frame, calls):
    pts = hv.Points(frame, ["x", "y"], ["v", "c"])
    rx = hv.streams.RangeXY(x_range=(-1, 1), y_range=(-1, 1))
    ours = grh.rasterize(pts, streams=[rx], width=30, height=20, pixel_ratio=2, dynamic=True)
    theirs = hvds.rasterize(pts, streams=[rx], width=30, height=20, pixel_ratio=2, dynamic=True)
    assert isinstance(ours, hv.DynamicMap)
    assert_same_element(ours[()], theirs[()])
    rx.event(x_range=(0, 0.5), y_range=(-0.2, 0.3))
    a, b = ours[()], theirs[()]
    assert_same_element(a, b)
    assert a.bounds.lbrt() == (0, -0.2, 0.5, 0.3)
    assert len(calls) == 2


def test_activate_deactivate_round_trip(frame, calls):
    originals = hvds.aggregate, hvds.rasterize, hvds.datashade, hvds.rasterize._transforms
    pts = hv.Points(frame, ["x", "y"], ["v", "c"])
    kw = dict(width=20, height=10, x_range=(-2, 2), y_range=(-2, 2), dynamic=False)
    expected = originals[1](pts, **kw)
    assert calls == []
    old_rasterize = hvds.rasterize        # as held by code that imported it before activate()
    grh.activate()
    try:
        grh.activate()                      # twice is harmless
        assert grh.active()
        assert hvds.rasterize is grh.rasterize and hvds.datashade is grh.datashade
        assert_same_element(hvds.rasterize(pts, **kw), expected)
        assert_same_element(old_rasterize(pts, **kw), expected)
        assert isinstance(hvds.datashade(pts, **kw), hv.RGB)
        assert len(calls) == 3
    finally:
        grh.deactivate()
    grh.deactivate()
    assert not grh.active()
    assert (hvds.aggregate, hvds.rasterize, hvds.datashade, hvds.rasterize._transforms) == originals
    del calls[:]
    assert_same_element(hvds.rasterize(pts, **kw), expected)
    assert calls == []


def test_hvplot_rasterize_with_activate(frame, calls):
    hvplot = pytest.importorskip("hvplot.pandas")  # noqa: F841 - registers df.hvplot
    df = frame.replace([np.inf, -np.inf], np.nan)
    plain = df.hvplot.points("x", "y", rasterize=True, width=300, height=200, dynamic=False)
    assert calls == []
    grh.activate()
    try:
        ours = df.hvplot.points("x", "y", rasterize=True, width=300, height=200, dynamic=False)
        shaded = df.hvplot.points("x", "y", datashade=True, width=300, height=200, dynamic=False)
    finally:
        grh.deactivate()
    assert len(calls) == 2
    assert_same_element(ours, plain)
    assert isinstance(shaded, hv.RGB)


def test_single_element_dispatch_keeps_holoviews_parameters(frame, caplog):
    """Our rasterize builds only the matching transform, yet warns as HoloViews does about a
    parameter no transform takes, and passes ``instance`` keywords on to that transform."""
    pts = hv.Points(frame, ["x", "y"], ["v", "c"])
    kw = dict(width=20, height=10, x_range=(-2, 2), y_range=(-2, 2), dynamic=False)
    for op in (hvds.rasterize, grh.rasterize):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            op.instance(line_width=0)(pts, not_a_parameter=1, **kw)
        assert [r.getMessage() for r in caplog.records if "not consumed" in r.getMessage()]
    assert_same_element(grh.rasterize.instance(aggregator=ds.max("v"))(pts, **kw),
                        hvds.rasterize.instance(aggregator=ds.max("v"))(pts, **kw))


@pytest.fixture
def sources(monkeypatch):
    """The sources gpu-render aggregated (every frame sorted from its second view on)."""
    from gpu_render.spatialframe import SpatialFrame
    monkeypatch.setattr(grh, "SPATIAL_MIN_ROWS", 0)
    grh.clear_cache()
    seen = []
    points = gpu_render.canvas.Canvas.points

    def spy(self, source, *args, **kwargs):
        seen.append(isinstance(source, SpatialFrame))
        return points(self, source, *args, **kwargs)
    monkeypatch.setattr(gpu_render.canvas.Canvas, "points", spy)
    yield seen
    grh.clear_cache()


# the whole field, a zoom, a pan, ranges beyond the data
VIEWS = [((-3, 3), (-3, 3)), ((-0.5, 0.25), (0.1, 0.6)), ((0.25, 1.0), (0.1, 0.6)), ((40, 60), (-1, 1))]


@pytest.mark.parametrize("agg", REDUCTIONS, ids=repr)
def test_repeated_views_read_a_spatially_sorted_frame(agg, frame, sources):
    pts = hv.Points(frame, ["x", "y"], ["c", "v"] if agg == "count_cat" else ["v", "c"])
    rx = hv.streams.RangeXY(x_range=VIEWS[0][0], y_range=VIEWS[0][1])
    kw = dict(streams=[rx], width=31, height=17, dynamic=True, aggregator=agg)
    ours, theirs = grh.rasterize(pts, **kw), hvds.rasterize(pts, **kw)
    for xr, yr in VIEWS:
        rx.event(x_range=xr, y_range=yr)
        assert_same_element(ours[()], theirs[()])
    assert sources[0] is False and all(sources[1:])   # sorted once seen twice


def test_a_frame_changed_in_place_is_sorted_again(frame, sources):
    pts = hv.Points(frame, ["x", "y"], ["v"])
    kw = dict(width=20, height=20, x_range=(-2, 2), y_range=(-2, 2), aggregator=ds.sum("v"), dynamic=False)
    for _ in range(2):
        grh.rasterize(pts, **kw)
    frame.loc[:, "v"] = 1.0            # edited in place
    assert_same_element(grh.rasterize(pts, **kw), hvds.rasterize(pts, **kw))
    frame["x"] = frame["x"] * 0.5      # a new column buffer
    assert_same_element(grh.rasterize(pts, **kw), hvds.rasterize(pts, **kw))
    assert sources == [False, True, False, False]

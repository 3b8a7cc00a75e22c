"""Property-based fuzzing of ``Canvas.points``: random dtypes, lengths, NaN/inf patterns, ranges
and canvas sizes give datashader's aggregate, or one RenderError; never another exception.
Derandomized and small, so CI runs the same examples every time in seconds."""
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpu_render as gr
from gpu_render import RenderError

ds = pytest.importorskip("datashader")

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DTYPES = ["float64", "float32", "int64", "int32", "uint8", "bool"]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e-300]
REDUCTIONS = ["count", "any", "sum", "mean", "min", "max"]


@st.composite
def columns(draw, n):
    """A column of ``n`` values of a random dtype, floats with NaN/inf sprinkled in."""
    dtype = draw(st.sampled_from(DTYPES))
    values = draw(st.lists(st.floats(-50, 50, allow_nan=False), min_size=n, max_size=n))
    arr = np.array(values)
    if dtype.startswith("float"):
        specials = draw(st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.sampled_from(SPECIAL)),
                                 max_size=n))
        for i, v in specials:
            if n:
                arr[i] = v
        with np.errstate(over="ignore"):   # 1e300 as float32 is inf, as meant
            return arr.astype(dtype)
    if dtype == "bool":
        return arr > 0
    if dtype == "uint8":
        return np.abs(arr).astype(dtype)
    return arr.astype(dtype)


@st.composite
def ranges(draw):
    lo = draw(st.floats(-60, 60))
    width = draw(st.sampled_from([1e-9, 0.5, 7.0, 100.0, 1e6]))
    return None if draw(st.booleans()) else (lo, lo + width)


@st.composite
def cases(draw):
    n = draw(st.integers(0, 40))
    data = {"x": draw(columns(n)), "y": draw(columns(n)), "v": draw(columns(n))}
    return (data, draw(st.integers(1, 24)), draw(st.integers(1, 24)), draw(ranges()), draw(ranges()),
            draw(st.sampled_from(REDUCTIONS)))


def _reduction(module, name):
    return getattr(module, name)() if name in ("count", "any") else getattr(module, name)("v")


@SETTINGS
@given(case=cases())
def test_points_equals_datashader_or_one_render_error(backend, case):
    data, width, height, x_range, y_range, red = case
    df = pd.DataFrame(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = ds.Canvas(width, height, x_range=x_range, y_range=y_range).points(
                df, "x", "y", _reduction(ds, red))
        except Exception:   # datashader refuses (or breaks on) this input: ours must not crash
            want = None
        try:
            got = gr.Canvas(width, height, x_range=x_range, y_range=y_range).points(
                df, "x", "y", _reduction(gr, red), backend=backend)
        except RenderError as exc:
            assert str(exc).strip() and "\n" not in str(exc)
            return
    inf_range = any(r is None for r in (x_range, y_range)) and any(
        np.isinf(np.asarray(data[c], dtype=float)).any() for c in ("x", "y"))
    if want is None or inf_range:   # datashader's ranges include inf (README: a known difference)
        return
    np.testing.assert_allclose(np.asarray(got.data, dtype=float), np.asarray(want.data, dtype=float),
                               rtol=1e-6, equal_nan=True)
    assert got.dtype == want.dtype


@SETTINGS
@given(nx=st.integers(0, 30), ny=st.integers(0, 30), extra=st.sampled_from([(), (2,), (1, 1)]))
def test_dict_of_arrays_of_any_shape_is_aggregated_or_refused(backend, nx, ny, extra):
    data = {"x": np.zeros((nx, *extra)), "y": np.zeros(ny)}
    try:
        agg = gr.Canvas(4, 4, x_range=(-1, 1), y_range=(-1, 1)).points(data, "x", "y", backend=backend)
    except RenderError as exc:
        assert extra or nx != ny or nx == 0, exc
        return
    assert not extra and nx == ny
    assert int(agg.sum()) == nx

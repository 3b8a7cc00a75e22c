"""datashader's categorizers ``category_modulo`` and ``category_binning`` in ``by(...)``: aggregates
identical to datashader's (values, dims, coords with the category coordinate, attrs, dtypes) on
pandas and dicts of arrays, with NaN, infinities, bin edges and out-of-range values; datashader's
own categorizer objects converted by ``reductions.coerce``."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gpu_render as gr
from gpu_render import reductions as rd
from gpu_render.errors import RenderError

ds = pytest.importorskip("datashader")

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # inf -> int in datashader
RANGES = dict(x_range=(0, 1), y_range=(0, 1))


def _data(rng, n):
    """Points with an integer column ``i`` (negatives included) and a float column ``v`` holding
    NaN, +-inf, the bin edges of (-2, 2) in 4 bins, values just outside them and far off."""
    edges = [-2.0, -1.0, 0.0, 1.0, 2.0, np.nextafter(2.0, 3), np.nextafter(-2.0, -3), -2.4, -3.5,
             7.0, np.nan, np.inf, -np.inf]
    v = rng.normal(0, 2, n)
    v[:len(edges)] = edges
    v[rng.uniform(size=n) < 0.1] = np.nan
    return {"x": rng.uniform(0, 1, n), "y": rng.uniform(0, 1, n),
            "i": rng.integers(-9, 30, n), "u8": rng.integers(0, 255, n).astype(np.uint8),
            "v": v, "w": rng.normal(size=n)}


def _same(ours, theirs):
    """Identical but for float sums' last bit (the summation order: as for by() on a column)."""
    if ours.dtype.kind == "f":
        xr.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
        assert ours.attrs == theirs.attrs and ours.name == theirs.name
    else:
        xr.testing.assert_identical(ours, theirs)
    assert ours.dtype == theirs.dtype
    cat = ours.dims[2]
    assert list(ours.coords[cat].values) == list(theirs.coords[cat].values)
    assert ours.coords[cat].dtype == theirs.coords[cat].dtype


CASES = [
    ("modulo", lambda m: m.category_modulo("i", 4)),
    ("modulo offset", lambda m: m.category_modulo("i", 5, offset=3)),
    ("modulo uint8", lambda m: m.category_modulo("u8", 7, offset=3)),
    ("binning", lambda m: m.category_binning("v", -2, 2, 4)),
    ("binning no under/over", lambda m: m.category_binning("v", -2, 2, 4, False, False)),
    ("binning no under", lambda m: m.category_binning("v", -2, 2, 4, include_under=False)),
    ("binning one bin", lambda m: m.category_binning("w", -0.5, 0.5, 1, include_over=False)),
]
REDUCTIONS = [("count", lambda m: m.count()), ("mean", lambda m: m.mean("w"))]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("red", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("source", ["pandas", "dict"])
def test_by_categorizer_matches_datashader(backend, rng, case, red, source):
    """(A dict of arrays against datashader on the DataFrame of it.)"""
    data = _data(rng, 600)
    df = pd.DataFrame(data)
    theirs = ds.Canvas(9, 7, **RANGES).points(df, "x", "y", ds.by(case[1](ds.reductions), red[1](ds)))
    ours = gr.Canvas(9, 7, **RANGES).points(df if source == "pandas" else data, "x", "y",
                                            gr.by(case[1](gr), red[1](gr)), backend=backend)
    _same(ours, theirs)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_coerce_converts_datashaders_categorizers(backend, rng, case):
    df = pd.DataFrame(_data(rng, 400))
    agg = ds.by(case[1](ds.reductions), ds.sum("w"))
    converted = rd.coerce(agg)
    assert converted.cat_column == case[1](gr) and converted.column == agg.column
    ours = gr.Canvas(8, 6, **RANGES).points(df, "x", "y", agg, backend=backend)
    _same(ours, ds.Canvas(8, 6, **RANGES).points(df, "x", "y", agg))


def test_categorizer_in_summary_with_plain_by(backend, rng):
    df = pd.DataFrame(_data(rng, 400))
    agg = lambda m: m.summary(a=m.by(m.reductions.category_modulo("i", 3)),  # noqa: E731
                              b=m.by(m.reductions.category_binning("v", 0, 1, 2), m.mean("w")))
    ours = gr.Canvas(6, 5, **RANGES).points(df, "x", "y", agg(gr), backend=backend)
    theirs = ds.Canvas(6, 5, **RANGES).points(df, "x", "y", agg(ds))
    for name in ("a", "b"):
        _same(ours[name], theirs[name])


def test_exposed_where_datashader_has_them():
    assert gr.category_modulo is rd.category_modulo
    assert gr.category_binning is rd.category_binning
    assert gr.by(gr.category_modulo("i", 2)).column == ds.by(ds.reductions.category_modulo("i", 2)).column


def test_categorizer_mistakes_are_one_clear_error(rng):
    df = pd.DataFrame(_data(rng, 50))
    canvas = gr.Canvas(4, 4, **RANGES)
    with pytest.raises(RenderError, match="integer column"):
        canvas.points(df, "x", "y", gr.by(gr.category_modulo("v", 3)))
    with pytest.raises(ValueError, match="integer column"):   # datashader refuses it too
        ds.Canvas(4, 4, **RANGES).points(df, "x", "y", ds.by(ds.reductions.category_modulo("v", 3)))
    with pytest.raises(RenderError, match="'nope' not found"):
        canvas.points(df, "x", "y", gr.by(gr.category_binning("nope", 0, 1, 3)))
    with pytest.raises(RenderError, match="positive integer nbins"):
        gr.category_binning("v", 0, 1, 0)
    with pytest.raises(RenderError, match="lower < upper"):
        gr.category_binning("v", 1, 0, 3)
    with pytest.raises(RenderError, match="positive integer modulo"):
        gr.category_modulo("i", 0)


def test_categorizer_on_dask_is_one_clear_error(rng):
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(pd.DataFrame(_data(rng, 50)), npartitions=2)
    with pytest.raises(RenderError, match="applies to in-memory tables"):
        gr.Canvas(4, 4, **RANGES).points(ddf, "x", "y", gr.by(gr.category_modulo("i", 3)))

"""Shading aggregates that hold +-inf (a mean or sum over a value column with an infinity).

What inf means, per ``how`` (docs/reliability.md):
- linear, log, cbrt: datashader's behaviour, which these tests check pixel for pixel: +inf takes
  the top colour and squeezes every finite pixel to the bottom one; -inf becomes transparent and
  every finite pixel takes the top colour (the span is infinite either way).
- eq_hist (datashader raises "autodetected range ... is not finite"): infinities take their rank,
  -inf the lowest colour and +inf the highest, with the finite values equalised between them.
- tiles and the server's level scales are set by each level's finite values; +-inf pixels take
  the level's end colours.
"""
import colorcet
import datashader.transfer_functions as dtf
import numpy as np
import pytest
import xarray as xr

import gpu_render as gr
import gpu_render.transfer_functions as tf
from gpu_render.levelscale import LevelScale

GRAY = ["#000000", "#ffffff"]


def _agg(values):
    values = np.asarray(values, dtype=np.float64)
    h, w = values.shape
    return xr.DataArray(values, dims=("y", "x"), coords={"y": np.arange(h), "x": np.arange(w)})


def _with_infs(rng, pos, neg):
    data = rng.normal(size=(20, 30))
    data[rng.random(data.shape) < 0.2] = np.nan
    flat = data.ravel()
    idx = rng.choice(flat.size, pos + neg, replace=False)
    flat[idx[:pos]] = np.inf
    flat[idx[pos:]] = -np.inf
    return data


@pytest.mark.parametrize("how", ["linear", "log", "cbrt"])
@pytest.mark.parametrize("pos,neg", [(1, 0), (0, 1), (3, 2)])
@pytest.mark.parametrize("cmap", [GRAY, colorcet.fire, "red"])
def test_inf_equals_datashader(rng, how, pos, neg, cmap):
    agg = _agg(_with_infs(rng, pos, neg))
    ours = tf.shade(agg, cmap=cmap, how=how)
    theirs = dtf.shade(agg, cmap=cmap, how=how)
    np.testing.assert_array_equal(ours.data, theirs.data)


def test_datashader_refuses_eq_hist_of_inf(rng):
    """The reference has no eq_hist behaviour for inf (so ours is a decision, tested below)."""
    with pytest.raises(ValueError, match="not finite"):
        dtf.shade(_agg(_with_infs(rng, 1, 0)), how="eq_hist")


@pytest.mark.parametrize("pos,neg", [(1, 0), (0, 1), (2, 3)])
def test_eq_hist_ranks_infinities(rng, pos, neg):
    data = _with_infs(rng, pos, neg)
    img = tf.shade(_agg(data), cmap=GRAY, how="eq_hist")
    px = img.data.view(np.uint8).reshape(data.shape + (4,))
    red, alpha = px[..., 0].astype(int), px[..., 3]
    assert (alpha[np.isnan(data)] == 0).all() and (alpha[~np.isnan(data)] == 255).all()
    assert (red[data == np.inf] == 255).all()
    assert (red[data == -np.inf] == 0).all()
    finite = np.isfinite(data)
    order = np.argsort(data[finite], kind="stable")
    assert (np.diff(red[finite][order]) >= 0).all()          # colour follows the value


@pytest.mark.parametrize("inf", [np.inf, -np.inf])
def test_eq_hist_colour_is_the_rank(inf):
    """Each pixel's level is the fraction of non-empty pixels at or below it (infinities
    included), mapped linearly from the lowest level to the top colour."""
    data = np.array([[1.0, 2.0, np.nan, 5.0], [3.0, 4.0, inf, 2.0]])
    px = tf.shade(_agg(data), cmap=GRAY, how="eq_hist").data.view(np.uint8).reshape(2, 4, 4)
    valid = data[~np.isnan(data)]
    rank = np.array([[(valid <= v).mean() for v in row] for row in data])
    lo = rank[~np.isnan(data)].min()
    expected = (rank - lo) / (1 - lo) * 255
    ok = ~np.isnan(data)
    assert np.abs(px[..., 0][ok].astype(int) - expected[ok]).max() <= 1
    assert (px[..., 3][ok] == 255).all() and px[0, 2, 3] == 0


def test_eq_hist_without_infinities_is_unchanged(rng):
    agg = _agg(_with_infs(rng, 0, 0))
    np.testing.assert_array_equal(tf.shade(agg, how="eq_hist").data,
                                  dtf.shade(agg, how="eq_hist").data)


def test_eq_hist_of_only_infinities(rng):
    data = np.full((3, 3), np.nan)
    data[0, 0], data[1, 1] = np.inf, -np.inf
    px = tf.shade(_agg(data), cmap=GRAY, how="eq_hist").data.view(np.uint8).reshape(3, 3, 4)
    assert px[0, 0, 0] == 255 and px[1, 1, 0] == 0 and px[2, 2, 3] == 0


def test_render_mean_of_a_column_with_inf(rng):
    n = 2000
    v = rng.normal(size=n)
    v[:2] = np.inf
    img = gr.render({"x": rng.normal(size=n), "y": rng.normal(size=n), "v": v}, "x", "y",
                    gr.mean("v"), 40, 30)
    assert (img.data != 0).any()


@pytest.mark.parametrize("how", ["eq_hist", "linear", "log", "cbrt"])
def test_level_scale_is_set_by_finite_values(rng, how):
    data = _with_infs(rng, 2, 2)
    sc = LevelScale(how)
    sc.add_values(data)
    finite = data[np.isfinite(data)]
    assert sc.span == (finite.min(), finite.max())
    assert all(np.isfinite(sc.ticks()))
    img = sc.shade(_agg(data), GRAY).data.view(np.uint8).reshape(data.shape + (4,))
    assert (img[data == np.inf][:, 0] == 255).all()
    assert (img[data == -np.inf][:, 0] == 0).all()
    assert (img[data == -np.inf][:, 3] == 255).all()


# ------------------------------------------------------------ 3-D: by(col, mean/sum of values)

COLOR_KEY = {"a": "#ff0000", "b": "#00ff00", "c": "#0000ff"}


def _agg3(values):
    h, w, c = values.shape
    return xr.DataArray(values, dims=("y", "x", "c"),
                        coords={"y": np.arange(h), "x": np.arange(w), "c": list("abc")[:c]})


def _cube(rng, cells):
    """A (10, 12, 3) float aggregate with NaN holes and ``cells`` {(y, x, cat): value}."""
    data = rng.normal(size=(10, 12, 3))
    data[rng.random(data.shape) < 0.3] = np.nan
    for at, value in cells.items():
        data[at] = value
    return data


CASES = {"pos": {(0, 0, 0): np.inf}, "neg": {(1, 1, 1): -np.inf},
         "both": {(0, 0, 0): np.inf, (2, 3, 2): np.inf, (1, 1, 1): -np.inf},
         "one_pixel": {(2, 2, 0): np.inf, (2, 2, 1): -np.inf}}   # total NaN: no infinite total


def _pixels(img, shape):
    return img.data.view(np.uint8).reshape(shape[:2] + (4,)).astype(int)


@pytest.mark.parametrize("how", ["linear", "log", "cbrt"])
@pytest.mark.parametrize("case", list(CASES))
def test_3d_inf_equals_datashader(rng, how, case):
    agg = _agg3(_cube(rng, CASES[case]))
    np.testing.assert_array_equal(tf.shade(agg, color_key=COLOR_KEY, how=how).data,
                                  dtf.shade(agg, color_key=COLOR_KEY, how=how).data)


def test_3d_eq_hist_equals_datashader_where_it_has_an_answer(rng):
    """+inf and -inf in one pixel's categories: its total is NaN, datashader shades it."""
    agg = _agg3(_cube(rng, CASES["one_pixel"]))
    np.testing.assert_array_equal(tf.shade(agg, color_key=COLOR_KEY, how="eq_hist").data,
                                  dtf.shade(agg, color_key=COLOR_KEY, how="eq_hist").data)


@pytest.mark.parametrize("case", ["pos", "neg", "both"])
def test_datashader_refuses_3d_eq_hist_of_infinite_totals(rng, case):
    with pytest.raises(ValueError, match="not finite"):
        dtf.shade(_agg3(_cube(rng, CASES[case])), color_key=COLOR_KEY, how="eq_hist")


@pytest.mark.parametrize("case", ["pos", "neg", "both"])
def test_3d_eq_hist_ranks_infinities(rng, case):
    """The 2-D rule on the per-pixel totals (alpha): -inf the lowest, +inf the highest, finite
    totals equalised between; colours: a category at +inf takes its pixel, one at -inf adds
    nothing, every other pixel mixed as datashader mixes the same aggregate without the
    infinities."""
    data = _cube(rng, CASES[case])
    px = _pixels(tf.shade(_agg3(data), color_key=COLOR_KEY, how="eq_hist"), data.shape)
    present = ~np.isnan(data).all(axis=2)
    total = np.where(np.isnan(data), 0, data).sum(axis=2)
    alpha = px[..., 3]
    assert (alpha[~present] == 0).all() and (alpha[present] >= 40).all()
    assert (alpha[total == np.inf] == 255).all() and (alpha[total == -np.inf] == 40).all()
    finite = present & np.isfinite(total)
    order = np.argsort(total[finite], kind="stable")
    assert (np.diff(alpha[finite][order]) >= 0).all()          # alpha follows the total
    for (y, x, c), value in CASES[case].items():
        if value == np.inf:
            assert tuple(px[y, x, :3]) == tuple(int(v, 16) for v in
                                                (COLOR_KEY["abc"[c]][1:3], COLOR_KEY["abc"[c]][3:5],
                                                 COLOR_KEY["abc"[c]][5:]))
    no_inf = _agg3(np.where(np.isinf(data), np.nan, data))
    theirs = _pixels(dtf.shade(no_inf, color_key=COLOR_KEY, how="eq_hist"), data.shape)
    plain = present & ~np.isinf(data).any(axis=2)
    np.testing.assert_array_equal(px[..., :3][plain], theirs[..., :3][plain])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("how", ["eq_hist", "linear", "log", "cbrt"])
def test_by_value_column_with_inf(rng, backend, reduction, how):
    """``by(col, mean/sum('v'))`` over a value column holding +-inf: shading never crashes and
    equals datashader's where datashader shades; eq_hist gives the +inf pixels full alpha."""
    import datashader
    import pandas as pd
    n = 3000
    df = pd.DataFrame({"x": rng.uniform(0, 1, n), "y": rng.uniform(0, 1, n),
                       "c": pd.Categorical(rng.choice(list("abc"), n)), "v": rng.normal(size=n)})
    df.loc[:2, "v"] = [np.inf, np.inf, -np.inf]
    kw = dict(x_range=(0, 1), y_range=(0, 1))
    ours = gr.Canvas(20, 15, **kw).points(df, "x", "y", gr.by("c", getattr(gr, reduction)("v")),
                                         backend=backend)
    theirs = datashader.Canvas(20, 15, **kw).points(
        df, "x", "y", datashader.by("c", getattr(datashader, reduction)("v")))
    np.testing.assert_allclose(ours.values, theirs.values, rtol=1e-12)   # summation order
    assert np.isinf(ours.values).any()
    img = tf.shade(ours, color_key=COLOR_KEY, how=how)
    if how != "eq_hist":      # datashader's shading of the same aggregate
        np.testing.assert_array_equal(img.data, dtf.shade(ours, color_key=COLOR_KEY, how=how).data)
        return
    with pytest.raises(ValueError, match="not finite"):
        dtf.shade(ours, color_key=COLOR_KEY, how=how)
    total = np.where(np.isnan(ours.values), 0, ours.values).sum(axis=2)
    alpha = _pixels(img, total.shape)[..., 3]
    assert (alpha[total == np.inf] == 255).all() and (alpha[np.isfinite(total)] < 255).any()

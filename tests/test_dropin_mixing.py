"""Mixing gpu-render and datashader: every transfer function gives datashader's answer whichever
library made its input (images within 1 per channel, aggregates exactly)."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gpu_render as gr
import gpu_render.transfer_functions as tf
from gpu_render.errors import RenderError

ds = pytest.importorskip("datashader")
dtf = pytest.importorskip("datashader.transfer_functions")

W, H = 41, 29
KW = dict(plot_width=W, plot_height=H, x_range=(-1, 1), y_range=(-1, 1))


@pytest.fixture
def frame(rng):
    n = 400   # sparse: spreading and dynspread have something to do
    return pd.DataFrame({"x": rng.uniform(-1, 1, n), "y": rng.uniform(-1, 1, n),
                         "v": rng.normal(size=n),
                         "c": pd.Categorical(rng.choice(list("abc"), n))})


@pytest.fixture
def aggs(frame, backend):
    """(ours, datashader's) count, mean and count_cat aggregates of the same data."""
    ours = {k: gr.Canvas(**KW).points(frame, "x", "y", r, backend=backend)
            for k, r in (("count", gr.count()), ("mean", gr.mean("v")), ("cat", gr.count_cat("c")))}
    theirs = {k: ds.Canvas(**KW).points(frame, "x", "y", r)
              for k, r in (("count", ds.count()), ("mean", ds.mean("v")), ("cat", ds.count_cat("c")))}
    return ours, theirs


def _host(img):
    data = img.data
    return data.get() if hasattr(data, "get") else np.asarray(data)


def assert_image_close(a, b):
    assert a.shape == b.shape and a.dims == b.dims
    da, db = _host(a).view(np.uint8).astype(int), _host(b).view(np.uint8).astype(int)
    assert np.abs(da - db).max() <= 1
    for d in b.dims:
        np.testing.assert_array_equal(a.coords[d].values, b.coords[d].values)


def test_our_image_is_a_datashader_image(aggs):
    ours, _ = aggs
    img = tf.shade(ours["count"])
    assert isinstance(img, dtf.Image) and isinstance(img, tf.Image)
    assert isinstance(tf.Images(img), dtf.Images)


IMAGE_FUNCS = {
    "spread": lambda m, img: m.spread(img, px=2),
    "spread_square_add": lambda m, img: m.spread(img, px=1, shape="square", how="add"),
    "dynspread": lambda m, img: m.dynspread(img, threshold=0.9, max_px=4),
    "set_background": lambda m, img: m.set_background(img, "black"),
    "set_background_hex": lambda m, img: m.set_background(img, "#204060"),
}


@pytest.mark.parametrize("op", sorted(IMAGE_FUNCS))
@pytest.mark.parametrize("which", ["count", "mean", "cat"])
def test_transfer_functions_on_either_librarys_images(aggs, op, which):
    ours, theirs = aggs
    f = IMAGE_FUNCS[op]
    our_img, their_img = tf.shade(ours[which]), dtf.shade(theirs[which])
    expected = f(dtf, their_img)
    for module in (tf, dtf):
        for img in (our_img, their_img):
            got = f(module, img)
            assert isinstance(got, dtf.Image)
            assert_image_close(got, expected)


@pytest.mark.parametrize("how", ["over", "add", "saturate", "source"])
def test_stack_mixed_images(aggs, how):
    ours, theirs = aggs
    a_ours = tf.shade(ours["count"], cmap=["lightblue", "darkblue"], alpha=150)
    b_ours = tf.shade(ours["cat"])
    a_theirs = dtf.shade(theirs["count"], cmap=["lightblue", "darkblue"], alpha=150)
    b_theirs = dtf.shade(theirs["cat"])
    expected = dtf.stack(a_theirs, b_theirs, how=how)
    for module in (tf, dtf):
        for a, b in ((a_ours, b_theirs), (a_theirs, b_ours), (a_ours, b_ours)):
            assert_image_close(module.stack(a, b, how=how), expected)


@pytest.mark.parametrize("which", ["count", "mean", "cat"])
def test_spread_aggregates_from_either_library(aggs, which):
    ours, theirs = aggs
    # (a mean of ours may differ from datashader's in the last bit: sums in another order)
    close = dict(rtol=1e-14, atol=0) if which == "mean" else dict(rtol=0, atol=0)
    expected = dtf.spread(theirs[which], px=1)
    for module in (tf, dtf):
        np.testing.assert_array_equal(_host(module.spread(theirs[which], px=1)), expected.values)
        np.testing.assert_allclose(_host(module.spread(ours[which], px=1)), expected.values, **close)
    expected = dtf.dynspread(theirs[which], threshold=0.8, max_px=3)
    np.testing.assert_array_equal(_host(tf.dynspread(theirs[which], threshold=0.8, max_px=3)),
                                  expected.values)
    np.testing.assert_allclose(_host(tf.dynspread(ours[which], threshold=0.8, max_px=3)),
                               expected.values, **close)


@pytest.mark.parametrize("which", ["count", "mean", "cat"])
@pytest.mark.parametrize("how", ["eq_hist", "log", "linear"])
def test_shade_either_librarys_aggregates(aggs, which, how):
    ours, theirs = aggs
    expected = dtf.shade(theirs[which], how=how)
    assert_image_close(tf.shade(ours[which], how=how), expected)
    assert_image_close(tf.shade(theirs[which], how=how), expected)
    assert_image_close(dtf.shade(ours[which].copy(data=_host(ours[which])), how=how), expected)


def test_one_colour_list_cmap_keeps_rgb_of_empty_pixels(aggs):
    ours, theirs = aggs
    got, expected = tf.shade(ours["count"], cmap=["red"]), dtf.shade(theirs["count"], cmap=["red"])
    np.testing.assert_array_equal(_host(got), expected.values)
    assert (_host(got)[~(ours["count"].values > 0)] == 0x000000FF).all()   # R=255, alpha 0


def test_eq_hist_matches_datashader(rng):
    ints = rng.integers(0, 50, (20, 30)).astype(np.uint32)
    floats = rng.normal(size=(20, 30))
    for data in (ints, floats):
        mask = rng.uniform(size=data.shape) < 0.3
        for m in (None, mask):
            got, levels = tf.eq_hist(data, m)
            expected, elevels = dtf.eq_hist(data, m)
            np.testing.assert_allclose(got, expected, equal_nan=True)
            assert int(levels) == int(elevels)
    got, _ = tf.eq_hist(floats, nbins=16)
    np.testing.assert_allclose(got, dtf.eq_hist(floats, nbins=16)[0])
    with pytest.raises(TypeError):
        tf.eq_hist([1, 2, 3])


def test_type_errors_where_datashader_raises_type_error(aggs):
    ours, _ = aggs
    img = tf.shade(ours["count"])
    for call in (lambda m: m.stack(img, ours["count"]), lambda m: m.set_background(ours["count"], "red"),
                 lambda m: m.shade(ours["count"].values), lambda m: m.spread(img.values)):
        with pytest.raises(TypeError):
            call(dtf)
        with pytest.raises(TypeError) as info:
            call(tf)
        assert isinstance(info.value, RenderError)   # and still one of ours
    with pytest.raises(TypeError):
        tf.shade(ours["count"], cmap=3.5)


def test_images_layout_matches_datashader(aggs):
    ours, theirs = aggs
    imgs = [tf.shade(ours["count"], name="count"), tf.shade(ours["mean"], name="mean"),
            tf.shade(ours["cat"])]
    for n in (None, 1, 2, 5):
        got, expected = tf.Images(*imgs), dtf.Images(*imgs)
        if n is not None:
            assert got.cols(n) is got
            expected.cols(n)
        assert got._repr_html_() == expected._repr_html_()
    html = tf.Images(*imgs).cols(2)._repr_html_()
    assert html.count("<td") == 3 and html.count("<tr") == 2 and "<b>mean</b>" in html
    with pytest.raises(TypeError):
        tf.Images(imgs[0], 3)


def test_export_image_as_datashader(aggs, tmp_path):
    from PIL import Image as PILImage
    from datashader.utils import export_image as ds_export

    from gpu_render.utils import export_image
    ours, theirs = aggs
    img = tf.shade(ours["count"], cmap="fire")
    back = export_image(img, "ours", export_path=str(tmp_path / "new"), background="black")
    ds_export(img, "theirs", export_path=str(tmp_path / "new"), background="black")
    assert isinstance(back, dtf.Image)
    a = np.asarray(PILImage.open(tmp_path / "new" / "ours.png"))
    b = np.asarray(PILImage.open(tmp_path / "new" / "theirs.png"))
    np.testing.assert_array_equal(a, b)
    assert export_image(img, "plain", fmt=".png", _return=False, export_path=str(tmp_path)) is None
    assert (tmp_path / "plain.png").exists()


def test_colors_module_matches_datashader():
    import datashader.colors as dsc

    from gpu_render import colors
    for name in ("Greys9", "Hot", "Elevation", "Set1", "Set2", "Set3", "Sets1to3", "viridis",
                 "inferno"):
        assert getattr(colors, name) == getattr(dsc, name), name
    for args in ((colors.Greys9,), (colors.Hot, 0.2, 0.9), (colors.viridis, 0.25, 1.0, True)):
        assert colors.colormap_select(*args) == dsc.colormap_select(*args)
    for c in ("plum", "#FFFFFF", (1, 2, 3)):
        assert colors.rgb(c) == dsc.rgb(c)
    with pytest.raises(ValueError):
        colors.rgb("nosuchcolour")
    with pytest.raises(TypeError):
        colors.rgb(3)
    img = tf.shade(xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x")), cmap=colors.Hot)
    ref = dtf.shade(xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x")), cmap=dsc.Hot)
    assert_image_close(img, ref)

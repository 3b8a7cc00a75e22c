"""spread/dynspread byte for byte against Datashader, on the compiled CPU kernels and on the
xp (CuPy-style) array code run with numpy, for images and aggregates of every supported kind."""
import datashader.transfer_functions as dtf
import numpy as np
import pytest
import xarray as xr

from gpu_render import transfer_functions as tf

IMAGE_HOWS = ['over', 'add', 'saturate', 'source']
ARRAY_HOWS = ['add', 'max', 'min', 'source']


def _coords(h, w):
    return {'y': np.arange(h) + 0.5, 'x': np.arange(w) + 0.5}


def rgba_image(h, w, seed, fill=0.3, opaque=False):
    """Random RGBA pixels: ~``fill`` of them non-transparent, alphas mixed (or all 255)."""
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    px[..., 3] = 255 if opaque else np.where(rng.random((h, w)) < 0.5, 255, px[..., 3])
    px[rng.random((h, w)) >= fill] = 0
    px[..., 3][px[..., 3] == 0] = 0
    return px.view(np.uint32)[..., 0]


def ds_image(data, name='img'):
    h, w = data.shape
    return dtf.Image(data, coords=_coords(h, w), dims=['y', 'x'], name=name)


def ours(img):
    return tf.Image(img.data.copy(), coords=img.coords, dims=img.dims, name=img.name)


def aggregate(dtype, h, w, seed, layers=0):
    """Random aggregate with empty pixels (NaN or 0), negative values and exact ties."""
    rng = np.random.default_rng(seed)
    shape = (h, w, layers) if layers else (h, w)
    if dtype == bool:
        data = rng.random(shape) < 0.3
    elif np.dtype(dtype).kind == 'f':
        data = rng.choice([-2.5, -1.0, 0.0, 0.5, 3.25, 7.0], size=shape).astype(dtype)
        data[rng.random(shape) < 0.5] = np.nan
    else:
        lo = 0 if np.dtype(dtype).kind == 'u' else -5
        data = rng.integers(lo, 9, size=shape).astype(dtype)
        data[rng.random(shape) < 0.5] = 0
    dims = ['y', 'x', 'cat'] if layers else ['y', 'x']
    coords = _coords(h, w)
    if layers:
        coords['cat'] = [f'c{k}' for k in range(layers)]
    return xr.DataArray(data, coords=coords, dims=dims, name='agg')


def via_xp(img, px, shape='circle', how=None, mask=None):
    """The xp array code (used for CuPy arrays), run here on numpy."""
    is_image = isinstance(img, tf.Image)
    stencil = tf._spread_mask(px, shape) if mask is None else np.asarray(mask, bool)
    how = ('over' if is_image else 'add') if how is None else how
    return tf._spread_xp(np, img.data, stencil, how, is_image)


def assert_same_image(mine, theirs):
    assert isinstance(mine, tf.Image)
    assert mine.dims == theirs.dims and mine.name == theirs.name
    assert mine.dtype == np.uint32
    np.testing.assert_array_equal(mine.data, theirs.data)


@pytest.mark.parametrize('how', IMAGE_HOWS)
@pytest.mark.parametrize('px,shape', [(1, 'circle'), (2, 'circle'), (3, 'square')])
@pytest.mark.parametrize('opaque', [False, True])
def test_image_spread_is_byte_identical(how, px, shape, opaque):
    img = ds_image(rgba_image(37, 53, seed=px, fill=0.35, opaque=opaque))
    theirs = dtf.spread(img, px=px, shape=shape, how=how)
    mine = tf.spread(ours(img), px=px, shape=shape, how=how)
    assert_same_image(mine, theirs)
    np.testing.assert_array_equal(via_xp(ours(img), px, shape, how), theirs.data)


@pytest.mark.parametrize('dtype', [np.float64, np.float32, np.uint32, np.int64, np.int32, bool])
@pytest.mark.parametrize('how', ARRAY_HOWS)
@pytest.mark.parametrize('layers', [0, 3])
def test_aggregate_spread_matches_datashader(dtype, how, layers):
    agg = aggregate(dtype, 23, 31, seed=layers, layers=layers)
    theirs = dtf.spread(agg, px=2, how=how)
    mine = tf.spread(agg.copy(), px=2, how=how)
    assert type(mine) is xr.DataArray and mine.dims == agg.dims
    assert mine.dtype == theirs.dtype
    np.testing.assert_array_equal(mine.values, theirs.values)
    np.testing.assert_array_equal(via_xp(agg, 2, how=how), theirs.values)


@pytest.mark.parametrize('h,w', [(1, 1), (1, 9), (9, 1), (2, 3), (4, 4)])
def test_images_smaller_than_the_stencil(h, w):
    img = ds_image(rgba_image(h, w, seed=h * 10 + w, fill=0.8))
    for px in (1, 3):
        assert_same_image(tf.spread(ours(img), px=px), dtf.spread(img, px=px))
        agg = aggregate(np.float64, h, w, seed=px)
        np.testing.assert_array_equal(tf.spread(agg, px=px).values,
                                      dtf.spread(agg, px=px).values)


def test_edges_spread_inwards_only():
    data = np.zeros((6, 7), np.uint32)
    data[0, 0] = data[5, 6] = data[0, 6] = data[5, 0] = 0xff0000ff
    img = ds_image(data)
    mine = tf.spread(ours(img), px=1, shape='square')
    assert_same_image(mine, dtf.spread(img, px=1, shape='square'))
    assert int((mine.data != 0).sum()) == 16  # four 2x2 corner blocks


def test_px0_and_empty_masks_leave_data_unchanged():
    img = ds_image(rgba_image(8, 9, seed=3))
    np.testing.assert_array_equal(tf.spread(ours(img), px=0).data, img.data)
    lone = np.zeros((3, 3), bool)
    lone[1, 1] = True
    assert_same_image(tf.spread(ours(img), mask=lone), dtf.spread(img, mask=lone))
    agg = aggregate(np.float64, 8, 9, seed=4)
    np.testing.assert_array_equal(tf.spread(agg, mask=lone).values, agg.values)


def test_asymmetric_custom_mask_keeps_orientation():
    mask = np.array([[0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0],
                     [1, 0, 0, 0, 0], [0, 0, 0, 1, 1]], dtype=bool)
    img = ds_image(rgba_image(20, 24, seed=9, fill=0.2))
    for how in IMAGE_HOWS:
        assert_same_image(tf.spread(ours(img), mask=mask, how=how),
                          dtf.spread(img, mask=mask, how=how))
    agg = aggregate(np.int64, 20, 24, seed=9)
    np.testing.assert_array_equal(tf.spread(agg, mask=mask, how='max').values,
                                  dtf.spread(agg, mask=mask, how='max').values)


def test_non_contiguous_aggregate_layers():
    agg = aggregate(np.float64, 15, 12, seed=2, layers=4).isel(cat=[3, 0, 2])
    agg = agg.transpose('y', 'x', 'cat')
    np.testing.assert_array_equal(tf.spread(agg, px=1).values, dtf.spread(agg, px=1).values)


@pytest.mark.parametrize('fill', [0.0, 0.002, 0.02, 0.3, 1.0])
@pytest.mark.parametrize('threshold,max_px', [(0.5, 3), (0.9, 4), (0.1, 2), (1.0, 1)])
def test_dynspread_matches_datashader(fill, threshold, max_px):
    img = ds_image(rgba_image(60, 80, seed=int(fill * 1000), fill=fill))
    assert_same_image(tf.dynspread(ours(img), threshold=threshold, max_px=max_px),
                      dtf.dynspread(img, threshold=threshold, max_px=max_px))
    for layers in (0, 3):
        agg = aggregate(np.float64, 40, 50, seed=layers, layers=layers)
        agg = agg.where(np.random.default_rng(1).random(agg.shape) < fill * 0.3)
        np.testing.assert_array_equal(
            tf.dynspread(agg, threshold=threshold, max_px=max_px).values,
            dtf.dynspread(agg, threshold=threshold, max_px=max_px).values)


@pytest.mark.parametrize('fill', [0.0, 0.01, 0.1, 0.6])
def test_kernel_densities_equal_xp_densities(fill):
    occupied = np.random.default_rng(5).random((45, 70)) < fill
    expected = [tf._density_xp(np, occupied, 2 * px) for px in range(1, 5)]
    assert list(tf._densities(np, occupied, 4)) == expected

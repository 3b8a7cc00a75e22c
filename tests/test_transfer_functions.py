"""Transfer functions checked against Datashader as the oracle (RGBA within 1 per channel)."""
import io
import os
import subprocess
import sys

import colorcet
import datashader as ds
import datashader.transfer_functions as dtf
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image as PILImage

from gpu_render import transfer_functions as tf
from gpu_render.colormaps import resolve_cmap, to_rgb
from gpu_render.errors import RenderError

HOWS = ['eq_hist', 'log', 'cbrt', 'linear']
CMAPS = {'fire-name': ('fire', colorcet.fire),
         'hex-list': (['#0000ff', '#00ff00', '#ff8800', '#ffffff'],) * 2,
         'single': ('darkred',) * 2,
         'default': (None, None)}
CATS12 = [f'c{i}' for i in range(12)]


def _frame(n=4000, seed=7):
    """Random points with NaNs and points outside the canvas range; 11 of 12 categories used."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=n), rng.normal(size=n)
    x[::37] = np.nan
    y[::53] = np.nan
    x[::41] = 25.0
    cat12 = pd.Categorical(rng.choice(CATS12[:11], n), categories=CATS12)
    cat3 = pd.Categorical(rng.choice(['a', 'b', 'c'], n))
    return pd.DataFrame({'x': x, 'y': y, 'v': rng.gamma(2.0, size=n) - 1.0,
                         'cat12': cat12, 'cat3': cat3})


DF = _frame()
CANVASES = {
    'small': ds.Canvas(48, 32, x_range=(-2.5, 2.5), y_range=(-2, 2)),
    'one': ds.Canvas(1, 1, x_range=(-1, 1), y_range=(-1, 1)),
    'empty': ds.Canvas(9, 6, x_range=(100, 101), y_range=(100, 101)),
}
REDUCTIONS_2D = {'count': lambda: ds.count(), 'sum': lambda: ds.sum('v'),
                 'mean': lambda: ds.mean('v'), 'min': lambda: ds.min('v'),
                 'any': lambda: ds.any()}
REDUCTIONS_3D = {'cat3': lambda: ds.count_cat('cat3'), 'cat12': lambda: ds.by('cat12'),
                 'by_mean': lambda: ds.by('cat12', ds.mean('v'))}
_AGGS = {}


def agg(canvas, reduction):
    """Aggregate built by Datashader itself (cached)."""
    key = (canvas, reduction)
    if key not in _AGGS:
        red = {**REDUCTIONS_2D, **REDUCTIONS_3D}[reduction]()
        _AGGS[key] = CANVASES[canvas].points(DF, 'x', 'y', agg=red)
    return _AGGS[key]


def assert_close(ours, theirs):
    """Same dims/coords/name and every RGBA byte within 1."""
    assert isinstance(ours, tf.Image)
    assert ours.dims == theirs.dims and ours.shape == theirs.shape
    assert ours.name == theirs.name
    for dim in ours.dims:
        np.testing.assert_array_equal(ours[dim].values, theirs[dim].values)
    a = np.asarray(ours.data).view(np.uint8).astype(int)
    b = np.asarray(theirs.data).view(np.uint8).astype(int)
    assert np.abs(a - b).max(initial=0) <= 1


def as_ours(img):
    """Wrap a Datashader Image as a gpu_render Image."""
    return tf.Image(img.data, coords=img.coords, dims=img.dims, name=img.name)


# --------------------------------------------------------------------------- 2D shade

@pytest.mark.parametrize('canvas', list(CANVASES))
@pytest.mark.parametrize('reduction', list(REDUCTIONS_2D))
@pytest.mark.parametrize('how', HOWS)
@pytest.mark.parametrize('cmap', list(CMAPS))
def test_shade_2d_matches_datashader(canvas, reduction, how, cmap):
    a = agg(canvas, reduction)
    ours_cmap, their_cmap = CMAPS[cmap]
    kw = {} if ours_cmap is None else {'cmap': ours_cmap}
    kw_ds = {} if their_cmap is None else {'cmap': their_cmap}
    assert_close(tf.shade(a, how=how, **kw), dtf.shade(a, how=how, **kw_ds))


@pytest.mark.parametrize('reduction', list(REDUCTIONS_2D))
@pytest.mark.parametrize('how', ['log', 'cbrt', 'linear'])
@pytest.mark.parametrize('span', [(0.5, 6), (2, 3), (-1, 0.25)])
def test_shade_2d_span(reduction, how, span):
    a = agg('small', reduction)
    if span[0] < 0 and a.dtype.kind == 'u':
        with pytest.raises(RenderError, match='unsigned'):
            tf.shade(a, how=how, span=span)
        return
    for cmap in ('fire', 'darkred'):
        their = colorcet.fire if cmap == 'fire' else cmap
        assert_close(tf.shade(a, cmap=cmap, how=how, span=span),
                     dtf.shade(a, cmap=their, how=how, span=span))


@pytest.mark.parametrize('how', HOWS)
@pytest.mark.parametrize('alphas', [(0, 255), (100, 200), (40, 90)])
def test_shade_2d_alpha_and_min_alpha(how, alphas):
    min_alpha, alpha = alphas
    for reduction in ('count', 'mean'):
        a = agg('small', reduction)
        for cmap in (['black', '#ffcc00'], ('teal')):
            assert_close(tf.shade(a, cmap=cmap, how=how, alpha=alpha, min_alpha=min_alpha),
                         dtf.shade(a, cmap=cmap, how=how, alpha=alpha, min_alpha=min_alpha))


def test_shade_2d_rescale_discrete_levels_and_name():
    a = agg('small', 'count')
    ours = tf.shade(a, rescale_discrete_levels=True, name='dens')
    theirs = dtf.shade(a, rescale_discrete_levels=True, name='dens')
    assert_close(ours, theirs)
    assert ours.name == 'dens'
    assert not np.array_equal(ours.data, tf.shade(a).data)


def test_shade_2d_callables():
    a = agg('small', 'sum')

    def how(data, mask):
        return np.where(mask, np.nan, np.abs(data) ** 0.5)

    def fake_mpl(values, bytes=False):
        v = np.nan_to_num(np.clip(values, 0, 1))
        return np.stack([v * 255, 255 - v * 255, v * 128, np.full_like(v, 255)],
                        axis=-1).astype(np.uint8)

    assert_close(tf.shade(a, how=how), dtf.shade(a, how=how))
    assert_close(tf.shade(a, cmap=fake_mpl, how='log'), dtf.shade(a, cmap=fake_mpl, how='log'))


def test_shade_empty_aggregate_is_transparent():
    for reduction in ('count', 'mean', 'cat12'):
        img = tf.shade(agg('empty', reduction))
        assert img.data.dtype == np.uint32 and not (img.data >> 24).any()


def test_shade_2d_discrete_color_key():
    a = xr.DataArray(np.array([[0, 1, 2], [2, 5, 1]], dtype='int64'),
                     coords={'y': [0.5, 1.5], 'x': [0.5, 1.5, 2.5]}, dims=('y', 'x'))
    key = {1: 'red', 2: '#00ff00'}
    assert_close(tf.shade(a, color_key=key, alpha=200), dtf.shade(a, color_key=key, alpha=200))


# --------------------------------------------------------------------------- 3D shade

@pytest.mark.parametrize('canvas', ['small', 'one', 'empty'])
@pytest.mark.parametrize('reduction', list(REDUCTIONS_3D))
@pytest.mark.parametrize('how', HOWS)
def test_shade_categorical_matches_datashader(canvas, reduction, how):
    a = agg(canvas, reduction)
    assert_close(tf.shade(a, how=how), dtf.shade(a, how=how))


@pytest.mark.parametrize('reduction', list(REDUCTIONS_3D))
@pytest.mark.parametrize('how', ['log', 'cbrt', 'linear'])
def test_shade_categorical_span_alpha_and_key(reduction, how):
    a = agg('small', reduction)
    ncat = a.shape[2]
    key_list = colorcet.glasbey[:ncat]
    key_dict = dict(zip(a.coords[a.dims[2]].values, colorcet.glasbey_dark[:ncat]))
    for kw in ({'span': (1, 4)}, {'min_alpha': 0, 'alpha': 180},
               {'color_key': key_list}, {'color_key': key_dict, 'min_alpha': 120},
               {'color_baseline': 0}):
        assert_close(tf.shade(a, how=how, **kw), dtf.shade(a, how=how, **kw))


def test_shade_categorical_colours_mix_by_weight():
    a = xr.DataArray(np.array([[[3, 1], [0, 0]]], dtype='uint32'),
                     coords={'y': [0.0], 'x': [0.0, 1.0], 'k': ['p', 'q']}, dims=('y', 'x', 'k'))
    img = tf.shade(a, color_key=['#ff0000', '#0000ff'], how='linear')
    px = img.data.view(np.uint8).reshape(1, 2, 4)
    assert tuple(px[0, 0]) == (191, 0, 63, 255)
    assert px[0, 1, 3] == 0
    assert_close(img, dtf.shade(a, color_key=['#ff0000', '#0000ff'], how='linear'))


# --------------------------------------------------------------------------- spreading and compositing

@pytest.fixture(scope='module')
def ds_images():
    cat = dtf.shade(agg('small', 'cat3'), how='linear')
    dens = dtf.shade(agg('small', 'count'), cmap=colorcet.fire, alpha=180)
    sparse_canvas = ds.Canvas(60, 40, x_range=(-3, 3), y_range=(-3, 3))
    sparse = dtf.shade(sparse_canvas.points(DF.iloc[:40], 'x', 'y'), cmap='blue')
    return cat, dens, sparse


@pytest.mark.parametrize('shape', ['circle', 'square'])
@pytest.mark.parametrize('how', ['over', 'add', 'saturate', 'source'])
@pytest.mark.parametrize('px', [1, 2])
def test_spread_matches_datashader(ds_images, shape, how, px):
    for img in ds_images:
        assert_close(tf.spread(as_ours(img), px=px, shape=shape, how=how),
                     dtf.spread(img, px=px, shape=shape, how=how))


def test_spread_custom_mask_and_aggregates():
    dens = dtf.shade(agg('small', 'count'))
    mask = np.array([[0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    assert_close(tf.spread(as_ours(dens), mask=mask), dtf.spread(dens, mask=mask))
    for reduction, how in (('count', 'add'), ('mean', 'max'), ('min', 'min'), ('count', 'source')):
        a = agg('small', reduction)
        ours, theirs = tf.spread(a, px=1, how=how), dtf.spread(a, px=1, how=how)
        assert type(ours) is xr.DataArray
        np.testing.assert_allclose(ours.values, theirs.values, equal_nan=True)


@pytest.mark.parametrize('threshold,max_px', [(0.5, 3), (0.9, 4), (0.0, 2), (1.0, 0)])
def test_dynspread_matches_datashader(ds_images, threshold, max_px):
    for img in ds_images:
        assert_close(tf.dynspread(as_ours(img), threshold=threshold, max_px=max_px),
                     dtf.dynspread(img, threshold=threshold, max_px=max_px))


def test_dynspread_sparse_image_actually_spreads(ds_images):
    sparse = as_ours(ds_images[2])
    out = tf.dynspread(sparse, threshold=0.8, max_px=3)
    assert_close(out, dtf.dynspread(ds_images[2], threshold=0.8, max_px=3))
    assert (out.data >> 24).astype(bool).sum() > (sparse.data >> 24).astype(bool).sum()


@pytest.mark.parametrize('how', ['over', 'add', 'saturate', 'source'])
def test_stack_matches_datashader(ds_images, how):
    cat, dens, sparse = ds_images
    assert_close(tf.stack(as_ours(dens), as_ours(cat), how=how, name='both'),
                 dtf.stack(dens, cat, how=how, name='both'))
    assert_close(tf.stack(as_ours(cat), as_ours(dens), how=how),
                 dtf.stack(cat, dens, how=how))


@pytest.mark.parametrize('color', ['black', 'white', '#336699', (10, 200, 30)])
def test_set_background_matches_datashader(ds_images, color):
    for img in ds_images:
        assert_close(tf.set_background(as_ours(img), color, name='bg'),
                     dtf.set_background(img, color, name='bg'))
    assert tf.set_background(as_ours(ds_images[0])) is not None


# --------------------------------------------------------------------------- PIL / PNG

def _one_point_image():
    """3x4 canvas with one point in the top-right cell (highest y, highest x)."""
    pts = pd.DataFrame({'x': [0.9], 'y': [0.9]})
    a = ds.Canvas(4, 3, x_range=(0, 1), y_range=(0, 1)).points(pts, 'x', 'y')
    return tf.shade(a, cmap=['red', 'red'], how='linear')


def test_to_pil_is_north_up():
    img = _one_point_image()
    pil = img.to_pil()
    assert pil.size == (4, 3) and pil.mode == 'RGBA'
    arr = np.asarray(pil)
    assert tuple(arr[0, 3]) == (255, 0, 0, 255)
    assert arr[1:, :, 3].sum() == 0 and arr[0, :3, 3].sum() == 0
    assert tuple(np.asarray(img.to_pil(origin='upper'))[2, 3]) == (255, 0, 0, 255)


def test_repr_png_and_html():
    img = _one_point_image()
    png = img._repr_png_()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    decoded = np.asarray(PILImage.open(io.BytesIO(png)))
    np.testing.assert_array_equal(decoded, np.asarray(img.to_pil()))
    assert 'data:image/png;base64,' in img._repr_html_()
    assert img.to_bytesio().read(4) == b'\x89PNG'


def test_save_png_writes_north_up_file(tmp_path):
    img = _one_point_image()
    path = tmp_path / 'out.png'
    assert tf.save_png(img, path) == str(path)
    np.testing.assert_array_equal(np.asarray(PILImage.open(path)), np.asarray(img.to_pil()))
    assert os.listdir(tmp_path) == ['out.png']


def test_save_png_compress_level_changes_size_not_pixels(tmp_path):
    rng = np.random.default_rng(5)
    agg = xr.DataArray(rng.integers(0, 50, (120, 160)).astype('uint32'), dims=('y', 'x'))
    img = tf.shade(agg, cmap='fire')
    sizes = {}
    for level in (0, 2, 9):
        path = tmp_path / f'{level}.png'
        tf.save_png(img, path, compress_level=level)
        np.testing.assert_array_equal(np.asarray(PILImage.open(path)), np.asarray(img.to_pil()))
        sizes[level] = path.stat().st_size
    assert sizes[0] > sizes[2] > sizes[9]
    for bad in (10, -1, 2.5, '6'):
        with pytest.raises(RenderError, match='compress_level must be a whole number from 0 to 9'):
            tf.save_png(img, tmp_path / 'bad.png', compress_level=bad)
    assert not (tmp_path / 'bad.png').exists()


def test_save_png_missing_directory_leaves_nothing(tmp_path):
    target = tmp_path / 'nope' / 'out.png'
    with pytest.raises(RenderError, match='does not exist'):
        tf.save_png(_one_point_image(), target)
    assert os.listdir(tmp_path) == []


def test_save_png_failure_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / 'keep.png'
    path.write_bytes(b'old')

    def broken_save(self, fp, format=None, **kw):
        fp.write(b'partial')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(PILImage.Image, 'save', broken_save)
    with pytest.raises(RenderError, match='No space left'):
        tf.save_png(_one_point_image(), path)
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['keep.png']


# --------------------------------------------------------------------------- colormaps

def test_resolve_cmap_forms():
    fire = resolve_cmap('fire')
    assert fire.kind == 'list' and fire.rgb.shape == (256, 3)
    np.testing.assert_array_equal(fire.rgb[-1], to_rgb(colorcet.fire[-1]))
    assert resolve_cmap('red').kind == 'single' and tuple(resolve_cmap('red').rgb) == (255, 0, 0)
    assert resolve_cmap((0, 128, 255)).kind == 'single'
    assert resolve_cmap(('red', '#00ff00')).rgb.tolist() == [[255, 0, 0], [0, 255, 0]]
    assert resolve_cmap(iter(['black', 'white'])).rgb.shape == (2, 3)
    assert resolve_cmap(lambda v, bytes=False: v).kind == 'callable'


def test_colorcet_is_imported_lazily():
    code = ("import sys; import gpu_render.transfer_functions as t; "
            "assert 'colorcet' not in sys.modules; t.shade; "
            "import gpu_render.colormaps as c; c.resolve_cmap('fire'); "
            "assert 'colorcet' in sys.modules")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, '-c', code], check=True, cwd=root)


# --------------------------------------------------------------------------- errors

def test_errors_are_render_errors_with_one_sentence():
    a = agg('small', 'count')
    cases = [
        (lambda: tf.shade(a.isel(y=0)), 'dims'),
        (lambda: tf.shade(a.values), 'DataArray'),
        (lambda: tf.shade(a, how='sqrt'), 'sqrt'),
        (lambda: tf.shade(a, alpha=300), 'alpha'),
        (lambda: tf.shade(a, min_alpha=-1), 'min_alpha'),
        (lambda: tf.shade(a, cmap='no_such_map'), 'no_such_map'),
        (lambda: tf.shade(a, cmap=['red', 'notacolour']), 'notacolour'),
        (lambda: tf.shade(a, how='eq_hist', span=(0, 5)), 'eq_hist'),
        (lambda: tf.shade(a, how='linear', span=(5, 1)), 'span'),
        (lambda: tf.shade(agg('small', 'cat12'), color_key=['red'] * 5), 'too few'),
        (lambda: tf.shade(agg('small', 'cat3'), color_key={'a': 'red'}), 'too few'),
        (lambda: tf.spread(tf.shade(a), px=-1), 'px'),
        (lambda: tf.spread(tf.shade(a), shape='star'), 'star'),
        (lambda: tf.spread(tf.shade(a), how='max'), 'max'),
        (lambda: tf.spread(tf.shade(a), mask=np.ones((2, 2), bool)), 'odd'),
        (lambda: tf.dynspread(tf.shade(a), threshold=2), 'threshold'),
        (lambda: tf.stack(), 'at least one'),
        (lambda: tf.stack(tf.shade(a), tf.shade(agg('one', 'count'))), 'shape'),
        (lambda: tf.stack(tf.shade(a), tf.shade(a), how='multiply'), 'multiply'),
        (lambda: tf.set_background(a, 'black'), 'Image'),
        (lambda: tf.set_background(tf.shade(a), 'ultraviolet'), 'ultraviolet'),
        (lambda: tf.shade(a).to_pil(origin='middle'), 'origin'),
    ]
    for call, needle in cases:
        with pytest.raises(RenderError, match=needle) as info:
            call()
        message = str(info.value)
        assert isinstance(info.value, ValueError)
        assert message.count('. ') == 0 and message.endswith('.'), message


def test_unknown_cmap_message_lists_examples():
    with pytest.raises(RenderError) as info:
        tf.shade(agg('small', 'count'), cmap='firey')
    assert "'firey'" in str(info.value) and "'fire'" in str(info.value)


def test_every_datashader_colour_name_gives_the_same_rgb():
    import datashader.colors as dc
    from gpu_render.colormaps import to_rgb
    for name, hexcode in dc.color_lookup.items():
        assert tuple(to_rgb(name)) == tuple(dc.rgb(hexcode)), name


def test_written_files_get_a_normal_files_mode(tmp_path):
    """Atomic writes go through a private temporary file; the result gets the mode a new file
    would have (0666 less the umask), not 0600, so servers and other users can read PNGs,
    tiles' metadata and converted files."""
    import stat

    from gpu_render.convert import convert
    from gpu_render.tiles import _write_json
    old = os.umask(0o027)
    try:
        png = tf.save_png(_one_point_image(), tmp_path / 'a.png')
        _write_json(str(tmp_path / 'm.json'), {'a': 1})
        (tmp_path / 'd.csv').write_text('x,y\n1,2\n3,4\n')
        convert(str(tmp_path / 'd.csv'), str(tmp_path / 'd.parquet'), progress=False)
    finally:
        os.umask(old)
    for name in (png, tmp_path / 'm.json', tmp_path / 'd.parquet'):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o640, name

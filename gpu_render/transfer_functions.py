"""Transfer functions: turn aggregates into RGBA images (Datashader-compatible).

All numeric work is written against ``xp = get_xp(array)`` so it runs unchanged on
NumPy or CuPy data; only :meth:`Image.to_pil` (and PNG helpers) bring pixels to host.
RGBA pixels are packed little-endian into uint32 (R in the lowest byte), as in Datashader.
"""
import os
import tempfile
import warnings
from base64 import b64encode
from io import BytesIO

import numpy as np
import xarray as xr

from .colormaps import DEFAULT_CMAP, SETS1TO3, resolve_cmap, to_rgb
from .errors import RenderError
from .xp import get_xp, to_host

__all__ = ['Image', 'shade', 'spread', 'dynspread', 'stack', 'set_background', 'save_png']

_HOWS = ('eq_hist', 'log', 'cbrt', 'linear')
_EQ_HIST_BINS = 256 * 256


class Image(xr.DataArray):
    """An RGBA image: a DataArray of uint32 pixels (R, G, B, A bytes, R lowest)."""
    __slots__ = ()
    __array_priority__ = 70
    border = 1

    def to_pil(self, origin='lower'):
        """Return a PIL image; ``origin='lower'`` puts the highest y on the top row."""
        from PIL.Image import fromarray
        if origin not in ('lower', 'upper'):
            raise RenderError(f"origin must be 'lower' or 'upper', not {origin!r}.")
        arr = to_host(self.data)
        if origin == 'lower':
            arr = np.flipud(arr)
        if arr.ndim == 2 and arr.dtype == np.uint32:
            arr = np.ascontiguousarray(arr).view(np.uint8).reshape(arr.shape + (4,))
        return fromarray(arr)

    def to_bytesio(self, format='png', origin='lower'):
        """Return a BytesIO holding the encoded image, positioned at its start."""
        buf = BytesIO()
        self.to_pil(origin).save(buf, format)
        buf.seek(0)
        return buf

    def _repr_png_(self):
        """PNG bytes for Jupyter rich display."""
        return self.to_bytesio('png').getvalue()

    def _repr_html_(self):
        """An inline <img> tag for Jupyter rich display."""
        blob = b64encode(self._repr_png_()).decode('ascii')
        return (f'<img style="margin: auto; border:{self.border}px solid" '
                f"src='data:image/png;base64,{blob}'/>")


# --------------------------------------------------------------------------- helpers

def _nan_where(xp, mask, data):
    """``data`` with NaN wherever ``mask`` is True (float result)."""
    return xp.where(mask, xp.nan, data)


def _int_offsets(xp, data, vmin):
    """``data - vmin`` as int64 without wrap-around in narrow integer dtypes."""
    if data.dtype.kind == 'u':
        return (data - data.dtype.type(vmin)).astype(xp.int64)
    return data.astype(xp.int64) - vmin


def _eq_hist(xp, data, mask):
    """Histogram-equalise ``data`` (NaN where ``mask``); return (values, levels)."""
    if bool(mask.all()):
        return xp.full(data.shape, xp.nan), 0
    valid = data[~mask]
    if valid.dtype.kind == 'b':
        valid, data = valid.astype(xp.int8), data.astype(xp.int8)
    if valid.dtype.kind in 'iu':
        vmin, vmax = int(valid.min()), int(valid.max())
        if vmax - vmin < _EQ_HIST_BINS:
            return _eq_hist_exact(xp, data, mask, valid, vmin)
    hist, edges = xp.histogram(valid, bins=_EQ_HIST_BINS)
    centres = (edges[:-1] + edges[1:]) / 2
    keep = hist > 0
    hist, centres = hist[keep], centres[keep]
    cdf = xp.cumsum(hist)
    cdf = cdf / float(cdf[-1])
    return _nan_where(xp, mask, xp.interp(data, centres, cdf)), int(keep.sum())


def _eq_hist_exact(xp, data, mask, valid, vmin):
    """eq_hist for integers of small range: one bin per integer, looked up exactly."""
    hist = xp.bincount(_int_offsets(xp, valid, vmin))
    cdf = xp.cumsum(hist)
    cdf = cdf / float(cdf[-1])
    idx = xp.clip(_int_offsets(xp, data, vmin), 0, hist.size - 1)
    return _nan_where(xp, mask, cdf[idx]), int(xp.count_nonzero(hist))


def _scale(how, xp, data, mask):
    """Apply the ``how`` transform; return (scaled float array, discrete levels or None)."""
    if callable(how):
        out = how(data, mask)
    elif how == 'eq_hist':
        out = _eq_hist(xp, data, mask)
    elif how == 'log':
        out = xp.log1p(_nan_where(xp, mask, data))
    elif how == 'cbrt':
        out = _nan_where(xp, mask, data) ** (1 / 3.)
    else:
        out = _nan_where(xp, mask, data)
    if isinstance(out, (list, tuple)):
        return out[0], out[1]
    return out, None


def _scale_span(how, xp, span):
    """Transform a fixed data span into the scaled range ``(0, f(hi - lo))``."""
    width = xp.asarray([0.0, float(span[1]) - float(span[0])])
    scaled, _ = _scale(how, xp, width, xp.zeros(2, dtype=bool))
    return scaled[0], scaled[1]


def _rescale_levels(levels, lo, hi):
    """Lower the eq_hist span when there are few discrete levels (Datashader's rule)."""
    slope = -0.5 / 98.0
    factor = slope * levels + (1.5 - 2 * slope)
    if factor > 1:
        return max(hi - factor * (hi - lo), 0), 1
    return lo, hi


def _nanrange(xp, values, mask):
    """(min, max) of ``values`` outside ``mask`` ignoring NaN (NaN if nothing is left)."""
    kept = xp.where(mask, xp.nan, values)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', r'All-NaN')
        return xp.nanmin(kept), xp.nanmax(kept)


def _clip_unmasked(xp, data, mask, lo, hi):
    """Clip unmasked values to [lo, hi], storing the bounds cast to ``data``'s dtype."""
    lo_c, hi_c = np.array([lo, hi]).astype(data.dtype)
    data = xp.where(~mask & (data < lo), lo_c, data)
    return xp.where(~mask & (data > hi), hi_c, data)


def _to_uint8(xp, values):
    """Float channel to uint8 with NaN -> 0 (truncating, like Datashader)."""
    return xp.where(xp.isnan(values), 0, values).astype(xp.uint8)


def _pack(xp, r, g, b, a):
    """Pack four uint8 (or broadcastable) channels into a uint32 (H, W) image."""
    rgba = xp.empty(a.shape + (4,), dtype=xp.uint8)
    for i, channel in enumerate((r, g, b, a)):
        rgba[..., i] = channel
    return rgba.view(xp.uint32).reshape(a.shape)


def _check_args(agg, how, alpha, min_alpha, span):
    """Validate shade's arguments, raising RenderError with one sentence."""
    if not isinstance(agg, xr.DataArray):
        raise RenderError(f"shade needs an xarray.DataArray aggregate, not {type(agg).__name__}.")
    if agg.ndim not in (2, 3):
        raise RenderError(f"shade needs a 2D (y, x) or 3D (y, x, category) aggregate; "
                          f"got dims {agg.dims}.")
    if not (callable(how) or how in _HOWS):
        raise RenderError(f"Unknown how={how!r}; use one of {', '.join(_HOWS)} or a callable.")
    if not (0 <= min_alpha <= 255 and 0 <= alpha <= 255):
        raise RenderError(f"min_alpha ({min_alpha}) and alpha ({alpha}) must both be "
                          "between 0 and 255.")
    if span is not None:
        if len(span) != 2 or not span[0] <= span[1]:
            raise RenderError(f"span must be a (low, high) pair with low <= high, not {span!r}.")
        if agg.dtype.kind == 'u' and span[0] < 0:
            raise RenderError(f"span {tuple(span)!r} starts below 0 but the aggregate holds "
                              "unsigned counts; use a span with low >= 0.")
        if how == 'eq_hist':
            raise RenderError("span cannot be used with how='eq_hist'; use 'linear', "
                              "'log' or 'cbrt'.")


# --------------------------------------------------------------------------- 2D shading

def _mask_2d(xp, data):
    """Return (numeric data, empty mask) for a 2D aggregate."""
    if data.dtype.kind == 'b':
        return data.astype(xp.int8), ~data
    if data.dtype.kind == 'u':
        return data, data == 0
    if data.dtype.kind == 'f':
        return data, xp.isnan(data)
    return data, xp.zeros(data.shape, dtype=bool)


def _colormap_list(xp, scaled, lo, hi, rgb, alpha):
    """RGBA for a list colormap: interpolate each channel across evenly spaced knots."""
    knots = xp.linspace(lo, hi, len(rgb))
    rgb = xp.asarray(rgb)
    r, g, b = (xp.interp(scaled, knots, rgb[:, i], left=255).astype(xp.uint8) for i in range(3))
    img = _pack(xp, r, g, b, xp.full(scaled.shape, alpha).astype(xp.uint8))
    return xp.where(xp.isnan(scaled), xp.uint32(0), img)


def _colormap_single(xp, scaled, lo, hi, rgb, alpha, min_alpha):
    """RGBA for a single colour: fixed RGB, alpha ramps from min_alpha to alpha."""
    ramp = np.arange(min_alpha, alpha + 1)
    if ramp.size == 0:
        raise RenderError(f"min_alpha ({min_alpha}) must not exceed alpha ({alpha}) "
                          "for a single-colour cmap.")
    knots = xp.linspace(lo, hi, ramp.size)
    a = _to_uint8(xp, xp.interp(scaled, knots, xp.asarray(ramp), left=0, right=255))
    r, g, b = (np.uint8(v) for v in rgb)
    return _pack(xp, r, g, b, a)


def _colormap_callable(xp, scaled, lo, hi, func, alpha):
    """RGBA from a matplotlib-like colormap callable (evaluated on host)."""
    norm = to_host((scaled - lo) / (hi - lo))
    rgba = np.array(func(norm, bytes=True), dtype=np.uint8)
    rgba[..., 3] = np.where(np.isnan(norm), 0, alpha).astype(np.uint8)
    return xp.asarray(np.ascontiguousarray(rgba).view(np.uint32).reshape(norm.shape))


def _shade_2d(agg, cmap, how, alpha, span, min_alpha, name, rescale):
    """Colormap a 2D aggregate."""
    xp = get_xp(agg.data)
    resolved = resolve_cmap(cmap)
    data, mask = _mask_2d(xp, agg.data)
    if bool(mask.all()):
        return Image(xp.zeros(data.shape, dtype=xp.uint32), coords=agg.coords,
                     dims=agg.dims, attrs=agg.attrs, name=name)
    if span is None:
        offset = data[~mask].min()
    else:
        offset = np.array(span).astype(data.dtype)[0]
        data = _clip_unmasked(xp, data, mask, span[0], span[1])
    with np.errstate(invalid='ignore', divide='ignore'):
        scaled, levels = _scale(how, xp, data - offset, mask)
        if span is None:
            lo, hi = _nanrange(xp, scaled, mask)
            if rescale and levels is not None:
                lo, hi = _rescale_levels(levels, float(lo), float(hi))
        else:
            lo, hi = _scale_span(how, xp, span)
        if resolved.kind == 'list':
            img = _colormap_list(xp, scaled, lo, hi, resolved.rgb, alpha)
        elif resolved.kind == 'single':
            img = _colormap_single(xp, scaled, lo, hi, resolved.rgb, alpha, min_alpha)
        else:
            img = _colormap_callable(xp, scaled, lo, hi, resolved.func, alpha)
    return Image(img, coords=agg.coords, dims=agg.dims, name=name)


def _shade_discrete(agg, color_key, alpha, name):
    """Colour a 2D aggregate of category codes with a {value: colour} dict."""
    xp = get_xp(agg.data)
    data = agg.data
    r, g, b = (xp.zeros(data.shape, dtype=xp.uint8) for _ in range(3))
    hit = xp.zeros(data.shape, dtype=bool)
    for value, color in color_key.items():
        here = data == value
        for channel, v in zip((r, g, b), to_rgb(color)):
            channel[here] = v
        hit |= here
    a = xp.where(hit, alpha, 0).astype(xp.uint8)
    return Image(_pack(xp, r, g, b, a), coords=agg.coords, dims=agg.dims, name=name)


# --------------------------------------------------------------------------- 3D shading

def _category_colors(color_key, cats):
    """(C, 3) float32 RGB of each category, from a dict or a sequence of colours."""
    if color_key is None:
        raise RenderError("A categorical aggregate needs a color_key with one colour per category.")
    if not isinstance(color_key, dict):
        color_key = dict(zip(cats, color_key))
    missing = [c for c in cats if c not in color_key]
    if missing:
        raise RenderError(f"color_key has too few colours ({len(color_key)}) for the "
                          f"{len(cats)} categories; missing a colour for {missing[0]!r}.")
    return np.array([to_rgb(color_key[c]) for c in cats], dtype=np.float32)


def _mix_colors(xp, data, total, rgb, baseline):
    """Per-pixel (R, G, B) uint8 channels: colours weighted by value above baseline."""
    rgb = xp.asarray(rgb)
    if data.dtype.kind in 'iu' and baseline is None:
        out = _mix_integer(xp, data, total, rgb)
    else:
        out = _mix_general(xp, data, rgb, baseline)
    return out[..., 0], out[..., 1], out[..., 2]


def _mix_integer(xp, data, total, rgb):
    """Colour mixing for integer aggregates (baseline = global min), on busy pixels only.

    Pixels whose categories all sit at the baseline get the plain average colour.
    """
    ncat = data.shape[2]
    # an all-zero pixel means the unsigned minimum is 0: skip the full 3D reduction
    zero_pixel = data.dtype.kind == 'u' and bool((total == 0).any())
    base = data.dtype.type(0) if zero_pixel else data.min()
    busy = total != int(base) * ncat
    out = xp.empty(data.shape[:2] + (3,), dtype=xp.uint8)
    out[...] = (rgb.sum(axis=0) / xp.float32(ncat)).astype(xp.uint8)
    sub = data[busy]
    weights = (sub - base if base != 0 else sub).astype(xp.float32)
    mixed = (weights @ rgb) / weights.sum(axis=1)[:, None]
    out[busy] = mixed.astype(xp.uint8)
    return out


def _mix_general(xp, data, rgb, baseline):
    """Colour mixing for float aggregates (NaN = empty) or an explicit baseline."""
    present = ~xp.isnan(data) if data.dtype.kind == 'f' else None
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', r'All-NaN')
        base = xp.nanmin(data) if baseline is None else baseline
    work = data if data.dtype.kind == 'f' else data.astype(xp.float64)
    weights = work - base
    if baseline is not None and data.dtype.kind != 'u':
        weights = xp.maximum(weights, 0)
    weights = weights.astype(xp.float32)
    if present is not None:
        weights = xp.where(present, weights, xp.float32(0))
    total = weights.sum(axis=2)
    empty = (total == 0)[..., None]
    mixed = (weights @ rgb) / xp.where(empty, 1, total[..., None])
    if present is None:
        fallback = (rgb.sum(axis=0) / xp.float32(rgb.shape[0]))[None, None, :]
    else:
        flags = present.astype(xp.float32)
        nflags = flags.sum(axis=2)[..., None]
        fallback = xp.where(nflags == 0, 0, (flags @ rgb) / xp.where(nflags == 0, 1, nflags))
    return xp.where(empty, fallback, mixed).astype(xp.uint8)


def _category_total(xp, data):
    """Sum over categories; NaN only where every category is NaN."""
    if data.dtype.kind != 'f':
        return data.sum(axis=2)
    missing = xp.isnan(data)
    all_missing = missing.all(axis=2)
    summed = xp.where(missing & ~all_missing[..., None], 0, data).sum(axis=2)
    return summed


def _alpha_from_total(xp, total, dtype, how, alpha, span, min_alpha, rescale):
    """Alpha channel (uint8) from per-pixel totals, ramping min_alpha..alpha."""
    mask = xp.isnan(total) if total.dtype.kind == 'f' else xp.zeros(total.shape, dtype=bool)
    unsigned = total.dtype.kind == 'u'
    if span is None:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', r'All-NaN')
            offset = xp.nanmin(total)
        if unsigned and offset == 0:
            mask = mask | (total == 0)
            if not bool(mask.all()):
                offset = total[total > 0].min()
            total = _nan_where(xp, mask, total)
        scaled, levels = _scale(how, xp, total - offset, mask)
        lo, hi = (float(v) for v in _nanrange(xp, scaled, xp.zeros(mask.shape, dtype=bool)))
        if rescale and levels is not None:
            lo, hi = _rescale_levels(levels, lo, hi)
    else:
        offset = np.array(span).astype(dtype)[0]
        if unsigned and xp.nanmin(total) == 0:
            mask = mask | (total <= 0)
            total = _nan_where(xp, mask, total)
        total = _clip_unmasked(xp, total, mask, span[0], span[1])
        scaled, _ = _scale(how, xp, total - offset, mask)
        lo, hi = _scale_span(how, xp, span)
    norm = xp.asarray([float(lo), float(hi)])
    a = xp.interp(scaled, norm, xp.asarray([float(min_alpha), float(alpha)]), left=0, right=255)
    return _to_uint8(xp, a)


def _shade_3d(agg, color_key, how, alpha, span, min_alpha, name, baseline, rescale):
    """Mix category colours and ramp alpha with the per-pixel total."""
    xp = get_xp(agg.data)
    ydim, xdim, cdim = agg.dims
    coords = {xdim: agg.coords[xdim], ydim: agg.coords[ydim]}
    cats = list(agg.indexes[cdim]) if cdim in agg.indexes else list(range(agg.shape[2]))
    if not cats:
        return Image(xp.zeros(agg.shape[:2], dtype=xp.uint32), dims=(ydim, xdim),
                     coords=coords, name=name)
    rgb = _category_colors(color_key, cats)
    data = agg.data
    with np.errstate(invalid='ignore', divide='ignore'):
        total = _category_total(xp, data)
        r, g, b = _mix_colors(xp, data, total, rgb, baseline)
        a = _alpha_from_total(xp, total, data.dtype, how, alpha, span, min_alpha, rescale)
    return Image(_pack(xp, r, g, b, a), dims=(ydim, xdim), coords=coords, name=name)


def shade(agg, cmap=list(DEFAULT_CMAP), color_key=list(SETS1TO3), how='eq_hist', alpha=255,
          min_alpha=40, span=None, name=None, color_baseline=None,
          rescale_discrete_levels=False):
    """Shade an aggregate into an :class:`Image` exactly as ``datashader.transfer_functions.shade``.

    2D aggregates are colormapped with ``cmap`` (list of colours, colorcet name, one
    colour for an alpha ramp, or a matplotlib colormap). 3D (y, x, category)
    aggregates mix the ``color_key`` colours weighted by value and ramp alpha from
    ``min_alpha`` to ``alpha`` with the total. ``how`` is 'eq_hist', 'log', 'cbrt',
    'linear' or a callable ``f(data, mask)``; ``span`` fixes the value range.
    """
    _check_args(agg, how, alpha, min_alpha, span)
    name = agg.name if name is None else name
    rescale = bool(rescale_discrete_levels) and how == 'eq_hist'
    if agg.ndim == 3:
        return _shade_3d(agg, color_key, how, alpha, span, min_alpha, name,
                         color_baseline, rescale)
    if isinstance(color_key, dict):
        return _shade_discrete(agg, color_key, alpha, name)
    return _shade_2d(agg, cmap, how, alpha, span, min_alpha, name, rescale)


# --------------------------------------------------------------------------- compositing

def _unpack_scaled(xp, img):
    """Split uint32 pixels into float64 r, g, b, a in [0, 1]."""
    img = img.astype(xp.uint32)
    return [((img >> s) & 255).astype(xp.float64) / 255 for s in (0, 8, 16, 24)]


def _pack_scaled(xp, r, g, b, a, empty):
    """Combine [0, 1] channels into uint32 pixels (0 where ``empty``)."""
    chans = [xp.minimum(xp.nan_to_num(c * 255).astype(xp.uint32), 255) for c in (r, g, b, a)]
    out = chans[0] | (chans[1] << 8) | (chans[2] << 16) | (chans[3] << 24)
    return xp.where(empty, xp.uint32(0), out).astype(xp.uint32)


def _blend(xp, src, dst, how):
    """Composite uint32 ``src`` onto ``dst`` with operator 'over', 'add' or 'saturate'."""
    sr, sg, sb, sa = _unpack_scaled(xp, src)
    dr, dg, db, da = _unpack_scaled(xp, dst)
    if how == 'over':
        ws, wd = sa, da * (1 - sa)
        a = sa + wd
    elif how == 'add':
        ws, wd = sa, da
        a = xp.minimum(1, sa + da)
    else:
        ws, wd = xp.minimum(sa, 1 - da), da
        a = xp.minimum(1, sa + da)
    empty = a == 0
    safe = xp.where(empty, 1, a)
    with np.errstate(invalid='ignore', divide='ignore'):
        if how == 'over':
            chans = [(s * sa + d * da * (1 - sa)) / safe for s, d in ((sr, dr), (sg, dg), (sb, db))]
        else:
            chans = [(ws * s + d * wd) / safe for s, d in ((sr, dr), (sg, dg), (sb, db))]
    return _pack_scaled(xp, *chans, a, empty)


_IMAGE_OPS = ('over', 'add', 'saturate', 'source')
_ARRAY_OPS = ('add', 'max', 'min', 'source')


def _composite(xp, src, dst, how):
    """Image operator ``how`` applied pixel-wise as ``src`` onto ``dst``."""
    if how == 'source':
        return xp.where((src & 0xff000000) != 0, src, dst).astype(xp.uint32)
    return _blend(xp, src, dst, how)


def _combine_arrays(xp, src, dst, how):
    """Array operator ``how`` for spreading aggregates."""
    if how == 'add':
        return src + dst
    if how == 'max':
        return xp.maximum(src, dst)
    if how == 'min':
        return xp.minimum(src, dst)
    return xp.where(src != 0, src, dst)


def _check_op(how, is_image):
    """Raise RenderError unless ``how`` is a valid compositing operator."""
    valid = _IMAGE_OPS if is_image else _ARRAY_OPS
    if how not in valid:
        kind = 'image' if is_image else 'array'
        raise RenderError(f"Unknown {kind} operator how={how!r}; use one of {', '.join(valid)}.")


def stack(*imgs, how='over', name=None):
    """Composite images, later ones on top of earlier ones."""
    if not imgs:
        raise RenderError("stack needs at least one Image.")
    for img in imgs:
        if not isinstance(img, Image):
            raise RenderError(f"stack accepts only Image objects, not {type(img).__name__}.")
    if len({img.shape for img in imgs}) > 1:
        raise RenderError("The stacked images must all have the same shape.")
    _check_op(how, True)
    if len(imgs) == 1:
        return imgs[0]
    imgs = xr.align(*imgs, copy=False, join='outer')
    xp = get_xp(imgs[0].data)
    out = imgs[0].data
    for img in imgs[1:]:
        out = _composite(xp, img.data, out, how)
    return Image(out, coords=imgs[0].coords, dims=imgs[0].dims, name=name)


def set_background(img, color=None, name=None):
    """Return ``img`` composited over an opaque background ``color`` (None: unchanged)."""
    if not isinstance(img, Image):
        raise RenderError(f"set_background needs an Image, not {type(img).__name__}.")
    name = img.name if name is None else name
    if color is None:
        return img
    xp = get_xp(img.data)
    bg = np.array(list(to_rgb(color)) + [255], dtype=np.uint8).view(np.uint32)[0]
    data = _composite(xp, img.data, xp.full(img.shape, bg, dtype=xp.uint32), 'over')
    return Image(data, coords=img.coords, dims=img.dims, name=name)


# --------------------------------------------------------------------------- spreading

def _spread_mask(px, shape):
    """Boolean (2px+1)^2 stencil: a disc ('circle') or a full 'square'."""
    if shape == 'square':
        return np.ones((2 * px + 1, 2 * px + 1), dtype=bool)
    if shape == 'circle':
        d = np.arange(-px, px + 1)
        return np.sqrt(d[:, None] ** 2 + d[None, :] ** 2) <= px + 0.5
    raise RenderError(f"Unknown spread shape {shape!r}; use 'circle' or 'square'.")


def _stamp(xp, layer, stencil, merge, present, empty_value):
    """Stamp every present pixel of ``layer`` onto its stencil neighbourhood.

    Pixels are merged in Datashader's raster order: for each output pixel the source
    pixels arrive by increasing (y, x), each merged on top with ``merge(src, dst)``.
    """
    w = stencil.shape[0]
    extra = w // 2
    rows, cols = layer.shape
    out = xp.full((rows + w - 1, cols + w - 1), empty_value, dtype=layer.dtype)
    for i in range(w - 1, -1, -1):
        for j in range(w - 1, -1, -1):
            if not stencil[i, j]:
                continue
            dst = out[i:i + rows, j:j + cols]
            take = present & merge.is_empty(xp, dst)
            both = present & ~take
            merged = dst.copy()
            merged[take] = layer[take]
            if bool(both.any()):
                merged[both] = merge(xp, layer[both], dst[both])
            out[i:i + rows, j:j + cols] = merged
    return out[extra:extra + rows, extra:extra + cols].copy()


class _Merge:
    """A spread merge rule: ``op`` plus what counts as an empty destination."""

    def __init__(self, op, empty_test):
        self.op, self.is_empty = op, empty_test

    def __call__(self, xp, src, dst):
        return self.op(xp, src, dst)


def _spread_layer(xp, layer, stencil, how, is_image):
    """Spread one 2D layer (image or aggregate) with ``stencil`` using xp array code."""
    kind = layer.dtype.kind
    if is_image:
        merge = _Merge(lambda x, s, d: _composite(x, s, d, how), lambda x, d: d == 0)
        present = ((layer >> 24) & 255) != 0
        return _stamp(xp, layer, stencil, merge, present, 0)
    op = lambda x, s, d: _combine_arrays(x, s, d, how)  # noqa: E731
    if kind == 'f':
        merge = _Merge(op, lambda x, d: x.isnan(d))
        return _stamp(xp, layer, stencil, merge, ~xp.isnan(layer), np.nan)
    if layer.dtype == np.uint32:
        merge = _Merge(op, lambda x, d: d == 0)
        return _stamp(xp, layer, stencil, merge, layer != 0, 0)
    merge = _Merge(op, lambda x, d: xp.zeros(d.shape, dtype=bool))
    return _stamp(xp, layer, stencil, merge, xp.ones(layer.shape, dtype=bool), 0)


def _spread_xp(xp, data, stencil, how, is_image):
    """Array-namespace spreading (CuPy on the GPU, or numpy for dtypes the kernels lack)."""
    if data.ndim == 2:
        return _spread_layer(xp, data, stencil, how, is_image)
    return xp.stack([_spread_layer(xp, data[:, :, k], stencil, how, is_image)
                     for k in range(data.shape[2])], axis=2)


def _spread_numba(data, stencil, how, is_image):
    """Spread a numpy image or aggregate with the compiled CPU kernels."""
    from cpu_fallback import spread_kernels as K
    mask = np.ascontiguousarray(stencil, dtype=np.bool_)
    if is_image:
        out = np.empty(data.shape, dtype=np.uint32)
        K.spread_image(np.ascontiguousarray(data, dtype=np.uint32), mask, K.IMAGE_OPS[how], out)
        return out
    if data.dtype == bool:  # Datashader adds/compares booleans as integers, then stores != 0
        return _spread_numba(data.view(np.uint8), stencil, how, is_image).astype(bool)
    if data.dtype.kind == 'f':
        empty, fill = K.EMPTY_NAN, np.nan
    else:
        empty, fill = (K.EMPTY_ZERO if data.dtype == np.uint32 else K.EMPTY_NONE), 0
    layers = data if data.ndim == 3 else data[:, :, None]
    out = np.full(layers.shape, fill, dtype=data.dtype)
    K.spread_array(np.ascontiguousarray(layers), mask, K.ARRAY_OPS[how], empty, out)
    return out.reshape(data.shape)


def _spread_data(xp, data, stencil, how, is_image):
    """numpy data goes to the compiled CPU kernels, any other namespace (CuPy) to xp code."""
    if xp is np and data.dtype != np.float16:
        return _spread_numba(data, stencil, how, is_image)
    return _spread_xp(xp, data, stencil, how, is_image)


def spread(img, px=1, shape='circle', how=None, mask=None, name=None):
    """Spread each non-empty pixel over a ``px``-radius disc/square (or a custom mask)."""
    if not isinstance(img, xr.DataArray):
        raise RenderError(f"spread needs an Image or DataArray, not {type(img).__name__}.")
    is_image = isinstance(img, Image)
    name = img.name if name is None else name
    if mask is None:
        if not isinstance(px, (int, np.integer)) or isinstance(px, bool) or px < 0:
            raise RenderError(f"px must be an integer >= 0, not {px!r}.")
        if px == 0:
            return img
        stencil = _spread_mask(int(px), shape)
    else:
        stencil = to_host(mask)
        if not (stencil.ndim == 2 and stencil.shape[0] == stencil.shape[1]
                and stencil.shape[0] % 2 == 1):
            raise RenderError("mask must be a square 2D array with odd side length.")
        stencil = stencil.astype(bool)
    how = ('over' if is_image else 'add') if how is None else how
    _check_op(how, is_image)
    out = _spread_data(get_xp(img.data), img.data, stencil, how, is_image)
    return img.__class__(out, dims=img.dims, coords=img.coords, name=name)


def _occupancy(xp, img):
    """Boolean (H, W) map of non-empty pixels of an image or aggregate."""
    data = img.data
    if isinstance(img, Image):
        return data >= xp.uint32(1 << 24)  # alpha byte != 0
    empty = xp.isnan(data) if data.dtype.kind == 'f' else data == 0
    full = ~empty
    return full.any(axis=2) if full.ndim == 3 else full


def _density_xp(xp, occupied, radius):
    """Fraction of occupied pixels having another occupied pixel within ``radius``."""
    count = int(occupied.sum())
    if count == 0:
        return np.inf
    rows, cols = occupied.shape
    integral = xp.zeros((rows + 1, cols + 1), dtype=xp.int64)
    integral[1:, 1:] = occupied.astype(xp.int64).cumsum(axis=0).cumsum(axis=1)
    ys, xs = xp.arange(rows), xp.arange(cols)
    y0, y1 = xp.maximum(ys - radius, 0), xp.minimum(ys + radius + 1, rows)
    x0, x1 = xp.maximum(xs - radius, 0), xp.minimum(xs + radius + 1, cols)
    box = (integral[y1][:, x1] - integral[y0][:, x1]
           - integral[y1][:, x0] + integral[y0][:, x0])
    return int(((box > 1) & occupied).sum()) / count


def _densities(xp, occupied, max_px):
    """Neighbour densities for spreading by px = 1, 2, ..., max_px, in that order (lazily)."""
    if xp is not np:
        yield from (_density_xp(xp, occupied, 2 * px) for px in range(1, max_px + 1))
        return
    from cpu_fallback import spread_kernels as K
    occupied = np.ascontiguousarray(occupied)
    done = 0
    for radius in sorted({2, 2 * max_px}):  # px=1 alone first: dense images stop there
        count, hist = K.neighbour_hist(occupied, radius)
        near = np.cumsum(hist[1:])  # near[r - 1]: pixels with a neighbour within distance r
        for px in range(done + 1, radius // 2 + 1):
            yield int(near[2 * px - 1]) / int(count) if count else np.inf
        done = radius // 2


def dynspread(img, threshold=0.5, max_px=3, shape='circle', how=None, name=None):
    """Spread by the largest px <= max_px that keeps the neighbour density <= threshold."""
    if not 0 <= threshold <= 1:
        raise RenderError(f"threshold must be in [0, 1], not {threshold!r}.")
    if not isinstance(max_px, (int, np.integer)) or isinstance(max_px, bool) or max_px < 0:
        raise RenderError(f"max_px must be an integer >= 0, not {max_px!r}.")
    if not isinstance(img, xr.DataArray):
        raise RenderError(f"dynspread needs an Image or DataArray, not {type(img).__name__}.")
    chosen = 0
    if max_px >= 1:
        xp = get_xp(img.data)
        for density in _densities(xp, _occupancy(xp, img), int(max_px)):
            if density > threshold:
                break
            chosen += 1
    if chosen >= 1:
        return spread(img, chosen, shape=shape, how=how, name=name)
    return img


# --------------------------------------------------------------------------- files

PNG_LEVEL = 2


def save_png(img, path, compress_level=PNG_LEVEL):
    """Write ``img`` north-up as PNG to ``path`` atomically (temp file + rename).

    ``compress_level`` is zlib's 0-9. The default 2 encodes an 800x600 density image about 4x
    faster than PIL's default 6 (30 vs 130 ms here) for a file about 14% larger; 6-9 for the
    smallest files."""
    if not isinstance(img, Image):
        raise RenderError(f"save_png needs an Image, not {type(img).__name__}.")
    if not (isinstance(compress_level, int) and 0 <= compress_level <= 9):
        raise RenderError(f"compress_level must be a whole number from 0 to 9, got {compress_level!r}.")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RenderError(f"Cannot write {path!r}: the directory {folder!r} does not exist.")
    pil = img.to_pil()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as fh:
            pil.save(fh, format='png', compress_level=compress_level)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise RenderError(f"Cannot write {path!r}: {exc.strerror or exc}.") from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def _remove_quietly(path):
    """Delete ``path`` if it exists, ignoring errors."""
    try:
        os.remove(path)
    except OSError:
        pass

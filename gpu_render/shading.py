"""Shading on bare arrays: aggregates (numpy or CuPy) to packed RGBA pixels, as datashader's
``transfer_functions.shade`` computes them. No xarray here, so the command line renders without
importing xarray or pandas; ``transfer_functions`` wraps these in ``Image``s.

RGBA pixels are packed little-endian into uint32 (R in the lowest byte), as in Datashader.
"""
import warnings

import numpy as np

from .colormaps import DEFAULT_CMAP, SETS1TO3, resolve_cmap, to_rgb
from .errors import RenderError
from .xp import get_xp, to_host

HOWS = ('eq_hist', 'log', 'cbrt', 'linear')
_EQ_HIST_BINS = 256 * 256


def _nan_where(xp, mask, data):
    """``data`` with NaN wherever ``mask`` is True (float result)."""
    return xp.where(mask, xp.nan, data)


def _int_offsets(xp, data, vmin):
    """``data - vmin`` as int64 without wrap-around in narrow integer dtypes."""
    if data.dtype.kind == 'u':
        return (data - data.dtype.type(vmin)).astype(xp.int64)
    return data.astype(xp.int64) - vmin


def _eq_hist(xp, data, mask, nbins=_EQ_HIST_BINS):
    """Histogram-equalise ``data`` (NaN where ``mask``); return (values, levels).

    Infinities (datashader raises on them) take their rank: -inf pixels the lowest colour,
    +inf pixels the highest, the finite values equalised between them."""
    if bool(mask.all()):
        return xp.full(data.shape, xp.nan), 0
    valid = data[~mask]
    if valid.dtype.kind == 'b':
        valid, data = valid.astype(xp.int8), data.astype(xp.int8)
    if valid.dtype.kind in 'iu':
        vmin, vmax = int(valid.min()), int(valid.max())
        if vmax - vmin < nbins:
            return _eq_hist_exact(xp, data, mask, valid, vmin)
    below = above = 0
    if valid.dtype.kind == 'f':
        finite = xp.isfinite(valid)
        if not bool(finite.all()):
            below, above = int((valid < 0)[~finite].sum()), int((valid > 0)[~finite].sum())
            valid = valid[finite]
    total = float(below + valid.size + above)
    if valid.size:
        hist, edges = xp.histogram(valid, bins=nbins)
        centres = (edges[:-1] + edges[1:]) / 2
        keep = hist > 0
        hist, centres = hist[keep], centres[keep]
        cdf = (below + xp.cumsum(hist)) / total
        out, levels = xp.interp(data, centres, cdf), int(keep.sum())
    else:
        out, levels = xp.full(data.shape, 1.0), 0
    if below or above:
        out = xp.where(data == -xp.inf, below / total, xp.where(data == xp.inf, 1.0, out))
        levels += (below > 0) + (above > 0)
    return _nan_where(xp, mask, out), levels


def _eq_hist_exact(xp, data, mask, valid, vmin):
    """eq_hist for integers of small range: one bin per integer, looked up exactly."""
    hist = xp.bincount(_int_offsets(xp, valid, vmin))
    cdf = xp.cumsum(hist)
    cdf = cdf / float(cdf[-1])
    idx = xp.clip(_int_offsets(xp, data, vmin), 0, hist.size - 1)
    return _nan_where(xp, mask, cdf[idx]), int(xp.count_nonzero(hist))


def _finite_offset(xp, data, mask, offset):
    """eq_hist's shift of ``data`` when ``offset`` (its minimum) is infinite: the finite minimum
    (eq_hist ranks, so any finite shift will do; -inf then keeps its rank)."""
    if data.dtype.kind != 'f' or not bool(xp.isinf(offset)):
        return offset
    finite = data[~mask & xp.isfinite(data)]
    return finite.min() if finite.size else data.dtype.type(0)


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


def check_args(ndim, dims, dtype, how, alpha, min_alpha, span):
    """Validate shade's arguments, raising RenderError with one sentence."""
    if ndim not in (2, 3):
        raise RenderError(f"shade needs a 2D (y, x) or 3D (y, x, category) aggregate; "
                          f"got dims {dims}.")
    if not (callable(how) or how in HOWS):
        raise RenderError(f"Unknown how={how!r}; use one of {', '.join(HOWS)} or a callable.")
    if not (0 <= min_alpha <= 255 and 0 <= alpha <= 255):
        raise RenderError(f"min_alpha ({min_alpha}) and alpha ({alpha}) must both be "
                          "between 0 and 255.")
    if span is not None:
        if len(span) != 2 or not span[0] <= span[1]:
            raise RenderError(f"span must be a (low, high) pair with low <= high, not {span!r}.")
        if dtype.kind == 'u' and span[0] < 0:
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


def all_empty(data):
    """Whether a 2D aggregate has no non-empty pixel."""
    return bool(_mask_2d(get_xp(data), data)[1].all())


def _colormap_list(xp, scaled, lo, hi, rgb, alpha):
    """RGBA for a list colormap: interpolate each channel across evenly spaced knots."""
    knots = xp.linspace(lo, hi, len(rgb))
    rgb = xp.asarray(rgb)
    # as datashader: empty pixels get alpha 0 and the RGB interp gives NaN (0), or with a single
    # knot the colour itself
    r, g, b = (xp.nan_to_num(xp.interp(scaled, knots, rgb[:, i], left=255)).astype(xp.uint8)
               for i in range(3))
    return _pack(xp, r, g, b, xp.where(xp.isnan(scaled), 0, alpha).astype(xp.uint8))


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


def shade_2d(data, cmap, how, alpha, span, min_alpha, rescale):
    """Colormap a 2D aggregate array; uint32 RGBA pixels (transparent where empty)."""
    xp = get_xp(data)
    resolved = resolve_cmap(cmap)
    data, mask = _mask_2d(xp, data)
    if bool(mask.all()):
        return xp.zeros(data.shape, dtype=xp.uint32)
    if span is None:
        offset = data[~mask].min()
        if how == 'eq_hist':
            offset = _finite_offset(xp, data, mask, offset)
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
    return img


def shade_discrete(data, color_key, alpha):
    """Colour a 2D array of category codes with a {value: colour} dict."""
    xp = get_xp(data)
    r, g, b = (xp.zeros(data.shape, dtype=xp.uint8) for _ in range(3))
    hit = xp.zeros(data.shape, dtype=bool)
    for value, color in color_key.items():
        here = data == value
        for channel, v in zip((r, g, b), to_rgb(color)):
            channel[here] = v
        hit |= here
    a = xp.where(hit, alpha, 0).astype(xp.uint8)
    return _pack(xp, r, g, b, a)


# --------------------------------------------------------------------------- 3D shading

def check_color_key(color_key, cats):
    """``color_key`` as a {category: colour} dict covering ``cats``, or one sentence saying
    what is missing (and how to get enough colours)."""
    if color_key is None:
        raise RenderError("A categorical aggregate needs a color_key with one colour per category.")
    if not isinstance(color_key, dict):
        color_key = dict(zip(cats, color_key))
    missing = [c for c in cats if c not in color_key]
    if missing:
        raise RenderError(f"color_key has too few colours ({len(color_key)}) for the "
                          f"{len(cats)} categories; missing a colour for {missing[0]!r} (colorcet's "
                          "glasbey has 256: color_key=colorcet.glasbey, or --color-key glasbey).")
    return color_key


def _category_colors(color_key, cats):
    """(C, 3) float32 RGB of each category, from a dict or a sequence of colours."""
    color_key = check_color_key(color_key, cats)
    return np.array([to_rgb(color_key[c]) for c in cats], dtype=np.float32)


def _mix_colors(xp, data, total, rgb, baseline, ranked=False):
    """Per-pixel (R, G, B) uint8 channels: colours weighted by value above baseline
    (``ranked``: infinities by rank, see ``_mix_general``)."""
    rgb = xp.asarray(rgb)
    if data.dtype.kind in 'iu' and baseline is None:
        out = _mix_integer(xp, data, total, rgb)
    else:
        out = _mix_general(xp, data, rgb, baseline, ranked)
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


def _mix_general(xp, data, rgb, baseline, ranked=False):
    """Colour mixing for float aggregates (NaN = empty) or an explicit baseline.

    ``ranked`` (eq_hist of values holding +-inf, which datashader refuses): the baseline is the
    lowest finite value, a category at +inf takes its pixel (its colour, or the mean of those at
    +inf), one at -inf adds nothing."""
    present = ~xp.isnan(data) if data.dtype.kind == 'f' else None
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', r'All-NaN')
        base = xp.nanmin(data) if baseline is None else baseline
    if ranked and baseline is None:
        base = _finite_offset(xp, data, ~present, base)
    work = data if data.dtype.kind == 'f' else data.astype(xp.float64)
    weights = work - base
    if baseline is not None and data.dtype.kind != 'u':
        weights = xp.maximum(weights, 0)
    if ranked:
        top = weights == xp.inf
        weights = xp.where(top.any(axis=2)[..., None], top,
                           xp.where(weights == -xp.inf, 0, weights))
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
        if how == 'eq_hist':
            offset = _finite_offset(xp, total, mask, offset)
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


def shade_3d(data, cats, color_key, how, alpha, span, min_alpha, baseline, rescale):
    """Mix category colours and ramp alpha with the per-pixel total; uint32 (y, x) pixels."""
    xp = get_xp(data)
    if not cats:
        return xp.zeros(data.shape[:2], dtype=xp.uint32)
    rgb = _category_colors(color_key, cats)
    with np.errstate(invalid='ignore', divide='ignore'):
        total = _category_total(xp, data)
        # datashader refuses eq_hist of infinite totals; its answer stands for all else
        ranked = how == 'eq_hist' and data.dtype.kind == 'f' and bool(xp.isinf(total).any())
        r, g, b = _mix_colors(xp, data, total, rgb, baseline, ranked)
        a = _alpha_from_total(xp, total, data.dtype, how, alpha, span, min_alpha, rescale)
    return _pack(xp, r, g, b, a)


def shade_array(data, cats=None, cmap=DEFAULT_CMAP, color_key=SETS1TO3, how='eq_hist', alpha=255,
                min_alpha=40, span=None, color_baseline=None, rescale_discrete_levels=False,
                dims=None):
    """``transfer_functions.shade`` on a bare (y, x) or (y, x, category) array (numpy or
    CuPy; ``cats`` names the categories): the uint32 RGBA pixels, no xarray needed."""
    check_args(data.ndim, dims or data.shape, data.dtype, how, alpha, min_alpha, span)
    rescale = bool(rescale_discrete_levels) and how == 'eq_hist'
    if data.ndim == 3:
        cats = list(range(data.shape[2])) if cats is None else list(cats)
        return shade_3d(data, cats, color_key, how, alpha, span, min_alpha, color_baseline,
                        rescale)
    if isinstance(color_key, dict):
        return shade_discrete(data, color_key, alpha)
    return shade_2d(data, cmap, how, alpha, span, min_alpha, rescale)

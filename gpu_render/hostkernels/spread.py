"""Numba CPU kernels for ``spread`` and ``dynspread`` (numpy arrays only).

Design:
- Spreading is split in bands of output rows, each built whole from the source rows the stencil
  reaches, so bands are independent and no two bands write the same pixel: images spread their
  bands in ``prange`` (on a quiet 2-core machine 1.5-1.7x the serial loop; on a busy one the
  fork/join can cost more than it saves, as measured earlier), aggregates serially. Sources arrive in
  raster order (increasing row, then column), which is the order in which Datashader's scatter
  loop merges them, so non-commutative operators ('over', float 'add') give the same bytes.
- 'over' with an opaque source returns the source itself (proved for all 256 channel values
  at import), which skips the float work for the common fully opaque shaded image.
- RGBA merging repeats Datashader's float64 formulas operation for operation; ``c / 255`` comes
  from a 256-entry table holding exactly those quotients.
- ``neighbour_hist`` finds, for each occupied pixel, the Chebyshev distance to its nearest
  occupied neighbour (scanning rings outwards, stopping at the first hit), so one pass gives the
  density heuristic for every radius ``dynspread`` may try.
"""
import numba as nb
import numpy as np

_JIT = dict(nogil=True, cache=True)

# Operators, as codes shared with gpu_render.transfer_functions.
OVER, ADD, SATURATE, SOURCE, MAX, MIN = range(6)
IMAGE_OPS = {'over': OVER, 'add': ADD, 'saturate': SATURATE, 'source': SOURCE}
ARRAY_OPS = {'add': ADD, 'max': MAX, 'min': MIN, 'source': SOURCE}

# What counts as an empty aggregate pixel: NaN (floats), 0 (uint32), nothing (other ints).
EMPTY_NAN, EMPTY_ZERO, EMPTY_NONE = range(3)

BAND = 16  # output rows per band
_SCALED = np.arange(256, dtype=np.uint32) / 255  # float64, exactly (c & 255) / 255
# 'over' with an opaque source yields channels min(255, uint32((c / 255) * 255)); where that
# round trip returns every c unchanged (IEEE float64 does), the result is the source itself.
_OPAQUE_OVER_IS_SOURCE = bool((np.minimum(255, (_SCALED * 255).astype(np.uint32))
                               == np.arange(256)).all())


@nb.njit(inline='always', **_JIT)
def _pack(r, g, b, a):
    """[0, 1] float64 channels to one uint32 RGBA pixel (truncating, capped at 255)."""
    r2 = min(np.uint32(255), np.uint32(r * 255))
    g2 = min(np.uint32(255), np.uint32(g * 255))
    b2 = min(np.uint32(255), np.uint32(b * 255))
    a2 = min(np.uint32(255), np.uint32(a * 255))
    return np.uint32((a2 << 24) | (b2 << 16) | (g2 << 8) | r2)


@nb.njit(inline='always', **_JIT)
def _blend(op, src, dst, lut):
    """Composite RGBA ``src`` onto ``dst`` (both non-empty) with ``op``."""
    if op == SOURCE:
        return src
    if op == OVER and src >> 24 == 255 and _OPAQUE_OVER_IS_SOURCE:
        return src  # opaque 'over': factor 0 and a 1, so each channel is exactly its source's
    sr, sg, sb, sa = lut[src & 255], lut[(src >> 8) & 255], lut[(src >> 16) & 255], lut[src >> 24]
    dr, dg, db, da = lut[dst & 255], lut[(dst >> 8) & 255], lut[(dst >> 16) & 255], lut[dst >> 24]
    if op == OVER:
        factor = 1 - sa
        a = sa + da * factor
        r, g, b = sr * sa + dr * da * factor, sg * sa + dg * da * factor, sb * sa + db * da * factor
    else:
        a = min(1.0, sa + da)
        if op == ADD:
            r, g, b = sr * sa + dr * da, sg * sa + dg * da, sb * sa + db * da
        else:  # SATURATE
            factor = min(sa, 1 - da)
            r, g, b = factor * sr + dr * da, factor * sg + dg * da, factor * sb + db * da
    if a == 0:
        return np.uint32(0)
    if a != 1.0:  # x / 1.0 is exactly x: skip the divisions for (often) full alpha
        r, g, b = r / a, g / a, b / a
    return _pack(r, g, b, a)


@nb.njit(**_JIT)
def _occupied_rows(img):
    """occupied[y]: row y of an RGBA image has a non-transparent pixel."""
    rows, cols = img.shape
    occupied = np.zeros(rows, np.bool_)
    for y in range(rows):
        for x in range(cols):
            if img[y, x] >> 24:
                occupied[y] = True
                break
    return occupied


@nb.njit(**_JIT)
def _mask_columns(mask):
    """(cols, count): cols[i, :count[i]] are the j with mask[i, j] set, ascending."""
    w = mask.shape[0]
    cols = np.zeros((w, w), np.int64)
    count = np.zeros(w, np.int64)
    for i in range(w):
        for j in range(w):
            if mask[i, j]:
                cols[i, count[i]] = j
                count[i] += 1
    return cols, count


@nb.njit(parallel=True, **_JIT)
def spread_image(img, mask, op, out):
    """Spread every non-transparent pixel of RGBA ``img`` over ``mask``, merging with ``op``.

    Each band of BAND output rows is built from the source rows its stencil reaches, in
    increasing row then column order (Datashader's order); transparent rows are skipped whole.
    The loop is compiled once per operator (a constant ``op`` lets LLVM drop the others).
    """
    if op == OVER:
        _spread_image(img, mask, OVER, out)
    elif op == ADD:
        _spread_image(img, mask, ADD, out)
    elif op == SATURATE:
        _spread_image(img, mask, SATURATE, out)
    else:
        _spread_image(img, mask, SOURCE, out)


@nb.njit(inline='always', **_JIT)
def _spread_image(img, mask, op, out):
    rows, cols = img.shape
    w = mask.shape[0]
    extra = w // 2
    lut = _SCALED
    mcols, mcount = _mask_columns(mask)
    occupied = _occupied_rows(img)
    for band in nb.prange((rows + BAND - 1) // BAND):
        r0 = band * BAND
        r1 = min(r0 + BAND, rows)
        out[r0:r1, :] = 0
        for sy in range(max(r0 - extra, 0), min(r1 + extra, rows)):
            if not occupied[sy]:
                continue
            i0 = max(r0 - sy + extra, 0)
            i1 = min(r1 - sy + extra, w)
            for sx in range(cols):
                el = img[sy, sx]
                if el >> 24 == 0:
                    continue
                inside = extra <= sx < cols - extra
                for i in range(i0, i1):
                    oy = sy + i - extra
                    for n in range(mcount[i]):
                        ox = sx + mcols[i, n] - extra
                        if inside or 0 <= ox < cols:
                            acc = out[oy, ox]
                            out[oy, ox] = el if acc == 0 else _blend(op, el, acc, lut)


@nb.njit(inline='always', **_JIT)
def _combine(op, src, dst):
    """Array operator ``op`` as Datashader defines it (max/min keep ``src`` on ties)."""
    if op == ADD:
        return src + dst
    if op == MAX:
        return dst if dst > src else src
    if op == MIN:
        return dst if dst < src else src
    return src if src else dst


@nb.njit(**_JIT)
def spread_array(agg, mask, op, empty, out):
    """Spread each layer of an (H, W, C) aggregate; ``out`` holds the fill value on entry.

    ``empty`` (EMPTY_*) says which source pixels are skipped and which accumulated values are
    replaced rather than combined; with EMPTY_NONE every source is combined onto the fill.
    Work is split in row bands and sources are taken in Datashader's order, as in spread_image.
    """
    rows, cols, layers = agg.shape
    w = mask.shape[0]
    extra = w // 2
    mcols, mcount = _mask_columns(mask)
    for band in range((rows + BAND - 1) // BAND):
        r0 = band * BAND
        r1 = min(r0 + BAND, rows)
        for sy in range(max(r0 - extra, 0), min(r1 + extra, rows)):
            i0 = max(r0 - sy + extra, 0)
            i1 = min(r1 - sy + extra, w)
            for sx in range(cols):
                inside = extra <= sx < cols - extra
                for c in range(layers):
                    el = agg[sy, sx, c]
                    if empty == EMPTY_NAN and np.isnan(el):
                        continue
                    if empty == EMPTY_ZERO and el == 0:
                        continue
                    for i in range(i0, i1):
                        oy = sy + i - extra
                        for n in range(mcount[i]):
                            ox = sx + mcols[i, n] - extra
                            if not (inside or 0 <= ox < cols):
                                continue
                            acc = out[oy, ox, c]
                            if empty == EMPTY_NAN and np.isnan(acc):
                                out[oy, ox, c] = el
                            elif empty == EMPTY_ZERO and acc == 0:
                                out[oy, ox, c] = el
                            else:
                                out[oy, ox, c] = _combine(op, el, acc)


@nb.njit(**_JIT)
def neighbour_hist(occupied, radius):
    """(occupied count, hist): hist[d] = occupied pixels whose nearest other occupied pixel is
    at Chebyshev distance d (1 <= d <= radius); hist[0] counts those with none that close."""
    rows, cols = occupied.shape
    per_row = np.zeros((rows, radius + 1), np.int64)
    for y in range(rows):
        for x in range(cols):
            if not occupied[y, x]:
                continue
            found = 0
            for r in range(1, radius + 1):
                y0, y1 = max(y - r, 0), min(y + r, rows - 1)
                x0, x1 = max(x - r, 0), min(x + r, cols - 1)
                for yy in (y - r, y + r):  # top and bottom edges of the ring
                    if 0 <= yy < rows:
                        for xx in range(x0, x1 + 1):
                            if occupied[yy, xx]:
                                found = r
                                break
                    if found:
                        break
                if not found:
                    for xx in (x - r, x + r):  # left and right edges, corners done
                        if 0 <= xx < cols:
                            for yy in range(max(y - r + 1, y0), min(y + r - 1, y1) + 1):
                                if occupied[yy, xx]:
                                    found = r
                                    break
                        if found:
                            break
                if found:
                    break
            per_row[y, found] += 1
    hist = per_row.sum(axis=0)
    return hist.sum(), hist

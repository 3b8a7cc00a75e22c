"""Numba CPU kernel compositing whole images pixel by pixel (``stack``, ``set_background``),
with the RGBA arithmetic of ``hostkernels.spread._blend`` (Datashader's formulas, operation for
operation), over rows in parallel."""
import numba as nb
import numpy as np

from .spread import _SCALED, SOURCE, _blend

_JIT = dict(nogil=True, cache=True)


@nb.njit(parallel=True, **_JIT)
def composite(src, dst, op, out):
    """out = src composited onto dst with operator ``op`` (``hostkernels.spread.IMAGE_OPS``); all
    flat uint32 arrays, except ``dst`` may hold a single pixel used for every one (a background)."""
    n = src.shape[0]
    one = dst.shape[0] == 1
    lut = _SCALED
    chunk = 4096
    for c in nb.prange((n + chunk - 1) // chunk):
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            d = dst[0] if one else dst[i]
            if op == SOURCE:   # _blend's SOURCE assumes an opaque-enough source
                out[i] = src[i] if src[i] >> 24 else d
            else:
                out[i] = _blend(op, src[i], d, lut)

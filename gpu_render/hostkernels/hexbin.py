"""The hexagon of each point, on all cores: data units -> pixel space (``axes.Viewport``'s map)
-> the nearest centre of ``hexgrid.HexLattice`` (``hexgrid.nearest``'s arithmetic, tie rule
included), written as cell coordinates (column + 0.5, row + 0.5), NaN for points outside the
canvas' ranges. Branch-free per row, so LLVM vectorises the linear-axis loop."""
import math

import numba as nb
import numpy as np

BLOCK = 1 << 16


@nb.njit(inline="always")
def _cell(x, y, vp, lat, xlog, ylog):
    sx, tx, sy, ty, x0, x1, y0, y1 = vp[0], vp[1], vp[2], vp[3], vp[4], vp[5], vp[6], vp[7]
    size, v, ox, oy, c0, r0 = lat[0], lat[1], lat[2], lat[3], lat[4], lat[5]
    ok = (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)
    fx = math.log10(x) if xlog else x
    fy = math.log10(y) if ylog else y
    X = (fx * sx + tx) - ox
    Y = (fy * sy + ty) - oy
    i1 = math.ceil(X / size - 0.5)
    r1 = 2 * math.ceil(Y / (2 * v) - 0.5)
    i2 = math.ceil((X - size / 2) / size - 0.5)
    r2 = 2 * math.ceil((Y - v) / (2 * v) - 0.5) + 1
    a = X - i1 * size
    b = Y - r1 * v
    c = X - (i2 * size + size / 2)
    d = Y - r2 * v
    d1 = a * a + b * b
    d2 = c * c + d * d
    odd = (d2 < d1) | ((d2 == d1) & (r2 < r1))
    col = (i2 if odd else i1) - c0 + 0.5
    row = (r2 if odd else r1) - r0 + 0.5
    return (col, row) if ok else (np.nan, np.nan)


@nb.njit(inline="always")
def _rows(xs, ys, vp, lat, xlog, ylog, out_c, out_r, b0, b1):
    for j in range(b0, b1):
        col, row = _cell(np.float64(xs[j]), np.float64(ys[j]), vp, lat, xlog, ylog)
        out_c[j] = col
        out_r[j] = row


@nb.njit(parallel=True, nogil=True, cache=True)
def hex_cells(xs, ys, vp, lat, xlog, ylog, out_c, out_r):
    """out_c[j], out_r[j] = the cell coordinates of point (xs[j], ys[j]); ``vp``: the canvas'
    ``Viewport.params``; ``lat``: ``HexLattice.params``."""
    n = xs.shape[0]
    for b in nb.prange((n + BLOCK - 1) // BLOCK):
        b0, b1 = b * BLOCK, min(n, (b + 1) * BLOCK)
        if xlog or ylog:
            _rows(xs, ys, vp, lat, xlog, ylog, out_c, out_r, b0, b1)
        else:
            _rows(xs, ys, vp, lat, False, False, out_c, out_r, b0, b1)

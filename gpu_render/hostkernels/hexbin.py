"""The hexagon of each point, on all cores: data units -> pixel space (``axes.Viewport``'s map)
-> the nearest centre of ``hexgrid.HexLattice`` (``hexgrid.nearest``'s arithmetic, tie rule
included), written as the cell's number + 0.5 (``HexLattice.cells``), NaN for points outside
the canvas' ranges. Branch-free per row, so LLVM vectorises the linear-axis loop."""
import math

import numba as nb
import numpy as np

BLOCK = 1 << 16


@nb.njit(inline="always")
def _cell(x, y, vp, lat, xlog, ylog):
    sx, tx, sy, ty, x0, x1, y0, y1 = vp[0], vp[1], vp[2], vp[3], vp[4], vp[5], vp[6], vp[7]
    size, v, ox, oy, c0, r0, inv, inv2v, ncols = lat[0], lat[1], lat[2], lat[3], lat[4], lat[5], lat[6], lat[7], lat[8]
    ok = (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)
    fx = math.log10(x) if xlog else x
    fy = math.log10(y) if ylog else y
    X = (fx * sx + tx) - ox
    Y = (fy * sy + ty) - oy
    half = size * 0.5
    i1 = np.ceil(X * inv - 0.5)            # the nearest even-row column, ties to the left
    a = X - i1 * size
    i1 = i1 - 1.0 if a <= -half else (i1 + 1.0 if a > half else i1)
    a = X - i1 * size
    left = a <= 0.0                        # the nearest odd-row column
    i2 = i1 - 1.0 if left else i1
    c = a + half if left else a - half
    r1 = 2.0 * np.ceil(Y * inv2v - 0.5)    # the nearest even row, and odd row
    b = Y - r1 * v
    up = b > 0.0
    r2 = r1 + 1.0 if up else r1 - 1.0
    d = b - v if up else b + v
    d1 = a * a + b * b
    d2 = c * c + d * d
    odd = (d2 < d1) | ((d2 == d1) & (r2 < r1))
    cell = ((r2 if odd else r1) - r0) * ncols + ((i2 if odd else i1) - c0) + 0.5
    return cell if ok else np.nan


@nb.njit(inline="always")
def _rows(xs, ys, vp, lat, xlog, ylog, out, b0, b1):
    for j in range(b0, b1):
        out[j] = _cell(np.float64(xs[j]), np.float64(ys[j]), vp, lat, xlog, ylog)


@nb.njit(parallel=True, nogil=True, cache=True)
def hex_cells(xs, ys, vp, lat, xlog, ylog, out):
    """out[j] = the cell of point (xs[j], ys[j]) + 0.5; ``vp``: the canvas' ``Viewport.params``;
    ``lat``: ``HexLattice.params``; float64 arithmetic, stored as ``out``'s dtype."""
    n = xs.shape[0]
    for b in nb.prange((n + BLOCK - 1) // BLOCK):
        b0, b1 = b * BLOCK, min(n, (b + 1) * BLOCK)
        if xlog or ylog:
            _rows(xs, ys, vp, lat, xlog, ylog, out, b0, b1)
        else:
            _rows(xs, ys, vp, lat, False, False, out, b0, b1)

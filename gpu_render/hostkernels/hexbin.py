"""The hexagon of each point, on all cores: ``hexgrid.cell_arithmetic`` (data units -> pixel
space -> the nearest centre, tie rule included) compiled for the host, written as the cell's
number + 0.5, NaN for points outside the canvas' ranges. Branch-free per row, so LLVM
vectorises the linear-axis loop."""
import numba as nb
import numpy as np

from ..hexgrid import cell_arithmetic

BLOCK = 1 << 16


@nb.njit(inline="always")
def _mul(a, b):
    return a * b


@nb.njit(inline="always")
def _add(a, b):
    return a + b


# numba's cache of ``hex_cells`` is keyed by this file: touch it when cell_arithmetic changes.
_cell = nb.njit(inline="always")(cell_arithmetic(_mul, _add, np.ceil))


@nb.njit(inline="always")
def _rows(xs, ys, vp, lat, xlog, ylog, out, b0, b1):
    for j in range(b0, b1):
        out[j] = _cell(np.float64(xs[j]), np.float64(ys[j]), vp, lat, xlog, ylog)


@nb.njit(parallel=True, nogil=True, cache=True)
def hex_cells(xs, ys, vp, lat, xlog, ylog, out):
    """out[j] = the cell of point (xs[j], ys[j]) + 0.5; ``vp``: the canvas' ``Viewport.params``
    (``hexgrid.PIXELS`` for points already in pixels); ``lat``: ``HexLattice.params``; float64
    arithmetic, stored as ``out``'s dtype."""
    n = xs.shape[0]
    for b in nb.prange((n + BLOCK - 1) // BLOCK):
        b0, b1 = b * BLOCK, min(n, (b + 1) * BLOCK)
        if xlog or ylog:
            _rows(xs, ys, vp, lat, xlog, ylog, out, b0, b1)
        else:
            _rows(xs, ys, vp, lat, False, False, out, b0, b1)

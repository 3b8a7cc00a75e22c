"""The lattice of ``Canvas.hexbin``: pointy-top hexagons ``size`` pixels wide tiling a canvas in
pixel space (pixels counted from the canvas' lower-left corner).

Centres lie at ``origin + (c * size + (r odd) * size / 2, r * v)``, ``v = size * sqrt(3) / 2``,
for global column ``c`` and row ``r``: the union of two rectangular lattices, even rows
(``2j``) and odd rows (``2j + 1``, shifted by ``size / 2``). A point's hexagon is the nearest
centre, found exactly as the nearer of its rounded candidates on the two lattices
(``cell_arithmetic``, the one copy both kernels compile).
Tie rule: a point equidistant from several centres goes to the one in the lowest row, then the
leftmost column (rounding halves down; on a tie between the lattices, the lower row).
The cells (``ncols`` x ``nrows``, from global column ``col0`` and row ``row0``) hold the nearest
centre of every point of ``[0, width] x [0, height]``; cell ``(c, r)`` is number
``r * ncols + c``, and the pipeline aggregates the numbers (+ 0.5) as one row of pixels.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .axes import Viewport
from .errors import RenderError

SQRT3_2 = math.sqrt(3) / 2
MIN_SIZE = 2
DEFAULT_SIZE = 12.0   # px: Canvas.hexbin's, the CLI's and the tile server's hexagon width


def cell_arithmetic(mul, add, ceil):
    """The scalar arithmetic of one point's cell, compiled by both kernels (``hostkernels.hexbin``
    with numba, ``gpu.kernels`` with numba-cuda): ``cell(x, y, vp, lat, xlog, ylog)`` is the
    number + 0.5 of the cell of data point (x, y), NaN outside the canvas' ranges; ``vp``:
    ``Viewport.params``, ``lat``: ``HexLattice.params``. ``mul``/``add``: a product and a sum,
    each rounded (the GPU's explicitly, so that no fused multiply-add changes a tie); ``ceil``:
    a float ceiling.

    Data -> pixels is the canvas' map (``x * sx + tx``). The even rows' nearest column is rounded
    from a product by ``1 / size`` and corrected by its remainder (ties exactly to the left); the
    odd rows' nearest column and row follow from the even ones'. (A point equidistant from two
    rows of one lattice lies on a row of the other, which is nearer: only the columns need the
    tie rule's exact rounding.) Branch-free, so the host loop vectorises."""
    def cell(x, y, vp, lat, xlog, ylog):
        size, v, ox, oy, c0, r0, inv, inv2v, ncols = (lat[0], lat[1], lat[2], lat[3], lat[4],
                                                      lat[5], lat[6], lat[7], lat[8])
        ok = (vp[4] <= x) & (x <= vp[5]) & (vp[6] <= y) & (y <= vp[7])
        if xlog:
            x = math.log10(x) if x > 0.0 else math.nan
        if ylog:
            y = math.log10(y) if y > 0.0 else math.nan
        X = add(add(mul(x, vp[0]), vp[1]), -ox)
        Y = add(add(mul(y, vp[2]), vp[3]), -oy)
        half = size * 0.5
        i1 = ceil(add(mul(X, inv), -0.5))           # the nearest even-row column, ties to the left
        a = add(X, -mul(i1, size))
        i1 = add(i1, -1.0) if a <= -half else (add(i1, 1.0) if a > half else i1)
        a = add(X, -mul(i1, size))
        left = a <= 0.0                             # the nearest odd-row column
        i2 = add(i1, -1.0) if left else i1
        c = add(a, half) if left else add(a, -half)
        r1 = 2.0 * ceil(add(mul(Y, inv2v), -0.5))   # the nearest even row, and odd row
        b = add(Y, -mul(r1, v))
        up = b > 0.0
        r2 = add(r1, 1.0) if up else add(r1, -1.0)
        d = add(b, -v) if up else add(b, v)
        d1 = add(mul(a, a), mul(b, b))
        d2 = add(mul(c, c), mul(d, d))
        odd = (d2 < d1) | ((d2 == d1) & (r2 < r1))
        col = add(i2 if odd else i1, -c0)
        row = add(r2 if odd else r1, -r0)
        return add(add(mul(row, ncols), col), 0.5) if ok else math.nan
    return cell


PIXELS = np.array([1.0, 0.0, 1.0, 0.0, -np.inf, np.inf, -np.inf, np.inf])
"""``Viewport.params`` of the identity map: the points given are already in pixels."""


def check_size(size, width, height):
    """``size`` as a float, or the one RenderError saying why it cannot be a hexagon's width."""
    if isinstance(size, bool) or not isinstance(size, numbers.Real) or not math.isfinite(size) or size <= 0:
        raise RenderError(f"size must be a positive number of pixels (a hexagon's width), got {size!r}.")
    if size < MIN_SIZE:
        raise RenderError(f"size={size} is under the {MIN_SIZE}-pixel minimum width of a hexagon.")
    if size > min(width, height):
        raise RenderError(f"size={size} is larger than the {width}x{height} canvas; a hexagon must "
                          "fit in it.")
    return float(size)


@dataclass(frozen=True)
class HexLattice:
    """The hexagons over a ``width`` x ``height`` canvas; ``origin``: the pixel position of the
    centre of global cell (0, 0) (tiles anchor it to the world so hexagons join across tiles)."""

    width: int
    height: int
    size: float
    origin: tuple = (0.0, 0.0)

    def __post_init__(self):
        object.__setattr__(self, "size", check_size(self.size, self.width, self.height))
        try:
            ox, oy = (float(o) for o in self.origin)
        except (TypeError, ValueError):
            ox = oy = math.nan
        if not (math.isfinite(ox) and math.isfinite(oy)):
            raise RenderError(f"origin must be a pair of finite pixel offsets (x, y), got {self.origin!r}.")
        object.__setattr__(self, "origin", (ox, oy))

    @property
    def v(self) -> float:
        """Distance between rows of centres."""
        return self.size * SQRT3_2

    # A hexagon reaches size / 2 across and size / sqrt(3) up from its centre: the cells are the
    # centres within that of [0, width] x [0, height] (1e-9 of a pixel spare against rounding).
    @property
    def col0(self) -> int:
        return math.ceil((-self.origin[0] - self.size) / self.size - 1e-9)

    @property
    def row0(self) -> int:
        return math.ceil((-self.origin[1] - self.size / math.sqrt(3)) / self.v - 1e-9)

    @property
    def ncols(self) -> int:
        return math.floor((self.width - self.origin[0] + self.size / 2) / self.size + 1e-9) - self.col0 + 1

    @property
    def nrows(self) -> int:
        return math.floor((self.height - self.origin[1] + self.size / math.sqrt(3)) / self.v + 1e-9) - self.row0 + 1

    @property
    def params(self) -> np.ndarray:
        """float64 [size, v, origin x, origin y, col0, row0, 1 / size, 1 / (2 v), ncols], what the
        binning kernels take."""
        return np.array([self.size, self.v, *self.origin, self.col0, self.row0, 1 / self.size,
                         1 / (2 * self.v), self.ncols], dtype=np.float64)

    @property
    def dtype(self):
        """Of the cell numbers + 0.5: float32 while exact (halves the traffic), else float64."""
        return np.dtype(np.float32 if self.ncols * self.nrows < 2**23 else np.float64)

    @property
    def viewport(self) -> Viewport:
        """The cells as one row of pixels: a point whose x and y are both its cell number + 0.5 falls
        in pixel (cell number, 0)."""
        n = float(self.ncols * self.nrows)
        return Viewport(self.ncols * self.nrows, 1, (0.0, n), (0.0, n))

    def centres(self):
        """(x, y) pixel positions of every cell's centre, each (nrows, ncols)."""
        r = np.arange(self.nrows, dtype=np.float64)[:, None] + self.row0
        c = np.arange(self.ncols, dtype=np.float64)[None, :] + self.col0
        x = c * self.size + (r % 2) * (self.size / 2) + self.origin[0]
        return x, np.broadcast_to(r * self.v + self.origin[1], x.shape)

"""The lattice of ``Canvas.hexbin``: pointy-top hexagons ``size`` pixels wide tiling a canvas in
pixel space (pixels counted from the canvas' lower-left corner).

Centres lie at ``origin + (c * size + (r odd) * size / 2, r * v)``, ``v = size * sqrt(3) / 2``,
for global column ``c`` and row ``r``: the union of two rectangular lattices, even rows
(``2j``) and odd rows (``2j + 1``, shifted by ``size / 2``). A point's hexagon is the nearest
centre, found exactly as the nearer of its rounded candidates on the two lattices (``nearest``).
Tie rule: a point equidistant from several centres goes to the one in the lowest row, then the
leftmost column (rounding halves down; on a tie between the lattices, the lower row).
The cells (``ncols`` x ``nrows``, from global column ``col0`` and row ``row0``) hold the nearest
centre of every point of ``[0, width] x [0, height]``; cell ``(c, r)`` is number
``r * ncols + c``, and the pipeline aggregates the numbers (+ 0.5) as one row of pixels.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from .axes import Viewport
from .errors import RenderError

SQRT3_2 = math.sqrt(3) / 2
MIN_SIZE = 2


def nearest(xp, X, Y, size, v):
    """Global (column, row) of the centre nearest to ``(X, Y)`` (pixels from the origin, float64
    arrays): array code for numpy or CuPy, the arithmetic of ``hostkernels.hexbin``. The even
    rows' nearest column is rounded from a product by ``1 / size`` and corrected by its
    remainder (ties exactly to the left); the odd rows' nearest column and row follow from the
    even ones'. (A point equidistant from two rows of one lattice lies on a row of the other,
    which is nearer: only the columns need the tie rule's exact rounding.)"""
    half = size * 0.5
    i1 = xp.ceil(X * (1 / size) - 0.5)
    a = X - i1 * size
    i1 = xp.where(a <= -half, i1 - 1, xp.where(a > half, i1 + 1, i1))
    a = X - i1 * size
    left = a <= 0
    i2 = xp.where(left, i1 - 1, i1)
    c = xp.where(left, a + half, a - half)
    r1 = 2 * xp.ceil(Y * (1 / (2 * v)) - 0.5)
    b = Y - r1 * v
    up = b > 0
    r2 = xp.where(up, r1 + 1, r1 - 1)
    d = xp.where(up, b - v, b + v)
    d1, d2 = a * a + b * b, c * c + d * d
    odd = (d2 < d1) | ((d2 == d1) & (r2 < r1))
    return xp.where(odd, i2, i1), xp.where(odd, r2, r1)


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
        """The cells as one row of pixels: a point whose x and y are both ``cells``' value falls
        in pixel (cell number, 0)."""
        n = float(self.ncols * self.nrows)
        return Viewport(self.ncols * self.nrows, 1, (0.0, n), (0.0, n))

    def cells(self, xp, px, py):
        """The number + 0.5 of the cell of each pixel-space point (float64, NaN where ``px`` or
        ``py`` is NaN)."""
        col, row = nearest(xp, px - self.origin[0], py - self.origin[1], self.size, self.v)
        return (row - self.row0) * self.ncols + (col - self.col0) + 0.5

    def centres(self):
        """(x, y) pixel positions of every cell's centre, each (nrows, ncols)."""
        r = np.arange(self.nrows, dtype=np.float64)[:, None] + self.row0
        c = np.arange(self.ncols, dtype=np.float64)[None, :] + self.col0
        x = c * self.size + (r % 2) * (self.size / 2) + self.origin[0]
        return x, np.broadcast_to(r * self.v + self.origin[1], x.shape)

    def pixel_cells(self) -> np.ndarray:
        """The flat cell index (row * ncols + col) of every pixel's centre, (height, width) int64
        (host; cached per lattice)."""
        return _pixel_cells(self)


@functools.lru_cache(maxsize=16)
def _pixel_cells(lat: HexLattice) -> np.ndarray:
    px, py = np.meshgrid(np.arange(lat.width) + 0.5, np.arange(lat.height) + 0.5)
    out = np.floor(lat.cells(np, px, py)).astype(np.int64)
    out.setflags(write=False)
    return out

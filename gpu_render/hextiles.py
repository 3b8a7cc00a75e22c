"""Hexagon tiles: at each zoom one lattice of ``size``-pixel hexagons anchored to the world (world
pixel (0, 0), counted from the south-west corner of the Web Mercator square, is the centre of
hexagon (0, 0)), so hexagons join across tiles. Shared by the pyramid writer (``tiles``) and the
tile server (``hexindex``).

``hex_block`` aggregates a block of tiles with ``Canvas.hexbin`` over the block and a margin
``margin(size)`` wider than a hexagon's reach, so every hexagon the block shows is aggregated over
all of its points; a hexagon cut by a tile or block edge has one value on both sides. Each
hexagon is *owned* by the tile holding its centre (clamped into the world): a level's colour
scale counts each occupied hexagon once, from the block that owns it (the hexagon values of the
level, as ``tf.shade`` of a hexagonal aggregate counts cells, not pixels).

``world_cells`` numbers the hexagon of every point on the whole world's lattice at a zoom
(``world_lattice``; float64 numbers, exact to zoom 18 for any size >= 2), which the server sorts
into sparse hexagon levels; ``tile_cells`` gives the hexagon of each pixel of a tile on it.
Pixel centres are half-integers in every lattice, so a pixel gets the same hexagon whichever
block or lattice draws it; a point's hexagon is computed in each canvas' own float64 mapping,
so a point within rounding (~1e-9 px) of a hexagon's edge could fall on either side.
"""
from __future__ import annotations

import math

import numpy as np

from .axes import Viewport
from .hexgrid import HexLattice
from .tilemath import TILE, WORLD, tile_bounds


def margin(size) -> int:
    """Pixels aggregated around a block: more than a hexagon's circumdiameter (1.155 size)."""
    return math.ceil(1.2 * size)


def ring(size) -> int:
    """Tiles around a tile that may hold points of the hexagons it shows (and of their centres)."""
    return max(1, math.ceil(margin(size) / TILE))


def _owned(lattice: HexLattice, z, block):
    """Mask (nrows, ncols) of a block lattice's cells whose centre's tile is in ``block``."""
    bx0, bx1, by0, by1 = block
    n = 1 << z
    r = np.arange(lattice.nrows, dtype=np.float64)[:, None] + lattice.row0
    c = np.arange(lattice.ncols, dtype=np.float64)[None, :] + lattice.col0
    cx = c * lattice.size + (r % 2) * (lattice.size / 2)      # world pixels, as every block computes
    cy = r * lattice.v
    tx = np.clip(np.floor(cx / TILE), 0, n - 1)
    ty = n - 1 - np.clip(np.floor(cy / TILE), 0, n - 1)
    return (bx0 <= tx) & (tx <= bx1) & (by0 <= ty) & (ty <= by1)


def hex_block(source, x, y, agg, z, block, size, backend="auto"):
    """(per-pixel values of block ``(x0, x1, y0, y1)`` of zoom-``z`` tiles, rows south-up, as an
    xarray shaped like a points block; the values of the occupied hexagons the block owns)."""
    import xarray as xr

    from .canvas import Canvas
    from .hexbin import draw, hex_grids, prepare_hexbin
    from .pipeline import run
    from .xp import to_host

    bx0, bx1, by0, by1 = block
    m = margin(size)
    px = 2 * WORLD / (TILE << z)               # metres per pixel
    xa, _, _, ya1 = tile_bounds(z, bx0, by0)
    _, ya, xa1, _ = tile_bounds(z, bx1, by1)
    w, h = (bx1 - bx0 + 1) * TILE, (by1 - by0 + 1) * TILE
    origin = (m - bx0 * TILE, m - ((1 << z) - 1 - by1) * TILE)   # world pixel (0, 0) in the canvas
    cvs = Canvas(w + 2 * m, h + 2 * m, (xa - m * px, xa1 + m * px), (ya - m * px, ya1 + m * px))
    hjob, lattice, box = prepare_hexbin(cvs, source, x, y, agg, size, origin, backend=backend,
                                        float32=False)
    grid = hex_grids(run(hjob, arrays=True), lattice, box["vp"], x, y)[None]
    cells = np.asarray(to_host(grid.data))
    pixels = draw(cells, grid.attrs)[m:m + h, m:m + w]
    owned = cells[_owned(lattice, z, block)]
    owned = owned[~np.isnan(owned)] if owned.dtype.kind == "f" else owned[owned != 0]
    vp = Viewport(w, h, (xa, xa1), (ya, ya1))
    return xr.DataArray(pixels, dims=(y, x), coords={y: vp.y_coords, x: vp.x_coords}), owned


def world_lattice(z, size) -> HexLattice:
    """The hexagons over the whole world at zoom ``z`` (its ``256 * 2^z`` pixels per side)."""
    return HexLattice(TILE << z, TILE << z, size)


def world_cells(xs, ys, z, size) -> np.ndarray:
    """The ``world_lattice`` cell number + 0.5 (float64; NaN outside the world) of each point
    (Web Mercator metres), on all cores."""
    from .hostkernels.hexbin import hex_cells
    vp = Viewport(TILE << z, TILE << z, (-WORLD, WORLD), (-WORLD, WORLD))
    out = np.empty(len(xs), np.float64)
    hex_cells(np.ascontiguousarray(xs), np.ascontiguousarray(ys), vp.params,
              world_lattice(z, size).params, False, False, out)
    return out


def tile_cells(z, tx, ty, size) -> np.ndarray:
    """The ``world_lattice`` cell number of each pixel of tile (z, tx, ty), (256, 256) int64,
    rows south-up (the pixel centres' hexagons, as ``hexbin.draw`` finds them)."""
    from .hexbin import centre_cells
    return centre_cells(world_lattice(z, size), tx * TILE, ((1 << z) - 1 - ty) * TILE, TILE, TILE)

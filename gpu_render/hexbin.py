"""``Canvas.hexbin``: points aggregated per hexagon of a ``hexgrid.HexLattice`` over the canvas.

The pipeline runs unchanged on a ``hextable.HexTable`` (the cell of each point as one more
column) and the lattice's one-row viewport (``prepare``'s ``rebin``), so every reduction,
source kind and backend works as for ``Canvas.points``; ``hex_grids`` reshapes its grids."""
from __future__ import annotations

import functools

import numpy as np

from .hexgrid import DEFAULT_SIZE, PIXELS, HexLattice
from .hextable import HexTable

ROW, COL = "hex_row", "hex_col"   # the result's dims (its 2-D coords carry the x/y names)


def prepare_hexbin(canvas, source, x, y, agg, size=DEFAULT_SIZE, origin=(0.0, 0.0), **options):
    """(job, lattice, box) for ``Canvas.hexbin``; ``box``: {'vp': the canvas' data viewport},
    filled in by ``prepare`` once the ranges are known."""
    from .pipeline import prepare
    lattice = HexLattice(canvas.plot_width, canvas.plot_height, size, origin)
    box = {}

    def rebin(table, vp):
        box["vp"] = vp
        t = HexTable(table, x, y, vp, lattice)
        return t, lattice.viewport, t.cell, t.cell

    return prepare(canvas, source, x, y, agg, rebin=rebin, **options), lattice, box


def hex_attrs(lattice: HexLattice, vp, x: str, y: str) -> dict:
    """What describes a hexagonal aggregate (and lets ``tf.shade`` draw it)."""
    return {"glyph": "hex", "x_column": x, "y_column": y, "hex_size": lattice.size, "orientation": "pointy",
            "origin": lattice.origin, "hex_col0": lattice.col0, "hex_row0": lattice.row0,
            "x_range": tuple(vp.x_range), "y_range": tuple(vp.y_range),
            "x_axis_type": "log" if vp.x_log else "linear",
            "y_axis_type": "log" if vp.y_log else "linear",
            "plot_width": lattice.width, "plot_height": lattice.height}


def hex_grids(grids: dict, lattice: HexLattice, vp, x: str, y: str) -> dict:
    """The lattice's grids as hexagonal ones: dims (hex_row, hex_col, ...), 2-D coords ``x``,
    ``y`` (every centre in data units), ``hex_attrs``."""
    px, py = lattice.centres()
    centres = {x: ((ROW, COL), vp.to_data(px, "x")), y: ((ROW, COL), vp.to_data(py, "y"))}
    for g in grids.values():
        g.data = g.data.reshape(lattice.nrows, lattice.ncols, *g.data.shape[2:])
        cell = g.dims[0]
        g.dims = [ROW, COL, *g.dims[2:]]
        g.coords = {**centres, **{k: v for k, v in g.coords.items() if k != cell}}
        g.attrs = {**hex_attrs(lattice, vp, x, y), **{k: v for k, v in g.attrs.items() if k == "notes"}}
    return grids


def lattice_of(attrs: dict) -> HexLattice:
    """The lattice a hexagonal aggregate's attrs (``hex_attrs``) describe."""
    return HexLattice(attrs["plot_width"], attrs["plot_height"], attrs["hex_size"], attrs["origin"])


def draw(cells, attrs: dict):
    """Colours (or values) of every hexagon, (hex rows, hex cols), as the canvas' (height,
    width) pixels: each pixel takes those of the hexagon nearest its centre."""
    from .xp import get_xp
    return cells.reshape(-1)[get_xp(cells).asarray(pixel_cells(lattice_of(attrs)))]


def centre_cells(lattice: HexLattice, x0, y0, width, height) -> np.ndarray:
    """The cell number (row * ncols + col) of the centre of each pixel of the ``width`` x
    ``height`` block from pixel (``x0``, ``y0``) of ``lattice``'s pixel space, (height, width)
    int64, rows bottom-up (by the host kernel, tie rule included)."""
    from .hostkernels.hexbin import hex_cells
    px, py = np.meshgrid(np.arange(width) + (x0 + 0.5), np.arange(height) + (y0 + 0.5))
    out = np.empty(px.size)
    hex_cells(px.ravel(), py.ravel(), PIXELS, lattice.params, False, False, out)
    return np.floor(out).astype(np.int64).reshape(px.shape)


@functools.lru_cache(maxsize=16)
def pixel_cells(lattice: HexLattice) -> np.ndarray:
    """``centre_cells`` of the whole canvas (host, read-only; cached per lattice)."""
    out = centre_cells(lattice, 0, 0, lattice.width, lattice.height)
    out.setflags(write=False)
    return out


def pixel_coords(attrs: dict) -> dict:
    """{x column: pixel-centre x coords, y column: ...} of a hexagonal aggregate's canvas."""
    from .axes import Viewport
    vp = Viewport(attrs["plot_width"], attrs["plot_height"], attrs["x_range"], attrs["y_range"],
                  attrs["x_axis_type"] == "log", attrs["y_axis_type"] == "log")
    return {attrs["x_column"]: vp.x_coords, attrs["y_column"]: vp.y_coords}


def hexbin(canvas, source, x, y, agg=None, size=DEFAULT_SIZE, origin=(0.0, 0.0), **options):
    """The ``xarray`` result of ``Canvas.hexbin``."""
    from .pipeline import run, to_xarray
    job, lattice, box = prepare_hexbin(canvas, source, x, y, agg, size, origin, **options)
    grids = run(job, arrays=True)
    return to_xarray(hex_grids(grids, lattice, box["vp"], x, y), job.is_summary)

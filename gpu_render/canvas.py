"""``Canvas``: datashader's point-rendering entry point, run on a chosen backend."""
from __future__ import annotations

import math

import numpy as np

from . import backend as B
from . import planes as P
from .axes import AXIS_TYPES, Viewport, expand_bounds, validate_range
from .errors import RenderError
from .plan import make_plan, required_bytes
from .reductions import Reduction, count, summary
from .sources import open_table

MAX_SIDE = 1 << 16


def _check_size(name, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise RenderError(f"{name} must be an integer number of pixels, got {n!r}.")
    if n <= 0:
        raise RenderError(f"{name} must be positive, got {n}.")
    if n > MAX_SIDE:
        raise RenderError(f"{name}={n} is larger than the {MAX_SIDE}-pixel limit per side.")
    return int(n)


class Canvas:
    """A grid of pixels over data ranges, with datashader's arguments and defaults."""

    def __init__(self, plot_width=600, plot_height=600, x_range=None, y_range=None,
                 x_axis_type="linear", y_axis_type="linear"):
        self.plot_width = _check_size("plot_width", plot_width)
        self.plot_height = _check_size("plot_height", plot_height)
        for name, t in (("x_axis_type", x_axis_type), ("y_axis_type", y_axis_type)):
            if t not in AXIS_TYPES:
                raise RenderError(f"{name} must be 'linear' or 'log', got {t!r}.")
        self.x_axis_type, self.y_axis_type = x_axis_type, y_axis_type
        self.x_range = None if x_range is None else tuple(validate_range("x_range", x_range, x_axis_type))
        self.y_range = None if y_range is None else tuple(validate_range("y_range", y_range, y_axis_type))

    def points(self, source, x=None, y=None, agg=None, *, backend="auto"):
        """Aggregate points into an ``xarray.DataArray`` (or ``Dataset`` for a ``summary``)."""
        result, _ = aggregate(self, source, x, y, agg, backend=backend)
        return result


def _named(agg):
    if agg is None:
        return {None: count()}, False
    if isinstance(agg, summary):
        return dict(agg.reductions), True
    if isinstance(agg, Reduction):
        return {None: agg}, False
    raise RenderError(f"agg must be a reduction such as count() or mean('value'), got {agg!r}.")


def _range(canvas, backend, table, col, given, log):
    if given is not None:
        return given
    arr = table.numeric(col)
    if log:
        arr = np.where(arr > 0, arr, np.nan)
    lo, hi = backend.bounds(arr) if hasattr(backend, "bounds") else (np.nanmin(arr), np.nanmax(arr))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RenderError(f"column {col!r} has no finite values, so no range can be computed from it; "
                          "check the data or pass the range explicitly.")
    return expand_bounds(float(lo), float(hi))


def _check_memory(plan, backend):
    need = required_bytes(plan, backend.parts)
    have = backend.free_bytes()
    if need > 0.8 * have:
        vp = plan.viewport
        raise RenderError(f"a {vp.width}x{vp.height} canvas would need {need / 2**30:.1f} GiB of "
                          f"partial grids on the {backend.name.upper()}, more than the "
                          f"{have / 2**30:.1f} GiB available; use a smaller canvas.")


def aggregate(canvas: Canvas, source, x, y, agg, *, backend="auto"):
    """Run the whole pipeline; returns (result, details) with details used by render/profile."""
    if not isinstance(x, str) or not isinstance(y, str):
        raise RenderError(f"x and y must be column names, got x={x!r}, y={y!r}.")
    named, is_summary = _named(agg)
    be = B.select(backend)
    cols = [x, y] + [c for r in named.values() for c in r.columns()]
    table = open_table(source, list(dict.fromkeys(cols)))
    if len(table) == 0:
        raise RenderError(f"the {table.kind} has no rows.")
    cat_cols = list(dict.fromkeys(r.cat_column for r in named.values() if r.cat_column))
    categories = {c: table.categorical(c)[1] for c in cat_cols}
    for c, labels in categories.items():
        if not labels:
            raise RenderError(f"category column {c!r} has no non-null values.")

    vp = Viewport(canvas.plot_width, canvas.plot_height,
                  _range(canvas, be, table, x, canvas.x_range, canvas.x_axis_type == "log"),
                  _range(canvas, be, table, y, canvas.y_range, canvas.y_axis_type == "log"),
                  canvas.x_axis_type == "log", canvas.y_axis_type == "log")
    plan = make_plan(vp, x, y, named, categories)
    _check_memory(plan, be)

    partial = be.new_partial(plan)
    numeric = list(dict.fromkeys([x, y, *plan.value_columns()]))
    for row0, chunk in table.chunks(numeric, cat_cols):
        be.aggregate(plan, partial, {k: be.to_device(v) for k, v in chunk.items()}, row0)
    return finalize(plan, partial, be, is_summary), {"plan": plan, "backend": be, "rows": len(table)}


def finalize(plan, partial, be, is_summary=False):
    """Collapse partial planes and build datashader-shaped xarray outputs."""
    import xarray as xr

    xp = be.xp
    merged = [{k: v[:plan.group_size(g)] for k, v in P.collapse(g.kind, planes, xp).items()}
              for g, planes in zip(plan.groups, partial)]
    vp = plan.viewport
    coords = {plan.y: vp.y_coords, plan.x: vp.x_coords}
    attrs = {"x_range": vp.x_range, "y_range": vp.y_range, "backend": be.name}
    arrays = {}
    for name, red, gi in plan.outputs:
        g = plan.groups[gi]
        data = red.finalize(merged[gi], xp).astype(red.dtype, copy=False)
        dims = [plan.y, plan.x]
        shape = (vp.height, vp.width)
        c = dict(coords)
        if g.cat is not None:
            dims.append(g.cat)
            shape += (g.ncat,)
            c[g.cat] = plan.categories[g.cat]
        arrays[name] = xr.DataArray(data.reshape(shape), coords=c, dims=dims, attrs=dict(attrs), name=name)
    if is_summary:
        ds = xr.Dataset(arrays)
        ds.attrs.update(attrs)
        return ds
    return arrays[None]

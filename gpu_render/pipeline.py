"""The aggregation pipeline: prepare a job (source, ranges, plan), run it chunk by chunk, finalize.

``prepare`` does everything that needs no pass over the aggregation itself; ``run`` feeds chunks
to the backend; ``finalize`` collapses partial planes into datashader-shaped xarray outputs.
Streaming, out-of-core and Dask paths reuse these pieces with their own chunk sources.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field


from . import backend as B
from .axes import Viewport, expand_bounds
from .errors import RenderError
from .plan import AggPlan, make_plan, required_bytes
from .reductions import Reduction, count, summary
from .sources import Table, open_table


@dataclass
class Job:
    plan: AggPlan
    table: Table
    backend: object
    is_summary: bool
    numeric: list          # columns read as numbers: x, y, values
    categorical: list      # category columns, read as codes
    notes: list = field(default_factory=list)   # what was decided for the user (e.g. ranges)


def _named(agg):
    if agg is None:
        return {None: count()}, False
    if isinstance(agg, summary):
        return dict(agg.reductions), True
    if isinstance(agg, Reduction):
        return {None: agg}, False
    raise RenderError(f"agg must be a reduction such as count() or mean('value'), got {agg!r}.")


def _ranges(canvas, be, table, x, y):
    """The x and y ranges: given ones kept, missing ones from the data's finite values (one pass)."""
    given = {x: canvas.x_range, y: canvas.y_range}
    logs = {x: canvas.x_axis_type == "log", y: canvas.y_axis_type == "log"}
    wanted = {c: logs[c] for c in (x, y) if given[c] is None}
    found = table.finite_ranges(wanted, be) if wanted else {}
    out = []
    for col in (x, y):
        if given[col] is not None:
            out.append(given[col])
            continue
        lo, hi = found[col]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise RenderError(f"column {col!r} has no finite values, so no range can be computed from it; "
                              "check the data or pass the range explicitly.")
        out.append(expand_bounds(float(lo), float(hi)))
    return out


def _check_memory(plan, backend):
    need = required_bytes(plan, backend.parts)
    have = backend.free_bytes()
    if need > 0.8 * have:
        vp = plan.viewport
        raise RenderError(f"a {vp.width}x{vp.height} canvas would need {need / 2**30:.1f} GiB of "
                          f"partial grids on the {backend.name.upper()}, more than the "
                          f"{have / 2**30:.1f} GiB available; use a smaller canvas.")


def prepare(canvas, source, x, y, agg, *, backend="auto", wrap_table=None, scheduler=None) -> Job:
    """Validate everything and build the plan; reads data only to compute missing ranges.

    ``scheduler``: a dask Client, scheduler address or scheduler name for dask DataFrames and
    file datasets (see ``distributed``); dask DataFrames default to dask's active scheduler.
    """
    if not isinstance(x, str) or not isinstance(y, str):
        raise RenderError(f"x and y must be column names, got x={x!r}, y={y!r}.")
    named, is_summary = _named(agg)
    if backend not in ("auto", "cpu", "gpu"):
        raise RenderError(f"unknown backend {backend!r}; use 'auto', 'cpu' or 'gpu'.")
    cols = [x, y] + [c for r in named.values() for c in r.columns()]
    # a local render reads files with the backend's own reader (cuDF on the GPU) where it has one
    local_file = scheduler is None and isinstance(source, (str, os.PathLike))
    reader = getattr(B.select(backend), "read_file", None) if local_file else None
    table = open_table(source, list(dict.fromkeys(cols)), reader, scheduler=scheduler)
    if wrap_table is not None:
        table = wrap_table(table)
    be = table.backend(backend)
    if table.is_empty():
        raise RenderError(f"the {table.kind} has no rows.")
    cat_cols = list(dict.fromkeys(r.cat_column for r in named.values() if r.cat_column))
    categories = {c: table.labels(c) for c in cat_cols}
    for c, labels in categories.items():
        if not labels:
            raise RenderError(f"category column {c!r} has no non-null values.")

    x_range, y_range = _ranges(canvas, be, table, x, y)
    vp = Viewport(canvas.plot_width, canvas.plot_height, x_range, y_range,
                  canvas.x_axis_type == "log", canvas.y_axis_type == "log")
    plan = make_plan(vp, x, y, named, categories)
    _check_memory(plan, be)

    numeric = list(dict.fromkeys([x, y, *plan.value_columns()]))
    return Job(plan, table, be, is_summary, numeric, cat_cols)


def accumulate(job: Job, partial=None, chunks=None):
    """Aggregate ``chunks`` ((row0, {name: host array}) pairs; default: the job's table) into a partial."""
    if job.table.remote and partial is None and chunks is None:
        return job.table.accumulate(job)   # aggregated where the rows live (e.g. Dask workers)
    be, plan = job.backend, job.plan
    partial = be.new_partial(plan) if partial is None else partial
    chunks = job.table.chunks(job.numeric, job.categorical) if chunks is None else chunks
    for row0, chunk in chunks:
        be.aggregate(plan, partial, {k: be.to_device(v) for k, v in chunk.items()}, row0)
    return partial


def run(job: Job):
    """Aggregate the job's whole table and return the xarray result."""
    return finalize(job.plan, accumulate(job), job.backend, job.is_summary)


def finalize(plan, partial, be, is_summary=False):
    """Collapse partial planes and build datashader-shaped xarray outputs."""
    import xarray as xr

    flat = be.finalize(plan, partial)
    vp = plan.viewport
    coords = {plan.y: vp.y_coords, plan.x: vp.x_coords}
    attrs = {"x_range": vp.x_range, "y_range": vp.y_range, "backend": be.name}
    arrays = {}
    for name, red, gi in plan.outputs:
        g = plan.groups[gi]
        data = flat[name]
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

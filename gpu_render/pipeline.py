"""The aggregation pipeline: prepare a job (source, ranges, plan), run it chunk by chunk, finalize.

``prepare`` does everything that needs no pass over the aggregation itself; ``accumulate`` is
the one loop that feeds a table's chunks to a backend (new partial, stage, aggregate) and
``finalize`` the one way partial planes become datashader-shaped outputs. Every path that
aggregates goes through them: ``Canvas.points`` and ``render`` (``run``), tiles (a job per block
of tiles), the tile index and the server (``job_for`` over rows they hold), streaming (a job per
batch), Dask (the loop runs on each worker, ``aggregate_piece``) and profiles.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np


from . import backend as B
from . import memory as M
from . import planes as P
from . import progress
from .axes import Viewport, expand_bounds
from .categorizers import Categorizer, category_name
from .arrowcols import narrow
from .errors import RenderError
from .memory import fmt_bytes
from .plan import AggPlan, make_plan, required_bytes
from .prefetch import prefetch
from .reductions import Reduction, coerce, count, summary
from .sources import open_table
from .stages import NO_PROFILE
from .table import Table


@dataclass
class Job:
    plan: AggPlan
    table: Table
    backend: object        # the Backend that aggregates (a remote table's: that finalizes)
    is_summary: bool = False
    numeric: list = field(default_factory=list)      # columns read as numbers: x, y, values
    categorical: list = field(default_factory=list)  # category columns, read as codes
    notes: list = field(default_factory=list)   # what was decided for the user (e.g. ranges)
    budget: int = 0        # memory budget in bytes (chunks in flight + partial grids)
    chunk_rows: int | None = None   # rows per chunk for streaming tables (None: one chunk)
    float32: tuple = ()    # float64 coordinate columns aggregated as float32
    progress: object = None         # True / False / None (on a terminal)
    profile: object = NO_PROFILE
    rows: int = 0          # rows aggregated so far
    row0: int = 0          # the number of the table's first row (first/last across batches)
    requested: str = "auto"         # the backend asked for (what a remote table's workers select)
    backend_name: str | None = None  # who aggregated, when not ``backend`` (Dask workers)


def job_for(plan: AggPlan, table: Table, backend, row0: int = 0) -> Job:
    """A job aggregating all rows of ``table`` (already opened and checked) into ``plan``."""
    numeric = list(dict.fromkeys([plan.x, plan.y, *plan.value_columns()]))
    return Job(plan, table, backend, numeric=numeric, categorical=list(plan.categories), row0=row0)


def aggregate_piece(plan: AggPlan, backend, columns: dict, row0: int):
    """The partial for ``plan`` on ``backend`` of one piece of rows already read (``columns``:
    numbers and category codes, numbered from ``row0``): what a remote table runs where each
    piece of its rows lives."""
    from .frames import DictTable
    return accumulate(job_for(plan, DictTable(columns), backend), chunks=[(row0, columns)])


def _named(agg):
    agg = coerce(agg)
    if agg is None:
        return {None: count()}, False
    if isinstance(agg, summary):
        return dict(agg.reductions), True
    if isinstance(agg, Reduction):
        return {None: agg}, False
    raise RenderError(f"agg must be a reduction such as count() or mean('value'), got {agg!r}.")


def _ranges(canvas, be, table, x, y, notes):
    """x_range, y_range: given, or computed (from statistics or a pass) and expanded."""
    given = {x: canvas.x_range, y: canvas.y_range}
    logs = {x: canvas.x_axis_type == "log", y: canvas.y_axis_type == "log"}
    axes = {c: logs[c] for c in (x, y) if given[c] is None}
    if not axes:
        return given[x], given[y]
    found, how = table.ranges(axes, be)
    for col, (lo, hi) in found.items():
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise RenderError(f"column {col!r} has no finite values, so no range can be computed from "
                              "it; check the data or pass the range explicitly.")
        given[col] = expand_bounds(float(lo), float(hi))
    if table.streaming:   # (in-memory results keep datashader's attrs)
        names = " and ".join(f"{'x' if c == x else 'y'}_range" for c in axes)
        notes.append(f"{names} taken from {how}")
    return given[x], given[y]


def _float32_columns(vp, table, x, y, notes):
    """float64 x/y columns of a file whose float32 rounding stays under 1/16 pixel at ``vp``."""
    out = []
    for col, (lo, hi), n, log in ((x, vp.x_range, vp.width, vp.x_log), (y, vp.y_range, vp.height, vp.y_log)):
        if log or col in out or table.dtype(col) != np.float64:
            continue
        ulp = float(np.spacing(np.float32(max(abs(lo), abs(hi)))))
        if ulp <= (hi - lo) / n / 16:
            out.append(col)
    if out:
        notes.append(f"float64 column(s) {', '.join(out)} aggregated as float32 (rounding under "
                     "1/16 pixel at this canvas; float32=False / --no-float32 keeps float64)")
    return tuple(out)


def _widen32(r):
    lo, hi = r
    return min(lo, float(np.float32(lo))), max(hi, float(np.float32(hi)))


def _check_memory(plan, table, backend, budget, given, shade=False):
    """Refuse a canvas that does not fit. Against free memory: the partials of every part, two
    more grids of one part for merging and finalizing, and with ``shade`` what shading and PNG
    encoding take (``memory.SHADE_BYTES_PER_PIXEL``). Against ``memory_limit`` (a budget for
    chunks and grids while streaming): the grids. Returns the partials' bytes."""
    have, parts = table.memory(backend)
    partials = required_bytes(plan, parts)
    vp = plan.viewport
    grids = partials + 2 * required_bytes(plan, 1)
    need = grids + (vp.width * vp.height * M.SHADE_BYTES_PER_PIXEL if shade else 0)
    where = "a Dask worker" if table.remote else f"the {backend.name.upper()}"
    if need > 0.8 * have:
        raise RenderError(f"a {vp.width}x{vp.height} canvas would need {need / 2**30:.1f} GiB of "
                          f"{'grids, shading and PNG' if shade else 'grids'} on {where}, more than "
                          f"the {have / 2**30:.1f} GiB available; use a smaller canvas.")
    if given and grids > 0.75 * budget:
        raise RenderError(f"a {vp.width}x{vp.height} canvas needs {fmt_bytes(grids)} of grids, "
                          f"too much for memory_limit={fmt_bytes(budget)}; raise the limit or use a "
                          "smaller canvas.")
    return partials


def prepare(canvas, source, x, y, agg, *, backend="auto", wrap_table=None, scheduler=None,
            memory_limit=None, float32=None, skip_bad_rows=False, progress=None, profile=None,
            shade=False, rebin=None) -> Job:
    """Validate everything and build the plan; reads data only to compute missing ranges and
    category labels (file sources: Parquet statistics, or one streaming pass).

    ``scheduler``: a dask Client, scheduler address or scheduler name for dask DataFrames and
    file datasets (see ``distributed``); dask DataFrames default to dask's active scheduler.
    ``memory_limit``: bytes or a size like '256MB' bounding the memory of a file render (default: a
    safe fraction of available RAM / free device memory). ``float32``: aggregate float64 file
    coordinates as float32 where that moves no point by more than 1/16 pixel; None (automatic):
    where the backend gains from it (``narrow_float64``: the GPU, whose copies and memory it
    halves; the CPU kernels compute in float64 from host memory, so there it only costs a pass).
    ``skip_bad_rows``: skip (and count) malformed CSV rows instead of failing.
    ``progress``: show a progress bar (None: when stderr is a terminal). ``profile``: a
    ``profiling.Profile`` to fill in. ``shade``: the memory check counts shading and PNG too.
    ``rebin``: ``rebin(table, viewport) -> (table, viewport, x, y)``, called once the ranges are
    known (in data units): a table of new coordinate columns ``x``/``y`` and the viewport they
    are aggregated on (``Canvas.hexbin``: a ``hextable.HexTable`` and its lattice's cells)."""
    if not isinstance(x, str) or not isinstance(y, str):
        raise RenderError(f"x and y must be column names, got x={x!r}, y={y!r}.")
    prof = profile or NO_PROFILE
    named, is_summary = _named(agg)
    if backend not in ("auto", "cpu", "gpu"):
        raise RenderError(f"unknown backend {backend!r}; use 'auto', 'cpu' or 'gpu'.")
    cols = [x, y] + [c for r in named.values() for c in r.columns()]
    with prof.stage("open"):
        # a local render reads files into the backend's own memory where it can (cuDF on the GPU)
        local_file = scheduler is None and isinstance(source, (str, os.PathLike))
        table = open_table(source, list(dict.fromkeys(cols)), B.select(backend) if local_file else None,
                           scheduler=scheduler, skip_bad_rows=skip_bad_rows)
        if wrap_table is not None:
            table = wrap_table(table)
        be = table.backend(backend)
        budget = M.budget(memory_limit, table.memory(be)[0])
    if table.is_empty() and (canvas.x_range is None or canvas.y_range is None):
        # with both ranges given an empty source is an empty aggregate, as in datashader
        raise RenderError(f"the {table.kind} has no rows, so x_range and y_range cannot be "
                          "computed from it; pass both ranges to get an empty aggregate.")
    notes = list(table.notes)
    n_cols = len(dict.fromkeys(cols))
    table.chunk_rows_for(budget, n_cols)   # sizes the first passes below
    cat_cols = list(dict.fromkeys(r.cat_column for r in named.values() if r.cat_column))
    derived = [c for c in cat_cols if isinstance(c, Categorizer)]
    if derived and (table.remote or table.streaming):
        raise RenderError(f"{derived[0]!r} applies to in-memory tables (pandas, polars, Arrow, a dict "
                          f"of arrays), not to a {table.kind}; compute its categories into a column.")
    with prof.stage("scan"):
        categories = {c: table.labels(c) for c in cat_cols}
        for c, labels in categories.items():
            if not labels:
                raise RenderError(f"category column {c!r} has no non-null values.")
        x_range, y_range = _ranges(canvas, be, table, x, y, notes)
    with prof.stage("plan"):
        job = _plan(canvas, table, be, x, y, named, is_summary, categories, x_range, y_range,
                    notes, budget, memory_limit, float32, cat_cols, progress, prof, shade, rebin)
    job.requested = backend
    return job


def _plan(canvas, table, be, x, y, named, is_summary, categories, x_range, y_range, notes, budget,
          memory_limit, float32, cat_cols, progress, prof, shade=False, rebin=None):
    logs = (canvas.x_axis_type == "log", canvas.y_axis_type == "log")
    vp = Viewport(canvas.plot_width, canvas.plot_height, x_range, y_range, *logs)
    if float32 is None:
        float32 = be.narrow_float64
    if rebin is not None:   # new coordinates (float32 already), binned from the data's own
        table, vp, x, y = rebin(table, vp)
        float32 = False
    f32 = _float32_columns(vp, table, x, y, notes) if (float32 and table.streaming) else ()
    if f32:   # computed ranges must hold the float32-rounded extremes too
        x_range, y_range = (_widen32(r) if (c in f32 and given is None) else r
                            for c, r, given in ((x, x_range, canvas.x_range), (y, y_range, canvas.y_range)))
        vp = Viewport(canvas.plot_width, canvas.plot_height, x_range, y_range, *logs)
    plan = make_plan(vp, x, y, named, categories)
    if any(g.kind in (P.FIRST, P.LAST, P.RANKED) for g in plan.groups):
        table = table.in_source_order()
    grids = _check_memory(plan, table, be, budget, memory_limit is not None, shade)

    numeric = list(dict.fromkeys([x, y, *plan.value_columns()]))
    chunk_rows = table.chunk_rows_for(max(budget - grids, budget // 4), len(numeric) + len(cat_cols))
    if table.max_row_group and chunk_rows and table.max_row_group > 4 * chunk_rows:
        notes.append(f"row groups of up to {table.max_row_group:,} rows are large for the memory "
                     "budget; `gpu-render convert` writes smaller ones")
    if prof.enabled:
        prof.source = table if table.streaming else None
        prof.budget, prof.chunk_rows = budget, chunk_rows
    return Job(plan, table, be, is_summary, numeric, cat_cols, notes, budget, chunk_rows, f32,
               progress, prof)


def view_box(plan):
    """{x column: x range, y column: y range}: the box outside which no row counts (a file
    table skips the row groups whose statistics lie outside it)."""
    vp = plan.viewport
    return {plan.x: tuple(vp.x_range), plan.y: tuple(vp.y_range)}


def _host_chunks(job):
    """The table's chunks, float64 coordinates narrowed to float32 where the job says so, and
    handed to the backend's ``stage`` (for the GPU, an asynchronous copy to the device) here, in
    the reader thread, so that the copy of one chunk overlaps the kernels of the previous one."""
    stage = job.backend.stage if job.table.streaming else None
    for row0, cols in job.table.chunks(job.numeric, job.categorical, job.chunk_rows,
                                       job.backend.merge_rows, view_box(job.plan)):
        for c in job.float32:
            if cols[c].dtype == np.float64:
                cols[c] = narrow(cols[c], job.table.pool)
        yield job.row0 + row0, (stage(cols) if stage is not None else cols)


def accumulate(job: Job, partial=None, chunks=None):
    """The one aggregation loop: ``chunks`` ((row0, {name: array}) pairs; default: the job's
    table, read ahead in a thread for streaming tables) aggregated into ``partial`` (default: a
    new one). A remote table (Dask) runs this loop where its rows live (``aggregate_piece``)."""
    be, plan, prof = job.backend, job.plan, job.profile
    if job.table.remote and partial is None and chunks is None:
        with prof.stage("aggregate"):
            partial, job.backend_name = job.table.run_remote(job, aggregate_piece)
        job.rows = len(job.table)
        return partial
    with prof.stage("aggregate"):
        partial = be.new_partial(plan) if partial is None else partial
    reader = None
    with prof.stage("read"):
        if chunks is None:
            chunks = _host_chunks(job)
            if job.table.streaming:
                chunks = reader = prefetch(chunks, depth=1)
                be.warm_up()   # overlaps the reader's start (opening, first decode)
        bar = progress.bar(job.table.rows_within(view_box(plan)) if reader is not None else None,
                           job.progress if reader is not None else False)
    sync = be.synchronize if prof.enabled else None
    share = be.share_cores if reader is not None else None
    parallel = job.table.parallel_reader
    waited = worked = 0.0
    it = iter(chunks)
    try:
        while True:
            t0 = time.perf_counter()
            with prof.stage("read"):
                item = next(it, None)
            if item is None:
                break
            row0, chunk = item
            t1 = time.perf_counter()
            with prof.stage("transfer"):
                cols = {k: be.kernel_input(v) for k, v in chunk.items()}
            with prof.stage("aggregate"):
                be.aggregate(plan, partial, cols, row0)
                if sync is not None:
                    sync()
            if share is not None:   # waiting longer for data than aggregating: the reader's turn
                waited += t1 - t0
                worked += time.perf_counter() - t1
                share(waited > worked, parallel)
            n = len(next(iter(chunk.values()))) if chunk else 0
            job.rows += n
            bar.update(n)
            if prof.enabled:
                prof.chunks += 1
    finally:
        if share is not None:
            share(False)
        with prof.stage("read"):
            bar.close()
            if reader is not None:
                reader.close()
                if prof.enabled:
                    prof.read_busy += reader.busy
    return partial


def run(job: Job, arrays=False):
    """Aggregate the job's whole table: the xarray result, or with ``arrays=True`` the bare
    ``Grid``s of ``finalize_arrays`` (no xarray import)."""
    if job.profile.enabled:
        job.backend.reset_peak()
    partial = accumulate(job)
    bad = job.table.bad_rows
    if bad:
        job.notes.append(f"skipped {bad:,} malformed row(s)")
    if job.table.dropped_rows:
        from .mercator import MAX_LATITUDE
        job.notes.append(f"dropped {job.table.dropped_rows:,} row(s) whose latitude is outside Web "
                         f"Mercator's band (-{MAX_LATITUDE:.4f} to {MAX_LATITUDE:.4f} degrees)")
    B.record_used(job.backend_name or job.backend.name)
    prof = job.profile
    with prof.stage("finalize"):
        grids = finalize_arrays(job.plan, partial, job.backend, name=job.backend_name)
        result = grids if arrays else to_xarray(grids, job.is_summary)
    if job.notes:
        for target in (grids.values() if arrays else [result]):
            target.attrs["notes"] = list(job.notes)
    if prof.enabled:
        prof.rows, prof.job = job.rows, job
        prof.source_rows = job.table.estimated_rows
        prof.notes = list(job.notes)
        prof.peak_device = job.backend.peak_bytes()
    return result


@dataclass
class Grid:
    """One output of a plan as bare arrays: what an xarray.DataArray of it would hold."""
    name: str | None
    data: object                 # (height, width) or (height, width, ncat), numpy or CuPy
    dims: list
    coords: dict
    attrs: dict
    backend: str = ""            # the backend that aggregated it (not in attrs: datashader's)

    @property
    def categories(self):
        return self.coords[self.dims[2]] if len(self.dims) == 3 else None


def finalize_arrays(plan, partial, be, name=None, float_counts=False) -> dict:
    """Collapse partial planes into one ``Grid`` per output name (datashader's shapes, dims,
    coords and attrs); ``name``: who aggregated (default ``be.name``); ``float_counts``: see
    ``Backend.finalize``."""
    flat = be.finalize(plan, partial, float_counts)
    vp = plan.viewport
    coords = {plan.y: vp.y_coords, plan.x: vp.x_coords}
    attrs = {"x_range": vp.x_range, "y_range": vp.y_range}
    who = name or be.name
    grids = {}
    for name, red, gi in plan.outputs:
        g = plan.groups[gi]
        dims = [plan.y, plan.x]
        shape = (vp.height, vp.width)
        c = dict(coords)
        if g.cat is not None:
            dims.append(category_name(g.cat))
            shape += (g.ncat,)
            c[category_name(g.cat)] = plan.categories[g.cat]
        for dim, size in red.extra_dims.items():   # max_n & co: (..., n) as datashader
            dims.append(dim)
            shape += (size,)
            c[dim] = np.arange(size)
        grids[name] = Grid(name, flat[name].reshape(shape), dims, c, dict(attrs), who)
    return grids


def to_xarray(grids: dict, is_summary=False):
    """The DataArray of the single unnamed grid, or a Dataset of named ones (``summary``)."""
    import xarray as xr

    arrays = {name: xr.DataArray(g.data, coords=g.coords, dims=g.dims, attrs=g.attrs, name=name)
              for name, g in grids.items()}
    if is_summary:
        ds = xr.Dataset(arrays)
        ds.attrs.update(next(iter(grids.values())).attrs)
        return ds
    return arrays[None]


def finalize(plan, partial, be, is_summary=False, float_counts=False):
    """Collapse partial planes and build datashader-shaped xarray outputs."""
    return to_xarray(finalize_arrays(plan, partial, be, float_counts=float_counts), is_summary)

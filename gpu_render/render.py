"""``render``: the one-call path from a source to a shaded image."""
from __future__ import annotations

import builtins

from .canvas import Canvas
from .errors import RenderError
from .stages import NO_PROFILE, StageClock
from .reductions import count


def geo_ranges(x_range, y_range):
    """Longitude/latitude ranges in degrees -> Web Mercator metres (None stays None)."""
    from .mercator import MAX_LATITUDE, lnglat_to_meters
    if x_range is not None:
        lo, hi = x_range
        if not (-180 <= lo < hi <= 180):
            raise RenderError(f"x_range {x_range} is not a longitude range within [-180, 180].")
        x_range = tuple(float(v) for v in lnglat_to_meters([lo, hi], [0.0, 0.0])[0])
    if y_range is not None:
        lo, hi = y_range
        if not (-MAX_LATITUDE <= lo < hi <= MAX_LATITUDE):
            raise RenderError(f"y_range {y_range} is not a latitude range within "
                              f"[-{MAX_LATITUDE:.4f}, {MAX_LATITUDE:.4f}] (Web Mercator's limits).")
        y_range = tuple(float(v) for v in lnglat_to_meters([0.0, 0.0], [lo, hi])[1])
    return x_range, y_range


def aggregate(source, x, y, agg=None, width=800, height=600, x_range=None, y_range=None,
              geo=False, backend="auto", x_axis_type="linear", y_axis_type="linear", *, scheduler=None,
              arrays=False, check=None, hex_size=None, **file_options):
    """Aggregate like ``Canvas.points`` with render's conventions (geo degrees, non-empty result).
    ``file_options``: ``memory_limit``, ``float32``, ``skip_bad_rows``, ``progress``, ``profile``,
    ``shade`` (see ``pipeline.prepare``); ``scheduler`` as for ``Canvas.points``. ``arrays=True``
    returns ``pipeline.Grid``s by output name instead of xarray objects. ``check(job)`` runs
    before the pass over the data (to refuse what would fail after it). ``hex_size``: aggregate
    per hexagon of that many pixels across (``Canvas.hexbin``) instead of per pixel."""
    from . import pipeline
    from .sources import MercatorTable

    if geo:
        x_range, y_range = geo_ranges(x_range, y_range)
    cvs = Canvas(width, height, x_range, y_range, x_axis_type, y_axis_type)
    wrap = (lambda t: MercatorTable(t, x, y)) if geo else None
    agg = count() if agg is None else agg
    options = dict(backend=backend, wrap_table=wrap, scheduler=scheduler, **file_options)
    if hex_size is None:
        job = pipeline.prepare(cvs, source, x, y, agg, **options)
    else:
        from .hexbin import hex_grids, prepare_hexbin
        job, lattice, box = prepare_hexbin(cvs, source, x, y, agg, hex_size, **options)
    if check is not None:
        check(job)
    if hex_size is None:
        result = pipeline.run(job, arrays=arrays)
    else:
        result = hex_grids(pipeline.run(job, arrays=True), lattice, box["vp"], x, y)
        result = result if arrays else pipeline.to_xarray(result, job.is_summary)
    if job.rows == 0 and not job.table.estimated_rows:   # (rows read: 0 too where all lie outside)
        raise RenderError(f"the {job.table.kind} has no rows.")
    with (file_options.get("profile") or NO_PROFILE).stage("finalize"):
        if arrays:
            empty = not builtins.any(_has_data(g.data) for g in result.values())
        elif hasattr(result, "data_vars"):
            empty = not builtins.any(_has_data(v.data) for v in result.data_vars.values())
        else:
            empty = not _has_data(result.data)
    if empty:
        raise RenderError(_nothing_to_draw(job))
    return result


def _nothing_to_draw(job) -> str:
    """Why an aggregate is empty: a value column without a finite value (found by a pass over
    that column, or Parquet statistics), else no row inside the ranges."""
    import math
    rows = max(job.rows, job.table.estimated_rows or 0)   # the source's, where row groups were skipped
    for col in job.plan.value_columns():
        found, _ = job.table.ranges({col: False}, job.backend)
        lo, hi = found[col]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return (f"column {col!r} has no finite values in any of the {rows:,} rows (all are "
                    "null, NaN or infinite); nothing to draw.")
    vp = job.plan.viewport
    return (f"none of the {rows:,} rows falls inside x_range={vp.x_range}, "
            f"y_range={vp.y_range}; nothing to draw.")


def _has_data(data):
    """Whether an aggregate array holds a non-empty pixel."""
    if data.dtype.kind == "f":
        return bool((data == data).any())   # some non-NaN
    return bool(data.any())


def render_pixels(source, x, y, agg=None, width=800, height=600, x_range=None, y_range=None,
                  cmap="fire", how="eq_hist", geo=False, backend="auto", *, scheduler=None,
                  profile=None, shade_kwargs=None, hex_size=None, **file_options):
    """``render``'s work on bare arrays (no xarray, so the command line does not import it):
    (uint32 RGBA pixels, the aggregate's ``pipeline.Grid``)."""
    from . import shading
    from .reductions import coerce, summary

    agg = coerce(agg)
    if isinstance(agg, summary):
        raise RenderError("render takes one reduction, not a summary; use Canvas.points for several.")
    kwargs = dict(shade_kwargs or {}, how=how)

    def check(job):   # a colour key too short for the categories fails before the pass
        for g in job.plan.groups:
            if g.cat is not None:
                shading.check_color_key(kwargs.get("color_key", shading.SETS1TO3),
                                        job.plan.categories[g.cat])

    grids = aggregate(source, x, y, agg, width, height, x_range, y_range, geo, backend,
                      scheduler=scheduler, arrays=True, profile=profile, check=check, shade=True,
                      hex_size=hex_size, **file_options)
    grid = grids[None]
    if grid.data.ndim == 2:
        kwargs.setdefault("cmap", cmap)
    with (profile or NO_PROFILE).stage("shade"):
        pixels = shading.shade_array(grid.data, grid.categories, dims=grid.dims, **kwargs)
        if hex_size is not None:
            from .hexbin import draw
            pixels = draw(pixels, grid.attrs)
    return pixels, grid


def render(source, x, y, agg=None, width=800, height=600, x_range=None, y_range=None,
           cmap="fire", how="eq_hist", geo=False, backend="auto", *, scheduler=None, memory_limit=None,
           float32=None, skip_bad_rows=False, progress=None, profile=None, hex_size=None, **shade_kwargs):
    """Aggregate ``source`` and shade it: returns a ``transfer_functions.Image`` (RGBA).

    ``geo=True``: x/y (and the ranges) are longitude/latitude degrees, projected to Web Mercator.
    Categorical aggregates (``by``/``count_cat``) are coloured with datashader's colour key.
    Files are streamed in chunks within ``memory_limit``; see ``pipeline.prepare`` for it and for
    ``float32``, ``skip_bad_rows``, ``progress`` and ``profile`` (a ``profiling.Profile``).
    ``scheduler``: where dask DataFrames and file datasets are aggregated (see ``Canvas.points``).
    ``hex_size``: hexagons that many pixels across (``Canvas.hexbin``) instead of pixels.
    """
    from .transfer_functions import Image

    if profile is not None and not isinstance(profile, StageClock):
        raise RenderError(f"profile= takes a gpu_render.Profile, not {profile!r}; "
                          "gpu_render.profile(...) renders and returns one.")
    if profile is not None and not profile.started:   # time this call alone
        profile.start(backend)
        try:
            return render(source, x, y, agg, width, height, x_range, y_range, cmap, how, geo,
                          backend, scheduler=scheduler, memory_limit=memory_limit,
                          float32=float32, skip_bad_rows=skip_bad_rows, progress=progress,
                          profile=profile, hex_size=hex_size, **shade_kwargs)
        finally:
            profile.stop()
    pixels, grid = render_pixels(source, x, y, agg, width, height, x_range, y_range, cmap, how,
                                 geo, backend, scheduler=scheduler, profile=profile,
                                 shade_kwargs=shade_kwargs, memory_limit=memory_limit,
                                 float32=float32, skip_bad_rows=skip_bad_rows, progress=progress,
                                 hex_size=hex_size)
    attrs = {"notes": grid.attrs["notes"]} if "notes" in grid.attrs else None
    if hex_size is None:
        ydim, xdim = grid.dims[:2]
        coords = {ydim: grid.coords[ydim], xdim: grid.coords[xdim]}
    else:
        from .hexbin import pixel_coords
        coords = pixel_coords(grid.attrs)
        xdim, ydim = coords
    with (profile or NO_PROFILE).stage("shade"):
        return Image(pixels, coords=coords, dims=(ydim, xdim), attrs=attrs)

"""Opening a source: ``open_table`` wraps a path, an in-memory frame, device data or a Dask
collection as a ``table.Table``; ``MercatorTable`` projects longitude/latitude columns."""
from __future__ import annotations

import os

import numpy as np

from .errors import RenderError
from .frames import memory_table
from .table import Table, TableWrapper, _finite_bounds, as_numeric, categorize  # noqa: F401 - the names tables were imported by

def _device_file(path: str, columns: list, backend):
    """The file read straight into the memory ``backend``'s kernels read (cuDF, for the GPU), as
    a table, or None to stream it through the host reader (``filetable``)."""
    if backend is None or backend.name not in _DEVICE_READERS:
        return None
    import pyarrow as pa
    from . import files
    fmt = files.detect_format(path)
    try:
        if any(c not in files.schema_names(path, fmt) for c in columns):
            return None   # the streaming table names the missing column
        return _DEVICE_READERS[backend.name]()(path, fmt, columns)
    except RenderError:
        raise
    except (pa.ArrowInvalid, pa.ArrowKeyError, OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(f"could not read {path} as {fmt}: {msg}") from None


def _gpu_reader():
    from .gpu.sources import read_file
    return read_file


# Readers of files into a backend's own memory, by backend name; each returns None for files it
# leaves to the host reader (e.g. cuDF missing, or a format it would read whole).
_DEVICE_READERS = {"gpu": _gpu_reader}


def _is_dask(source) -> bool:
    return type(source).__module__.split(".")[0] in ("dask", "dask_cudf")


def open_table(source, columns: list, backend=None, scheduler=None, *, skip_bad_rows=False) -> Table:
    """Wrap ``source`` as a Table able to give ``columns``; one clear error for anything else.

    Paths become streaming ``filetable.FileTable``s, read chunk by chunk, unless ``backend`` (the
    backend that will aggregate) has a reader of its own memory (cuDF, on the GPU) that takes
    the file. ``scheduler`` (a dask Client, scheduler address or name) computes dask DataFrames
    and file datasets on a Dask cluster (``distributed``); in-memory sources take none.
    """
    if isinstance(source, (str, os.PathLike)) and scheduler is not None:
        from .distributed import DaskFileTable
        table = DaskFileTable(os.fspath(source), columns)
    elif isinstance(source, (str, os.PathLike)):
        from .filetable import open_file
        table = _device_file(os.fspath(source), columns, backend)
        if table is None:
            return open_file(os.fspath(source), columns, skip_bad_rows=skip_bad_rows)
    elif isinstance(source, Table):   # already opened (e.g. a ``spatialframe.SpatialFrame``)
        table = source
    elif _is_dask(source) and hasattr(source, "columns"):
        from .distributed import DaskTable
        table = DaskTable(source)
    else:
        table = memory_table(source, columns)
    table.require(columns)
    return table.on(scheduler)


def in_band(lat):
    """Latitudes inside Web Mercator's band (|lat| <= MAX_LATITUDE); others (+-90, beyond,
    NaN) become NaN, so they are dropped like NaN rows."""
    from .mercator import MAX_LATITUDE
    lat = np.asarray(lat, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(lat) <= MAX_LATITUDE, lat, np.nan)


class LngLatProjection:
    """Projects the x/y columns of a chunk (a dict) from lon/lat degrees to Web Mercator metres;
    a plain picklable object, so Dask workers apply it to their own partitions. Rows whose
    latitude lies outside Web Mercator's band are dropped (their y becomes NaN) and counted."""

    def __init__(self, x: str, y: str):
        self.x, self.y = x, y

    def project(self, cols: dict) -> tuple:
        """(``cols`` projected, rows dropped), counting nothing here: a Dask worker's copy sends
        its piece's count back with the piece's partial."""
        from .mercator import lnglat_to_meters
        dropped = 0
        if self.x in cols:
            cols[self.x] = lnglat_to_meters(cols[self.x].astype(np.float64, copy=False), 0.0)[0]
        if self.y in cols:
            lat = np.asarray(cols[self.y]).astype(np.float64, copy=False)
            band = in_band(lat)
            dropped = int(np.count_nonzero(np.isnan(band)) - np.count_nonzero(np.isnan(lat)))
            cols[self.y] = lnglat_to_meters(0.0, band)[1]
        return cols, dropped


class InBand:
    """Sets column ``y``'s latitudes outside Web Mercator's band to NaN (a transform, as
    ``LngLatProjection``, that Dask workers apply to their pieces while finding ranges)."""

    def __init__(self, y: str):
        self.y = y

    def project(self, cols: dict) -> tuple:
        cols[self.y] = in_band(cols[self.y])
        return cols, 0


class MercatorTable(TableWrapper):
    """Wraps a table whose x/y are longitude/latitude degrees, projecting them to Web Mercator
    metres chunk by chunk as they are read (the source is never copied whole)."""

    def __init__(self, base: Table, x: str, y: str):
        super().__init__(base, LngLatProjection(x, y))
        self.x, self.y = x, y

    def dtype(self, name):
        return np.dtype(np.float64) if name in (self.x, self.y) else self.base.dtype(name)

    def ranges(self, axes, backend=None):
        """The base table's ranges, projected (the projection is monotonic on each axis); a
        latitude range reaching beyond Web Mercator's band is found again among the latitudes
        inside it (one more pass over that column)."""
        from .mercator import MAX_LATITUDE, lnglat_to_meters
        out, how = self.base.ranges(axes, backend)
        if self.y in out and not (-MAX_LATITUDE <= out[self.y][0] and out[self.y][1] <= MAX_LATITUDE):
            if self.base.remote:
                lo, hi = self.base.bounds({self.y: False}, InBand(self.y))[self.y]
            else:
                lo, hi = np.inf, -np.inf
                for _, cols in self.base.chunks([self.y], []):
                    blo, bhi = _finite_bounds(in_band(cols[self.y]))
                    lo, hi = min(lo, blo), max(hi, bhi)
            if lo > hi:
                raise RenderError(f"column {self.y!r} has no latitude inside Web Mercator's band "
                                  f"(-{MAX_LATITUDE:.4f} to {MAX_LATITUDE:.4f} degrees); check that "
                                  "it holds latitudes.")
            out[self.y] = (lo, hi)
        for col, (lo, hi) in out.items():
            if col == self.x:
                out[col] = tuple(float(v) for v in lnglat_to_meters(np.array([lo, hi]), 0.0)[0])
            elif col == self.y:
                out[col] = tuple(float(v) for v in lnglat_to_meters(0.0, np.array([lo, hi]))[1])
        return out, how

    def _base_box(self, where):
        """``where`` in Web Mercator metres as the base table's longitudes/latitudes (the
        projection is monotonic), widened by 1e-9 degrees against the rounding of the inverse."""
        if not where:
            return where
        from .mercator import meters_to_lnglat
        out = dict(where)
        if self.x in where:
            lo, hi = meters_to_lnglat(np.array(where[self.x], np.float64), 0.0)[0]
            out[self.x] = (float(lo) - 1e-9, float(hi) + 1e-9)
        if self.y in where:
            with np.errstate(over="ignore"):   # beyond the square world: latitude 90
                lo, hi = meters_to_lnglat(0.0, np.array(where[self.y], np.float64))[1]
            out[self.y] = (float(lo) - 1e-9, float(hi) + 1e-9)
        return out

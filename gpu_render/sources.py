"""Sources: pandas, polars, pyarrow, dict of arrays and files, seen through one ``Table`` interface.

A table yields chunks of needed columns as host numpy arrays: float32/float64 columns zero-copy,
other numbers as float64, category columns as integer codes (labels from ``categories``).
"""
from __future__ import annotations

import os

import numpy as np

from .errors import RenderError

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_numeric(name: str, arr) -> np.ndarray:
    """A column as float32/float64 numpy (zero-copy when it already is one)."""
    arr = np.asarray(arr)
    if arr.dtype in _FLOATS:
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    held = {"O": "text or mixed values", "U": "text", "S": "bytes", "M": "dates", "m": "durations"}
    raise RenderError(f"column {name!r} is not numeric (it holds {held.get(arr.dtype.kind, arr.dtype)}); "
                      "x, y and value columns must be numbers.")


def categorize(name: str, arr):
    """(codes, labels) of a category column: a pandas Categorical keeps its categories; any other
    column's labels are its sorted distinct non-null values."""
    if hasattr(arr, "codes") and hasattr(arr, "categories"):
        return np.asarray(arr.codes), list(arr.categories)
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        keep = ~np.isnan(arr)
        labels = np.unique(arr[keep])
        codes = np.full(arr.shape, -1, np.int32)
        codes[keep] = np.searchsorted(labels, arr[keep])
        return codes, list(labels)
    if arr.dtype.kind == "O":
        mask = np.array([v is None or v != v for v in arr], dtype=bool)
        labels = sorted(set(arr[~mask].tolist()))
        lookup = {v: i for i, v in enumerate(labels)}
        codes = np.array([-1 if m else lookup[v] for v, m in zip(arr, mask)], dtype=np.int32)
        return codes, labels
    labels, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int32).ravel(), labels.tolist()


class Table:
    """Column access to one source; subclasses implement ``_column``.

    The pipeline asks a table for its backend, emptiness, category labels and finite ranges
    through the methods below; in-process tables answer from their columns, while tables whose
    rows live elsewhere (``distributed.DaskTable``) answer on their workers and set ``remote``,
    in which case the pipeline lets them aggregate themselves (``accumulate(job)``).
    """

    kind = "table"
    names: list
    remote = False      # True for tables aggregated where their rows live (Dask workers)
    streaming = False   # True for tables read chunk by chunk (files)

    def chunk_rows_for(self, budget_bytes, n_columns):
        """Rows per chunk that fit ``budget_bytes``; None: the table is one in-memory chunk."""
        return None

    def __len__(self) -> int:
        raise NotImplementedError

    def on(self, scheduler):
        """This table, computed by ``scheduler``; only Dask collections and paths take one."""
        if scheduler is not None:
            raise RenderError(f"scheduler= applies to dask DataFrames and file paths, not to a {self.kind}; "
                              "convert it with dask.dataframe.from_pandas or drop scheduler=.")
        return self

    def backend(self, name: str):
        """The backend that aggregates this table's rows (``backend.select``)."""
        from .backend import select
        return select(name)

    def is_empty(self) -> bool:
        return self.num_rows == 0

    def require(self, columns):
        for c in columns:
            if c not in self.names:
                shown = ", ".join(map(repr, list(self.names)[:12]))
                raise RenderError(f"column {c!r} not found in the {self.kind}; its columns are {shown}.")

    @property
    def num_rows(self):
        """Rows when known without a pass over the data, else None."""
        return len(self)

    @property
    def estimated_rows(self):
        return self.num_rows

    def dtype(self, name):
        """The numpy dtype ``numeric(name)`` gives."""
        return self.numeric(name).dtype

    def numeric(self, name: str) -> np.ndarray:
        return as_numeric(name, self._column(name))

    def labels(self, name: str) -> list:
        """The category labels of ``name`` (codes index into them)."""
        return self.categorical(name)[1]

    def ranges(self, axes: dict, backend=None):
        """({column: (lo, hi)} of finite values, how they were found) for ``axes`` ({column: log?}),
        log axes counting positive values only."""
        out = {}
        for col, log in axes.items():
            arr = self.numeric(col)
            if log:
                arr = np.where(arr > 0, arr, np.nan)
            out[col] = backend.bounds(arr) if hasattr(backend, "bounds") else _finite_bounds(arr)
        return out, "the data"

    def categorical(self, name: str):
        """(codes, labels) of a category column."""
        return categorize(name, self._column(name))

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None):
        """Yield (row0, {name: array}) covering all rows; one chunk for in-memory tables.
        A file's small batches (row groups) are joined into chunks of about ``merge_rows``
        (default ``chunk_rows``) rows."""
        cols = {c: self.numeric(c) for c in numeric}
        for c in categorical:
            cols[c] = self.categorical(c)[0]
        yield 0, cols


def _finite_bounds(arr):
    arr = arr[np.isfinite(arr)]
    return (float(arr.min()), float(arr.max())) if arr.size else (np.inf, -np.inf)


class DictTable(Table):
    kind = "dict of arrays"

    def __init__(self, data: dict):
        self.data = data
        self.names = list(data)

    def __len__(self):
        return len(next(iter(self.data.values()))) if self.data else 0

    def _column(self, name):
        return self.data[name]


class PandasTable(Table):
    kind = "DataFrame"

    def __init__(self, df):
        self.df = df
        self.names = [c for c in df.columns]

    def __len__(self):
        return len(self.df)

    def _column(self, name):
        import pandas as pd
        s = self.df[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            return s
        if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(s.dtype):
            return s.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable Int64/Float64/...
        if s.dtype == object:  # numbers stored as objects are numbers; anything else stays as is
            try:
                return s.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                return s.to_numpy(dtype=object, na_value=None)
        if pd.api.types.is_string_dtype(s.dtype):
            return s.to_numpy(dtype=object, na_value=None)   # strings (incl. pyarrow-backed, pd.NA)
        return s.to_numpy()

    def categorical(self, name):
        s = self._column(name)
        if hasattr(s, "cat"):
            return s.cat.codes.to_numpy(), list(s.cat.categories)
        return categorize(name, s)


class PolarsTable(Table):
    kind = "polars DataFrame"

    def __init__(self, df):
        self.df = df
        self.names = list(df.columns)

    def __len__(self):
        return self.df.height

    def _column(self, name):
        s = self.df[name]
        return s.to_numpy() if s.dtype.is_numeric() else s

    def categorical(self, name):
        """An Enum keeps its declared order; other columns (Categorical included, whose physical
        order is arbitrary) use their sorted distinct values."""
        s = self.df[name]
        if s.dtype.__class__.__name__ == "Enum":
            codes = s.to_physical().cast(int).fill_null(-1).to_numpy()
            return codes, list(s.dtype.categories)
        if s.dtype.__class__.__name__ == "Categorical":
            s = s.cast(str)
        return categorize(name, s.to_numpy())


class ArrowTable(Table):
    kind = "Arrow table"

    def __init__(self, table, kind=None):
        self.table = table
        self.names = list(table.column_names)
        if kind:
            self.kind = kind

    def __len__(self):
        return self.table.num_rows

    def _column(self, name):
        import pyarrow as pa
        col = self.table.column(name)
        if pa.types.is_null(col.type):  # e.g. a CSV column with no values at all
            return np.full(len(col), np.nan)
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
            if col.null_count:
                col = col.cast(pa.float64())
            return col.to_numpy()
        if pa.types.is_dictionary(col.type):
            return col
        if pa.types.is_decimal(col.type):
            return col.cast(pa.float64()).to_numpy()
        return col.to_numpy()

    def categorical(self, name):
        import pyarrow as pa
        col = self.table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries() if hasattr(col, "unify_dictionaries") else col
            labels = col.chunk(0).dictionary.to_pylist() if col.num_chunks else []
            codes = np.concatenate([c.indices.fill_null(-1).to_numpy() for c in col.chunks]) \
                if col.num_chunks else np.zeros(0, np.int32)
            return codes, labels
        return categorize(name, self._column(name))


def _device_file(path: str, columns: list, reader):
    """The backend's own read of a file (cuDF on the GPU) as a table, or None to stream it."""
    import pyarrow as pa
    from . import files
    fmt = files.detect_format(path)
    try:
        if any(c not in files.schema_names(path, fmt) for c in columns):
            return None   # the streaming table names the missing column
        return reader(path, fmt, columns)
    except RenderError:
        raise
    except (pa.ArrowInvalid, pa.ArrowKeyError, OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(f"could not read {path} as {fmt}: {msg}") from None


def _dask_table(source):
    from .distributed import DaskTable
    return DaskTable(source)


_ADAPTERS = (
    ("pandas", PandasTable),
    ("polars", PolarsTable),
    ("pyarrow", ArrowTable),
    ("dask", _dask_table),
    ("dask_cudf", _dask_table),
)
# Device-resident sources, by the module of the table (cuDF) or of a dict's arrays (CuPy);
# imported only when such data is passed.
_DEVICE_ADAPTERS = {"cudf": "cudf_frame", "cupy": "cupy_dict"}


def _root(obj) -> str:
    return type(obj).__module__.split(".")[0]


def _device_adapter(root):
    if root not in _DEVICE_ADAPTERS:
        return None
    from .gpu import sources as device_sources
    return getattr(device_sources, _DEVICE_ADAPTERS[root])


def open_table(source, columns: list, reader=None, scheduler=None, *, skip_bad_rows=False) -> Table:
    """Wrap ``source`` as a Table able to give ``columns``; one clear error for anything else.

    Paths become streaming ``filetable.FileTable``s, read chunk by chunk, unless the backend's
    ``reader(path, fmt, columns)`` (cuDF on the GPU) gives a device table. ``scheduler`` (a dask
    Client, scheduler address or name) computes dask DataFrames and file datasets on a Dask
    cluster (``distributed``); in-memory sources take none.
    """
    if isinstance(source, (str, os.PathLike)) and scheduler is not None:
        from .distributed import FileTable
        table = FileTable(os.fspath(source), columns)
    elif isinstance(source, (str, os.PathLike)):
        from .filetable import open_file
        table = _device_file(os.fspath(source), columns, reader) if reader is not None else None
        if table is None:
            return open_file(os.fspath(source), columns, skip_bad_rows=skip_bad_rows)
    elif isinstance(source, dict):
        device = _device_adapter(_root(next(iter(source.values())))) if source else None
        table = device(source) if device is not None else DictTable(source)
    elif _device_adapter(_root(source)) is not None:
        table = _device_adapter(_root(source))(source)
    else:
        root = _root(source)
        factory = dict(_ADAPTERS).get(root)
        if factory is None or not hasattr(source, "columns" if root != "pyarrow" else "column_names"):
            raise RenderError(
                f"unsupported source of type {type(source).__name__}; pass a pandas, polars, "
                "pyarrow or dask table, a dict of arrays, or a path to a Parquet, CSV or Arrow file.")
        table = factory(source)
    table.require(columns)
    return table.on(scheduler)


class LngLatProjection:
    """Projects the x/y columns of a chunk (a dict) from lon/lat degrees to Web Mercator metres;
    a plain picklable object, so Dask workers apply it to their own partitions."""

    def __init__(self, x: str, y: str):
        self.x, self.y = x, y

    def __call__(self, cols: dict) -> dict:
        from .utils import lnglat_to_meters
        if self.x in cols:
            cols[self.x] = lnglat_to_meters(cols[self.x], 0.0)[0]
        if self.y in cols:
            cols[self.y] = lnglat_to_meters(0.0, cols[self.y])[1]
        return cols


class MercatorTable(Table):
    """Wraps a table whose x/y are longitude/latitude degrees, projecting them to Web Mercator
    metres chunk by chunk as they are read (the source is never copied whole)."""

    def __init__(self, base: Table, x: str, y: str):
        self.base, self.x, self.y = base, x, y
        self.names, self.kind, self.remote = base.names, base.kind, base.remote
        self._project = LngLatProjection(x, y)

    def __len__(self):
        return len(self.base)

    def __getattr__(self, name):   # file facts (notes, bad_rows, path, fmt...) of the base table
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def num_rows(self):
        return self.base.num_rows

    @property
    def streaming(self):
        return self.base.streaming

    def chunk_rows_for(self, budget_bytes, n_columns):
        return self.base.chunk_rows_for(budget_bytes, n_columns)

    @property
    def estimated_rows(self):
        return self.base.estimated_rows

    def dtype(self, name):
        return np.dtype(np.float64) if name in (self.x, self.y) else self.base.dtype(name)

    def backend(self, name):
        return self.base.backend(name)

    def is_empty(self):
        return self.base.is_empty()

    def labels(self, name):
        return self.base.labels(name)

    def ranges(self, axes, backend=None):
        """The base table's ranges, projected (the projection is monotonic on each axis)."""
        from .utils import lnglat_to_meters
        out, how = self.base.ranges(axes, backend)
        for col, (lo, hi) in out.items():
            if col == self.x:
                out[col] = tuple(float(v) for v in lnglat_to_meters(np.array([lo, hi]), 0.0)[0])
            elif col == self.y:
                out[col] = tuple(float(v) for v in lnglat_to_meters(0.0, np.array([lo, hi]))[1])
        return out, how

    def accumulate(self, job):
        return self.base.accumulate(job, transform=self._project)

    def numeric(self, name):
        return self._project({name: self.base.numeric(name)})[name]

    def categorical(self, name):
        return self.base.categorical(name)

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None):
        for row0, cols in self.base.chunks(numeric, categorical, chunk_rows, merge_rows):
            yield row0, self._project(dict(cols))

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
    raise RenderError(f"column {name!r} has type {arr.dtype}, but x, y and value columns must be numeric.")


def categorize(name: str, arr):
    """(codes, labels) for a non-categorical column: labels are its sorted distinct non-null values."""
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
    """Column access to one source; subclasses implement ``_column``."""

    kind = "table"
    names: list
    streaming = False   # True for tables read chunk by chunk (files)

    def chunk_rows_for(self, budget_bytes, n_columns):
        """Rows per chunk that fit ``budget_bytes``; None: the table is one in-memory chunk."""
        return None

    def __len__(self) -> int:
        raise NotImplementedError

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
            if backend is not None and hasattr(backend, "bounds"):
                out[col] = backend.bounds(arr)
            else:
                out[col] = (np.nanmin(arr), np.nanmax(arr)) if len(arr) else (np.inf, -np.inf)
        return out, "the data"

    def categorical(self, name: str):
        """(codes, labels) of a category column."""
        return categorize(name, self._column(name))

    def chunks(self, numeric, categorical, chunk_rows=None):
        """Yield (row0, {name: array}) covering all rows; one chunk for in-memory tables."""
        cols = {c: self.numeric(c) for c in numeric}
        for c in categorical:
            cols[c] = self.categorical(c)[0]
        yield 0, cols


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
        s = self.df[name]
        if s.dtype.kind in "fiub" and not hasattr(s.dtype, "na_value"):
            return s.to_numpy()
        if str(s.dtype) == "category":
            return s
        try:
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            return s.to_numpy()

    def categorical(self, name):
        s = self._column(name)
        if str(getattr(s, "dtype", "")) == "category":
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
        s = self.df[name]
        if s.dtype.__class__.__name__ in ("Categorical", "Enum"):
            codes = s.to_physical().fill_null(-1).cast(int).to_numpy()
            return codes, s.cat.get_categories().to_list()
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


_ADAPTERS = (
    ("pandas", PandasTable),
    ("polars", PolarsTable),
    ("pyarrow", ArrowTable),
)


def open_table(source, columns: list, *, skip_bad_rows=False) -> Table:
    """Wrap ``source`` as a Table able to give ``columns``; one clear error for anything else.
    Paths become streaming ``filetable.FileTable``s, read chunk by chunk."""
    if isinstance(source, (str, os.PathLike)):
        from .filetable import open_file
        return open_file(os.fspath(source), columns, skip_bad_rows=skip_bad_rows)
    elif isinstance(source, dict):
        table = DictTable(source)
    else:
        root = type(source).__module__.split(".")[0]
        factory = dict(_ADAPTERS).get(root)
        if factory is None or not hasattr(source, "columns" if root != "pyarrow" else "column_names"):
            raise RenderError(
                f"unsupported source of type {type(source).__name__}; pass a pandas, polars or "
                "pyarrow table, a dict of arrays, or a path to a Parquet, CSV or Arrow file.")
        table = factory(source)
    table.require(columns)
    return table


class MercatorTable(Table):
    """Wraps a table whose x/y are longitude/latitude degrees, projecting them to Web Mercator
    metres chunk by chunk as they are read (the source is never copied whole)."""

    def __init__(self, base: Table, x: str, y: str):
        self.base, self.x, self.y = base, x, y
        self.names, self.kind = base.names, base.kind

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

    def labels(self, name):
        return self.base.labels(name)

    def ranges(self, axes, backend=None):
        from .utils import lnglat_to_meters
        out, how = self.base.ranges(axes, backend)
        for col, (lo, hi) in out.items():
            if col == self.x:
                out[col] = tuple(lnglat_to_meters(np.array([lo, hi]), 0.0)[0])
            elif col == self.y:
                out[col] = tuple(lnglat_to_meters(0.0, np.array([lo, hi]))[1])
        return out, how

    def _project(self, cols):
        from .utils import lnglat_to_meters
        if self.x in cols:
            cols[self.x] = lnglat_to_meters(cols[self.x], 0.0)[0]
        if self.y in cols:
            cols[self.y] = lnglat_to_meters(0.0, cols[self.y])[1]
        return cols

    def numeric(self, name):
        return self._project({name: self.base.numeric(name)})[name]

    def categorical(self, name):
        return self.base.categorical(name)

    def chunks(self, numeric, categorical, chunk_rows=None):
        for row0, cols in self.base.chunks(numeric, categorical, chunk_rows):
            yield row0, self._project(dict(cols))

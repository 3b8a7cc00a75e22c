"""``Table``: the one interface through which the pipeline sees any source, and its column rules.

A table yields chunks of needed columns as host numpy arrays (or device arrays for device
sources): float32/float64 columns zero-copy, other numbers as float64, category columns as
integer codes (labels from ``categories``). Tables of each kind live apart: in-memory frames
(``frames``), files (``filetable``), device data (``gpu.sources``), Dask collections
(``distributed``); ``sources.open_table`` picks one for a source.
"""
from __future__ import annotations

import datetime

import numpy as np

from .categorizers import Categorizer
from .errors import RenderError

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_numeric(name: str, arr) -> np.ndarray:
    """A column as float32/float64 numpy (zero-copy when it already is one)."""
    arr = np.asarray(arr)
    if arr.dtype in _FLOATS:
        return arr
    if arr.dtype.kind in "iubf":
        return arr.astype(np.float64)   # integers beyond 2**53 round, as pandas' astype does
    raise not_numeric(name, *_held(arr))


def not_numeric(name: str, held: str, as_int: str | None = None) -> RenderError:
    """The one sentence for a column that cannot be aggregated as numbers: ``held`` says what it
    holds; ``as_int``, what its values are as integers (times and durations), for the hint."""
    hint = f" (convert them first, e.g. with series.astype('int64'): the {as_int} in the column's unit)" \
        if as_int else ""
    return RenderError(f"column {name!r} is not numeric (it holds {held}); x, y and value columns "
                       f"must be numbers{hint}.")


SINCE_1970, DURATION = "time since 1970", "duration"


def _held(arr: np.ndarray) -> tuple:
    """(what a non-numeric numpy column holds, in words; ``not_numeric``'s ``as_int``)."""
    kind = arr.dtype.kind
    if kind == "M":
        return f"dates and times, {arr.dtype}", SINCE_1970
    if kind == "m":
        return f"durations, {arr.dtype}", DURATION
    if kind == "O":
        values = [v for v in arr.flat if not _missing(v)]
        if values and all(isinstance(v, datetime.datetime) for v in values):   # pandas Timestamps too
            aware = "timezone-aware " if values[0].tzinfo is not None else ""
            return f"{aware}dates and times", SINCE_1970
        return "text or mixed values", None
    return {"U": "text", "S": "bytes"}.get(kind, str(arr.dtype)), None


def _missing(v) -> bool:
    """None, NaN, NaT or pandas.NA."""
    try:
        return v is None or not bool(v == v)
    except (TypeError, ValueError):   # pandas.NA has no truth value
        return True


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


def require_columns(columns, names, kind):
    """Fail naming the first of ``columns`` missing from ``names`` (the columns of a ``kind``)."""
    for c in columns:
        if c not in names:
            shown = ", ".join(map(repr, list(names)[:12]))
            raise RenderError(f"column {c!r} not found in the {kind}; its columns are {shown}.")


class Table:
    """Column access to one source; subclasses implement ``_column``.

    The pipeline asks a table for its backend, emptiness, category labels and finite ranges
    through the methods below; in-process tables answer from their columns, while tables whose
    rows live elsewhere (``distributed.DaskTable``) answer on their workers and set ``remote``:
    the pipeline then hands them its own chunk loop to run on each worker (``run_remote``).
    """

    kind = "table"
    names: list
    remote = False      # True for tables aggregated where their rows live (Dask workers)
    streaming = False   # True for tables read chunk by chunk (files)
    dropped_rows = 0    # rows left out while reading (MercatorTable: latitudes off the map)
    parallel_reader = False   # reading decodes on a pool of threads (kernels may leave it cores)
    max_row_group = 0   # rows of a file's largest row group (0: not a row-group format)
    bad_rows = 0        # malformed rows skipped (CSV with skip_bad_rows)
    sorted_in_space = False   # rows in Z-order, not the source's (an index): no first/last
    pool = None         # the Arrow memory pool chunks are allocated from (None: the default)
    notes = ()          # what the table decided for the user, for the result's notes

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
        """The backend that aggregates this table's rows (``backend.select``); for a remote
        table, the one that finalizes the partial its workers' backends merged."""
        from .backend import select
        return select(name)

    def memory(self, backend):
        """(bytes free for partial grids, partial grids held at once) where this table is
        aggregated: the backend's (a remote table: one worker task's)."""
        return backend.free_bytes(), backend.parts

    def run_remote(self, job, aggregate_piece, transform=None):
        """(partial, who aggregated) of ``job`` for a remote table: ``aggregate_piece(plan,
        backend, columns, row0)`` (the pipeline's chunk loop) run where each piece of rows
        lives, on the backend found there, the partials merged; ``transform`` (``TableWrapper``)
        is applied to each piece's columns first."""
        raise NotImplementedError(f"a {self.kind} is aggregated in this process")

    def is_empty(self) -> bool:
        return self.num_rows == 0

    def require(self, columns):
        require_columns(columns, self.names, self.kind)

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

    def labels(self, name) -> list:
        """The category labels of ``name`` (codes index into them)."""
        return self.categorical_of(name)[1]

    def ranges(self, axes: dict, backend=None):
        """({column: (lo, hi)} of finite values, how they were found) for ``axes`` ({column: log?}),
        log axes counting positive values only."""
        out = {}
        for col, log in axes.items():
            arr = self.numeric(col)
            if log:
                arr = np.where(arr > 0, arr, np.nan)
            out[col] = backend.bounds(arr) if backend is not None else _finite_bounds(arr)
        return out, "the data"

    def categorical(self, name: str):
        """(codes, labels) of a category column."""
        return categorize(name, self._column(name))

    def categorical_of(self, key):
        """(codes, labels) of a category key: a column name, or a ``Categorizer`` of a column."""
        if isinstance(key, Categorizer):
            self.require([key.column])
            return key.codes(self._column(key.column)), key.categories()
        return self.categorical(key)

    def in_source_order(self) -> "Table":
        """This table with its rows in the source's order, for the reductions that pick rows by
        it (first, last, where, the ``_n`` ones); a spatial index, which has no other, refuses."""
        if self.sorted_in_space:
            raise RenderError(f"the {self.kind} is a spatial index, whose rows are in Z-order, not "
                              "in the source's order: first, last and the ranked reductions (max_n, "
                              "first_n, where, ...) pick rows by that order; render the source file "
                              "for them.")
        return self

    def rows_within(self, where=None):
        """Rows a pass of ``chunks(..., where=where)`` reads (estimated where not stored)."""
        return self.estimated_rows

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None, where=None):
        """Yield (row0, {name: array}) covering all rows; one chunk for in-memory tables.
        A file's small batches (row groups) are joined into chunks of about ``merge_rows``
        (default ``chunk_rows``) rows. ``where`` ({column: (lo, hi)}): a table may leave out
        rows it knows lie outside that box (a file's row groups, by their statistics); the
        rows it yields keep their row numbers."""
        cols = {c: self.numeric(c) for c in numeric}
        for c in categorical:
            cols[c] = self.categorical_of(c)[0]
        yield 0, cols


def _finite_bounds(arr):
    arr = arr[np.isfinite(arr)]
    return (float(arr.min()), float(arr.max())) if arr.size else (np.inf, -np.inf)


class Chain:
    """Transforms applied one after the other (``project(cols) -> (cols, rows dropped)``)."""

    def __init__(self, *steps):
        self.steps = [s for s in steps if s is not None]

    def project(self, cols: dict) -> tuple:
        dropped = 0
        for step in self.steps:
            cols, n = step.project(cols)
            dropped += n
        return cols, dropped


class TableWrapper(Table):
    """A table over ``base`` whose chunks pass through ``transform`` (a picklable object with
    ``project(cols) -> (cols, rows dropped)``, so Dask workers apply it to their pieces, after
    the transforms of the tables it wraps); every other fact is the base's. ``_base_box`` maps a
    ``where`` box to the base's units."""

    def __init__(self, base: Table, transform):
        self.base, self.transform = base, transform
        self.names, self.kind, self.remote = base.names, base.kind, base.remote
        self._dropped = 0

    def __len__(self):
        return len(self.base)

    def __getattr__(self, name):   # file facts (path, fmt, batches...) of the base table
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    # the facts ``Table`` declares, which ``__getattr__`` would not reach
    notes = property(lambda self: self.base.notes)
    bad_rows = property(lambda self: self.base.bad_rows)
    parallel_reader = property(lambda self: self.base.parallel_reader)
    max_row_group = property(lambda self: self.base.max_row_group)
    sorted_in_space = property(lambda self: self.base.sorted_in_space)
    pool = property(lambda self: self.base.pool)
    num_rows = property(lambda self: self.base.num_rows)
    streaming = property(lambda self: self.base.streaming)
    estimated_rows = property(lambda self: self.base.estimated_rows)

    @property
    def dropped_rows(self):
        """Rows the transforms dropped so far (here, or on the Dask workers of a remote base)."""
        return self._dropped + self.base.dropped_rows

    def memory(self, backend):
        return self.base.memory(backend)

    def chunk_rows_for(self, budget_bytes, n_columns):
        return self.base.chunk_rows_for(budget_bytes, n_columns)

    def dtype(self, name):
        return self.base.dtype(name)

    def backend(self, name):
        return self.base.backend(name)

    def is_empty(self):
        return self.base.is_empty()

    def labels(self, name):
        return self.base.labels(name)

    def ranges(self, axes, backend=None):
        return self.base.ranges(axes, backend)

    def categorical(self, name):
        return self.base.categorical(name)

    def _apply(self, cols: dict) -> dict:
        cols, dropped = self.transform.project(cols)
        self._dropped += dropped
        return cols

    def numeric(self, name):
        return self._apply({name: self.base.numeric(name)})[name]

    def run_remote(self, job, aggregate_piece, transform=None):
        return self.base.run_remote(job, aggregate_piece, transform=Chain(self.transform, transform))

    def _base_box(self, where):
        return where

    def in_source_order(self) -> Table:
        """This wrapper over the base's rows in the source's order (``Table.in_source_order``)."""
        base = self.base.in_source_order()
        if base is self.base:
            return self
        import copy
        out = copy.copy(self)
        out.base = base
        return out

    def rows_within(self, where=None):
        return self.base.rows_within(self._base_box(where))

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None, where=None):
        for row0, cols in self.base.chunks(numeric, categorical, chunk_rows, merge_rows,
                                           self._base_box(where)):
            yield row0, self._apply(dict(cols))

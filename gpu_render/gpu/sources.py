"""Device-resident sources: dicts of CuPy arrays and cuDF DataFrames, read without host copies.

Columns come out as device arrays (zero-copy through ``__cuda_array_interface__`` when they are
already float32/float64), so the GPU backend aggregates them where they are. Written against the
array module of the data (``get_xp``), so the same code runs on numpy arrays in tests.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..arrowcols import read_errors
from ..errors import RenderError
from ..filetable import FileTable
from ..table import Table
from ..xp import get_xp

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_array(col):
    """A cuDF Series / CuPy array as a CuPy (or numpy) array, NaN where cuDF has nulls."""
    if hasattr(col, "to_cupy"):                      # cudf.Series
        if col.dtype.kind in "fiub" and col.null_count:
            col = col.astype("float64")
            return col.to_cupy(na_value=np.nan)
        return col.to_cupy()
    return col


def device_numeric(name, col):
    arr = _as_array(col)
    xp = get_xp(arr)
    if arr.dtype in _FLOATS:
        return xp.ascontiguousarray(arr)
    if arr.dtype.kind in "iubf":
        return arr.astype(xp.float64)
    raise RenderError(f"column {name!r} has type {arr.dtype}, but x, y and value columns must be numeric.")


def device_categorize(name, col):
    """(codes on the device, labels on the host) of a category column."""
    if str(getattr(col, "dtype", "")) == "category":          # cudf categorical
        codes = col.cat.codes.astype("int32")
        codes = codes.where(~col.isnull(), -1) if col.null_count else codes
        return codes.to_cupy(), col.cat.categories.to_arrow().to_pylist()
    if hasattr(col, "to_cupy") and col.dtype.kind not in "iubf":  # cudf strings
        return device_categorize(name, col.astype("category"))
    arr = _as_array(col)
    xp = get_xp(arr)
    if arr.dtype.kind not in "iubf":
        raise RenderError(f"column {name!r} of type {arr.dtype} cannot be used as categories.")
    if arr.dtype.kind in "iub":
        labels = xp.unique(arr)
        if int(labels[0]) == 0 and int(labels[-1]) == labels.size - 1:
            codes = arr        # values are already the codes 0..k-1: used in place, no copy
        else:
            codes = xp.searchsorted(labels, arr).astype(xp.int32)
    else:
        keep = ~xp.isnan(arr)
        labels = xp.unique(arr[keep])
        codes = xp.where(keep, xp.searchsorted(labels, arr), -1).astype(xp.int32)
    host = labels.get() if hasattr(labels, "get") else labels
    return codes, host.tolist()


class DeviceTable(Table):
    """A dict of device arrays, or a cuDF DataFrame; chunks are device arrays."""

    def __init__(self, data, kind):
        self.data = data
        self.kind = kind
        self.names = list(data.columns) if hasattr(data, "columns") else list(data)
        self._codes = {}   # category codes are computed once per table (labels need a sort)

    def __len__(self):
        return len(self.data[self.names[0]]) if self.names else 0

    def _column(self, name):
        return self.data[name]

    def numeric(self, name):
        return device_numeric(name, self.data[name])

    def categorical(self, name):
        if name not in self._codes:
            self._codes[name] = device_categorize(name, self.data[name])
        return self._codes[name]


def cupy_dict(source):
    return DeviceTable(source, "dict of CuPy arrays")


def cudf_frame(source):
    return DeviceTable(source, "cuDF DataFrame")


MIN_CUDF = (25, 6)   # from_pylibcudf takes read_chunk()'s TableWithMetadata from 25.06 on


def _release(version: str) -> tuple:
    parts = []
    for p in str(version).split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def cudf_available() -> bool:
    """Whether cuDF's chunked Parquet reader can be used: cuDF (RAPIDS) 25.06 or later.

    24.12 has no ``ParquetReaderOptions``; on 25.02 and 25.04 ``DataFrame.from_pylibcudf``
    requires separate metadata and rejects the ``TableWithMetadata`` the reader returns. Older
    cuDF still serves in-memory cuDF frames; files are then read with pyarrow and uploaded."""
    try:
        import cudf
        import pylibcudf as plc
    except ImportError:
        return False
    return _release(getattr(cudf, "__version__", "0")) >= MIN_CUDF \
        and hasattr(plc.io.parquet, "ParquetReaderOptions")


def read_file(path: str, fmt: str, columns: list):
    """A Parquet file (or dataset) as a table read in device-budget-sized chunks by cuDF's
    chunked reader, or None (cuDF missing, or CSV / Arrow IPC, which cuDF would read whole):
    such files stream through pyarrow on the host and the GPU backend's pinned ``stage``."""
    if fmt != "Parquet" or not cudf_available():
        return None
    return CudfParquetTable(path, columns)


# Device memory of one chunked read, as shares of the budget: three output chunks live at once
# (being read, queued, being aggregated) plus one pass of compressed and decompressed pages.
CHUNK_SHARE = 1 / 6
PASS_SHARE = 1 / 2


def device_limits(budget_bytes: int):
    """(chunk_read_limit, pass_read_limit) in bytes for cuDF's chunked Parquet reader."""
    return max(1, int(budget_bytes * CHUNK_SHARE)), max(1, int(budget_bytes * PASS_SHARE))


def cudf_parquet_chunks(paths, columns, chunk_read_limit, pass_read_limit):
    """cuDF DataFrames of ``columns`` of the Parquet ``paths``, in row order, each bounded by the
    limits: the only code here that touches cuDF (pylibcudf's ``ChunkedParquetReader``)."""
    import cudf
    import pylibcudf as plc
    options = plc.io.parquet.ParquetReaderOptions.builder(plc.io.SourceInfo(list(paths))).build()
    options.set_columns(list(columns))
    reader = plc.io.parquet.ChunkedParquetReader(options, chunk_read_limit=int(chunk_read_limit),
                                                 pass_read_limit=int(pass_read_limit))
    while True:   # libcudf's protocol: read once, then while has_next()
        chunk = reader.read_chunk()
        yield cudf.DataFrame.from_pylibcudf(chunk)
        if not reader.has_next():
            return


def _current_device():
    """The current CUDA device id, or None without CuPy or under Numba's CUDA simulator (where
    CuPy may be installed but no driver answers)."""
    from numba import config
    if config.ENABLE_CUDASIM:
        return None
    try:
        import cupy
    except ImportError:
        return None
    return cupy.cuda.runtime.getDevice()


def _device_scope(device):
    """``device`` made current in the calling thread (chunks are read in the reader thread)."""
    if device is None:
        return contextlib.nullcontext()
    import cupy
    return cupy.cuda.Device(device)


@contextlib.contextmanager
def _cudf_errors(path):
    """libcudf reports unreadable files as RuntimeError: one RenderError naming the file."""
    try:
        yield
    except RuntimeError as exc:
        if isinstance(exc, (RecursionError, NotImplementedError)):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(f"could not read {path} as Parquet with cuDF: {msg}") from None


class CudfParquetTable(FileTable):
    """A Parquet file or dataset whose x/y/value chunks are decoded on the GPU by cuDF.

    Metadata, statistics, row counts and category labels come from pyarrow (``FileTable``), as
    do chunks with category columns (their codes must follow the labels of the whole file); the
    aggregation pass reads numeric columns with cuDF's chunked reader, sized from the budget."""

    chunk_reader = staticmethod(cudf_parquet_chunks)   # replaceable (tests use a fake)

    def __init__(self, path, columns):
        super().__init__(path, "Parquet", columns)
        self.kind = f"Parquet file {path} (cuDF)"
        self.device_budget = self.budget_bytes
        self.device = _current_device()

    def chunk_rows_for(self, budget_bytes, n_columns):
        self.device_budget = budget_bytes
        return super().chunk_rows_for(budget_bytes, n_columns)

    def rows_within(self, where=None):
        return self.estimated_rows   # the cuDF reader reads every row group

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None, where=None):
        if categorical:
            yield from super().chunks(numeric, categorical, chunk_rows, merge_rows, where)
            return
        # cuDF's chunked reader reads every row group (``where`` unused: no row is left out)
        chunk_limit, pass_limit = device_limits(self.device_budget)
        row0 = 0
        with read_errors(self.path, self.fmt), _cudf_errors(self.path), _device_scope(self.device):
            for df in self.chunk_reader(self.files, list(numeric), chunk_limit, pass_limit):
                n = len(df)
                if n == 0:
                    continue
                out = {c: device_numeric(c, df[c]) for c in numeric}
                del df
                yield row0, out
                row0 += n
        self._rows = row0

    def numeric(self, name):   # host passes keep pyarrow (chunks above give device arrays)
        parts = [c[name] for _, c in FileTable.chunks(self, [name], [])]
        return np.concatenate(parts) if parts else np.zeros(0)

"""Device-resident sources: dicts of CuPy arrays and cuDF DataFrames, read without host copies.

Columns come out as device arrays (zero-copy through ``__cuda_array_interface__`` when they are
already float32/float64), so the GPU backend aggregates them where they are. Written against the
array module of the data (``get_xp``), so the same code runs on numpy arrays in tests.
"""
from __future__ import annotations

import numpy as np

from ..errors import RenderError
from ..sources import Table
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


def read_file(path: str, fmt: str, columns: list):
    """Read ``columns`` of a Parquet or CSV file straight into GPU memory with cuDF, or None
    when cuDF is missing or the format is one cuDF is not used for here."""
    try:
        import cudf
    except ImportError:
        return None
    if fmt == "Parquet":
        df = cudf.read_parquet(path, columns=columns)
    elif fmt == "CSV":
        df = cudf.read_csv(path, usecols=columns)
    else:
        return None
    return DeviceTable(df, f"{fmt} file {path} (cuDF)")

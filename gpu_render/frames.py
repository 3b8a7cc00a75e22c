"""In-memory tables: a dict of arrays, pandas, polars and pyarrow tables, and the lookup from a
source object to its table (``memory_table``), device data (CuPy, cuDF) included."""
from __future__ import annotations

import numpy as np

from .errors import RenderError
from .table import Table, categorize, require_columns

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
            if col.null_count:   # (unsafe: integers beyond 2**53 round, as pandas' astype does)
                col = col.cast(pa.float64(), safe=False)
            return col.to_numpy()
        if pa.types.is_dictionary(col.type):
            return col
        if pa.types.is_decimal(col.type):
            return col.cast(pa.float64(), safe=False).to_numpy()
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




def check_arrays(data: dict) -> None:
    """A dict of arrays must hold 1-D columns of one length: the kernels read every column up to
    the table's length, so a shorter one would be read out of bounds."""
    shapes = {}
    for name, col in data.items():
        shape = col.shape if hasattr(col, "shape") else np.shape(col)
        if len(shape) != 1:
            what = (f"a single value ({type(col).__name__}), not an array; pass one value per point, "
                    "e.g. [value]" if not shape else
                    f"a {len(shape)}-D array of shape {tuple(shape)}; pass 1-D arrays, one value per "
                    "point (e.g. arr.ravel())")
            raise RenderError(f"column {name!r} of the dict of arrays is {what}.")
        shapes[name] = int(shape[0])
    if len(set(shapes.values())) > 1:
        shown = ", ".join(f"{name!r} has {n:,}" for name, n in shapes.items())
        raise RenderError(f"the columns of the dict of arrays differ in length ({shown} values); "
                          "every column must have one value per point.")


def _collect(lazy, columns):
    """A polars LazyFrame collected (polars' own ``.collect()``) with only ``columns`` selected,
    so the query computes and reads no others."""
    require_columns(columns, lazy.collect_schema().names(), "polars LazyFrame")
    return lazy.select(list(dict.fromkeys(columns))).collect() if columns else lazy.collect()


_ADAPTERS = {"pandas": PandasTable, "polars": PolarsTable, "pyarrow": ArrowTable}
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


def memory_table(source, columns=()) -> Table:
    """The table of an in-memory source (a dict of arrays, pandas, polars, pyarrow, cuDF, a dict
    of CuPy arrays) whose ``columns`` will be read; one clear error for anything else."""
    if isinstance(source, dict):
        check_arrays(source)
        device = _device_adapter(_root(next(iter(source.values())))) if source else None
        return device(source) if device is not None else DictTable(source)
    device = _device_adapter(_root(source))
    if device is not None:
        return device(source)
    root = _root(source)
    if root == "polars" and hasattr(source, "collect"):   # a LazyFrame: a query, run here
        source = _collect(source, columns)
    factory = _ADAPTERS.get(root)
    if factory is None or not hasattr(source, "columns" if root != "pyarrow" else "column_names"):
        raise RenderError(
            f"unsupported source of type {type(source).__name__}; pass a pandas, polars, "
            "pyarrow or dask table, a dict of arrays, or a path to a Parquet, CSV or Arrow file.")
    return factory(source)

"""Arrow columns as numpy arrays, and Arrow's read errors as one sentence: what every file reader
(``parquetreader``, ``ipcreader``, ``csvreader``) and the tables over them share.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .errors import RenderError
from .table import DURATION, SINCE_1970, not_numeric


def lean_pool():
    """Arrow's jemalloc pool, set to return freed memory at once: with it, a file's RSS follows
    a small memory budget (pyarrow's default mimalloc pool keeps tens of MiB per thread), at the
    cost of page faults on every new buffer (CSV parsing measured about 40% slower)."""
    import pyarrow as pa
    global _POOL
    if _POOL is None:
        try:
            _POOL = pa.jemalloc_memory_pool()
            pa.jemalloc_set_decay_ms(0)
        except (NotImplementedError, pa.ArrowNotImplementedError):
            _POOL = pa.default_memory_pool()
    return _POOL


_POOL = None


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def read_errors(path, fmt, names=None):
    """Turn pyarrow / OS errors while reading ``path`` into one RenderError sentence; a CSV
    column number in pyarrow's message becomes the column's name (``names``: the header)."""
    import pyarrow as pa
    try:
        yield
    except RenderError:
        raise
    except (pa.ArrowException, OSError, EOFError, ValueError) as exc:
        raise RenderError(f"could not read {path} as {fmt}: {name_columns(_first_line(exc), names)}") from None


def name_columns(msg: str, names) -> str:
    """pyarrow's "In CSV column #3" -> "in column 'name'" (``names``: the file's header)."""
    import re
    if not names:
        return msg
    return re.sub(r"In CSV column #(\d+)", lambda m: f"in column {names[int(m.group(1))]!r}"
                  if int(m.group(1)) < len(names) else m.group(0), msg)


def to_numeric(name, arr, pool=None) -> np.ndarray:
    """An Arrow array as float32/float64 numpy; nulls become NaN; zero-copy for floats without nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc
    t = arr.type
    if pa.types.is_floating(t):
        if t == pa.float16():
            arr = arr.cast(pa.float32())
        if arr.null_count:
            arr = pc.coalesce(arr, pa.scalar(float("nan"), arr.type), memory_pool=pool)
        return view(arr)
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        # unsafe: integers beyond 2**53 round to the nearest float64, as pandas' astype does
        arr = pc.cast(arr, pa.float64(), safe=False, memory_pool=pool)
        if arr.null_count:
            arr = pc.coalesce(arr, pa.scalar(float("nan"), arr.type), memory_pool=pool)
        return view(arr)
    if pa.types.is_dictionary(t) and _is_number(t.value_type):   # e.g. a Categorical of floats
        return to_numeric(name, arr.dictionary_decode(), pool)
    raise not_numeric(name, *_held(t))


def _is_number(t) -> bool:
    import pyarrow as pa
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)


def _held(t) -> tuple:
    """(what a non-numeric Arrow column of type ``t`` holds, in words; ``not_numeric``'s ``as_int``)."""
    import pyarrow as pa
    if pa.types.is_timestamp(t):
        return f"{'timezone-aware ' if t.tz else ''}dates and times, {t}", SINCE_1970
    if pa.types.is_date(t):
        return f"dates, {t}", SINCE_1970
    if pa.types.is_time(t):
        return f"times of day, {t}", "time since midnight"
    if pa.types.is_duration(t):
        return f"durations, {t}", DURATION
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return f"text, {t}", None
    return str(t), None


def view(arr) -> np.ndarray:
    """A numeric Arrow array without nulls as a numpy view of its data buffer. (``to_numpy``
    does the same but imports pandas on first use, 0.2 s, more than a command-line render of 1M
    rows spends reading.)"""
    import pyarrow as pa
    t = arr.type
    if isinstance(arr, pa.Array) and not arr.null_count and (pa.types.is_floating(t) or pa.types.is_integer(t)):
        dtype = np.dtype(arr.type.to_pandas_dtype())
        return np.frombuffer(arr.buffers()[1], dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    return arr.to_numpy(zero_copy_only=False)


def narrow(values: np.ndarray, pool=None) -> np.ndarray:
    """float64 -> float32, allocated from ``pool`` like the rest of a file's chunks (device
    arrays, from a GPU reader such as cuDF, are narrowed where they are)."""
    if hasattr(values, "__cuda_array_interface__"):
        return values.astype(np.float32)
    import pyarrow as pa
    import pyarrow.compute as pc
    out = pc.cast(pa.array(values), pa.float32(), safe=False, memory_pool=pool)
    return view(out)


def decode(arr):
    """A dictionary-encoded Arrow array as its plain values (others as they are)."""
    import pyarrow as pa
    if pa.types.is_dictionary(arr.type):
        return arr.dictionary_decode()
    return arr

"""Memory budgets: parsing ``memory_limit`` ('256MB', '1.5GiB', bytes) and the safe default."""
from __future__ import annotations

import re

from .errors import RenderError

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")

RAM_FRACTION = 0.25      # of available host RAM, by default
DEVICE_FRACTION = 0.5    # of free device memory, by default
MIN_BUDGET = 16 * 2**20  # below this, per-chunk overheads dominate
# Beyond the partial grids of every part, a render holds about two more grids of one part while
# merging and finalizing, and then SHADE_BYTES_PER_PIXEL for shading and PNG encoding (eq_hist's
# float arrays, RGBA pixels, PIL's copy, zlib). Measured as peak RSS per pixel of `gpu-render
# render` on 2 threads (tests/test_bad_input_cli.py): count 33-38 B, mean 53, by (5 categories)
# 56-64, std 100, which this model bounds with 40, 72, 104 and 104.
SHADE_BYTES_PER_PIXEL = 24


def parse_size(value, minimum=MIN_BUDGET) -> int:
    """Bytes from an int or a text such as '256MB', '1.5GiB', '800k' (at least ``minimum``)."""
    if isinstance(value, bool):
        raise RenderError(f"memory_limit must be a size such as '256MB', got {value!r}.")
    if isinstance(value, (int, float)):
        n = value
    else:
        m = _SIZE.match(str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise RenderError(f"memory_limit must be a size such as 256MB, 1.5GiB or a number of "
                              f"bytes, got {value!r}.")
        n = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if n < minimum:
        least = f"{minimum // 2**20} MiB" if minimum >= 2**20 else f"{minimum} byte(s)"
        raise RenderError(f"memory_limit {value!r} is below the {least} minimum.")
    return int(n)


def deprecated_alias(value, old_value, old_name: str, new_name: str = "memory_limit"):
    """``value``, or ``old_value`` given under the deprecated name ``old_name`` (with a
    DeprecationWarning); both at once is a mistake."""
    if old_value is None:
        return value
    if value is not None:
        raise RenderError(f"give {new_name} only: {old_name} is its deprecated old name.")
    import warnings
    warnings.warn(f"{old_name} is deprecated; use {new_name} (same meaning).", DeprecationWarning,
                  stacklevel=3)
    return old_value


def available_ram() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def budget(memory_limit, free_bytes=None) -> int:
    """The memory budget in bytes: ``memory_limit`` if given, else a safe fraction of available
    RAM and of the backend's ``free_bytes`` (device memory on the GPU; None: host work only)."""
    if memory_limit is not None:
        return parse_size(memory_limit)
    have = RAM_FRACTION * available_ram()
    if free_bytes is not None:
        have = min(have, DEVICE_FRACTION * free_bytes)
    return int(max(have, MIN_BUDGET))


def fmt_bytes(n) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"

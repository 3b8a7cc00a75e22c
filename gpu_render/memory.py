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


def parse_size(value) -> int:
    """Bytes from an int or a text such as '256MB', '1.5GiB', '800k'."""
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
    if n < MIN_BUDGET:
        raise RenderError(f"memory_limit {value!r} is below the {MIN_BUDGET // 2**20} MiB minimum.")
    return int(n)


def available_ram() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def budget(memory_limit, backend) -> int:
    """The memory budget in bytes: ``memory_limit`` if given, else a safe fraction of available
    RAM and of the backend's free memory (device memory on the GPU)."""
    if memory_limit is not None:
        return parse_size(memory_limit)
    have = min(RAM_FRACTION * available_ram(), DEVICE_FRACTION * backend.free_bytes())
    return int(max(have, MIN_BUDGET))


def fmt_bytes(n) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"

"""Device memory: an RMM pool behind CuPy and Numba, free-memory queries, chunk sizing, OOM retry.

``GPU_RENDER_RMM=0`` (or ``setup(rmm=False)``) leaves CuPy's own caching pool in charge; either
way repeated renders reuse device memory instead of paying for fresh allocations.
"""
from __future__ import annotations

import os

_STATE = {"rmm": None, "reason": "not set up"}
MIN_CHUNK_ROWS = 1 << 10
HEADROOM = 0.6          # share of free device memory a chunk may use


def rmm_wanted() -> bool:
    return os.environ.get("GPU_RENDER_RMM", "1").strip().lower() not in ("0", "false", "no", "off")


def setup(rmm: bool | None = None) -> str:
    """Route CuPy (and Numba, when no CUDA context exists yet) through an RMM pool; idempotent.

    Returns a sentence saying which allocator is in use, kept for ``info()``."""
    want = rmm_wanted() if rmm is None else rmm
    if _STATE["rmm"] is not None and _STATE["rmm"] == want:
        return _STATE["reason"]
    if not want:
        _STATE.update(rmm=False, reason="CuPy memory pool (RMM switched off)")
        return _STATE["reason"]
    try:
        import rmm
        from rmm.allocators.cupy import rmm_cupy_allocator
    except ImportError:
        _STATE.update(rmm=False, reason="CuPy memory pool (RMM is not installed)")
        return _STATE["reason"]
    import cupy
    rmm.reinitialize(pool_allocator=True)
    cupy.cuda.set_allocator(rmm_cupy_allocator)
    try:  # Numba's memory manager can only be swapped before its context exists
        from numba import cuda
        from rmm.allocators.numba import RMMNumbaManager
        cuda.set_memory_manager(RMMNumbaManager)
        numba_note = " and Numba"
    except Exception:  # noqa: BLE001 - context already created: Numba keeps its own allocator
        numba_note = ""
    _STATE.update(rmm=True, reason=f"RMM pool {rmm.__version__} backs CuPy{numba_note}")
    return _STATE["reason"]


def free_device_bytes(xp) -> int:
    """Device memory free for new arrays: the driver's free memory plus what pools hold unused."""
    if xp.__name__ == "numpy":  # the CUDA simulator: host memory stands in for device memory
        from cpu_fallback.backend import _available_memory
        return _available_memory()
    free, _total = xp.cuda.runtime.memGetInfo()
    pooled = xp.get_default_memory_pool()
    return int(free + pooled.free_bytes())


def chunk_rows(bytes_per_row: int, fixed_bytes: int, budget: int) -> int:
    """Rows per chunk so that chunk columns plus ``fixed_bytes`` of temporaries fit in ``budget``."""
    room = int(budget * HEADROOM) - fixed_bytes
    return max(MIN_CHUNK_ROWS, room // max(1, bytes_per_row))


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is a device out-of-memory error (CuPy, RMM, Numba or a host MemoryError)."""
    if isinstance(exc, MemoryError):       # rmm's bad_alloc and the simulator's host arrays
        return True
    name = type(exc).__name__
    if name == "OutOfMemoryError":          # cupy.cuda.memory.OutOfMemoryError
        return True
    if name == "CudaAPIError":               # numba: CUDA_ERROR_OUT_OF_MEMORY is code 2
        return getattr(exc, "code", None) == 2
    return "out of memory" in str(exc).lower() and name.endswith("Error")

"""Device memory: an RMM pool behind CuPy and Numba, free-memory queries, chunk sizing, OOM retry.

``GPU_RENDER_RMM=0`` (or ``setup(rmm=False)``) leaves CuPy's own caching pool in charge; either
way repeated renders reuse device memory instead of paying for fresh allocations.
"""
from __future__ import annotations

import os

import numpy as np

_STATE = {"rmm": None, "reason": "not set up"}
MIN_CHUNK_ROWS = 1 << 10
HEADROOM = 0.6          # share of free device memory a chunk may use


def rmm_wanted() -> bool:
    return os.environ.get("GPU_RENDER_RMM", "1").strip().lower() not in ("0", "false", "no", "off")


def setup(rmm: bool | None = None) -> str:
    """Route CuPy (and Numba, when no CUDA context exists yet) through RMM; idempotent.

    An RMM resource that someone else set up (dask-cuda's per-worker pool, the user's own
    ``rmm.reinitialize`` or ``set_current_device_resource``) is used as it is; only when nothing
    configured RMM does this create a pool (wrapped in a statistics adaptor, so free memory can
    be read from it). If RMM fails to start, CuPy's own pool is used. Returns a sentence saying
    which allocator is in use, kept for ``info()``."""
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
    existing = configured_elsewhere(rmm)
    if not existing:
        try:
            rmm.reinitialize(pool_allocator=True)
            pool = rmm.mr.get_current_device_resource()
            rmm.mr.set_current_device_resource(rmm.mr.StatisticsResourceAdaptor(pool))
        except Exception as exc:  # noqa: BLE001 - e.g. no memory for the pool: CuPy's pool serves
            _STATE.update(rmm=False, reason=f"CuPy memory pool (RMM could not start: "
                                            f"{type(exc).__name__}: {exc})")
            return _STATE["reason"]
    cupy.cuda.set_allocator(rmm_cupy_allocator)
    try:  # Numba's memory manager can only be swapped before its context exists
        from numba import cuda
        from rmm.allocators.numba import RMMNumbaManager
        cuda.set_memory_manager(RMMNumbaManager)
        numba_note = " and Numba"
    except Exception:  # noqa: BLE001 - context already created: Numba keeps its own allocator
        numba_note = ""
    what = f"the RMM resource set up before ({existing})" if existing else "an RMM pool"
    _STATE.update(rmm=True, reason=f"{what} (rmm {rmm.__version__}) backs CuPy{numba_note}")
    return _STATE["reason"]


def configured_elsewhere(rmm) -> str | None:
    """The name of the RMM resource someone else configured (dask-cuda, the user), else None."""
    mr = rmm.mr.get_current_device_resource()
    name = type(mr).__name__
    if rmm.is_initialized() or name != "CudaMemoryResource":
        return name
    return None


def _resource_chain(mr):
    """``mr`` and its upstream resources, outermost first."""
    while mr is not None:
        yield mr
        mr = getattr(mr, "upstream_mr", None)   # adaptors have one, base resources do not


def rmm_pool_free(rmm) -> int:
    """Bytes an RMM pool holds unused (0 without a pool). Used bytes come from a statistics
    adaptor in the chain; a pool without one counts as unused (an OOM then halves the chunks)."""
    pool_size, used = 0, 0
    for mr in _resource_chain(rmm.mr.get_current_device_resource()):
        kind = type(mr).__name__
        if kind == "StatisticsResourceAdaptor":
            used = _current_bytes(mr.allocation_counts)
        elif kind == "PoolMemoryResource":
            pool_size = int(mr.pool_size())
    return max(0, pool_size - used)


def _current_bytes(counts) -> int:
    """``current_bytes`` of RMM's allocation counts (a dict before rmm 25.08, then Statistics)."""
    try:
        return int(counts["current_bytes"])
    except TypeError:
        return int(counts.current_bytes)


def free_device_bytes(xp) -> int:
    """Device memory free for new arrays: the driver's free memory plus what the allocator's
    pool holds unused (RMM's pool when RMM is the allocator, else CuPy's)."""
    if xp.__name__ == "numpy":  # the CUDA simulator: host memory stands in for device memory
        from cpu_fallback.backend import _available_memory
        return _available_memory()
    free, _total = xp.cuda.runtime.memGetInfo()
    if _STATE["rmm"]:
        import rmm
        return int(free + rmm_pool_free(rmm))
    return int(free + xp.get_default_memory_pool().free_bytes())


def host_to_device(xp, array):
    """A host array copied to a new device array straight from its (pageable) memory:
    ``cupy.asarray`` would stage it through CuPy's pinned pool, which keeps that much
    page-locked host memory cached (GBs for a large in-memory source)."""
    out = xp.empty(array.shape, array.dtype)
    out.set(np.ascontiguousarray(array))
    return out


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

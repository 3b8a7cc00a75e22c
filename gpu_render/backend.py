"""The contract every compute backend implements, and the one place a backend is chosen.

A backend puts columns where it computes, allocates partial planes and aggregates a chunk into
them. Merging and finalizing partials is array-namespace code (``planes``), shared by all
backends. Selection is by capability probe, done once, with the reason kept for ``info()``.
"""
from __future__ import annotations

import abc
import functools
import importlib

import numpy as np

from . import planes as P
from .errors import RenderError
from .xp import to_host


class Backend(abc.ABC):
    """The contract of a compute backend, declared once (as xarray's ``BackendEntrypoint``).

    A backend supplies ``xp``, its kernels (``new_partial``, ``aggregate``) and what it knows of
    its memory (``free_bytes``, ``describe``); every other hook the pipeline, profiles and tables
    call is declared here with a default that is right for a backend that computes in host
    memory. Flags are class attributes. Reading files is not a backend's business (``sources``
    opens files, with cuDF where the kernels read device memory), nor is running on a cluster
    (``distributed`` runs the pipeline's loop on each worker's own backend).
    """

    name: str = ""            # "cpu" or "gpu"
    xp = np                   # the array namespace of the planes and results (numpy or cupy)
    parts: int = 1            # independent partial grids the kernels write (CPU threads; 1 on GPU)
    merge_rows: int | None = None   # join a file's row groups only up to about this many rows
    #                                 (None: the chunk rows of the memory budget)
    narrow_float64: bool = False    # float64 file coordinates are aggregated as float32 by
    #                                 default where that moves no point by 1/16 pixel (worth it
    #                                 where it halves copies and memory: the GPU)

    # -- the kernels (no default) ----------------------------------------------------------
    @abc.abstractmethod
    def new_partial(self, plan) -> list:
        """Fresh planes, one dict per group of ``plan`` (see ``planes.new_planes``)."""

    @abc.abstractmethod
    def aggregate(self, plan, partial, columns: dict, row0: int = 0) -> None:
        """Accumulate one chunk into ``partial`` (``columns``: name -> what ``kernel_input`` or
        ``stage`` gave; ``row0``: the chunk's first row number, for first/last)."""

    @abc.abstractmethod
    def free_bytes(self) -> int:
        """Memory the partial grids and chunks may use, in bytes."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """Device, memory and library versions, for ``info()``."""

    # -- moving data ------------------------------------------------------------------------
    def kernel_input(self, array):
        """``array`` in the form ``aggregate`` reads (default: a contiguous host array; a device
        backend keeps device arrays in place)."""
        return np.ascontiguousarray(to_host(array))

    def stage(self, columns: dict) -> dict:
        """Start moving a host chunk to where the kernels read it, ahead of ``aggregate``
        (called in the reader thread, so the move overlaps the previous chunk's kernels).
        Default: nothing to move; the chunk is returned as it is."""
        return columns

    def to_host(self, array):
        """A result array as numpy."""
        return to_host(array)

    # -- merging and finalizing (array-namespace code, shared) ------------------------------
    def combine(self, plan, a: list, b: list) -> list:
        """Merge two partials of ``plan`` (``a`` holds the earlier rows) into one with one part."""
        return [P.concat(g.kind, pa, pb, self.xp) for g, pa, pb in zip(plan.groups, a, b)]

    def finalize(self, plan, partial, float_counts=False) -> dict:
        """{output name: flat result array} for every reduction of ``plan``; ``float_counts``:
        counts are fractional weights (a decayed stream) and stay float64."""
        merged = [{k: v[:plan.group_size(g)] for k, v in P.collapse(g.kind, planes, self.xp).items()}
                  for g, planes in zip(plan.groups, partial)]
        out = {}
        for name, red, gi in plan.outputs:
            dtype = np.float64 if (float_counts and red.dtype.kind == "u") else red.dtype
            out[name] = red.finalize(merged[gi], self.xp).astype(dtype, copy=False)
        return out

    # -- scheduling and measuring ------------------------------------------------------------
    def warm_up(self) -> None:
        """One-off set-up of the kernels' compiler, done while a reader thread fetches the first
        chunk so the two overlap. Default: nothing."""

    def synchronize(self) -> None:
        """Wait for queued copies and kernels (profiles time work, not queueing). Default:
        nothing, the kernels run synchronously."""

    def share_cores(self, reader_bound: bool, parallel_reader: bool = False) -> None:
        """Told after each chunk of a streamed file whether the reader thread is the bottleneck
        and whether it decodes on a pool of threads (kernels sharing host cores may then leave
        it some). Default: nothing."""

    def reset_peak(self) -> None:
        """Start a new measurement for ``peak_bytes``. Default: nothing."""

    def peak_bytes(self) -> int | None:
        """Peak memory the backend's own allocations reached since ``reset_peak``, for
        profiles; None where the backend's memory is the process's (profiles report peak RSS)."""
        return None

    def transfer_stats(self) -> dict | None:
        """Cumulative counters of ``stage``'s copies (chunks, bytes, pinned_bytes, stage_s,
        slot_wait_s), for profiles; None where ``stage`` moves nothing."""
        return None

    def bounds(self, array) -> tuple:
        """(min, max) of the finite values of ``array``; (inf, -inf) when there are none."""
        arr = to_host(array)
        arr = arr[np.isfinite(arr)]
        return (float(arr.min()), float(arr.max())) if arr.size else (np.inf, -np.inf)


# Probes return (backend or None, reason). Modules are imported only when probed.
_PROBES = {"gpu": "gpu_render.gpu.backend", "cpu": "cpu_fallback.backend"}


@functools.lru_cache(maxsize=None)
def probe(name: str, explicit: bool = False):
    """Import and probe a backend once; returns (backend or None, reason)."""
    try:
        mod = importlib.import_module(_PROBES[name])
    except ImportError as exc:
        return None, f"no {name.upper()} backend installed ({exc})"
    return mod.probe(explicit=explicit)


def select(name: str = "auto") -> Backend:
    """Return the backend for ``backend=`` ('auto', 'cpu' or 'gpu')."""
    if name == "auto":
        gpu, _ = probe("gpu")
        if gpu is not None:
            return gpu
        return select("cpu")
    if name not in _PROBES:
        raise RenderError(f"unknown backend {name!r}; use 'auto', 'cpu' or 'gpu'.")
    backend, reason = probe(name, explicit=True)
    if backend is None:
        raise RenderError(f"backend={name!r} is not usable: {reason}.")
    return backend


_LAST_USED = [None]   # the backend of this process's latest aggregation


def record_used(name: str) -> None:
    """Note which backend (``'cpu'``, ``'gpu'``, or e.g. ``'cpu+gpu'`` on Dask) just aggregated,
    for ``info()['last_used']`` and the ``gpu_render`` logger (results' attrs stay datashader's)."""
    import logging
    _LAST_USED[0] = name
    logging.getLogger("gpu_render").info("aggregated on the %s backend", name)


def info() -> dict:
    """Which backend ``auto`` picks and why, with each backend's details, and ``last_used``: the
    backend of the latest aggregation in this process (None before the first)."""
    gpu, gpu_reason = probe("gpu")
    cpu, cpu_reason = probe("cpu")
    chosen = gpu if gpu is not None else cpu
    return {
        "auto": chosen.name if chosen is not None else None,
        "reason": gpu_reason if gpu is not None else f"CPU fallback: {gpu_reason}",
        "gpu": gpu.describe() if gpu is not None else {"usable": False, "reason": gpu_reason},
        "cpu": cpu.describe() if cpu is not None else {"usable": False, "reason": cpu_reason},
        "last_used": _LAST_USED[0],
    }

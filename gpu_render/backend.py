"""The backend protocol every compute backend implements, and the one place a backend is chosen.

A backend puts columns where it computes, allocates partial planes and aggregates a chunk into
them. Merging and finalizing partials is array-namespace code (``planes``), shared by all
backends. Selection is by capability probe, done once, with the reason kept for ``info()``.
"""
from __future__ import annotations

import functools
import importlib
from typing import Protocol, runtime_checkable

from . import planes as P
from .errors import RenderError
from .xp import to_host


@runtime_checkable
class Backend(Protocol):
    name: str          # "cpu" or "gpu"
    xp: object         # numpy or cupy
    parts: int         # independent partial grids the kernels write (threads on CPU, 1 on GPU)

    def to_device(self, array):
        """Return ``array`` where the kernels read it (zero-copy where it already is)."""

    def new_partial(self, plan) -> list:
        """Fresh planes, one dict per group of ``plan`` (see ``planes.new_planes``)."""

    def aggregate(self, plan, partial, columns: dict, row0: int) -> None:
        """Accumulate one chunk (``columns``: name -> device array; ``row0``: its first row)."""

    def combine(self, plan, a: list, b: list) -> list:
        """Merge two partials (``a`` holds the earlier rows); see ``BackendBase``."""

    def finalize(self, plan, partial) -> dict:
        """{output name: flat result on the device}; see ``BackendBase``."""

    def to_host(self, array):
        """Bring a result array to host memory as numpy."""

    def free_bytes(self) -> int:
        """Memory the partial grids may use."""

    def describe(self) -> dict:
        """Device, memory and library versions, for ``info()``."""

    # Optional, found with getattr by the file-streaming pipeline:
    #   upload(columns: dict) -> dict   start copying a host chunk to the device (pinned staging
    #                                   buffers, a copy stream); called from the reader thread
    #   synchronize()                   wait for queued kernels (used when profiling)
    #   peak_bytes() -> int             peak device memory, for profiles
    #   share_cores(reader_bound, parallel_reader)  told after each chunk whether the reader
    #                                   thread is the bottleneck and whether it decodes on a
    #                                   pool of threads (CPU: kernels then leave it cores)
    #   merge_rows = N                  join a file's row groups only up to about N rows
    #                                   (default: the chunk rows of the memory budget)
    #   narrow_float64 = True           float64 file coordinates are narrowed to float32 by
    #                                   default (where under 1/16 pixel): worth it on a GPU


class BackendBase:
    """What every backend shares: combining and finalizing partials is array-namespace code
    (``planes``), so a backend only supplies ``xp`` and its kernels."""

    xp = None

    def combine(self, plan, a: list, b: list) -> list:
        """Merge two partials of ``plan`` (``a`` holds the earlier rows) into one with one part."""
        return [P.concat(g.kind, pa, pb, self.xp) for g, pa, pb in zip(plan.groups, a, b)]

    def finalize(self, plan, partial) -> dict:
        """{output name: flat result array on the device} for every reduction of ``plan``."""
        merged = [{k: v[:plan.group_size(g)] for k, v in P.collapse(g.kind, planes, self.xp).items()}
                  for g, planes in zip(plan.groups, partial)]
        return {name: red.finalize(merged[gi], self.xp).astype(red.dtype, copy=False)
                for name, red, gi in plan.outputs}

    def to_host(self, array):
        """``array`` as a numpy array."""
        return to_host(array)

    def warm_up(self):
        """Do one-off set-up of the kernels' compiler now (called while a reader thread fetches
        the first chunk, so the two overlap). Nothing by default."""


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


def info() -> dict:
    """Which backend ``auto`` picks and why, with each backend's details."""
    gpu, gpu_reason = probe("gpu")
    cpu, cpu_reason = probe("cpu")
    chosen = gpu if gpu is not None else cpu
    return {
        "auto": chosen.name if chosen is not None else None,
        "reason": gpu_reason if gpu is not None else f"CPU fallback: {gpu_reason}",
        "gpu": gpu.describe() if gpu is not None else {"usable": False, "reason": gpu_reason},
        "cpu": cpu.describe() if cpu is not None else {"usable": False, "reason": cpu_reason},
    }

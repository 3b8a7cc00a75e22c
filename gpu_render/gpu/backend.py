"""GPU backend: CuPy arrays in device memory and the Numba CUDA kernels of ``kernels``.

One partial grid (``parts`` = 1): every block of the grid writes the same planes with atomics,
the kernels keeping contention down (see ``kernels``). Host data is copied to the device in
chunks sized from free device memory; a CUDA out-of-memory error retries with half the rows.
Chunks of streamed files are instead copied ahead, in the reader thread, through pinned staging
buffers on a copy stream (``stage``, see ``transfer``), so a copy overlaps the previous kernels.
Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the same kernels run with numpy in
place of CuPy, but only when ``backend='gpu'`` is asked for explicitly.
"""
from __future__ import annotations

import math
import os

import numpy as np

from gpu_render import planes as P
from gpu_render.backend import Backend
from gpu_render.errors import RenderError
from gpu_render.xp import to_host

from . import memory as M
from . import transfer as T


def _simulated() -> bool:
    from numba import config
    return bool(config.ENABLE_CUDASIM) or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _numba_cuda():
    """numba.cuda, or None when it cannot be imported."""
    try:
        from numba import cuda
    except ImportError:
        return None
    return cuda


def _cupy():
    """cupy, or None when it is not installed."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _on_device(array) -> bool:
    return hasattr(array, "__cuda_array_interface__")


def warp_aggregate_default() -> bool:
    """``GPU_RENDER_WARP_AGG=1`` turns on the warp-aggregated count kernels for grids too large
    for shared memory (``kernels.get``); off by default until a GPU has timed both variants."""
    return os.environ.get("GPU_RENDER_WARP_AGG", "0").strip().lower() in ("1", "true", "yes", "on")


class GPUBackend(Backend):
    """Aggregates with Numba CUDA kernels into CuPy planes (numpy ones under the simulator)."""

    name = "gpu"
    parts = 1
    narrow_float64 = True    # float32 coordinates halve the copies and the device memory

    def __init__(self, xp, simulated=False):
        from numba import cuda
        self.xp = xp
        self.simulated = simulated
        self._cuda = cuda
        self.budget_bytes = None     # overrides the free-memory query (tests, --memory limits)
        self.shared_slots = None     # largest grid for shared-memory histograms (None: kernels')
        self.warp_aggregate = warp_aggregate_default()   # warp-aggregated count kernels
        self.allocator = "host memory (CUDA simulator)" if simulated else M.setup()
        self.cc = None               # compute capability: the kernels' register caps
        if simulated:
            self.max_blocks = 2
        else:
            dev = cuda.get_current_device()
            self.max_blocks = dev.MULTIPROCESSOR_COUNT * 8
            self.cc = tuple(dev.compute_capability)
        self._no_vals = xp.zeros(1, np.float64)
        self._no_cats = xp.zeros(1, np.int32)
        self._spares = {}
        self.stager = T.Stager(T.SimulatorDriver(cuda) if simulated else T.CupyDriver(xp))
        self._peak = 0

    # -- the Backend contract ------------------------------------------------------------
    def kernel_input(self, array):
        """Device arrays are used in place; host arrays stay on the host and are copied to the
        device chunk by chunk in ``aggregate`` (so data larger than device memory never is whole)."""
        if isinstance(array, T.Staged):   # uploaded: ``aggregate`` waits for its copy
            return array
        if self.simulated:
            return np.ascontiguousarray(to_host(array))
        if _on_device(array):
            return self.xp.asarray(array)
        return np.ascontiguousarray(array)

    def new_partial(self, plan):
        return [P.new_planes(g.kind, 1, plan.slots(g), self.xp, g.n) for g in plan.groups]

    def stage(self, cols):
        """Start the asynchronous copy of a host chunk to the device (called by the pipeline in
        its reader thread, so the copy overlaps the kernels of the previous chunk). Out of
        device memory, the chunk stays on the host and ``aggregate`` copies it piecewise."""
        try:
            return self.stager.upload(cols)
        except RenderError:
            raise
        except Exception as exc:  # noqa: BLE001 - one clear error from the reader thread
            if M.is_oom(exc):
                self._release()
                return cols
            n = len(next(iter(cols.values()))) if cols else 0
            raise RenderError(f"copying a chunk of {n:,} rows to the GPU failed "
                              f"({type(exc).__name__}: {exc}).") from exc

    def synchronize(self):
        """Wait for every queued copy and kernel (profiles time the work, not its queueing)."""
        self._cuda.synchronize()

    def reset_peak(self):
        self._peak = 0

    def peak_bytes(self):
        """Peak device memory of this backend's renders since ``reset_peak``: the largest of the
        memory pool's bytes in use (CuPy's pool; RMM's statistics when enabled) and the bytes of
        planes, chunk pieces and temporaries the backend itself had allocated at once (the only
        measure under the simulator)."""
        return self._peak

    def _note_peak(self, tracked):
        used = tracked
        if not self.simulated:
            used = max(used, int(self.xp.get_default_memory_pool().used_bytes()))
            try:
                import rmm.statistics
                stats = rmm.statistics.get_statistics()
                if stats is not None:
                    used = max(used, int(stats.peak_bytes))
            except (ImportError, AttributeError):
                pass
        self._peak = max(self._peak, used)

    def transfer_stats(self):
        """Chunks and bytes copied through the pinned ring, and the reader thread's seconds spent
        writing pinned memory / waiting for a free buffer (cumulative, for profiles)."""
        return dict(self.stager.stats)

    def finalize(self, plan, partial, float_counts=False):
        self.stager.finish()
        return super().finalize(plan, partial, float_counts)

    def free_bytes(self):
        return int(self.budget_bytes) if self.budget_bytes is not None else M.free_device_bytes(self.xp)

    def aggregate(self, plan, partial, columns, row0=0):
        """Aggregate ``columns`` in chunks that fit in device memory, halving them on OOM."""
        columns, held = self.stager.receive(columns)
        try:
            self._aggregate(plan, partial, columns, row0)
        finally:   # uploaded device arrays live on until the kernels reading them have run
            self.stager.retire(held)

    def _aggregate(self, plan, partial, columns, row0):
        n = len(columns[plan.x])
        if n == 0:
            return
        host_bytes = sum(v.dtype.itemsize for v in columns.values() if not _on_device(v))
        temp = sum(plan.slots(g) * 28 for g in plan.groups if g.kind == P.VAR)  # var temporaries
        rows = n if host_bytes == 0 and self.budget_bytes is None else \
            min(n, M.chunk_rows(host_bytes or 1, temp, self.free_bytes()))
        start = 0
        while start < n:
            stop = min(n, start + rows)
            try:
                self._piece(plan, partial, {k: v[start:stop] for k, v in columns.items()}, row0 + start)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are retried
                if not M.is_oom(exc):
                    raise
                if rows <= M.MIN_CHUNK_ROWS:
                    raise RenderError("the GPU ran out of memory even for chunks of "
                                      f"{rows} rows; free GPU memory or use backend='cpu'.") from None
                rows = max(M.MIN_CHUNK_ROWS, rows // 2)
                self._release()
                continue
            start = stop

    def bounds(self, array):
        """(min, max) of the finite values, computed where the array lives."""
        if not _on_device(array) or self.simulated:
            import numba

            from ..hostkernels.bounds import finite_bounds
            return finite_bounds(np.ascontiguousarray(to_host(array)), numba.get_num_threads())
        from . import reduce
        return reduce.finite_bounds(self.xp.asarray(array))

    def describe(self):
        import numba
        info = {"usable": True, "simulated": self.simulated, "numba": numba.__version__,
                "allocator": self.allocator}
        for mod in ("numba_cuda", "cupy", "rmm", "cudf", "dask_cuda"):
            try:
                info[mod.replace("_", "-")] = __import__(mod).__version__
            except Exception:  # noqa: BLE001 - absent or broken: reported as missing
                info[mod.replace("_", "-")] = None
        if self.simulated:
            info["device"] = "Numba CUDA simulator"
            return info
        dev = self._cuda.get_current_device()
        free, total = self.xp.cuda.runtime.memGetInfo()
        info.update(device=dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name),
                    compute_capability=".".join(map(str, dev.compute_capability)),
                    multiprocessors=dev.MULTIPROCESSOR_COUNT,
                    memory_total_bytes=int(total), memory_free_bytes=int(free))
        return info

    # -- one chunk -------------------------------------------------------------------------
    def _release(self):
        if not self.simulated:
            self.xp.get_default_memory_pool().free_all_blocks()

    def _device_copy(self, array):
        """A device array of ``array``: device arrays as they are, host ones copied unpinned."""
        return self.xp.asarray(array) if _on_device(array) else M.host_to_device(self.xp, array)

    def _alloc_piece(self, plan, columns):
        """Every device allocation of a chunk, done before any kernel writes into the partial,
        so an out-of-memory error leaves the partial untouched and the chunk can be retried."""
        xp = self.xp
        put = np.array if self.simulated else self._device_copy   # the simulator writes arguments back
        cats = {g.cat for g in plan.groups if g.cat is not None}
        # category codes come as int8..int64 (pandas, Arrow, polars); all lie in [-1, ncat), so
        # int32 holds them and every kernel is compiled for one code type
        dev = {k: put(v).astype(np.int32, copy=False) if k in cats else put(v)
               for k, v in columns.items()}
        params = xp.asarray(plan.viewport.params)
        temps = [P.new_planes(P.VAR, 1, plan.slots(g), xp) if g.kind == P.VAR else None
                 for g in plan.groups]
        return dev, params, temps

    def _piece(self, plan, partial, columns, row0):
        from . import kernels as K
        xp = self.xp
        dev, params, temps = self._alloc_piece(plan, columns)
        self._note_peak(sum(v.nbytes for pl in partial for v in pl.values())
                        + sum(v.nbytes for v in dev.values())
                        + sum(v.nbytes for t in temps if t for v in t.values()))
        vp = plan.viewport
        xs, ys = dev[plan.x], dev[plan.y]
        n = xs.shape[0]
        blocks = max(1, min(math.ceil(n / K.TILE), self.max_blocks))
        launch = (blocks, K.TPB)
        limit = K.SMEM_SLOTS if self.shared_slots is None else min(self.shared_slots, K.SMEM_SLOTS)
        updates = []
        # var/std groups first: they allocate (cell means, merged planes) and write only their
        # temporaries, so an out-of-memory error leaves the partial untouched for the retry;
        # the other kernels allocate nothing, and the merged results are written last. Ranked
        # groups (array code that allocates as it writes) go last, after every kernel.
        rank = {P.VAR: 0, P.RANKED: 2}
        order = sorted(range(len(plan.groups)), key=lambda i: rank.get(plan.groups[i].kind, 1))
        for i in order:
            g, planes, temp = plan.groups[i], partial[i], temps[i]
            if g.kind == P.RANKED:   # array code over the rows' pixels, no kernel
                from .. import ranked
                ranked.append(plan, g, planes, dev, row0, xp)
                continue
            row = {k: v[0] for k, v in planes.items()}
            target = row if temp is None else {k: v[0] for k, v in temp.items()}
            cats = dev[g.cat] if g.cat is not None else self._no_cats
            vals = dev[g.column] if g.column is not None else self._no_vals
            args = (xs, ys, vals, cats, g.ncat, params, vp.width, vp.height, vp.x_log, vp.y_log,
                    g.cat is not None, np.int64(row0))
            shared = plan.group_size(g) <= limit
            for body, (out0, out1) in K.PASSES[g.kind]:
                if body == "m2":      # cell means of this chunk, from its sum pass
                    with np.errstate(divide="ignore", invalid="ignore"):
                        target["mean"] = target["sum"] / target["cnt"]
                sh = shared and body in K.SHARED_BODIES
                key = (body, sh, self.warp_aggregate and not sh and body in K.WARP_BODIES)
                first = target[out0]
                second = target[out1] if out1 is not None else self._spare(first.dtype)
                self._launch(key, launch, *args, first, second)
            if temp is not None:
                updates.append((row, P.merge(P.VAR, row, target, xp)))
        for row, new in updates:   # merged results computed first, written last
            for k, v in new.items():
                row[k][...] = v

    def _spare(self, dtype):
        """A one-element array of ``dtype`` for the plane argument a pass does not use (not the
        used plane twice: the simulator copies each argument back, the unused copy last)."""
        spare = self._spares.get(np.dtype(dtype))
        if spare is None:
            spare = self._spares[np.dtype(dtype)] = self.xp.zeros(1, dtype)
        return spare

    def hex_cells(self, xs, ys, vp_params, lat_params, xlog, ylog, dtype):
        """The cell number + 0.5 (as ``dtype``) of each point of device arrays ``xs``/``ys``
        (``hextable.HexBinning``): the host kernel's arithmetic, on the device."""
        from . import kernels as K
        xs, ys = self.kernel_input(xs), self.kernel_input(ys)
        out = self.xp.empty(len(xs), dtype)
        blocks = max(1, min(self.max_blocks, -(-len(xs) // K.TPB)))
        self._launch(K.HEX_CELLS, (blocks, K.TPB), xs, ys, self.xp.asarray(vp_params),
                     self.xp.asarray(lat_params), bool(xlog), bool(ylog), out)
        return out

    def _launch(self, key, launch, *args):
        """Run kernel ``key`` (``kernels.get``) on ``launch`` = (blocks, threads): the one place
        every kernel starts (tests record the argument types here to compile them to PTX)."""
        from . import kernels as K
        K.get(key, self.cc)[launch](*args)


def _driver_missing():
    """A reason when the NVIDIA driver library cannot be loaded at all, else None.

    One dlopen (about a millisecond) answers the common CPU-only case before importing
    numba.cuda, which costs most of a second of every CLI start."""
    import ctypes
    import sys
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return f"no NVIDIA driver ({name} cannot be loaded)"
    return None


def probe(explicit=False):
    """(GPUBackend or None, reason). ``auto`` (explicit=False) never picks the simulator."""
    if _simulated():
        if not explicit:
            return None, ("only Numba's CUDA simulator is enabled (NUMBA_ENABLE_CUDASIM=1), "
                          "which 'auto' never picks")
        if _numba_cuda() is None:
            return None, "numba-cuda is not installed"
        return GPUBackend(np, simulated=True), \
            "Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1) with numpy standing in for CuPy"
    missing = _driver_missing()
    if missing:
        return None, missing
    cuda = _numba_cuda()
    if cuda is None:
        return None, "numba-cuda is not installed"
    try:
        available = cuda.is_available()
    except Exception as exc:  # noqa: BLE001 - a broken driver reports here
        return None, f"numba.cuda cannot reach a CUDA driver ({exc})"
    if not available:
        return None, "no CUDA device (numba.cuda.is_available() is False)"
    cupy = _cupy()
    if cupy is None:
        return None, "CuPy is not installed"
    try:
        float(cupy.arange(4, dtype=cupy.float32).sum())
    except Exception as exc:  # noqa: BLE001 - e.g. a CuPy built for another CUDA version
        return None, f"CuPy does not work on this device ({type(exc).__name__}: {exc})"
    try:
        backend = GPUBackend(cupy)
    except Exception as exc:  # noqa: BLE001
        return None, f"the GPU backend could not start ({type(exc).__name__}: {exc})"
    return backend, f"CUDA device {backend.describe()['device']} with numba-cuda and CuPy"

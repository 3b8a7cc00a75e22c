"""Host-to-device copies that overlap the kernels: pinned staging buffers, a copy stream, events.

Why each piece:

* pinned (page-locked) host memory: the DMA engine can only read page-locked memory, so a copy
  from ordinary (pageable) memory is staged by the driver through a pinned bounce buffer and
  blocks the calling thread; from pinned memory it is a true asynchronous copy.
* a ring of ``RING`` (2) buffers: while one buffer's copy is in flight the next chunk is written
  into the other; more buffers would only hold more page-locked RAM (chunks are as big as the
  memory budget allows, so two copies in flight already keep the copy engine busy).
* a dedicated non-blocking copy stream: the kernels run on the legacy default stream, which
  serialises with every *blocking* stream; a non-blocking one lets a copy run beside the kernels.
* events: the copy records an event; the compute stream waits on it (on the device, the host
  does not block) before the kernels read the chunk, and a pinned buffer is written again only
  once its previous copy's event has completed (the host blocks then, which also bounds how far
  the reader runs ahead). Device arrays of a chunk, allocated in the copy stream's memory pool,
  are kept alive after the kernels are queued until a "consumed" event on the compute stream has
  completed, so the pool never hands memory the kernels still read to the next copy.

Device memory stays bounded: each chunk is one chunk of the pipeline's budget, at most the
prefetch queue's worth are staged ahead, and at most ``RING`` consumed chunks wait for their
kernels. ``Stager`` holds this logic once; a ``Driver`` supplies the primitives: CuPy on a GPU,
Numba's CUDA simulator API (streams, events, pinned arrays) under ``NUMBA_ENABLE_CUDASIM=1``.
"""
from __future__ import annotations

import collections
import contextlib
import threading
import time

import numpy as np

RING = 2           # pinned staging buffers
ALIGN = 256        # byte alignment of each column inside a staging buffer


class CupyDriver:
    """CUDA primitives through CuPy (the arrays the kernels read are CuPy arrays)."""

    simulated = False

    def __init__(self, cupy):
        self.cp = cupy
        self.device_id = cupy.cuda.runtime.getDevice()

    def context(self):
        """Make this backend's device current in the calling (reader) thread."""
        return self.cp.cuda.Device(self.device_id)

    def stream(self):
        return self.cp.cuda.Stream(non_blocking=True)

    def allocating_on(self, stream):
        return stream   # CuPy's pool keys allocations by the current stream

    def event(self):
        return self.cp.cuda.Event(block=False, disable_timing=True)

    def record(self, event, stream):
        event.record(stream)

    def wait(self, event):
        """The compute stream (the legacy default one, where Numba launches the kernels and
        CuPy runs by default) waits for ``event`` without blocking the host."""
        null = self.cp.cuda.Stream.null
        null.wait_event(event)
        current = self.cp.cuda.get_current_stream()
        if current.ptr != null.ptr:
            current.wait_event(event)

    def record_compute(self, event):
        event.record(self.cp.cuda.Stream.null)

    def synchronize(self, event):
        event.synchronize()

    def done(self, event):
        return bool(event.done)

    def pinned(self, nbytes):
        import cupyx
        return cupyx.empty_pinned((nbytes,), np.uint8)

    def empty(self, n, dtype):
        return self.cp.empty(n, dtype)

    def copy(self, dst, src, stream):
        dst.set(src, stream=stream)

    def array(self, dst):
        return dst


class SimulatorDriver:
    """The same primitives from Numba's CUDA simulator: its streams and events exist but every
    operation completes at once; device arrays are numpy arrays in disguise."""

    simulated = True

    def __init__(self, cuda):
        self.cuda = cuda

    def context(self):
        return contextlib.nullcontext()

    def stream(self):
        return self.cuda.stream()

    def allocating_on(self, stream):
        return contextlib.nullcontext()

    def event(self):
        return self.cuda.event()

    def record(self, event, stream):
        event.record(stream)

    def wait(self, event):
        event.wait(0)

    def record_compute(self, event):
        event.record(0)

    def synchronize(self, event):
        event.synchronize()

    def done(self, event):
        query = getattr(event, "query", None)
        return bool(query()) if query is not None else True

    def pinned(self, nbytes):
        return self.cuda.pinned_array(nbytes, np.uint8)

    def empty(self, n, dtype):
        return self.cuda.device_array(n, dtype)

    def copy(self, dst, src, stream):
        dst.copy_to_device(src, stream=stream)

    def array(self, dst):
        return dst.copy_to_host()


class Staged:
    """One column on its way to the device: ``array`` becomes valid once ``event`` completes."""

    __slots__ = ("array", "event", "stager")

    def __init__(self, array, event, stager):
        self.array, self.event, self.stager = array, event, stager

    def __len__(self):
        return len(self.array)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def nbytes(self):
        return int(self.array.nbytes)


class _Slot:
    __slots__ = ("buffer", "event")

    def __init__(self):
        self.buffer = None   # pinned uint8 array
        self.event = None    # completes when the last copy out of ``buffer`` has finished


def _aligned(n):
    return -(-n // ALIGN) * ALIGN


class Stager:
    """Copies host chunks to the device through a ring of pinned buffers on a copy stream.

    ``upload`` runs in the reader thread; ``receive`` and ``retire`` in the thread launching the
    kernels. A lock guards the ring, so concurrent renders sharing a backend stay correct."""

    def __init__(self, driver, ring=RING):
        self.driver = driver
        self.ring = [_Slot() for _ in range(max(1, ring))]
        self._next = 0
        self._stream = None
        self._lock = threading.Lock()
        self._inflight = collections.deque()   # (consumed event, device arrays) after kernels
        # for profiles: bytes and chunks copied, seconds writing pinned memory / waiting for a slot
        self.stats = {"chunks": 0, "bytes": 0, "stage_s": 0.0, "slot_wait_s": 0.0,
                      "pinned_bytes": 0}

    # -- reader thread -------------------------------------------------------------------------
    def upload(self, cols: dict) -> dict:
        """Start copying the host (numpy) columns of ``cols`` to the device; returns a dict whose
        host columns became ``Staged`` (device arrays already there are passed through)."""
        host = {k: v for k, v in cols.items() if isinstance(v, np.ndarray)}
        if not host:
            return cols
        d = self.driver
        with self._lock, d.context():
            if self._stream is None:
                self._stream = d.stream()
            slot = self.ring[self._next]
            self._next = (self._next + 1) % len(self.ring)
            t0 = time.perf_counter()
            if slot.event is not None:   # its previous copy may still be reading the buffer
                d.synchronize(slot.event)
                slot.event = None
            t1 = time.perf_counter()
            need = sum(_aligned(v.nbytes) for v in host.values())
            if slot.buffer is None or slot.buffer.nbytes < need:
                self.stats["pinned_bytes"] -= 0 if slot.buffer is None else slot.buffer.nbytes
                slot.buffer = None
                slot.buffer = d.pinned(need)
                self.stats["pinned_bytes"] += slot.buffer.nbytes
            out = dict(cols)
            event = d.event()
            off = 0
            try:
                with d.allocating_on(self._stream):
                    for k, v in host.items():
                        view = slot.buffer[off:off + v.nbytes].view(v.dtype).reshape(v.shape)
                        np.copyto(view, v)
                        off += _aligned(v.nbytes)
                        dev = d.empty(v.shape[0], v.dtype)
                        d.copy(dev, view, self._stream)
                        out[k] = Staged(dev, event, self)
            finally:   # also after a failure: copies already queued still read the buffer
                d.record(event, self._stream)
                slot.event = event
            self.stats["chunks"] += 1
            self.stats["bytes"] += sum(v.nbytes for v in host.values())
            self.stats["slot_wait_s"] += t1 - t0
            self.stats["stage_s"] += time.perf_counter() - t1
        return out

    # -- kernel thread -------------------------------------------------------------------------
    def receive(self, columns: dict):
        """(columns with Staged ones replaced by the arrays the kernels read, the device arrays to
        ``retire``); the compute stream first waits for each distinct copy event."""
        d = self.driver
        waited = set()
        out, held = {}, []
        for k, v in columns.items():
            if isinstance(v, Staged):
                if id(v.event) not in waited:
                    d.wait(v.event)
                    waited.add(id(v.event))
                held.append(v.array)
                out[k] = d.array(v.array)
            else:
                out[k] = v
        return out, held

    def retire(self, arrays: list):
        """Keep ``arrays`` alive until the kernels queued so far (which read them) finished."""
        if not arrays:
            return
        d = self.driver
        event = d.event()
        d.record_compute(event)
        with self._lock:
            self._inflight.append((event, arrays))
            while self._inflight and d.done(self._inflight[0][0]):
                self._inflight.popleft()
            while len(self._inflight) > len(self.ring):
                old, _ = self._inflight.popleft()
                d.synchronize(old)

    def finish(self):
        """Wait for every retired chunk's kernels and drop its device arrays."""
        with self._lock:
            while self._inflight:
                event, _ = self._inflight.popleft()
                self.driver.synchronize(event)

    @property
    def inflight(self):
        return len(self._inflight)

"""Profiling a render: wall time per stage, peak memory, rows/s (recorded here), and the
bottleneck named with advice measured on the user's own data (``advice``).

Stages are timed on the main thread's critical path, so they add up to the wall time:
``open`` (backend, budget, file metadata), ``scan`` (a first pass for ranges or categories), ``plan`` (the plan and
chunk sizes), ``read`` (waiting for
the next chunk; the reader runs ahead in a thread, its own busy time is ``read_busy``),
``transfer`` (to the device), ``aggregate``, ``finalize``, ``shade``, ``encode``.
When profiling is off the pipeline uses ``NO_PROFILE``, whose stages cost one function call.
"""
from __future__ import annotations

import threading
import time

from .advice import Advice
from .memory import fmt_bytes
from .stages import NO_PROFILE, STAGES, StageClock  # noqa: F401 - NO_PROFILE: re-exported


class Profile(StageClock, Advice):
    """Filled in by ``render(..., profile=Profile())``, ``render --profile`` or ``profile(...)``:
    the stages' clock and the render's measurements; ``stop`` adds the advice (``advice``)."""

    def __init__(self):
        super().__init__()
        self.wall = 0.0
        self.rows = 0             # rows read
        self.source_rows = None   # rows in the source (more than read where row groups were skipped)
        self.read_busy = 0.0
        self.peak_rss = 0
        self.peak_device = None
        self.chunks = 0
        self.chunk_rows = None
        self.budget = None
        self.source = None        # the FileTable (or None for in-memory data)
        self.job = None
        self.notes = []
        self.warmup = 0.0
        self.advice = []
        self.bottleneck = None
        self.decode_alone_s = self.aggregate_alone_s = None   # parallel readers: see _costs_alone
        self.upload = None        # the GPU's pinned-buffer copies during the render (see stop)
        self._upload_stats = None
        self._t0 = None
        self._stop = None

    # ---- measuring -------------------------------------------------------------------------
    def start(self, backend="auto"):
        """Start the clock (after ``warm_up``, which is timed apart as ``warmup``)."""
        import psutil
        self.warmup = warm_up(backend)
        self._upload_stats = _upload_stats(backend)
        proc = psutil.Process()
        self._stop = threading.Event()
        self.peak_rss = proc.memory_info().rss

        def sample():
            while not self._stop.wait(0.02):
                self.peak_rss = max(self.peak_rss, proc.memory_info().rss)

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()
        self._t0 = time.perf_counter()
        return self

    @property
    def started(self):
        return self._t0 is not None

    def stop(self):
        self.wall = time.perf_counter() - self._t0
        self._stop.set()
        self._sampler.join()
        import psutil
        self.peak_rss = max(self.peak_rss, psutil.Process().memory_info().rss)
        before, after = self._upload_stats, _upload_stats(self.job.backend if self.job else None)
        if before is not None and after is not None and after["chunks"] > before["chunks"]:
            self.upload = {k: after[k] - before[k] for k in ("chunks", "bytes", "stage_s", "slot_wait_s")}
            self.upload["pinned_bytes"] = after["pinned_bytes"]
        self._analyse()
        return self

    @property
    def rows_per_s(self):
        return self.rows / self.wall if self.wall else 0.0

    # ---- output ----------------------------------------------------------------------------
    def to_dict(self):
        return {"wall_s": self.wall, "stages_s": dict(self.stages), "read_busy_s": self.read_busy,
                "warmup_s": self.warmup, "rows": self.rows, "source_rows": self.source_rows, "rows_per_s": self.rows_per_s, "peak_rss_bytes": self.peak_rss,
                "peak_device_bytes": self.peak_device, "chunks": self.chunks,
                "chunk_rows": self.chunk_rows, "memory_budget_bytes": self.budget,
                "upload": dict(self.upload) if self.upload else None,
                "decode_alone_s": self.decode_alone_s, "aggregate_alone_s": self.aggregate_alone_s,
                "bottleneck": self.bottleneck, "advice": list(self.advice), "notes": list(self.notes)}

    def report(self) -> str:
        wall = self.wall or 1e-9
        lines = [f"{self.rows:,} rows in {self.wall:.3f} s ({self.rows_per_s / 1e6:.2f} M rows/s)"]
        if self.source_rows and self.rows < self.source_rows:
            lines.append(f"  (read {self.rows:,} of the source's {self.source_rows:,} rows "
                         f"({self.rows / self.source_rows:.1%}): the other row groups' statistics "
                         "lie outside the view)")
        for name in STAGES:
            t = self.stages.get(name, 0.0)
            if t:
                lines.append(f"  {name:<10} {t:8.3f} s  {t / wall:6.1%}")
        other = self.wall - sum(self.stages.values())
        lines.append(f"  {'other':<10} {other:8.3f} s  {other / wall:6.1%}")
        if self.warmup:
            lines.append(f"  (before the clock: {self.warmup:.3f} s importing modules and loading kernels)")
        if self.read_busy:
            lines.append(f"  (reader thread busy {self.read_busy:.3f} s, overlapping aggregation)")
        if self.upload:
            u = self.upload
            lines.append(f"  (reader thread copied {u['chunks']} chunks, {fmt_bytes(u['bytes'])}, to the "
                         f"device through {fmt_bytes(u['pinned_bytes'])} of pinned buffers: "
                         f"{u['stage_s']:.3f} s staging, {u['slot_wait_s']:.3f} s waiting for a buffer)")
        mem = f"peak host RSS {fmt_bytes(self.peak_rss)}"
        if self.peak_device is not None:
            mem += f", peak device memory {fmt_bytes(self.peak_device)}"
        if self.budget:
            mem += f" (memory budget {fmt_bytes(self.budget)}, {self.chunks} chunks of up to {self.chunk_rows or 0:,} rows)"
        lines.append(mem)
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append(f"bottleneck: {self.bottleneck}")
        lines.extend(f"advice: {a}" for a in self.advice)
        return "\n".join(lines)

    def __repr__(self):
        return f"<Profile {self.rows:,} rows, {self.wall:.3f} s, bottleneck: {self.bottleneck}>"


def _upload_stats(backend):
    """The backend's cumulative pinned-copy counters (GPU ``transfer_stats``), or None;
    ``backend`` is a backend or a name for ``backend.select``."""
    if isinstance(backend, str):
        from .backend import select
        try:
            backend = select(backend)
        except Exception:   # noqa: BLE001 - the render itself reports an unusable backend
            return None
    return backend.transfer_stats() if backend is not None else None


def warm_up(backend="auto") -> float:
    """Import what a render uses and load the kernels once, so a profile times the job itself
    and not one-off Python imports; returns the seconds it took."""
    t0 = time.perf_counter()
    import numpy as np

    from .render import render
    for dtype in (np.float64, np.float32):
        pts = {"x": np.arange(3, dtype=dtype), "y": np.arange(3, dtype=dtype)}
        render(pts, "x", "y", width=4, height=4, backend=backend).to_bytesio("png")
    return time.perf_counter() - t0


def profile(source, x, y, agg=None, **kwargs) -> Profile:
    """Render ``source`` (as ``render`` does) and encode the PNG in memory; return the Profile."""
    from io import BytesIO

    from . import png
    from .render import render
    prof = Profile().start(kwargs.get("backend", "auto"))
    try:
        img = render(source, x, y, agg, profile=prof, **kwargs)
        with prof.stage("encode"):
            png.encode(img.data, BytesIO())   # as the command line writes it
    finally:
        prof.stop()
    return prof

"""Profiling a render: wall time per stage, peak memory, rows/s, and the bottleneck named with
advice measured on the user's own data.

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

from .memory import fmt_bytes
from .stages import NO_PROFILE, STAGES, StageClock  # noqa: F401 - NO_PROFILE: re-exported


class Profile(StageClock):
    """Filled in by ``render(..., profile=Profile())``, ``render --profile`` or ``profile(...)``."""

    def __init__(self):
        super().__init__()
        self.wall = 0.0
        self.rows = 0
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

    # ---- analysis --------------------------------------------------------------------------
    def _analyse(self):
        st, wall = self.stages, self.wall or 1e-9
        stream = st["read"] + st["transfer"] + st["aggregate"]
        work = {"reading/parsing": max(self.read_busy, st["read"]), "transfer": st["transfer"],
                "aggregation": st["aggregate"], "first pass": st["scan"],
                "shading": st["shade"], "encoding": st["encode"]}
        src = self.source
        fmt = src.fmt if src is not None else None
        alone = self._costs_alone() if src is not None and src.parallel_reader else None
        if alone is not None:
            # a reader decoding on a pool of threads shares the cores with the kernels, so the
            # stages cannot tell which is the limit: split the streaming time by the costs of
            # each measured alone on a sample of the file
            self.decode_alone_s, self.aggregate_alone_s = alone
            read_part = stream * alone[0] / max(sum(alone), 1e-9)
            work["reading/parsing"], work["aggregation"] = read_part, stream - read_part
        self.bottleneck = max(work, key=work.get)
        share = work["reading/parsing"] / wall
        if fmt == "CSV":   # a first pass over a CSV is parsing too
            share = (work["reading/parsing"] + st["scan"]) / wall
        if fmt == "CSV" and share > 0.3:
            faster = self._parquet_speedup(stream)
            tail = (f"; `gpu-render convert {src.path} OUT.parquet` would make re-renders about "
                    f"{faster:.1f}x faster (Parquet read measured on a sample of this file)"
                    if faster else "")
            self.advice.append(f"CSV parsing is {share:.0%} of the time{tail}.")
        elif fmt and share > 0.5:
            more = "" if self._float64_columns() else " or a faster disk"
            alone = (f" (alone, on a sample of this file: decoding all rows about "
                     f"{self.decode_alone_s:.2f} s, aggregating them {self.aggregate_alone_s:.2f} s)"
                     if self.decode_alone_s is not None else "")
            self.advice.append(f"reading {fmt} is {share:.0%} of the time{alone}: the render is bound by "
                               f"reading and decoding the file; more cores{more} would help.")
        if st["scan"] > 0.1 * wall:
            how = " or convert to Parquet, whose statistics give the ranges" if fmt == "CSV" else ""
            self.advice.append(f"a first pass over the data took {st['scan'] / wall:.0%} of the time: "
                               f"pass x_range/y_range to skip it{how}.")
        f64 = self._float64_columns()
        if f64:
            self.advice.append(f"column(s) {', '.join(f64)} are float64 in the file, which doubles "
                               "the bytes read and moved per row; `gpu-render convert --float32` "
                               "stores them as float32.")
        if work["aggregation"] > 0.5 * wall:
            self.advice.append(f"aggregation is {work['aggregation'] / wall:.0%} of the time: the kernels "
                               "are the limit (a GPU backend, more cores or fewer reductions help).")
        if st["transfer"] > 0.3 * wall:
            self.advice.append(f"copying to the device is {st['transfer'] / wall:.0%} of the time: "
                               "float32 columns halve it.")
        if not self.advice:
            self.advice.append(f"{self.bottleneck} takes most of the time; nothing obvious to change.")

    def _costs_alone(self, sample_rows=4 << 20, max_s=0.5):
        """(decode s, aggregate s) for all rows, each measured alone on the first chunks of the
        file (up to ``sample_rows`` rows or ``max_s`` of reading) and scaled up; None if not
        measurable. Runs after the clock stopped, like the other advice."""
        src, job = self.source, self.job
        if job is None or not self.rows:
            return None
        try:
            from .pipeline import accumulate, job_for
            chunks, n = [], 0
            t0 = time.perf_counter()
            for row0, cols in src.chunks(job.numeric, job.categorical, job.chunk_rows,
                                         job.backend.merge_rows):
                chunks.append((row0, cols))
                n += len(next(iter(cols.values())))
                if n >= sample_rows or time.perf_counter() - t0 > max_s:
                    break
            t_read = time.perf_counter() - t0
            sample = job_for(job.plan, src, job.backend)
            # one untimed call first: the first touches of fresh grids and waking the kernels'
            # threads cost more than a whole chunk
            accumulate(sample, chunks=chunks[:1])
            t1 = time.perf_counter()
            accumulate(sample, chunks=chunks)
            job.backend.synchronize()
            t_agg = time.perf_counter() - t1
        except Exception:   # noqa: BLE001 - the advice is best effort; the render succeeded
            return None
        if not n:
            return None
        scale = self.rows / n
        return t_read * scale, t_agg * scale

    def _float64_columns(self):
        src, job = self.source, self.job
        if src is None or job is None:
            return []
        import numpy as np
        return [c for c in job.numeric if src.dtype(c) == np.float64]

    def _parquet_speedup(self, stream_time):
        """Estimated speedup of the same render from Parquet: read a sample of this file's needed
        columns back from an in-memory Parquet copy, and time that."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        src, job = self.source, self.job
        if job is None or not self.rows:
            return None
        try:
            batch = next(iter(src.batches(job.numeric + job.categorical, None, job.numeric)))
        except Exception:   # the advice is best effort; the render itself succeeded
            return None
        table = pa.Table.from_batches([batch])
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        data = buf.getvalue()
        t0 = time.perf_counter()
        reps = 0
        while time.perf_counter() - t0 < 0.2:
            pq.read_table(pa.BufferReader(data)).combine_chunks()
            reps += 1
        rate = reps * table.num_rows / (time.perf_counter() - t0)
        st = self.stages
        read_pq = self.rows / rate
        est = (self.wall - stream_time - st["scan"] - st["open"]
               + max(read_pq, st["transfer"] + st["aggregate"]))
        return self.wall / est if est > 0 else None

    # ---- output ----------------------------------------------------------------------------
    def to_dict(self):
        return {"wall_s": self.wall, "stages_s": dict(self.stages), "read_busy_s": self.read_busy,
                "warmup_s": self.warmup, "rows": self.rows, "rows_per_s": self.rows_per_s, "peak_rss_bytes": self.peak_rss,
                "peak_device_bytes": self.peak_device, "chunks": self.chunks,
                "chunk_rows": self.chunk_rows, "memory_budget_bytes": self.budget,
                "upload": dict(self.upload) if self.upload else None,
                "decode_alone_s": self.decode_alone_s, "aggregate_alone_s": self.aggregate_alone_s,
                "bottleneck": self.bottleneck, "advice": list(self.advice), "notes": list(self.notes)}

    def report(self) -> str:
        wall = self.wall or 1e-9
        lines = [f"{self.rows:,} rows in {self.wall:.3f} s ({self.rows_per_s / 1e6:.2f} M rows/s)"]
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

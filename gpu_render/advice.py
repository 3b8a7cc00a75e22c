"""Advice from a finished profile: which stage limits the render, and what would help, measured
on the user's own file where a guess would mislead (decoding and aggregating alone, a Parquet
copy of a CSV sample). Runs after the clock stopped; best effort, never failing the render."""
from __future__ import annotations

import time


class Advice:
    """The analysis half of ``profiling.Profile``: reads the measurements it recorded (stages,
    wall, rows, source, job) and sets ``bottleneck``, ``advice`` and the costs measured alone."""

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

"""Dask: aggregate dask DataFrames and file datasets where their rows live, on the workers.

Dask is an executor over backends, not a backend: each partition (or file) becomes a partial grid
on its worker, computed by the pipeline's own chunk loop on that worker's backend
(``backend.select`` runs there: the GPU where the worker has one); partials are merged in an
ordered tree on the workers, and only the final grid travels to the client, whose host backend
finalizes it.
Ranges and category labels are reduced on the workers the same way: no rows reach the client.

Rows of piece ``i`` are numbered ``i << ROW_SHIFT`` plus their row within the piece, which orders
rows globally (for first/last) without counting partition lengths first; merges keep piece order.
"""
from __future__ import annotations

import contextlib
import functools
import glob
import os
import time
import uuid
from collections import OrderedDict

import numpy as np

from . import planes as P
from .dask_scheduler import resolve_scheduler, worker_table
from .errors import RenderError
from .frames import memory_table
from .parquetreader import dataset_files
from .table import Table
from .xp import get_xp, to_host

ROW_SHIFT = 40          # up to 2**40 rows per piece, 2**23 pieces
FAN_IN = 8              # partials merged per tree node
_TEST_DELAY_S = 0.0     # test hook: seconds each piece task sleeps (set on workers by a fault test)


# ---------------------------------------------------------------- worker side

class _Context:
    """What every piece task needs: plain attributes, pickled into each task."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class FilePiece:
    """One file of a dataset, read (only the needed columns) by the worker that runs its task."""

    def __init__(self, path: str, fmt: str):
        self.path, self.fmt = path, fmt

    def __repr__(self):
        return f"FilePiece({self.path!r})"


def _open_file(piece, i, columns):
    from .filetable import open_file
    return open_file(piece.path, columns), f"file {piece.path}"


def _open_partition(frame, i, columns):
    where = f"partition {i} of the dask DataFrame"
    try:
        table = memory_table(frame)
        table.require(columns)
        return table, where
    except RenderError as exc:
        raise RenderError(f"{where}: {exc}") from None


def _host_threads(threads):
    """Numba threads one task may use: its share of its host's cores (None: leave as is)."""
    if threads is None or isinstance(threads, int):
        return threads
    try:
        from distributed import get_worker
        from distributed.comm import get_address_host
        worker = get_worker()
    except (ImportError, ValueError):
        return None
    total = threads.get(get_address_host(worker.address), worker.state.nthreads)
    return max(1, (os.cpu_count() or 1) // max(1, total))


@contextlib.contextmanager
def _thread_share(threads):
    n = _host_threads(threads)
    if n is None:
        yield
        return
    import numba
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _recode(codes, piece_labels, labels):
    """Codes against this piece's labels -> codes against the global ``labels`` (-1 stays -1)."""
    xp = get_xp(codes)   # CuPy codes of a dask_cudf partition stay on the device
    codes = xp.asarray(codes)
    if list(piece_labels) == list(labels):
        return codes
    index = {v: k for k, v in enumerate(labels)}
    lookup = np.array([index.get(v, -1) for v in piece_labels] + [-1], dtype=np.int32)
    return xp.asarray(lookup)[codes]


def host_labels(categories) -> list:
    """The labels of a pandas or cuDF categories index as a list (a cuDF index cannot be
    iterated: it is copied to the host first)."""
    if type(categories).__module__.startswith("cudf"):
        categories = categories.to_pandas()
    return list(categories)


def _read_piece(opener, data, i, ctx, numeric, categorical):
    """(table, where, {column: array}, rows the transform dropped) of one piece, errors naming
    the piece."""
    table, where = opener(data, i, ctx.columns)
    try:
        cols = {c: table.numeric(c) for c in numeric}
        for c in categorical:
            cols[c] = _recode(*table.categorical(c), ctx.labels[c])
    except RenderError as exc:
        raise RenderError(f"{where}: {exc}") from None
    dropped = 0
    if ctx.transform is not None:
        cols, dropped = ctx.transform.project(cols)
    return table, where, cols, dropped


def _aggregate_piece(opener, data, i, ctx):
    """Aggregate piece ``i`` into a one-part partial: the pipeline's loop (``ctx.aggregate``)
    over the piece's rows, on this worker's backend."""
    from .backend import select
    if _TEST_DELAY_S:
        time.sleep(_TEST_DELAY_S)
    table, where, cols, dropped = _read_piece(opener, data, i, ctx, ctx.numeric, ctx.categorical)
    be = select(ctx.backend)
    with _thread_share(ctx.threads):
        partial = ctx.aggregate(ctx.plan, be, cols, i << ROW_SHIFT)
        planes = [{k: v[None] for k, v in P.collapse(g.kind, pl, be.xp).items()}
                  for g, pl in zip(ctx.plan.groups, partial)]
    return planes, len(table), frozenset([be.name]), dropped


def _combine(kinds, host, *parts):
    """Merge partials in piece order (earlier first); ``host``: return numpy planes."""
    planes, rows, names, dropped = parts[0]
    for other, n, used, off in parts[1:]:
        merged = []
        for kind, a, b in zip(kinds, planes, other):
            xp = get_xp(next(iter(a.values())))
            if get_xp(next(iter(b.values()))) is not xp:   # mixed CPU/GPU workers
                a, b, xp = _host(a), _host(b), np
            merged.append(P.concat(kind, a, b, xp))
        planes, rows, names, dropped = merged, rows + n, names | used, dropped + off
    if host:
        planes = [_host(g) for g in planes]
    return planes, rows, names, dropped


def _host(planes):
    return {k: to_host(v) for k, v in planes.items()}


def _scan_piece(opener, data, i, ctx):
    """Finite (min, max) of the wanted columns, the labels of category columns, the row count."""
    table, where, cols, _ = _read_piece(opener, data, i, ctx, list(ctx.wanted), [])
    try:
        labels = {c: list(table.labels(c)) for c in ctx.cats}
    except RenderError as exc:
        raise RenderError(f"{where}: {exc}") from None
    with _thread_share(ctx.threads):
        from .backend import select
        cpu = select("cpu")
        bounds = {}
        for c, log in ctx.wanted.items():
            arr = cols[c]
            if log:
                arr = np.where(arr > 0, arr, np.nan)
            bounds[c] = tuple(map(float, cpu.bounds(arr)))
    return bounds, {c: [v] for c, v in labels.items()}, len(table)


def _merge_scans(*scans):
    bounds, labels, rows = scans[0]
    bounds, labels = dict(bounds), {c: list(v) for c, v in labels.items()}
    for b, lab, n in scans[1:]:
        for c, (lo, hi) in b.items():
            bounds[c] = (min(bounds[c][0], lo), max(bounds[c][1], hi))
        for c, v in lab.items():
            labels[c].extend(v)
        rows += n
    return bounds, labels, rows


def _merge_scan_node(host, *scans):
    return _merge_scans(*scans)


def _global_labels(per_piece):
    """One label list from the pieces' lists: theirs when all agree (category columns), else the
    sorted union (what a single process finds over all rows)."""
    lists = [list(v) for v in per_piece if len(v)]
    if not lists:
        return []
    if all(v == lists[0] for v in lists):
        return lists[0]
    union = list(dict.fromkeys(v for lst in lists for v in lst))
    try:
        return sorted(union)
    except TypeError:
        return union


# ---------------------------------------------------------------- tables

class _RemoteTable(Table):
    """A table whose rows are aggregated by Dask tasks, one per piece (partition or file)."""

    remote = True
    scheduler = None
    client = None
    _rows = None

    def on(self, scheduler):
        self.scheduler, self.client = resolve_scheduler(scheduler)
        return self

    def _pieces(self, columns):
        """(opener, [piece]): ``opener(piece, i, columns) -> (Table, where)`` runs on the worker."""
        raise NotImplementedError

    def __len__(self):
        if self._rows is None:
            self._scan({}, [])
        return self._rows

    def is_empty(self):
        return False   # known only after a pass; an empty source fails in ranges() or shows empty

    @property
    def num_rows(self):
        return self._rows   # None until a pass over the pieces has counted them

    def backend(self, name):
        """The client's host backend, which finalizes the merged partial (the workers select
        their own backend for ``name``)."""
        from .backend import select
        return select("cpu")

    def memory(self, backend):
        """One worker task's memory; a task holds its partial and, while merging, another."""
        return self.worker_memory(), 2

    def worker_memory(self) -> int:
        """Memory one task may use: the smallest worker's limit over its threads."""
        if self.client is not None:
            workers = worker_table(self.client).values()
            per = [w["memory_limit"] / max(1, w["nthreads"]) for w in workers if w.get("memory_limit")]
            if per:
                return int(min(per))
        import psutil
        return int(psutil.virtual_memory().available)

    def _threads(self, npieces):
        if self.client is not None:
            from distributed.comm import get_address_host
            hosts = {}
            for addr, w in worker_table(self.client).items():
                host = get_address_host(addr)
                hosts[host] = hosts.get(host, 0) + w["nthreads"]
            return hosts
        if self.scheduler in ("sync", "synchronous", "single-threaded"):
            return None
        cpus = os.cpu_count() or 1
        return max(1, cpus // max(1, min(npieces, cpus)))

    def _tree(self, leaves, combine, uid):
        """Ordered tree reduction of delayed ``leaves`` with ``combine(host, *parts)``."""
        from dask import delayed
        level, depth = leaves, 0
        while len(level) > 1 or depth == 0:
            last = len(level) <= FAN_IN
            level = [delayed(combine, pure=False)(last, *level[j:j + FAN_IN],
                                                  dask_key_name=f"gpu-render-merge-{uid}-{depth}-{j}")
                     for j in range(0, len(level), FAN_IN)]
            depth += 1
        return level[0]

    def _run(self, task, combine, ctx):
        from dask import compute, delayed
        opener, pieces = self._pieces(ctx.columns)
        ctx.threads = self._threads(len(pieces))
        uid = uuid.uuid4().hex[:12]
        leaves = [delayed(task, pure=False)(opener, p, i, ctx, dask_key_name=f"gpu-render-{task.__name__[1:]}-{uid}-{i}")
                  for i, p in enumerate(pieces)]
        root = self._tree(leaves, combine, uid)
        try:
            (result,) = compute(root, scheduler=self.scheduler, optimize_graph=False)
        except RenderError:
            raise
        except Exception as exc:   # a worker-side failure that is not ours: name the source
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RenderError(f"aggregating the {self.kind} on Dask failed: {type(exc).__name__}"
                              f"{': ' + msg if msg else ''}") from exc
        return result

    def _scan(self, wanted, cats, transform=None):
        ctx = _Context(columns=list(dict.fromkeys([*wanted, *cats])), wanted=wanted, cats=cats,
                       transform=transform, labels={})
        bounds, labels, rows = self._run(_scan_piece, _merge_scan_node, ctx)
        self._rows = rows
        if rows == 0:
            raise RenderError(f"the {self.kind} has no rows.")
        return bounds, {c: _global_labels(v) for c, v in labels.items()}

    def bounds(self, wanted, transform):
        """Finite (min, max) of each ``wanted`` column ({name: log axis}) after ``transform``
        (``sources.InBand``), found on the workers."""
        return self._scan(wanted, [], transform)[0]

    def ranges(self, axes, backend=None):
        """Finite ranges computed on the workers (a geo table projects the endpoints)."""
        return self._scan(dict(axes), [])[0], "a pass on the Dask workers"

    def labels(self, name):
        return self._scan({}, [name])[1][name]

    def run_remote(self, job, aggregate_piece, transform=None):
        """(merged host partial, names of the workers' backends): ``aggregate_piece`` (the
        pipeline's loop) run by one task per piece, partials merged in an ordered tree."""
        plan = job.plan
        ctx = _Context(plan=plan, backend=job.requested, numeric=job.numeric,
                       categorical=job.categorical, labels=plan.categories, transform=transform,
                       columns=list(dict.fromkeys([*job.numeric, *job.categorical])),
                       aggregate=aggregate_piece)
        kinds = [g.kind for g in plan.groups]
        planes, rows, used, self.dropped_rows = self._run(_aggregate_piece,
                                                          functools.partial(_combine, kinds), ctx)
        self._rows = rows
        return planes, "+".join(sorted(used))


class DaskTable(_RemoteTable):
    """A dask (or dask_cudf) DataFrame: one task per partition, run where the partition is made."""

    kind = "dask DataFrame"
    _cache = OrderedDict()    # (expression name, columns) -> partitions as Delayed, per process

    def __init__(self, ddf):
        self.ddf = ddf
        self.names = list(ddf.columns)

    def _pieces(self, columns):
        key = (self.ddf._name, tuple(columns))
        parts = self._cache.get(key)
        if parts is None:
            parts = self.ddf[list(columns)].to_delayed(optimize_graph=True)
            self._cache[key] = parts
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        return _open_partition, parts

    def labels(self, name):
        from dask.dataframe.utils import has_known_categories
        meta = self.ddf._meta[name]
        if str(meta.dtype) == "category" and has_known_categories(meta):
            return host_labels(meta.cat.categories)
        # unknown categories (dd.read_parquet): datashader makes them known with dask's
        # categorize(), which sorts the union of the partitions' categories; so do we
        labels = super().labels(name)
        try:
            return sorted(labels)
        except TypeError:
            return labels


class DaskFileTable(_RemoteTable):
    """A Parquet/CSV/Arrow file or dataset (directory or glob): one task per file, each read by
    the worker that runs it, only the needed columns."""

    def __init__(self, path: str, columns: list):
        from . import files
        from .indexmanifest import check_source, read_manifest
        self.path = path
        manifest = read_manifest(path)
        self.sorted_in_space = manifest is not None   # an index: no first/last
        if manifest is not None:
            check_source(manifest, path)
        listed = _dataset_files(path)
        self.pieces = [FilePiece(f, fmt) for f, fmt in listed]
        fmts = sorted({fmt for _, fmt in listed})
        self.kind = (f"{fmts[0]} file {path}" if len(listed) == 1 and listed[0][0] == path
                     else f"{'/'.join(fmts)} dataset {path}")
        self.names = files.schema_names(self.pieces[0].path, self.pieces[0].fmt)

    def _pieces(self, columns):
        return _open_file, self.pieces


def _dataset_files(path: str):
    """[(file, format)] of a file, a directory (Parquet dataset) or a glob, in a stable order."""
    from . import files
    if any(ch in path for ch in "*?["):
        matched = sorted(glob.glob(path))
        if not matched:
            raise RenderError(f"no file matches {path}.")
        return [(f, files.detect_format(f)) for f in matched if not os.path.isdir(f)]
    if not os.path.exists(path):
        raise RenderError(f"file not found: {path}")
    if os.path.isdir(path):
        found = dataset_files(path)
        if not found:
            raise RenderError(f"the directory {path} holds no Parquet files.")
        return [(f, "Parquet") for f in found]
    return [(path, files.detect_format(path))]

"""``gpu-render index``: a source's points sorted by a Z-order (Morton) key into a Parquet dataset
whose small row groups each cover a small box, so a zoomed render reads only what it shows.

The build is an external sort in bounded memory. Pass 1 streams the source once, computes each
row's key (``morton.box_keys`` at ``morton.KEY_LEVEL`` over the data's ranges) and appends the
rows (not their keys: pass 2 computes them again, cheaper than 8 B a row written and read) to
one staging file per range of the key's top bits. Pass 2 sorts each staging file in
memory (``cellsort.radix_order``: a parallel radix sort of the bits below the shared top ones,
stable, so rows of one key keep the source's order), splitting one that is too large by
its next bits, and appends it in key order to ``part-NNNNN.parquet`` files with row groups of
``GROUP_ROWS`` rows and statistics. ``_manifest.json`` holds the format version, source, columns, ranges,
projection, row counts, build parameters and each file's SHA-256. The index is built in a
temporary folder beside ``out`` and renamed into place: interrupted, it leaves nothing.

An index directory is a Parquet dataset (the manifest's leading ``_`` keeps it out of the
data), so ``Canvas.points``, ``render`` and ``profile`` read it like any Parquet source, and the
row-group pruning of ``parquetreader`` reads only the groups that meet the view. Row order is
the key's, not the source's: reductions that pick rows by their order (first, last, the ranked
ones) are refused on an index (``Table.sorted_in_space``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time

import numpy as np

from . import memory as M
from . import morton
from . import progress as progress_bar
from .errors import RenderError
from .files import temp_folder, untrack
from .hostkernels.cellsort import radix_order
from .indexmanifest import FORMAT_VERSION, MANIFEST, check_source, read_manifest, source_stamps

GROUP_ROWS = 1 << 17          # rows per row group: small boxes, and as the CPU backend takes them without joining (merge_rows)
FILE_ROWS = 1 << 28           # rows per Parquet file of the index (a new one past that)
FANOUT_BITS = 2 * 4           # key bits taken per partitioning step: 256 staging files at most
KEY_BITS = 2 * morton.KEY_LEVEL


def build(source, x, y, out, geo=False, keep=(), memory_limit=None, progress=None) -> dict:
    """Build the index of ``source`` (a file path) at ``out``; returns its manifest."""
    import pyarrow as pa

    from .arrowcols import to_numeric
    from .filetable import open_file

    if not isinstance(source, (str, os.PathLike)):
        raise RenderError(f"index builds from a file path (CSV, Parquet, Arrow IPC), not a "
                          f"{type(source).__name__}.")
    source, out = os.fspath(source), os.fspath(out)
    keep = [c for c in dict.fromkeys(keep) if c not in (x, y)]
    columns = [x, y, *keep]
    _check_out(source, out)
    table = open_file(source, columns)
    from .parquetreader import dataset_files   # a file, a Parquet folder or glob: its files
    stamps = source_stamps(dataset_files(source))   # before the rows are read
    for c in (x, y):
        t = table.schema.field(c).type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raise RenderError(f"column {c!r} of {source} is {t}, not numeric: x and y must be numbers.")
    budget = M.budget(memory_limit)
    t_start = time.perf_counter()
    ranges, _ = table.ranges({x: False, y: False})
    ranges_s = time.perf_counter() - t_start
    (x0, x1), (y0, y1) = ranges[x], ranges[y]
    if not all(np.isfinite(v) for v in (x0, x1, y0, y1)):
        raise RenderError(f"columns {x!r} and {y!r} of {source} have no finite values to index.")
    chunk_rows = table.chunk_rows_for(budget // 2, len(columns) + 1)
    rows_in = table.estimated_rows
    bytes_per_row = 8 * len(columns) + 8
    key_of = functools.partial(_keys, x=x, y=y, box=(x0, x1, y0, y1), to_numeric=to_numeric)
    # built beside ``out``, so that publishing it is one rename
    tmp = temp_folder(f".{os.path.basename(out)}.", where=os.path.dirname(os.path.abspath(out)))
    try:
        t0 = time.perf_counter()
        # columns, keys and the sorted copy; the radix sort's 44 B a row more fit in the rest
        fits_rows = int(budget / 4 / (3 * bytes_per_row))
        bits = _first_bits(rows_in, fits_rows)
        counts = [0, 0]
        bar = progress_bar.bar(rows_in, progress, desc="indexing")
        try:
            staged = _split(_keyed_batches(table, columns, key_of, chunk_rows, bar, counts), bits, tmp)
        finally:
            bar.close()
        rows, dropped = counts
        split_s = time.perf_counter() - t0
        bar = progress_bar.bar(rows, progress, desc="sorting")
        out_file = _OutFile(tmp)
        try:
            for prefix in sorted(staged):
                _sort_stage(staged[prefix], bits, tmp, fits_rows, out_file, bar, key_of)
            out_file.finish()
        finally:
            out_file.close()
            bar.close()
        files = out_file.names
        t_sum = time.perf_counter()
        described = [_describe(tmp, f) for f in files]
        checksum_s = time.perf_counter() - t_sum
        manifest = {
            "format": "gpu-render index", "version": FORMAT_VERSION,
            "source": os.path.abspath(source), "source_files": stamps,
            "source_rows": rows + dropped, "rows": rows,
            "dropped_rows": dropped, "x": x, "y": y, "columns": columns,
            "ranges": {x: [x0, x1], y: [y0, y1]},
            "projection": "longitude/latitude degrees (Web Mercator when rendered with geo)" if geo else None,
            "geo": bool(geo),
            "key": {"curve": "morton", "level": morton.KEY_LEVEL, "partition_bits": bits},
            "row_group_rows": GROUP_ROWS,
            "build": {"memory_limit_bytes": budget,
                      "seconds": round(time.perf_counter() - t_start, 3),
                      "ranges_seconds": round(ranges_s, 3),   # the source's x/y ranges
                      "split_seconds": round(split_s, 3),     # pass 1: read, key, stage
                      **{f"{k}_seconds": round(v, 3) for k, v in out_file.seconds.items()},
                      "checksum_seconds": round(checksum_s, 3),
                      "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "files": described,
        }
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        untrack(tmp)
    return manifest


def _check_out(source, out):
    if os.path.abspath(out) == os.path.abspath(source):
        raise RenderError(f"the index cannot be written over its source {source}.")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise RenderError(f"output folder {parent} does not exist.")
    if os.path.exists(out) and (not os.path.isdir(out) or (os.listdir(out) and read_manifest(out) is None)):
        raise RenderError(f"{out} exists and is not a gpu-render index; give a new folder name "
                          "(an existing index is replaced).")


def _first_bits(rows, fits_rows):
    """Key bits of the first partitioning: none when the rows sort in memory (``fits_rows``),
    else the most one step takes (``FANOUT_BITS``): rows are rarely spread evenly, and every
    partition still too large is read and split once more (measured, 100M normal points at 1GB:
    6 bits 20.9 s of which 5.5 s re-splitting, 8 bits 19.2 s of which 4.1 s)."""
    return 0 if (rows or 0) <= fits_rows else FANOUT_BITS


def _keys(data, x, y, box, to_numeric):
    """The Z-order key (``morton.box_keys`` over ``box``; ``INVALID`` for a non-finite x or y)
    of each row of ``data`` (a record batch or table). Staging files hold no keys: pass 2
    computes them again, which costs less than writing and reading 8 B a row."""
    def numbers(name):
        col = data.column(name)
        if hasattr(col, "num_chunks"):
            col = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
        return np.ascontiguousarray(to_numeric(name, col), np.float64)
    keys = np.empty(data.num_rows, np.uint64)
    morton.box_keys(numbers(x), numbers(y), *box, keys)
    return keys


def _keyed_batches(table, columns, key_of, chunk_rows, bar, counts):
    """Pass 1's input: (batch, its keys) of the source's batches, rows without finite x/y left
    out (``counts``: [rows kept, rows left out])."""
    import pyarrow as pa
    for batch in table.batches(columns, chunk_rows):
        keys = key_of(batch)
        valid = keys != morton.INVALID
        kept = int(valid.sum())
        counts[0] += kept
        counts[1] += len(keys) - kept
        bar.update(len(keys))
        if kept == len(keys):
            yield batch, keys
        elif kept:
            yield batch.filter(pa.array(valid)), keys[valid]


class _Stage:
    """A staging file of one key range: Arrow IPC stream, appended batch by batch."""

    def __init__(self, path, schema):
        import pyarrow as pa
        self.path, self.rows = path, 0
        self.writer = pa.ipc.new_stream(path, schema)

    def append(self, data):
        self.writer.write(data)
        self.rows += data.num_rows

    def read(self):
        """The whole file as one table (and the file removed)."""
        import pyarrow as pa
        with pa.ipc.open_stream(self.path) as reader:
            data = reader.read_all().combine_chunks()
        os.unlink(self.path)
        return data


def _split(pairs, bits, tmp):
    """Rows of ``pairs`` ((batch or table, its keys)) appended to one ``_Stage`` per value of
    their keys' top ``bits`` bits, in order; returns {prefix: stage}. Pass 1, and pass 2 for a
    staging file too large to sort in memory, both split here."""
    import pyarrow as pa
    stages = {}
    try:
        for data, keys in pairs:
            prefix = keys >> np.uint64(KEY_BITS - bits)
            order = radix_order(prefix, bits)
            ordered = prefix[order].astype(np.int64)
            data = data.take(pa.array(order))
            cuts = np.flatnonzero(np.diff(ordered)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(order)]):
                p = int(ordered[lo])
                if p not in stages:
                    stages[p] = _Stage(os.path.join(tmp, f"stage-{bits:02d}-{p:016x}.arrow"), data.schema)
                stages[p].append(data.slice(lo, hi - lo))
    finally:
        for st in stages.values():
            st.writer.close()
    return stages


def _in_tables(stage, rows):
    """A large staging file read back in tables of about ``rows`` rows."""
    import pyarrow as pa
    pending, n = [], 0
    with pa.ipc.open_stream(stage.path) as reader:
        for batch in reader:
            pending.append(batch)
            n += batch.num_rows
            if n >= rows:
                yield pa.Table.from_batches(pending).combine_chunks()
                pending, n = [], 0
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks()
    os.unlink(stage.path)


def _sort_stage(stage, bits, tmp, fits_rows, out, bar, key_of):
    """Pass 2 for one staging file of the key range of its top ``bits`` bits: sorted in memory by
    key (stable) and appended to ``out``, or split by the next key bits when it holds more than
    ``fits_rows`` rows (a range of one key is in source order already)."""
    if stage.rows > fits_rows and bits < KEY_BITS:
        t0 = time.perf_counter()
        sub = min(bits + FANOUT_BITS, KEY_BITS)
        parts = _split(((t, key_of(t)) for t in _in_tables(stage, fits_rows)), sub, tmp)
        out.seconds["resplit"] += time.perf_counter() - t0
        for p in sorted(parts):
            _sort_stage(parts[p], sub, tmp, fits_rows, out, bar, key_of)
        return
    import pyarrow as pa
    t0 = time.perf_counter()
    data = stage.read()
    t1 = time.perf_counter()
    if bits < KEY_BITS:     # the keys share their top ``bits``: sort by the rest
        data = data.take(pa.array(radix_order(key_of(data), KEY_BITS - bits)))
    t2 = time.perf_counter()
    out.write(data)
    out.seconds["stage_read"] += t1 - t0
    out.seconds["sort"] += t2 - t1
    out.seconds["write"] += time.perf_counter() - t2
    bar.update(data.num_rows)


class _OutFile:
    """The index's Parquet files, written in key order in row groups of ``GROUP_ROWS`` rows
    whatever the partitions' sizes (the last group of all may be smaller); a new file every
    ``FILE_ROWS`` rows."""

    def __init__(self, folder):
        self.folder = folder
        self.names, self.writer, self.rows = [], None, 0
        self.seconds = {"resplit": 0.0, "stage_read": 0.0, "sort": 0.0, "write": 0.0}   # pass 2
        self.pending, self.pending_rows = [], 0

    def write(self, data):
        import pyarrow as pa
        self.pending.append(data)
        self.pending_rows += data.num_rows
        if self.pending_rows >= GROUP_ROWS:
            joined = pa.concat_tables(self.pending)
            whole = self.pending_rows // GROUP_ROWS * GROUP_ROWS
            self._write(joined.slice(0, whole))
            rest = joined.slice(whole)
            self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def _write(self, data):
        import pyarrow as pa
        import pyarrow.parquet as pq
        if self.writer is None or self.rows >= FILE_ROWS:
            self.close()
            self.names.append(f"part-{len(self.names):05d}.parquet")
            # dictionaries only for categories and strings: tried on floats they cost 6x the
            # writing time and 1.5x the bytes (5M float32 rows x 3: 0.91 s / 85 MiB, 0.14 s / 57 MiB)
            coded = [f.name for f in data.schema
                     if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
                     or pa.types.is_large_string(f.type)]
            self.writer = pq.ParquetWriter(os.path.join(self.folder, self.names[-1]), data.schema,
                                           compression="snappy", write_statistics=True,
                                           write_page_checksum=True, use_dictionary=coded or False)
            self.rows = 0
        self.writer.write_table(data, row_group_size=GROUP_ROWS)
        self.rows += data.num_rows

    def finish(self):
        """Write the rows still pending and close the last file."""
        import pyarrow as pa
        if self.pending_rows:
            self._write(pa.concat_tables(self.pending))
        self.pending, self.pending_rows = [], 0
        self.close()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _describe(folder, name):
    path = os.path.join(folder, name)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    import pyarrow.parquet as pq
    return {"name": name, "rows": pq.read_metadata(path).num_rows, "bytes": os.path.getsize(path),
            "sha256": digest.hexdigest()}


def _publish(tmp, out):
    """Rename the finished index ``tmp`` to ``out``; an index already there is replaced."""
    os.chmod(tmp, 0o755)
    if os.path.exists(out):
        old = f"{tmp}.old"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


def verify(path: str) -> dict:
    """The manifest of the index at ``path`` after checking every file's size and SHA-256."""
    manifest = read_manifest(path)
    if manifest is None:
        raise RenderError(f"{path} is not a gpu-render index (no {MANIFEST}).")
    check_source(manifest, path)
    for f in manifest["files"]:
        got = _describe(path, f["name"]) if os.path.exists(os.path.join(path, f["name"])) else None
        if got is None or got["sha256"] != f["sha256"] or got["bytes"] != f["bytes"]:
            raise RenderError(f"the index {path} is damaged: {f['name']} is missing or changed since "
                              "it was built; rebuild it with `gpu-render index`.")
    return manifest

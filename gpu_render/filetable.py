"""Streaming file tables: CSV (plain or gzip), Parquet (file, directory dataset, glob) and Arrow
IPC/Feather, read in record batches of only the needed columns, never whole.

- CSV: pyarrow's streaming reader with a block size derived from the chunk size; malformed rows
  fail with their line number or, with ``skip_bad_rows``, are skipped and counted.
- Parquet: a pyarrow dataset scanner with bounded read-ahead; row counts and column ranges come
  from the footers' metadata and statistics; files of a dataset must agree on the needed columns.
- Arrow IPC: memory-mapped, record batches sliced zero-copy.
"""
from __future__ import annotations

import contextlib
import glob
import math
import os
import re

import numpy as np

from . import csvtext, files
from .errors import RenderError
from .table import DURATION, SINCE_1970, Table, not_numeric

MAX_CHUNK_ROWS = 1 << 22
MIN_CHUNK_ROWS = 1 << 14
READER_OVERHEAD = 16 * 2**20
CSV_BLOCK = 16 * 2**20   # bytes of CSV parsed at once: larger blocks overlap reading less
LEAN_BELOW = 128 * 2**20   # under this budget, files are read lean: see FileTable.chunk_rows_for


def lean_pool():
    """Arrow's jemalloc pool, set to return freed memory at once: with it, a file's RSS follows
    a small memory budget (pyarrow's default mimalloc pool keeps tens of MiB per thread), at the
    cost of page faults on every new buffer (CSV parsing measured about 40% slower)."""
    import pyarrow as pa
    global _POOL
    if _POOL is None:
        try:
            _POOL = pa.jemalloc_memory_pool()
            pa.jemalloc_set_decay_ms(0)
        except (NotImplementedError, pa.ArrowNotImplementedError):
            _POOL = pa.default_memory_pool()
    return _POOL


_POOL = None
# what pyarrow parses as a float (besides empty, which is null)
_NUMBER = r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[nN]a[nN]|[iI]nf(inity)?)\s*$"


def _find_newline(view, start, stop, first=False, step=1 << 16):
    """Index of the first (``first``) or last newline of ``view[start:stop]``, or -1."""
    if first:
        for i in range(start, stop, step):
            k = bytes(view[i:min(i + step, stop)]).find(b"\n")
            if k >= 0:
                return i + k
        return -1
    for i in range(stop, start, -step):
        lo = max(start, i - step)
        k = bytes(view[lo:i]).rfind(b"\n")
        if k >= 0:
            return lo + k
    return -1


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def read_errors(path, fmt, names=None):
    """Turn pyarrow / OS errors while reading ``path`` into one RenderError sentence; a CSV
    column number in pyarrow's message becomes the column's name (``names``: the header)."""
    import pyarrow as pa
    try:
        yield
    except RenderError:
        raise
    except (pa.ArrowException, OSError, EOFError, ValueError) as exc:
        raise RenderError(f"could not read {path} as {fmt}: {_name_columns(_first_line(exc), names)}") from None


def _name_columns(msg: str, names) -> str:
    """pyarrow's "In CSV column #3" -> "in column 'name'" (``names``: the file's header)."""
    import re
    if not names:
        return msg
    return re.sub(r"In CSV column #(\d+)", lambda m: f"in column {names[int(m.group(1))]!r}"
                  if int(m.group(1)) < len(names) else m.group(0), msg)


def to_numeric(name, arr, pool=None) -> np.ndarray:
    """An Arrow array as float32/float64 numpy; nulls become NaN; zero-copy for floats without nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc
    t = arr.type
    if pa.types.is_floating(t):
        if t == pa.float16():
            arr = arr.cast(pa.float32())
        if arr.null_count:
            arr = pc.coalesce(arr, pa.scalar(float("nan"), arr.type), memory_pool=pool)
        return _view(arr)
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        # unsafe: integers beyond 2**53 round to the nearest float64, as pandas' astype does
        arr = pc.cast(arr, pa.float64(), safe=False, memory_pool=pool)
        if arr.null_count:
            arr = pc.coalesce(arr, pa.scalar(float("nan"), arr.type), memory_pool=pool)
        return _view(arr)
    if pa.types.is_dictionary(t) and _is_number(t.value_type):   # e.g. a Categorical of floats
        return to_numeric(name, arr.dictionary_decode(), pool)
    raise not_numeric(name, *_held(t))


def _is_number(t) -> bool:
    import pyarrow as pa
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)


def _held(t) -> tuple:
    """(what a non-numeric Arrow column of type ``t`` holds, in words; ``not_numeric``'s ``as_int``)."""
    import pyarrow as pa
    if pa.types.is_timestamp(t):
        return f"{'timezone-aware ' if t.tz else ''}dates and times, {t}", SINCE_1970
    if pa.types.is_date(t):
        return f"dates, {t}", SINCE_1970
    if pa.types.is_time(t):
        return f"times of day, {t}", "time since midnight"
    if pa.types.is_duration(t):
        return f"durations, {t}", DURATION
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return f"text, {t}", None
    return str(t), None


def _view(arr) -> np.ndarray:
    """A numeric Arrow array without nulls as a numpy view of its data buffer. (``to_numpy``
    does the same but imports pandas on first use, 0.2 s, more than a command-line render of 1M
    rows spends reading.)"""
    import pyarrow as pa
    t = arr.type
    if isinstance(arr, pa.Array) and not arr.null_count and (pa.types.is_floating(t) or pa.types.is_integer(t)):
        dtype = np.dtype(arr.type.to_pandas_dtype())
        return np.frombuffer(arr.buffers()[1], dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    return arr.to_numpy(zero_copy_only=False)


def narrow(values: np.ndarray, pool=None) -> np.ndarray:
    """float64 -> float32, allocated from ``pool`` like the rest of a file's chunks (device
    arrays, from a GPU reader such as cuDF, are narrowed where they are)."""
    if hasattr(values, "__cuda_array_interface__"):
        return values.astype(np.float32)
    import pyarrow as pa
    import pyarrow.compute as pc
    out = pc.cast(pa.array(values), pa.float32(), safe=False, memory_pool=pool)
    return _view(out)


def _coalesce(batches, rows, pool):
    """Batches joined up to about ``rows`` rows (Parquet yields at most a row group per batch,
    and many small chunks cost a kernel launch each); a batch of ``rows // 2`` or more passes
    as it is, without a copy."""
    import pyarrow as pa
    pending, n = [], 0
    for b in batches:
        pending.append(b)
        n += b.num_rows
        if n >= rows // 2:
            yield pending[0] if len(pending) == 1 else \
                pa.Table.from_batches(pending).combine_chunks(memory_pool=pool).to_batches()[0]
            pending, n = [], 0
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks(memory_pool=pool).to_batches()[0]


def _decode(arr):
    import pyarrow as pa
    if pa.types.is_dictionary(arr.type):
        return arr.dictionary_decode()
    return arr


def _sort_key(v):
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


SMALL_PARQUET = 64 * 2**20   # a single Parquet file under this size is read without pyarrow.dataset


class FileTable(Table):
    """A file read in chunks; ``chunks`` yields ``(row0, {name: numpy array})``."""

    streaming = True

    def __init__(self, path: str, fmt: str, columns: list, *, skip_bad_rows=False):
        self.path, self.fmt = path, fmt
        self.kind = f"{fmt} file {path}"
        self.skip_bad_rows = skip_bad_rows
        self.bad_rows = 0
        self._rows = None
        self._labels = {}
        self.default_rows = 1 << 20   # rows per chunk of passes; chunk_rows_for sets it
        self.threads = True
        self.pool = None          # None: pyarrow's default pool
        self._parse_block = 1 << 20
        self.budget_bytes = 256 * 2**20
        self._mapped_since_release = 0
        self.notes = []
        with read_errors(path, fmt):
            getattr(self, f"_open_{fmt.split()[0].lower()}")(columns)

    # ---- opening ---------------------------------------------------------------------------
    def _open_parquet(self, columns):
        import pyarrow.parquet as pq
        if any(ch in self.path for ch in "*?["):
            paths = sorted(glob.glob(self.path))
        elif os.path.isdir(self.path):
            paths = sorted(p for p in glob.glob(os.path.join(self.path, "**", "*"), recursive=True)
                           if os.path.isfile(p) and not os.path.basename(p).startswith(("_", ".")))
        else:
            paths = [self.path]
        if not paths:
            raise RenderError(f"no Parquet file found in {self.path}.")
        self.files, self.meta = paths, []
        for p in paths:
            with read_errors(p, "Parquet"):
                self.meta.append(pq.read_metadata(p))
        self.schema = self.meta[0].schema.to_arrow_schema()
        self.names = list(self.schema.names)
        self.require(columns)
        for p, md in zip(paths[1:], self.meta[1:]):
            other = md.schema.to_arrow_schema()
            for c in columns:
                if c not in other.names:
                    raise RenderError(f"the files of dataset {self.path} disagree: {p} has no column "
                                      f"{c!r}, which {paths[0]} has.")
                t0, t1 = self.schema.field(c).type, other.field(c).type
                if t0 != t1:
                    raise RenderError(f"the files of dataset {self.path} disagree on column {c!r}: "
                                      f"it is {t0} in {paths[0]} but {t1} in {p}.")
        self._rows = sum(md.num_rows for md in self.meta)
        self.max_row_group = max((md.row_group(i).num_rows for md in self.meta
                                  for i in range(md.num_row_groups)), default=0)

    def _open_arrow(self, columns):
        import mmap

        import pyarrow as pa
        with open(self.path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._mmap = pa.BufferReader(pa.py_buffer(self._map))   # zero-copy over the mapping
        try:
            self._reader = pa.ipc.open_file(self._mmap)
            self._batch_count = self._reader.num_record_batches
            self._rows = sum(self._reader.get_batch(i).num_rows for i in range(self._batch_count))
        except pa.ArrowInvalid:   # the streaming IPC format: rows are known only after a pass
            self._mmap.seek(0)
            self._reader = None
        self.schema = (self._reader.schema if self._reader is not None
                       else pa.ipc.open_stream(self._mmap).schema)
        self.names = list(self.schema.names)
        self.require(columns)

    def _open_csv(self, columns):
        sample, _ = csvtext.head(self.path)
        self.schema = csvtext.infer_schema(sample)
        self.names = list(self.schema.names)
        self.require(columns)
        self.row_bytes = max(8.0, len(sample) / max(sample.count(b"\n"), 1))
        self.compressed = self.path.lower().endswith(".gz")

    # ---- sizes -----------------------------------------------------------------------------
    @property
    def num_rows(self):
        """Rows, when known without reading the data (CSV: after a first pass)."""
        return self._rows

    @property
    def estimated_rows(self):
        """Rows, or an estimate from the file size for plain CSV (None if not even that)."""
        if self._rows is not None:
            return self._rows
        if self.fmt == "CSV" and not self.compressed:
            return int(os.path.getsize(self.path) / self.row_bytes)
        return None

    def __len__(self):
        if self._rows is None:
            n = 0
            for batch in self.batches([self.names[0]]):
                n += batch.num_rows
            self._rows = n
        return self._rows

    def dtype(self, name):
        """The numpy dtype ``name`` is read as."""
        import pyarrow as pa
        t = self.schema.field(name).type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if t == pa.float32() or t == pa.float16():
            return np.dtype(np.float32)
        return np.dtype(np.float64)

    def text_bytes_per_row(self):
        return self.row_bytes if self.fmt == "CSV" else 0.0

    # ---- batches ---------------------------------------------------------------------------
    def batches(self, columns, chunk_rows=None, numeric=()):
        """Record batches of ``columns`` (``numeric`` ones parsed as float64 from CSV)."""
        with read_errors(self.path, self.fmt, self.names if self.fmt == "CSV" else None):
            yield from getattr(self, f"_batches_{self.fmt.split()[0].lower()}")(
                list(columns), chunk_rows or self.default_rows, set(numeric))

    def _batches_parquet(self, columns, chunk_rows, numeric):
        # Files that fit in half the memory budget are memory-mapped: decoding then reads the
        # page cache in place instead of copying it (measured: 0.13 s less system time per
        # 100M float32 rows). Larger ones are read with pread, as mapped pages would count in
        # RSS until the whole file is done.
        mapped = sum(os.path.getsize(f) for f in self.files) <= self.budget_bytes // 2
        if len(self.files) == 1 and self.pool is None and os.path.getsize(self.files[0]) < SMALL_PARQUET:
            # importing pyarrow.dataset imports pandas (about 0.2 s, more than reading such a
            # file takes); the file reader streams one file as well without it
            import pyarrow.parquet as pq
            pf = pq.ParquetFile(self.files[0], metadata=self.meta[0], memory_map=mapped,
                                page_checksum_verification=True)
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns, use_threads=self.threads):
                if batch.num_rows:
                    yield batch
            return
        import pyarrow.dataset as pds
        import pyarrow.fs as pfs
        ds = pds.dataset(self.files, schema=self.schema, format="parquet",
                         filesystem=pfs.LocalFileSystem(use_mmap=mapped))
        # pre_buffer would cache whole column chunks of a file ahead: unbounded memory
        scanner = ds.scanner(columns=columns, batch_size=chunk_rows, batch_readahead=1,
                             fragment_readahead=1, use_threads=self.threads, memory_pool=self.pool,
                             fragment_scan_options=pds.ParquetFragmentScanOptions(
                                 pre_buffer=False, page_checksum_verification=True))
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield batch

    def _batches_arrow(self, columns, chunk_rows, numeric):
        import pyarrow as pa
        if self._reader is not None:
            source = (self._reader.get_batch(i) for i in range(self._batch_count))
        else:
            self._mmap.seek(0)
            source = iter(pa.ipc.open_stream(self._mmap))
        for batch in source:
            batch = batch.select(columns)
            for r0 in range(0, batch.num_rows, chunk_rows):
                part = batch.slice(r0, chunk_rows)
                yield part   # the kernels fault the mapped pages in, on all their threads
                self._mapped_since_release += part.nbytes
                if self._mapped_since_release > self.budget_bytes // 4:
                    self._release_pages()
                    self._mapped_since_release = 0

    def _release_pages(self):
        """Drop the mapped pages already read from this process's memory (they stay in the page
        cache; a page still in use is simply read again), so RSS stays bounded."""
        import mmap
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def _csv_options(self, columns, numeric, exact=False, as_text=()):
        """read_csv's options: ``numeric`` columns as float64 (``as_text`` ones as raw bytes);
        ``exact``: on one thread, quoted values allowed to span lines (slow, but it loses no row).
        With ``skip_bad_rows``, a bad row is counted and skipped, unless it spans lines: a quote
        that is never closed swallows the lines after it, which must not be lost unsaid."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        def on_bad_row(row):
            if "\n" in row.text or "\r" in row.text:
                self._runaway = (row.number, row.text.count("\n"))
                return "error"
            self.bad_rows += 1
            return "skip"

        types = {c: (pa.binary() if c in as_text else pa.float64() if c in numeric
                     else self.schema.field(c).type) for c in columns}
        return dict(read_options=pcsv.ReadOptions(column_names=self.names, use_threads=self.threads and not exact,
                                                  block_size=self._parse_block),
                    parse_options=pcsv.ParseOptions(
                        newlines_in_values=exact, invalid_row_handler=on_bad_row if self.skip_bad_rows else None),
                    convert_options=pcsv.ConvertOptions(include_columns=columns, column_types=types,
                                                        strings_can_be_null=True))

    def _csv_blocks(self, block):
        """Buffers of whole lines, about ``block`` bytes each, the header skipped.

        pyarrow's own streaming reader buffers up to 32 blocks ahead; reading our own blocks and
        parsing each with the multithreaded ``read_csv`` keeps memory at about one block. Blocks
        live in Arrow's memory pool (not Python bytes, whose freed pages glibc keeps)."""
        import pyarrow as pa
        carry = b""
        header = True
        with pa.input_stream(self.path, compression="detect") as src:
            while True:
                buf = pa.allocate_buffer(len(carry) + block, memory_pool=self.pool)
                view = memoryview(buf).cast("B")
                view[:len(carry)] = carry
                got = src.readinto(view[len(carry):])
                size = len(carry) + got
                end = got == 0
                start = 0
                if header:
                    start = _find_newline(view, 0, size, first=True) + 1
                    if start == 0 and not end:   # a header longer than a block
                        carry = bytes(view[:size])
                        continue
                    header = False
                    if start == 0:
                        return
                cut = size if end else _find_newline(view, start, size) + 1
                if cut <= start and not end:
                    carry = bytes(view[start:size])
                    continue
                if cut - start > 4096 or bytes(view[start:cut]).strip():   # read_csv rejects blanks
                    yield buf.slice(start, cut - start)
                if end:
                    return
                carry = bytes(view[cut:size])
                del view, buf

    def _batches_csv(self, columns, chunk_rows, numeric):
        self.bad_rows = 0
        from .prefetch import prefetch
        block = int(min(max(chunk_rows * self.row_bytes, 1 << 16), CSV_BLOCK))
        # read_csv parses its sub-blocks in parallel and returns a batch for each: one per core
        # keeps all cores busy with chunks big enough to aggregate without joining them
        self._parse_block = max(1 << 20, block // max(1, os.cpu_count() or 1))
        line0 = 2   # the file's line of a block's first line (blank blocks, never parsed, uncounted)
        for body in prefetch(self._csv_blocks(block), depth=1):   # the next block is read meanwhile
            ends, lines = csvtext.count_lines(body)
            table = self._read_block(body, line0, lines, columns, numeric)
            line0 += ends
            del body
            # read_csv returns one small batch per internal 1 MB block: one chunk per block instead
            for batch in table.to_batches():
                if batch.num_rows:
                    yield batch

    def _read_block(self, body, line0, lines, columns, numeric):
        """A block of ``lines`` whole lines as a table in which every data line became a row or a
        counted bad row. pyarrow's parallel parse is tried first; when it fails, or its rows and
        bad rows do not add up to the block's data lines (its parallel parser can lose rows without
        a word, e.g. after a quote that is never closed; a quoted value spanning lines makes one
        row of several lines), the block is parsed again exactly, which names any bad line."""
        import pyarrow as pa
        if self.skip_bad_rows:   # pyarrow cannot hand a non-UTF-8 bad row to its callback
            body, dropped, _ = csvtext.utf8_lines(body)
            self.bad_rows += dropped
            lines -= dropped
        bad0 = self.bad_rows
        try:
            table = self._parse(body, columns, numeric)
            got = table.num_rows + self.bad_rows - bad0
            if got == lines or got == csvtext.data_lines(body):
                return table
        except pa.ArrowInvalid:
            pass
        self.bad_rows = bad0
        return self._read_exactly(body, line0, columns, numeric)

    def _parse(self, body, columns, numeric, line0=None, as_text=()):
        """read_csv of one block, exactly when the file's line of its first line, ``line0``, is
        given (a quote never closed then fails naming its line); a value longer than the parse
        block (pyarrow: "straddling object") grows the block until it fits."""
        import pyarrow as pa
        import pyarrow.csv as pcsv
        bad0 = self.bad_rows
        self._runaway = None
        while True:
            try:
                return pcsv.read_csv(pa.BufferReader(body), memory_pool=self.pool,
                                     **self._csv_options(columns, numeric, line0 is not None, as_text))
            except pa.ArrowInvalid as exc:
                if self._runaway is not None and line0 is not None:
                    number, swallowed = self._runaway
                    raise self._never_closed(line0 + number - 1, swallowed) from None
                if "straddling" not in str(exc) or self._parse_block > body.size:
                    raise
                self.bad_rows = bad0
                self._parse_block = min(4 * self._parse_block, body.size + 1)

    def _read_exactly(self, body, line0, columns, numeric):
        """A block parsed on one thread, quoted values allowed to span lines: its rows (with
        ``skip_bad_rows``, those whose numbers all parse), or one error naming the line."""
        import pyarrow as pa
        bad0 = self.bad_rows
        try:
            return self._parse(body, columns, numeric, line0)
        except pa.ArrowInvalid as exc:
            raw = str(exc).strip() or type(exc).__name__
        msg = raw.splitlines()[0]
        if self.skip_bad_rows and "conversion error" in msg:
            self.bad_rows = bad0   # (rows the failed parse skipped are skipped again)
            return self._salvage(body, line0, columns, numeric)
        m = re.search(r"Row #(\d+)", msg)
        line = line0 + int(m.group(1)) - 1 if m else None
        if m:
            msg = msg.replace(m.group(0), f"line {line}")
        if line is not None and "Expected" in msg and len(raw.splitlines()) > 1:
            raise self._never_closed(line)   # (pyarrow's message shows only the start of the row)
        hint = " (skip_bad_rows=True / --skip-bad-rows skips such rows)"
        raise RenderError(f"could not read {self.path} as CSV: {_name_columns(msg, self.names)}{hint}") from None

    def _never_closed(self, line, swallowed=None):
        lines = f"the {swallowed:,} line(s)" if swallowed else "the lines"
        return RenderError(f"could not read {self.path} as CSV: line {line} opens a quoted value that is "
                           f"never closed, which swallows {lines} after it; close the quote (skipping "
                           "that row would lose those lines).")

    def _salvage(self, body, line0, columns, numeric):
        """skip_bad_rows: the rows of a block whose numeric cells all parse as numbers (pyarrow
        fails a whole block on one bad value), the others counted as bad rows."""
        import pyarrow as pa
        import pyarrow.compute as pc
        bad = list(numeric)
        table = self._parse(body, columns, numeric, line0, as_text=bad)
        keep = None
        for c in bad:
            col = table.column(c)
            ok = pc.or_kleene(pc.is_null(col), pc.match_substring_regex(col, _NUMBER))
            keep = ok if keep is None else pc.and_(keep, ok)
        keep = pc.fill_null(keep, True)
        for c in bad:   # a bad cell holding line ends: a quote opened there swallowed later lines
            spans = pc.and_(pc.invert(keep), pc.match_substring(table.column(c), "\n"))
            if pc.any(spans).as_py():
                row = pc.index(spans, True).as_py()
                raise self._never_closed(line0 + row, table.column(c)[row].as_py().count(b"\n"))
        self.bad_rows += table.num_rows - pc.sum(keep).as_py()
        table = table.filter(keep)
        return pa.table({c: table.column(c).cast(pa.float64()) if c in bad else table.column(c)
                         for c in table.column_names})

    # ---- the Table interface ----------------------------------------------------------------
    def chunk_rows_for(self, budget_bytes, n_columns):
        """Rows per chunk so that the chunks in flight (being read, queued, aggregated, plus the
        raw text being parsed for CSV) fit ``budget_bytes``."""
        # measured: a CSV block is held twice while cut at a line end, and parsing it takes about
        # as much again plus allocator slack; decoded Parquet pages add about a chunk
        per_row = 8 * n_columns * 4 + self.text_bytes_per_row() * 7
        if self.fmt == "Parquet":   # compressed and decoded pages, dictionary buffers
            per_row += 8 * n_columns * 4
        # 30% headroom for allocator slack, and about 16 MiB that reader threads keep cached
        rows = int((0.7 * budget_bytes - READER_OVERHEAD) / per_row)
        # a small budget reads lean: one decoding thread and a pool that frees at once (both
        # measured: each Arrow thread and mimalloc's caches hold 10-30 MiB)
        self.threads = budget_bytes >= LEAN_BELOW
        self.pool = None if self.threads else lean_pool()
        self.budget_bytes = budget_bytes
        self.default_rows = int(min(max(rows, MIN_CHUNK_ROWS), MAX_CHUNK_ROWS))
        return self.default_rows

    @property
    def parallel_reader(self):
        """Whether reading decodes on several threads (Parquet, CSV) rather than mapping (IPC)."""
        return self.threads and self.fmt != "Arrow IPC"

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None):
        cols = list(dict.fromkeys([*numeric, *categorical]))
        codes = {c: {v: i for i, v in enumerate(self.labels(c))} for c in categorical}
        row0 = 0
        batches = self.batches(cols, chunk_rows, numeric)
        if self.fmt == "Parquet" and chunk_rows:
            batches = _coalesce(batches, min(chunk_rows, merge_rows or chunk_rows), self.pool)
        for batch in batches:
            out = {c: to_numeric(c, batch.column(c), self.pool) for c in numeric}
            for c in categorical:
                out[c] = self._codes(batch.column(c), codes[c])
            yield row0, out
            row0 += batch.num_rows
        self._rows = row0

    def numeric(self, name):
        parts = [c[name] for _, c in self.chunks([name], [])]
        return np.concatenate(parts) if parts else np.zeros(0)

    def labels(self, name):
        """Labels of ``name`` from a streaming pass (cached): a dictionary-encoded column (e.g. a
        pandas Categorical saved to Parquet or Arrow) keeps its dictionary order, as pandas reads
        it back; any other column gives its sorted distinct non-null values."""
        if name not in self._labels:
            import pyarrow as pa
            import pyarrow.compute as pc
            seen = set()
            order = {}    # dictionary values in first-seen order; None once a batch has none
            n = 0
            for batch in self.batches([name]):
                n += batch.num_rows
                col = batch.column(name)
                if order is not None and pa.types.is_dictionary(col.type):
                    order.update(dict.fromkeys(v for v in col.dictionary.to_pylist() if v is not None))
                else:
                    order = None
                seen.update(v for v in pc.unique(_decode(col)).to_pylist() if v is not None and v == v)
            self._rows = n
            self._labels[name] = list(order) if order else sorted(seen, key=_sort_key)
        return self._labels[name]

    def _codes(self, arr, pos):
        """int32 category codes of ``arr`` (-1: null or not a label), through its dictionary;
        ``pos`` maps each label to its code."""
        import pyarrow as pa
        import pyarrow.compute as pc
        enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr, memory_pool=self.pool)
        lookup = np.array([pos.get(v, -1) for v in enc.dictionary.to_pylist()] + [-1], np.int32)
        idx = enc.indices
        if idx.null_count:
            idx = pc.fill_null(idx, len(lookup) - 1)
        return lookup[_view(idx)]

    def categorical(self, name):
        labels = self.labels(name)
        parts = [c[name] for _, c in self.chunks([], [name])]
        return (np.concatenate(parts) if parts else np.zeros(0, np.int32)), labels

    def ranges(self, axes, backend=None):
        """({column: (lo, hi)}, how) for ``axes`` ({column: log?}): from Parquet statistics when
        every row group has them, otherwise from one streaming pass."""
        stats = self._statistics(axes) if self.fmt == "Parquet" else None
        if stats is not None:
            return stats, "Parquet column statistics"
        import numba

        from .hostkernels.bounds import finite_bounds
        parts = numba.get_num_threads()
        lo = {c: math.inf for c in axes}
        hi = {c: -math.inf for c in axes}
        n = 0
        for batch in self.batches(list(axes), None, axes):
            n += batch.num_rows
            for c, log in axes.items():
                a = np.ascontiguousarray(to_numeric(c, batch.column(c)))
                if log:
                    a = np.where(a > 0, a, np.nan)
                blo, bhi = finite_bounds(a, parts)
                lo[c], hi[c] = min(lo[c], blo), max(hi[c], bhi)
        self._rows = n
        if n == 0:
            raise RenderError(f"the {self.kind} has no rows.")
        return {c: (lo[c], hi[c]) for c in axes}, "a first pass over the data"

    def _statistics(self, axes):
        lo = {c: math.inf for c in axes}
        hi = {c: -math.inf for c in axes}
        for md in self.meta:
            for i in range(md.num_row_groups):
                rg = md.row_group(i)
                if rg.num_rows == 0:
                    continue
                found = {}
                for j in range(rg.num_columns):
                    col = rg.column(j)
                    if col.path_in_schema in axes:
                        found[col.path_in_schema] = col.statistics
                for c in axes:
                    st = found.get(c)
                    if st is None or not st.has_min_max or st.null_count == rg.num_rows:
                        return None
                    try:
                        a, b = float(st.min), float(st.max)
                    except (TypeError, ValueError):
                        return None
                    lo[c], hi[c] = min(lo[c], a), max(hi[c], b)
        for c, log in axes.items():
            if not (math.isfinite(lo[c]) and math.isfinite(hi[c])) or (log and lo[c] <= 0):
                return None
        return {c: (lo[c], hi[c]) for c in axes}


def open_file(path: str, columns: list, *, skip_bad_rows=False) -> FileTable:
    """A streaming table over the file at ``path`` able to give ``columns``."""
    fmt = files.detect_format(path)
    return FileTable(path, fmt, columns, skip_bad_rows=skip_bad_rows)

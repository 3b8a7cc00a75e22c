"""Streaming file tables: CSV (plain or gzip), Parquet (file, directory dataset, glob) and Arrow
IPC/Feather, read in record batches of only the needed columns, never whole.

``FileTable`` is everything format-independent (chunks of numeric columns and category codes,
labels, ranges from a pass, the memory model that sizes chunks); its format's reader
(``filereader.FormatReader``: ``parquetreader``, ``ipcreader``, ``csvreader``) opens the file and
yields the record batches.
"""
from __future__ import annotations

import math

import numpy as np

from . import files
from .arrowcols import decode, lean_pool, read_errors, to_numeric, view
from .csvreader import CsvReader
from .errors import RenderError
from .filereader import ReadSettings
from .ipcreader import IpcReader
from .parquetreader import ParquetReader
from .table import Table

MAX_CHUNK_ROWS = 1 << 22
MIN_CHUNK_ROWS = 1 << 14
READER_OVERHEAD = 16 * 2**20
LEAN_BELOW = 128 * 2**20   # under this budget, files are read lean: see FileTable.chunk_rows_for
READERS = {r.fmt: r for r in (ParquetReader, IpcReader, CsvReader)}


def _numbered(batches):
    """(row0, batch) of consecutive batches from row 0."""
    row0 = 0
    for b in batches:
        yield row0, b
        row0 += b.num_rows


def _coalesce(numbered, rows, pool):
    """(row0, batch) pairs joined up to about ``rows`` rows (Parquet yields at most a row group
    per batch, and many small chunks cost a kernel launch each); only consecutive rows are
    joined, and a batch of ``rows // 2`` or more passes as it is, without a copy."""
    import pyarrow as pa

    def joined(pending):
        return pending[0][0], pending[0][1] if len(pending) == 1 else \
            pa.Table.from_batches([b for _, b in pending]).combine_chunks(memory_pool=pool).to_batches()[0]
    pending, n = [], 0
    for row0, b in numbered:
        if pending and row0 != pending[-1][0] + pending[-1][1].num_rows:   # a gap: skipped rows
            yield joined(pending)
            pending, n = [], 0
        pending.append((row0, b))
        n += b.num_rows
        if n >= rows // 2:
            yield joined(pending)
            pending, n = [], 0
    if pending:
        yield joined(pending)


def _sort_key(v):
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


class FileTable(Table):
    """A file read in chunks; ``chunks`` yields ``(row0, {name: numpy array})``."""

    streaming = True

    def __init__(self, path: str, fmt: str, columns: list, *, skip_bad_rows=False):
        self.path, self.fmt = path, fmt
        self.kind = f"{fmt} file {path}"
        self._labels = {}
        self.default_rows = 1 << 20   # rows per chunk of passes; chunk_rows_for sets it
        self.threads = True
        self.pool = None          # None: pyarrow's default pool
        self.budget_bytes = 256 * 2**20
        self.notes = []
        with read_errors(path, fmt):
            self.reader = READERS[fmt](path, columns, self.kind, skip_bad_rows=skip_bad_rows)
        self.schema, self.names = self.reader.schema, self.reader.names
        self._rows = self.reader.rows
        self._pieces_key = self._pieces = None   # pieces(): the last box asked for and its answer

    files = property(lambda self: self.reader.files, doc="The files read (a dataset's, in order).")
    max_row_group = property(lambda self: self.reader.max_row_group)
    bad_rows = property(lambda self: self.reader.bad_rows, doc="Malformed rows the last pass skipped.")
    sorted_in_space = property(lambda self: self.reader.index is not None,
                               doc="An index directory (``index``): rows in Z-order.")

    # ---- sizes -----------------------------------------------------------------------------
    @property
    def num_rows(self):
        """Rows, when known without reading the data (CSV: after a first pass)."""
        return self._rows

    @property
    def estimated_rows(self):
        """Rows, or an estimate from the file size for plain CSV (None if not even that)."""
        return self._rows if self._rows is not None else self.reader.estimated_rows()

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

    # ---- batches ---------------------------------------------------------------------------
    def batches(self, columns, chunk_rows=None, numeric=()):
        """Record batches of ``columns`` (``numeric`` ones parsed as float64 from CSV)."""
        settings = ReadSettings(self.threads, self.pool, self.budget_bytes)
        with read_errors(self.path, self.fmt, self.reader.error_names):
            yield from self.reader.batches(list(columns), chunk_rows or self.default_rows, set(numeric), settings)

    # ---- the Table interface ----------------------------------------------------------------
    def chunk_rows_for(self, budget_bytes, n_columns):
        """Rows per chunk so that the chunks in flight (being read, queued, aggregated, plus the
        raw text being parsed for CSV) fit ``budget_bytes``."""
        per_row = 8 * n_columns * 4 + self.reader.extra_bytes_per_row(n_columns)
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
        return self.threads and self.reader.parallel

    def pieces(self, where):
        """The reader's ``Piece``s that may hold rows inside ``where`` ({column: (lo, hi)}), or
        None when its statistics rule nothing out (cached per box)."""
        key = tuple(sorted((c, tuple(map(float, r))) for c, r in where.items()))
        if self._pieces_key != key:
            self._pieces_key, self._pieces = key, self.reader.pieces(where)
        return self._pieces

    def rows_within(self, where=None):
        """Rows a pass limited to the box ``where`` reads (all rows where nothing is ruled out)."""
        pieces = self.pieces(where) if where else None
        return self.estimated_rows if pieces is None else sum(p.rows for p in pieces)

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None, where=None):
        """Chunks of every row, or with ``where`` ({column: (lo, hi)}) of the parts of the file
        whose statistics meet that box (row0 still counts the rows of the whole file)."""
        cols = list(dict.fromkeys([*numeric, *categorical]))
        codes = {c: {v: i for i, v in enumerate(self.labels(c))} for c in categorical}
        pieces = self.pieces(where) if where else None
        if pieces is None:
            numbered = _numbered(self.batches(cols, chunk_rows, numeric))
        else:
            settings = ReadSettings(self.threads, self.pool, self.budget_bytes)
            numbered = self._read_pieces(pieces, cols, chunk_rows or self.default_rows, settings)
        if self.reader.joins_batches and chunk_rows:
            numbered = _coalesce(numbered, min(chunk_rows, merge_rows or chunk_rows), self.pool)
        end = 0
        for row0, batch in numbered:
            out = {c: to_numeric(c, batch.column(c), self.pool) for c in numeric}
            for c in categorical:
                out[c] = self._codes(batch.column(c), codes[c])
            yield row0, out
            end = row0 + batch.num_rows
        if pieces is None:
            self._rows = end

    def _read_pieces(self, pieces, columns, chunk_rows, settings):
        with read_errors(self.path, self.fmt, self.reader.error_names):
            yield from self.reader.read_pieces(pieces, columns, chunk_rows, settings)

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
                seen.update(v for v in pc.unique(decode(col)).to_pylist() if v is not None and v == v)
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
        return lookup[view(idx)]

    def categorical(self, name):
        labels = self.labels(name)
        parts = [c[name] for _, c in self.chunks([], [name])]
        return (np.concatenate(parts) if parts else np.zeros(0, np.int32)), labels

    def ranges(self, axes, backend=None):
        """({column: (lo, hi)}, how) for ``axes`` ({column: log?}): from Parquet statistics when
        every row group has them, otherwise from one streaming pass."""
        stats = self.reader.statistics(axes)
        if stats is not None:
            return stats, f"{self.fmt} column statistics"
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


def open_file(path: str, columns: list, *, skip_bad_rows=False) -> FileTable:
    """A streaming table over the file at ``path`` able to give ``columns``."""
    fmt = files.detect_format(path)
    return FileTable(path, fmt, columns, skip_bad_rows=skip_bad_rows)

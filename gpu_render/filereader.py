"""The interface of a file format's reader, which ``filetable.FileTable`` streams through.

A reader opens its file once (schema, and the row count where the format stores it) and then
yields record batches of the columns asked for; everything format-independent (chunks, category
codes, ranges from a pass, the memory model) is ``FileTable``'s. One reader per format:
``parquetreader.ParquetReader``, ``ipcreader.IpcReader``, ``csvreader.CsvReader``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .table import require_columns


@dataclass(frozen=True)
class ReadSettings:
    """How the table wants a pass read: on several threads or one, from which Arrow memory pool
    (None: pyarrow's default), within which memory budget (bytes)."""
    threads: bool
    pool: object
    budget_bytes: int


@dataclass(frozen=True)
class Piece:
    """Consecutive row groups ``groups`` of file ``file`` (an index into ``FormatReader.files``),
    starting at row ``row0`` of the whole source and holding ``rows`` rows."""
    file: int
    groups: tuple
    row0: int
    rows: int


class FormatReader:
    """One format's reading of the file at ``path``; subclasses set ``fmt`` and implement
    ``open`` and ``batches``, the rest has defaults."""

    fmt = ""
    joins_batches = False    # its batches are small (row groups) and worth joining into chunks
    parallel = True          # reading decodes on a pool of threads (memory-mapped IPC does not)
    max_row_group = 0        # rows of its largest row group (0: not a row-group format)
    index = None             # the manifest, when the path is a gpu-render index directory

    def __init__(self, path: str, columns: list, kind: str, skip_bad_rows=False):
        self.path, self.kind = path, kind
        self.skip_bad_rows = skip_bad_rows   # (only text formats have malformed rows to skip)
        self.files = [path]
        self.rows = None     # rows, when the format stores them
        self.open(columns)

    def open(self, columns):
        """Read the schema (``self.schema``; rows where stored) and check ``columns`` exist."""
        raise NotImplementedError

    @property
    def names(self) -> list:
        return list(self.schema.names)

    def require(self, columns):
        require_columns(columns, self.names, self.kind)

    def batches(self, columns, chunk_rows, numeric, settings: ReadSettings):
        """Record batches of ``columns``, about ``chunk_rows`` rows each (``numeric`` ones parsed
        as float64 where the format is text)."""
        raise NotImplementedError

    def estimated_rows(self):
        """Rows, or an estimate without reading the data (None if not even that)."""
        return self.rows

    def extra_bytes_per_row(self, n_columns) -> float:
        """Memory a chunk in flight holds per row beyond its decoded columns (text being parsed,
        compressed pages)."""
        return 0.0

    def statistics(self, axes):
        """({column: (lo, hi)}) from the file's own statistics, or None where it has none."""
        return None

    def pieces(self, where):
        """The parts of the file that may hold rows inside the box ``where`` ({column: (lo, hi)}),
        as ``Piece``s in row order, when its statistics rule out some part; None to read it all."""
        return None

    def read_pieces(self, pieces, columns, chunk_rows, settings: ReadSettings):
        """(row0, record batch) of ``columns`` over ``pieces``, row0 the batch's row number in
        the whole file."""
        raise NotImplementedError

    error_names = None       # CSV: the header, so pyarrow's column numbers become names
    bad_rows = 0             # malformed rows skipped by the last pass (CSV with skip_bad_rows)

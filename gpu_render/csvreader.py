"""CSV files, plain or gzip, parsed block by block with pyarrow's multithreaded ``read_csv``.

Our own reader cuts the file into blocks of whole lines (bounded memory: pyarrow's streaming
reader buffers up to 32 blocks ahead); each block is parsed in parallel, and when pyarrow's rows
and bad rows do not add up to the block's data lines, parsed again exactly, on one thread, which
names the bad line. Malformed rows fail with their line number or, with ``skip_bad_rows``, are
skipped and counted.
"""
from __future__ import annotations

import os
import re

from . import csvtext
from .arrowcols import name_columns
from .errors import RenderError
from .filereader import FormatReader

CSV_BLOCK = 16 * 2**20   # bytes of CSV parsed at once: larger blocks overlap reading less

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


class CsvReader(FormatReader):
    fmt = "CSV"

    def __init__(self, path, columns, kind, skip_bad_rows=False):
        self.bad_rows = 0
        self._parse_block = 1 << 20
        super().__init__(path, columns, kind, skip_bad_rows)

    def open(self, columns):
        sample, _ = csvtext.head(self.path)
        self.schema = csvtext.infer_schema(sample)
        self.require(columns)
        self.row_bytes = max(8.0, len(sample) / max(sample.count(b"\n"), 1))
        self.compressed = self.path.lower().endswith(".gz")

    @property
    def error_names(self):
        return self.names

    def estimated_rows(self):
        """Rows from the file size and the sampled line length (plain CSV; gzip: None)."""
        return None if self.compressed else int(os.path.getsize(self.path) / self.row_bytes)

    def extra_bytes_per_row(self, n_columns):
        # measured: a CSV block is held twice while cut at a line end, and parsing it takes about
        # as much again plus allocator slack
        return self.row_bytes * 7

    def batches(self, columns, chunk_rows, numeric, settings):
        self.bad_rows = 0
        self.settings = settings   # the pass's threads and pool, for the parses below
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
        return dict(read_options=pcsv.ReadOptions(column_names=self.names, block_size=self._parse_block,
                                                  use_threads=self.settings.threads and not exact),
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
                buf = pa.allocate_buffer(len(carry) + block, memory_pool=self.settings.pool)
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
                return pcsv.read_csv(pa.BufferReader(body), memory_pool=self.settings.pool,
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
        raise RenderError(f"could not read {self.path} as CSV: {name_columns(msg, self.names)}{hint}") from None

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

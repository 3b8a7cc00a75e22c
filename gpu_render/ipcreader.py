"""Arrow IPC (Feather v2) files, file or stream format: memory-mapped, record batches sliced
zero-copy; the pages already read are dropped from the process as it goes, so RSS stays bounded."""
from __future__ import annotations

from .filereader import FormatReader


class IpcReader(FormatReader):
    fmt = "Arrow IPC"
    parallel = False   # nothing to decode: the kernels fault the mapped pages in, on all their threads

    def open(self, columns):
        import mmap

        import pyarrow as pa
        with open(self.path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._mmap = pa.BufferReader(pa.py_buffer(self._map))   # zero-copy over the mapping
        self._mapped_since_release = 0
        try:
            self._reader = pa.ipc.open_file(self._mmap)
            self._batch_count = self._reader.num_record_batches
            self.rows = sum(self._reader.get_batch(i).num_rows for i in range(self._batch_count))
        except pa.ArrowInvalid:   # the streaming IPC format: rows are known only after a pass
            self._mmap.seek(0)
            self._reader = None
        self.schema = (self._reader.schema if self._reader is not None
                       else pa.ipc.open_stream(self._mmap).schema)
        self.require(columns)

    def batches(self, columns, chunk_rows, numeric, settings):
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
                yield part
                self._mapped_since_release += part.nbytes
                if self._mapped_since_release > settings.budget_bytes // 4:
                    self._release_pages()
                    self._mapped_since_release = 0

    def _release_pages(self):
        """Drop the mapped pages already read from this process's memory (they stay in the page
        cache; a page still in use is simply read again), so RSS stays bounded."""
        import mmap
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

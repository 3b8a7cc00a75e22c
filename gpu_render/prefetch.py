"""Read ahead: run an iterator in a background thread, handing items over through a bounded queue.

Reading (pyarrow parsing/decoding, which releases the GIL) then overlaps aggregation (numba
kernels, also GIL-free). ``depth`` bounds how many items wait, so memory stays bounded.
Errors raised by the iterator are re-raised in the consumer; closing the consumer stops the reader.
"""
from __future__ import annotations

import queue
import threading
import time

_DONE = object()


class _Failure:
    def __init__(self, exc):
        self.exc = exc


class Prefetcher:
    """Iterate over ``source`` in a thread; ``busy`` is the time the thread spent producing."""

    def __init__(self, source, depth: int = 1):
        self.busy = 0.0
        self._q = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(source),), daemon=True,
                                        name="gpu-render-prefetch")
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it):
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    break
                finally:
                    self.busy += time.perf_counter() - t0
                if not self._put(item):
                    break
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer
            self._put(_Failure(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def __iter__(self):
        try:
            while True:
                item = self._q.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            self.close()

    def close(self):
        self._stop.set()
        while True:   # unblock a reader waiting on a full queue
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        self._thread.join()


def prefetch(source, depth: int = 1):
    """Items of ``source``, produced one step ahead in a background thread."""
    return Prefetcher(source, depth)

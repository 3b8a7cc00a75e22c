"""``LRUCache``: a thread-safe least-recently-used cache bounded by the total size of its values."""
from __future__ import annotations

import collections
import threading


class LRUCache:
    """A thread-safe LRU cache bounded by total size (``size(value)`` bytes)."""

    def __init__(self, max_bytes, size=len):
        self.max_bytes, self.size = max_bytes, size
        self.data = collections.OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return True, self.data[key]
            return False, None

    def put(self, key, value):
        n = self.size(value)
        with self.lock:
            if key in self.data:
                return
            self.data[key] = value
            self.used += n
            while self.used > self.max_bytes and self.data:
                _, old = self.data.popitem(last=False)
                self.used -= self.size(old)

    def pop(self, key):
        """Drop ``key`` if held (so that ``put`` can store a new value for it)."""
        with self.lock:
            if key in self.data:
                self.used -= self.size(self.data.pop(key))

    def clear(self):
        with self.lock:
            self.data.clear()
            self.used = 0

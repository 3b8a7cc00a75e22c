"""A progress bar for long work: rows done, rows/s and ETA with tqdm, on stderr, only on a terminal."""
from __future__ import annotations

import os
import sys

DELAY = float(os.environ.get("GPU_RENDER_PROGRESS_DELAY", "0.5"))   # seconds before it shows


class _Silent:
    def update(self, n):
        pass

    def close(self):
        pass


def bar(total, enabled=None, desc="rows"):
    """A tqdm bar (shown after ``DELAY`` seconds) or a silent stand-in.

    ``enabled``: True/False, or None for "only when stderr is a terminal"."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return _Silent()
    from tqdm import tqdm
    return tqdm(total=total, unit=" rows", unit_scale=True, file=sys.stderr, delay=DELAY,
                dynamic_ncols=True, desc=desc, leave=False)

"""Stage timing: the stages a render passes through, and the clock the pipeline reports them to.

A leaf module (it imports nothing of the package), so the pipeline can time its stages without
depending on profiling, which itself renders. ``NO_PROFILE`` is what the pipeline uses when no
profile is asked for: its stages cost one function call.
"""
from __future__ import annotations

import contextlib
import time

STAGES = ("open", "scan", "plan", "read", "transfer", "aggregate", "finalize", "shade", "encode")


class _NoProfile:
    enabled = False

    def stage(self, name):
        return contextlib.nullcontext()


NO_PROFILE = _NoProfile()


class StageClock:
    """Wall seconds per stage, summed over every ``with clock.stage(name):`` block."""

    enabled = True

    def __init__(self):
        self.stages = {s: 0.0 for s in STAGES}

    @contextlib.contextmanager
    def stage(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - t0

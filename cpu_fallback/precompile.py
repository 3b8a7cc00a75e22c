"""Compile the CPU kernels into numba's on-disk cache ahead of the first render (``gpu-render
warm``, run by ``make`` at install), so that a fresh install's first image loads machine code
instead of spending seconds compiling it.

What is compiled is what the backend's glue passes (``backend.kernel_columns``): per coordinate
dtype (float32, float64), one ``aggregate`` variant serves every kernel kind over value columns
of that dtype and pandas category codes; plus ``finite_bounds`` per dtype. Other combinations
(float32 coordinates with float64 values, int32 codes from files) compile on first use."""
from __future__ import annotations

import time

import numpy as np

from gpu_render.axes import Viewport
from gpu_render.plan import make_plan
from gpu_render.reductions import by, count

DTYPES = (np.float32, np.float64)


def precompile(dtypes=DTYPES) -> list:
    """Compile (or load from the cache) the kernels for ``dtypes``; [(what, seconds)]."""
    from gpu_render.hostkernels.bounds import finite_bounds

    from .backend import CPUBackend
    be = CPUBackend()
    vp = Viewport(2, 2, (0.0, 1.0), (0.0, 1.0))
    done = []
    for dt in dtypes:
        t = time.perf_counter()
        a = np.linspace(0, 1, 8).astype(dt)
        columns = {"x": a, "y": a, "v": a, "c": np.zeros(8, np.int8)}
        plan = make_plan(vp, "x", "y", {"r": by("c", count())}, {"c": ["a"]})
        be.aggregate(plan, be.new_partial(plan), columns)
        finite_bounds(a, be.parts)
        done.append((f"aggregate, finite_bounds ({np.dtype(dt).name})", time.perf_counter() - t))
    return done

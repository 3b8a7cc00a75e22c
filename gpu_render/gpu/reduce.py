"""Small CuPy reductions of the GPU backend (data ranges), one pass over device memory.

``REDUCTIONS`` holds every ``cupy.ReductionKernel`` the project defines, as data, so the test
suite compiles each with NVRTC exactly as CuPy builds it (tests/test_cupy_kernels.py). The
expressions name only what CuPy's plain reduction template defines (its headers bring
``CUDART_INF``, not C's ``INFINITY``, which only the CUB path's headers happen to define);
CuPy takes the plain path without CUB, for small or non-contiguous arrays and on 13.x-14.0.x
pip installs without ``nvcc``.
"""
import functools

# name -> (in_params, out_params, map_expr, reduce_expr, post_map_expr, identity)
REDUCTIONS = {
    "gpu_render_finite_min": ("T x", "T y", "isfinite(x) ? x : (T)CUDART_INF", "min(a, b)", "y = a",
                              "(T)CUDART_INF"),
    "gpu_render_finite_max": ("T x", "T y", "isfinite(x) ? x : (T)-CUDART_INF", "max(a, b)", "y = a",
                              "(T)-CUDART_INF"),
}


@functools.lru_cache(maxsize=None)
def _kernel(name):
    import cupy
    return cupy.ReductionKernel(*REDUCTIONS[name], name)


def finite_bounds(array):
    """(min, max) of the finite values of a CuPy array; (inf, -inf) when there are none."""
    return float(_kernel("gpu_render_finite_min")(array)), float(_kernel("gpu_render_finite_max")(array))

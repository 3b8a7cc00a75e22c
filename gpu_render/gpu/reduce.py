"""Small CuPy reductions of the GPU backend (data ranges), one pass over device memory."""
import functools


@functools.lru_cache(maxsize=None)
def _kernels():
    import cupy
    lo = cupy.ReductionKernel("T x", "T y", "isfinite(x) ? x : (T)INFINITY", "min(a, b)", "y = a",
                              "(T)INFINITY", "gpu_render_finite_min")
    hi = cupy.ReductionKernel("T x", "T y", "isfinite(x) ? x : (T)-INFINITY", "max(a, b)", "y = a",
                              "(T)-INFINITY", "gpu_render_finite_max")
    return lo, hi


def finite_bounds(array):
    """(min, max) of the finite values of a CuPy array; (inf, -inf) when there are none."""
    lo, hi = _kernels()
    return float(lo(array)), float(hi(array))

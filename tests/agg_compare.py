"""One comparison of two aggregates for the tests of file reading paths: integers exactly,
floats to 1e-9 with NaN equal to NaN (``got`` may live on the device)."""
import numpy as np

from gpu_render.xp import to_host


def assert_same(got, want):
    got, want = to_host(got.data), np.asarray(want.data)
    if want.dtype.kind in "iub":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)

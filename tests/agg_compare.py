"""One comparison of two aggregates for the tests of file reading paths: integers exactly,
floats to 1e-9 with NaN equal to NaN (``got`` may live on the device); and one awkward frame."""
import numpy as np
import pandas as pd

from gpu_render.xp import to_host


def assert_same(got, want):
    got, want = to_host(got.data), np.asarray(want.data)
    if want.dtype.kind in "iub":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)


def awkward_points(rng, n):
    """x, y, v, c (3 categories) with NaN coordinates and values, +-inf, points far outside
    (x = 50) and x values clipped exactly to -2 and 2.5."""
    df = pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.normal(0, 1, n), "v": rng.random(n) * 10,
                       "c": pd.Categorical(rng.choice(["a", "b", "c"], n))})
    df.loc[::17, "x"] = np.nan
    df.loc[::23, "y"] = np.nan
    df.loc[::29, "v"] = np.nan
    df.loc[::31, "x"] = np.inf
    df.loc[::37, "y"] = -np.inf
    df.loc[::41, "x"] = 50.0
    df.loc[::7, "x"] = df.loc[::7, "x"].clip(-2, 2.5)
    return df

"""A built-in synthetic dataset: Gaussian clusters with a value and a category column."""
from __future__ import annotations

import numpy as np

CATEGORIES = ("d1", "d2", "d3", "d4", "d5")


def make_points(n: int = 10_000_000, seed: int = 42) -> dict:
    """``n`` float32 points in five Gaussian clusters of different spread; ``val`` grows with the
    distance from each cluster's centre, ``cat`` (pandas Categorical) names the cluster."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    centres = np.array([(2, 2), (2, -2), (-2, -2), (-2, 2), (0, 0)], dtype=np.float64)
    spreads = np.array([0.03, 0.10, 0.50, 1.00, 3.00])
    which = rng.integers(0, len(centres), n).astype(np.int8)
    offs = rng.standard_normal((2, n)).astype(np.float32)
    offs *= spreads[which].astype(np.float32)
    x = offs[0] + centres[which, 0].astype(np.float32)
    y = offs[1] + centres[which, 1].astype(np.float32)
    val = np.hypot(offs[0], offs[1]).astype(np.float32)
    cat = pd.Categorical.from_codes(which, CATEGORIES)
    return {"x": x, "y": y, "val": val, "cat": cat}


def make_frame(n: int = 10_000_000, seed: int = 42):
    import pandas as pd
    return pd.DataFrame(make_points(n, seed))

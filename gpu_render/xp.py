"""Array-namespace helpers: host/device glue is written once against ``xp`` (numpy or CuPy)."""
import numpy as np


def get_xp(array):
    """Return the array module (numpy or cupy) that owns ``array``."""
    mod = type(array).__module__
    if mod.startswith("cupy"):
        import cupy
        return cupy
    return np


def to_host(array):
    """Return ``array`` as a numpy array (a no-op for numpy input)."""
    if hasattr(array, "get") and type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)

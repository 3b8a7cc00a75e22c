"""dask_cudf categoricals: partition codes stay CuPy arrays, categories are a cuDF index.

Fakes behave as the real ones do where it matters: CuPy's ``__array__`` raises (no implicit
device-to-host copy) and a cuDF index cannot be iterated.
"""
import sys
import types

import numpy as np
import pandas as pd
import pytest

from gpu_render import distributed as D


class FakeDeviceArray:
    """A CuPy-like array: indexing works on the device, implicit conversion to numpy raises."""

    __module__ = "cupy._core.core"

    def __init__(self, data):
        self.data = np.asarray(data)
        self.dtype, self.shape = self.data.dtype, self.data.shape

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()`")

    def __getitem__(self, index):
        return FakeDeviceArray(self.data[index.data if isinstance(index, FakeDeviceArray) else index])

    def __len__(self):
        return len(self.data)

    def get(self):
        return self.data.copy()


class FakeCudfIndex:
    __module__ = "cudf.core.index"

    def __init__(self, values):
        self.values = list(values)

    def __iter__(self):
        raise TypeError("Index object is not iterable. Consider using `.to_arrow()`, `.to_pandas()`")

    def to_pandas(self):
        return pd.Index(self.values)


@pytest.fixture
def fake_cupy(monkeypatch):
    cp = types.ModuleType("cupy")
    cp.asarray = lambda a: a if isinstance(a, FakeDeviceArray) else FakeDeviceArray(a)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    return cp


def test_recode_keeps_device_codes_on_the_device(fake_cupy):
    codes = FakeDeviceArray(np.array([0, 1, -1, 2, 1], np.int32))
    out = D._recode(codes, ["b", "c", "a"], ["a", "b", "c"])
    assert isinstance(out, FakeDeviceArray)
    np.testing.assert_array_equal(out.get(), [1, 2, -1, 0, 2])
    same = D._recode(codes, ["a", "b", "c"], ["a", "b", "c"])
    np.testing.assert_array_equal(same.get(), codes.get())


def test_recode_of_host_codes_is_unchanged():
    np.testing.assert_array_equal(D._recode(np.array([1, 0, -1], np.int8), ["y", "x"], ["x", "y", "z"]),
                                  [0, 1, -1])


def test_labels_of_a_cudf_categories_index():
    assert D.host_labels(FakeCudfIndex(["p", "q"])) == ["p", "q"]
    assert D.host_labels(pd.Index(["p", "q"])) == ["p", "q"]

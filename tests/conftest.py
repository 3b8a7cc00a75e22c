"""Test fixtures shared by the whole suite.

Every backend-dependent test takes the ``backend`` fixture, so each runs on the CPU fallback and
on the GPU backend. Without a GPU (CI), the GPU backend runs on Numba's CUDA simulator with numpy
standing in for CuPy; the variable must be set before numba.cuda is first imported.
"""
import os

import numpy as np
import pytest

if not os.path.exists("/dev/nvidia0") and not os.environ.get("GPU_RENDER_REAL_GPU"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from gpu_render import backend as B  # noqa: E402

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
BACKENDS = ("cpu", "gpu")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Name of a usable backend; the GPU one is skipped (with the reason) where it cannot run."""
    be, reason = B.probe(request.param, explicit=True)
    if be is None:
        pytest.skip(f"{request.param} backend unavailable: {reason}")
    return request.param


@pytest.fixture
def n_points(backend):
    """Rows per random test dataset: small where the GPU is simulated (each thread is Python)."""
    return 3_000 if (backend == "gpu" and SIMULATED) else 50_000


@pytest.fixture
def rng():
    return np.random.default_rng(12345)

"""The multi-core CPU backend of gpu-render: numpy arrays and parallel Numba kernels."""

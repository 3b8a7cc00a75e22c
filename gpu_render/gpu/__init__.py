"""The GPU backend of gpu-render: Numba CUDA kernels over CuPy arrays, RMM-pooled memory."""

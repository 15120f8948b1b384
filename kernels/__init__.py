"""Numba CPU and Numba-CUDA kernels, bit-exact against reference/."""

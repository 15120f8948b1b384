"""Argument checks shared by the CPU and CUDA kernels' host wrappers.

Bad input raises TypeError (wrong kind or dtype) or ValueError (wrong value) naming the
parameter, the value given and what was expected, as the reference operators do.
"""

import numpy as np

INT8_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def check_operand(name, x, ndim=2, dtypes=INT8_DTYPES):
    """Check that `x` is an ndarray of one of `dtypes` with `ndim` dimensions."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype in {[d.name for d in dtypes]}, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")


def zero_point_vector(name, zp, length, dtype, *, lo=None, hi=None):
    """Zero point as an int64 vector of `length` (scalar broadcast), checked against a range.

    The range is that of `dtype` unless `lo`/`hi` narrow it (int4 weights: -8..7).
    """
    arr = np.asarray(zp)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer scalar or array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = np.full(length, int(arr), dtype=np.int64)
    elif arr.shape != (length,):
        raise ValueError(f"{name} must be a scalar or have shape ({length},), got {arr.shape}")
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def check_packed_int4(b_packed, k, n):
    """Check flat packed-int4 bytes of a (k, n) matrix (reference.packing.pack_int4 order)."""
    if not isinstance(b_packed, np.ndarray) or b_packed.dtype != np.uint8:
        raise TypeError("b_packed must be a uint8 numpy array from reference.packing.pack_int4, "
                        f"got {getattr(b_packed, 'dtype', type(b_packed).__name__)}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    need = -(-(k * n) // 2)
    if b_packed.ndim != 1 or b_packed.size != need:
        raise ValueError(f"b_packed must be 1-D with ceil(K*N/2)={need} bytes for K={k}, N={n}, "
                         f"got shape {b_packed.shape}")


def check_same_k(a, k_b):
    k = a.shape[1]
    if k != k_b:
        raise ValueError(f"a has K={k} columns but b has K={k_b} rows; they must match")

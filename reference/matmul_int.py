"""Integer matrix multiplication with zero points (ONNX MatMulInteger semantics).

Also home of :func:`exact_matmul`, the exact integer dot product through float BLAS that the
integer convolution shares.
"""

from __future__ import annotations

import numpy as np

from reference._validate import check_array, check_int_tuple, check_zero_point
from reference.dtypes import QTYPES
from reference.packing import unpack_int4

__all__ = ["FLOAT32_EXACT_BOUND", "FLOAT64_EXACT_BOUND", "exact_dot_dtype", "exact_matmul",
           "matmul_int", "wrap_int32"]

#: Largest |sum| a float32 accumulator represents exactly with every partial sum an integer.
FLOAT32_EXACT_BOUND = 2**24
#: Same for float64.
FLOAT64_EXACT_BOUND = 2**53
INT_DTYPES = ("int8", "uint8")


def exact_dot_dtype(k: int, amax: int, bmax: int) -> np.dtype:
    """Narrowest dtype in which every length-``k`` dot product of integers is exact.

    Every partial sum of ``k`` products ``|a_i * b_i| <= amax * bmax`` is bounded by
    ``B = k * amax * bmax``, whatever order BLAS adds them in (FMA included). float32 represents
    all integers up to 2**24, float64 up to 2**53; past that, int64 (exact while B < 2**63).
    """
    bound = int(k) * int(amax) * int(bmax)
    if bound <= FLOAT32_EXACT_BOUND:
        return np.dtype(np.float32)
    if bound <= FLOAT64_EXACT_BOUND:
        return np.dtype(np.float64)
    if bound >= 2**63:
        raise ValueError(f"integer dot product of length {k} with |a| <= {amax}, |b| <= {bmax} "
                         f"can exceed int64")
    return np.dtype(np.int64)


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b)`` of integer arrays, exact, returned as int64.

    Uses float32 or float64 BLAS when :func:`exact_dot_dtype` proves it exact for the actual
    maxima of ``|a|`` and ``|b|``, else int64 arithmetic (slow, exact).
    """
    k = a.shape[-1]
    amax = int(np.abs(a).max(initial=0))
    bmax = int(np.abs(b).max(initial=0))
    dt = exact_dot_dtype(k, amax, bmax)
    out = np.matmul(a.astype(dt, copy=False), b.astype(dt, copy=False))
    return out.astype(np.int64)


def wrap_int32(v: np.ndarray) -> np.ndarray:
    """Reduce integer values modulo 2**32 into int32 (two's complement wrap-around, as ONNX).

    NumPy's integer-to-integer casts keep the low 32 bits, which is exactly that reduction.
    """
    return v.astype(np.int32, copy=False)


def unpack_weight(w: np.ndarray, int4_shape: object, name: str) -> np.ndarray:
    """Return ``w`` itself, or its signed int4 values when ``int4_shape`` says it is packed."""
    if int4_shape is None:
        return w
    try:
        length = len(int4_shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name}_int4_shape must be a tuple of ints (the unpacked shape), got "
                        f"{type(int4_shape).__name__} ({int4_shape!r})") from None
    shape = check_int_tuple(f"{name}_int4_shape", int4_shape, length, minimum=1)
    check_array(name, w, ("uint8",))
    count = int(np.prod(shape))
    return unpack_int4(w, count, signed=True).reshape(shape)


def zero_point_vector(name: str, zp: object, dtype: np.dtype, length: int,
                      what: str) -> np.ndarray:
    """Check a zero point that is a scalar or one value per ``what`` (``length`` of them)."""
    t = QTYPES[dtype.name]
    arr = check_zero_point(name, zp, t.qmin, t.qmax, t.name)
    if isinstance(zp, np.ndarray) and zp.dtype != dtype:
        raise TypeError(f"{name} must have the dtype of its tensor ({dtype.name}), got "
                        f"{zp.dtype.name}")
    if arr.size == 1:
        return arr.reshape(())
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{name} must be a scalar or 1-D with {length} entries (one per "
                         f"{what}), got shape {arr.shape}")
    return arr


def matmul_int(a: np.ndarray, b: np.ndarray, *, a_zero_point: object = 0,
               b_zero_point: object = 0, b_int4_shape: tuple[int, ...] | None = None
               ) -> np.ndarray:
    """``(a - a_zero_point) @ (b - b_zero_point)`` with int32 results (ONNX MatMulInteger).

    Numeric contract
    ----------------
    - ``a``: int8/uint8 array ``(..., M, K)`` (or 1-D ``(K,)``); ``b``: int8/uint8
      ``(..., K, N)`` (int4 weights as int8 in -8..7, or packed with :func:`pack_int4` and
      ``b_int4_shape`` giving the unpacked shape). Batch dimensions broadcast as ``np.matmul``.
    - ``a_zero_point``: scalar or one per row of ``a`` (``M``); ``b_zero_point``: scalar or one
      per column of ``b`` (``N``); each within its tensor's dtype range.
    - Accumulation: exact (zero points subtracted in wide integers; dot products through float
      BLAS only while provably exact, else int64), then reduced modulo 2**32 to int32 like ONNX
      Runtime's int32 accumulator (wrap-around, no saturation). No rounding anywhere.
    - Errors: ``TypeError`` for other dtypes; ``ValueError`` for mismatched inner dimensions,
      bad zero-point shape or range.
    """
    a = check_array("a", a, INT_DTYPES)
    b = unpack_weight(b, b_int4_shape, "b")
    b = check_array("b", b, INT_DTYPES)
    if a.ndim < 1 or b.ndim < 1:
        raise ValueError(f"a and b must have at least 1 dimension, got shapes {a.shape} and "
                         f"{b.shape}")
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if a.shape[-1] != kb:
        raise ValueError(f"a.shape[-1] ({a.shape[-1]}) must equal the inner dimension of b "
                         f"({kb}); got shapes {a.shape} and {b.shape}")
    m = a.shape[-2] if a.ndim >= 2 else 1
    n = b.shape[-1] if b.ndim >= 2 else 1
    azp = zero_point_vector("a_zero_point", a_zero_point, a.dtype, m, "row of a")
    bzp = zero_point_vector("b_zero_point", b_zero_point, b.dtype, n, "column of b")
    ac = a.astype(np.int16) - (azp[:, None] if azp.ndim else azp).astype(np.int16)
    bc = b.astype(np.int16) - bzp.astype(np.int16)
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"batch dimensions of a {a.shape[:-2]} and b {b.shape[:-2]} do not "
                         f"broadcast") from None
    return wrap_int32(exact_matmul(ac, bc))

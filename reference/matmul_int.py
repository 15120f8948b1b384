"""Integer matrix multiplication with zero points (ONNX MatMulInteger semantics).

Also home of :func:`exact_matmul`, the exact integer dot product through float BLAS that the
integer convolution shares, and of the accumulation options both take (``accumulation=``):

``"exact"`` (default)
    Every product summed exactly, then reduced modulo 2**32 (ONNX Runtime on aarch64, on x86
    with AVX512-VNNI or AVX-VNNI, and for every dtype pair but uint8 x int8 on any x86).
``"vpmaddubsw"``
    What ONNX Runtime's MLAS uint8 x int8 kernels compute on x86 without VNNI (AVX2, and
    AVX-512 without VNNI): x86 ``vpmaddubsw`` multiplies the *raw* unsigned bytes of ``a`` by
    the raw signed bytes of ``b`` and adds adjacent products in pairs ``(k, k+1)``, ``k`` even,
    **saturating each pair sum to int16**; ``vpmaddwd`` by ones and ``vpaddd`` then add the
    pairs exactly in int32. Zero points never enter the saturating step: MLAS subtracts them
    afterwards, exactly, through row and column sums (``acc = sum(a*b) - zb*rowsum(a) -
    za*colsum(b) + K*za*zb``). K is padded with zeros to a multiple of 4, so an odd last
    element is paired with 0. Only uint8 ``a`` x int8 ``b`` saturates: the instruction takes
    unsigned x signed bytes, and MLAS runs int8 x int8, int8 x uint8 and uint8 x uint8 on
    exact kernels, so those pairs accumulate exactly in this mode too. A pair saturates only
    when both products are large and of one sign (``|a0*b0 + a1*b1| > 32767``).
"""

from __future__ import annotations

import numpy as np

from reference._validate import (
    check_array,
    check_choice,
    check_int_tuple,
    check_zero_point,
    numpy_dtype,
)
from reference.dtypes import QTYPES
from reference.packing import unpack_int4

__all__ = ["ACCUMULATIONS", "FLOAT32_EXACT_BOUND", "FLOAT64_EXACT_BOUND", "exact_dot_dtype",
           "exact_matmul", "int16_pair_overflow", "matmul_int", "wrap_int32"]

#: Largest |sum| a float32 accumulator represents exactly with every partial sum an integer.
FLOAT32_EXACT_BOUND = 2**24
#: Same for float64.
FLOAT64_EXACT_BOUND = 2**53
INT_DTYPES = ("int8", "uint8")
#: Accumulation options of the integer matmul and convolution (module docstring).
ACCUMULATIONS = ("exact", "vpmaddubsw")
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
#: Elements of int32 scratch per step of :func:`int16_pair_overflow` (bounds its memory).
PAIR_CHUNK_ELEMENTS = 2**22


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


def pairs_saturate(accumulation: object, a_dtype: np.dtype, b_dtype: np.dtype) -> bool:
    """Check ``accumulation`` (one of :data:`ACCUMULATIONS`); True when it saturates pair sums
    of this dtype pair (``"vpmaddubsw"`` with uint8 ``a`` and int8 ``b``), False otherwise."""
    check_choice("accumulation", accumulation, ACCUMULATIONS)
    return (accumulation == "vpmaddubsw" and np.dtype(a_dtype) == np.uint8
            and np.dtype(b_dtype) == np.int8)


def int16_pair_overflow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What int16 saturation of pair sums removes from ``a @ b`` (raw uint8 ``a`` (M, K), raw
    int8 ``b`` (K, N)): ``sum_j p_j - sat16(p_j)`` with ``p_j = a[:, 2j] b[2j] + a[:, 2j+1]
    b[2j+1]`` (an odd K pairs the last element with 0). int64 (M, N); the saturating sum is
    ``a @ b - int16_pair_overflow(a, b)``.

    Numeric contract: exact integers (|p_j| <= 2 * 255 * 128 = 65280 fits int32). Only pairs
    ``(j, n)`` whose weights can overflow are evaluated: since ``0 <= a <= 255``, ``p_j <=
    255 * (max(b0, 0) + max(b1, 0))`` and ``p_j >= 255 * (min(b0, 0) + min(b1, 0))``.
    Memory: at most :data:`PAIR_CHUNK_ELEMENTS` int32 scratch values per step.
    """
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), np.int64)
    if k % 2:  # MLAS pads K with zeros: the last element pairs with 0
        a = np.concatenate([a, np.zeros((m, 1), a.dtype)], axis=1)
        b = np.concatenate([b, np.zeros((1, n), b.dtype)], axis=0)
    b0, b1 = b[0::2].astype(np.int32), b[1::2].astype(np.int32)
    up = 255 * (np.maximum(b0, 0) + np.maximum(b1, 0)) > INT16_MAX
    down = 255 * (np.minimum(b0, 0) + np.minimum(b1, 0)) < INT16_MIN
    # candidate (pair j, column c), sorted by column so that a reduceat sums each column
    cols, pairs = np.nonzero((up | down).T)
    if cols.size == 0 or m == 0:
        return out
    a0, a1 = a[:, 0::2].astype(np.int32), a[:, 1::2].astype(np.int32)
    step = max(1, PAIR_CHUNK_ELEMENTS // max(m, 1))
    for s in range(0, cols.size, step):
        j, c = pairs[s:s + step], cols[s:s + step]
        p = a0[:, j] * b0[j, c] + a1[:, j] * b1[j, c]            # (M, chunk), |p| <= 65280
        excess = p - np.clip(p, INT16_MIN, INT16_MAX)
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        out[:, c[starts]] += np.add.reduceat(excess, starts, axis=1)
    return out


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
    zdt = numpy_dtype(zp)
    if zdt is not None and zdt != dtype:
        raise TypeError(f"{name} must have the dtype of its tensor ({dtype.name}), got "
                        f"{zdt.name}")
    if arr.size == 1:
        return arr.reshape(())
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{name} must be a scalar or 1-D with {length} entries (one per "
                         f"{what}), got shape {arr.shape}")
    return arr


def matmul_int(a: np.ndarray, b: np.ndarray, *, a_zero_point: object = 0,
               b_zero_point: object = 0, b_int4_shape: tuple[int, ...] | None = None,
               accumulation: str = "exact") -> np.ndarray:
    """``(a - a_zero_point) @ (b - b_zero_point)`` with int32 results (ONNX MatMulInteger).

    Numeric contract
    ----------------
    - ``a``: int8/uint8 array ``(..., M, K)`` (or 1-D ``(K,)``); ``b``: int8/uint8
      ``(..., K, N)`` (int4 weights as int8 in -8..7, or packed with :func:`pack_int4` and
      ``b_int4_shape`` giving the unpacked shape). Batch dimensions broadcast as ``np.matmul``.
    - ``a_zero_point``: scalar or one per row of ``a`` (``M``); ``b_zero_point``: scalar or one
      per column of ``b`` (``N``); each within its tensor's dtype range.
    - Accumulation ``"exact"``: zero points subtracted in wide integers; dot products through
      float BLAS only while provably exact, else int64. ``"vpmaddubsw"`` (uint8 ``a`` x int8
      ``b`` only, exact for other dtype pairs): the raw products of each pair ``(k, k+1)``, ``k``
      even, summed with int16 saturation as ONNX Runtime's x86 kernels without VNNI do (module
      docstring), computed as the exact result minus :func:`int16_pair_overflow`. Either way
      the result is then reduced modulo 2**32 to int32 like ONNX Runtime's int32 accumulator
      (wrap-around, no saturation). No rounding anywhere.
    - Errors: ``TypeError`` for other dtypes; ``ValueError`` for mismatched inner dimensions,
      bad zero-point shape or range, or an unknown ``accumulation``.
    """
    a = check_array("a", a, INT_DTYPES)
    b = unpack_weight(b, b_int4_shape, "b")
    b = check_array("b", b, INT_DTYPES)
    saturate = pairs_saturate(accumulation, a.dtype, b.dtype)
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
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"batch dimensions of a {a.shape[:-2]} and b {b.shape[:-2]} do not "
                         f"broadcast") from None
    acc = exact_matmul(ac, bc)
    if saturate:
        acc = acc - _batched_pair_overflow(a, b, batch).reshape(acc.shape)
    return wrap_int32(acc)


def _batched_pair_overflow(a: np.ndarray, b: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """:func:`int16_pair_overflow` of every matrix of a broadcast ``np.matmul`` (1-D operands
    promoted as ``np.matmul`` does); shape ``batch + (M, N)``."""
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    m, n = a2.shape[-2], b2.shape[-1]
    a2 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b2 = np.broadcast_to(b2, batch + b2.shape[-2:])
    out = np.empty(batch + (m, n), np.int64)
    for idx in np.ndindex(*batch):
        out[idx] = int16_pair_overflow(a2[idx], b2[idx])
    return out


def add_bias_int32(acc: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``acc + bias`` for an int32 accumulator and an int32 bias broadcast along the last axis
    (a matmul's output columns; QGemm's ``C``).

    Numeric contract: exact sum in int64, then reduced modulo 2**32 to int32 (the wrap of an
    int32 accumulator that starts at the bias, as :func:`matmul_int` and ONNX Runtime).
    Errors: TypeError for non-int32 operands; ValueError if the shapes do not broadcast.
    """
    acc = check_array("acc", acc, ("int32",))
    bias = check_array("bias", bias, ("int32",))
    try:
        np.broadcast_shapes(acc.shape, bias.shape)
    except ValueError:
        raise ValueError(f"bias has shape {bias.shape}: does not broadcast against acc "
                         f"{acc.shape}") from None
    return wrap_int32(acc.astype(np.int64) + bias)

"""float32 arithmetic that NumPy does not offer directly: fused multiply-add with one rounding,
and x86's float -> int32 conversion (``cvtps2dq``).

Shared by the operators that reproduce a runtime's vector kernels (``reference.qlinear_ops``):
where a kernel issues ``vfmadd``, the golden model must round ``a * b + c`` once, not twice.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INT32_INDEFINITE", "cvtps2dq", "fma32"]

#: What x86 ``cvtps2dq`` / ``cvttss2si`` return for NaN or a value outside int32 ("integer
#: indefinite", 0x80000000).
INT32_INDEFINITE = -(2**31)


def fma32(a: object, b: object, c: object) -> np.ndarray:
    """``a * b + c`` for float32 operands, rounded once to float32 (IEEE fusedMultiplyAdd,
    round to nearest even), as x86 ``vfmadd`` and ARM ``fmla`` compute it.

    Numeric contract: the float64 product of two float32 values is exact (48 significant
    bits); the float64 sum ``p + c`` is made *round-to-odd* (its exact error from TwoSum
    moves an even result one ulp toward the true value), and a round-to-odd result with 53
    bits rounds to nearest at 24 bits exactly as the exact value would (Boldo and Melquiond,
    "When double rounding is odd", 2005). inf and NaN propagate as float64 arithmetic does.
    Result: float32 array of the broadcast shape.
    """
    a64, b64, c64 = (np.asarray(v, np.float32).astype(np.float64) for v in (a, b, c))
    p = a64 * b64
    with np.errstate(invalid="ignore", over="ignore"):
        s = p + c64
        bv = s - p                                   # TwoSum: p + c == s + err exactly
        err = (p - (s - bv)) + (c64 - bv)
        even = (np.asarray(s).view(np.int64) & 1) == 0
        fix = np.isfinite(s) & (err != 0) & even
        s = np.where(fix, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return np.asarray(s).astype(np.float32)


def cvtps2dq(v: object) -> np.ndarray:
    """x86 ``cvtps2dq``: float32 -> int32, round half to even; NaN and values outside the int32
    range give ``INT32_INDEFINITE`` (-2**31), not a saturated value. Result int64 array."""
    v = np.asarray(v, np.float32)
    with np.errstate(invalid="ignore"):
        r = np.rint(v).astype(np.float64)
        ok = np.isfinite(r) & (r >= -(2.0**31)) & (r < 2.0**31)
        return np.where(ok, np.where(ok, r, 0).astype(np.int64), INT32_INDEFINITE)

"""Per-element integer/float32 arithmetic shared by the CPU and CUDA kernels.

Plain Python functions built by `build(jit)`, compiled twice: `numba.njit` for the CPU kernels and
`numba.cuda.jit(device=True)` for the CUDA kernels (and run as Python by the CUDA simulator),
so the two backends execute the same rounding code. They use only operations whose result is
the same in all three settings: explicit float32 casts, int64 arithmetic whose values stay
in range, `math.floor` and int64 truncation of float32 values below 2**23, and two's-complement wrapping
written as arithmetic (the simulator would raise on a plain out-of-range int32 cast).
"""

import math
from types import SimpleNamespace

import numpy as np
from numba import float32, int64

_F32_INTEGRAL = 8388608.0  # 2**23: every float32 of at least this magnitude is an integer
#: `variant` codes of requant_fixed_one.
FIXED_TFLITE, FIXED_SINGLE, FIXED_RUY = 0, 1, 2


# long: a factory of small jitted closures that call each other; splitting it would break the
# one consistent set per backend that the closure guarantees
def build(jit, *, native_rint=False):
    """Compile the per-element functions with `jit` (njit or cuda.jit(device=True)).

    `native_rint=True` (CPU only) rounds half to even with `np.rint` (the IEEE instruction,
    `vroundss`), the same value as the portable floor-based version, which the CUDA kernels
    and the simulator use.

    Returns a namespace of the compiled functions; helpers call each other through the
    closure, so each backend gets one consistent set.
    """
    @jit
    def wrap_int32(v):
        """int64 -> the int32 value equal modulo 2**32 (two's complement wrap), as int64."""
        return ((v + 2147483648) & 4294967295) - 2147483648

    @jit
    def round_half_even_f32(v):
        """Nearest integer to float32 `v`, ties to even (IEEE rint); `v` finite, |v| < 2**62."""
        if native_rint:
            return int64(np.rint(v))
        if abs(v) >= _F32_INTEGRAL:
            return int64(v)
        f = math.floor(v)
        d = v - f  # exact: v and floor(v) are within 1 of each other below 2**23
        r = int64(f)
        if d > 0.5 or (d == 0.5 and r % 2 != 0):
            r += 1
        return r

    @jit
    def round_half_away_f32(v):
        """Nearest integer to float32 `v`, ties away from zero (C `std::round`)."""
        if abs(v) >= _F32_INTEGRAL:
            return int64(v)
        r = int64(v)  # truncates toward zero
        frac = abs(v - r)
        if frac >= 0.5:
            r += 1 if v > 0 else -1
        return r

    @jit
    def quantize_one(x, scale, zp, qmin, qmax, half_away):
        """saturate(round(float32(x) / scale) + zp): one float32 division, clamp, round."""
        v = float32(float32(x) / float32(scale))
        lo = float32(qmin - zp)
        hi = float32(qmax - zp)
        # Clamping before rounding equals rounding then clamping (integer bounds, monotone
        # rounding) and keeps inf away from the integer conversion.
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        r = round_half_away_f32(v) if half_away else round_half_even_f32(v)
        return r + zp

    @jit
    def dequantize_one(q, scale, zp):
        """float32(q - zp) * scale, one float32 multiply (ONNX Runtime's order)."""
        return float32(float32(int64(q) - zp) * float32(scale))

    @jit
    def requant_float_one(acc, m, zp, lo, hi):
        """ "onnxruntime"/"xnnpack": fl32(fl32(acc) * m), clamp to [lo-zp, hi-zp], rint, + zp."""
        v = float32(float32(acc) * m)
        flo = float32(lo - zp)
        fhi = float32(hi - zp)
        if v < flo:
            v = flo
        if v > fhi:
            v = fhi
        return round_half_even_f32(v) + zp

    @jit
    def _srdhm(a, b):
        """gemmlowp SaturatingRoundingDoublingHighMul of int32 values held in int64."""
        if a == -2147483648 and b == -2147483648:
            return int64(2147483647)
        ab = a * b
        s = ab + (1073741824 if ab >= 0 else 1 - 1073741824)
        return (s >> 31) if s >= 0 else -((-s) >> 31)  # C division truncates toward zero

    @jit
    def _rounding_divide_by_pot(x, exponent):
        """gemmlowp RoundingDivideByPOT: x / 2**exponent, ties away from zero."""
        mask = (int64(1) << exponent) - 1
        remainder = x & mask
        threshold = (mask >> 1) + (1 if x < 0 else 0)
        return (x >> exponent) + (1 if remainder > threshold else 0)

    @jit
    def requant_fixed_one(acc, multiplier, shift, variant, zp, lo, hi):
        """Q31 multiplier + shift, then + zp and clamp. `variant`: FIXED_TFLITE (double rounding,
        MultiplyByQuantizedMultiplier), FIXED_SINGLE (TFLITE_SINGLE_ROUNDING), FIXED_RUY (ruy
        AVX2: high-mul, then a rounding right shift half up)."""
        x = int64(acc)
        left = shift if shift > 0 else 0
        right = -shift if shift < 0 else 0
        if variant == 1:
            total = 31 - shift
            out = (x * multiplier + (int64(1) << (total - 1))) >> total
        elif variant == 2:
            r = (wrap_int32(x << left) * int64(multiplier) + 1073741824) >> 31
            nudge = (int64(1) << (right - 1)) if right > 0 else int64(0)
            if r > 2147483647 - nudge:
                out = int64(1) << (31 - right)
            else:
                out = (r + nudge) >> right
        else:
            out = _rounding_divide_by_pot(_srdhm(wrap_int32(x << left), int64(multiplier)),
                                          right)
        out += zp
        if out < lo:
            out = lo
        if out > hi:
            out = hi
        return out

    return SimpleNamespace(
        wrap_int32=wrap_int32, round_half_even_f32=round_half_even_f32,
        round_half_away_f32=round_half_away_f32, quantize_one=quantize_one,
        dequantize_one=dequantize_one, requant_float_one=requant_float_one,
        requant_fixed_one=requant_fixed_one)

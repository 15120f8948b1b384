"""Requantize int32 accumulators on the CPU in every mode of `reference.requantize`.

"onnxruntime" / "xnnpack": float32 multiplier, `fl32(fl32(acc) * m)`, clamp, round half to
even. "tflite": Q31 multiplier + shift, SaturatingRoundingDoublingHighMul then
RoundingDivideByPOT (two roundings). "tflite-single": one rounding `(acc * mult + 2**(30 -
shift)) >> (31 - shift)`. "tflite-ruy": ruy's AVX2 high-mul, then a rounding right shift
half up. The per-element code is `kernels._scalar.requant_float_one` /
`requant_fixed_one`, shared with the CUDA kernels; scales are folded per channel once on the
host (`kernels._quant_params.requantize_params`).
"""

import numpy as np
from numba import njit, prange

from kernels import _scalar
from kernels._quant_params import requantize_params

__all__ = ["requantize", "requantize_kernel"]

_ops = _scalar.build(njit(inline="always"), native_rint=True)
_requant_float_one = _ops.requant_float_one
_requant_fixed_one = _ops.requant_fixed_one


@njit(parallel=True, cache=True)
def requantize_kernel(acc, fixed_point, m, multiplier, shift, variant, zp, lo, hi, out):
    """out[o, c, i] = requantized acc[o, c, i] with channel c's parameters (1 = per tensor)."""
    outer, ch, inner = acc.shape
    np_ = m.shape[0]
    for o in prange(outer):
        for c in range(ch):
            k = c % np_
            for i in range(inner):
                if fixed_point:
                    out[o, c, i] = _requant_fixed_one(acc[o, c, i], multiplier[k], shift[k],
                                                      variant, zp, lo, hi)
                else:
                    out[o, c, i] = _requant_float_one(acc[o, c, i], m[k], zp, lo, hi)


def requantize(acc, input_scale, weight_scale, output_scale, output_zero_point=0, *,
               mode="onnxruntime", dtype="int8", axis=1, clamp=None):
    """Bit-exact CPU twin of `reference.requantize.requantize` (same contract and errors)."""
    p = requantize_params(acc, input_scale, weight_scale, output_scale, output_zero_point,
                          mode=mode, dtype=dtype, axis=axis, clamp=clamp)
    out = np.empty(p.acc.shape, p.storage)
    requantize_kernel(p.acc, p.fixed_point, p.m, p.multiplier, p.shift, p.variant, p.zp, p.lo,
                      p.hi, out)
    return out.reshape(p.shape)

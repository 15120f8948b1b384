"""Requantize int32 accumulators in Numba-CUDA in every mode of `reference.requantize`.

One thread per element; the per-element code is `kernels._scalar.requant_float_one`
("onnxruntime", "xnnpack") or `requant_fixed_one` ("tflite", "tflite-single", "tflite-ruy"), the same
source as the CPU kernel. Scales are folded per channel on the host.
"""

import math

from numba import cuda

from kernels import _scalar
from kernels._quant_params import requantize_params
from kernels.cuda._index import oci_of

__all__ = ["requantize"]

#: Threads per block.
THREADS = 128

_ops = _scalar.build(cuda.jit(device=True, inline=True))
_requant_float_one = _ops.requant_float_one
_requant_fixed_one = _ops.requant_fixed_one


@cuda.jit(cache=True)
def requantize_kernel(acc, fixed_point, m, multiplier, shift, variant, zp, lo, hi, out):
    t = cuda.grid(1)
    outer, ch, inner = acc.shape
    if t >= outer * ch * inner:
        return
    o, c, i = oci_of(t, ch, inner)
    k = c % m.shape[0]
    if fixed_point:
        out[o, c, i] = _requant_fixed_one(acc[o, c, i], multiplier[k], shift[k], variant, zp,
                                          lo, hi)
    else:
        out[o, c, i] = _requant_float_one(acc[o, c, i], m[k], zp, lo, hi)


def requantize(acc, input_scale, weight_scale, output_scale, output_zero_point=0, *,
               mode="onnxruntime", dtype="int8", axis=1, clamp=None):
    """Bit-exact CUDA twin of `reference.requantize.requantize` (same contract and errors)."""
    p = requantize_params(acc, input_scale, weight_scale, output_scale, output_zero_point,
                          mode=mode, dtype=dtype, axis=axis, clamp=clamp)
    out = cuda.device_array(p.acc.shape, p.storage)
    if p.acc.size:
        requantize_kernel[max(1, math.ceil(p.acc.size / THREADS)), THREADS](
            cuda.to_device(p.acc), p.fixed_point, cuda.to_device(p.m),
            cuda.to_device(p.multiplier), cuda.to_device(p.shift), p.variant, p.zp, p.lo, p.hi,
            out)
    return out.copy_to_host().reshape(p.shape)

"""Quantize / dequantize in Numba-CUDA, bit-exact with `reference.quantize`.

One thread per element over the (outer, channels, inner) layout of `kernels._quant_params`;
the per-element code is `kernels._scalar` compiled as device functions (the same source as
the CPU kernels), so both backends round identically.
"""

import math

import numpy as np
from numba import cuda

from kernels import _scalar
from kernels._quant_params import dequantize_params, quantize_params
from kernels.cuda._index import oci_of

__all__ = ["dequantize", "quantize"]

#: Threads per block of the element-wise kernels.
THREADS = 128

_ops = _scalar.build(cuda.jit(device=True, inline=True))
_quantize_one = _ops.quantize_one
_dequantize_one = _ops.dequantize_one


@cuda.jit(cache=True)
def quantize_kernel(x, scale, zp, qmin, qmax, half_away, out):
    t = cuda.grid(1)
    outer, ch, inner = x.shape
    if t >= outer * ch * inner:
        return
    o, c, i = oci_of(t, ch, inner)
    so, sc, si = scale.shape
    zo, zc, zi = zp.shape
    out[o, c, i] = _quantize_one(x[o, c, i], scale[o % so, c % sc, i % si],
                                 zp[o % zo, c % zc, i % zi], qmin, qmax, half_away)


@cuda.jit(cache=True)
def dequantize_kernel(q, scale, zp, out):
    t = cuda.grid(1)
    outer, ch, inner = q.shape
    if t >= outer * ch * inner:
        return
    o, c, i = oci_of(t, ch, inner)
    so, sc, si = scale.shape
    zo, zc, zi = zp.shape
    out[o, c, i] = _dequantize_one(q[o, c, i], scale[o % so, c % sc, i % si],
                                   zp[o % zo, c % zc, i % zi])


def _blocks(n):
    return max(1, math.ceil(n / THREADS))


def quantize(x, scale, zero_point=0, *, dtype="int8", axis=None, block_size=None,
             rounding="half_even"):
    """Bit-exact CUDA twin of `reference.quantize.quantize` (same contract and errors)."""
    p = quantize_params(x, scale, zero_point, dtype=dtype, axis=axis, block_size=block_size,
                        rounding=rounding)
    out = cuda.device_array(p.x.shape, p.storage)
    if p.x.size:
        quantize_kernel[_blocks(p.x.size), THREADS](
            cuda.to_device(p.x), cuda.to_device(p.scale), cuda.to_device(p.zero_point),
            p.qmin, p.qmax, p.half_away, out)
    return out.copy_to_host().reshape(p.shape)


def dequantize(q, scale, zero_point=0, *, axis=None, block_size=None):
    """Bit-exact CUDA twin of `reference.quantize.dequantize` (float32 result)."""
    q3, s3, zp3, shape = dequantize_params(q, scale, zero_point, axis=axis, block_size=block_size)
    out = cuda.device_array(q3.shape, np.float32)
    if q3.size:
        dequantize_kernel[_blocks(q3.size), THREADS](
            cuda.to_device(q3), cuda.to_device(s3), cuda.to_device(zp3), out)
    return out.copy_to_host().reshape(shape)

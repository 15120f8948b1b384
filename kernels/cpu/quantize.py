"""Quantize / dequantize on the CPU, bit-exact with `reference.quantize`.

The per-element arithmetic is `kernels._scalar.quantize_one` / `dequantize_one`, the same
source the CUDA kernels compile: one float32 division by the scale, clamp to the target range
in float, round (half to even or half away from zero, as named by `rounding`), add the zero
point. Tensors are laid out as (outer, channels, inner) around the quantization axis (see
`kernels._quant_params`), so per-tensor, per-axis and blocked parameters share one loop.
"""

import numpy as np
from numba import njit, prange

from kernels import _scalar
from kernels._quant_params import dequantize_params, quantize_params

__all__ = ["dequantize", "quantize"]

_ops = _scalar.build(njit(inline="always"), native_rint=True)
_quantize_one = _ops.quantize_one
_dequantize_one = _ops.dequantize_one


@njit(parallel=True, cache=True)
def _quantize_kernel(x, scale, zp, qmin, qmax, half_away, out):
    outer, ch, inner = x.shape
    so, sc, si = scale.shape
    zo, zc, zi = zp.shape
    for o in prange(outer):
        for c in range(ch):
            for i in range(inner):
                out[o, c, i] = _quantize_one(x[o, c, i], scale[o % so, c % sc, i % si],
                                             zp[o % zo, c % zc, i % zi], qmin, qmax, half_away)


@njit(parallel=True, cache=True)
def _dequantize_kernel(q, scale, zp, out):
    outer, ch, inner = q.shape
    so, sc, si = scale.shape
    zo, zc, zi = zp.shape
    for o in prange(outer):
        for c in range(ch):
            for i in range(inner):
                out[o, c, i] = _dequantize_one(q[o, c, i], scale[o % so, c % sc, i % si],
                                               zp[o % zo, c % zc, i % zi])


def quantize(x, scale, zero_point=0, *, dtype="int8", axis=None, block_size=None,
             rounding="half_even"):
    """Bit-exact CPU twin of `reference.quantize.quantize` (same contract and errors)."""
    p = quantize_params(x, scale, zero_point, dtype=dtype, axis=axis, block_size=block_size,
                        rounding=rounding)
    out = np.empty(p.x.shape, p.storage)
    _quantize_kernel(p.x, p.scale, p.zero_point, p.qmin, p.qmax, p.half_away, out)
    return out.reshape(p.shape)


def dequantize(q, scale, zero_point=0, *, axis=None, block_size=None):
    """Bit-exact CPU twin of `reference.quantize.dequantize` (float32 result)."""
    q3, s3, zp3, shape = dequantize_params(q, scale, zero_point, axis=axis, block_size=block_size)
    out = np.empty(q3.shape, np.float32)
    _dequantize_kernel(q3, s3, zp3, out)
    return out.reshape(shape)

"""Fused Conv + BN + ReLU + requantize in Numba-CUDA, bit-exact with
`reference.fusion.conv_bn_relu_int`.

One thread per output element: the conv sum (BN already folded into weights, per-channel
scale and int32 bias), then in the same thread the requantize (any mode, `kernels._scalar`)
and the activation clamp, storing int8/uint8 directly: the int32 accumulator never leaves
registers.
"""

import math

import numpy as np
from numba import cuda, int32

from kernels import _scalar
from kernels.cpu.fusion import fused_params
from kernels.cuda._index import nchw_of

__all__ = ["conv_bn_relu_int"]

#: Threads per block.
THREADS = 128

_ops = _scalar.build(cuda.jit(device=True, inline=True))
_requant_float_one = _ops.requant_float_one
_requant_fixed_one = _ops.requant_fixed_one


@cuda.jit(cache=True)
def fused_conv_kernel(x, w, x_zp, bias, sh, sw, pt, pl, dh, dw, fixed_point, m, multiplier,
                      shift, variant, zp, lo, hi, y):
    t = cuda.grid(1)
    n_img, c, h, wd = x.shape
    o_total, cg, kh, kw = w.shape
    _, _, oh, ow = y.shape
    if t >= n_img * o_total * oh * ow:
        return
    n, o, oy, ox = nchw_of(t, o_total, oh, ow)
    g = o // (o_total // (c // cg))
    acc = int32(bias[o])
    for cl in range(cg):
        for i in range(kh):
            iy = oy * sh - pt + i * dh
            for j in range(kw):
                ix = ox * sw - pl + j * dw
                if iy >= 0 and iy < h and ix >= 0 and ix < wd:
                    acc = int32(acc + (int32(x[n, g * cg + cl, iy, ix]) - x_zp) *
                                int32(w[o, cl, i, j]))
    if fixed_point:
        y[n, o, oy, ox] = _requant_fixed_one(acc, multiplier[o], shift[o], variant, zp, lo, hi)
    else:
        y[n, o, oy, ox] = _requant_float_one(acc, m[o], zp, lo, hi)


def conv_bn_relu_int(x, w_q, bias, *, x_scale, w_scale, out_scale, x_zero_point=0,
                     out_zero_point=0, activation="relu", mode="onnxruntime", dtype="int8",
                     strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """Bit-exact CUDA twin of `reference.fusion.conv_bn_relu_int` (same contract and errors)."""
    kw = dict(x_scale=x_scale, w_scale=w_scale, out_scale=out_scale, x_zero_point=x_zero_point,
              out_zero_point=out_zero_point, activation=activation, mode=mode, dtype=dtype,
              strides=strides, pads=pads, dilations=dilations, groups=groups)
    geo, rq, (m, mult, shift) = fused_params(x, w_q, bias, **kw)
    w, x_zp, _, bias64, strides, pads, _dil, _g, (oh, ow) = geo
    y = cuda.device_array((x.shape[0], w.shape[0], oh, ow), rq.storage)
    fused_conv_kernel[max(1, math.ceil(y.size / THREADS)), THREADS](
        cuda.to_device(np.ascontiguousarray(x)), cuda.to_device(np.ascontiguousarray(w)), x_zp,
        cuda.to_device(bias64.astype(np.int32)), strides[0], strides[1], pads[0], pads[1],
        _dil[0], _dil[1], rq.fixed_point, cuda.to_device(m), cuda.to_device(mult),
        cuda.to_device(shift), rq.variant, rq.zp, rq.lo, rq.hi, y)
    return y.copy_to_host()

"""Fused Conv + BN + ReLU + requantize on the CPU, bit-exact with
`reference.fusion.conv_bn_relu_int`.

BatchNorm is folded into the integer weights, the per-channel weight scale and the int32 bias
beforehand (`reference.fusion.fold_bn_quantize` / `fold_bn_into_quantized`); the activation
becomes the requantize clamp (`reference.fusion.activation_clamp`). The fused kernel is the
conv's GEMM (`kernels.cpu.conv_int`: patch packing + VNNI GEMM) whose epilogue adds the bias,
wraps to int32, requantizes (any mode) and clamps straight into the int8/uint8 NCHW output:
no int32 NCHW tensor is formed. With one group on a VNNI host the patches are written
directly as the GEMM's uint8 A panel (with row sums) and the epilogue works on the raw
`vpdpbusd` sums, applying the zero-point correction itself. Depthwise layers run the direct depthwise kernel and then
the requantize kernel.
"""

import numpy as np
from numba import njit, prange

from kernels import _scalar
from kernels._args import conv_geometry
from kernels._quant_params import requantize_params
from kernels.cpu.conv_int import (
    _im2col,
    conv2d_int,
    gemm_nchw_vnni,
    lowered_gemm_operands,
    unwrap_packed,
    vnni_epilogue_nchw,
)
from kernels.cpu.matmul_int import PackedB, matmul_int
from kernels.cpu.requantize import requantize_kernel
from reference.fusion import activation_clamp

__all__ = ["conv_bn_relu_int", "fused_params"]

_ops = _scalar.build(njit(inline="always"), native_rint=True)
_requant_float_one = _ops.requant_float_one
_requant_fixed_one = _ops.requant_fixed_one
_wrap_int32 = _ops.wrap_int32


@njit(parallel=True, cache=True)
def _requant_epilogue(acc, o0, bias, fixed_point, m, multiplier, shift, variant, zp, lo, hi,
                      oh, ow, y):
    """y[n, o0 + o, p] = requant(wrap32(acc[(n, p), o] + bias)) (y: NCHW viewed as (N, O, OH*OW))."""
    n_img = y.shape[0]
    og = acc.shape[1]
    n_ob = (og + 15) // 16  # 16 channels at a time: contiguous reads of acc, rows of y
    for t in prange(n_img * n_ob):
        n = t // n_ob
        ob = (t % n_ob) * 16
        for p in range(oh * ow):
            for o in range(ob, min(ob + 16, og)):
                oc = o0 + o
                v = _wrap_int32(np.int64(acc[n * oh * ow + p, o]) + bias[oc])
                if fixed_point:
                    r = _requant_fixed_one(v, multiplier[oc], shift[oc], variant, zp, lo, hi)
                else:
                    r = _requant_float_one(v, m[oc], zp, lo, hi)
                y[n, oc, p] = r


def fused_params(x, w_q, bias, *, x_scale, w_scale, out_scale, x_zero_point, out_zero_point,
                 activation, mode, dtype, strides, pads, dilations, groups):
    """Checked geometry and per-channel requantize parameters (scales broadcast to O)."""
    geo = conv_geometry(x, w_q, x_zero_point=x_zero_point, w_zero_point=0, bias=bias,
                        strides=strides, pads=pads, dilations=dilations, groups=groups,
                        w_int4_shape=None)
    o = geo[0].shape[0]
    clamp = activation_clamp(activation, out_scale, out_zero_point, dtype=dtype)
    rq = requantize_params(np.zeros((1, o, 1), np.int32), x_scale, w_scale, out_scale,
                           out_zero_point, mode=mode, dtype=dtype, axis=1, clamp=clamp)
    per_channel = np.ones(o, np.int64)
    return geo, rq, (np.broadcast_to(rq.m, (o,)).astype(np.float32),
                     rq.multiplier * per_channel, rq.shift * per_channel)


def conv_bn_relu_int(x, w_q, bias, *, x_scale, w_scale, out_scale, x_zero_point=0,
                     out_zero_point=0, activation="relu", mode="onnxruntime", dtype="int8",
                     strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """Bit-exact CPU twin of `reference.fusion.conv_bn_relu_int` (same contract and errors).

    `w_q` may be a `kernels.cpu.conv_int.PackedConvWeights` (`pack_conv_weights(w_q,
    groups=groups)`): same result, no per-call weight packing; mismatched groups or input
    channels raise ValueError.
    """
    w_q, packed = unwrap_packed(x, w_q, groups, None)
    kw = dict(x_scale=x_scale, w_scale=w_scale, out_scale=out_scale, x_zero_point=x_zero_point,
              out_zero_point=out_zero_point, activation=activation, mode=mode, dtype=dtype,
              strides=strides, pads=pads, dilations=dilations, groups=groups)
    geo, rq, (m, mult, shift) = fused_params(x, w_q, bias, **kw)
    w, x_zp, _, bias64, strides, pads, dilations, groups, (oh, ow) = geo
    n_img = x.shape[0]
    o, cg, kh, kwd = w.shape
    if cg == 1:  # depthwise: direct conv kernel, then the requantize kernel
        acc = conv2d_int(x, w, x_zero_point=x_zero_point, bias=bias, strides=strides, pads=pads,
                         dilations=dilations, groups=groups)
        out = np.empty(acc.shape, rq.storage)
        requantize_kernel(acc.reshape(n_img, o, oh * ow), rq.fixed_point, m, mult, shift,
                          rq.variant, rq.zp, rq.lo, rq.hi, out.reshape(n_img, o, oh * ow))
        return out
    xh, wmats, og = lowered_gemm_operands(x, w, groups, packed)
    y = np.empty((n_img, o, oh, ow), rq.storage)
    if groups == 1 and isinstance(wmats[0], PackedB):  # one VNNI GEMM, patches packed as A
        raw, n_pad, rowsum, corr, b0 = gemm_nchw_vnni(  # weights symmetric: w_zp = 0
            x, xh, wmats[0], x_zp, np.zeros(o, np.int64), bias64, kh, kwd, strides, pads,
            dilations, oh, ow)
        vnni_epilogue_nchw(raw, n_pad, rowsum, corr, b0, True, rq.fixed_point, m, mult, shift,
                           rq.variant, rq.zp, rq.lo, rq.hi, oh * ow, y.reshape(n_img, o, oh * ow))
        return y
    cols = np.empty((n_img * oh * ow, cg * kh * kwd), x.dtype)
    for g in range(groups):
        _im2col(xh, g * cg, cg, kh, kwd, x.dtype.type(x_zp), strides, pads, dilations, oh, ow,
                cols)
        acc = matmul_int(cols, wmats[g], a_zero_point=x_zp)
        _requant_epilogue(acc, g * og, bias64, rq.fixed_point, m, mult, shift, rq.variant, rq.zp,
                          rq.lo, rq.hi, oh, ow, y.reshape(n_img, o, oh * ow))
    return y

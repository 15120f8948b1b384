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
from kernels.cpu.conv_int import _im2col, conv2d_int, lowered_gemm_operands, unwrap_packed
from kernels.cpu.matmul_int import PackedB, gemm_vnni_raw, matmul_int, padded_a_shape
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


@njit(parallel=True, cache=True)
def _im2col_u(xh, cg, kh, kw, pad_value, flip, strides, pads, dilations, oh, ow, out, rowsum):
    """Patches of NHWC `xh` (groups=1) straight into the VNNI A panel: uint8 (XOR 0x80 when
    `flip`: int8 x), columns (i, j, c), zero padding rows/columns pre-set; with row sums."""
    n_img, h, wd, _ = xh.shape
    x = np.uint8(0x80) if flip else np.uint8(0)
    pad_u = np.uint8(pad_value) ^ x
    for row in prange(n_img * oh * ow):
        n = row // (oh * ow)
        p = row % (oh * ow)
        oy = p // ow
        ox = p % ow
        s = np.int64(0)
        for i in range(kh):
            iy = oy * strides[0] - pads[0] + i * dilations[0]
            for j in range(kw):
                ix = ox * strides[1] - pads[1] + j * dilations[1]
                dst = out[row, (i * kw + j) * cg:(i * kw + j + 1) * cg]
                if 0 <= iy < h and 0 <= ix < wd:  # branch outside the channel loop: it vectorizes
                    src = xh[n, iy, ix]
                    for c in range(cg):
                        v = np.uint8(src[c]) ^ x
                        dst[c] = v
                        s += np.int64(v)
                else:
                    for c in range(cg):
                        dst[c] = pad_u
                    s += np.int64(pad_u) * cg
        rowsum[row] = s


#: Output pixels per epilogue task. A task stages a 16-channel x 256-pixel tile of the GEMM
#: result (contiguous 64-byte reads per pixel) transposed into a local buffer, then writes
#: each channel's contiguous NCHW row in a loop LLVM vectorizes (float requantize path).
_EPI_PIXELS = 256


@njit(parallel=True, cache=True)
def _vnni_requant_epilogue(c, n_pad, rowsum, corr, b0, fixed_point, m, multiplier, shift,
                           variant, zp, lo, hi, hw, y):
    """y[n, o, p] = requant(wrap32(raw VNNI sum - b0[o] * rowsum[i] + corr[o])), i = n*hw + p:
    the GEMM's int32 results go straight from the raw accumulators to the int8/uint8 output.
    `corr[o]` = bias[o] - A0 * colsum[o] + K * A0 * b0[o] (exact int64, folded per call);
    `c` has n_pad >= 16 * ceil(O / 16) columns, so a 16-channel block never reads past it."""
    n_img, o_total = y.shape[0], y.shape[1]
    n_ob = (o_total + 15) // 16
    n_pb = (hw + _EPI_PIXELS - 1) // _EPI_PIXELS
    for t in prange(n_img * n_ob * n_pb):
        n = t // (n_ob * n_pb)
        r = t % (n_ob * n_pb)
        ob = (r // n_pb) * 16
        p0 = (r % n_pb) * _EPI_PIXELS
        npx = min(_EPI_PIXELS, hw - p0)
        i0 = n * hw + p0
        tile = np.empty((16, _EPI_PIXELS), np.int32)
        for pl in range(npx):
            row = (i0 + pl) * n_pad + ob
            for ol in range(16):
                tile[ol, pl] = c[row + ol]
        rs = rowsum[i0:i0 + npx]
        for ol in range(min(16, o_total - ob)):
            o = ob + ol
            base = corr[o]
            bo = b0[o]
            src = tile[ol]
            dst = y[n, o, p0:p0 + npx]
            if fixed_point:
                mul = multiplier[o]
                sh = shift[o]
                for pl in range(npx):
                    v = _wrap_int32(np.int64(src[pl]) - bo * rs[pl] + base)
                    dst[pl] = _requant_fixed_one(v, mul, sh, variant, zp, lo, hi)
            else:
                mo = m[o]
                for pl in range(npx):
                    v = _wrap_int32(np.int64(src[pl]) - bo * rs[pl] + base)
                    dst[pl] = _requant_float_one(v, mo, zp, lo, hi)


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
        packed = wmats[0]
        rows = n_img * oh * ow
        a_u = np.empty(padded_a_shape(rows, packed.k), np.uint8)
        a_u[rows:] = 0  # only the padding is zeroed: the patch kernel writes every real byte
        a_u[:rows, packed.k:] = 0
        rowsum = np.empty(rows, np.int64)
        _im2col_u(xh, cg, kh, kwd, x.dtype.type(x_zp), x.dtype == np.int8, strides, pads,
                  dilations, oh, ow, a_u, rowsum)
        c = gemm_vnni_raw(a_u, packed)
        a0 = np.int64(x_zp + (128 if x.dtype == np.int8 else 0))
        b0 = np.full(o, -packed.offset, np.int64)  # weights are symmetric: w_zp = 0
        corr = bias64 - a0 * packed.colsum + np.int64(packed.k) * a0 * b0
        _vnni_requant_epilogue(c, c.size // a_u.shape[0], rowsum, corr, b0, rq.fixed_point, m,
                               mult, shift, rq.variant, rq.zp, rq.lo, rq.hi, oh * ow,
                               y.reshape(n_img, o, oh * ow))
        return y
    cols = np.empty((n_img * oh * ow, cg * kh * kwd), x.dtype)
    for g in range(groups):
        _im2col(xh, g * cg, cg, kh, kwd, x.dtype.type(x_zp), strides, pads, dilations, oh, ow,
                cols)
        acc = matmul_int(cols, wmats[g], a_zero_point=x_zp)
        _requant_epilogue(acc, g * og, bias64, rq.fixed_point, m, mult, shift, rq.variant, rq.zp,
                          rq.lo, rq.hi, oh, ow, y.reshape(n_img, o, oh * ow))
    return y

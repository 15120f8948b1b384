"""Integer 2-D convolution, NCHW / OIHW, exact int32 accumulation (ONNX ConvInteger).

The loop this module computes, with its accumulator bound written next to it (as tflite-micro's
``reference/integer_ops/conv.h`` does)::

    for n, o, oh, ow:                                  # o in group g = o // (O / groups)
        acc = int64(bias[o])                           # int32 bias, widened
        for c in group g, kh, kw:                      # K = (C / groups) * KH * KW terms
            ih = oh * stride_h - pad_top + kh * dilation_h     (same for w)
            xv = x[n, c, ih, iw] if inside else x_zero_point    # padding is x_zero_point
            acc += (xv - x_zero_point) * (w[o, c, kh, kw] - w_zero_point[o])
        y[n, o, oh, ow] = acc mod 2**32 as int32       # |term| <= 255 * 255

The implementation vectorises this: im2col plus one batched matmul over groups through float
BLAS when ``K * max|x - zx| * max|w - zw| <= 2**24`` (float32) or ``2**53`` (float64), int64
otherwise; depthwise-like convolutions (one input channel per group) accumulate kernel taps
with integer multiply-adds instead.

``accumulation="vpmaddubsw"`` (see :mod:`reference.matmul_int`) models ONNX Runtime's
QLinearConv on x86 without VNNI, for uint8 ``x`` and int8 ``w``: ORT lowers the convolution to
a GEMM per group whose K index runs over ``(kh, kw, c)`` with the channel fastest (its NHWC
im2col, and the same order in its direct "ConvSym" kernels), padded positions holding the raw
``x_zero_point``; raw products of K-neighbours ``(2j, 2j+1)`` are summed with int16 saturation,
so with an odd ``C / groups`` a pair straddles two kernel taps. A depthwise convolution
(``C / groups == 1`` and ``O / groups == 1``) runs ORT's depthwise kernels, which widen both
operands to 32 bits: exact.
"""

from __future__ import annotations

import numpy as np

from reference._validate import check_array, conv_geometry, conv_output_size
from reference.matmul_int import (
    INT_DTYPES,
    exact_dot_dtype,
    int16_pair_overflow,
    pairs_saturate,
    unpack_weight,
    wrap_int32,
    zero_point_vector,
)

__all__ = ["conv2d_int", "conv_output_size"]


def _tap(xp: np.ndarray, i: int, j: int, dil: tuple[int, int], strides: tuple[int, int],
         out_hw: tuple[int, int]) -> np.ndarray:
    """View of the padded input seen by kernel tap (i, j) for every output position."""
    h0, w0 = i * dil[0], j * dil[1]
    return xp[:, :, h0:h0 + strides[0] * (out_hw[0] - 1) + 1:strides[0],
              w0:w0 + strides[1] * (out_hw[1] - 1) + 1:strides[1]]


def conv2d_int(x: np.ndarray, w: np.ndarray, *, x_zero_point: object = 0,
               w_zero_point: object = 0, bias: np.ndarray | None = None,
               strides: tuple[int, int] = (1, 1), pads: tuple[int, int, int, int] = (0, 0, 0, 0),
               dilations: tuple[int, int] = (1, 1), groups: int = 1,
               w_int4_shape: tuple[int, int, int, int] | None = None,
               accumulation: str = "exact") -> np.ndarray:
    """Integer convolution with zero points and int32 bias; int32 result (NCHW).

    Numeric contract
    ----------------
    - ``x``: int8/uint8 ``(N, C, H, W)``; ``x_zero_point``: one int in ``x``'s dtype range.
    - ``w``: int8/uint8 ``(O, C / groups, KH, KW)``; int4 weights as int8 in -8..7, or packed
      two per byte with :func:`reference.packing.pack_int4` and ``w_int4_shape`` giving the
      unpacked OIHW shape. ``w_zero_point``: scalar or one per output channel.
    - ``bias``: optional int32 ``(O,)``, added to the accumulator.
    - ``pads``: ONNX order ``(top, left, bottom, right)``; padded positions hold
      ``x_zero_point`` (they contribute 0). ``strides``, ``dilations`` >= 1; ``groups`` divides
      ``C`` and ``O`` (``groups == C`` is depthwise).
    - Accumulation ``"exact"``: exact integer sum of ``(x - zx) * (w - zw)`` plus bias (float
      BLAS only when provably exact, see module docstring). ``"vpmaddubsw"`` (uint8 ``x`` x int8
      ``w``, not depthwise; exact otherwise): raw products of K-neighbours in ORT's
      ``(kh, kw, c)`` order summed with int16 saturation (module docstring), i.e. the exact
      sum minus :func:`reference.matmul_int.int16_pair_overflow` of the raw im2col matrix.
      Then reduced modulo 2**32 to int32: ONNX Runtime's int32 wrap-around, never saturation.
      No rounding. Output ``(N, O, OH, OW)`` int32.
    - Errors: ``TypeError`` for wrong dtypes (float input, int32 bias expected); ``ValueError``
      naming the argument for wrong ranks, channel/group mismatch, bad strides/pads/dilations,
      an empty output, zero points out of range, or an unknown ``accumulation``.
    """
    x = check_array("x", x, INT_DTYPES, ndim=4)
    w = unpack_weight(w, w_int4_shape, "w")
    w = check_array("w", w, INT_DTYPES, ndim=4)
    saturate = pairs_saturate(accumulation, x.dtype, w.dtype)
    strides, pads, dilations, groups, oh, ow = conv_geometry(
        x.shape, w.shape, strides, pads, dilations, groups, broadcast=False)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xzp = zero_point_vector("x_zero_point", x_zero_point, x.dtype, 1, "tensor")
    wzp = zero_point_vector("w_zero_point", w_zero_point, w.dtype, o, "output channel")
    if bias is not None:
        bias = check_array("bias", bias, ("int32",), ndim=1)
        if bias.shape[0] != o:
            raise ValueError(f"bias must have w.shape[0] = {o} entries, got {bias.shape[0]}")

    xc = x.astype(np.int16) - xzp.astype(np.int16)
    wc = w.astype(np.int16) - (wzp.reshape(-1, 1, 1, 1) if wzp.ndim else wzp).astype(np.int16)
    k = cg * kh * kw
    dt = exact_dot_dtype(k, int(np.abs(xc).max(initial=0)), int(np.abs(wc).max(initial=0)))
    og = o // groups
    if cg == 1 and og <= 4:
        acc = _conv_taps(xc, wc, groups, og, strides, pads, dilations, (oh, ow), dt)
    else:
        acc = _conv_im2col(xc, wc, groups, strides, pads, dilations, (oh, ow), dt)
    # |acc| <= 2**24 on the float32 path: exact in int32, and adding the int32 bias in int32
    # wraps modulo 2**32 exactly as ONNX Runtime's accumulator does. Wider paths use int64.
    acc = acc.astype(np.int32) if dt == np.float32 else acc.astype(np.int64)
    if saturate and not (cg == 1 and og == 1):  # ORT's depthwise kernels are exact
        acc = acc.astype(np.int64) - _conv_pair_overflow(x, w, xzp, groups, strides, pads,
                                                         dilations, (oh, ow))
    if bias is not None:
        acc += bias.astype(acc.dtype).reshape(1, o, 1, 1)
    return wrap_int32(acc)


def _pad(xc: np.ndarray, pads: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    n, c, h, w = xc.shape
    xp = np.zeros((n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]), dt)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = xc
    return xp


def _conv_im2col(xc, wc, groups, strides, pads, dilations, out_hw, dt) -> np.ndarray:
    n, c = xc.shape[:2]
    o, cg, kh, kw = wc.shape
    k, hw = cg * kh * kw, out_hw[0] * out_hw[1]
    if kh == kw == 1 and strides == (1, 1) and not any(pads):
        cols = xc.astype(dt)  # a 1x1 convolution is already a GEMM over the pixels
    else:
        xp = _pad(xc, pads, dt)
        cols = np.empty((n, c, kh, kw) + out_hw, dt)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = _tap(xp, i, j, dilations, strides, out_hw)
    wm = wc.astype(dt).reshape(groups, o // groups, k)
    if groups == 1:  # plain 2-D GEMMs: numpy's stacked matmul is several times slower here
        cols = cols.reshape(n, k, hw)
        out = np.empty((n, o, hw), dt)
        for i in range(n):
            np.matmul(wm[0], cols[i], out=out[i])
    else:  # one GEMM per group, batched
        out = np.matmul(wm, cols.reshape(n, groups, k, hw))
    return out.reshape(n, o, out_hw[0], out_hw[1])


def _conv_taps(xc, wc, groups, og, strides, pads, dilations, out_hw, dt) -> np.ndarray:
    """One input channel per group: accumulate the KH*KW taps as vector multiply-adds."""
    o, _, kh, kw = wc.shape
    # Integer multiply-adds are exact in int32 exactly when the float32/float64 BLAS bound
    # (<= 2**24 / 2**53) holds; int64 covers the rest.
    acc_dt = np.dtype(np.int32) if dt == np.float32 else np.dtype(np.int64)
    xp = _pad(xc, pads, acc_dt)
    if og > 1:  # channel multiplier: output channel o reads input channel o // og
        xp = np.repeat(xp, og, axis=1)
    acc = np.zeros((xc.shape[0], o) + out_hw, acc_dt)
    wt = wc.astype(acc_dt)
    for i in range(kh):
        for j in range(kw):
            acc += _tap(xp, i, j, dilations, strides, out_hw) * wt[:, 0, i, j].reshape(1, o, 1, 1)
    return acc


def _conv_pair_overflow(x, w, xzp, groups, strides, pads, dilations, out_hw) -> np.ndarray:
    """:func:`int16_pair_overflow` of ORT's per-group GEMM: raw uint8 im2col rows (padding =
    raw ``x_zero_point``) in ``(kh, kw, c)`` order times the raw int8 weights in that order."""
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    og = o // groups
    xp = np.full((n, c, x.shape[2] + pads[0] + pads[2], x.shape[3] + pads[1] + pads[3]),
                 xzp, np.uint8)
    xp[:, :, pads[0]:pads[0] + x.shape[2], pads[1]:pads[1] + x.shape[3]] = x
    cols = np.empty((n,) + out_hw + (kh, kw, c), np.uint8)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = _tap(xp, i, j, dilations, strides, out_hw).transpose(
                0, 2, 3, 1)
    out = np.empty((n, o) + out_hw, np.int64)
    for g in range(groups):
        a = cols[..., g * cg:(g + 1) * cg].reshape(-1, kh * kw * cg)
        b = w[g * og:(g + 1) * og].transpose(2, 3, 1, 0).reshape(kh * kw * cg, og)
        ovf = int16_pair_overflow(a, b).reshape((n,) + out_hw + (og,))
        out[:, g * og:(g + 1) * og] = ovf.transpose(0, 3, 1, 2)
    return out

"""Conv + BatchNorm + ReLU fusion (seed C14a): fold the inference BN into the conv's weights and
bias, then run one operator that convolves, requantizes and clamps.

BN after a conv computes, per output channel o, with s[o] = gamma[o] / sqrt(var[o] + eps):
    BN(conv(x, w) + b) = conv(x, w * s[o]) + (b - mean) * s + beta
so folding is exact in real arithmetic; in float32 it moves a few roundings (bounded below).

Integer side, two ways:
  - ``fold_bn_quantize``: fold in float64, then quantize the folded weights per output channel
    (symmetric, int8 or int4) and the folded bias to int32 in units of x_scale * w_scale[o].
  - ``fold_bn_into_quantized``: an already quantized conv keeps its integer weights; BN goes
    into the per-channel weight scale (w_scale * |s|; a negative s flips the weights' sign) and
    into a re-quantized int32 bias. Only the scale changes, so the integer MACs are untouched.
Fused integer operator ``conv_bn_relu_int`` = conv2d_int + requantize with the activation as the
requantize clamp; it is bit-identical to running conv2d_int, requantize and an integer ReLU /
ReLU6 one after the other (tests prove it for every requantize mode).
"""

from __future__ import annotations

import numpy as np

from reference._validate import as_float, check_choice, check_positive_float
from reference.conv_float import conv2d_float
from reference.conv_int import conv2d_int
from reference.dtypes import qrange
from reference.quantize import round_float
from reference.requantize import requantize

ACTIVATIONS = (None, "relu", "relu6")


def _bn_factor(gamma, var, epsilon, o):
    gamma = as_float("gamma", gamma, "float64", ndim=1)
    var = as_float("var", var, "float64", ndim=1)
    for name, p in (("gamma", gamma), ("var", var)):
        if p.shape != (o,):
            raise ValueError(f"{name} has shape {p.shape}: expected ({o},) (output channels)")
    if np.any(var < 0):
        raise ValueError("var has negative entries: expected variances >= 0")
    check_positive_float("epsilon", epsilon)
    return gamma / np.sqrt(var + epsilon)


def _vec(name, v, o):
    v = as_float(name, v if v is not None else np.zeros(o), "float64", ndim=1)
    if v.shape != (o,):
        raise ValueError(f"{name} has shape {v.shape}: expected ({o},) (output channels)")
    return v


def fold_bn_float(w, b, gamma, beta, mean, var, *, epsilon=1e-5):
    """Fold inference BN into conv weights and bias; returns float32 (w_folded, b_folded).

    Numeric contract: s = gamma / sqrt(var + eps), w * s[o] and (b - mean) * s + beta computed
    in float64 and rounded once to float32 (b=None means 0). w is OIHW (any groups). Errors:
    ValueError for shape mismatches, negative var, epsilon <= 0.
    """
    w = as_float("w", w, "float64", ndim=4)
    o = w.shape[0]
    s = _bn_factor(gamma, var, epsilon, o)
    b = _vec("b", b, o)
    beta, mean = _vec("beta", beta, o), _vec("mean", mean, o)
    wf = w * s[:, None, None, None]
    bf = (b - mean) * s + beta
    return wf.astype(np.float32), bf.astype(np.float32)


def _bias_to_int32(bias_real, acc_scale):
    q = round_float(bias_real / acc_scale, "half_even")
    lo, hi = -(2**31), 2**31 - 1
    if np.any(q < lo) or np.any(q > hi):
        raise ValueError(f"folded bias does not fit int32 at scale x_scale * w_scale "
                         f"(max |bias / scale| = {np.max(np.abs(bias_real / acc_scale)):.3g})")
    return q.astype(np.int32)


def fold_bn_quantize(w, b, gamma, beta, mean, var, *, x_scale, epsilon=1e-5, dtype="int8"):
    """Fold BN in float64, then quantize: returns (w_q, w_scale float32 (O,), bias int32 (O,)).

    Numeric contract: folded weights as ``fold_bn_float`` but kept in float64;
    w_scale[o] = max|w_folded[o]| / qmax (qmax = 127 for int8, 7 for int4; 1.0 for an all-zero
    channel), rounded to float32; w_q = clip(round_half_even(w_folded / w_scale), -qmax, qmax)
    (symmetric, stored int8); bias = round_half_even(b_folded / (x_scale * w_scale)) in float64,
    int32 (ValueError if it does not fit). Errors: ValueError for dtype not int8/int4.
    """
    check_choice("dtype", dtype, ("int8", "int4"))
    x_scale = check_positive_float("x_scale", x_scale)
    w = as_float("w", w, "float64", ndim=4)
    o = w.shape[0]
    s = _bn_factor(gamma, var, epsilon, o)
    wf = w * s[:, None, None, None]
    bf = (_vec("b", b, o) - _vec("mean", mean, o)) * s + _vec("beta", beta, o)
    qmax = qrange(dtype)[1]
    wmax = np.max(np.abs(wf.reshape(o, -1)), axis=1)
    w_scale = np.where(wmax > 0, wmax / qmax, 1.0).astype(np.float32)
    ws64 = w_scale.astype(np.float64)
    wq = np.clip(round_float(wf / ws64[:, None, None, None], "half_even"), -qmax, qmax)
    bias = _bias_to_int32(bf, np.float64(np.float32(x_scale)) * ws64)
    return wq.astype(np.int8), w_scale, bias


def fold_bn_into_quantized(w_q, w_scale, bias, gamma, beta, mean, var, *, x_scale,
                           epsilon=1e-5, dtype="int8"):
    """Fold BN into an already quantized conv: returns (w_q', w_scale' float32, bias' int32).

    Numeric contract: s = gamma / sqrt(var + eps) (float64); w_scale' = float32(w_scale * |s|);
    w_q' = w_q where s >= 0, -w_q where s < 0 (exact; ValueError if a negated channel holds
    qmin of ``dtype``, whose negation does not fit); an s == 0 channel keeps w_q with scale
    w_scale (its output is the constant beta, carried by the bias).
    bias' = round_half_even(((bias * x_scale * w_scale) - mean) * s + beta) / (x_scale *
    w_scale')) in float64, int32. Errors: ValueError/TypeError naming the argument.
    """
    w_q = np.asarray(w_q)
    if w_q.dtype != np.int8 or w_q.ndim != 4:
        raise TypeError(f"w_q has dtype {w_q.dtype} shape {w_q.shape}: expected 4-D int8")
    x_scale = check_positive_float("x_scale", x_scale)
    o = w_q.shape[0]
    s = _bn_factor(gamma, var, epsilon, o)
    ws = np.broadcast_to(as_float("w_scale", w_scale, "float64"), (o,))
    if np.any(ws <= 0):
        raise ValueError("w_scale has entries <= 0: expected positive scales")
    b = np.asarray(bias if bias is not None else np.zeros(o, np.int32))
    if b.dtype != np.int32 or b.shape != (o,):
        raise TypeError(f"bias has dtype {b.dtype} shape {b.shape}: expected int32 ({o},)")
    qmin = qrange(dtype)[0]
    neg = s < 0
    if np.any(w_q[neg] == qmin):
        raise ValueError(f"w_q holds {qmin} in a channel with negative BN scale: its negation "
                         f"does not fit {dtype}")
    wq2 = np.where(neg[:, None, None, None], -w_q.astype(np.int16), w_q).astype(np.int8)
    xs = np.float64(np.float32(x_scale))
    real_bias = b.astype(np.float64) * xs * ws
    bf = (real_bias - _vec("mean", mean, o)) * s + _vec("beta", beta, o)
    new_scale = np.where(s != 0, ws * np.abs(s), ws).astype(np.float32)
    return wq2, new_scale, _bias_to_int32(bf, xs * new_scale.astype(np.float64))


def activation_clamp(activation, out_scale, out_zero_point, *, dtype="int8"):
    """Integer clamp (lo, hi) that a fused activation becomes after requantization.

    Numeric contract: None -> qrange(dtype); "relu" -> (zp, qmax); "relu6" ->
    (zp, min(qmax, zp + round_half_even(6 / out_scale))) in float64. Integers, exact.
    """
    check_choice("activation", activation, ACTIVATIONS)
    qmin, qmax = qrange(dtype)
    if activation is None:
        return qmin, qmax
    zp = int(out_zero_point)
    if activation == "relu":
        return max(zp, qmin), qmax
    six = int(round_float(np.float64(6.0) / np.float64(np.float32(out_scale)), "half_even"))
    return max(zp, qmin), min(qmax, zp + six)


def conv_bn_relu_int(x, w_q, bias, *, x_scale, w_scale, out_scale, x_zero_point=0,
                     out_zero_point=0, activation="relu", mode="onnxruntime", dtype="int8",
                     strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """Fused Conv+BN+ReLU, integer: int8 output of one conv + requantize + activation clamp.

    Numeric contract: acc = conv2d_int(x, w_q, bias=bias, ...) (exact, int32 wrap);
    y = requantize(acc, x_scale, w_scale, out_scale, out_zero_point, mode=mode, dtype=dtype,
    clamp=activation_clamp(activation, ...)). Weights/bias come from ``fold_bn_quantize`` or
    ``fold_bn_into_quantized``. Bit-identical to conv2d_int -> requantize (no clamp) ->
    integer ReLU (max with zp) / ReLU6 (then min with the relu6 bound). Errors: those of
    conv2d_int and requantize; ValueError for an unknown activation.
    """
    acc = conv2d_int(x, w_q, x_zero_point=x_zero_point, bias=bias, strides=strides, pads=pads,
                     dilations=dilations, groups=groups)
    clamp = activation_clamp(activation, out_scale, out_zero_point, dtype=dtype)
    return requantize(acc, x_scale, w_scale, out_scale, out_zero_point, mode=mode, dtype=dtype,
                      clamp=clamp)


def conv_bn_relu_float(x, w, b, gamma, beta, mean, var, *, epsilon=1e-5, activation="relu",
                       strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1,
                       precision="float32"):
    """Fused Conv+BN+ReLU, float: conv2d_float with folded weights/bias, then the activation.

    Numeric contract: weights and bias folded by ``fold_bn_float`` (float64, rounded once to
    float32; kept float64 when precision="float64"), one ``conv2d_float`` pass (its tap order),
    then max(., 0) / min(max(., 0), 6). Bound against the unfused conv -> batch_norm -> relu in
    float32, with K = (C/groups)*KH*KW and u = 2**-24:
        |fused - unfused| <= (2K + 12) * u * (|s| * conv(|x|, |w|) + |s| * |b - mean| + |beta|)
    (each path is within (K + 6) u of that magnitude of the exact value). ReLU only shrinks it.
    """
    check_choice("activation", activation, ACTIVATIONS)
    if precision == "float64":
        w64 = as_float("w", w, "float64", ndim=4)
        s = _bn_factor(gamma, var, epsilon, w64.shape[0])
        wf = w64 * s[:, None, None, None]
        bf = (_vec("b", b, w64.shape[0]) - _vec("mean", mean, w64.shape[0])) * s + \
            _vec("beta", beta, w64.shape[0])
    else:
        wf, bf = fold_bn_float(w, b, gamma, beta, mean, var, epsilon=epsilon)
    y = conv2d_float(x, wf, bias=bf, strides=strides, pads=pads, dilations=dilations,
                     groups=groups, precision=precision)
    if activation is None:
        return y
    y = np.maximum(y, y.dtype.type(0))
    return y if activation == "relu" else np.minimum(y, y.dtype.type(6))


def clip_clamp(clip_min, clip_max, out_scale, out_zero_point, *, dtype="int8"):
    """Integer clamp (lo, hi) that a fused Clip(clip_min, clip_max) becomes on an output of
    real value ``out_scale * (q - out_zero_point)``.

    Numeric contract: each finite bound is quantized like any value, ``zp +
    round_half_even(fl32(fl32(bound) / fl32(out_scale)))`` (one float32 division), then
    intersected with qrange(dtype); an infinite bound leaves that side at qmin / qmax (clip
    commutes with quantization). Integers, exact.
    """
    lo, hi = qrange(dtype)
    zp = int(out_zero_point)
    s32 = np.float32(out_scale)
    if np.isfinite(clip_min):
        lo = max(lo, zp + int(np.rint(np.float32(clip_min) / s32)))
    if np.isfinite(clip_max):
        hi = min(hi, zp + int(np.rint(np.float32(clip_max) / s32)))
    return lo, hi

"""Conv+BN+ReLU: fused integer == unfused integer sequence (bit for bit, every requantize mode);
float fused within the documented bound of unfused conv -> batch_norm -> relu."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.conv_float import conv2d_float
from reference.conv_int import conv2d_int
from reference.fusion import (
    activation_clamp,
    conv_bn_relu_float,
    conv_bn_relu_int,
    fold_bn_float,
    fold_bn_into_quantized,
    fold_bn_quantize,
)
from reference.normalization import batch_norm
from reference.requantize import REQUANTIZE_MODES, requantize

U = 2.0 ** -24


def _bn(rng, o):
    gamma = rng.uniform(-2, 2, o)
    gamma[0] = abs(gamma[0]) + 0.1
    return (gamma, rng.standard_normal(o), rng.standard_normal(o), rng.uniform(0.05, 3, o))


@given(st.sampled_from(REQUANTIZE_MODES), st.sampled_from([None, "relu", "relu6"]),
       st.sampled_from(["int8", "int4"]), st.integers(1, 2), st.integers(0, 1),
       st.floats(0.005, 0.1), st.floats(0.01, 0.5), st.integers(-20, 20), st.integers(0, 2**16))
def test_fused_int_equals_unfused_sequence(mode, act, wdtype, stride, pad, x_scale, out_scale,
                                           out_zp, seed):
    rng = np.random.default_rng(seed)
    x_scale, out_scale = float(np.float32(x_scale)), float(np.float32(out_scale))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    gamma, beta, mean, var = _bn(rng, 4)
    wq, ws, bias = fold_bn_quantize(w, b, gamma, beta, mean, var, x_scale=x_scale, dtype=wdtype)
    x = rng.integers(-128, 128, (2, 3, 6, 5)).astype(np.int8)
    geo = dict(strides=(stride, stride), pads=(pad,) * 4)
    fused = conv_bn_relu_int(x, wq, bias, x_scale=x_scale, w_scale=ws, out_scale=out_scale,
                             x_zero_point=-3, out_zero_point=out_zp, activation=act, mode=mode,
                             **geo)
    # unfused: conv, requantize with no activation, then integer ReLU / ReLU6 as separate ops
    acc = conv2d_int(x, wq, x_zero_point=-3, bias=bias, **geo)
    y = requantize(acc, x_scale, ws, out_scale, out_zp, mode=mode).astype(np.int64)
    if act is not None:
        y = np.maximum(y, out_zp)
    if act == "relu6":
        y = np.minimum(y, out_zp + int(np.rint(6.0 / out_scale)))
    assert fused.dtype == np.int8 and np.array_equal(fused, y)


def test_fold_bn_quantize_close_to_float_bn():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3, 3, 3))
    b = rng.standard_normal(5)
    bn = _bn(rng, 5)
    xs = 0.02
    x = rng.integers(-128, 128, (1, 3, 8, 8)).astype(np.int8)
    wq, ws, bias = fold_bn_quantize(w, b, *bn, x_scale=xs)
    assert wq.dtype == np.int8 and np.abs(wq).max() <= 127 and bias.dtype == np.int32
    real = conv2d_int(x, wq, bias=bias).astype(np.float64) * xs * ws[None, :, None, None]
    ref = batch_norm(conv2d_float(x * xs, w, bias=b, precision="float64"), *bn,
                     precision="float64")
    # error: weight rounding (ws/2 per weight, K=27 terms of |x| <= 128 xs) + bias rounding
    bound = (27 * 128 * xs * ws / 2 + xs * ws)[None, :, None, None]
    assert np.all(np.abs(real - ref) <= bound)
    wq4, _, _ = fold_bn_quantize(w, b, *bn, x_scale=xs, dtype="int4")
    assert wq4.min() >= -7 and wq4.max() <= 7
    with pytest.raises(ValueError, match="dtype"):
        fold_bn_quantize(w, b, *bn, x_scale=xs, dtype="int2")


def test_fold_bn_into_quantized_keeps_integer_weights():
    rng = np.random.default_rng(1)
    wq = rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8)
    ws = rng.uniform(0.01, 0.05, 4).astype(np.float32)
    bias = rng.integers(-500, 500, 4).astype(np.int32)
    gamma, beta, mean, var = _bn(rng, 4)
    gamma[1] = -abs(gamma[1])                      # negative BN scale flips the weight sign
    xs = 0.03
    wq2, ws2, b2 = fold_bn_into_quantized(wq, ws, bias, gamma, beta, mean, var, x_scale=xs)
    s = gamma / np.sqrt(var + 1e-5)
    assert np.array_equal(wq2, np.where(s[:, None, None, None] < 0, -wq, wq))
    assert np.allclose(ws2, ws * np.abs(s), rtol=1e-6)
    x = rng.integers(-128, 128, (1, 2, 6, 6)).astype(np.int8)
    before = conv2d_int(x, wq, bias=bias).astype(np.float64) * xs * ws[None, :, None, None]
    ref = batch_norm(before, gamma, beta, mean, var, precision="float64")
    after = conv2d_int(x, wq2, bias=b2).astype(np.float64) * xs * ws2[None, :, None, None]
    assert np.all(np.abs(after - ref) <= (xs * ws2)[None, :, None, None])  # bias rounding only
    with pytest.raises(ValueError, match="negation"):
        bad = wq.copy()
        bad[1, 0, 0, 0] = -128
        fold_bn_into_quantized(bad, ws, bias, gamma, beta, mean, var, x_scale=xs)


@given(st.integers(1, 2), st.integers(1, 2), st.integers(0, 1), st.sampled_from(
    [None, "relu", "relu6"]), st.integers(0, 2**16))
def test_fused_float_within_documented_bound(groups, stride, pad, act, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2 * groups, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3 * groups, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3 * groups).astype(np.float32)
    gamma, beta, mean, var = (p.astype(np.float32) for p in _bn(rng, 3 * groups))
    geo = dict(strides=(stride, stride), pads=(pad,) * 4, groups=groups)
    fused = conv_bn_relu_float(x, w, b, gamma, beta, mean, var, activation=act, **geo)
    unf = batch_norm(conv2d_float(x, w, bias=b, **geo), gamma, beta, mean, var)
    if act is not None:
        unf = np.maximum(unf, 0)
    if act == "relu6":
        unf = np.minimum(unf, 6)
    s = np.abs(gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + 1e-5))
    mag = (s[None, :, None, None] * conv2d_float(np.abs(x), np.abs(w), precision="float64",
                                                 **geo)
           + (s * np.abs(b.astype(np.float64) - mean) + np.abs(beta))[None, :, None, None])
    k = 2 * 9
    assert np.all(np.abs(fused.astype(np.float64) - unf) <= (2 * k + 12) * U * mag)
    f64 = conv_bn_relu_float(x, w, b, gamma, beta, mean, var, activation=act,
                             precision="float64", **geo)
    assert np.all(np.abs(fused - f64) <= (k + 6) * U * mag)


def test_fold_float_and_activation_clamp():
    w = np.ones((2, 1, 1, 1), np.float32)
    wf, bf = fold_bn_float(w, np.float32([1, 1]), [2.0, 1.0], [0.5, 0.0], [1.0, 0.0],
                           [0.99999, 3.99999], epsilon=1e-5)
    assert np.allclose(wf.ravel(), [2.0, 0.5]) and np.allclose(bf, [0.5, 0.5])
    assert activation_clamp("relu6", 0.05, -10) == (-10, 110)
    assert activation_clamp("relu6", 0.01, -10) == (-10, 127)
    assert activation_clamp("relu", 0.1, -200 + 72) == (-128, 127)
    assert activation_clamp(None, 0.1, 0, dtype="uint8") == (0, 255)
    with pytest.raises(ValueError, match="activation"):
        activation_clamp("gelu", 0.1, 0)
    with pytest.raises(ValueError, match="gamma has shape"):
        fold_bn_float(w, None, [1.0], [0, 0], [0, 0], [1, 1])

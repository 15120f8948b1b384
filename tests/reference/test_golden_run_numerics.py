"""The numeric rules the golden run uses, moved from ``networks/execute.py`` into
``reference/``: each is proven equal to the formula the executor had inline (written out here as
the specification, independently of the implementation) and, where an external runtime has the
operator, checked against it (onnxruntime)."""

import numpy as np
import pytest

from reference import activations, elementwise
from reference.blocked import blocked_conv2d_requantize
from reference.conv_float import conv2d_float, conv2d_float_blas, matmul_float, matmul_float_blas
from reference.conv_int import conv2d_int
from reference.fusion import activation_clamp, clip_clamp
from reference.gating import threshold_channel_mask, threshold_channel_mask_int, topk_keep_count
from reference.matmul_int import add_bias_int32
from reference.pooling import pool_windows
from reference.qlinear_ops import qlinear_global_average_pool
from reference.quantize import dequantize, quantize
from reference.quantized_ops import (
    dequantize_op_quantize_table,
    lut_apply,
    quantized_max_pool2d,
)
from reference.zeroskip import (
    conv_zero_skip_macs,
    matmul_zero_skip_macs,
    tap_coverage,
    zero_block_bitmap,
)


def mlas_requantize(acc, multiplier, zero_point, qmin, qmax):
    """ONNX Runtime's MlasRequantizeOutput with a precomputed float32 multiplier (the
    executor's former ``requantize_ort``): clamp(rint(fl32(acc) * m)) + zp."""
    f = acc.astype(np.float32) * np.float32(multiplier)
    f = np.clip(f, np.float32(qmin - zero_point), np.float32(qmax - zero_point))
    return (np.rint(f).astype(np.int32) + zero_point).astype(np.int8 if qmin < 0 else np.uint8)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("hw", [(1, 1), (7, 7), (13, 5), (64, 64)])
def test_global_avg_pool_is_mlas_requantize(dtype, hw):
    rng = np.random.default_rng(hw[0] * 31 + hw[1])
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    for trial in range(20):
        q = rng.integers(lo, hi, size=(2, 5, *hw), endpoint=True).astype(dtype)
        zx, zy = (int(z) for z in rng.integers(lo, hi, size=2, endpoint=True))
        sx, sy = np.float32(rng.uniform(1e-3, 0.2)), np.float32(rng.uniform(1e-3, 0.2))
        ours = qlinear_global_average_pool(q, sx, np.dtype(dtype).type(zx), sy,
                                           np.dtype(dtype).type(zy))
        n = hw[0] * hw[1]
        acc = (q.reshape(2, 5, n).astype(np.int32) - zx).sum(axis=2).astype(np.int32)
        m = np.float32(sx) / (np.float32(sy) * np.float32(n))
        spec = mlas_requantize(acc, m, zy, lo, hi).reshape(2, 5, 1, 1)
        assert np.array_equal(ours, spec), trial


def test_blocked_conv_by_element():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 127, size=(1, 20, 5, 5), endpoint=True).astype(np.int8)
    w = rng.integers(-8, 7, size=(6, 20, 3, 3), endpoint=True).astype(np.int8)
    scales = rng.uniform(0.01, 0.1, size=(6, 3)).astype(np.float32)      # blocks 8, 8, 4
    bias = rng.integers(-3000, 3000, size=6).astype(np.int32)
    sx, sy, zx, zy = np.float32(0.02), np.float32(0.3), 3, -4
    y = blocked_conv2d_requantize(x, w, scales, bias, x_scale=sx, y_scale=sy, block_size=8,
                                  x_zero_point=zx, y_zero_point=zy, pads=(1, 1, 1, 1))
    # specification: per block exact sums, float64 combination in block order, one rounding
    total = np.zeros((1, 6, 5, 5))
    for b, c0 in enumerate((0, 8, 16)):
        acc = conv2d_int(x[:, c0:c0 + 8], w[:, c0:c0 + 8], x_zero_point=zx, pads=(1, 1, 1, 1))
        total = total + acc.astype(np.float64) * scales[:, b].astype(np.float64)[None, :, None,
                                                                                  None]
    total += bias.astype(np.float64)[None, :, None, None] * \
        scales.max(axis=1).astype(np.float64)[None, :, None, None]
    spec = np.clip(np.rint(total * (float(sx) / float(sy))), -128 - zy, 127 - zy) + zy
    assert np.array_equal(y, spec.astype(np.int8))
    with pytest.raises(ValueError, match="w_scale must have shape"):
        blocked_conv2d_requantize(x, w, scales[:, :2], x_scale=sx, y_scale=sy, block_size=8)


@pytest.mark.parametrize("groups,cout", [(1, 6), (2, 6), (4, 4)])
def test_conv_blas_within_contract_of_fixed_order(groups, cout):
    rng = np.random.default_rng(groups)
    x = rng.standard_normal((2, 4, 9, 7), dtype=np.float32)
    w = rng.standard_normal((cout, 4 // groups, 3, 3), dtype=np.float32)
    b = rng.standard_normal(cout, dtype=np.float32)
    geo = dict(strides=(2, 1), pads=(1, 0, 1, 2), dilations=(1, 2), groups=groups)
    fast = conv2d_float_blas(x, w, bias=b, **geo)
    exact = conv2d_float(x, w, bias=b, precision="float64", **geo)
    bound = conv2d_float(np.abs(x), np.abs(w), bias=np.abs(b), precision="float64", **geo)
    taps = w.shape[1] * 9 + 1
    assert fast.dtype == np.float32
    assert np.all(np.abs(fast - exact) <= taps * np.finfo(np.float32).eps * bound)


def test_matmul_blas_within_contract():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 4, 33), dtype=np.float32)
    b = rng.standard_normal((33, 6), dtype=np.float32)
    bias = rng.standard_normal(6, dtype=np.float32)
    fast = matmul_float_blas(a, b, bias=bias)
    exact = matmul_float(a, b, precision="float64") + bias
    bound = matmul_float(np.abs(a), np.abs(b), precision="float64") + np.abs(bias)
    assert np.all(np.abs(fast - exact) <= 34 * np.finfo(np.float32).eps * bound)
    with pytest.raises(ValueError, match="a.shape"):
        matmul_float_blas(a, b.T)


def test_lut_equals_chain_elementwise():
    rng = np.random.default_rng(2)
    q = rng.integers(-128, 127, size=(3, 50), endpoint=True).astype(np.int8)
    args = dict(in_scale=np.float32(0.05), in_zero_point=-7, in_dtype="int8",
                out_scale=np.float32(1 / 256), out_zero_point=-128, out_dtype="int8")
    table = dequantize_op_quantize_table(activations.sigmoid, **args)
    chain = quantize(activations.sigmoid(dequantize(q, args["in_scale"], -7)), 1 / 256, -128)
    assert table.shape == (256,) and np.array_equal(lut_apply(q, table), chain)


def test_max_pool_int_equals_float_windows():
    rng = np.random.default_rng(4)
    for dtype in (np.int8, np.uint8):
        q = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, size=(2, 3, 9, 9),
                         endpoint=True).astype(dtype)
        geo = dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), dilations=(1, 1))
        former = pool_windows(q.astype(np.float32), geo["kernel_shape"], geo["strides"],
                              geo["pads"], (1, 1), -np.inf).max(axis=(4, 5)).astype(dtype)
        assert np.array_equal(quantized_max_pool2d(q, **geo), former)


def test_threshold_gate_and_keep_count():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 8, 4, 4), dtype=np.float32)
    assert np.array_equal(threshold_channel_mask(x, 0.1),
                          x.reshape(2, 8, -1).mean(axis=2, dtype=np.float32) > 0.1)
    q = rng.integers(-128, 127, size=(2, 8, 4, 4), endpoint=True).astype(np.int8)
    sums = (q.astype(np.int64) - 5).reshape(2, 8, -1).sum(axis=2)
    assert np.array_equal(threshold_channel_mask_int(q, 0.2, scale=np.float32(0.1),
                                                     zero_point=5),
                          sums * float(np.float32(0.1)) / 16 > 0.2)
    assert [topk_keep_count(k, 10) for k in (0.0, 0.05, 0.25, 0.5, 1.0)] == [1, 1, 2, 5, 10]
    with pytest.raises(ValueError, match="keep"):
        topk_keep_count(1.5, 10)


def test_clip_clamp_quantizes_bounds():
    s = np.float32(0.047)
    assert clip_clamp(0.0, 6.0, s, -128) == (-128, -128 + int(np.rint(np.float32(6) / s)))
    assert clip_clamp(-np.inf, np.inf, s, 3) == (-128, 127)
    assert clip_clamp(-1e9, 1e9, s, 3, dtype="uint8") == (0, 255)
    assert activation_clamp("relu", s, -20) == (-20, 127)


def test_add_bias_wraps_like_int32():
    acc = np.array([[2**31 - 1, -5]], np.int32)
    out = add_bias_int32(acc, np.array([1, 7], np.int32))
    assert out.dtype == np.int32 and out.tolist() == [[-(2**31), 2]]
    with pytest.raises(ValueError, match="broadcast"):
        add_bias_int32(acc, np.zeros(3, np.int32))


def test_zero_skip_counts_by_brute_force():
    rng = np.random.default_rng(7)
    zero = rng.random((1, 2, 9, 6)) < 0.9
    bitmap = zero_block_bitmap(zero, (1, 1, 4, 4), zero_point=True)
    elems = np.repeat(np.repeat(bitmap, 4, 2), 4, 3)[:, :, :9, :6]
    mask = np.array([[True, False]])
    count = 0
    for c in range(2):
        for oh in range(4):
            for ow in range(2):
                for i in range(3):
                    for j in range(3):
                        h, w = oh * 2 + i * 2 - 1, ow * 2 + j - 0
                        if 0 <= h < 9 and 0 <= w < 6 and elems[0, c, h, w] and mask[0, c]:
                            count += 1
    got = conv_zero_skip_macs(bitmap, (1, 1, 4, 4), zero.shape, (3, 2, 3, 3),
                              strides=(2, 2), pads=(1, 0, 1, 0), dilations=(2, 1), groups=1,
                              out_hw=(4, 2), channel_mask=mask)
    assert got == count * 3
    assert tap_coverage(5, 3, 1, 1, 1, 5).tolist() == [2, 3, 3, 3, 2]
    a_zero = rng.random((2, 6, 9)) < 0.8
    bm = zero_block_bitmap(a_zero, (1, 4, 4), zero_point=True)
    a_elems = np.repeat(np.repeat(bm, 4, 1), 4, 2)[:, :6, :9]
    assert matmul_zero_skip_macs(bm, (4, 4), a_zero.shape, (2, 6, 5)) == a_elems.sum() * 5


def test_float_helpers():
    a = np.array([1.5, -2.0, np.inf], np.float32)
    b = np.array([0.5, 0.0, 2.0], np.float32)
    assert np.array_equal(elementwise.sub(a, b), a - b)
    assert np.array_equal(elementwise.div(a, b), np.array([3.0, -np.inf, np.inf], np.float32))
    assert np.array_equal(activations.clip(a, -1.0, 1.0), np.array([1, -1, 1], np.float32))
    assert activations.erf(np.float32([0.5])).dtype == np.float32
    x = np.arange(6).reshape(1, 1, 2, 3)
    assert np.array_equal(elementwise.resize_nearest(x, scales=(1, 1, 2, 2)),
                          elementwise.upsample_nearest(x, scale=2))
    with pytest.raises(ValueError, match="one per axis"):
        elementwise.resize_nearest(x, scales=(2, 2))


def test_ptq_rules():
    from reference.ptq import activation_qparams, quantize_bias, quantize_weights
    scale, zp = activation_qparams(0.0, 6.0)                     # a ReLU6 output
    assert scale == np.float32(6.0 / 255) and zp == -128
    scale, zp = activation_qparams(-1.0, 3.0)
    assert zp == int(np.rint(-128 + 1.0 / float(np.float32(4.0 / 255))))
    assert activation_qparams(0.0, 0.0) == (np.float32(1 / 255), -128)   # widened to 1
    rng = np.random.default_rng(8)
    w = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)
    q, s = quantize_weights(w, bits=4, axis=0)
    assert s.shape == (4,) and q.min() >= -7 and q.max() <= 7
    assert np.array_equal(s, (np.abs(w).reshape(4, -1).max(axis=1) / 7).astype(np.float32))
    assert np.array_equal(q, np.clip(np.rint(w / s[:, None, None, None]), -7, 7))
    qb, sb = quantize_weights(w, bits=4, block_size=4)
    assert sb.shape == (4, 2) and sb[1, 1] == np.float32(np.abs(w[1, 4:]).max() / 7)
    assert quantize_bias(np.array([1e30, -1.0]), np.float32(0.5), np.float32([1, 1])).tolist() \
        == [2**31 - 1, -2]
    with pytest.raises(ValueError, match="bits"):
        quantize_weights(w, bits=3)

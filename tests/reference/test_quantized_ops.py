"""Int8 add/mul (vs onnxruntime com.microsoft QLinearAdd/QLinearMul and the TFLite formula),
LUT activations, int8 pooling."""

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from reference.activations import hard_swish, sigmoid
from reference.quantized_ops import (
    build_lut,
    quantized_add,
    quantized_avg_pool2d,
    quantized_hard_swish,
    quantized_max_pool2d,
    quantized_mul,
    quantized_sigmoid,
)
from tests.ort_host import x86_fma3
from tests.reference._ort_single import run_node

X86_FMA3 = x86_fma3()


def _ort_qbinary(op, a, b, sa, za, sb, zb, sc, zc):
    inits = [helper.make_tensor(n, TensorProto.FLOAT, [], [v])
             for n, v in (("sa", sa), ("sb", sb), ("sc", sc))]
    inits += [helper.make_tensor(n, TensorProto.INT8, [], [v])
              for n, v in (("za", za), ("zb", zb), ("zc", zc))]
    node = helper.make_node(op, ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["y"],
                            domain="com.microsoft")
    g = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("a", TensorProto.INT8, a.shape),
        helper.make_tensor_value_info("b", TensorProto.INT8, b.shape)],
        [helper.make_tensor_value_info("y", TensorProto.INT8, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 9
    return ort.InferenceSession(m.SerializeToString()).run(None, {"a": a, "b": b})[0]


scales = st.floats(0.003, 0.3).map(lambda v: float(np.float32(v)))
zps = st.integers(-30, 30)


@given(scales, zps, scales, zps, scales, zps, st.integers(0, 2**16))
def test_add_mul_onnxruntime_mode_matches_onnxruntime(sa, za, sb, zb, sc, zc, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, 300).astype(np.int8)
    b = rng.integers(-128, 128, 300).astype(np.int8)
    kw = dict(a_scale=sa, a_zero_point=za, b_scale=sb, b_zero_point=zb, out_scale=sc,
              out_zero_point=zc, mode="onnxruntime")
    for op, fn in (("QLinearAdd", quantized_add), ("QLinearMul", quantized_mul)):
        ref = _ort_qbinary(op, a, b, sa, za, sb, zb, sc, zc)
        got = fn(a, b, **kw)
        if X86_FMA3 or op == "QLinearMul":  # the x86-64 kernels gilt reproduces
            assert np.array_equal(got, ref)
        else:  # aarch64's fixed-point QLinearAdd: one LSB apart at most
            assert np.max(np.abs(got.astype(int) - ref.astype(int))) <= 1


@given(scales, zps, scales, zps, scales, zps, st.integers(0, 2**16))
def test_add_tflite_mode_within_half_lsb_plus_fixed_point_error(sa, za, sb, zb, sc, zc, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, 300).astype(np.int8)
    b = rng.integers(-128, 128, 300).astype(np.int8)
    y = quantized_add(a, b, a_scale=sa, a_zero_point=za, b_scale=sb, b_zero_point=zb,
                      out_scale=sc, out_zero_point=zc, mode="tflite")
    exact = (sa * (a.astype(np.float64) - za) + sb * (b.astype(np.float64) - zb)) / sc + zc
    inside = (exact > -128.5) & (exact < 127.5)
    assert np.all(np.abs(y[inside] - exact[inside]) <= 0.5 + 1e-3)
    assert np.all(y[exact >= 127.5] == 127) and np.all(y[exact <= -128.5] == -128)


def test_mul_onnxruntime_adds_zero_point_before_rounding_regression():
    # Found by hypothesis: 6 * 0.25 = 1.5, + zp 1 = 2.5 -> 2 (ONNX Runtime rounds after the
    # zero point is added; rounding first would give 2 + 1 = 3).
    a = np.int8([6, 2, -10])
    kw = dict(a_scale=0.25, a_zero_point=0, b_scale=1.0, b_zero_point=0, out_scale=1.0,
              out_zero_point=1)
    got = quantized_mul(a, np.int8([1, 1, 1]), mode="onnxruntime", **kw)
    assert np.array_equal(got, _ort_qbinary("QLinearMul", a, np.int8([1, 1, 1]), 0.25, 0, 1.0,
                                            0, 1.0, 1))
    assert got.tolist() == [2, 2, -2]


def test_add_mul_tflite_hand_values_and_errors():
    # scales 0.5/0.5 -> out 1.0: (4 - 0) * 0.5 + (3 - 0) * 0.5 = 3.5 -> 4 (half away from zero)
    y = quantized_add(np.int8([4, -4]), np.int8([3, -3]), a_scale=0.5, a_zero_point=0,
                      b_scale=0.5, b_zero_point=0, out_scale=1.0, out_zero_point=0)
    assert y.tolist() == [4, -4]
    m = quantized_mul(np.int8([10, -128]), np.int8([3, -128]), a_scale=0.1, a_zero_point=0,
                      b_scale=0.1, b_zero_point=0, out_scale=0.1, out_zero_point=0,
                      clamp=(0, 100))
    assert m.tolist() == [3, 100]
    with pytest.raises(ValueError, match=r"a_zero_point must be in \[-128, 127\] for int8, got 300"):
        quantized_add(np.int8([1]), np.int8([1]), a_scale=1, a_zero_point=300, b_scale=1,
                      b_zero_point=0, out_scale=1, out_zero_point=0)
    with pytest.raises(ValueError, match=r"mode must be one of \[.*\], got 'xnnpack'"):
        quantized_add(np.int8([1]), np.int8([1]), a_scale=1, a_zero_point=0, b_scale=1,
                      b_zero_point=0, out_scale=1, out_zero_point=0, mode="xnnpack")
    with pytest.raises(ValueError, match="mode"):
        quantized_mul(np.int8([1]), np.int8([1]), a_scale=1, a_zero_point=0, b_scale=1,
                      b_zero_point=0, out_scale=1, out_zero_point=0, mode="fast")
    with pytest.raises(TypeError, match="a has dtype"):
        quantized_add(np.float32([1]), np.int8([1]), a_scale=1, a_zero_point=0, b_scale=1,
                      b_zero_point=0, out_scale=1, out_zero_point=0)


@pytest.mark.parametrize("fn_name,fn", [("sigmoid", sigmoid), ("hard_swish", hard_swish)])
def test_lut_entries_within_half_lsb_of_float64(fn_name, fn):
    s_in, zp_in, s_out, zp_out = 0.05, 3, 1 / 256 if fn_name == "sigmoid" else 0.03, \
        -128 if fn_name == "sigmoid" else -20
    table = build_lut(fn_name, in_scale=s_in, in_zero_point=zp_in, out_scale=s_out,
                      out_zero_point=zp_out)
    assert table.shape == (256,) and table.dtype == np.int8
    x = s_in * (np.arange(-128, 128) - zp_in)
    ideal = fn(x, precision="float64") / s_out + zp_out
    clipped = np.clip(ideal, -128, 127)
    assert np.all(np.abs(table - clipped) <= 0.5 + 1e-4)
    q = np.arange(-128, 128, dtype=np.int8).reshape(2, 128)
    op = quantized_sigmoid if fn_name == "sigmoid" else quantized_hard_swish
    kw = {} if fn_name == "sigmoid" else dict(out_scale=s_out, out_zero_point=zp_out)
    assert np.array_equal(op(q, in_scale=s_in, in_zero_point=zp_in, **kw), table.reshape(2, 128))


def test_int8_pooling_vs_onnxruntime_float_and_tflite_rounding():
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 128, (1, 3, 7, 6)).astype(np.int8)
    mp = quantized_max_pool2d(q, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    (ref,) = run_node("MaxPool", [("x", q.astype(np.float32))], opset=12, kernel_shape=[3, 3],
                      strides=[2, 2], pads=[1, 1, 1, 1])
    assert np.array_equal(mp, ref.astype(np.int8))
    ap = quantized_avg_pool2d(q, kernel_shape=(2, 2), strides=(2, 2), pads=(0, 0, 1, 1))
    # counts are 1, 2 or 4 here, so ONNX Runtime's float32 mean of integer codes is exact
    (fa,) = run_node("AveragePool", [("x", q.astype(np.float32))], opset=19,
                     kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])
    away = np.copysign(np.floor(np.abs(fa) + 0.5), fa)   # exact mean, half away from zero
    assert np.array_equal(ap, away.astype(np.int8))
    ties = np.int8([[[[1, 2], [-1, -2]]]])               # means 1.5 and -1.5
    a2 = quantized_avg_pool2d(ties, kernel_shape=(1, 2))
    assert a2.ravel().tolist() == [2, -2]
    e2 = quantized_avg_pool2d(ties, kernel_shape=(1, 2), rounding="half_even")
    assert e2.ravel().tolist() == [2, -2]
    e3 = quantized_avg_pool2d(np.int8([[[[2, 3, -2, -3]]]]), kernel_shape=(1, 2),
                              strides=(1, 2), rounding="half_even")  # 2.5 -> 2, -2.5 -> -2
    assert e3.ravel().tolist() == [2, -2]
    with pytest.raises(ValueError, match="rounding"):
        quantized_avg_pool2d(q, kernel_shape=(2, 2), rounding="up")

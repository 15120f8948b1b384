"""NumPy scalars behave like arrays of their dtype throughout reference/ (issue 13, item 6).

A zero point's dtype decides QuantizeLinear's output type whether it comes as an array or as a
NumPy scalar (``np.int8(0)``), and must match its tensor's dtype wherever an array's must; a 0-d
accumulator or input (array or NumPy scalar) works in every operator and mode and gives the
0-d array of what a one-element array gives. QuantizeLinear is checked against ONNX Runtime,
per axis on every axis.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import helper, numpy_helper

import reference
from reference.dtypes import QTYPES
from reference.matmul_int import matmul_int
from reference.quantize import dequantize, quantize
from reference.quantized_ops import build_lut, quantized_add, quantized_mul
from reference.requantize import REQUANTIZE_MODES, requantize

ZP_TYPES = ("int8", "uint8", "int16", "uint16")


def _ort_quantize_linear(x, scale, zp, axis):
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=axis)
    graph = helper.make_graph(
        [node], "q", [helper.make_tensor_value_info("x", 1, x.shape)],
        [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(zp.dtype), None)],
        initializer=[numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zp, "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.oracle
@given(st.sampled_from(ZP_TYPES), st.integers(0, 2**32 - 1), st.floats(-3, 2),
       st.sampled_from(["scalar", "0-d", "1-element"]))
def test_quantize_linear_zero_point_dtype_decides_output(dtype, seed, decade, kind):
    rng = np.random.default_rng(seed)
    t = QTYPES[dtype]
    x = (rng.normal(0, 1, 40) * 10.0 ** rng.uniform(0, 5)).astype(np.float32)
    scale = np.float32(10.0 ** decade)
    z = int(rng.integers(t.qmin, t.qmax + 1))
    zp = {"scalar": t.storage.type(z), "0-d": np.array(z, t.storage),
          "1-element": np.array([z], t.storage)}[kind]
    got = reference.quantize_linear(x, scale, zp)
    assert got.dtype == t.storage
    want = _ort_quantize_linear(x, scale, np.array(z, t.storage), 1)
    assert np.array_equal(got, want)


@pytest.mark.oracle
@given(st.sampled_from(ZP_TYPES), st.integers(0, 2**32 - 1), st.integers(-3, 2))
def test_quantize_linear_honours_axis(dtype, seed, axis):
    rng = np.random.default_rng(seed)
    t = QTYPES[dtype]
    x = (rng.normal(0, 300, (3, 4, 5))).astype(np.float32)
    n = x.shape[axis]
    scale = (10.0 ** rng.uniform(-2, 1, n)).astype(np.float32)
    zp = rng.integers(t.qmin, t.qmax + 1, n).astype(t.storage)
    got = reference.quantize_linear(x, scale, zp, axis=axis)
    assert got.dtype == t.storage
    assert np.array_equal(got, _ort_quantize_linear(x, scale, zp, axis))
    for i in range(n):  # each slice along the axis is a per-tensor QuantizeLinear
        part = np.take(x, [i], axis=axis)
        assert np.array_equal(np.take(got, [i], axis=axis),
                              reference.quantize_linear(part, scale[i], zp[i]))


def test_int8_scalar_zero_point_worked_example():
    x = np.array([-1, 1, 200], np.float32)
    got = reference.quantize_linear(x, 1.0, np.int8(0))
    assert got.dtype == np.int8 and got.tolist() == [-1, 1, 127]
    got = reference.quantize_linear(x, 1.0, np.int8(-5))  # in range for int8
    assert got.dtype == np.int8 and got.tolist() == [-6, -4, 127]
    assert reference.quantize_linear(x, 1.0).dtype == np.uint8  # no zero point: uint8
    with pytest.raises(TypeError, match="y_zero_point has dtype int32"):
        reference.quantize_linear(x, 1.0, np.int32(0))
    with pytest.raises(TypeError, match="zero_point dtype uint8 does not match dtype int8"):
        reference.quantize_linear(x, 1.0, np.uint8(3), output_dtype="int8")
    with pytest.raises(TypeError, match="zero_point dtype int64 does not match dtype int4"):
        reference.quantize_linear(x, 1.0, np.array(3), output_dtype="int4")


@given(st.sampled_from(REQUANTIZE_MODES), st.integers(-2**31, 2**31 - 1),
       st.sampled_from(["int8", "uint8", "int16"]), st.floats(-4, -1), st.booleans())
def test_requantize_zero_d_accumulator_every_mode(mode, value, dtype, decade, numpy_scalar):
    t = QTYPES[dtype]
    zp = t.storage.type((t.qmin + t.qmax) // 2)
    acc = np.int32(value) if numpy_scalar else np.array(value, np.int32)
    args = (np.float32(0.02), np.float32(10.0 ** decade), np.float32(0.7), zp)
    got = requantize(acc, *args, mode=mode, dtype=dtype)
    one = requantize(np.array([value], np.int32), *args, mode=mode, dtype=dtype)
    assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == t.storage
    assert got == one[0]


@given(st.floats(-1e4, 1e4, width=32), st.sampled_from(ZP_TYPES), st.integers(0, 2**16))
def test_quantize_dequantize_numpy_scalars_as_zero_d_arrays(value, dtype, seed):
    t = QTYPES[dtype]
    z = int(np.random.default_rng(seed).integers(t.qmin, t.qmax + 1))
    for x in (np.float32(value), np.array(value, np.float32)):
        q = quantize(x, 0.5, t.storage.type(z), dtype=dtype)
        assert isinstance(q, np.ndarray) and q.shape == () and q.dtype == t.storage
        assert q == quantize(np.array([value], np.float32), 0.5, np.array(z, t.storage),
                             dtype=dtype)[0]
        d = dequantize(q[()], np.float32(0.5), t.storage.type(z))  # a NumPy scalar q
        assert isinstance(d, np.ndarray) and d.shape == () and d.dtype == np.float32
        assert d == np.float32(int(q) - z) * np.float32(0.5)


@given(st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(-128, 127))
def test_matmul_zero_points_as_numpy_scalars(seed, za, zb):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (3, 5)).astype(np.uint8)
    b = rng.integers(-128, 128, (5, 2)).astype(np.int8)
    want = (a.astype(np.int64) - za) @ (b.astype(np.int64) - zb)
    for az, bz in ((np.uint8(za), np.int8(zb)), (np.array(za, np.uint8), np.array(zb, np.int8)),
                   (za, zb)):
        assert np.array_equal(matmul_int(a, b, a_zero_point=az, b_zero_point=bz), want)
    with pytest.raises(TypeError, match="a_zero_point must have the dtype of its tensor"):
        matmul_int(a, b, a_zero_point=np.int8(0))


@given(st.sampled_from(["int8", "uint8"]), st.integers(0, 2**16))
def test_quantized_ops_zero_points_as_numpy_scalars(dtype, seed):
    rng = np.random.default_rng(seed)
    t = QTYPES[dtype]
    a = rng.integers(t.qmin, t.qmax + 1, 30).astype(t.storage)
    b = rng.integers(t.qmin, t.qmax + 1, 30).astype(t.storage)
    z = [int(v) for v in rng.integers(t.qmin, t.qmax + 1, 3)]
    for op in (quantized_add, quantized_mul):
        for mode in ("onnxruntime", "tflite"):
            kw = dict(a_scale=0.1, b_scale=0.2, out_scale=0.3, mode=mode, dtype=dtype)
            plain = op(a, b, a_zero_point=z[0], b_zero_point=z[1], out_zero_point=z[2], **kw)
            typed = op(a, b, a_zero_point=t.storage.type(z[0]),
                       b_zero_point=np.array(z[1], t.storage),
                       out_zero_point=t.storage.type(z[2]), **kw)
            assert np.array_equal(plain, typed)
    lut = build_lut("sigmoid", in_scale=0.1, in_zero_point=t.storage.type(z[0]),
                    out_scale=1 / 256, out_zero_point=t.storage.type(t.qmin), dtype=dtype)
    assert np.array_equal(lut, build_lut("sigmoid", in_scale=0.1, in_zero_point=z[0],
                                         out_scale=1 / 256, out_zero_point=t.qmin, dtype=dtype))
    other = np.int8 if dtype == "uint8" else np.uint8
    with pytest.raises(TypeError, match="a_zero_point dtype"):
        quantized_add(a, b, a_zero_point=other(0), b_zero_point=0, a_scale=1, b_scale=1,
                      out_scale=1, out_zero_point=0, dtype=dtype)
    with pytest.raises(ValueError, match="out_zero_point must be in"):
        quantized_mul(a, b, a_zero_point=0, b_zero_point=0, a_scale=1, b_scale=1,
                      out_scale=1, out_zero_point=1000, mode="onnxruntime", dtype=dtype)

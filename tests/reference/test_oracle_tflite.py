"""Oracle tests: int8 CONV_2D in TFLite (ai-edge-litert), one kernel mode per requantize mode.

The one-op model is built in memory with LiteRT's own flatbuffer schema module (NHWC input,
OHWI per-channel int8 filter with zero points 0, int32 bias with scale input*filter, NHWC int8
output). Each interpreter mode is matched bit for bit by one ``requantize`` mode:

=======================================  =============================  ==================
interpreter (``experimental_op_resolver_type``)  kernels                       ``mode``
=======================================  =============================  ==================
``BUILTIN_REF``                          reference_integer_ops          ``"tflite"``
``BUILTIN_WITHOUT_DEFAULT_DELEGATES``    optimized (ruy GEMM on x86)    ``"tflite-ruy"``
``AUTO`` (default)                       XNNPACK delegate               ``"xnnpack"``
=======================================  =============================  ==================

and the test shows the modes are really different (each disagrees with the others somewhere).
"""

from __future__ import annotations

import os

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from reference.conv_int import conv2d_int, conv_output_size
from reference.quantize import quantize
from reference.requantize import requantize

pytestmark = pytest.mark.oracle

MIN_ELEMENTS = 100_000


def assert_enough(total: int) -> None:
    """Each oracle test compares at least MIN_ELEMENTS elements (count shown with -s)."""
    print(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}: {total} elements checked")
    assert total >= MIN_ELEMENTS
KERNEL_MODES = {
    "tflite": OpResolverType.BUILTIN_REF,
    "tflite-ruy": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    "xnnpack": OpResolverType.AUTO,
}
ACTIVATIONS = {"NONE": schema.ActivationFunctionType.NONE,
               "RELU": schema.ActivationFunctionType.RELU,
               "RELU6": schema.ActivationFunctionType.RELU6}


def _tensor(shape, ttype, buffer, name, scale=None, zero_point=None):
    t = schema.TensorT()
    t.shape, t.type, t.buffer, t.name = list(shape), ttype, buffer, name
    if scale is not None:
        q = schema.QuantizationParametersT()
        q.scale = [float(s) for s in np.atleast_1d(scale)]
        q.zeroPoint = [int(z) for z in np.atleast_1d(zero_point)]
        q.quantizedDimension = 0
        t.quantization = q
    return t


def _buffer(arr=None):
    b = schema.BufferT()
    if arr is not None:
        b.data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8).tolist()
    return b


def conv2d_tflite_model(x_shape, filt, bias, xs, xz, ws, ys, yz, *, stride, dilation, padding,
                        activation, out_shape) -> bytes:
    """Serialized one-op int8 CONV_2D model (TFLite schema, version 3 per-channel)."""
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CONV_2D
    code.version = 3
    o = filt.shape[0]
    sg = schema.SubGraphT()
    sg.tensors = [
        _tensor(x_shape, schema.TensorType.INT8, 1, "x", xs, xz),
        _tensor(filt.shape, schema.TensorType.INT8, 2, "w", ws, np.zeros(o, int)),
        _tensor(bias.shape, schema.TensorType.INT32, 3, "b", np.float64(xs) * ws,
                np.zeros(o, int)),
        _tensor(out_shape, schema.TensorType.INT8, 4, "y", ys, yz),
    ]
    sg.inputs, sg.outputs = [0], [3]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = schema.BuiltinOptions.Conv2DOptions
    opts = schema.Conv2DOptionsT()
    opts.padding = padding
    opts.strideH, opts.strideW = stride
    opts.dilationHFactor, opts.dilationWFactor = dilation
    opts.fusedActivationFunction = ACTIVATIONS[activation]
    op.builtinOptions = opts
    sg.operators = [op]
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.subgraphs = [sg]
    model.buffers = [_buffer(), _buffer(), _buffer(filt), _buffer(bias), _buffer()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_tflite(model: bytes, x: np.ndarray, resolver) -> np.ndarray:
    it = Interpreter(model_content=model, experimental_op_resolver_type=resolver,
                     num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def same_pads(size, kernel, stride, dilation):
    """TFLite SAME padding: total split with the extra pixel at the end."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size)
    return total // 2, total - total // 2


def activation_clamp(activation, ys, yz):
    """TFLite CalculateActivationRangeQuantized: bounds quantized with std::round."""
    if activation == "NONE":
        return None
    lo = int(quantize(np.zeros(1, np.float32), ys, yz, rounding="half_away")[0])
    hi = 127 if activation == "RELU" else int(
        quantize(np.full(1, 6.0, np.float32), ys, yz, rounding="half_away")[0])
    return lo, hi


# N, H, W, C, O, KH, KW, stride, dilation, SAME?, activation
CASES = [
    (1, 16, 16, 32, 64, 3, 3, (1, 1), (1, 1), True, "NONE"),
    (2, 15, 13, 8, 48, 3, 3, (2, 2), (1, 1), True, "RELU"),
    (1, 20, 20, 16, 32, 5, 5, (1, 2), (1, 1), False, "NONE"),
    (1, 14, 14, 64, 64, 1, 1, (1, 1), (1, 1), True, "RELU6"),
    (1, 18, 18, 12, 40, 3, 3, (1, 1), (2, 2), True, "NONE"),
    (1, 24, 24, 3, 32, 7, 7, (2, 2), (1, 1), True, "RELU"),
    (1, 12, 12, 128, 96, 3, 3, (1, 1), (1, 1), True, "NONE"),
    (1, 16, 16, 24, 48, 3, 1, (1, 1), (1, 1), False, "RELU6"),
]


def make_case(rng, case):
    n, h, w, c, o, kh, kw, stride, dil, same, act = case
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    filt = rng.integers(-127, 128, (o, kh, kw, c)).astype(np.int8)  # TFLite: filter != -128
    bias = rng.integers(-30_000, 30_000, o).astype(np.int32)
    xs = np.float32(10.0 ** rng.uniform(-2.5, -1))
    ws = (10.0 ** rng.uniform(-3, -1.5, o)).astype(np.float32)
    ys = np.float32(10.0 ** rng.uniform(-1.5, 0))
    xz = int(rng.choice([-128, 127, int(rng.integers(-128, 128))]))
    yz = int(rng.integers(-128, 128))
    if same:
        ph, pw = same_pads(h, kh, stride[0], dil[0]), same_pads(w, kw, stride[1], dil[1])
    else:
        ph = pw = (0, 0)
    pads = (ph[0], pw[0], ph[1], pw[1])
    oh = conv_output_size(h, kh, stride[0], ph[0], ph[1], dil[0])
    ow = conv_output_size(w, kw, stride[1], pw[0], pw[1], dil[1])
    model = conv2d_tflite_model(
        x.shape, filt, bias, xs, xz, ws, ys, yz, stride=stride, dilation=dil,
        padding=schema.Padding.SAME if same else schema.Padding.VALID, activation=act,
        out_shape=(n, oh, ow, o))
    acc = conv2d_int(x.transpose(0, 3, 1, 2), filt.transpose(0, 3, 1, 2), x_zero_point=xz,
                     bias=bias, strides=stride, pads=pads, dilations=dil)
    return model, x, acc, (xs, ws, ys, yz), activation_clamp(act, ys, yz)


@pytest.fixture(scope="module")
def tflite_runs():
    """Every case run once in every kernel mode: {mode: [(tflite_out, acc, qparams, clamp)]}."""
    rng = np.random.default_rng(40)
    runs = {mode: [] for mode in KERNEL_MODES}
    for _ in range(2):
        for case in CASES:
            model, x, acc, qp, clamp = make_case(rng, case)
            for mode, resolver in KERNEL_MODES.items():
                runs[mode].append((run_tflite(model, x, resolver), acc, qp, clamp))
    return runs


def _ours(acc, qp, clamp, mode):
    xs, ws, ys, yz = qp
    return requantize(acc, xs, ws, ys, yz, mode=mode, axis=1, clamp=clamp).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("mode", list(KERNEL_MODES))
def test_conv2d_int8_matches_tflite_kernel_mode(tflite_runs, mode):
    total = 0
    for want, acc, qp, clamp in tflite_runs[mode]:
        got = _ours(acc, qp, clamp, mode)
        assert got.dtype == want.dtype == np.int8
        assert np.array_equal(got, want), (mode, want.shape)
        total += want.size
    assert_enough(total)


def test_tflite_kernel_modes_round_differently(tflite_runs):
    """Each runtime mode disagrees with each other mode somewhere (about 0.05% here)."""
    for mode in KERNEL_MODES:
        for other in KERNEL_MODES:
            if other == mode:
                continue
            diffs = sum(int((want != _ours(acc, qp, clamp, other)).sum())
                        for want, acc, qp, clamp in tflite_runs[mode])
            assert diffs > 0, (mode, other)

"""Oracle tests: int8 one-op models in TFLite (ai-edge-litert), each interpreter kernel mode
matched bit for bit by one gilt arithmetic.

Models are built in memory with LiteRT's own flatbuffer schema module (NHWC int8 tensors,
symmetric int8 weights, int32 bias with scale input*filter); no TensorFlow needed. Three kernel
sets run each model: ``BUILTIN_REF`` (reference_integer_ops), ``BUILTIN_WITHOUT_DEFAULT_DELEGATES``
(optimized kernels: ruy GEMM, NEON code through NEON_2_SSE on x86) and ``AUTO`` (the XNNPACK
delegate). The matrix (``MATRIX`` below, printed by ``test_tflite_matrix``):

=================  ===============  ===============  ==============
op                 reference        optimized        XNNPACK
=================  ===============  ===============  ==============
CONV_2D            tflite           tflite-ruy       xnnpack
DEPTHWISE_CONV_2D  tflite           tflite-neon      xnnpack
FULLY_CONNECTED    tflite-double    tflite-ruy       xnnpack
ADD                tflite           tflite           tflite-single
MUL                tflite           tflite           xnnpack
AVERAGE_POOL_2D    half_away        half_away        half_away
LOGISTIC           lut              lut              lut
=================  ===============  ===============  ==============

(requantize modes for the first five, ``quantized_add`` / ``quantized_mul`` modes for ADD and
MUL, ``quantized_avg_pool2d`` rounding for the pool, ``quantized_sigmoid``'s table for LOGISTIC.)
SOFTMAX is not compared: gilt has no model of TFLite's int8 softmax. Scales are powers of two in
some cases so that exact ties occur and the modes are told apart; the tests also show every
matched mode differs from the others somewhere.
"""

from __future__ import annotations

import os

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from reference.conv_int import conv2d_int, conv_output_size
from reference.matmul_int import matmul_int, wrap_int32
from reference.quantize import quantize
from reference.quantized_ops import (
    quantized_add,
    quantized_avg_pool2d,
    quantized_mul,
    quantized_sigmoid,
)
from reference.requantize import ALL_REQUANTIZE_MODES, REQUANTIZE_MODES, requantize

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
INT8, INT32 = schema.TensorType.INT8, schema.TensorType.INT32
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


def one_op_model(opcode: int, version: int, tensors: list, consts: dict, op_inputs: list,
                 n_inputs: int = 1, options: tuple = (None, None)) -> bytes:
    """Serialized one-op TFLite model. ``tensors``: (shape, TensorType, name, scale, zero
    point, quantized dimension) in order, graph inputs first (``n_inputs`` of them), the output
    last; ``consts``: tensor index -> array stored as a constant buffer."""
    code = schema.OperatorCodeT()
    code.builtinCode = opcode
    code.deprecatedBuiltinCode = min(opcode, 127)
    code.version = version
    sg = schema.SubGraphT()
    buffers = [_buffer()]
    sg.tensors = []
    for i, (shape, ttype, name, scale, zp, qdim) in enumerate(tensors):
        buffers.append(_buffer(consts.get(i)))
        t = _tensor(shape, ttype, len(buffers) - 1, name, scale, zp)
        if t.quantization is not None:
            t.quantization.quantizedDimension = qdim
        sg.tensors.append(t)
    sg.inputs, sg.outputs = list(range(n_inputs)), [len(tensors) - 1]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, op_inputs, [len(tensors) - 1]
    if options[0] is not None:
        op.builtinOptionsType, op.builtinOptions = options
    sg.operators = [op]
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.subgraphs = [sg]
    model.buffers = buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def conv2d_tflite_model(x_shape, filt, bias, xs, xz, ws, ys, yz, *, stride, dilation, padding,
                        activation, out_shape) -> bytes:
    """Serialized one-op int8 CONV_2D model (TFLite schema, version 3 per-channel)."""
    o = filt.shape[0]
    opts = schema.Conv2DOptionsT()
    opts.padding = padding
    opts.strideH, opts.strideW = stride
    opts.dilationHFactor, opts.dilationWFactor = dilation
    opts.fusedActivationFunction = ACTIVATIONS[activation]
    return one_op_model(
        schema.BuiltinOperator.CONV_2D, 3,
        [(x_shape, INT8, "x", xs, xz, 0), (filt.shape, INT8, "w", ws, np.zeros(o, int), 0),
         (bias.shape, INT32, "b", np.float64(xs) * ws, np.zeros(o, int), 0),
         (out_shape, INT8, "y", ys, yz, 0)],
        {1: filt, 2: bias}, [0, 1, 2], options=(schema.BuiltinOptions.Conv2DOptions, opts))


def run_tflite(model: bytes, x, resolver) -> np.ndarray:
    """Run ``model`` on input ``x`` (or a tuple of inputs) with one thread."""
    it = Interpreter(model_content=model, experimental_op_resolver_type=resolver,
                     num_threads=1)
    it.allocate_tensors()
    for detail, value in zip(it.get_input_details(), x if isinstance(x, tuple) else (x,)):
        it.set_tensor(detail["index"], value)
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


# --- The matrix: every op under every kernel set, matched by one gilt arithmetic --------------

RESOLVERS = {"reference": OpResolverType.BUILTIN_REF,
             "optimized": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
             "xnnpack": OpResolverType.AUTO}
MATRIX = {
    "CONV_2D": {"reference": "tflite", "optimized": "tflite-ruy", "xnnpack": "xnnpack"},
    "DEPTHWISE_CONV_2D": {"reference": "tflite", "optimized": "tflite-neon",
                          "xnnpack": "xnnpack"},
    "FULLY_CONNECTED": {"reference": "tflite-double", "optimized": "tflite-ruy",
                        "xnnpack": "xnnpack"},
    "ADD": {"reference": "tflite", "optimized": "tflite", "xnnpack": "tflite-single"},
    "MUL": {"reference": "tflite", "optimized": "tflite", "xnnpack": "xnnpack"},
    "AVERAGE_POOL_2D": {r: "half_away" for r in RESOLVERS},
    "LOGISTIC": {r: "lut" for r in RESOLVERS},
}


def _scales(rng, tie: bool, n=()):
    """Scales over decades, or powers of two (exact ties in the output stage)."""
    if tie:
        return (2.0 ** rng.integers(-7, -1, n)).astype(np.float32)
    return (10.0 ** rng.uniform(-2.5, -1, n)).astype(np.float32)


def depthwise_case(rng, tie):
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(6, 16)), int(rng.integers(6, 16))
    c, mult = int(rng.choice([3, 5, 8, 12, 16, 21, 32])), int(rng.choice([1, 1, 2]))
    k, stride, same = int(rng.choice([3, 5])), int(rng.choice([1, 2])), bool(rng.integers(0, 2))
    o = c * mult
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    filt = rng.integers(-127, 128, (1, k, k, o)).astype(np.int8)
    bias = rng.integers(-30_000, 30_000, o).astype(np.int32)
    xs, ws, ys = _scales(rng, tie), _scales(rng, tie, o), np.float32(_scales(rng, tie) * 16)
    xz, yz = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    ph = same_pads(h, k, stride, 1) if same else (0, 0)
    pw = same_pads(w, k, stride, 1) if same else (0, 0)
    oh = conv_output_size(h, k, stride, ph[0], ph[1], 1)
    ow = conv_output_size(w, k, stride, pw[0], pw[1], 1)
    opts = schema.DepthwiseConv2DOptionsT()
    opts.padding = schema.Padding.SAME if same else schema.Padding.VALID
    opts.strideH = opts.strideW = stride
    opts.depthMultiplier = mult
    model = one_op_model(
        schema.BuiltinOperator.DEPTHWISE_CONV_2D, 3,
        [(x.shape, INT8, "x", xs, xz, 0), (filt.shape, INT8, "w", ws, np.zeros(o, int), 3),
         (bias.shape, INT32, "b", np.float64(xs) * ws, np.zeros(o, int), 0),
         ((n, oh, ow, o), INT8, "y", ys, yz, 0)],
        {1: filt, 2: bias}, [0, 1, 2], options=(schema.BuiltinOptions.DepthwiseConv2DOptions, opts))
    acc = conv2d_int(x.transpose(0, 3, 1, 2), filt[0].transpose(2, 0, 1)[:, None], x_zero_point=xz,
                     bias=bias, strides=(stride, stride), pads=(ph[0], pw[0], ph[1], pw[1]),
                     groups=c)
    return model, x, lambda mode: requantize(acc, xs, ws, ys, yz, mode=mode,
                                             axis=1).transpose(0, 2, 3, 1)


def fully_connected_case(rng, tie):
    n, k, o = int(rng.integers(1, 64)), int(rng.integers(1, 300)), int(rng.integers(1, 96))
    per_channel = bool(rng.integers(0, 2))
    x = rng.integers(-128, 128, (n, k)).astype(np.int8)
    wt = rng.integers(-127, 128, (o, k)).astype(np.int8)
    bias = rng.integers(-30_000, 30_000, o).astype(np.int32)
    xs, ys = _scales(rng, tie), np.float32(_scales(rng, tie) * 64)
    ws = _scales(rng, tie, o if per_channel else ())
    xz, yz = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    zw = np.zeros(o if per_channel else 1, int)
    model = one_op_model(
        schema.BuiltinOperator.FULLY_CONNECTED, 5 if per_channel else 4,
        [(x.shape, INT8, "x", xs, xz, 0), (wt.shape, INT8, "w", ws, zw, 0),
         (bias.shape, INT32, "b", np.float64(xs) * ws, zw, 0), ((n, o), INT8, "y", ys, yz, 0)],
        {1: wt, 2: bias}, [0, 1, 2],
        options=(schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT()))
    acc = wrap_int32(matmul_int(x, np.ascontiguousarray(wt.T), a_zero_point=np.int8(xz))
                     .astype(np.int64) + bias)
    return model, x, lambda mode: requantize(acc, xs, ws, ys, yz, mode=mode, axis=-1)


def binary_case(op):
    def case(rng, tie):
        shape = (1, int(rng.integers(4, 12)), int(rng.integers(4, 12)), 16)
        a, b = (rng.integers(-128, 128, shape).astype(np.int8) for _ in range(2))
        sa, sb = _scales(rng, tie) * 8, _scales(rng, tie) * 8
        sy = np.float32(sa * sb * 16) if op == "MUL" else np.float32(_scales(rng, tie) * 16)
        za, zb, zy = (int(v) for v in rng.integers(-128, 128, 3))
        opcode = getattr(schema.BuiltinOperator, op)
        opts = (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()) if op == "ADD" else \
            (schema.BuiltinOptions.MulOptions, schema.MulOptionsT())
        model = one_op_model(opcode, 2, [(shape, INT8, "a", sa, za, 0), (shape, INT8, "b", sb, zb, 0),
                                         (shape, INT8, "y", sy, zy, 0)], {}, [0, 1], 2, opts)
        fn = quantized_add if op == "ADD" else quantized_mul
        return model, (a, b), lambda mode: fn(
            a, b, a_scale=sa, a_zero_point=za, b_scale=sb, b_zero_point=zb, out_scale=sy,
            out_zero_point=zy, mode=mode)
    return case


def avg_pool_case(rng, tie):
    h = int(rng.integers(6, 16))
    x = rng.integers(-128, 128, (2, h, h, 16)).astype(np.int8)
    k, stride, same = int(rng.choice([2, 3])), int(rng.choice([1, 2])), bool(rng.integers(0, 2))
    p = same_pads(h, k, stride, 1) if same else (0, 0)
    oh = conv_output_size(h, k, stride, p[0], p[1], 1)
    opts = schema.Pool2DOptionsT()
    opts.padding = schema.Padding.SAME if same else schema.Padding.VALID
    opts.strideH = opts.strideW = stride
    opts.filterHeight = opts.filterWidth = k
    xs, xz = _scales(rng, tie), int(rng.integers(-128, 128))
    model = one_op_model(schema.BuiltinOperator.AVERAGE_POOL_2D, 2,
                         [(x.shape, INT8, "x", xs, xz, 0), ((2, oh, oh, 16), INT8, "y", xs, xz, 0)],
                         {}, [0], options=(schema.BuiltinOptions.Pool2DOptions, opts))
    return model, x, lambda rounding: quantized_avg_pool2d(
        x.transpose(0, 3, 1, 2), kernel_shape=(k, k), strides=(stride, stride),
        pads=(p[0], p[0], p[1], p[1]), rounding=rounding).transpose(0, 2, 3, 1)


def logistic_case(rng, tie):
    x = rng.integers(-128, 128, (1, 16, 16, 8)).astype(np.int8)
    xs, xz = np.float32(_scales(rng, tie) * 8), int(rng.integers(-128, 128))
    model = one_op_model(schema.BuiltinOperator.LOGISTIC, 2,
                         [(x.shape, INT8, "x", xs, xz, 0), (x.shape, INT8, "y", 1 / 256, -128, 0)],
                         {}, [0])
    return model, x, lambda _: quantized_sigmoid(x, in_scale=xs, in_zero_point=xz)


OP_CASES = {  # op -> (case builder, candidate gilt modes, cases run)
    "DEPTHWISE_CONV_2D": (depthwise_case, ALL_REQUANTIZE_MODES, 48),
    "FULLY_CONNECTED": (fully_connected_case, ALL_REQUANTIZE_MODES, 60),
    "ADD": (binary_case("ADD"), ("tflite", "tflite-single", "onnxruntime"), 30),
    "MUL": (binary_case("MUL"), REQUANTIZE_MODES, 30),
    "AVERAGE_POOL_2D": (avg_pool_case, ("half_away", "half_even"), 30),
    "LOGISTIC": (logistic_case, ("lut",), 12),
}


@pytest.fixture(scope="module")
def tflite_matrix(tflite_runs):
    """{op: {resolver: {mode: [mismatches, total]}}}, CONV_2D from the cases above."""
    table = {"CONV_2D": {r: {m: [0, 0] for m in KERNEL_MODES} for r in RESOLVERS}}
    for mode, resolver in zip(KERNEL_MODES, RESOLVERS):
        for want, acc, qp, clamp in tflite_runs[mode]:
            for m in KERNEL_MODES:
                cell = table["CONV_2D"][resolver][m]
                cell[0] += int((want != _ours(acc, qp, clamp, m)).sum())
                cell[1] += want.size
    rng = np.random.default_rng(48)
    for op, (build, modes, count) in OP_CASES.items():
        cells = {r: {m: [0, 0] for m in modes} for r in RESOLVERS}
        for i in range(count):
            model, inputs, gilt = build(rng, tie=i % 2 == 1)
            ours = {m: gilt(m) for m in modes}
            for resolver, kind in RESOLVERS.items():
                want = run_tflite(model, inputs, kind)
                for m in modes:
                    assert ours[m].dtype == want.dtype == np.int8
                    cells[resolver][m][0] += int((ours[m] != want).sum())
                    cells[resolver][m][1] += want.size
        table[op] = cells
    return table


def test_tflite_matrix(tflite_matrix):
    lines = [f"{'op':18s} " + " ".join(f"{r:>30s}" for r in RESOLVERS)]
    for op, row in MATRIX.items():
        cells = []
        for resolver, mode in row.items():
            bad, total = tflite_matrix[op][resolver][mode]
            cells.append(f"{mode} {bad}/{total}")
        lines.append(f"{op:18s} " + " ".join(f"{c:>30s}" for c in cells))
    print("\nLiteRT matrix (op x kernel set -> gilt mode, mismatches/total):\n" + "\n".join(lines))
    for op, row in MATRIX.items():
        for resolver, mode in row.items():
            bad, total = tflite_matrix[op][resolver][mode]
            assert bad == 0 and total >= 5_000, (op, resolver, mode, bad, total)


def test_tflite_matrix_modes_are_told_apart(tflite_matrix):
    """Where gilt has several candidate arithmetics, the data separates the matched one."""
    for op, row in MATRIX.items():
        modes = tflite_matrix[op]["reference"]
        if len(modes) < 2:
            continue
        for resolver, mode in row.items():
            others = [m for m, (bad, _) in tflite_matrix[op][resolver].items() if m != mode]
            assert any(tflite_matrix[op][resolver][m][0] > 0 for m in others), (op, resolver)

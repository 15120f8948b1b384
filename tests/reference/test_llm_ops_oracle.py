"""reference/llm_ops.py against ONNX Runtime and onnx.reference.

* ``MatMulNBits`` (com.microsoft, 4 bits) with ``accuracy_level=4``, block sizes 32/64/128,
  with and without zero points: within :func:`matmul_nbits_int8_bound` (the float32 order of
  MLAS differs from ours and between ISAs) and far from the float path; on inputs where every
  float step is exact the result is bit-exact, which pins the integer path (activation codes,
  scales, zero points) on x86-64. MLAS quantizes activations differently on aarch64 (KleidiAI
  packs rows with per-row asymmetric scales), so there the exact-input check uses the bound.
* ``quantize_matmul_4bits`` (ONNX Runtime's weight quantizer) == :func:`quantize_blockwise_4bit`
  bit for bit on x86-64 (an aarch64 build may fuse ``v * r + zp`` into one FMA; codes may then
  move by one at a tie).
* RMSNormalization / RotaryEmbedding / Attention (opset 23) and the KV-cache quantization
  sequence against ONNX Runtime and onnx.reference.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from reference.llm_ops import (
    apply_rope,
    grouped_query_attention,
    matmul_nbits_int8,
    matmul_nbits_int8_bound,
    quantize_blockwise_4bit,
    quantize_kv,
    rms_norm,
    rope_cache,
)
from reference.onnx_ops import matmul_nbits

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle of these tests")
pytestmark = pytest.mark.oracle
X86 = platform.machine().lower() in ("x86_64", "amd64")


def _session(nodes, inputs, outputs, inits=(), opset=23):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    try:
        return ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]), model
    except Exception as exc:   # noqa: BLE001 - an old runtime lacks the op: say which
        pytest.skip(f"onnxruntime {ort.__version__} cannot run this graph: {exc}")


def _nbits_session(B, S, Z, k, n, bs, level):
    ins = ["A", "B", "S"] + (["Z"] if Z is not None else [])
    inits = [numpy_helper.from_array(B, "B"), numpy_helper.from_array(S, "S")]
    if Z is not None:
        inits.append(numpy_helper.from_array(Z, "Z"))
    node = helper.make_node("MatMulNBits", ins, ["Y"], domain="com.microsoft", K=k, N=n,
                            bits=4, block_size=bs, accuracy_level=level)
    sess, _ = _session([node], [helper.make_tensor_value_info("A", TensorProto.FLOAT,
                                                              ["M", k])],
                       [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])], inits,
                       opset=21)
    return sess


@pytest.mark.parametrize("bs", [32, 64, 128])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("k,n", [(256, 48), (200, 24), (1024, 16)])
def test_matmul_nbits_level4_within_order_bound(bs, symmetric, k, n):
    rng = np.random.default_rng(bs + k)
    w = rng.standard_normal((k, n)).astype(np.float32)
    B, S, Z = quantize_blockwise_4bit(w, block_size=bs, symmetric=symmetric)
    sess = _nbits_session(B, S, Z, k, n, bs, 4)
    for m in (1, 5):
        a = (rng.standard_normal((m, k)) * rng.uniform(0.1, 10)).astype(np.float32)
        got = sess.run(None, {"A": a})[0]
        ours = matmul_nbits_int8(a, B, S, Z, K=k, N=n, block_size=bs)
        bound = matmul_nbits_int8_bound(a, B, S, Z, K=k, N=n, block_size=bs)
        assert np.all(np.abs(got - ours) <= bound), np.abs(got - ours).max()
        # the ONNX entry point follows the node's accuracy_level (no silent float path)
        entry = matmul_nbits(a, B, S, Z, K=k, N=n, block_size=bs, accuracy_level=4)
        assert np.array_equal(entry, ours)
        # the int8 path, not the float one: the float result is outside the bound
        floaty = matmul_nbits(a, B, S, Z, K=k, N=n, block_size=bs)
        assert np.mean(np.abs(got - floaty) > bound) > 0.5


@pytest.mark.parametrize("bs", [32, 64, 128])
def test_matmul_nbits_level4_exact_inputs_bit_exact(bs):
    """Activations integer with a block maximum of 127 (codes = values, scale 1), weight
    scales powers of two: every product and partial sum is exact, so any summation order
    gives the same float32 as ours."""
    rng = np.random.default_rng(bs)
    k, n = 4 * bs, 32
    q = rng.integers(0, 16, (n, k)).astype(np.uint8)
    zp = rng.integers(0, 16, (n, k // bs)).astype(np.uint8)
    B = (q[:, 0::2] | (q[:, 1::2] << 4)).reshape(n, k // bs, bs // 2)
    zpb = np.concatenate([zp, np.zeros((n, (k // bs) % 2), np.uint8)], 1)
    Z = (zpb[:, 0::2] | (zpb[:, 1::2] << 4)).reshape(-1).astype(np.uint8)
    S = (2.0 ** rng.integers(-6, 2, n * (k // bs))).astype(np.float32)
    a = rng.integers(-127, 128, (6, k)).astype(np.float32)
    a[:, ::bs] = 127 * rng.choice([-1, 1], (6, k // bs))
    got = _nbits_session(B, S, Z, k, n, bs, 4).run(None, {"A": a})[0]
    ours = matmul_nbits_int8(a, B, S, Z, K=k, N=n, block_size=bs)
    if X86:
        assert np.array_equal(got, ours)
    else:
        assert np.all(np.abs(got - ours) <= matmul_nbits_int8_bound(a, B, S, Z, K=k, N=n,
                                                                     block_size=bs))


@pytest.mark.parametrize("bs", [32, 64, 128])
@pytest.mark.parametrize("symmetric", [False, True])
def test_weight_quantizer_matches_onnxruntime(bs, symmetric):
    quantize = pytest.importorskip("onnxruntime.capi._pybind_state").quantize_matmul_4bits
    rng = np.random.default_rng(bs + symmetric)
    k, n = 320, 40
    w = (rng.standard_normal((k, n)) * rng.uniform(0.01, 5, n)).astype(np.float32)
    nblk = -(-k // bs)
    B = np.zeros((n, nblk, bs // 2), np.uint8)
    S = np.zeros(n * nblk, np.float32)
    Z = np.zeros(n * ((nblk + 1) // 2), np.uint8)
    quantize(B, w, S, Z, bs, n, k, symmetric)
    ours_b, ours_s, ours_z = quantize_blockwise_4bit(w, block_size=bs, symmetric=symmetric)
    assert np.array_equal(ours_s, S)
    if not symmetric:
        assert np.array_equal(ours_z, Z)
    if X86:
        assert np.array_equal(ours_b, B)
    else:
        lo = lambda x: np.stack([x & 0xF, x >> 4], -1).astype(np.int16)  # noqa: E731
        diff = np.abs(lo(ours_b) - lo(B))
        assert diff.max() <= 1 and diff.mean() < 1e-3


def test_rms_norm_matches_onnxruntime_and_reference():
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 64)).astype(np.float32)
    w = (1 + 0.1 * rng.standard_normal(64)).astype(np.float32)
    node = helper.make_node("RMSNormalization", ["x", "w"], ["y"], axis=-1, epsilon=1e-5)
    sess, model = _session([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                  x.shape),
                                    helper.make_tensor_value_info("w", TensorProto.FLOAT, [64])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    ours = rms_norm(x, w)
    for got in (sess.run(None, {"x": x, "w": w})[0],
                ReferenceEvaluator(model).run(None, {"x": x, "w": w})[0]):
        np.testing.assert_allclose(got, ours, rtol=2e-6, atol=1e-7)


def test_rope_matches_onnxruntime_and_reference():
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(2)
    cos, sin = rope_cache(32, 64, theta=10000.0)
    x = rng.standard_normal((2, 4, 9, 32)).astype(np.float32)
    pos = np.arange(20, 29)
    node = helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"])
    vi = [helper.make_tensor_value_info(nm, t, a.shape) for nm, t, a in (
        ("x", TensorProto.FLOAT, x), ("cos", TensorProto.FLOAT, cos),
        ("sin", TensorProto.FLOAT, sin), ("pos", TensorProto.INT64, np.zeros((2, 9))))]
    sess, model = _session([node], vi, [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                      None)])
    feeds = {"x": x, "cos": cos, "sin": sin, "pos": np.tile(pos, (2, 1)).astype(np.int64)}
    ours = apply_rope(x, cos, sin, pos)
    for got in (sess.run(None, feeds)[0], ReferenceEvaluator(model).run(None, feeds)[0]):
        # one float32 product and one sum per element: at most a few ulp of the operands
        np.testing.assert_allclose(got, ours, rtol=0, atol=4 * np.spacing(np.abs(x).max()))


def test_attention_gqa_matches_onnxruntime_and_reference():
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 8, 5, 16)).astype(np.float32)
    k = rng.standard_normal((2, 2, 12, 16)).astype(np.float32)
    v = rng.standard_normal((2, 2, 12, 16)).astype(np.float32)
    pos = np.arange(7, 12)
    mask = np.arange(12)[None, :] <= pos[:, None]
    node = helper.make_node("Attention", ["q", "k", "v", "mask"], ["y"])
    vi = [helper.make_tensor_value_info(nm, TensorProto.FLOAT, a.shape)
          for nm, a in (("q", q), ("k", k), ("v", v))]
    vi.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, mask.shape))
    sess, model = _session([node], vi, [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                      None)])
    feeds = {"q": q, "k": k, "v": v, "mask": mask}
    ours = grouped_query_attention(q, k, v, query_positions=pos)
    for got in (sess.run(None, feeds)[0], ReferenceEvaluator(model).run(None, feeds)[0]):
        np.testing.assert_allclose(got, ours, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bits", [8, 4])
def test_kv_quantization_sequence_bit_exact(bits):
    qmax = {8: 127, 4: 7}[bits]
    rng = np.random.default_rng(bits)
    x = (rng.standard_normal((2, 3, 17, 16)) * rng.uniform(0.01, 30, (2, 3, 17, 1))) \
        .astype(np.float32)
    x[0, 0, 0] = 0.0
    c = {nm: numpy_helper.from_array(np.asarray(v), nm) for nm, v in (
        ("axes", np.array([-1], np.int64)), ("q", np.array(qmax, np.float32)),
        ("nq", np.array(-qmax, np.float32)), ("zero", np.array(0, np.float32)),
        ("one", np.array(1, np.float32)))}
    nodes = [helper.make_node("Abs", ["x"], ["a"]),
             helper.make_node("ReduceMax", ["a", "axes"], ["m"], keepdims=1),
             helper.make_node("Div", ["m", "q"], ["s0"]),
             helper.make_node("Equal", ["s0", "zero"], ["z"]),
             helper.make_node("Where", ["z", "one", "s0"], ["s"]),
             helper.make_node("Div", ["x", "s"], ["r"]),
             helper.make_node("Round", ["r"], ["rr"]),
             helper.make_node("Clip", ["rr", "nq", "q"], ["cl"]),
             helper.make_node("Cast", ["cl"], ["codes"], to=TensorProto.INT8)]
    sess, _ = _session(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                       [helper.make_tensor_value_info("codes", TensorProto.INT8, None),
                        helper.make_tensor_value_info("s", TensorProto.FLOAT, None)],
                       c.values())
    codes, scales = sess.run(None, {"x": x})
    ours_codes, ours_scales = quantize_kv(x, bits=bits)
    assert np.array_equal(codes, ours_codes) and np.array_equal(scales, ours_scales)

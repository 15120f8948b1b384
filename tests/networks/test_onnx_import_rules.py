"""The importer honours ONNX defaults and optional inputs, and refuses everything else with one
message naming node, operator and what (regressions of silent wrong results and crashes).
Results are compared with onnxruntime (integers equal; floats as ONNX's own runner does)."""

import numpy as np
import pytest

import networks

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from networks.onnx_import import import_onnx  # noqa: E402
from networks.onnx_rules import WEIGHT_BITS_KEY  # noqa: E402

pytestmark = pytest.mark.oracle
F, I8, U8, I16 = TensorProto.FLOAT, TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16


def make(nodes, inputs, outputs, inits=(), opset=21, ms=False):
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "t", [vi(n, t, s) for n, t, s in inputs],
                              [vi(n, t, s) for n, t, s in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits])
    ops = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("com.microsoft", 1)]
                                             if ms else [])
    return helper.make_model(graph, opset_imports=ops)


def ort_run(model, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def gilt_run(model, feeds):
    g = import_onnx(model)
    out = networks.golden_run(g, feeds, keep=()).outputs
    return [out[t] for t in g.outputs]


def assert_like_ort(model, feeds):
    for ours, theirs in zip(gilt_run(model, feeds), ort_run(model, feeds)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        if ours.dtype.kind in "iub":
            assert np.array_equal(ours, theirs)
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-7)


def refused(model, *fragments):
    with pytest.raises(ValueError) as err:
        import_onnx(model)
    for f in fragments:
        assert f in str(err.value), str(err.value)
    return str(err.value)


X = np.random.default_rng(0).standard_normal((1, 2, 7, 7)).astype(np.float32)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_strides_default_to_one(op):
    m = make([helper.make_node(op, ["x"], ["y"], kernel_shape=[3, 3])],
             [("x", F, X.shape)], [("y", F, (1, 2, 5, 5))])
    assert_like_ort(m, {"x": X})


def test_int8_max_pool_strides_default_to_one():
    q = np.random.default_rng(1).integers(-128, 127, (1, 2, 6, 6), endpoint=True).astype(
        np.int8)
    m = make([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])],
             [("x", I8, q.shape)], [("y", I8, (1, 2, 5, 5))])
    assert_like_ort(m, {"x": q})


@pytest.mark.parametrize("attrs,shape", [
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (1, 2, 4, 4)),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, (1, 2, 4, 4)),
    ({"ceil_mode": 1, "strides": [2, 2]}, (1, 2, 3, 3)),
    ({"ceil_mode": 1, "strides": [3, 3], "pads": [1, 1, 1, 1]}, (1, 2, 3, 3)),
    ({"dilations": [2, 2]}, (1, 2, 3, 3))])
def test_max_pool_geometry(attrs, shape):
    m = make([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], **attrs)],
             [("x", F, X.shape)], [("y", F, shape)])
    assert_like_ort(m, {"x": X})


@pytest.mark.parametrize("attrs,shape", [
    ({"ceil_mode": 1, "strides": [2, 2]}, (1, 2, 3, 3)),
    ({"count_include_pad": 1, "pads": [1, 1, 1, 1]}, (1, 2, 7, 7)),
    ({"pads": [1, 1, 1, 1]}, (1, 2, 7, 7))])
def test_avg_pool_geometry(attrs, shape):
    m = make([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], **attrs)],
             [("x", F, X.shape)], [("y", F, shape)])
    assert_like_ort(m, {"x": X})


def test_one_d_pool_and_indices_refused():
    m = make([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[3])],
             [("x", F, (1, 2, 9))], [("y", F, (1, 2, 7))])
    refused(m, "p (MaxPool): 1-D windows", "only 2-D")
    m = make([helper.make_node("MaxPool", ["x"], ["y", "i"], name="p", kernel_shape=[3, 3])],
             [("x", F, X.shape)], [("y", F, (1, 2, 5, 5)), ("i", TensorProto.INT64,
                                                             (1, 2, 5, 5))])
    refused(m, "p (MaxPool): output(s) ['i'] not supported")


def test_resize_defaults_are_honoured():
    # half_pixel + round_prefer_floor (the defaults) at a scale where they differ from
    # asymmetric + floor: the generic Resize (reference.resize) runs it
    scales = np.array([1, 1, 1.5, 1.5], np.float32)
    m = make([helper.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode="nearest")],
             [("x", F, X.shape)], [("y", F, (1, 2, 10, 10))], [("s", scales)])
    assert import_onnx(m).nodes[0].op == "Resize"
    assert_like_ort(m, {"x": X})
    scales = np.array([1, 1, 2, 2], np.float32)
    m = make([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest",
                               coordinate_transformation_mode="asymmetric",
                               nearest_mode="floor")],
             [("x", F, X.shape)], [("y", F, (1, 2, 14, 14))], [("s", scales)])
    assert_like_ort(m, {"x": X})


def test_quantize_linear_int16_and_axis():
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32) * 100
    m = make([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
             [("x", F, x.shape)], [("y", I16, x.shape)],
             [("s", np.float32(0.01)), ("z", np.int16(-300))])
    assert_like_ort(m, {"x": x})
    m = make([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=2)],
             [("x", F, x.shape)], [("y", U8, x.shape)],
             [("s", np.array([0.5, 1, 2, 4], np.float32)),
              ("z", np.array([0, 10, 128, 255], np.uint8))])
    assert_like_ort(m, {"x": x})
    m = make([helper.make_node("QuantizeLinear", ["x", "s"], ["y"])],   # no zp: uint8
             [("x", F, x.shape)], [("y", U8, x.shape)], [("s", np.float32(0.5))])
    assert_like_ort(m, {"x": x})


def test_dequantize_of_integer_graph_input_per_axis():
    q = np.random.default_rng(3).integers(-128, 127, (2, 3, 4), endpoint=True).astype(np.int8)
    m = make([helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)],
             [("q", I8, q.shape)], [("y", F, q.shape)],
             [("s", np.array([0.5, 0.25, 2], np.float32)), ("z", np.array([1, -2, 3],
                                                                         np.int8))])
    assert_like_ort(m, {"q": q})


def test_single_node_integer_models():
    # uint8 x int8 below 128: ONNX Runtime's AVX2 kernels saturate pair sums to int16 only
    # beyond 32767 (host-dependent), which these values never reach
    rng = np.random.default_rng(4)
    a = rng.integers(0, 127, (3, 8), endpoint=True).astype(np.uint8)
    b = rng.integers(-128, 127, (8, 5), endpoint=True).astype(np.int8)
    m = make([helper.make_node("MatMulInteger", ["a", "b", "za"], ["y"])],
             [("a", U8, a.shape), ("b", I8, b.shape)], [("y", TensorProto.INT32, (3, 5))],
             [("za", np.uint8(7))])
    assert_like_ort(m, {"a": a, "b": b})
    m = make([helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy",
                                                  "zy"], ["y"])],
             [("a", U8, a.shape), ("b", I8, b.shape)], [("y", U8, (3, 5))],
             [("sa", np.float32(0.02)), ("za", np.uint8(7)), ("sb", np.float32(0.05)),
              ("zb", np.int8(0)), ("sy", np.float32(0.3)), ("zy", np.uint8(100))])
    assert_like_ort(m, {"a": a, "b": b})


def test_dropout_training_mode_refused_inference_identity():
    m = make([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="d")],
             [("x", F, X.shape)], [("y", F, X.shape)],
             [("r", np.float32(0.5)), ("t", np.array(True))])
    refused(m, "d (Dropout): training_mode=True")
    m = make([helper.make_node("Dropout", ["x", "r", "t"], ["y"])],
             [("x", F, X.shape)], [("y", F, X.shape)],
             [("r", np.float32(0.5)), ("t", np.array(False))])
    assert_like_ort(m, {"x": X})


def test_layer_norm_scale_as_graph_input():
    x = np.random.default_rng(5).standard_normal((2, 3, 8)).astype(np.float32)
    w = np.random.default_rng(6).standard_normal(8).astype(np.float32)
    m = make([helper.make_node("LayerNormalization", ["x", "w"], ["y"])],
             [("x", F, x.shape), ("w", F, (8,))], [("y", F, x.shape)])
    assert_like_ort(m, {"x": x, "w": w})


def test_constant_nodes_and_constant_output():
    m = make([helper.make_node("Constant", [], ["c"], value_floats=[1.5, -2.0]),
              helper.make_node("Add", ["x", "c"], ["y"]),
              helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(
                  np.array([[3, 4]], np.int64)))],
             [("x", F, (3, 2))], [("y", F, (3, 2)), ("k", TensorProto.INT64, (1, 2))])
    assert_like_ort(m, {"x": np.ones((3, 2), np.float32)})


def test_clip_default_bounds_and_softmax_opset11():
    x = np.array([[-np.inf, -1.0, 2.0, np.inf]], np.float32)
    m = make([helper.make_node("Clip", ["x"], ["y"])], [("x", F, x.shape)],
             [("y", F, x.shape)], opset=11)
    assert_like_ort(m, {"x": x})   # inf -> float32 max: the ONNX default bounds
    z = np.random.default_rng(7).standard_normal((2, 3, 4)).astype(np.float32)
    m = make([helper.make_node("Softmax", ["x"], ["y"])], [("x", F, z.shape)],
             [("y", F, z.shape)], opset=11)
    assert_like_ort(m, {"x": z})   # opset 11: axis 1, normalized over the flattened 3 x 4


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad(auto_pad):
    w = np.random.default_rng(8).standard_normal((3, 2, 3, 3)).astype(np.float32)
    out = 3 if auto_pad == "VALID" else 4
    m = make([helper.make_node("Conv", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[2, 2])],
             [("x", F, X.shape)], [("y", F, (1, 3, out, out))], [("w", w)])
    assert_like_ort(m, {"x": X})


def test_negative_pads_and_attribute_problems_named():
    w = np.ones((3, 2, 3, 3), np.float32)
    m = make([helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[-1, 0, 0, 0])],
             [("x", F, X.shape)], [("y", F, (1, 3, 4, 5))], [("w", w)])
    refused(m, "c (Conv): pads=(-1, 0, 0, 0)", "negative pads are not supported")
    m = make([helper.make_node("Sigmoid", ["x"], ["y"], name="r")],
             [("x", TensorProto.INT32, (3,))], [("y", TensorProto.INT32, (3,))])
    refused(m, "r (Sigmoid): input 0 ('x') has dtype int32; this operator runs on float32",
            "(as a generic ONNX function:")


@pytest.mark.parametrize("data,fragment", [
    (b"", r"is empty \(0 bytes\)"), (b"\x08\x07\x12", "not an ONNX model"),
    (bytes(range(256)) * 4, "not an ONNX model")])
def test_bad_files_one_clear_error(tmp_path, data, fragment):
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=fragment):
        networks.load(str(path))


def test_truncated_file(tmp_path):
    m = make([helper.make_node("Relu", ["x"], ["y"])], [("x", F, (2,))], [("y", F, (2,))])
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString()[:-7])
    with pytest.raises(ValueError, match="not an ONNX model"):
        networks.load(str(path))


def test_cycle_and_undefined_tensor():
    nodes = [helper.make_node("Relu", ["b"], ["a"], name="r1"),
             helper.make_node("Relu", ["a"], ["b"], name="r2"),
             helper.make_node("Add", ["x", "a"], ["y"], name="add")]
    m = make(nodes, [("x", F, (2,))], [("y", F, (2,))])
    refused(m, "the graph has a cycle", "r1 (Relu)", "r2 (Relu)")
    m = make([helper.make_node("Relu", ["nope"], ["y"], name="r")], [("x", F, (2,))],
             [("y", F, (2,))])
    refused(m, "r (Relu): reads tensor 'nope', which no node, graph input or initializer "
               "provides")


def test_nodes_out_of_order_are_sorted():
    nodes = [helper.make_node("Relu", ["a"], ["y"]), helper.make_node("Neg", ["x"], ["a"])]
    nodes[1] = helper.make_node("Sigmoid", ["x"], ["a"])
    m = make(nodes, [("x", F, (4,))], [("y", F, (4,))])
    assert_like_ort(m, {"x": np.linspace(-2, 2, 4, dtype=np.float32)})


def _qconv_model(w, bits_note=None):
    x_params = [("sx", np.float32(0.1)), ("zx", np.int8(0)), ("sw", np.float32(0.05)),
                ("zw", np.int8(0)), ("sy", np.float32(0.2)), ("zy", np.int8(0))]
    m = make([helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"],
                               ["y"])], [("x", I8, (1, 2, 4, 4))], [("y", I8, (1, 3, 2, 2))],
             [("w", w), *x_params])
    if bits_note is not None:
        helper.set_model_props(m, {WEIGHT_BITS_KEY: bits_note})
    return m


def test_weight_bits_from_metadata_not_values():
    w = np.random.default_rng(9).integers(-8, 7, (3, 2, 3, 3), endpoint=True).astype(np.int8)
    g = import_onnx(_qconv_model(w))
    assert g.tensors["w"].quant.bits == 8 and g.precision == "w8a8"   # values never guess
    g = import_onnx(_qconv_model(w, '{"w": 4}'))
    assert g.tensors["w"].quant.bits == 4 and g.precision == "w4a8"
    refused(_qconv_model(w * 2, '{"w": 4}'), "annotated 4-bit", "outside [-8, 7]")
    refused(_qconv_model(w, '{"w": 3}'), "must map initializer names to 4 or 8")


def test_int4_dequantize_weights_are_4_bit():
    w = helper.make_tensor("w", TensorProto.INT4, [2, 3], [-8, 7, 0, 1, -1, 3])
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["w", "s"], ["wf"]),
         helper.make_node("MatMul", ["x", "wf"], ["y"])], "t",
        [helper.make_tensor_value_info("x", F, (1, 2))],
        [helper.make_tensor_value_info("y", F, (1, 3))],
        [w, numpy_helper.from_array(np.float32(0.5), "s")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    assert_like_ort(m, {"x": np.array([[1.0, -2.0]], np.float32)})

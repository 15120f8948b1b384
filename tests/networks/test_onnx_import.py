"""ONNX import: float / QOperator / QDQ models, including models quantized by ONNX Runtime's
own quantizer, checked against onnxruntime; error listing of unsupported nodes."""

import numpy as np
import pytest

import networks
from networks.models import sample_inputs
from networks.onnx_export import export_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from networks.onnx_import import import_onnx  # noqa: E402
from tests.ort_host import ort_accumulation  # noqa: E402

pytestmark = pytest.mark.oracle


def run_ort(model_or_path, x):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    data = model_or_path if isinstance(model_or_path, str) else \
        model_or_path.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"]).run(None, x)


@pytest.fixture(scope="module")
def mobilenet():
    return networks.build("mobilenetv3_large", input_size=32)


def test_float_roundtrip_identical(mobilenet):
    g2 = networks.load(export_onnx(mobilenet))
    assert g2.param_count() == mobilenet.param_count() and g2.macs() == mobilenet.macs()
    x = sample_inputs(mobilenet, seed=2)
    a = networks.golden_run(g2, x, keep=()).outputs
    b = networks.golden_run(mobilenet, x, keep=()).outputs
    assert all(np.array_equal(a[k], b[k]) for k in b)


def test_load_from_file_and_quantize_in_a_few_lines(mobilenet, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(mobilenet, path)
    g = networks.load(str(path))
    q = networks.quantize(g, precision="w4a8")
    run = networks.golden_run(q)
    assert "qconv" in run.table() and run.workload().precision == "w4a8"


def test_qoperator_roundtrip_bit_exact(mobilenet):
    q = networks.quantize(mobilenet, precision="w4a8")
    model = export_onnx(q)
    g = import_onnx(model)
    assert g.precision == "w4a8"
    x = sample_inputs(mobilenet, seed=5)
    ours = networks.golden_run(g, x, keep=()).outputs
    theirs = run_ort(model, x)
    assert all(np.array_equal(ours[k], v) for k, v in zip(g.outputs, theirs))


def _ort_quantized(graph, tmp_path, fmt, activation_type="QInt8"):
    """ORT's quantize_static (int8 weights per channel) of ``graph``."""
    from gilt.experiments.ort_quantizer import Config, quantize_static_model

    src, dst = tmp_path / "f.onnx", tmp_path / f"q_{fmt}_{activation_type}.onnx"
    export_onnx(graph, src)
    quantize_static_model(graph, str(src), str(dst), Config(fmt, activation_type, True, False))
    return str(dst)


# ONNX Runtime's uint8 x int8 layers saturate pair sums to int16 on x86 without VNNI: the golden
# run uses the accumulation this host's onnxruntime uses (tests/ort_host.py probes it).
@pytest.mark.parametrize("activation_type", ["QInt8", "QUInt8"])
@pytest.mark.parametrize("name", ["resnet50", "mobilenetv3_large"])
def test_onnxruntime_quantized_qoperator_bit_exact(name, activation_type, tmp_path):
    g = networks.build(name, input_size=32)
    path = _ort_quantized(g, tmp_path, "QOperator", activation_type)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert "QLinearConv" in ops
    imported = networks.load(path)
    imported.meta["accumulation"] = ort_accumulation()
    x = sample_inputs(g, seed=9)
    ours = networks.golden_run(imported, x, keep=()).outputs
    theirs = run_ort(path, x)
    for k, v in zip(imported.outputs, theirs):
        assert np.array_equal(ours[k], v), k


def run_ort_optimized(path, x, *, exact_products=False):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # default optimizations: ORT fuses QDQ into QLinear ops
    if exact_products:  # x86: int8 weights become uint8 (w + 128), run on exact U8U8 kernels
        so.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, x)


@pytest.mark.parametrize("activation_type", ["QInt8", "QUInt8"])
@pytest.mark.parametrize("name", ["resnet50", "mobilenetv3_large"])
def test_onnxruntime_qdq_model(name, activation_type, tmp_path):
    g = networks.fuse(networks.build(name, input_size=32))   # BN folded, as ORT pre-processes
    path = _ort_quantized(g, tmp_path, "QDQ", activation_type)
    imported = networks.load(path)
    # gilt's integer reading: every DQ -> Conv/MatMul -> Q group is an integer layer
    convs = [n for n in imported.nodes if n.op in ("qconv", "qmatmul")]
    assert len(convs) == len(g.compute_nodes)
    assert imported.precision == "w8a8"
    assert {lay.weight_bits for lay in networks.golden_run(imported, keep=()).workload()
            .compute_layers} == {8}
    # against ONNX Runtime: the graph it executes at its default level (uint8 x int8 layers in
    # this host's accumulation), or a named refusal
    x = sample_inputs(g, seed=9)
    try:
        at_default = networks.load(path, ort_level="default")
    except ValueError as exc:   # ORT leaves some QDQ convs in float32
        assert "that ONNX Runtime runs in float32" in str(exc)
    else:
        at_default.meta["accumulation"] = ort_accumulation()
        ours = networks.golden_run(at_default, x, keep=()).outputs[at_default.outputs[0]]
        assert np.array_equal(ours, run_ort_optimized(path, x)[0])
    with pytest.raises(ValueError, match="that ONNX Runtime runs in float32"):
        networks.load(path, ort_level="disable_all")


def test_unsupported_nodes_all_listed():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok_relu"),
             helper.make_node("Hardmax", ["a"], ["b"], name="bad_hardmax"),
             helper.make_node("Softmax", ["b"], ["c"], name="ok_softmax", axis=1),
             helper.make_node("NonZero", ["c"], ["d"], name="bad_nonzero"),
             helper.make_node("MaxPool", ["d"], ["y"], name="bad_pool", kernel_shape=[1, 1],
                              auto_pad="SAME_MIDDLE")]
    model = helper.make_model(helper.make_graph(nodes, "bad", [x], [y]))
    with pytest.raises(ValueError) as err:
        import_onnx(model)
    msg = str(err.value)
    assert "3 unsupported node(s) or problem(s); nothing imported" in msg
    assert "bad_hardmax (Hardmax): unsupported operator" in msg
    assert "bad_nonzero (NonZero): unsupported operator" in msg
    assert "bad_pool (MaxPool): unsupported auto_pad='SAME_MIDDLE'" in msg
    assert "ok_relu" not in msg and "ok_softmax" not in msg


def test_unsupported_attribute_value_listed():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])
    n = helper.make_node("AveragePool", ["x"], ["y"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2], dilations=[2, 2])
    with pytest.raises(ValueError, match=r"pool \(AveragePool\): unsupported dilations=\(2, 2\)"):
        import_onnx(helper.make_model(helper.make_graph([n], "g", [x], [y])))


def test_load_bad_input():
    with pytest.raises(ValueError, match="must be one of"):
        networks.load("no_such_model")
    with pytest.raises(TypeError, match="name_or_onnx_path must be"):
        networks.load(42)


def test_load_onnx_with_build_keywords(mobilenet, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(mobilenet, path)
    g = networks.load(str(path), input_size=64, seed=3, batch=2)
    assert g.tensors[g.inputs[0]].shape == (2, 3, 64, 64)
    assert g.macs() == 2 * networks.build("mobilenetv3_large", input_size=64).macs()
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        networks.load(str(path), input_size=0)

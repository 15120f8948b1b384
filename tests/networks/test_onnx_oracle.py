"""Cross-checks against ONNX Runtime: built-in models exported with onnx.helper.

Float: outputs within a relative tolerance (BLAS / ORT summation orders differ; documented in
docs/networks.md). Quantized: the QOperator export (QLinearConv, QLinearGlobalAveragePool,
MaxPool int8, DequantizeLinear -> op -> QuantizeLinear) must agree bit for bit on every output,
with the golden run's requantize mode "onnxruntime"."""

import numpy as np
import pytest

import networks
from networks.models import sample_inputs
from networks.onnx_export import export_onnx

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.oracle

#: relative float tolerance: max |ours - ort| <= FLOAT_RTOL * max |ort|
FLOAT_RTOL = 1e-4


def session(model):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


CASES = [("resnet50", {"input_size": 32}), ("mobilenetv3_large", {"input_size": 32}),
         ("yolov5s_backbone", {"input_size": 32}), ("bert_base", {"seq_len": 8})]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def model(request):
    name, kw = request.param
    return networks.build(name, **kw)


def test_float_matches_onnxruntime(model):
    x = sample_inputs(model, seed=3)
    ours = networks.golden_run(model, x, keep=()).outputs
    theirs = session(export_onnx(model)).run(None, x)
    for t, b in zip(model.outputs, theirs):
        a = ours[t]
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= FLOAT_RTOL * np.abs(b).max()


@pytest.mark.parametrize("precision", ["w8a8", "w4a8"])
@pytest.mark.parametrize("name,kw", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_qoperator_bit_exact(name, kw, precision):
    # BERT's softmax / LayerNorm / GELU run in float between integer layers: see below
    model = networks.build(name, **kw)
    q = networks.quantize(model, precision=precision)
    x = sample_inputs(model, seed=4)
    run = networks.golden_run(q, x, keep=())
    onnx_model = export_onnx(q)
    assert any(n.op_type == "QLinearConv" for n in onnx_model.graph.node)
    # compare the int8 tensors feeding the final DequantizeLinear, and the float outputs
    int_outs = [n.input[0] for n in onnx_model.graph.node if n.op_type == "DequantizeLinear"
                and n.output[0] in q.outputs]
    import onnx
    for t in int_outs:
        onnx_model.graph.output.append(onnx.helper.make_tensor_value_info(
            t, onnx.TensorProto.INT8, list(q.tensors[t].shape)))
    theirs = session(onnx_model).run(None, x)
    ours_int = networks.golden_run(q, x, keep=int_outs).tensors
    for t, b in zip(q.outputs, theirs[:len(q.outputs)]):
        assert np.array_equal(run.outputs[t], b), t
    for t, b in zip(int_outs, theirs[len(q.outputs):]):
        assert np.array_equal(ours_int[t], b), t


def test_bert_quantized_close_to_onnxruntime():
    model = networks.build("bert_base", seq_len=8)
    q = networks.quantize(model, precision="w8a8")
    x = sample_inputs(model, seed=4)
    ours = networks.golden_run(q, x, keep=()).outputs[q.outputs[0]]
    theirs = session(export_onnx(q)).run(None, x)[0]
    step = float(q.tensors[q.node(q.outputs[0] + ".dequantize").inputs[0]].quant.scale)
    # float softmax / LayerNorm / GELU summation orders differ: a few LSB, rarely
    assert np.abs(ours - theirs).max() <= 8 * step
    assert np.mean(ours == theirs) > 0.95


@pytest.mark.parametrize("name", ["resnet50", "mobilenetv3_large"])
def test_qoperator_bit_exact_224(name):  # full size: about 1.5 s each
    g = networks.build(name)
    q = networks.quantize(g, precision="w4a8")
    x = sample_inputs(g, seed=7)
    ours = networks.golden_run(q, x, keep=()).outputs[q.outputs[0]]
    theirs = session(export_onnx(q)).run(None, x)[0]
    assert np.array_equal(ours, theirs)

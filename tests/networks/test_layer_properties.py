"""Property tests: one quantized layer at a time against ONNX Runtime (QOperator export), over
shapes, strides, pads, groups, activation ranges, bit widths; and activity invariants."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import networks
from networks.models._builder import Builder
from networks.onnx_export import export_onnx

ort = pytest.importorskip("onnxruntime")


def _session(model):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


@st.composite
def conv_case(draw):
    cin = draw(st.integers(1, 12))
    depthwise = draw(st.booleans()) and cin > 1
    cout = cin if depthwise else draw(st.integers(1, 12))
    k = draw(st.sampled_from([1, 3, 5]))
    size = draw(st.integers(k, 11))
    return dict(cin=cin, cout=cout, k=k, size=size, groups=cin if depthwise else 1,
                stride=draw(st.integers(1, 2)), pad=draw(st.integers(0, k // 2)),
                act=draw(st.sampled_from([None, "relu", "relu6", "hardswish", "hardsigmoid"])),
                precision=draw(st.sampled_from(["w8a8", "w4a8"])),
                in_scale=draw(st.sampled_from([0.01, 1.0, 30.0])),
                seed=draw(st.integers(0, 2**16)))


def _graph(c):
    b = Builder("layer", seed=c["seed"])
    x = b.input("x", (2, c["cin"], c["size"], c["size"]))
    y = b.conv(x, c["cout"], c["k"], name="conv", stride=c["stride"], pad=c["pad"],
               groups=c["groups"], bias=True)
    if c["act"] == "hardsigmoid":
        y = b.node("hardsigmoid", [y], "act", {"alpha": 1 / 6, "beta": 0.5})
    else:
        y = b.act(y, c["act"], name="act")
    p = b.node("global_avg_pool", [y], "gap")
    return b.finish([y, p])


@given(conv_case())
def test_single_conv_layer_bit_exact_vs_onnxruntime(c):
    g = _graph(c)
    rng = np.random.default_rng(c["seed"])
    calib = {"x": (rng.standard_normal((2, c["cin"], c["size"], c["size"])) * c["in_scale"])
             .astype(np.float32)}
    # first_last_8bit off: the single conv takes the precision's weight width
    q = networks.quantize(g, precision=c["precision"], calibration=calib, first_last_8bit=False)
    x = {"x": (rng.standard_normal(calib["x"].shape) * c["in_scale"] * 1.5).astype(np.float32)}
    ours = networks.golden_run(q, x, keep=()).outputs
    theirs = _session(export_onnx(q)).run(None, x)
    for name, v in zip(q.outputs, theirs):
        assert np.array_equal(ours[name], v), name


@given(conv_case(), st.floats(0.1, 0.9))
def test_activity_invariants(c, keep):
    g = _graph(c)
    q = networks.quantize(g, precision="w8a8", gating=f"topk:{keep}", zero_skip=True,
                          first_last_8bit=False)
    # the only conv is the first one: never gated; MACs still balance
    run = networks.golden_run(q, seed=c["seed"])
    (rec,) = run.records
    assert rec.macs_skipped_gate == 0
    assert 0 <= rec.macs_skipped_zero <= rec.macs_dense
    assert rec.macs_done + rec.macs_skipped_zero == rec.macs_dense == g.macs()
    layer = run.workload().compute_layers[0]
    assert layer.macs_done == rec.macs_done


def test_relu6_upper_bound_found_by_hypothesis():
    # 6 / (6 / 255) is 254.99999 in float32: flooring it clamped ReLU6 one step below 6.0
    c = {"cin": 1, "cout": 1, "k": 1, "size": 1, "groups": 1, "stride": 1, "pad": 0,
         "act": "relu6", "precision": "w8a8", "in_scale": 30.0, "seed": 1}
    test_single_conv_layer_bit_exact_vs_onnxruntime.hypothesis.inner_test(c)

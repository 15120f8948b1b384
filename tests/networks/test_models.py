"""Built-in models: published parameter and MAC counts, shapes, seeded weights, bad input."""

import numpy as np
import pytest

import networks
from networks.models import build_model


# Published figures: torchvision ResNet-50 25,557,032 params, 4.09 GMACs (conv + fc) at 224;
# torchvision MobileNetV3-Large 5,483,032 params, 0.22 GMACs; BERT-base encoder: 12 x 7,087,872
# = 85,054,464 params (110 M with the 23.8 M embeddings and the pooler); ultralytics yolov5s
# v6.0 layers 0-9 (backbone): 3520+18560+18816+73984+115712+295424+625152+1180672+1182720+656896.
@pytest.mark.parametrize("name,params,macs_lo,macs_hi,kw", [
    ("resnet50", 25_557_032, 4.08e9, 4.12e9, {}),
    ("mobilenetv3_large", 5_483_032, 0.215e9, 0.225e9, {}),
    ("bert_base", 85_054_464, 11.1e9, 11.3e9, {"seq_len": 128}),
    ("yolov5s_backbone", 4_171_456, 0, float("inf"), {}),
])
def test_published_counts(name, params, macs_lo, macs_hi, kw):
    g = build_model(name, materialize=False, **kw)
    assert g.param_count() == params
    assert macs_lo <= g.macs() <= macs_hi


def test_bert_macs_formula():
    # per layer: 4 d^2 s (Q, K, V, O) + 2 d f s (FFN) + 2 s^2 d (scores, context)
    s, d, f = 64, 768, 3072
    g = build_model("bert_base", seq_len=s, materialize=False)
    assert g.macs() == 12 * (4 * d * d * s + 2 * d * f * s + 2 * s * s * d)


def test_resnet50_shapes_and_table():
    g = networks.build("resnet50", input_size=32)
    assert g.tensors[g.outputs[0]].shape == (1, 1000)
    table = g.table()
    assert "layer4.2.conv3" in table and "25,557,032 parameters" in table


def test_seeded_weights_reproducible():
    a = networks.build("gated_net", seed=1)
    b = networks.build("gated_net", seed=1)
    c = networks.build("gated_net", seed=2)
    w = "block0.conv1.weight"
    assert np.array_equal(a.constants[w], b.constants[w])
    assert not np.array_equal(a.constants[w], c.constants[w])


def test_bn_calibration_normalizes():
    g = networks.build("resnet50", input_size=64)
    run = networks.golden_run(g, keep=["layer4.2.bn3"])
    y = run.tensors["layer4.2.bn3"]
    # calibrated BN output: per-channel std of order gamma (0.5 .. 1), not exploding
    assert 0.05 < float(y.std()) < 5


def test_gated_net_structure():
    g = networks.build("gated_net")
    gates = [n for n in g.nodes if n.op == "gate"]
    assert len(gates) == 4
    conv2 = g.node("block0.conv2")
    assert conv2.inputs[3] == gates[0].outputs[0]
    assert g.shape(gates[0].outputs[0]) == (1, 32)


@pytest.mark.parametrize("kw,match", [
    ({"name": "resnet51"}, "name must be one of"),
    ({"name": "resnet50", "batch": 0}, "batch must be a positive int"),
    ({"name": "resnet50", "input_size": 4}, "input_size must be an int >= 8"),
    ({"name": "resnet50", "seq_len": 8}, "seq_len does not apply"),
    ({"name": "bert_base", "input_size": 8}, "input_size does not apply"),
])
def test_build_bad_input(kw, match):
    name = kw.pop("name")
    with pytest.raises(ValueError, match=match):
        networks.build(name, **kw)


def test_workload_for_is_dense_and_fast_shapes_only():
    wl = networks.workload_for("resnet50", precision="w4a8")
    convs = [lay for lay in wl.compute_layers]
    assert len(convs) == 54
    assert wl.macs_dense == 4_089_184_256 == wl.macs_done
    assert convs[0].weight_bits == 8 and convs[-1].weight_bits == 8
    assert {lay.weight_bits for lay in convs[1:-1]} == {4}
    # BN folded and ReLU fused as deployed: no batchnorm layers, fused recorded
    assert not any("bn" in lay.name and not lay.is_compute for lay in wl.layers)
    assert convs[0].fused == ("bn", "relu")
    f32 = networks.workload_for("resnet50", precision="float32", input_size=64)
    assert f32.compute_layers[0].weight_bits == 32
    with pytest.raises(ValueError, match="precision must be"):
        networks.workload_for("resnet50", precision="w2a8")


def test_workload_for_bert_seq_len():
    wl = networks.workload_for("bert_base", input_size=32)
    assert wl.macs_dense == build_model("bert_base", seq_len=32, materialize=False).macs()

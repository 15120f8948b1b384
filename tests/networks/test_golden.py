"""PTQ and golden run: quantization policy, model size, activity records, workload."""

import numpy as np
import pytest

import networks
from networks.execute import dequant, zero_blocks


@pytest.fixture(scope="module")
def resnet():
    return networks.build("resnet50", input_size=32)


@pytest.fixture(scope="module")
def gated():
    return networks.build("gated_net")


def test_w4a8_policy_and_size(resnet):
    q = networks.quantize(resnet, precision="w4a8")
    convs = [n for n in q.nodes if n.op in ("qconv", "qmatmul")]
    bits = [q.tensors[n.inputs[1]].quant.bits for n in convs]
    assert bits[0] == 8 and bits[-1] == 8 and set(bits[1:-1]) == {4}
    for n in convs[1:-1]:
        w = q.constants[n.inputs[1]]
        assert w.dtype == np.int8 and w.min() >= -8 and w.max() <= 7
        assert n.meta["weight_quant"] == ("per_channel", 4, 0)
    # seed C3: 1/8 of float32 at pure 4 bits; the 8-bit first/last layers, scales and int32
    # biases put it a little above
    assert 0.125 < q.meta["size_ratio"] < 0.15
    q8 = networks.quantize(resnet, precision="w8a8")
    assert 0.25 <= q8.meta["size_ratio"] < 0.27
    qall4 = networks.quantize(resnet, precision="w4a8", first_last_8bit=False)
    assert qall4.model_bytes() < q.model_bytes()


def test_policy_override(resnet):
    q = networks.quantize(resnet, precision="w4a8", policy={"layer1.0.conv2": 8})
    assert q.tensors[q.node("layer1.0.conv2").inputs[1]].quant.bits == 8
    with pytest.raises(ValueError, match=r"policy\['conv1'\] must be 4 or 8"):
        networks.quantize(resnet, policy={"conv1": 3})


def test_fusion_folds_bn_and_relu(resnet):
    q = networks.quantize(resnet, precision="w8a8")
    assert not any(n.op == "batchnorm" or n.attrs.get("float_op") == "batchnorm"
                   for n in q.nodes)
    assert q.node("conv1").meta["fused"] == ["bn", "relu"]
    unfused = networks.quantize(resnet, precision="w8a8", fuse=False)
    assert any(n.attrs.get("float_op") == "batchnorm" for n in unfused.nodes)


def test_relu_output_zero_point_is_qmin(resnet):
    q = networks.quantize(resnet, precision="w8a8")
    out = q.node("layer1.0.conv1").outputs[0]
    assert q.tensors[out].quant.zero_point == -128


def test_first_layers_quantization_error(resnet):
    q = networks.quantize(resnet, precision="w8a8")
    fused = networks.fuse(resnet)
    # fusion keeps the name of the last fused tensor (conv1 -> bn1 -> conv1.relu)
    first, third = "conv1.relu", "layer1.0.conv1.relu"
    f = networks.golden_run(fused, keep=[first, third])
    r = networks.golden_run(q, keep=[first + ":q", third + ":q"])
    for t, steps in ((first, 3), (third, 8)):
        qp = q.tensors[t + ":q"].quant
        err = np.abs(dequant(r.tensors[t + ":q"], qp) - f.tensors[t])
        assert err.max() < steps * float(qp.scale), t


def test_golden_run_keep_subset_and_records(resnet):
    q = networks.quantize(resnet, precision="w4a8")
    run = networks.golden_run(q, keep=["conv1.relu:q"])
    assert set(run.tensors) == {"conv1.relu:q"}
    assert len(run.records) == 54
    full = networks.golden_run(q)
    assert np.array_equal(full.tensors["conv1.relu:q"], run.tensors["conv1.relu:q"])
    assert np.array_equal(full.outputs["fc"], run.outputs["fc"])
    assert full.nbytes > run.nbytes
    with pytest.raises(ValueError, match="keep names unknown tensors"):
        networks.golden_run(q, keep=["nope"])


def test_workload_matches_records(resnet):
    q = networks.quantize(resnet, precision="w4a8", zero_skip=True)
    run = networks.golden_run(q)
    wl = run.workload()
    assert wl.precision == "w4a8"
    assert wl.macs_dense == resnet.macs()
    for layer in wl.compute_layers:
        rec = run.record(layer.name)
        assert layer.macs_dense == rec.macs_dense
        assert layer.macs_skipped_zero == rec.macs_skipped_zero
    # post-ReLU inputs of 4x4 tiles on 8x8/4x4 maps: some blocks are all zero
    assert sum(lay.macs_skipped_zero for lay in wl.compute_layers) > 0
    assert wl.compute_layers[1].act_zero_bitmap is not None


def test_zero_skip_count_by_brute_force():
    # 1x1 conv, stride 1: each input element is read once per output channel
    from networks.execute import conv_activity
    from networks.graph import Node
    rng = np.random.default_rng(0)
    x0 = rng.random((2, 3, 8, 8)) < 0.97
    node = Node("c", "conv", ["x", "w"], ["y"], {"strides": (1, 1), "pads": (0, 0, 0, 0),
                                               "dilations": (1, 1), "group": 1})
    rec = conv_activity(node, x0, None, (5, 3, 1, 1), (2, 5, 8, 8), True)
    bitmap = zero_blocks(x0, (1, 4, 4))
    assert rec.macs_skipped_zero == int(bitmap.sum()) * 16 * 5
    # 3x3 pad 1: brute force over output pixels and taps
    node.attrs["pads"] = (1, 1, 1, 1)
    rec = conv_activity(node, x0, None, (5, 3, 3, 3), (2, 5, 8, 8), True)
    zero_elem = np.repeat(np.repeat(bitmap, 4, 2), 4, 3)
    count = 0
    for n in range(2):
        for c in range(3):
            for oh in range(8):
                for ow in range(8):
                    for i in range(3):
                        for j in range(3):
                            h, w = oh + i - 1, ow + j - 1
                            if 0 <= h < 8 and 0 <= w < 8 and zero_elem[n, c, h, w]:
                                count += 1
    assert rec.macs_skipped_zero == count * 5


def test_gated_net_gate_records(gated):
    q = networks.quantize(gated, precision="w4a8")
    run = networks.golden_run(q)
    rec = run.record("block1.conv2")
    assert rec.gate_mask.shape == (1, 64)
    assert rec.gate_mask.sum() == 32  # topk keep=0.5
    # skipped = inactive channels x out channels x output pixels (1x1 kernel)
    assert rec.macs_skipped_gate == 32 * 128 * 16 * 16
    wl = run.workload()
    layer = next(lay for lay in wl.layers if lay.name == "block1.conv2")
    assert layer.macs_skipped_gate == rec.macs_skipped_gate
    assert layer.gate_mask is not None


def test_gated_conv_equals_masked_input(gated):
    q = networks.quantize(gated, precision="w8a8")
    run = networks.golden_run(q)
    mask = run.tensors["block0.gate"]
    x = run.tensors["block0.relu1:q"].copy()
    zp = q.tensors["block0.relu1:q"].quant.zero_point
    x[~np.broadcast_to(mask[:, :, None, None], x.shape)] = zp
    from networks.execute import run_node
    node = q.node("block0.conv2")
    ins = [x] + [q.constants[t] for t in node.inputs[1:3]]
    assert np.array_equal(run_node(q, node, ins), run.tensors[node.outputs[0]])


def test_gating_strategy_swap(gated):
    q = networks.quantize(gated, precision="w8a8", gating="threshold:1e9")
    run = networks.golden_run(q)
    assert all(not r.gate_mask.any() for r in run.records if r.gate_mask is not None)
    q = networks.quantize(gated, precision="w8a8", gating="none")
    run = networks.golden_run(q)
    assert sum(r.macs_skipped_gate for r in run.records) == 0
    with pytest.raises(ValueError, match="gating must be"):
        networks.quantize(gated, gating="random")


def test_gating_inserted_on_resnet(resnet):
    q = networks.quantize(resnet, precision="w4a8", gating="topk:0.75")
    run = networks.golden_run(q)
    skipped = sum(r.macs_skipped_gate for r in run.records)
    assert 0 < skipped < resnet.macs()
    assert q.node("layer1.0.conv3").inputs[3] == "layer1.0.conv3.gate"


def test_blocked_int4(resnet):
    q = networks.quantize(resnet, precision="w4a8", weight_granularity="blocked",
                          block_size=32)
    node = q.node("layer2.0.conv1")
    qp = q.tensors[node.inputs[1]].quant
    assert qp.block_size == 32 and qp.scale.shape == (128, 8)
    assert node.meta["weight_quant"] == ("blocked", 4, 32)
    run = networks.golden_run(q)
    # independent float64 evaluation: dequantized input and block-scaled weights
    x_t = node.inputs[0]
    tx = q.tensors[x_t].quant
    ty = q.tensors[node.outputs[0]].quant
    x = run.tensors[x_t].astype(np.float64) - tx.zero_point
    wq = q.constants[node.inputs[1]].astype(np.float64)
    scale = np.repeat(qp.scale, 32, axis=1)[:, :wq.shape[1]].astype(np.float64)
    w = wq[:, :, 0, 0] * scale
    bias = q.constants[node.inputs[2]] * qp.scale.max(axis=1).astype(np.float64)
    y = np.einsum("nchw,oc->nohw", x, w) + bias[None, :, None, None]
    want = np.clip(np.rint(y * float(tx.scale) / float(ty.scale)) + ty.zero_point, -128, 127)
    got = run.tensors[node.outputs[0]].astype(np.float64)
    assert np.abs(got - want).max() <= 1 and np.mean(got == want) > 0.99


def test_quantize_bad_input(resnet):
    with pytest.raises(ValueError, match="precision must be one of"):
        networks.quantize(resnet, precision="w2a8")
    with pytest.raises(TypeError, match="graph must be a networks.Graph"):
        networks.quantize("resnet50")
    with pytest.raises(TypeError, match="calibration must be"):
        networks.quantize(resnet, calibration=np.zeros(3))
    q = networks.quantize(resnet, precision="w8a8")
    with pytest.raises(ValueError, match="already quantized"):
        networks.quantize(q)
    with pytest.raises(ValueError, match="placeholder"):
        networks.quantize(networks.models.build_model("resnet50", input_size=32,
                                                      materialize=False))


def test_calibration_on_user_data(resnet):
    rng = np.random.default_rng(5)
    data = [{"input": rng.standard_normal((1, 3, 32, 32), dtype=np.float32) * 3}
            for _ in range(2)]
    a = networks.quantize(resnet, precision="w8a8", calibration=data)
    b = networks.quantize(resnet, precision="w8a8")
    assert float(a.tensors["input:q"].quant.scale) > float(b.tensors["input:q"].quant.scale)


def test_golden_run_input_errors(resnet):
    with pytest.raises(ValueError, match="has shape"):
        networks.golden_run(resnet, np.zeros((1, 3, 16, 16), np.float32))
    with pytest.raises(TypeError, match="inputs must be"):
        networks.golden_run(resnet, [1, 2])


def test_bert_quantized_runs_and_tracks_float():
    g = networks.build("bert_base", seq_len=8)
    q = networks.quantize(g, precision="w8a8")
    x = networks.models.sample_inputs(g, seed=1)
    a = networks.golden_run(q, x, keep=()).outputs[g.outputs[0]]
    b = networks.golden_run(g, x, keep=()).outputs[g.outputs[0]]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    assert any(n.op == "qmatmul" and n.inputs[1] not in q.constants for n in q.nodes)


def test_gating_unit_object(gated):
    from reference.gating import TopKChannelGate
    q = networks.quantize(gated, precision="w8a8", gating=TopKChannelGate(8))
    run = networks.golden_run(q)
    masks = [r.gate_mask for r in run.records if r.gate_mask is not None]
    assert len(masks) == 4 and all(m.sum() == 8 for m in masks)
    with pytest.raises(TypeError, match="gating must be"):
        networks.quantize(gated, gating=3)


def test_float_impl_reference_close_to_blas():
    g = networks.build("gated_net", input_size=16)
    a = networks.golden_run(g, keep=(), float_impl="reference").outputs["fc"]
    b = networks.golden_run(g, keep=()).outputs["fc"]
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()
    with pytest.raises(ValueError, match="float_impl must be"):
        networks.golden_run(g, float_impl="fast")


def test_export_refuses_gated_graph(gated):
    from networks.onnx_export import export_onnx
    with pytest.raises(ValueError, match=r"block0.gate \(gate\)"):
        export_onnx(gated)

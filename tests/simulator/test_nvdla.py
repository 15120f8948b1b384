"""The NVDLA model: its rules against the statements of NVDLA's documentation, the result
contract, the deployment plan, and the validation against NVIDIA's estimator and MLPerf."""

from __future__ import annotations

import dataclasses
import math

import pytest

from common.workload import LayerWork, Workload
from simulator.npu.nvdla import deploy
from simulator.npu.nvdla.model import conv_layer, core_cycles, simulate_network, stripe_cycles
from simulator.npu.nvdla.soc import EngineLoad, concurrent_throughput
from simulator.npu.nvdla.spec import is_nvdla_preset, load_nvdla_spec, nvdla_presets

XAVIER = load_nvdla_spec("jetson-agx-xavier-dla")


def _ideal(spec=XAVIER, **changes):
    """``spec`` with every calibration constant neutral (the documented rules alone)."""
    model = dataclasses.replace(spec.model, conv_efficiency=1.0, dram_efficiency=1.0,
                                layer_fixed_cycles=0, layer_overhead_us=0.0,
                                task_overhead_us=0.0)
    return dataclasses.replace(spec, model=model, **changes)


def _conv(c, k, hw=32, r=1, stride=1, groups=1, batch=1, bits=8, pad=None):
    pad = (r - 1) // 2 if pad is None else pad
    return LayerWork.conv("c", batch=batch, in_channels=c, in_h=hw, in_w=hw, out_channels=k,
                          kernel=(r, r), stride=(stride, stride), pads=(pad,) * 4,
                          groups=groups, weight_bits=bits, act_bits=bits, out_bits=bits)


def test_presets_load_and_match_nv_full():
    assert "jetson-agx-xavier-dla" in nvdla_presets()
    assert XAVIER.macs_per_cycle(8) == 2048 and XAVIER.macs_per_cycle(16) == 1024
    assert XAVIER.cbuf_bytes == 512 * 1024
    # 5.7 INT8 TOPS at the MAXN DLA clock
    assert 2 * XAVIER.macs_per_cycle(8) * XAVIER.clock_hz / 1e12 == pytest.approx(5.71, abs=0.01)
    assert is_nvdla_preset("jetson-agx-xavier-dla") and not is_nvdla_preset("npu-32x32")


def test_hwarch_example_unaligned_channels_use_one_eighth_of_the_macs():
    # hwarch.rst: Atomic-C = 16, Atomic-K = 64 (1024 MACs), a layer with 8 input channels and
    # 16 kernels uses 128 MACs: 1/8 utilization
    spec = _ideal(atomic_c=16, atomic_k=64)
    layer = _conv(8, 16, hw=64)
    cyc = core_cycles(layer, spec, "direct")["cycles"]
    assert layer.macs_dense / (cyc * spec.macs_per_cycle(8)) == pytest.approx(1 / 8)


def test_stripe_minimum_makes_batch1_fc_run_at_one_sixteenth():
    # unit description, multi-batch mode: an FC stripe has one atomic operation but the next
    # weights take 16 cycles to load: "MAC efficiency falls to 6.25%"
    fc = LayerWork.matmul("fc", m=1, n=1024, k=2048)
    cyc = core_cycles(fc, _ideal(), "direct")["cycles"]
    assert fc.macs_dense / (cyc * 2048) == pytest.approx(1 / 16)
    assert stripe_cycles(1, XAVIER) == 16 and stripe_cycles(64, XAVIER) == 64
    # batch 16 fills the stripe: full rate
    fc16 = LayerWork.matmul("fc", m=1, n=1024, k=2048, batch=16)
    assert fc16.macs_dense / (core_cycles(fc16, _ideal(), "direct")["cycles"] * 2048) == 1.0


def test_winograd_is_2_25x_fewer_cycles_on_3x3():
    layer = _conv(64, 64, hw=56, r=3)
    direct = core_cycles(layer, XAVIER, "direct")["cycles"]
    wino = core_cycles(layer, XAVIER, "winograd")["cycles"]
    assert direct / wino == pytest.approx(2.25)


def test_image_input_post_extension_example():
    # unit description: a 4x4x4 kernel (pre-extended channels 16) with 4-line post-extension
    # makes C = 64 lines: MAC efficiency back to 100%
    layer = _conv(4, 32, hw=64, r=4, pad=0)
    info = core_cycles(layer, XAVIER, "image")
    assert info["lines"] == 4 and info["channel_blocks"] == 1 and info["taps"] == 1
    assert layer.macs_dense / (info["cycles"] * 2048) == pytest.approx(1.0)


def test_depthwise_uses_one_channel_per_kernel():
    layer = _conv(256, 256, hw=32, r=3, groups=256)
    info = core_cycles(layer, XAVIER, "depthwise")
    assert layer.macs_dense / info["cycles"] == pytest.approx(32)   # 32 of 2048 MACs


def test_cbuf_split_multiplies_input_traffic_as_the_primer_says():
    # primer: if the buffer holds only a fourth of the weights, the input is read four times
    spec = _ideal(cbuf_banks=16, cbuf_bank_kib=8)            # 128 KiB in 8 KiB banks
    # 1 MiB input; a 2-row window of it takes 4 banks, leaving 96 KiB: 384 KiB of weights
    # are four chunks, so the input is read four times
    layer = _conv(256, 1536, hw=64, r=1)
    r = conv_layer(deploy.HwLayer("c", "conv", layer, ("c",)), spec)
    x, w = r.details["feature_bytes"], r.details["weight_bytes"]
    assert (x, w) == (1 << 20, 384 << 10) and r.details["cbuf_strategy"] == "weight-split"
    assert r.dram_bytes - r.details["output_bytes"] == w + 4 * x
    big = conv_layer(deploy.HwLayer("c", "conv", layer, ("c",)), _ideal())   # 512 KiB buffer
    assert big.details["refetch"] == pytest.approx(1.0)


def test_layer_results_keep_the_contract():
    from gilt.experiments.published import resnet50_workload

    res = simulate_network(resnet50_workload(2), XAVIER)
    for lr in res.layers:
        assert math.isclose(lr.cycles, lr.compute_cycles + lr.stall_cycles + lr.overhead_cycles)
        assert lr.memory_cycles <= lr.cycles + 1e-6 and 0 <= lr.utilization <= 1
        assert lr.target == "dla"
    assert res.target == "dla" and res.time_s > 0


def test_plan_fuses_sdp_and_pdp_and_splits_silu():
    import networks

    plan = deploy.plan(networks.workload_for("resnet50"))
    conv1 = next(h for h in plan if h.name == "conv1")
    assert conv1.engine == "conv" and conv1.pool is not None            # maxpool in the PDP
    adds = [h for h in plan if "add" in h.sdp_ops and h.engine == "conv"]
    assert adds and all(h.ew_reads == 1 for h in adds)                  # residual as operand
    yolo = deploy.plan(networks.workload_for("yolov5s_backbone"))
    silu = [h for h in yolo if h.engine == "sdp" and h.note.startswith("silu")]
    assert len(silu) == 2 * sum(1 for h in yolo if h.note == "silu: LUT pass")


def test_unsupported_layers_are_refused_by_name_or_run_on_the_gpu():
    import networks

    wl = networks.workload_for("yolov5s")
    with pytest.raises(ValueError, match="transpose"):
        simulate_network(wl, XAVIER)
    res = simulate_network(wl, XAVIER, fallback_gpu="jetson-agx-xavier")
    gpu = [lr for lr in res.layers if lr.target == "gpu"]
    assert gpu and res.details["gpu_fallback"] == [lr.name for lr in gpu]
    # one hand-off per contiguous GPU run: each Detect scale's reshape -> decode tail
    assert sum(lr.details.get("handoff", False) for lr in gpu) == 3


def test_4bit_weights_are_refused():
    layer = dataclasses.replace(_conv(64, 64), weight_bits=4)
    with pytest.raises(ValueError, match="4-bit"):
        conv_layer(deploy.HwLayer("c", "conv", layer, ("c",)), XAVIER)


@pytest.mark.parametrize("data, match", [
    ({"atomic_k": 31}, "even"),
    ({"stripe_min_atomics": 64}, "stripe_min_atomics"),
    ({"winograd": "yes"}, "winograd"),
])
def test_bad_specs_are_refused(data, match):
    import yaml

    from simulator.npu.nvdla.spec import PRESETS_DIR

    raw = yaml.safe_load((PRESETS_DIR / "jetson-agx-xavier-dla.yaml").read_text())
    raw.update(data)
    with pytest.raises((ValueError, TypeError), match=match):
        load_nvdla_spec(raw)


def test_every_calibration_constant_is_cited():
    import yaml

    from simulator.npu.nvdla.spec import PRESETS_DIR

    for name in nvdla_presets():
        raw = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
        for key, entry in raw["model"].items():
            assert entry["source"].strip(), (name, key)
        hw = {k for k in raw if k not in ("name", "model", "notes", "sources")}
        assert hw <= set(raw["sources"]), (name, hw - set(raw["sources"]))
        bad = dict(raw)
        bad["model"] = {**raw["model"], "dram_efficiency": 0.7}
        with pytest.raises(ValueError, match="dram_efficiency"):
            load_nvdla_spec(bad)


def test_concurrency_shares_dram_proportionally():
    fast = concurrent_throughput([EngineLoad("a", 100, 1e6), EngineLoad("b", 50, 1e6)], 1e9)
    assert fast["samples_per_s"] == 150 and fast["bandwidth_scale"] == 1.0
    slow = concurrent_throughput([EngineLoad("a", 100, 1e7), EngineLoad("b", 100, 1e7)], 1e9)
    assert slow["samples_per_s"] == pytest.approx(100) and slow["bandwidth_scale"] == 0.5


def test_rules_agree_with_nvidias_estimator_and_mlperf():
    """External oracles: NVIDIA's NVDLA performance estimator (per layer, its configuration)
    and MLPerf Inference v1.1/v2.1 measurements (held-out rows)."""
    from gilt.experiments import edge_validation as ev

    est = ev.compare_estimator()
    assert est["layer_median_abs_error"] < 0.05
    pub = ev.compare_published()
    # the fit reproduces the constants written into the presets
    assert pub["constants"]["jetson-agx-xavier-dla"]["conv_efficiency"] == \
        XAVIER.model.conv_efficiency
    assert pub["groups"]["all held-out"]["rows"] >= 10
    assert pub["groups"]["all held-out"]["median_abs_error"] < 0.2


def test_gilt_npu_accepts_nvdla_presets(capsys):
    from gilt.cli import main

    assert main(["npu", "--hw", "jetson-agx-xavier-dla", "--net", "resnet50", "--quiet",
                 "--precision", "w8a8"]) == 0
    assert "nvdla" in capsys.readouterr().out
    # the stack's default precision (w4a8) has no NVDLA path: one line, exit 2
    assert main(["npu", "--hw", "jetson-agx-xavier-dla", "--net", "resnet50"]) == 2
    assert "4-bit" in capsys.readouterr().err
    assert main(["npu", "--hw", "jetson-agx-xavier-dla", "--net", "resnet50",
                 "--precision", "w8a8", "--dataflow", "os"]) == 2
    assert "does not apply" in capsys.readouterr().err
    assert main(["npu", "--hw", "npu-32x32", "--net", "resnet50",
                 "--fallback-gpu", "jetson-agx-xavier"]) == 2
    assert "NVDLA presets only" in capsys.readouterr().err


def test_workload_without_edges_plans_from_fused_ops():
    layers = (_conv(64, 64, hw=16),
              LayerWork.elementwise("p", shape=(1, 64, 8, 8), op="pool", inputs=4),
              LayerWork.elementwise("e", shape=(1, 64, 8, 8), inputs=2))
    plan = deploy.plan(Workload("w", layers))
    assert [h.engine for h in plan] == ["conv", "sdp"] and plan[0].pool is not None
    assert plan[1].reads == 2

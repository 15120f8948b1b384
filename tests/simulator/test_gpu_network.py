"""GPU network level, the published-data comparison, and the ``gilt gpu`` command."""

import dataclasses
import json

import numpy as np
import pytest

from common.workload import LayerWork, Workload
from gilt.cli import main as gilt_main
from gilt.commands.gpu import format_table
from gilt.experiments.published import (
    PUBLISHED_GEMMS,
    PUBLISHED_RESNET50,
    compare_published,
    resnet50_workload,
)
from gilt.plots import roofline_plot
from simulator.gpu import load_gpu_spec, rebatch, simulate_network

A100 = load_gpu_spec("a100_sxm4_80gb")


def small_net(batch=2):
    layers = (
        LayerWork.conv("c1", batch=batch, in_channels=16, in_h=32, in_w=32, out_channels=64,
                       kernel=(3, 3), pads=(1, 1, 1, 1), fused=("bn", "relu")),
        LayerWork.conv("dw", batch=batch, in_channels=64, in_h=32, in_w=32, out_channels=64,
                       kernel=(3, 3), pads=(1, 1, 1, 1), groups=64),
        LayerWork.elementwise("add", shape=(batch, 64, 32, 32), inputs=2),
        LayerWork.matmul("fc", m=batch, n=10, k=64 * 32 * 32),
    )
    return Workload(name="small", layers=layers, meta={"batch": batch})


def test_totals_are_sums_of_layers():
    r = simulate_network(small_net(), A100)
    assert r.cycles == pytest.approx(sum(layer.cycles for layer in r.layers))
    assert r.throughput_per_s == pytest.approx(2 / r.time_s)
    assert 0 < r.details["sm_utilization"] <= 1 and 0 < r.details["tc_pipe_utilization"] <= 1
    assert r.target == "gpu" and r.hardware == "A100-SXM4-80GB"
    assert "inputs/s" in format_table(r)


def test_batch_raises_throughput_and_rebatch_scales_macs():
    wl = small_net(2)
    big = rebatch(wl, 64)
    assert big.macs_dense == wl.macs_dense * 32
    assert simulate_network(wl, A100, batch=64).throughput_per_s > \
        simulate_network(wl, A100).throughput_per_s
    with pytest.raises(ValueError, match="batch"):
        rebatch(wl, 0)


def test_rebatch_tiles_gate_masks():
    layer = LayerWork.conv("g", batch=2, in_channels=8, in_h=4, in_w=4, out_channels=8,
                           kernel=(1, 1), macs_skipped_gate=64,
                           gate_mask=np.array([[True] * 8, [True] * 4 + [False] * 4]))
    wl = rebatch(Workload(name="g", layers=(layer,)), 5)
    out = wl.layers[0]
    assert out.gate_mask.shape == (5, 8) and not out.gate_mask[3, 7] and out.gate_mask[4, 7]
    assert out.macs_dense == 5 * 8 * 8 * 16 and out.macs_skipped_gate == 160


def test_bad_workload_type():
    with pytest.raises(TypeError, match="Workload"):
        simulate_network([1, 2], A100)


def test_roofline_png(tmp_path):
    r = simulate_network(small_net(), A100)
    path = roofline_plot(r, A100, tmp_path / "sub" / "roof.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(path.parent.glob("*.tmp"))


def test_fused_resnet50_beats_unfused():
    wl = resnet50_workload(8, "w8a8")
    fused = simulate_network(wl, A100, epilogue="fused")
    unfused = simulate_network(wl, A100, epilogue="unfused")
    assert unfused.time_s > 1.2 * fused.time_s
    assert unfused.details["dram_bytes"] > fused.details["dram_bytes"]


def test_resnet50_geometry_matches_published_size():
    # torchvision's ResNet-50 v1.5: 4.09 GFLOPs (multiply-adds) and 25.6 M parameters
    wl = resnet50_workload(1)
    assert wl.macs_dense == pytest.approx(4.09e9, rel=0.005)
    weights = sum(layer.weight_count for layer in wl.compute_layers)
    assert weights == pytest.approx(25.5e6, rel=0.01)
    assert len(wl.compute_layers) == 54
    with pytest.raises(ValueError, match="precision"):
        resnet50_workload(1, "int3")


# --------------------------------------------------------------- published data
def test_published_comparison_errors():
    rows = {row["name"]: row for row in compare_published()}
    assert set(rows) == {g.name for g in PUBLISHED_GEMMS} | {p.name for p in PUBLISHED_RESNET50}
    # large GEMMs and large-batch ResNet-50 INT8 within 15%; see docs/sim-gpu.md for all errors
    for name in ("A100 SXM BF16 MAMF", "H100 SXM BF16 MAMF", "MLPerf v1.1 Offline (batch 2048)"):
        assert abs(rows[name]["error"]) < 0.15, rows[name]
    # batch 1 with per-kernel fixed costs and a TensorRT engine's launch gaps: within 15%
    assert abs(rows["MLPerf v1.1 SingleStream (batch 1)"]["error"]) < 0.15


def test_stored_comparison_is_current_data():
    from pathlib import Path
    stored = json.loads((Path(__file__).parents[2] / "benchmarks" / "data"
                         / "gpu_published.json").read_text())
    published = {g.name: g.tflops for g in PUBLISHED_GEMMS}
    published.update({p.name: p.images_per_s for p in PUBLISHED_RESNET50})
    assert {row["name"]: row["published"] for row in stored["rows"]} == published


# --------------------------------------------------------------- CLI
def test_cli_runs_reference_resnet(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    rc = gilt_main(["gpu", "--hw", "a100_sxm4_40gb", "--net", "resnet50-ref", "--batch", "4",
                    "--json", str(out_json), "--plot", str(tmp_path / "r.png")])
    text = capsys.readouterr().out
    assert rc == 0 and "inputs/s" in text and "layer4.2.conv3" in text
    payload = json.loads(out_json.read_text())
    assert payload["totals"]["batch"] == 4 and len(payload["layers"]) == 56
    assert (tmp_path / "r.png").exists()


def test_cli_yaml_spec_and_errors(tmp_path, capsys):
    import yaml

    from simulator.gpu.spec import PRESETS_DIR
    data = yaml.safe_load((PRESETS_DIR / "v100-sxm2.yaml").read_text())
    data["name"] = "V100-test"
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(data))
    assert gilt_main(["gpu", "--hw", str(path), "--net", "resnet50-ref"]) == 0
    assert "V100-test" in capsys.readouterr().out
    assert gilt_main(["gpu", "--hw", "b200", "--net", "resnet50-ref"]) == 2
    assert "not found" in capsys.readouterr().err
    assert gilt_main(["gpu", "--hw", "v100_sxm2", "--net", "resnet50-ref", "--mma", "int8"]) == 2
    assert "int8" in capsys.readouterr().err
    assert gilt_main(["gpu", "--hw", "v100_sxm2", "--net", "resnet50-ref", "--batch", "0"]) == 2


def test_w4a8_and_gating_change_network_time():
    wl = resnet50_workload(1, "w4a8")
    w8 = simulate_network(resnet50_workload(1, "w8a8"), A100)
    w4 = simulate_network(wl, A100)
    assert w4.details["dram_bytes"] < w8.details["dram_bytes"]
    # gate off the upper half of every layer's input channels on all samples
    gated = []
    for layer in wl.layers:
        if layer.op == "conv" and layer.in_channels >= 128:
            mask = np.ones((layer.batch, layer.in_channels), dtype=bool)
            mask[:, layer.in_channels // 2:] = False
            skipped = layer.macs_dense // 2
            layer = dataclasses.replace(layer, gate_mask=mask, macs_skipped_gate=skipped,
                                        macs_done=layer.macs_dense - skipped)
        gated.append(layer)
    g = simulate_network(dataclasses.replace(wl, layers=tuple(gated)), A100)
    assert g.time_s < w4.time_s


def test_rebatch_scales_batch_times_heads_layers():
    heads = LayerWork.matmul("scores", m=128, n=128, k=64, batch=2 * 12)   # batch 2 x 12 heads
    proj = LayerWork.matmul("proj", m=2 * 128, n=768, k=768)               # batch folded in m
    wl = rebatch(Workload(name="t", layers=(heads, proj), meta={"batch": 2}), 8)
    assert wl.layers[0].batch == 8 * 12 and wl.layers[0].macs_dense == heads.macs_dense * 4
    assert wl.layers[1].in_h == 8 * 128 and wl.layers[1].macs_dense == proj.macs_dense * 4
    assert simulate_network(wl, A100).batch == 8

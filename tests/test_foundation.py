"""The project's own promises: the CLI answers, the workload invariants hold."""

import subprocess
import sys

import pytest

import gilt
from common.workload import LayerWork, Workload


def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "gilt", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == f"gilt {gilt.__version__}"
    out = subprocess.run([sys.executable, "-m", "gilt", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name in ("demo", "npu", "gpu", "cpu", "golden", "check"):
        assert name in out


def test_conv_layerwork_derives_resnet_stem():
    # ResNet-50 stem: 224x224, 7x7 stride 2 pad 3, 3 -> 64: 112x112 output, 118.0 M MACs.
    layer = LayerWork.conv("conv1", batch=1, in_channels=3, in_h=224, in_w=224, out_channels=64,
                           kernel=(7, 7), stride=(2, 2), pads=(3, 3, 3, 3))
    assert (layer.out_h, layer.out_w) == (112, 112)
    assert layer.macs_dense == 112 * 112 * 64 * 3 * 49 == 118_013_952
    assert layer.gemm_shape() == (1, 112 * 112, 64, 147)
    assert layer.weight_bytes == 64 * 3 * 49


def test_int4_weight_bytes_pack_two_per_byte():
    layer = LayerWork.matmul("fc", m=1, n=3, k=5, weight_bits=4)
    assert layer.weight_bytes == 8  # 15 nibbles -> 8 bytes


def test_layerwork_rejects_inconsistent_macs():
    with pytest.raises(ValueError, match="macs_done"):
        LayerWork.matmul("fc", m=2, n=2, k=2, macs_done=9)
    with pytest.raises(ValueError, match="groups=3"):
        LayerWork.conv("c", batch=1, in_channels=4, in_h=4, in_w=4, out_channels=6,
                       kernel=(1, 1), groups=3)


def test_workload_rejects_duplicate_names():
    a = LayerWork.matmul("fc", m=1, n=1, k=1)
    with pytest.raises(ValueError, match="duplicate"):
        Workload("net", (a, a))


def test_spec_loader_names_unknown_missing_and_mistyped_keys(tmp_path):
    from dataclasses import dataclass

    from simulator.spec import load_spec

    @dataclass(frozen=True)
    class Toy:
        rows: int
        clock_mhz: float = 1000.0

    assert load_spec(Toy, {"rows": 4}).clock_mhz == 1000.0
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colz'\]"):
        load_spec(Toy, {"rows": 4, "colz": 2})
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['rows'\]"):
        load_spec(Toy, {})
    with pytest.raises(TypeError, match="Toy.rows must be an integer"):
        load_spec(Toy, {"rows": "4"})
    (tmp_path / "a.yaml").write_text("rows: 8\nsources: {rows: datasheet}\n")
    assert load_spec(Toy, "a", presets_dir=tmp_path).rows == 8
    with pytest.raises(ValueError, match="preset 'b' not found"):
        load_spec(Toy, "b", presets_dir=tmp_path)


def test_workload_batch_is_the_input_batch_not_the_largest_layer_batch():
    # an attention matmul carries batch x heads; throughput must count inputs, not heads
    stem = LayerWork.matmul("qkv", m=128, n=768, k=768, batch=2)
    scores = LayerWork.matmul("scores", m=128, n=128, k=64, batch=2 * 12)
    assert Workload("enc", (stem, scores)).batch == 2
    assert Workload("enc", (scores,), meta={"batch": 2}).batch == 2

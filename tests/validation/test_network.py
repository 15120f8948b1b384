"""Golden vectors of network layers from the golden run (networks/): ResNet-50 at a small input
size, two layers (8-bit first conv and a 4-bit bottleneck conv)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gilt.cli import main
from reference.requantize import requantize
from validation.manifest import load_manifest, load_tensor

networks = pytest.importorskip("networks.golden", reason="networks golden run not present")

LAYERS = "conv1,layer1.0.conv2"


@pytest.fixture(scope="module")
def resnet_layers(tmp_path_factory):
    out = tmp_path_factory.mktemp("net")
    assert main(["golden", "--network", "resnet50", "--precision", "w4a8", "--input-size", "32",
                 "--layers", LAYERS, "--out", str(out), "--formats", "npy,hex,h"]) == 0
    return out / "resnet50_w4a8_32"


def test_layer_folders_index_and_manifests(resnet_layers):
    index = json.loads((resnet_layers / "index.json").read_text())
    assert [layer["layer"] for layer in index["layers"]] == LAYERS.split(",")
    conv1 = load_manifest(resnet_layers / index["layers"][0]["path"])
    assert conv1["kind"] == "network_layer" and conv1["layer"] == "conv1"
    assert conv1["attrs"]["strides"] == [2, 2] and conv1["activity"]["macs_dense"] > 0
    shapes = {t["name"]: (t["dtype"], t["shape"]) for t in conv1["tensors"]}
    assert shapes["input"] == ("int8", [1, 3, 32, 32])
    assert shapes["weight"] == ("int8", [64, 3, 7, 7])  # first layer kept at 8 bits
    assert shapes["output"] == ("int8", [1, 64, 16, 16])
    inner = load_manifest(resnet_layers / index["layers"][1]["path"])
    weight = next(t for t in inner["tensors"] if t["name"] == "weight")
    assert weight["dtype"] == "int4" and weight["source"].startswith("layer1.0.conv2")


def test_accumulator_requantizes_to_the_golden_run_output(resnet_layers):
    """The accumulator written next to each layer is the one the golden run requantized."""
    for sub in sorted(p for p in resnet_layers.iterdir() if p.is_dir()):
        m = load_manifest(sub)
        t = {e["name"]: e for e in m["tensors"]}
        acc = load_tensor(sub, "accumulator", fmt="hex")
        out = load_tensor(sub, "output")
        q = t["output"]["quant"]
        y = requantize(acc, np.float32(t["input"]["quant"]["scale"]),
                       np.asarray(t["weight"]["quant"]["scale"], np.float32),
                       np.float32(q["scale"]), q["zero_point"], mode=m["requantize_mode"],
                       axis=1, clamp=(q["zero_point"], 127))
        assert np.array_equal(y, out), sub.name


def test_check_network_results_and_kernel(resnet_layers, tmp_path, capsys):
    assert main(["check", str(resnet_layers), "--results", str(resnet_layers)]) == 0
    report = capsys.readouterr().out
    assert "conv1/output" in report and "layer1_0_conv2/output" in report and "PASS: 2 tensor(s)" in report
    pytest.importorskip("kernels.registry")
    assert main(["check", str(resnet_layers), "--kernel", "cpu.conv2d_int"]) == 0
    assert capsys.readouterr().out.count("PASS  cpu.conv2d_int on resnet50_w4a8_32_") == 2


def test_unknown_layer_and_network_are_named(tmp_path, capsys):
    assert main(["golden", "--network", "gated_net", "--layers", "conv99",
                 "--out", str(tmp_path)]) == 2
    assert "no node named ['conv99']" in capsys.readouterr().err
    assert main(["golden", "--network", "alexnet", "--out", str(tmp_path)]) == 2
    assert "expected one of" in capsys.readouterr().err


def test_gated_network_every_node(tmp_path, capsys):
    """gated_net, every node: gate masks are written, and a gated conv's accumulator (masked
    channels at the zero point) requantizes to the golden run's output; a registered conv
    kernel reproduces it."""
    assert main(["golden", "--network", "gated_net", "--all-nodes", "--out", str(tmp_path),
                 "--formats", "npy"]) == 0
    root = tmp_path / "gated_net_w4a8"
    index = json.loads((root / "index.json").read_text())
    gated = [layer for layer in index["layers"] if "gate_mask" in layer["tensors"]]
    assert gated and {layer["op"] for layer in gated} == {"qconv"}
    for layer in gated:
        d = root / layer["path"]
        t = {e["name"]: e for e in load_manifest(d)["tensors"]}
        assert t["gate_mask"]["dtype"] == "uint8"
        mask = load_tensor(d, "gate_mask")
        assert set(np.unique(mask)) <= {0, 1} and 0 < mask.sum() < mask.size
        q = t["output"]["quant"]
        y = requantize(load_tensor(d, "accumulator"), np.float32(t["input"]["quant"]["scale"]),
                       np.asarray(t["weight"]["quant"]["scale"], np.float32),
                       np.float32(q["scale"]), q["zero_point"], axis=1,
                       clamp=(q["zero_point"], 127))
        assert np.array_equal(y, load_tensor(d, "output")), layer["layer"]
    capsys.readouterr()
    pytest.importorskip("kernels.registry")
    assert main(["check", str(root / gated[0]["path"]), "--kernel", "cpu.conv2d_int"]) == 0
    assert main(["check", str(root), "--results", str(root), "--quiet"]) == 0

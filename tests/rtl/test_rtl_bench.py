"""The RTL array under cocotb, driven by golden vectors: bit-exact int32 accumulators and
requantized outputs, and every performance counter equal to the NPU model's rtl mode.

External oracles: the reference operators that wrote the golden vectors (bit-exactness) and
the simulators running the RTL (the counters the model must predict). Default run: tiny layers
on Icarus (cheap to build) and one Verilator build; bigger arrays and ResNet-50 layers are slow.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reference.conv_int import conv2d_int
from reference.requantize import requantize
from tests.rtl.conftest import OPTIONS, need, write_case
from validation.cases import OperatorCase
from validation.manifest import GoldenTensor, golden_files, write_tree_atomic
from validation.rtl.build import ArrayParams
from validation.rtl.driver import load_layer, run_layer

pytestmark = pytest.mark.oracle

COUNTERS = ("cycles", "busy", "stall", "steps", "preload", "scan", "gated", "folds", "skipped",
            "kactive")


def check(run) -> None:
    assert run.acc.passed, run.acc
    assert run.output.passed, run.output
    assert {k: run.counters[k] for k in COUNTERS} == {k: run.model[k] for k in COUNTERS}


def run_case(tmp_path, op, params, rows, cols, dataflow, simulator="icarus", **kw):
    sim = need(simulator)
    case = OperatorCase.parse(op, params, seed=kw.pop("seed", 3))
    layer = load_layer(write_case(tmp_path, case))
    return run_layer(layer, ArrayParams(rows, cols, dataflow), sim, workdir=tmp_path, **kw)


CASES = [  # (op, params, rows, cols, dataflow)
    ("conv2d", dict(c=5, h=6, w=7, k=6), 4, 4, "ws"),
    ("conv2d", dict(c=5, h=6, w=7, k=6), 4, 4, "os"),
    ("conv2d", dict(c=3, h=9, w=8, k=5, st=2, p=0, d=2, wbits=8, adtype="uint8", relu=True),
     4, 3, "ws"),
    ("conv2d", dict(c=3, h=9, w=8, k=5, st=2, p=2, d=2, wbits=8, adtype="uint8"), 3, 4, "os"),
    ("conv2d", dict(c=8, h=4, w=4, k=5, gate=50), 4, 4, "ws"),
    ("conv2d", dict(c=8, h=4, w=4, k=5, gate=50), 4, 4, "os"),
    ("matmul", dict(m=9, k=20, n=7, zblocks=40), 4, 4, "ws"),
    ("matmul", dict(m=9, k=20, n=7, zblocks=40), 4, 4, "os"),
]


@pytest.mark.parametrize("op,params,rows,cols,dataflow", CASES,
                         ids=[f"{c[0]}-{c[4]}-{c[2]}x{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_icarus_bit_exact_and_model_exact(tmp_path, op, params, rows, cols, dataflow):
    run = run_case(tmp_path, op, params, rows, cols, dataflow)
    check(run)
    if "gate" in params:
        assert run.counters["scan"] == params["c"] and run.counters["kactive"] < params["c"] * 9
    if "zblocks" in params:
        assert run.counters["gated"] > 0


def test_zero_skip_off_gates_nothing(tmp_path):
    run = run_case(tmp_path, "matmul", dict(m=9, k=20, n=7, zblocks=40), 4, 4, "ws",
                   zero_skip=False)
    check(run)
    assert run.counters["gated"] == 0 and run.counters["busy"] == 9 * 20 * 7


def _zero_tile_case(tmp_path):
    """A conv whose filters' weights are zero on input channels 2..7: WS skips those folds."""
    case = OperatorCase.parse("conv2d", dict(c=8, h=5, w=5, k=4, r=1, s=1, p=0), seed=5)
    t = {x.name: x for x in case.tensors()}
    w = t["weight"].array.copy()
    w[:, 2:] = 0
    x, bias = t["input"].array, t["bias"].array
    zp = t["input"].quant["zero_point"]
    acc = conv2d_int(x, w, x_zero_point=zp, bias=bias)
    yq = t["output"].quant
    y = requantize(acc, t["input"].quant["scale"], t["weight"].quant["scale"], yq["scale"],
                   yq["zero_point"], mode="onnxruntime", dtype="int8", axis=1)
    tensors = [t["input"], dataclasses.replace(t["weight"], array=w), t["bias"],
               GoldenTensor("accumulator", acc, "int32", "intermediate", "NCHW"),
               dataclasses.replace(t["output"], array=y)]
    _, files = golden_files({**case.describe(), "name": "zero_tiles"}, tensors, OPTIONS)
    return write_tree_atomic(tmp_path / "zero_tiles", files)


def test_ws_skips_zero_weight_tiles(tmp_path):
    sim = need("icarus")
    layer = load_layer(_zero_tile_case(tmp_path))
    run = run_layer(layer, ArrayParams(2, 4, "ws"), sim, workdir=tmp_path)
    check(run)
    assert run.counters["skipped"] == 3                # K folds 1..3 of 4; fold 0 has the bias


def test_verilator_equals_icarus(tmp_path):
    """The default simulator: same bits and same counters as Icarus on the same vectors."""
    ver = run_case(tmp_path, "conv2d", dict(c=6, h=5, w=5, k=6, gate=30), 4, 4, "ws",
                   simulator="verilator")
    check(ver)
    ica = run_case(tmp_path / "i", "conv2d", dict(c=6, h=5, w=5, k=6, gate=30), 4, 4, "ws")
    assert ver.counters == ica.counters


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("size", [8, 16])
def test_verilator_bigger_arrays(tmp_path, dataflow, size):
    run = run_case(tmp_path, "conv2d", dict(c=20, h=10, w=9, k=19, gate=25), size, size,
                   dataflow, simulator="verilator")
    check(run)


RESNET_LAYERS = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv2", "fc"]


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_resnet50_layers_reduced_size(tmp_path, dataflow):
    from validation.network import network_golden_files

    sim = need("verilator")
    name, files = network_golden_files("resnet50", input_size=32, layers=RESNET_LAYERS,
                                       options=OPTIONS)
    root = write_tree_atomic(tmp_path / name, files)
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        check(run_layer(load_layer(sub), ArrayParams(8, 8, dataflow), sim, workdir=tmp_path))


SMALL_RESNET_LAYERS = ["conv1", "layer1.0.conv1", "layer1.0.conv2"]


@pytest.fixture(scope="module")
def small_resnet(tmp_path_factory):
    """ResNet-50 W4A8 at 16x16 input: golden vectors of a few layers (one golden run)."""
    from validation.network import network_golden_files

    root = tmp_path_factory.mktemp("resnet16")
    name, files = network_golden_files("resnet50", input_size=16, layers=SMALL_RESNET_LAYERS,
                                       options=OPTIONS)
    tree = write_tree_atomic(root / name, files)
    return {p.name: p for p in tree.iterdir() if p.is_dir()}


def test_network_layer_on_icarus(tmp_path, small_resnet):
    """A ResNet-50 layer at reduced size on Icarus (layer1.0.conv1: 64 -> 64 over 4x4 pixels)."""
    sim = need("icarus")
    layer = load_layer(small_resnet["layer1_0_conv1"])
    assert layer.x_zero_point != 0                     # asymmetric activations: 9-bit operand
    check(run_layer(layer, ArrayParams(8, 8, "ws"), sim, workdir=tmp_path))


def test_network_layers_on_verilator(tmp_path, small_resnet):
    """conv1 (7x7, stride 2, pad 3), a 1x1 and a 3x3 of ResNet-50 on the default
    simulator (the 4x4 WS build of test_verilator_equals_icarus)."""
    sim = need("verilator")
    for sub in sorted(small_resnet.values()):
        check(run_layer(load_layer(sub), ArrayParams(4, 4, "ws"), sim, workdir=tmp_path))


def test_refuses_unsupported_cases(tmp_path):
    from validation.rtl.driver import RtlUnsupported

    case = OperatorCase.parse("conv2d", dict(c=4, k=4, g=2))
    with pytest.raises(RtlUnsupported, match="groups=2"):
        load_layer(write_case(tmp_path, case))
    case = OperatorCase.parse("conv2d", dict(c=4, k=4, n=2))
    with pytest.raises(RtlUnsupported, match="batch 1"):
        load_layer(write_case(tmp_path, case))
    big = OperatorCase.parse("matmul", dict(m=4, k=8, n=4))
    _, files = golden_files(big.describe(), big.tensors(),
                            dataclasses.replace(OPTIONS, word_bits=16))
    with pytest.raises(RtlUnsupported, match="32-bit"):
        load_layer(write_tree_atomic(tmp_path / "w16", files))


def test_layer_fields_are_consistent(tmp_path):
    layer = load_layer(write_case(tmp_path, OperatorCase.parse("conv2d", dict(c=3, h=6, w=5))))
    cfg = layer.config()
    assert (cfg["oh"], cfg["ow"], cfg["out_count"]) == (6, 5, 6 * 5 * 8)
    assert np.array_equal(layer.expected_acc.shape, (1, 8, 6, 5))

"""SCALE-Sim compatibility: its files read as they are, and its numbers reproduced exactly.

The oracle here is SCALE-Sim 3.0.0 itself: run live on small layers (skipped, with the reason,
when its venv cannot be built) and, for all ResNet-50 layers x dataflows x {32x32, 128x128},
through the results it produced, stored in benchmarks/data/ by benchmarks/bench_npu.py."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from common.workload import LayerWork
from simulator.npu import scalesim_compat as sc
from simulator.npu.model import simulate_layer, topology_rows
from simulator.npu.spec import load_npu_spec

STORED = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "npu_scalesim_resnet50.csv"

SMALL_TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
odd,8,8,3,3,4,40,1,
strided,10,9,2,2,5,7,2,
wide,7,7,1,1,33,65,1,
tall,12,5,3,2,3,9,3,
fc,1,1,1,1,70,10,1,
"""


@pytest.fixture(scope="module")
def small_topology(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("topo") / "small.csv"
    path.write_text(SMALL_TOPOLOGY)
    return path


# ------------------------------------------------------------------------------ file formats
def test_read_topology_as_scalesim_does(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\n\nConv1,224,224,7,7,3,64,2,\n"
                    "DPconv,16,16,3,3,3,1,1,\nsparse,8,8,1,1,4,4,1,1:1,\n")
    rows = sc.read_topology(path)
    assert [r.name for r in rows] == ["Conv1", "DPconvChannel_0", "DPconvChannel_1",
                                      "DPconvChannel_2", "sparse"]
    assert (rows[0].ofmap_h, rows[0].ofmap_w) == (110, 110)  # ceil((224 - 7 + 2) / 2)
    assert rows[1].channels == 1 and rows[1].filters == 1
    assert rows[0].stride_w == 2


def test_read_gemm_topology(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("Layer, M, N, K,\ng0,100,30,70,\n")
    (row,) = sc.read_topology(path, gemm=True)
    assert (row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels, row.filters) \
        == (100, 70, 1, 70, 1, 30)
    assert row.macs == 100 * 30 * 70


@pytest.mark.parametrize("line, message", [
    ("bad,8,8,3,3,4,x,1,", "Num Filter"),
    ("bad,8,8,3,3,4,5,", "8 fields"),
    ("bad,2,2,3,3,4,5,1,", "larger than ifmap"),
    ("bad,8,8,3,3,4,5,1,2:4,", "sparsity ratio"),
    ("bad,8,8,3,3,0,5,1,", "Channels"),
])
def test_bad_topology_rows_are_named(tmp_path, line, message):
    path = tmp_path / "bad.csv"
    path.write_text("header,\n" + line + "\n")
    with pytest.raises(ValueError, match=message):
        sc.read_topology(path)


def test_cfg_round_trip_and_errors(tmp_path):
    cfg = sc.ScaleSimConfig(run_name="x", array_rows=12, array_cols=14, dataflow="is",
                            ifmap_sram_kib=48, interface_bandwidth="USER",
                            bandwidth_words_per_cycle=(7,))
    path = sc.write_cfg(cfg, tmp_path / "x.cfg")
    assert sc.read_cfg(path) == cfg
    text = path.read_text().replace("ArrayWidth : 14\n", "")
    (tmp_path / "missing.cfg").write_text(text)
    with pytest.raises(ValueError, match="ArrayWidth"):
        sc.read_cfg(tmp_path / "missing.cfg")
    (tmp_path / "df.cfg").write_text(path.read_text().replace("Dataflow : is", "Dataflow : rs"))
    with pytest.raises(ValueError, match="dataflow"):
        sc.read_cfg(tmp_path / "df.cfg")
    with pytest.raises(ValueError, match="does not exist"):
        sc.read_cfg(tmp_path / "none.cfg")


def test_layerwork_round_trip_keeps_scalesim_geometry(small_topology):
    for row in sc.read_topology(small_topology):
        layer = row.to_layer()
        assert layer.macs_dense == row.macs
        (back,) = topology_rows(layer)
        assert (back.ofmap_h, back.ofmap_w, back.macs) == (row.ofmap_h, row.ofmap_w, row.macs)


def test_scalesim_mode_rejects_what_scalesim_cannot_express():
    batched = LayerWork.conv("b", batch=2, in_channels=4, in_h=8, in_w=8, out_channels=8,
                             kernel=(3, 3))
    dilated = LayerWork.conv("d", batch=1, in_channels=4, in_h=8, in_w=8, out_channels=8,
                             kernel=(3, 3), dilation=(2, 2))
    for layer, msg in ((batched, "batch"), (dilated, "dilation")):
        with pytest.raises(ValueError, match=msg):
            simulate_layer(layer, "npu-32x32", mode="scalesim")


# --------------------------------------------------------------------------- the oracle, live
@pytest.fixture(scope="module")
def oracle():
    ok, why = sc.oracle_available()
    if not ok:
        pytest.skip(why)
    return True


@pytest.mark.oracle
@pytest.mark.parametrize("dataflow, array", list(itertools.product(sc.DATAFLOWS,
                                                                   [(8, 8), (4, 6)])))
def test_scalesim_mode_equals_scalesim(oracle, small_topology, dataflow, array):
    rows, cols = array
    cfg = sc.ScaleSimConfig(array_rows=rows, array_cols=cols, dataflow=dataflow)
    reference = sc.run_oracle(cfg, small_topology)
    topo = sc.read_topology(small_topology)
    assert len(reference) == len(topo)
    for row, ref in zip(topo, reference):
        ours = sc.scalesim_layer(row, rows, cols, dataflow)
        assert {k: ours[k] for k in sc.COMPARED} == {k: ref[k] for k in sc.COMPARED}, row.name


@pytest.mark.oracle
def test_padded_depthwise_layer_equals_scalesim_dp_rows(oracle, tmp_path):
    """A padded depthwise LayerWork in scalesim mode equals SCALE-Sim on its DP topology row
    with the padded size (how a SCALE-Sim user writes it)."""
    layer = LayerWork.conv("dw", batch=1, in_channels=3, in_h=6, in_w=6, out_channels=3,
                           kernel=(3, 3), pads=(1, 1, 1, 1), groups=3)
    topo = tmp_path / "dw.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\nDPdw,8,8,3,3,3,1,1,\n")
    spec = load_npu_spec("npu-32x32").replace(array_rows=4, array_cols=4)
    cfg = sc.ScaleSimConfig(array_rows=4, array_cols=4, dataflow=spec.dataflow)
    reference = sc.run_oracle(cfg, topo)
    result = simulate_layer(layer, spec, mode="scalesim")
    assert result.cycles == sum(r["total_cycles"] for r in reference)
    assert result.details["sram_ifmap_reads"] == sum(r["sram_ifmap_reads"] for r in reference)


# ---------------------------------------------------------------- the oracle, stored results
def test_stored_resnet50_comparison_is_exact():
    """Every stored SCALE-Sim 3.0.0 row (ResNet-50 layers x ws/os/is x 32x32/128x128)."""
    if not STORED.exists():
        pytest.skip(f"{STORED} not recorded yet (python -m benchmarks.bench_npu --record-oracle)")
    with open(STORED, encoding="utf-8") as fh:
        stored = list(csv.DictReader(fh))
    topo = sc.read_topology(sc.TOPOLOGIES / "Resnet50.csv")
    seen = set()
    for ref in stored:
        rows, cols = (int(x) for x in ref["array"].split("x"))
        ours = sc.scalesim_layer(topo[int(ref["layer_id"])], rows, cols, ref["dataflow"])
        for key in sc.COMPARED:
            want = float(ref[key]) if ("util" in key or "efficiency" in key) else int(ref[key])
            assert ours[key] == want, (ref["array"], ref["dataflow"], ref["name"], key)
        seen.add((ref["array"], ref["dataflow"]))
    assert len(stored) >= 53 * len(seen)


def test_compute_report_columns():
    res = sc.scalesim_layer(sc.TopologyRow("l", 8, 8, 3, 3, 4, 40, 1, 1), 8, 8, "os")
    text = sc.compute_report_csv([res])
    header, line = text.splitlines()
    assert header == sc.COMPUTE_REPORT_HEADER
    fields = [f.strip() for f in line.split(",")]
    assert fields[0] == "0" and fields[2] == str(res["total_cycles"])
    assert float(fields[4]) == res["overall_util"]


@pytest.mark.oracle
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_layers_equal_scalesim(oracle, tmp_path, seed):
    """Seeded random small layers (odd sizes, strides, arrays) against SCALE-Sim itself."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
             "Num Filter, Strides,"]
    for i in range(8):
        r, s = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        h, w = r + int(rng.integers(0, 9)), s + int(rng.integers(0, 9))
        lines.append(f"r{i},{h},{w},{r},{s},{int(rng.integers(1, 12))},"
                     f"{int(rng.integers(1, 40))},{int(rng.integers(1, 4))},")
    topo = tmp_path / "rand.csv"
    topo.write_text("\n".join(lines) + "\n")
    dataflow = sc.DATAFLOWS[seed]
    rows, cols = int(rng.integers(2, 12)), int(rng.integers(2, 12))
    reference = sc.run_oracle(sc.ScaleSimConfig(array_rows=rows, array_cols=cols,
                                                dataflow=dataflow), topo)
    for row, ref in zip(sc.read_topology(topo), reference):
        ours = sc.scalesim_layer(row, rows, cols, dataflow)
        assert sc.compare_rows(ours, ref) == [], (row, rows, cols, dataflow)


@pytest.mark.oracle
@pytest.mark.parametrize("dataflow", sc.DATAFLOWS)
def test_gemm_topology_equals_scalesim_gemm_mode(oracle, tmp_path, dataflow):
    topo = tmp_path / "gemm.csv"
    topo.write_text("Layer, M, N, K,\ng0,37,20,9,\ng1,5,70,33,\ng2,64,64,64,\n")
    reference = sc.run_oracle(sc.ScaleSimConfig(array_rows=8, array_cols=16, dataflow=dataflow),
                              topo, gemm=True)
    rows = sc.read_topology(topo, gemm=True)
    assert len(reference) == len(rows) == 3
    for row, ref in zip(rows, reference):
        assert sc.compare_rows(sc.scalesim_layer(row, 8, 16, dataflow), ref) == [], row.name

"""NPU spec files, mapping search and the ``gilt npu`` command."""

from __future__ import annotations

import csv
import json

import pytest

from common.workload import LayerWork, Workload
from gilt.cli import main as gilt_main
from simulator.npu import scalesim_compat as sc
from simulator.npu.model import MappingChoice, simulate_layer
from simulator.npu.search import search_layer, search_network
from simulator.npu.spec import NpuSpec, load_npu_spec, npu_presets

PRESETS = ("npu-32x32", "npu-128x128", "tpuv1-like", "eyeriss-like")


# ------------------------------------------------------------------------------------- spec
@pytest.mark.parametrize("name", PRESETS)
def test_presets_load(name):
    spec = load_npu_spec(name)
    assert isinstance(spec, NpuSpec) and spec.name == name
    assert name in npu_presets()


def _spec_dict(**changes):
    base = {k: v for k, v in vars(load_npu_spec("npu-32x32")).items()}
    base.update(changes)
    return base


def test_unknown_missing_and_bad_keys_are_named(tmp_path):
    with pytest.raises(ValueError, match="array_colums"):
        load_npu_spec({**_spec_dict(), "array_colums": 3})
    data = _spec_dict()
    del data["clock_mhz"]
    with pytest.raises(ValueError, match="clock_mhz"):
        load_npu_spec(data)
    with pytest.raises(ValueError, match="dataflow"):
        load_npu_spec(_spec_dict(dataflow="rs"))
    with pytest.raises(ValueError, match="array_rows"):
        load_npu_spec(_spec_dict(array_rows=0))
    with pytest.raises(ValueError, match="pe_int4_macs"):
        load_npu_spec(_spec_dict(pe_int4_macs=3))
    with pytest.raises(TypeError, match="cores"):
        load_npu_spec(_spec_dict(cores="two"))
    with pytest.raises(ValueError, match="not found"):
        load_npu_spec("npu-1x1")
    path = tmp_path / "mine.yaml"
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in _spec_dict(name="mine").items()))
    assert load_npu_spec(str(path)).name == "mine"


# ----------------------------------------------------------------------------------- search
def _net():
    return Workload("tiny", (
        LayerWork.conv("c1", batch=1, in_channels=3, in_h=16, in_w=16, out_channels=16,
                       kernel=(3, 3), pads=(1, 1, 1, 1)),
        LayerWork.conv("dw", batch=1, in_channels=16, in_h=16, in_w=16, out_channels=16,
                       kernel=(3, 3), pads=(1, 1, 1, 1), groups=16),
        LayerWork.matmul("fc", m=1, n=10, k=256),
        LayerWork.elementwise("relu", shape=(1, 16, 16, 16)),
    ))


def test_search_never_loses_and_best_choice_reproduces():
    spec = load_npu_spec("npu-32x32").replace(array_rows=8, array_cols=8)
    report = search_network(_net(), spec)
    assert report.best.cycles <= report.fixed.cycles
    for item in report.layers:
        assert item.best.cycles <= item.fixed.cycles
        again = simulate_layer(next(la for la in _net().layers if la.name == item.name), spec,
                               item.best_choice)
        assert again.cycles == item.best.cycles
    assert "fixed mapping" in report.summary()
    fc = next(item for item in report.layers if item.name == "fc")
    assert fc.limit in ("mapping", "fill/drain")  # one pixel: the array cannot fill


def test_search_beats_every_single_dataflow_default():
    # K = 576 on 32 rows: WS keeps 18 row folds of partial sums for 3136 pixels x 32 filters;
    # to fit a 32 KiB half-SRAM it must stream short chunks, each paying fill and drain. OS
    # accumulates in the PEs and streams K = 576 in one go.
    layer = LayerWork.conv("c3", batch=1, in_channels=64, in_h=56, in_w=56, out_channels=64,
                           kernel=(3, 3), pads=(1, 1, 1, 1))
    spec = load_npu_spec("npu-32x32")
    found = search_layer(layer, spec)
    defaults = [simulate_layer(layer, spec, MappingChoice(dataflow=df)) for df in
                ("ws", "os", "is")]
    assert found.best.cycles <= min(r.cycles for r in defaults)
    assert found.best.details["dataflow"] != "ws"
    assert found.fixed.details["t_tile"] < found.fixed.details["t"]   # WS chunks to fit
    assert found.best.utilization > found.fixed.utilization
    assert found.candidates > 6


# -------------------------------------------------------------------------------------- CLI
TOPO = sc.TOPOLOGIES / "Resnet50.csv"


def test_cli_gilt_mode_writes_csv_and_json(tmp_path, capsys):
    out_csv, out_json = tmp_path / "l.csv", tmp_path / "r.json"
    rc = gilt_main(["npu", "--hw", "npu-32x32", "--topology", str(TOPO), "--dataflow", "os",
                    "--csv", str(out_csv), "--json", str(out_json), "--search", "--fm-tile",
                    "4x4"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "MAC util" in text and "CB2a_1" in text and "best mapping" in text
    rows = list(csv.DictReader(open(out_csv, encoding="utf-8")))
    assert len(rows) == 54 and {"cycles", "utilization", "mapping_efficiency"} <= set(rows[0])
    assert rows[0]["fm_tile"] == "4x4"
    data = json.loads(out_json.read_text())
    assert data["totals"]["layers"] == 54 and len(data["search"]) == 54
    assert data["totals"]["cycles"] == pytest.approx(sum(float(r["cycles"]) for r in rows))


def test_cli_scalesim_config_writes_compute_report(tmp_path, capsys):
    cfg = sc.write_cfg(sc.ScaleSimConfig(array_rows=32, array_cols=32, dataflow="is"),
                       tmp_path / "s.cfg")
    report = tmp_path / "COMPUTE_REPORT.csv"
    rc = gilt_main(["npu", "--scalesim-config", str(cfg), "--topology", str(TOPO),
                    "--compute-report", str(report), "--quiet"])
    assert rc == 0
    lines = report.read_text().splitlines()
    assert lines[0] == sc.COMPUTE_REPORT_HEADER and len(lines) == 55
    first = sc.scalesim_layer(sc.read_topology(TOPO)[0], 32, 32, "is")
    assert lines[1].split(", ")[2] == str(first["total_cycles"])
    assert "scalesim mode" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["npu", "--topology", str(TOPO), "--scalesim-config", "s.cfg", "--hw", "npu-32x32"],
     "--hw or --scalesim-config"),
    (["npu", "--hw", "npu-32x32", "--net", "resnet50", "--topology", str(TOPO)],
     "--net or --topology"),
    (["npu", "--hw", "nope", "--topology", str(TOPO)], "not found"),
    (["npu", "--hw", "npu-32x32", "--topology", "missing.csv"], "does not exist"),
    (["npu", "--hw", "npu-32x32", "--topology", str(TOPO), "--compute-report", "x.csv"],
     "scalesim mode"),
    (["npu", "--hw", "npu-32x32", "--topology", str(TOPO), "--fm-tile", "4by4"], "4x4"),
])
def test_cli_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gilt_main(argv) == 2
    assert message in capsys.readouterr().err


def test_mapping_choice_overrides_dataflow():
    layer = LayerWork.matmul("g", m=64, n=64, k=64)
    res = simulate_layer(layer, "npu-32x32", MappingChoice(dataflow="is", loop_order="rows-outer"))
    assert (res.details["dataflow"], res.details["loop_order"]) == ("is", "rows-outer")


def test_python_example_in_docs_runs():
    """The Python block of docs/sim-npu.md is run as written."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "sim-npu.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    scope: dict = {}
    exec(compile(block, "docs/sim-npu.md", "exec"), scope)
    assert scope["net"].utilization > 0 and scope["layer"].details["t_tile"] == 256


def test_cli_timeline_csv_and_png(tmp_path):
    csv_path, png_path = tmp_path / "t.csv", tmp_path / "t.png"
    for path in (csv_path, png_path):
        assert gilt_main(["npu", "--hw", "npu-32x32", "--topology", str(TOPO), "--quiet",
                          "--timeline", str(path)]) == 0
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert rows[0]["layer"] == "Conv1" and rows[-1]["layer"] == "FC6"
    starts = [int(r["start_cycle"]) for r in rows]
    assert starts == sorted(starts)
    assert png_path.read_bytes()[:4] == b"\x89PNG"


def test_cli_net_goes_through_networks_workload_for(monkeypatch, capsys):
    """--net asks networks.workload_for (the network package's entry point) for the workload."""
    import sys
    import types

    calls = []

    def workload_for(name, *, batch, precision):
        calls.append((name, batch, precision))
        return Workload("fake", (LayerWork.matmul("fc", m=batch, n=10, k=64),))

    monkeypatch.setitem(sys.modules, "networks", types.SimpleNamespace(
        workload_for=workload_for, MODELS={"anything": None}))
    assert gilt_main(["npu", "--hw", "npu-32x32", "--net", "anything", "--batch", "4",
                      "--precision", "w4a8"]) == 0
    assert calls == [("anything", 4, "w4a8")]
    assert "fc" in capsys.readouterr().out


def test_cli_user_bandwidth_reports_its_stalls(tmp_path, capsys):
    """USER mode is reproduced (stalls included): every report is written, no warning."""
    topo = tmp_path / "g.csv"
    topo.write_text("Layer, M, N, K,\nqkv,24,40,16,\n")
    cfg = sc.write_cfg(sc.ScaleSimConfig(interface_bandwidth="USER", array_rows=8,
                                         array_cols=8, ifmap_sram_kib=1, filter_sram_kib=1,
                                         ofmap_sram_kib=1, bandwidth_words_per_cycle=(1,),
                                         ifmap_bank_bandwidth=1, ifmap_bank_num=1,
                                         filter_bank_bandwidth=1, filter_bank_num=1),
                       tmp_path / "u.cfg")
    out = tmp_path / "reports"
    assert gilt_main(["npu", "--scalesim-config", str(cfg), "--topology", str(topo), "--gemm",
                      "--report-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    stall = int(out.joinpath("COMPUTE_REPORT.csv").read_text().splitlines()[1].split(", ")[3])
    assert stall > 0
    assert {p.name for p in out.iterdir()} == {"COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv",
                                               "DETAILED_ACCESS_REPORT.csv", "GILT_METHOD.csv"}
    assert "replay" in out.joinpath("GILT_METHOD.csv").read_text()

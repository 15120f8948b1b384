"""SCALE-Sim compatibility: its files read as they are, and every report item reproduced exactly.

The oracle is SCALE-Sim 3.0.0 itself: run live on small layers (skipped, with the reason, when its
venv cannot be built), in CALC and USER bandwidth modes (stalling and not), and through the
results it produced for the benchmark sweep (6 configurations x CALC/USER x 4 topologies) and
ResNet-50, stored in benchmarks/data/ by benchmarks/bench_npu.py. Reports are compared as files:
the text gilt writes against the text SCALE-Sim writes, line by line."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from common.workload import LayerWork
from simulator.npu import scalesim_compat as sc
from simulator.npu.model import simulate_layer, topology_rows
from simulator.npu.scalesim.model import simulate_row
from simulator.npu.spec import load_npu_spec

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
STORED = DATA / "npu_scalesim_resnet50.csv"

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


def assert_files_equal(ours: list, oracle: list[dict], config: sc.ScaleSimConfig):
    """Every report file gilt writes equals the one SCALE-Sim writes, line by line."""
    assert len(ours) == len(oracle)
    kinds = ["compute", "bandwidth", "detail"] + (["sparse"] if config.sparsity_support else [])
    for kind in kinds:
        kw = {"sparse": config.sparsity_support, "sparse_rep": config.sparse_rep}
        mine = sc.report_text(kind, [r.strings(kind) for r in ours], **kw).splitlines()
        theirs = sc.report_text(kind, [r[kind] for r in oracle], **kw).splitlines()
        for a, b in zip(mine, theirs):
            assert a == b, (kind, a, b)


# ------------------------------------------------------------------------------ file formats
def test_read_topology_as_scalesim_does(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\n\nConv1,224,224,7,7,3,64,2,\n"
                    "DPconv,16,16,3,3,3,1,1,\nsparse,8,8,1,1,4,4,1,2:4,\n")
    rows = sc.read_topology(path)
    assert [r.name for r in rows] == ["Conv1", "DPconvChannel_0", "DPconvChannel_1",
                                      "DPconvChannel_2", "sparse"]
    assert (rows[0].ofmap_h, rows[0].ofmap_w) == (110, 110)  # ceil((224 - 7 + 2) / 2)
    assert rows[1].channels == 1 and rows[1].filters == 1
    assert rows[0].stride_w == 2
    assert (rows[4].sparsity_n, rows[4].sparsity_m) == (2, 4)
    assert (rows[0].sparsity_n, rows[0].sparsity_m) == (1, 1)


def test_read_gemm_topology(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("Layer, M, N, K,\ng0,100,30,70,\ng1,4,5,8,1:2,\n")
    row, sparse = sc.read_topology(path, gemm=True)
    assert (row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels, row.filters) \
        == (100, 70, 1, 70, 1, 30)
    assert row.macs == 100 * 30 * 70
    assert (sparse.sparsity_n, sparse.sparsity_m) == (1, 2)


@pytest.mark.parametrize("line, message", [
    ("bad,8,8,3,3,4,x,1,", "Num Filter"),
    ("bad,8,8,3,3,4,5,", "8 fields"),
    ("bad,2,2,3,3,4,5,1,", "larger than ifmap"),
    ("bad,8,8,3,3,4,5,1,2-4,", "N:M ratio"),
    ("bad,8,8,3,3,4,5,1,,", "N:M ratio"),            # SCALE-Sim fails on an empty ratio
    ("bad,8,8,3,3,4,5,1,3:2,", "N <= M"),
    ("bad,8,8,3,3,4,5,1,1:1,7,", "8 fields"),
    ("bad,8,8,3,3,0,5,1,", "Channels"),
])
def test_bad_topology_rows_are_named(tmp_path, line, message):
    path = tmp_path / "bad.csv"
    path.write_text("header,\n" + line + "\n")
    with pytest.raises(ValueError, match=message):
        sc.read_topology(path)


def test_cfg_round_trip(tmp_path):
    cfg = sc.ScaleSimConfig(run_name="x", array_rows=12, array_cols=14, dataflow="is",
                            ifmap_sram_kib=48, interface_bandwidth="USER",
                            bandwidth_words_per_cycle=(7, 3), ifmap_bank_bandwidth=6,
                            ifmap_bank_num=3, filter_bank_port=1, use_ramulator_trace=False,
                            sparsity_support=True, sparse_rep="csr")
    path = sc.write_cfg(cfg, tmp_path / "x.cfg")
    assert sc.read_cfg(path) == cfg
    calc = sc.write_cfg(sc.ScaleSimConfig(bandwidth_words_per_cycle=None), tmp_path / "c.cfg")
    assert "Bandwidth : auto" in calc.read_text()        # never read in CALC mode
    assert sc.read_cfg(calc).bandwidth_words_per_cycle is None


def _edited(tmp_path, name, old, new):
    text = sc.write_cfg(sc.ScaleSimConfig(interface_bandwidth="USER"), tmp_path / "base.cfg")
    path = tmp_path / name
    path.write_text(text.read_text().replace(old, new))
    return path


@pytest.mark.parametrize("old, new, message", [
    ("ArrayWidth : 32\n", "", "ArrayWidth"),
    ("Dataflow : ws", "Dataflow : rs", "silently run 'os'"),
    ("[layout]", "[layoutx]", r"\[layout\]"),
    ("SparsitySupport : false", "Sparse : false", "SparsitySupport"),
    ("InterfaceBandwidth : USER", "InterfaceBandwidth : user", "case-sensitive"),
    ("Bandwidth : 10\n", "", "Bandwidth"),
    ("Bandwidth : 10\n", "Bandwidth : auto\n", "Bandwidth must be an integer"),
    ("IfmapSRAMBankNum : 10", "IfmapSRAMBankNum : 3", "not divisible"),
    ("IfmapCustomLayout : False", "IfmapCustomLayout : maybe", "boolean"),
    ("IfmapOffset : 0", "IfmapOffset : -5", "-1"),
])
def test_cfg_errors_name_the_key(tmp_path, old, new, message):
    with pytest.raises(ValueError, match=message):
        sc.read_cfg(_edited(tmp_path, "bad.cfg", old, new))


def test_cfg_missing_file():
    with pytest.raises(ValueError, match="does not exist"):
        sc.read_cfg("/nonexistent/none.cfg")


def test_read_layout(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Layer name, a, b, c, d, e,\nL0,1,2,3,4,5,\nDPx,1,2,3,4,2,\n")
    assert sc.read_layout(path) == [[1, 2, 3, 4, 5], [1, 2, 3, 4, 2], [1, 2, 3, 4, 2]]
    path.write_text("Layer name,\nL0,1,x,\n")
    with pytest.raises(ValueError, match="field 3"):
        sc.read_layout(path)


def test_custom_layout_and_ramulator_refused(small_topology):
    row = sc.read_topology(small_topology)[0]
    with pytest.raises(ValueError, match="CustomLayout"):
        simulate_row(row, sc.ScaleSimConfig(filter_custom_layout=True))
    with pytest.raises(ValueError, match="Ramulator latency files"):
        simulate_row(row, sc.ScaleSimConfig(interface_bandwidth="USER",
                                            use_ramulator_trace=True))


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


def test_closed_form_equals_replay_in_calc_mode(small_topology):
    """scalesim_layer (compute side, no memory replay) agrees with the full model in CALC."""
    for row, df in itertools.product(sc.read_topology(small_topology), sc.DATAFLOWS):
        cfg = sc.ScaleSimConfig(array_rows=4, array_cols=6, dataflow=df, ifmap_sram_kib=1,
                                filter_sram_kib=1, ofmap_sram_kib=1)
        full = simulate_row(row, cfg)
        quick = sc.scalesim_layer(row, 4, 6, df)
        assert [str(quick[k]) for k in sc.COMPARED] == \
            [full.strings(rep)[i] for rep, i in sc.COMPARED.values()]


# --------------------------------------------------------------------------- the oracle, live
@pytest.fixture(scope="module")
def oracle():
    ok, why = sc.oracle_available()
    if not ok:
        pytest.skip(why)
    return True


def _small_config(mode: str, dataflow: str, **kw) -> sc.ScaleSimConfig:
    base = dict(array_rows=4, array_cols=6, dataflow=dataflow, ifmap_sram_kib=1,
                filter_sram_kib=1, ofmap_sram_kib=1, interface_bandwidth=mode,
                bandwidth_words_per_cycle=(3,), ifmap_bank_bandwidth=5, ifmap_bank_num=5,
                filter_bank_bandwidth=4, filter_bank_num=2)
    base.update(kw)
    return sc.ScaleSimConfig(**base)


@pytest.mark.oracle
@pytest.mark.parametrize("mode, dataflow", list(itertools.product(("CALC", "USER"),
                                                                  sc.DATAFLOWS)))
def test_reports_equal_scalesim(oracle, small_topology, mode, dataflow):
    cfg = _small_config(mode, dataflow)
    reference = sc.run_oracle(cfg, small_topology, timeout_s=600)
    ours = sc.simulate_topology(sc.read_topology(small_topology), cfg)
    assert_files_equal(ours, reference, cfg)


@pytest.mark.oracle
@pytest.mark.parametrize("bandwidth, stalls", [(1, True), (200, False)])
def test_user_mode_stalls_equal_scalesim(oracle, tmp_path, bandwidth, stalls):
    """USER mode where SCALE-Sim stalls (starved interfaces) and where it does not."""
    topo = tmp_path / "t.csv"
    topo.write_text("Layer, M, N, K,\nqkv,24,40,16,\nffn,16,24,40,\n")
    cfg = _small_config("USER", "ws", bandwidth_words_per_cycle=(bandwidth,),
                        ifmap_bank_bandwidth=bandwidth, ifmap_bank_num=1,
                        filter_bank_bandwidth=bandwidth, filter_bank_num=1, ifmap_sram_kib=2,
                        filter_sram_kib=1)
    reference = sc.run_oracle(cfg, topo, gemm=True, timeout_s=600)
    assert (sum(int(r["compute"][2]) for r in reference) > 0) == stalls
    assert_files_equal(sc.simulate_topology(sc.read_topology(topo, gemm=True), cfg), reference,
                       cfg)


@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["CALC", "USER"])
def test_multicore_equals_scalesim_per_core(oracle, small_topology, mode):
    from simulator.npu.scalesim.multicore import simulate_multicore

    cfg = _small_config(mode, "os")
    reference = sc.run_oracle(cfg, small_topology, cores=(2, 2), layers=[0, 1, 2],
                              timeout_s=600)
    rows = sc.read_topology(small_topology)[:3]
    ours = simulate_multicore(rows, cfg, (2, 2))
    assert [r.name for r in ours] == [f"{ref['name']}:core{ref['core']}" for ref in reference]
    assert_files_equal(ours, reference, cfg)


SPARSE_TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
a,8,8,3,3,4,20,1,2:4,
b,10,9,2,2,5,7,2,1:4,
c,7,7,1,1,33,65,1,3:8,
d,6,6,3,3,2,9,1,
e,1,1,1,1,70,10,1,2:3,
"""


@pytest.mark.oracle
@pytest.mark.parametrize("rep, dataflow, mode", [("ellpack_block", "ws", "CALC"),
                                                 ("csr", "os", "USER"), ("csc", "is", "USER")])
def test_sparse_rows_equal_scalesim(oracle, tmp_path, rep, dataflow, mode):
    """N:M structured sparsity (SparsitySupport) in every report, SPARSE_REPORT.csv included."""
    topo = tmp_path / "sparse.csv"
    topo.write_text(SPARSE_TOPOLOGY)
    cfg = _small_config(mode, dataflow, sparsity_support=True, sparse_rep=rep)
    reference = sc.run_oracle(cfg, topo, timeout_s=600)
    assert all("sparse" in r for r in reference)
    assert_files_equal(sc.simulate_topology(sc.read_topology(topo), cfg), reference, cfg)


@pytest.mark.oracle
@pytest.mark.parametrize("dataflow, queue", [("ws", 3), ("os", 32), ("is", 4)])
def test_ramulator_latencies_equal_scalesim(oracle, small_topology, tmp_path, dataflow, queue):
    """USER mode with SCALE-Sim's Ramulator hook: per-line latency files (some over 10000,
    some running out) and small request buffers that fill up."""
    import numpy as np

    rng = np.random.default_rng(len(dataflow) + queue)
    results = tmp_path / "results"
    results.mkdir()
    for layer in range(5):
        for port in ("ifmap", "filter", "ofmap"):
            lat = rng.integers(1, 60, int(rng.integers(5, 400)))
            lat[rng.integers(0, lat.size, 2)] = 20000
            np.save(results / f"_{port}File{layer}.npy", lat)
    cfg = _small_config("USER", dataflow, use_ramulator_trace=True, read_request_buffer=queue,
                        write_request_buffer=queue)
    reference = sc.run_oracle(cfg, small_topology, ramulator_dir=results, timeout_s=600)
    ours = sc.simulate_topology(sc.read_topology(small_topology), cfg, ramulator_dir=results)
    assert_files_equal(ours, reference, cfg)
    with pytest.raises(ValueError, match="does not exist"):
        sc.simulate_topology(sc.read_topology(small_topology), cfg, ramulator_dir=tmp_path)


def test_sparse_optimized_mapping_refused(small_topology):
    row = sc.read_topology(small_topology)[0]
    with pytest.raises(ValueError, match="OptimizedMapping"):
        simulate_row(row, sc.ScaleSimConfig(sparsity_support=True,
                                            sparsity_optimized_mapping=True))


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
    assert result.cycles == sum(int(r["compute"][1]) for r in reference)
    assert result.details["sram_ifmap_reads"] == sum(int(r["detail"][2]) for r in reference)


@pytest.mark.oracle
def test_user_cfg_file_reaches_the_oracle_as_it_is(oracle, small_topology, tmp_path):
    """A user's .cfg (its [layout] bank bandwidths included) is copied to SCALE-Sim as is."""
    cfg = _small_config("USER", "is", ifmap_bank_bandwidth=9, ifmap_bank_num=3)
    path = sc.write_cfg(cfg, tmp_path / "user.cfg")
    layout = tmp_path / "layout.csv"
    layout.write_text("Layer name,\n")
    reference = sc.run_oracle(path, small_topology, layout=layout, layers=[0, 3])
    rows = sc.read_topology(small_topology)
    assert_files_equal([simulate_row(rows[0], cfg), simulate_row(rows[3], cfg)], reference,
                       sc.read_cfg(path))


def test_oracle_timeout_is_enforced(monkeypatch, tmp_path):
    """A runner that stops printing is killed at the timeout."""
    from simulator.npu.scalesim import oracle as orc

    script = tmp_path / "slow.py"
    script.write_text("import time\nprint('{}', flush=True)\ntime.sleep(60)\n")
    import sys

    with pytest.raises(TimeoutError):
        orc._read_rows([sys.executable, str(script)], str(tmp_path),
                       open(tmp_path / "err.txt", "w+"), 1.5, None)


# ---------------------------------------------------------------- the oracle, stored results
def test_stored_sweep_is_exact():
    """Every stored SCALE-Sim 3.0.0 report item of the benchmark sweep (6 configurations x
    CALC/USER x 4 topologies), as text."""
    from benchmarks import bench_npu

    if not bench_npu.SWEEP_CSV.exists():
        pytest.skip(f"{bench_npu.SWEEP_CSV} not recorded ({bench_npu.RECORD_COMMAND})")
    counts, _, _, mismatches = bench_npu.compare_sweep(timed=False)
    assert not mismatches, mismatches[:5]
    modes = {mode for mode, _, _ in counts}
    assert modes == {"CALC", "USER"}
    assert all(total >= 6 * 4 for _, total in counts.values())


def test_stored_resnet50_comparison_is_exact():
    """Every stored SCALE-Sim 3.0.0 row (ResNet-50 layers x ws/os/is x 32x32/128x128, CALC)."""
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


def test_energy_is_counts_times_table(tmp_path, small_topology):
    """Accelergy-style energy: each action's count (from the reports) times its table entry."""
    from simulator.npu.scalesim.energy import layer_energy, load_ert, sram_pj_per_byte

    table = tmp_path / "ert.yaml"
    table.write_text("name: t\ncomponents:\n  pe_array: {mac_random: 2.0, mac_idle: 0.5}\n"
                     "  sram:\n    read_per_byte_by_kib: [[1, 1.0], [4, 3.0]]\n"
                     "    write_per_byte_by_kib: [[1, 10.0], [4, 10.0]]\n"
                     "  dram: {read_per_byte: 100.0, write_per_byte: 1000.0}\n")
    ert = load_ert(str(table))
    assert sram_pj_per_byte([[1, 1.0], [4, 3.0]], 2) == 2.0       # halfway in log2(KiB)
    assert sram_pj_per_byte([[1, 1.0], [4, 3.0]], 64) == 3.0      # clamped
    cfg = sc.ScaleSimConfig(array_rows=4, array_cols=6, ifmap_sram_kib=2, filter_sram_kib=1,
                            ofmap_sram_kib=4)
    row = sc.read_topology(small_topology)[0]
    rep = simulate_row(row, cfg)
    e = layer_energy(rep, cfg, row.macs, ert)
    d = [float(x) for x in rep.strings("detail")]
    assert e["pe_array.mac_random"] == 2.0 * row.macs
    assert e["pe_array.mac_idle"] == 0.5 * (rep.total_cycles * 24 - row.macs)
    assert e["ifmap_sram.read"] == 2.0 * d[2] and e["filter_sram.read"] == 1.0 * d[5]
    assert e["ofmap_sram.write"] == 10.0 * d[8]
    assert e["dram.read"] == 100.0 * (d[11] + d[14]) and e["dram.write"] == 1000.0 * d[17]
    with pytest.raises(ValueError, match="does not exist"):
        load_ert("nope")
    assert load_ert()["components"]["pe_array"]["mac_random"] > 0      # the shipped table


def test_cli_reports_cores_and_energy(tmp_path, small_topology, capsys):
    from gilt.cli import main as gilt_main

    cfg = sc.write_cfg(_small_config("CALC", "os"), tmp_path / "c.cfg")
    out = tmp_path / "rep"
    assert gilt_main(["npu", "--scalesim-config", str(cfg), "--topology", str(small_topology),
                      "--report-dir", str(out), "--energy", "--cores", "1x2"]) == 0
    text = capsys.readouterr().out
    assert "energy (scalesim-45nm)" in text and "odd:core1" in text
    lines = (out / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert lines[0] == sc.COMPUTE_REPORT_HEADER and len(lines) == 1 + 2 * 5
    assert gilt_main(["npu", "--scalesim-config", str(cfg), "--topology", str(small_topology),
                      "--cores", "2by2"]) == 2
    assert "--cores" in capsys.readouterr().err

"""The main job end to end on small inputs: pipeline invariants, the report, the sweep with real
simulators on a local Dask cluster."""

import pytest

from gilt.cli import main
from gilt.pipeline import run_network
from gilt.sweep import evaluate_point, expand_grid, run_sweep


@pytest.fixture(scope="module")
def gated_run():
    return run_network("gated_net")


def test_golden_activity_is_consistent_with_its_dense_twin(gated_run):
    wl, dense = gated_run.workload, gated_run.dense_workload
    gated_layers = [la for la in wl.compute_layers if la.gate_mask is not None]
    assert gated_layers, "the seed's base module gates its 1x1 conv"
    for la in wl.compute_layers:
        assert la.macs_done + la.macs_skipped_gate + la.macs_skipped_zero == la.macs_dense
    # same compute layers, same dense MACs: the twin differs only in activity
    twin = {la.name: la for la in dense.compute_layers}
    for la in wl.compute_layers:
        assert twin[la.name].macs_dense == la.macs_dense
        assert twin[la.name].macs_done == twin[la.name].macs_dense
    # top-k 0.5 keeps half of each gated layer's input channels per sample
    for la in gated_layers:
        kept = la.gate_mask.mean()
        assert kept == pytest.approx(0.5, abs=0.5 / la.in_channels + 1e-9)
        assert la.macs_skipped_gate == pytest.approx(la.macs_dense * (1 - kept), rel=1e-9)


def test_every_target_costs_every_layer(gated_run):
    for target, result in gated_run.results.items():
        assert result.target == target
        assert [r.name for r in result.layers] == [la.name for la in gated_run.workload.layers]
        assert all(r.time_s > 0 and 0 <= r.utilization <= 1 for r in result.layers)
    # skipped MACs never cost an NPU more than the dense twin on the same array
    assert gated_run.results["npu"].cycles <= gated_run.dense_results["npu"].cycles + sum(
        r.cycles for r in gated_run.results["npu"].layers
        if r.name not in {la.name for la in gated_run.dense_workload.layers})


def test_gilt_report_writes_markdown_html_and_figures(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", "--net", "gated_net", "--out", str(out)]) == 0
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names == ["npu_timeline_gated_net.png", "roofline_gated_net.png",
                     "savings_gated_net.png", "util_gated_net.png"]
    for png in (out / "figures").iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "index.html").read_text()
    md = (out / "report.md").read_text()
    for name in names:
        assert f"figures/{name}" in html and f"figures/{name}" in md
    printed = capsys.readouterr().out
    assert "gated_net" in printed and "npu-32x32" in printed


def test_report_rejects_skipping_every_target(tmp_path, capsys):
    assert main(["report", "--net", "gated_net", "--gpu", "-", "--cpu", "-", "--npu", "-",
                 "--out", str(tmp_path / "x")]) == 2
    assert "every target was skipped" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_sweep_with_real_simulators_on_a_local_dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    spec = {"networks": ["gated_net"], "precisions": ["w8a8", "w4a8"],
            "targets": {"npu": {"presets": ["npu-32x32"], "vary": {"array_rows": [16, 32]}},
                        "gpu": {"presets": ["a100_sxm4_40gb"]}}}
    points = expand_grid(spec)
    assert len(points) == 2 * (2 + 1)
    serial = run_sweep(points, evaluate=evaluate_point, workers=1, progress=False)
    assert all(not r["error"] for r in serial), [r["error"] for r in serial]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = run_sweep(points, evaluate=evaluate_point, scheduler=client, progress=False)
    assert on_dask == serial
    npu = {(r["precision"], r["overrides"]): r for r in serial if r["target"] == "npu"}
    # a 16-row array needs at least as many cycles as a 32-row one for the same network
    for prec in ("w8a8", "w4a8"):
        assert npu[(prec, "array_rows=16")]["cycles"] >= npu[(prec, "array_rows=32")]["cycles"]


def test_sweep_reports_a_bad_override_as_an_error_row():
    (point,) = expand_grid({"networks": ["gated_net"],
                            "targets": {"npu": {"presets": ["npu-32x32"],
                                                "vary": {"array_rowz": [16]}}}})
    row = evaluate_point(point)
    assert "array_rowz" in row["error"]

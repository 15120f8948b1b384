"""Sweep grid expansion, local pool and a local Dask cluster give the same table."""

import csv
import io

import pytest

from gilt.progress import Progress
from gilt.sweep import SweepPoint, expand_grid, run_sweep, write_table

SPEC = {
    "networks": ["netA", "netB"],
    "precisions": ["w8a8", "w4a8"],
    "batch": [1, 4],
    "targets": {"npu": {"presets": ["npu_32x32"], "vary": {"rows": [8, 16], "cols": [8]}},
                "gpu": {"presets": ["a100_sxm4_40gb"]}},
}


def fake_evaluate(point: SweepPoint) -> dict:
    """Deterministic stand-in for a simulator: depends only on the point."""
    rows = dict(point.overrides).get("rows", 1)
    return {"network": point.network, "precision": point.precision, "batch": point.batch,
            "target": point.target, "hardware": point.hardware,
            "overrides": point.overrides_text, "time_s": point.batch / rows,
            "throughput_per_s": float(rows), "utilization": 0.5, "error": ""}


def test_grid_is_the_full_cross_product_sorted():
    points = expand_grid(SPEC)
    # 2 nets x 2 precisions x 2 batches x (npu: 2 row values x 1 col value + gpu: 1)
    assert len(points) == 2 * 2 * 2 * (2 + 1)
    assert points == sorted(points)
    assert len(set(points)) == len(points)
    npu = [p for p in points if p.target == "npu"]
    assert {p.overrides for p in npu} == {(("cols", 8), ("rows", 8)), (("cols", 8), ("rows", 16))}


@pytest.mark.parametrize("bad, match", [
    ({**SPEC, "netwroks": []}, "unknown key"),
    ({**SPEC, "networks": []}, "'networks' must not be empty"),
    ({**SPEC, "batch": [0]}, "positive ints"),
    ({**SPEC, "targets": {"tpu": {"presets": ["x"]}}}, "gpu, cpu, npu"),
    ({**SPEC, "targets": {"npu": {"preset": ["x"]}}}, "unknown key"),
])
def test_grid_rejects_bad_specs(bad, match):
    with pytest.raises(ValueError, match=match):
        expand_grid(bad)


def test_process_pool_matches_serial():
    points = expand_grid(SPEC)
    serial = run_sweep(points, evaluate=fake_evaluate, workers=1, progress=False)
    pooled = run_sweep(points, evaluate=fake_evaluate, workers=2, progress=False)
    assert serial == pooled
    assert [r["network"] for r in serial] == [p.network for p in points]


def test_local_dask_cluster_matches_serial():
    distributed = pytest.importorskip("dask.distributed")
    points = expand_grid(SPEC)
    serial = run_sweep(points, evaluate=fake_evaluate, workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = run_sweep(points, evaluate=fake_evaluate, scheduler=client, progress=False)
    assert on_dask == serial


def test_table_is_written_atomically_and_reads_back(tmp_path):
    rows = run_sweep(expand_grid(SPEC)[:3], evaluate=fake_evaluate, workers=1, progress=False)
    path = write_table(rows, tmp_path / "sweep.csv")
    back = list(csv.DictReader(path.open()))
    assert [r["network"] for r in back] == [r["network"] for r in rows]
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.csv"]  # no temp files left


def test_progress_prints_deciles_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(20, "work", stream=stream)
    for _ in range(20):
        bar.step()
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("work [") and "20/20" in lines[-1]
    assert len(lines) == 11  # 0%..100% by tenths
    with pytest.raises(ValueError, match="total"):
        Progress(-1)

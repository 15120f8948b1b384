"""The sweep files in examples/ and the example of gilt.sweep's docstring: every grid checks
(networks, presets, overridden spec values), README's runs end to end into a tidy CSV and a
plot, and a sample of every other grid's points runs without error; the whole grids run in the
slow suite."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

import gilt.sweep
from gilt.cli import main
from gilt.sweep import check_grid, evaluate_point, expand_grid, load_spec_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("sweep*.yaml"))


def _stated_points(path: Path) -> int:
    """The point count the file's comment states ("... = 24 points")."""
    (count,) = re.findall(r"= (\d+) points", path.read_text())
    return int(count)


def test_examples_cover_hardware_fields_networks_and_precisions():
    specs = [load_spec_file(p) for p in EXAMPLES]
    assert len(specs) >= 4
    varied = {k for s in specs for t in s["targets"].values() for k in (t or {}).get("vary", {})}
    assert {"array_rows", "array_cols", "dataflow"} <= varied
    assert {n for s in specs for n in s["networks"]} >= {"resnet50", "gated_net", "bert_base",
                                                         "mobilenetv3_large"}
    assert {p for s in specs for p in s.get("precisions", [])} == {"float32", "w8a8", "w4a8"}
    assert {t for s in specs for t in s["targets"]} == {"npu", "gpu", "cpu"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_grid_checks_and_a_sample_runs(path):
    points = expand_grid(load_spec_file(path))
    assert len(points) == _stated_points(path)
    check_grid(points)
    for point in (points[0], points[len(points) // 2], points[-1]):
        row = evaluate_point(point)
        assert not row["error"], (point, row["error"])
        assert row["time_s"] > 0 and 0 < row["utilization"] <= 1


def test_docstring_example_is_the_example_file():
    (block,) = re.findall(r"::\n\n((?:    .*\n|\n)+)", gilt.sweep.__doc__)
    in_docstring = yaml.safe_load("\n".join(line[4:] for line in block.splitlines()))
    assert in_docstring == load_spec_file(ROOT / "examples" / "sweep-docstring.yaml")
    assert len(expand_grid(in_docstring)) == 80


def test_readme_sweep_runs_into_a_tidy_csv_and_a_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", str(ROOT / "examples" / "sweep.yaml"), "--out", str(out),
                 "--workers", "1"]) == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == _stated_points(ROOT / "examples" / "sweep.yaml")
    assert not any(r["error"] for r in rows)
    keys = {(r["network"], r["precision"], r["target"], r["hardware"]) for r in rows}
    assert len(keys) == len(rows)  # one row per point
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "24 points (0 failed)" in capsys.readouterr().out


def test_varied_fields_get_their_own_columns(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({
        "networks": ["gated_net"],
        "targets": {"npu": {"presets": ["npu-32x32"],
                            "vary": {"array_rows": [16, 32], "dataflow": ["ws", "os"]}},
                    "gpu": {"presets": ["h100-sxm5"]}}}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "1"]) == 0
    rows = list(csv.DictReader((tmp_path / "o" / "sweep.csv").open()))
    assert len(rows) == 5
    npu = [r for r in rows if r["target"] == "npu"]
    assert {(r["array_rows"], r["dataflow"]) for r in npu} == {
        ("16", "ws"), ("16", "os"), ("32", "ws"), ("32", "os")}
    gpu = next(r for r in rows if r["target"] == "gpu")
    assert gpu["array_rows"] == "" and gpu["dataflow"] == ""


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_runs_whole(path, tmp_path):
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2"]) == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == _stated_points(path) and not any(r["error"] for r in rows)

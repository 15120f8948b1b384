"""The GPU validation data and its split: enough cited rows from independent sources, no
DeepBench, a deterministic fit/held-out split, the stored run current, doctests of the model."""

import doctest
import json
from pathlib import Path

import pytest

from gilt.experiments import gpu_validation
from simulator.gpu import model as gpu_model

DATA = Path(__file__).parents[2] / "benchmarks" / "data"


def test_kernel_rows_are_cited_and_from_three_sources():
    kernels, networks = gpu_validation.load_rows()
    assert len(kernels) >= 60
    assert len({r["source"] for r in kernels}) >= 3
    assert {r["preset"] for r in kernels} >= {"v100_sxm2", "a100_sxm4_80gb", "h100_sxm5"}
    for r in kernels + networks:
        assert len(r["citation"]) > 40, r["id"]
    assert {(r["network"], r["scenario"]) for r in networks} >= {
        ("resnet50", "Offline"), ("resnet50", "SingleStream"), ("bert-99", "Offline")}
    assert len({r["round"] for r in networks}) >= 2


def test_deepbench_stays_out_of_the_fit_data():
    for name in ("gpu_kernels.csv", "gpu_networks.csv"):
        rows = gpu_validation._read(DATA / name)
        assert not any("deepbench" in json.dumps(r).lower() for r in rows)


def test_split_is_deterministic_and_covers_every_row():
    kernels, networks = gpu_validation.load_rows()
    again, _ = gpu_validation.load_rows()
    assert [r["half"] for r in kernels] == [r["half"] for r in again]
    halves = {r["half"] for r in kernels + networks}
    assert halves == {"fit", "held-out"}
    held = sum(r["half"] == "held-out" for r in kernels)
    assert 0.4 * len(kernels) <= held <= 0.5 * len(kernels)


def test_stored_validation_matches_the_data():
    stored = json.loads((DATA / "gpu_validation.json").read_text())
    kernels, networks = gpu_validation.load_rows()
    assert {r["id"] for r in stored["rows"]} == {r["id"] for r in kernels + networks}
    assert stored["summary"]["held_out"]["network"]["n"] == 3


@pytest.mark.slow
def test_stored_validation_is_current_model():
    stored = json.loads((DATA / "gpu_validation.json").read_text())
    kernels, networks = gpu_validation.load_rows()
    rows = gpu_validation.errors(kernels, networks)
    assert gpu_validation.report(rows) == stored["summary"]["held_out"]


@pytest.mark.parametrize("module", [gpu_model, gpu_validation])
def test_docstring_formulas_hold(module):
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0 and result.failed == 0

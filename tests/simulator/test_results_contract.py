"""One result type with one meaning on every target (simulator/results.py): the cycle split,
the derived bound, MACs apart from other operations, and the same spec inputs everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import networks
from gilt import targets
from simulator.results import BOUNDS, LayerResult

WORKLOADS = {name: networks.workload_for(name, batch=1, precision="w8a8")
             for name in ("mobilenetv3_large", "bert_base")}


@pytest.fixture(scope="module", params=targets.TARGETS)
def results(request):
    target = request.param
    hw = targets.load_hardware(target, targets.DEFAULT_PRESETS[target])
    return {name: targets.simulate(target, wl, hw) for name, wl in WORKLOADS.items()}


def test_every_layer_splits_its_cycles_the_same_way(results):
    for result in results.values():
        for layer in result.layers:
            parts = {"compute": layer.compute_cycles, "memory": layer.memory_cycles,
                     "overhead": layer.overhead_cycles}
            assert layer.cycles == pytest.approx(
                layer.compute_cycles + layer.stall_cycles + layer.overhead_cycles, rel=1e-9)
            assert layer.memory_cycles <= layer.cycles * (1 + 1e-9)
            assert layer.compute_cycles + layer.memory_cycles > 0, layer.name
            assert layer.bound in BOUNDS and parts[layer.bound] == max(parts.values())


def test_macs_and_other_operations_are_counted_apart(results):
    for name, result in results.items():
        workload = WORKLOADS[name]
        assert result.macs_dense == workload.macs_dense
        assert result.ops == sum(layer.ops for layer in workload.layers) > 0
        for work, layer in zip(workload.layers, result.layers, strict=True):
            if work.is_compute:
                assert layer.macs_dense == work.macs_dense and layer.ops == 0
            else:
                assert layer.macs_dense == layer.macs_done == 0 and layer.utilization == 0
                assert layer.ops == work.ops > 0


def test_result_rejects_a_split_that_does_not_add_up():
    with pytest.raises(ValueError, match="compute \\+ stall \\+ overhead"):
        LayerResult(name="x", target="npu", cycles=10.0, time_s=1e-8, macs_dense=1,
                    macs_done=1, utilization=0.1, compute_cycles=4.0, stall_cycles=1.0)
    with pytest.raises(ValueError, match="memory_cycles"):
        LayerResult(name="x", target="npu", cycles=10.0, time_s=1e-8, macs_dense=1,
                    macs_done=1, utilization=0.1, compute_cycles=10.0, memory_cycles=11.0)
    with pytest.raises(ValueError, match="utilization"):
        LayerResult(name="x", target="npu", cycles=10.0, time_s=1e-8, macs_dense=1,
                    macs_done=1, utilization=1.5, compute_cycles=10.0)


def test_bound_is_derived_not_stored():
    r = LayerResult(name="x", target="cpu", cycles=12.0, time_s=1e-8, macs_dense=0,
                    macs_done=0, utilization=0.0, compute_cycles=2.0, memory_cycles=3.0,
                    stall_cycles=1.0, overhead_cycles=9.0)
    assert r.bound == "overhead" and r.as_row()["bound"] == "overhead"


def test_elementwise_layers_carry_no_macs():
    from common.workload import LayerWork

    with pytest.raises(ValueError, match="no MACs"):
        LayerWork(name="add", op="elementwise", batch=1, in_channels=2, in_h=1, in_w=1,
                  out_channels=1, out_h=1, out_w=1, macs_dense=2, macs_done=2)
    ew = LayerWork.elementwise("add", shape=(1, 4, 2, 2), inputs=2)
    assert ew.macs_dense == 0 and ew.ops == 16


@pytest.mark.parametrize("target", targets.TARGETS)
def test_every_target_takes_a_preset_name_a_yaml_path_or_a_dict(target, tmp_path):
    preset = targets.DEFAULT_PRESETS[target]
    by_name = targets.load_hardware(target, preset)
    module = {"gpu": "simulator/gpu/presets", "cpu": "simulator/cpu/presets",
              "npu": "simulator/npu/presets"}[target]
    source = Path(__file__).resolve().parents[2] / module / f"{preset}.yaml"
    data = yaml.safe_load(source.read_text())
    data.pop("sources", None)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    assert targets.load_hardware(target, str(path)) == by_name
    assert targets.load_hardware(target, data) == by_name

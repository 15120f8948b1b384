"""One door to the three hardware models, so the demo, reports and sweeps treat them alike.

Each model exposes ``load_<target>_spec(preset_or_path_or_dict)`` and
``simulate_network(workload, spec) -> NetworkResult``; this module maps target names to them and
applies sweep overrides (``dataclasses.replace`` on the frozen spec, so the spec's own invariant
checks run again on every overridden value).
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import lru_cache

from common.workload import Workload
from simulator.results import NetworkResult

TARGETS = ("gpu", "cpu", "npu")
#: Targets :func:`load_hardware` and :func:`simulate` also accept, not run by default: ``dla``
#: is an NVDLA engine (:mod:`simulator.npu.nvdla`; int8/fp16 only).
OPTIONAL_TARGETS = ("dla",)

#: Presets the demo and reports use when none is given (the same as every command's --hw).
DEFAULT_PRESETS = {"gpu": "a100-sxm4-40gb", "cpu": "zen5-epyc", "npu": "npu-32x32"}


#: target -> ((module, spec loader), (module, network simulator), (module, preset lister))
_ENTRY_POINTS = {
    "gpu": (("simulator.gpu.spec", "load_gpu_spec"), ("simulator.gpu.network", "simulate_network"),
            ("simulator.gpu.spec", "gpu_presets")),
    "cpu": (("simulator.cpu.presets", "load_cpu_spec"), ("simulator.cpu.model", "simulate_network"),
            ("simulator.cpu.presets", "cpu_presets")),
    "npu": (("simulator.npu.spec", "load_npu_spec"), ("simulator.npu.model", "simulate_network"),
            ("simulator.npu.spec", "npu_presets")),
    "dla": (("simulator.npu.nvdla.spec", "load_nvdla_spec"),
            ("simulator.npu.nvdla.model", "simulate_network"),
            ("simulator.npu.nvdla.spec", "nvdla_presets")),
}


def _entry(target: str, which: int):
    if target not in TARGETS + OPTIONAL_TARGETS:
        raise ValueError(f"target must be one of {TARGETS + OPTIONAL_TARGETS}, got {target!r}")
    module, name = _ENTRY_POINTS[target][which]
    return getattr(importlib.import_module(module), name)


def load_hardware(target: str, hw: object, overrides: dict | None = None):
    """The frozen spec of ``hw`` (preset name, YAML path or dict) with ``overrides`` applied."""
    spec = _entry(target, 0)(hw)
    if overrides:
        from simulator.spec import check_spec_value

        names = {f.name for f in dataclasses.fields(spec)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"{target} spec has no field(s) {unknown}; fields: {sorted(names)}")
        for key, value in overrides.items():
            check_spec_value(f"{target} spec", key, value)
        spec = dataclasses.replace(spec, **overrides)
    return spec


def presets(target: str) -> list[str]:
    return _entry(target, 2)()


def simulate(target: str, workload: Workload, spec) -> NetworkResult:
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a common.workload.Workload, got "
                        f"{type(workload).__name__}")
    return _entry(target, 1)(workload, spec)


@lru_cache(maxsize=32)
def cached_workload(network: str, precision: str, batch: int, input_size: int | None) -> Workload:
    """Shape-only workload of a built-in network or ONNX file (dense activity), cached per
    process so a sweep builds each network once per worker."""
    import networks

    return networks.workload_for(network, batch=batch, precision=precision,
                                 input_size=input_size)

"""One door to the three hardware models, so the demo, reports and sweeps treat them alike.

Each model package exposes ``load_<target>_spec(preset_or_path_or_dict)`` and
``simulate_network(workload, spec) -> NetworkResult``; this module maps target names to them and
applies sweep overrides (``dataclasses.replace`` on the frozen spec, so the spec's own invariant
checks run again on every overridden value).
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import lru_cache

from simulator.results import NetworkResult
from simulator.workload import Workload

TARGETS = ("gpu", "cpu", "npu")

#: Presets the demo and reports use when none is given.
DEFAULT_PRESETS = {"gpu": "a100_sxm4_40gb", "cpu": "zen5_epyc", "npu": "npu-32x32"}


def _module(target: str):
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return importlib.import_module(f"simulator.{target}")


def load_hardware(target: str, hw: object, overrides: dict | None = None):
    """The frozen spec of ``hw`` (preset name, YAML path or dict) with ``overrides`` applied."""
    spec = getattr(_module(target), f"load_{target}_spec")(hw)
    if overrides:
        names = {f.name for f in dataclasses.fields(spec)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"{target} spec has no field(s) {unknown}; fields: {sorted(names)}")
        spec = dataclasses.replace(spec, **overrides)
    return spec


def presets(target: str) -> list[str]:
    return getattr(_module(target), f"{target}_presets")()


def simulate(target: str, workload: Workload, spec) -> NetworkResult:
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simulator.workload.Workload, got "
                        f"{type(workload).__name__}")
    return _module(target).simulate_network(workload, spec)


@lru_cache(maxsize=32)
def cached_workload(network: str, precision: str, batch: int, input_size: int | None) -> Workload:
    """Shape-only workload of a built-in network or ONNX file (dense activity), cached per
    process so a sweep builds each network once per worker."""
    import networks

    return networks.workload_for(network, batch=batch, precision=precision,
                                 input_size=input_size)

"""Request-level serving simulation (seed C16: dynamic batching; sharded loading).

Pure functions and frozen dataclasses: a :class:`~simulator.serving.trace.Trace` of requests,
a :class:`~simulator.serving.cost.StepCost` (engine-step seconds tabulated from a hardware
model), schedulers in :mod:`simulator.serving.engine` (static, Triton-style dynamic,
vLLM-style continuous batching with a paged KV cache), MLPerf-style scenarios in
:mod:`simulator.serving.scenarios` and the sharded-loading planner in
:mod:`simulator.serving.sharding`.
"""

from simulator.serving.cost import StepCost, Table1D, Table2D
from simulator.serving.engine import (
    SCHEDULERS,
    ContinuousBatching,
    DynamicBatching,
    ServingResult,
    StaticBatching,
    simulate,
)
from simulator.serving.scenarios import RateSearch, Slo, max_rate, offline
from simulator.serving.sharding import (
    DeviceMemory,
    ShardPlan,
    device_presets,
    load_device,
    plan_shards,
)
from simulator.serving.trace import LengthDist, Trace, offline_trace, poisson_trace, read_trace_csv

__all__ = ["SCHEDULERS", "ContinuousBatching", "DeviceMemory", "DynamicBatching", "LengthDist",
           "RateSearch", "ServingResult", "ShardPlan", "Slo", "StaticBatching", "StepCost",
           "Table1D", "Table2D", "Trace", "device_presets", "load_device", "max_rate",
           "offline", "offline_trace", "plan_shards", "poisson_trace", "read_trace_csv",
           "simulate"]

"""Engines of one SoC running at once (a Jetson's GPU and its DLAs on shared DRAM).

MLPerf's Offline scenario on Jetson feeds every engine its own stream of samples; the total is
the sum of the engines' rates unless their DRAM traffic together exceeds what the memory system
delivers, in which case every engine slows by the same factor (a proportional share of the
bandwidth)::

    demand = sum_e rate_e * bytes_e        capacity = dram_bw * efficiency
    rate_e' = rate_e * min(1, capacity / demand)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineLoad:
    """One engine's standalone rate (samples/s) and DRAM bytes per sample."""

    name: str
    samples_per_s: float
    dram_bytes_per_sample: float

    def __post_init__(self):
        for key in ("samples_per_s", "dram_bytes_per_sample"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"EngineLoad.{key} must be a number >= 0, got {value!r}")


def concurrent_throughput(engines: list[EngineLoad], dram_bytes_per_s: float) -> dict:
    """Total samples/s of ``engines`` running together on ``dram_bytes_per_s`` of sustained
    DRAM bandwidth (module docstring). Returns the total, each engine's share and the
    bandwidth scaling applied (1.0: no contention)."""
    if not engines:
        raise ValueError("engines must name at least one engine")
    if not dram_bytes_per_s > 0:
        raise ValueError(f"dram_bytes_per_s must be > 0, got {dram_bytes_per_s!r}")
    demand = sum(e.samples_per_s * e.dram_bytes_per_sample for e in engines)
    scale = 1.0 if demand <= dram_bytes_per_s else dram_bytes_per_s / demand
    per = {e.name: e.samples_per_s * scale for e in engines}
    return {"samples_per_s": sum(per.values()), "per_engine": per, "bandwidth_scale": scale,
            "demand_gb_per_s": demand / 1e9, "capacity_gb_per_s": dram_bytes_per_s / 1e9}

"""MLPerf-style scenarios on the serving simulator.

* **Offline**: every request present at t = 0; the metric is throughput
  (:func:`offline`).
* **Server**: Poisson arrivals; the metric is the highest arrival rate whose 99th-percentile
  time to first token and time per output token stay within bounds (:func:`max_rate`, a
  bisection over the rate, each probe a full simulation of the same seeded trace shape).
  MLPerf Inference v4.0's Llama 2 70B Server scenario bounds TTFT at 2 s and TPOT at 200 ms
  (p99); :class:`Slo` takes any bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.serving.cost import StepCost
from simulator.serving.engine import ServingResult, simulate
from simulator.serving.trace import LengthDist, Trace, offline_trace, poisson_trace

__all__ = ["RateSearch", "Slo", "max_rate", "offline"]


@dataclass(frozen=True)
class Slo:
    """Latency bounds on percentile ``percentile`` of TTFT and TPOT (seconds)."""

    ttft_s: float = 2.0
    tpot_s: float = 0.2
    percentile: float = 99.0

    def __post_init__(self):
        for key in ("ttft_s", "tpot_s"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"Slo.{key} must be > 0, got {v!r}")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"Slo.percentile must be in (0, 100], got {self.percentile!r}")

    def met(self, result: ServingResult) -> bool:
        tpot = result.tpot_s[~np.isnan(result.tpot_s)]
        ttft_ok = np.percentile(result.ttft_s, self.percentile) <= self.ttft_s
        tpot_ok = not tpot.size or np.percentile(tpot, self.percentile) <= self.tpot_s
        return bool(ttft_ok and tpot_ok)


@dataclass(frozen=True)
class RateSearch:
    """Result of :func:`max_rate`: the highest rate found within the SLO (0 if even the
    lowest probe fails) and the simulation at that rate (None then)."""

    rate_per_s: float
    result: ServingResult | None
    probes: tuple[tuple[float, bool], ...]


def offline(n: int, cost: StepCost, scheduler, *, prompt: LengthDist, output: LengthDist,
            seed: int = 0) -> ServingResult:
    """MLPerf Offline: ``n`` requests at t = 0 through ``scheduler``."""
    return simulate(offline_trace(n, prompt=prompt, output=output, seed=seed), cost, scheduler)


def max_rate(cost: StepCost, scheduler, slo: Slo, *, n: int = 2000,
             prompt: LengthDist, output: LengthDist, seed: int = 0,
             trace: Callable[[float], Trace] | None = None, low: float = 0.01,
             high: float | None = None, iterations: int = 12) -> RateSearch:
    """MLPerf Server: the highest Poisson arrival rate (requests/s) meeting ``slo``.

    ``high`` defaults to twice the Offline request throughput of the same request mix (no
    arrival process can be served faster); the search bisects in log space between ``low``
    and ``high`` for ``iterations`` probes."""
    make = trace or (lambda rate: poisson_trace(n, rate, prompt=prompt, output=output,
                                                seed=seed))
    if high is None:
        off = offline(min(n, 2000), cost, scheduler, prompt=prompt, output=output, seed=seed)
        high = 2.0 * off.summary()["requests_per_s"]
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got {low!r}, {high!r}")
    probes = []
    best_rate, best = 0.0, None
    lo, hi = np.log(low), np.log(high)
    first = simulate(make(low), cost, scheduler)
    probes.append((low, slo.met(first)))
    if not probes[-1][1]:
        return RateSearch(0.0, None, tuple(probes))
    best_rate, best = low, first
    for _ in range(iterations):
        mid = float(np.exp((lo + hi) / 2))
        res = simulate(make(mid), cost, scheduler)
        ok = slo.met(res)
        probes.append((mid, ok))
        if ok:
            lo, best_rate, best = np.log(mid), mid, res
        else:
            hi = np.log(mid)
    return RateSearch(best_rate, best, tuple(probes))

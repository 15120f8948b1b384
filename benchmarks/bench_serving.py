"""Speed of the serving simulator (issue 20): a 10,000-request trace must simulate in seconds.

Peer measured in the same run: evaluating the engine-step cost once per simulated step, one
Python call per step (what any step-by-step simulator pays at least); the ratio says what the
scheduler's bookkeeping costs on top, or saves by taking runs of decode steps together. Also
timed: building the step-cost tables from the GPU model (once per deployment)."""

from __future__ import annotations

import os
import time

BUDGET_S = 10.0


def main() -> int:
    from gilt.llm import Deployment, step_cost
    from simulator.serving import (
        ContinuousBatching,
        DynamicBatching,
        LengthDist,
        StaticBatching,
        offline_trace,
        poisson_trace,
        simulate,
    )

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    cost = step_cost(Deployment("seed-8.0b", "w4a8", "gpu", "h100_sxm5"))
    print(f"step-cost tables (seed-8.0b w4a8, H100 model): {time.perf_counter() - t0:.2f} s")
    prompt, output = LengthDist("lognormal", 1024, 512, 16, 4096), \
        LengthDist("lognormal", 256, 128, 8, 1024)
    status = 0
    cases = [("poisson 20 req/s", poisson_trace(10_000, 20.0, prompt=prompt, output=output)),
             ("offline", offline_trace(10_000, prompt=prompt, output=output))]
    schedulers = [("continuous", ContinuousBatching()),
                  ("continuous, no chunking", ContinuousBatching(chunked_prefill=False)),
                  ("dynamic", DynamicBatching(32, 0.05)), ("static", StaticBatching(32))]
    for trace_name, trace in cases:
        for sched_name, sched in schedulers:
            t0 = time.perf_counter()
            res = simulate(trace, cost, sched)
            wall = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(res.steps):
                cost.decode_step(64, 64 * 1024)
            peer = time.perf_counter() - t0
            ok = wall < BUDGET_S
            status = status or (0 if ok else 1)
            s = res.summary()
            print(f"{trace_name:<17} {sched_name:<24} {len(trace):,} requests, "
                  f"{res.steps:>9,} steps: {wall:6.2f} s ({'ok' if ok else 'OVER'} "
                  f"{BUDGET_S:.0f} s), per-step cost loop {peer:5.2f} s, ratio "
                  f"{wall / peer:5.2f}x; simulated {s['makespan_s']:,.0f} s "
                  f"({s['makespan_s'] / wall:,.0f}x real time)")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

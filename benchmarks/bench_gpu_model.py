"""Speed of the GPU model: a whole ResNet-50 must simulate in under 1 s (issue 6).

Peer measured in the same run: building the same ResNet-50 workload (pure Python dataclass
construction), so the ratio says how much the model costs over just describing the network.
Also prints the published-data comparison (docs/sim-gpu.md)."""

from __future__ import annotations

import statistics
import time

BUDGET_S = 1.0


def _best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> int:
    from gilt.experiments.published import compare_published, format_comparison, resnet50_workload
    from simulator.gpu import load_gpu_spec, simulate_network

    spec = load_gpu_spec("a100-sxm4-80gb")
    status = 0
    for batch, precision in ((1, "w8a8"), (256, "w8a8"), (256, "fp16")):
        build_best, _ = _best_of(lambda b=batch, p=precision: resnet50_workload(b, p))
        wl = resnet50_workload(batch, precision)
        sim_best, sim_median = _best_of(lambda w=wl: simulate_network(w, spec))
        ratio = sim_best / build_best
        ok = sim_median < BUDGET_S
        status = status or (0 if ok else 1)
        print(f"resnet50 batch {batch:>3} {precision}: simulate {sim_best * 1e3:7.1f} ms "
              f"(median {sim_median * 1e3:.1f} ms, budget {BUDGET_S * 1e3:.0f} ms: "
              f"{'ok' if ok else 'OVER'}), build workload {build_best * 1e3:.2f} ms, "
              f"ratio simulate/build {ratio:.1f}x")
    print()
    print(format_comparison(compare_published()))
    return status


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of the golden model's tiled, zero-skipping and gated operators against the dense ones,
measured in the same run (ratios, not absolute targets), plus the tiling access model on
ResNet-50 (seed C7) and the checkpoint planner on BERT-base (seed C6).

    python -m benchmarks reference_ops
"""

from __future__ import annotations

import time

import numpy as np

from reference.checkpoint import (
    bert_base_layers,
    bert_base_static_bytes,
    evaluate_plan,
    optimal_plan,
    sqrt_plan,
)
from reference.conv_int import conv2d_int
from reference.gating import gated_conv2d_int
from reference.matmul_int import matmul_int
from reference.tiling import (
    BufferSizes,
    network_access_counts,
    resnet50_conv_shapes,
    tiled_conv2d_int,
)
from reference.zeroskip import skip_conv2d_int, skip_matmul_int


def _best_of(fn, repeat=5):
    """Best wall time of ``repeat`` runs after one warm-up (the machine is shared: best-of
    filters out other processes' load)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _blocky(rng, shape, density, block):
    """int8 tensor whose (block)-aligned blocks are zero with probability 1 - density."""
    v = rng.integers(-128, 128, shape).astype(np.int8)
    grid = tuple(-(-s // b) for s, b in zip(shape, block))
    keep = rng.random(grid) < density
    for axis, b in enumerate(block):
        keep = np.repeat(keep, b, axis=axis)
    return np.where(keep[tuple(slice(0, s) for s in shape)], v, 0).astype(np.int8)


def bench_ops() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 32, 32, 32)).astype(np.int8)
    w = rng.integers(-8, 8, (32, 32, 3, 3)).astype(np.int8)
    geo = dict(pads=(1, 1, 1, 1))
    dense = _best_of(lambda: conv2d_int(x, w, **geo))
    print(f"conv2d_int 1x32x32x32 * 32x32x3x3 dense: {dense * 1e3:8.2f} ms")
    t = _best_of(lambda: tiled_conv2d_int(x, w, **geo))
    _, rec = tiled_conv2d_int(x, w, **geo)
    print(f"  tiled 4x4 ({rec.grid[0] * rec.grid[1]} tiles, halo +{rec.halo_overhead:.0%} "
          f"input reads): {t * 1e3:8.2f} ms  ratio {t / dense:6.2f}x dense")
    for density in (1.0, 0.5, 0.1):
        xs = _blocky(rng, x.shape, density, (1, 4, 4, 4))
        t = _best_of(lambda xs=xs: skip_conv2d_int(xs, w, **geo), repeat=3)
        _, rec = skip_conv2d_int(xs, w, **geo)
        print(f"  zero-skip, {density:.0%} blocks non-zero: {t * 1e3:8.2f} ms  ratio "
              f"{t / dense:6.2f}x dense, MACs done {rec.macs_done / rec.macs_dense:.0%}")
    for keep in (1.0, 0.5, 0.25):
        mask = np.zeros((1, 32), bool)
        mask[0, :int(32 * keep)] = True
        t = _best_of(lambda m=mask: gated_conv2d_int(x, w, m, **geo), repeat=3)
        _, rec = gated_conv2d_int(x, w, mask, **geo)
        print(f"  channel-gated, {keep:.0%} kept: {t * 1e3:8.2f} ms  ratio {t / dense:6.2f}x "
              f"dense, MACs done {rec.macs_done / rec.macs_dense:.0%}")
    a = rng.integers(-128, 128, (256, 256)).astype(np.int8)
    b = rng.integers(-128, 128, (256, 256)).astype(np.int8)
    dense_mm = _best_of(lambda: matmul_int(a, b))
    print(f"matmul_int 256x256x256 dense: {dense_mm * 1e3:8.2f} ms")
    for density in (1.0, 0.5, 0.1):
        asp = _blocky(rng, a.shape, density, (16, 16))
        t = _best_of(lambda asp=asp: skip_matmul_int(asp, b, a_block=(16, 16), b_block=(16, 16)))
        _, rec = skip_matmul_int(asp, b, a_block=(16, 16), b_block=(16, 16))
        print(f"  zero-skip 16x16 blocks, {density:.0%} non-zero: {t * 1e3:8.2f} ms  ratio "
              f"{t / dense_mm:6.2f}x dense, MACs done {rec.macs_done / rec.macs_dense:.0%}")


def report_models() -> None:
    layers = resnet50_conv_shapes()
    print("\nC7 tiling access model, ResNet-50 convs (4x4 tiles on maps >= 16x16):")
    for label, buf in [("32K in / 64K w / 4K psum", BufferSizes()),
                       ("64K / 256K / 16K", BufferSizes(64 * 1024, 256 * 1024, 16 * 1024)),
                       ("128K / 512K / 64K", BufferSizes(128 * 1024, 512 * 1024, 64 * 1024)),
                       ("256K / 2M / 64K", BufferSizes(256 * 1024, 2048 * 1024, 64 * 1024))]:
        u = network_access_counts(layers, buf, tile=None)
        t = network_access_counts(layers, buf)
        print(f"  buffers {label:>26} elements: untiled {u.total / 1e6:8.1f} M, tiled "
              f"{t.total / 1e6:8.1f} M accesses -> {100 * (t.total / u.total - 1):+.1f}% "
              f"(seed: -32%)")
    print("\nC6 checkpoint planner, BERT-base (12 layers, fp32, Korthikanti activation sizes):")
    for batch, seq in ((32, 128), (8, 512)):
        chain = bert_base_layers(batch=batch, seq_len=seq)
        static = bert_base_static_bytes()
        for name, plan in (("none", evaluate_plan(chain, [0])), ("sqrt(n)", sqrt_plan(chain)),
                           ("optimal", optimal_plan(chain))):
            total = 1 - (plan.peak_bytes + static) / (plan.baseline_peak_bytes + static)
            print(f"  b={batch:2d} s={seq:3d} {name:>8}: {plan.n_segments:2d} segments, "
                  f"activations {plan.peak_bytes / 2**30:6.2f} GiB ({-100 * plan.memory_saving:+.1f}%),"
                  f" with weights+Adam {-100 * total:+.1f}% (seed: -43%), recompute "
                  f"{plan.recompute_fraction:.2f} forward")


def main() -> int:
    try:  # one BLAS thread: on a shared 2-core machine threaded BLAS timings are noise
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a test extra
        bench_ops()
    else:
        with threadpool_limits(1):
            bench_ops()
    report_models()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

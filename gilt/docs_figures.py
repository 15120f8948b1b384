"""The figures of ``docs/``, drawn from gilt itself: ``python -m gilt.docs_figures [OUT_DIR]``.

Every figure comes from the same public functions the docs describe, with fixed seeds, so the
pictures in ``docs/figures/`` can be regenerated and checked. ``tests/gilt/test_docs_figures.py``
draws each one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gilt.plots import save_figure
from gilt.report import _plt

DOCS_FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def quantization_staircase(path):
    """int4 and int8 round trips of a ramp: the staircase, ties rounding to even, saturation."""
    from reference.quantize import dequantize, quantize

    plt = _plt()
    x = np.linspace(-1.3, 1.3, 2001, dtype=np.float32)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    for dtype, scale in (("int4", 1 / 7), ("int8", 1 / 127)):
        y = dequantize(quantize(x, np.float32(scale), 0, dtype=dtype), np.float32(scale), 0)
        ax0.plot(x, y, label=f"{dtype}, scale {scale:.4f}")
        ax1.plot(x, y - x, label=dtype, linewidth=0.8)
    ax0.plot(x, x, "k:", linewidth=0.7, label="x")
    ax0.set_title("dequantize(quantize(x)): symmetric, zero point 0")
    ax0.set_xlabel("x")
    ax0.legend(fontsize=8)
    ax1.set_title("round-trip error (saturates outside [-1, 1])")
    ax1.set_xlabel("x")
    ax1.legend(fontsize=8)
    for ax in (ax0, ax1):
        ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def gating_masks(path):
    """Gate masks of the seed's gated network (C5) on 8 seeded images: which input channels of
    each gated 1x1 conv stay active, per sample (top-k 0.5)."""
    import networks

    plt = _plt()
    graph = networks.build("gated_net", batch=8, seed=0)
    run = networks.golden_run(networks.quantize(graph, precision="w4a8", gating="topk:0.5"),
                              keep=(), seed=0)
    gated = [la for la in run.workload().compute_layers if la.gate_mask is not None]
    fig, axes = plt.subplots(1, len(gated), figsize=(3 * len(gated), 3), squeeze=False)
    for ax, la in zip(axes[0], gated):
        ax.imshow(la.gate_mask, cmap="Greens", aspect="auto", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(f"{la.name}\n{la.skip_fraction:.0%} MACs skipped", fontsize=8)
        ax.set_xlabel("input channel")
        ax.set_ylabel("sample")
    return save_figure(fig, path)


def tiling_accesses(path):
    """ResNet-50's on-chip accesses per conv, untiled vs 4x4 tiles, for two buffer sizes."""
    from reference.tiling import BufferSizes, conv_access_counts, resnet50_conv_shapes

    plt = _plt()
    shapes = resnet50_conv_shapes()
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for ax, buf in zip(axes, (BufferSizes(32 * 1024, 64 * 1024, 4 * 1024),
                              BufferSizes(128 * 1024, 512 * 1024, 64 * 1024))):
        untiled = [conv_access_counts(s, buf, tile=None).total * s.count for s in shapes]
        tiled = [conv_access_counts(s, buf).total * s.count for s in shapes]
        idx = np.arange(len(shapes))
        ax.bar(idx - 0.2, untiled, 0.4, label="untiled")
        ax.bar(idx + 0.2, tiled, 0.4, label="4x4 tiles")
        ax.set_yscale("log")
        ax.set_ylabel("accesses (elements)")
        ax.set_title(f"buffers {buf.input_elems // 1024}K/{buf.weight_elems // 1024}K/"
                     f"{buf.psum_elems // 1024}K elements: {1 - sum(tiled) / sum(untiled):.1%} "
                     f"fewer in total")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[1].set_xlabel("ResNet-50 conv shape (table order)")
    return save_figure(fig, path)


def zeroskip_bitmap(path):
    """Zero-block bitmaps (1x4x4 blocks) of conv inputs from a ResNet-50 W4A8 golden run with
    top-k 0.5 gating: white blocks are all zero and are skipped. The layer shown is the one with
    the most zero blocks; without gating, random-weight ResNet-50 has almost none (0.5%)."""
    import networks

    plt = _plt()
    graph = networks.quantize(networks.build("resnet50", seed=0),
                              precision="w4a8", gating="topk:0.5", zero_skip=True, seed=0)
    wl = networks.golden_run(graph, keep=(), seed=0).workload()
    layer = max((la for la in wl.compute_layers
                 if la.act_zero_bitmap is not None and la.in_h >= 16),
                key=lambda la: la.act_zero_bitmap.mean())
    bitmap = layer.act_zero_bitmap[0]
    flat = bitmap.reshape(bitmap.shape[0], -1)[:96]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.imshow(flat, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel(f"4x4 block of the {layer.in_h}x{layer.in_w} map (row-major)")
    ax.set_ylabel("input channel")
    ax.set_title(f"input of {layer.name}: {bitmap.mean():.1%} of its 4x4 blocks are zero "
                 f"(white), {layer.macs_skipped_zero / layer.macs_dense:.1%} of its MACs skipped",
                 fontsize=9)
    return save_figure(fig, path)


def fusion_gpu(path):
    """MobileNetV3-Large on an A100 at batch 1: time per layer with BN and activation fused
    into the conv epilogue vs as separate memory passes."""
    import networks
    from gilt import targets
    from simulator.gpu.network import simulate_network

    plt = _plt()
    wl = networks.workload_for("mobilenetv3_large", precision="w8a8")
    spec = targets.load_hardware("gpu", "a100-sxm4-40gb")
    fused = simulate_network(wl, spec)
    unfused = simulate_network(wl, spec, epilogue="unfused")
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot([1e6 * r.time_s for r in unfused.layers], label=f"unfused: {1e3 * unfused.time_s:.3f} ms")
    ax.plot([1e6 * r.time_s for r in fused.layers], label=f"fused: {1e3 * fused.time_s:.3f} ms")
    ax.set_xlabel("layer")
    ax.set_ylabel("time (us)")
    ax.set_title("MobileNetV3-Large W8A8, A100, batch 1: Conv+BN+activation fusion")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def checkpoint_plans(path):
    """BERT-base (batch 32 x 128): peak activation memory against recomputed work, for every
    number of evenly spaced segments, the sqrt(n) plan and the optimal plan."""
    from reference.checkpoint import bert_base_layers, evaluate_plan, optimal_plan, sqrt_plan

    plt = _plt()
    layers = bert_base_layers()
    n = len(layers)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    pts = []
    for k in range(1, n + 1):
        starts = sorted({int(round(i * n / k)) for i in range(k)})
        p = evaluate_plan(layers, starts)
        pts.append((p.recompute_fraction, p.peak_bytes / 2**30))
    ax.plot(*zip(*pts), "o-", color="0.6", label="k even segments")
    for name, p, m in (("sqrt(n)", sqrt_plan(layers), "s"), ("optimal", optimal_plan(layers), "*")):
        ax.plot(p.recompute_fraction, p.peak_bytes / 2**30, m, markersize=12,
                label=f"{name}: {p.memory_saving:.0%} less activation memory")
    ax.set_xlabel("recomputed forward work (fraction of one forward pass)")
    ax.set_ylabel("peak activation memory (GiB)")
    ax.set_title("gradient checkpointing, BERT-base")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def npu_dataflows(path):
    """ResNet-50 W8A8 on a 32x32 array: PE utilization per layer for each dataflow."""
    import networks
    from gilt import targets

    plt = _plt()
    wl = networks.workload_for("resnet50", precision="w8a8")
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for df in ("ws", "os", "is"):
        spec = targets.load_hardware("npu", "npu-32x32", {"dataflow": df})
        res = targets.simulate("npu", wl, spec)
        util = [r.utilization for r in res.layers if r.macs_dense and r.name in
                {la.name for la in wl.compute_layers}]
        ax.plot([100 * u for u in util], marker=".", label=f"{df}: {100 * res.utilization:.1f}%")
    ax.set_xlabel("compute layer")
    ax.set_ylabel("PE utilization (%)")
    ax.set_title("ResNet-50 on npu-32x32: dataflow per layer (network utilization in legend)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def gpu_roofline(path):
    import networks
    from gilt.plots import roofline_plot
    from simulator.gpu.network import simulate_network

    wl = networks.workload_for("resnet50", precision="w8a8", batch=8)
    return roofline_plot(simulate_network(wl, "a100-sxm4-40gb"), "a100-sxm4-40gb", path)


def cpu_lanes(path):
    """SIMD lane utilization of a 1x1 int8 conv (28x28 map) against its channel count: AVX2
    (32 int8 lanes) vs AVX-512 (64): tails that do not fill a register waste lanes."""
    from common.workload import LayerWork
    from simulator.cpu.model import simulate_layer

    plt = _plt()
    channels = list(range(8, 201, 4))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for preset in ("avx2-desktop", "icelake-sp"):
        util = []
        for c in channels:
            layer = LayerWork.conv("c", batch=1, in_channels=c, in_h=28, in_w=28,
                                   out_channels=c, kernel=(1, 1))
            util.append(100 * simulate_layer(layer, preset).details["lane_utilization"])
        ax.plot(channels, util, label=preset)
    ax.set_xlabel("channels (in = out)")
    ax.set_ylabel("lane utilization (%)")
    ax.set_title("int8 1x1 conv: vector lanes filled")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


FIGURES = {
    "quantization_staircase.png": quantization_staircase,
    "gating_masks.png": gating_masks,
    "tiling_accesses.png": tiling_accesses,
    "zeroskip_bitmap.png": zeroskip_bitmap,
    "fusion_gpu.png": fusion_gpu,
    "checkpoint_plans.png": checkpoint_plans,
    "npu_dataflows.png": npu_dataflows,
    "gpu_roofline.png": gpu_roofline,
    "cpu_lanes.png": cpu_lanes,
}


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DOCS_FIGURES
    for name, draw in FIGURES.items():
        print(draw(out / name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

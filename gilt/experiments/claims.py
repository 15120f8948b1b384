"""Every seed claim gilt can check, recomputed: ``python -m gilt.experiments.claims``.

Each function below returns the lines quoted in ``docs/seed-claims.md`` for one claim; nothing
there is typed in by hand. Claims gilt cannot check here (no such model, no such device) are
stated in the doc, not faked.
"""

from __future__ import annotations

import time


def c1_c3_model_size() -> list[str]:
    """Model size at W4A8 against float32 (C3 says 1/8) for the built-in CNNs."""
    import networks

    lines = []
    for name in ("resnet50", "mobilenetv3_large", "yolov5s_backbone"):
        f32 = networks.workload_for(name, precision="float32")
        w4 = networks.workload_for(name, precision="w4a8")
        params = sum(la.weight_count for la in f32.compute_layers)
        b32 = 4 * params
        b4 = sum(la.weight_bytes for la in w4.compute_layers)
        lines.append(f"{name}: {params / 1e6:.2f} M conv/fc weights, float32 {b32 / 2**20:.1f} "
                     f"MiB -> W4A8 {b4 / 2**20:.1f} MiB = 1/{b32 / b4:.2f} (first and last "
                     f"layers kept at 8 bits; all at 4 bits would be 1/8 exactly)")
    return lines


def c2_c5_c8_c17_gating_and_zero_skip() -> list[str]:
    """ResNet-50 W4A8 with top-k 0.5 channel gating on the bottleneck convs and zero-block
    skipping: MACs skipped in the golden run, NPU energy and time, GPU time."""
    from gilt.pipeline import run_network

    run = run_network("resnet50")
    wl = run.workload
    gate = sum(la.macs_skipped_gate for la in wl.compute_layers) / wl.macs_dense
    zero = sum(la.macs_skipped_zero for la in wl.compute_layers) / wl.macs_dense

    def energy(result):
        return sum(la.energy_j or 0.0 for la in result.layers)

    e_g, e_d = energy(run.results["npu"]), energy(run.dense_results["npu"])
    t = {k: (run.results[k].time_s, run.dense_results[k].time_s) for k in run.results}
    return [
        f"golden run, ResNet-50 224x224 W4A8, seeded input: gating skips {gate:.1%} of MACs "
        f"(C5: 28% of FLOPs), zero-block skipping (1x4x4 blocks) a further {zero:.1%}",
        f"NPU {run.hardware['npu']}: energy {1e3 * e_g:.2f} mJ vs {1e3 * e_d:.2f} mJ dense "
        f"({1 - e_g / e_d:.1%} less; C2 claims 62% less compute energy for inactive neurons)",
        f"NPU time {1e3 * t['npu'][0]:.2f} ms vs {1e3 * t['npu'][1]:.2f} ms dense "
        f"({t['npu'][1] / t['npu'][0]:.2f}x; C8 claims +18% efficiency from zero skipping)",
        f"GPU {run.hardware['gpu']} batch 1: {1e3 * t['gpu'][0]:.3f} ms vs "
        f"{1e3 * t['gpu'][1]:.3f} ms dense ({t['gpu'][1] / t['gpu'][0]:.2f}x): per-sample "
        f"channel masks rarely empty a whole K-tile and every gate is one more kernel (C17)",
        f"CPU {run.hardware['cpu']}: {1e3 * t['cpu'][0]:.3f} ms vs {1e3 * t['cpu'][1]:.3f} ms "
        f"dense ({t['cpu'][1] / t['cpu'][0]:.2f}x)",
    ]


def c6_checkpointing() -> list[str]:
    from reference.checkpoint import (
        bert_base_layers,
        bert_base_static_bytes,
        optimal_plan,
        sqrt_plan,
    )

    layers = bert_base_layers()
    static = bert_base_static_bytes()
    plan = sqrt_plan(layers)
    best = optimal_plan(layers)
    lines = []
    for name, p in (("sqrt(n)", plan), ("optimal", best)):
        full = p.baseline_peak_bytes
        lines.append(f"BERT-base batch 32 x 128, {name} plan ({p.n_segments} segments): peak "
                     f"{p.peak_bytes / 2**30:.2f} GiB of activations vs {full / 2**30:.2f} GiB "
                     f"({p.memory_saving:.1%} less); with weights, gradients and Adam state "
                     f"({static / 2**30:.2f} GiB) memory is "
                     f"{1 - (p.peak_bytes + static) / (full + static):.1%} lower; recompute "
                     f"{p.recompute_fraction:.2f} of a forward pass (C6 claims 43% less)")
    return lines


def c7_tiling() -> list[str]:
    from reference.tiling import BufferSizes, network_access_counts, resnet50_conv_shapes

    shapes = resnet50_conv_shapes()
    lines = []
    for buf in (BufferSizes(32 * 1024, 64 * 1024, 4 * 1024),
                BufferSizes(128 * 1024, 512 * 1024, 64 * 1024),
                BufferSizes(256 * 1024, 2 * 1024 * 1024, 64 * 1024)):
        untiled = network_access_counts(shapes, buf, tile=None).total
        tiled = network_access_counts(shapes, buf).total
        lines.append(f"ResNet-50 53 convs, buffers input/weight/psum {buf.input_elems // 1024}K/"
                     f"{buf.weight_elems // 1024}K/{buf.psum_elems // 1024}K elements: "
                     f"{1 - tiled / untiled:.1%} fewer on-chip accesses with 4x4 tiles "
                     f"(C7 claims 32%)")
    return lines


def c4_c11_gpu() -> list[str]:
    from gilt.experiments.published import seed_claims

    claims = seed_claims()
    c11 = ", ".join(f"batch {r['batch']}: SM {r['sm_utilization']:.0%} / TC pipe "
                    f"{r['tc_pipe_utilization']:.0%}" for r in claims["C11_v100_fp16_resnet50"])
    c4 = ", ".join(f"{r['precision']} b{r['batch']}: {r['images_per_s']:,.0f}"
                   for r in claims["C4_a100_40gb_resnet50"] if r["batch"] in (1, 128))
    return [f"C11, V100 FP16 ResNet-50: {c11} (claim: 93% SM utilization)",
            f"C4, A100-40GB ResNet-50 images/s: {c4} (claim: 2800 images/s)"]


def c14_fusion() -> list[str]:
    from gilt.pipeline import run_network

    run = run_network("mobilenetv3_large", gating=None, zero_skip=False,
                      hardware={"gpu": "a100-sxm4-40gb"})
    fused, unfused = run.results["gpu"].time_s, run.gpu_unfused.time_s
    return [f"MobileNetV3-Large W4A8 on A100 batch 1: {1e3 * unfused:.3f} ms with BN and "
            f"activations as separate passes, {1e3 * fused:.3f} ms fused "
            f"({1 - fused / unfused:.1%} less; C14 claims -41% from fusion, unrolling and "
            f"layout together)"]


def c3_c9_c17_accuracy() -> list[str]:
    from gilt.experiments.digits import run

    return run().lines()


CLAIMS = {
    "C3 size": c1_c3_model_size,
    "C2/C5/C8/C17 gating and zero-skip": c2_c5_c8_c17_gating_and_zero_skip,
    "C6 checkpointing": c6_checkpointing,
    "C7 tiling": c7_tiling,
    "C4/C11 GPU": c4_c11_gpu,
    "C14 fusion": c14_fusion,
    "C3/C9/C17 accuracy (digits)": c3_c9_c17_accuracy,
}


def main() -> int:
    for title, fn in CLAIMS.items():
        t0 = time.perf_counter()
        print(f"## {title}")
        for line in fn():
            print(f"- {line}")
        print(f"({time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

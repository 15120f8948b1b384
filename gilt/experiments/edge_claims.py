"""Seed claim C15 on the edge presets: ``python -m gilt.experiments.edge_claims``.

* **YOLOv5s at 35 FPS on Jetson AGX Xavier.** The whole detector (``networks`` model
  ``yolov5s``: backbone, neck, Detect head and box decode) at 640x640, batch 1, on the Xavier
  GPU (INT8 and FP16, TensorRT-style fusion, CUDA-graph launches), on one DLA (INT8, the decode
  tail falling back to the GPU) and on both together (GPU and two DLAs each on their own frames,
  DRAM shared: :func:`simulator.npu.nvdla.soc.concurrent_throughput`).
* **BERT-base at 82 ms on an iPhone 12.** BERT-base, sequence 128, W8A8, on the Apple A14 Neural
  Engine preset and on the Snapdragon 888 Hexagon 780 preset, with Apple's published DistilBERT
  figure on the A15 as a cross-check.

Non-maximum suppression, image decoding, letterboxing and host copies are not in any figure:
they are the application's, and the seed does not say whether its numbers include them.
"""

from __future__ import annotations

SEED_YOLO_FPS = 35.0
SEED_BERT_MS = 82.0
#: Apple Machine Learning Research, "Deploying Transformers on the Apple Neural Engine" (2022):
#: DistilBERT (6 layers of BERT-base width), sequence 128, batch 1, iPhone 13 (A15, 15.8 TOPS):
#: 3.47 ms average latency with Apple's ANE-optimized reference implementation
APPLE_DISTILBERT_A15_MS = 3.47
A15_TOPS, A14_TOPS = 15.8, 11.0


def _gpu(workload, preset: str = "jetson-agx-xavier"):
    from simulator.gpu.network import simulate_network

    return simulate_network(workload, preset, launch="graph", fusion="tensorrt")


def c15_yolov5s(input_size: int = 640) -> dict:
    """Latency (ms, batch 1) and frames/s of YOLOv5s on the Xavier engines."""
    from gilt.experiments.edge_workloads import yolov5s_workload
    from simulator.gpu.spec import load_gpu_spec
    from simulator.npu.nvdla.model import simulate_network as dla_network
    from simulator.npu.nvdla.soc import EngineLoad, concurrent_throughput

    int8 = yolov5s_workload(1, "w8a8", input_size=input_size)
    gpu8 = _gpu(int8)
    gpu16 = _gpu(yolov5s_workload(1, "fp16", input_size=input_size))
    dla = dla_network(int8, "jetson-agx-xavier-dla", fallback_gpu="jetson-agx-xavier")
    gspec = load_gpu_spec("jetson-agx-xavier")
    engines = [EngineLoad("gpu", 1 / gpu8.time_s, gpu8.details["dram_bytes"])]
    engines += [EngineLoad(f"dla{i}", 1 / dla.time_s, dla.details["dram_bytes"])
                for i in range(2)]
    both = concurrent_throughput(engines, gspec.hbm_bw_bytes_per_s * gspec.model.hbm_efficiency)
    dla_fallback_ms = sum(lr.time_s for lr in dla.layers if lr.target == "gpu") * 1e3
    return {"input_size": input_size, "gmacs": int8.macs_dense / 1e9,
            "gpu_int8_ms": gpu8.time_s * 1e3, "gpu_fp16_ms": gpu16.time_s * 1e3,
            "dla_int8_ms": dla.time_s * 1e3, "dla_gpu_tail_ms": dla_fallback_ms,
            "dla_layers_on_gpu": len(dla.details["gpu_fallback"]),
            "dla_dram_mb": dla.details["dram_bytes"] / 1e6,
            "both_fps": both["samples_per_s"], "both_bandwidth_scale": both["bandwidth_scale"],
            "seed_fps": SEED_YOLO_FPS}


def c15_bert_phones(seq_len: int = 128) -> dict:
    """BERT-base latency (ms, batch 1) on the phone NPU presets, and Apple's DistilBERT figure
    scaled to BERT-base on the A14 (2x the layers, A15/A14 peak ratio): a cross-check."""
    import networks
    from simulator.npu.model import simulate_network

    wl = networks.workload_for("bert_base", input_size=seq_len, precision="w8a8")
    out = {"seq_len": seq_len, "gmacs": wl.macs_dense / 1e9, "seed_ms": SEED_BERT_MS}
    for key, preset in (("a14_ane_ms", "apple-a14-ane"),
                        ("sd888_hexagon_ms", "qualcomm-sd888-hexagon780")):
        out[key] = simulate_network(wl, preset).time_s * 1e3
    out["apple_scaled_a14_ms"] = APPLE_DISTILBERT_A15_MS * 2 * A15_TOPS / A14_TOPS
    return out


def lines(yolo: dict, bert: dict) -> list[str]:
    fps = lambda ms: 1e3 / ms  # noqa: E731
    return [
        f"YOLOv5s {yolo['input_size']}x{yolo['input_size']} ({yolo['gmacs']:.2f} GMACs), "
        f"batch 1, Jetson AGX Xavier (MAXN): GPU INT8 {yolo['gpu_int8_ms']:.2f} ms "
        f"({fps(yolo['gpu_int8_ms']):.0f} FPS), GPU FP16 {yolo['gpu_fp16_ms']:.2f} ms "
        f"({fps(yolo['gpu_fp16_ms']):.0f} FPS); one DLA INT8 {yolo['dla_int8_ms']:.2f} ms "
        f"({fps(yolo['dla_int8_ms']):.0f} FPS, of which {yolo['dla_gpu_tail_ms']:.2f} ms for "
        f"the {yolo['dla_layers_on_gpu']} decode layers on the GPU; "
        f"{yolo['dla_dram_mb']:.0f} MB of DRAM traffic per frame: every SiLU is two SDP passes); "
        f"GPU + 2 DLAs on separate frames {yolo['both_fps']:.0f} FPS (DRAM scale "
        f"{yolo['both_bandwidth_scale']:.2f}); seed C15: {yolo['seed_fps']:.0f} FPS",
        f"BERT-base seq {bert['seq_len']} ({bert['gmacs']:.1f} GMACs), W8A8, batch 1: "
        f"A14 Neural Engine preset {bert['a14_ane_ms']:.1f} ms, Snapdragon 888 Hexagon 780 "
        f"preset {bert['sd888_hexagon_ms']:.1f} ms; Apple's DistilBERT on A15 scaled to "
        f"BERT-base on A14: {bert['apple_scaled_a14_ms']:.1f} ms; seed C15: "
        f"{bert['seed_ms']:.0f} ms on an iPhone 12",
    ]


if __name__ == "__main__":
    print("\n".join(lines(c15_yolov5s(), c15_bert_phones())))

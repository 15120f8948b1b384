"""Published GPU figures the model is checked against, with the exact shapes they were taken at.

Each entry names its source. :func:`compare_published` runs the model on every entry and returns
rows ``(name, published, model, error)``; ``benchmarks/data/gpu_published.json`` stores a run.
The ResNet-50 geometry (:func:`resnet50_workload`) is built here from the architecture (He et
al. 2016, v1.5: stride on the 3x3 conv), independent of ``networks/``, so that the published
comparison does not move when the network builders change.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.workload import LayerWork, Workload

GUIDE = ("NVIDIA Deep Learning Performance Guide, 'Matrix Multiplication Background User's "
         "Guide' (DU-09799-001), sec. 3 Dimension Quantization Effects")
MAMF = ("S. Bekman, ml-engineering, compute/accelerator/README.md, 'Maximum Achievable Matmul "
        "FLOPS comparison table' (torch.matmul BF16 -> cuBLAS, best shape of a sweep)")
MARKIDIS = ("Markidis et al., 'NVIDIA Tensor Core Programmability, Performance & Precision', "
            "IPDPSW 2018: cuBLAS mixed-precision GEMM up to 83 TFLOP/s on Tesla V100")
MLPERF = ("MLPerf Inference v1.1, closed division, NVIDIA DGX-A100 1x A100-SXM-80GB, TensorRT, "
          "INT8 (mlcommons/inference_results_v1.1 closed/NVIDIA/results/"
          "DGX-A100_A100-SXM-80GBx1_TRT/resnet50)")
PADDLE = ("NVIDIA DeepLearningExamples PaddlePaddle/Classification/RN50v1.5/README.md, "
          "'Paddle-TRT performance: NVIDIA DGX A100 (1x A100 80GB)', FP16")


@dataclass(frozen=True)
class PublishedGemm:
    name: str
    preset: str
    m: int
    n: int
    k: int
    dtype: str
    tflops: float
    source: str


@dataclass(frozen=True)
class PublishedNetwork:
    name: str
    preset: str
    batch: int
    precision: str     # w8a8 (INT8) or fp16
    images_per_s: float
    source: str


#: cuBLAS GEMM throughput figures (dense, no sparsity)
PUBLISHED_GEMMS: tuple[PublishedGemm, ...] = (
    PublishedGemm("A100 SXM BF16 MAMF", "a100-sxm4-80gb", 6912, 16384, 2048, "bf16", 267.9, MAMF),
    PublishedGemm("H100 SXM BF16 MAMF", "h100-sxm5", 6144, 17920, 2816, "bf16", 792.1, MAMF),
    PublishedGemm("V100 cuBLAS mixed-precision max", "v100-sxm2", 8192, 8192, 8192, "fp16",
                  83.0, MARKIDIS),
)

#: ResNet-50 v1.5 inference throughput at 224x224 on one A100
PUBLISHED_RESNET50: tuple[PublishedNetwork, ...] = (
    PublishedNetwork("MLPerf v1.1 Offline (batch 2048)", "a100-sxm4-80gb", 2048, "w8a8",
                     39830.1, MLPERF + ", Offline, gpu_batch_size 2048"),
    PublishedNetwork("MLPerf v1.1 SingleStream (batch 1)", "a100-sxm4-80gb", 1, "w8a8",
                     1.0 / 462809e-9, MLPERF + ", SingleStream mean latency 462.8 us"),
    PublishedNetwork("Paddle-TRT FP16 batch 1", "a100-sxm4-80gb", 1, "fp16", 1265.67, PADDLE),
    PublishedNetwork("Paddle-TRT FP16 batch 32", "a100-sxm4-80gb", 32, "fp16", 12802.53, PADDLE),
    PublishedNetwork("Paddle-TRT FP16 batch 128", "a100-sxm4-80gb", 128, "fp16", 16157.12, PADDLE),
    PublishedNetwork("Paddle-TRT FP16 batch 256", "a100-sxm4-80gb", 256, "fp16", 17054.80, PADDLE),
)


def resnet50_workload(batch: int = 1, precision: str = "w8a8", *,
                      fused: bool = True) -> Workload:
    """ResNet-50 v1.5 at 224x224 as a dense :class:`Workload` (no gating, no skipping).

    ``precision``: ``w8a8`` (8-bit weights and activations), ``w4a8`` (4-bit weights) or
    ``fp16``. Convolutions carry ``fused=("bn", "relu")`` (the last conv of a bottleneck also
    ``"add"``: the residual), as an inference engine fuses them; with ``fused=False`` the
    residual add and ReLU are separate element-wise layers."""
    if precision not in ("w8a8", "w4a8", "fp16"):
        raise ValueError(f"precision must be 'w8a8', 'w4a8' or 'fp16', got {precision!r}")
    wbits, abits = {"w8a8": (8, 8), "w4a8": (4, 8), "fp16": (16, 16)}[precision]
    layers: list[LayerWork] = []

    def conv(name, c, hw, k, ksize, stride, pad, ops):
        layers.append(LayerWork.conv(name, batch=batch, in_channels=c, in_h=hw, in_w=hw,
                                     out_channels=k, kernel=(ksize, ksize),
                                     stride=(stride, stride), pads=(pad,) * 4,
                                     weight_bits=wbits, act_bits=abits, out_bits=abits,
                                     fused=ops))
        return layers[-1].out_h

    hw = conv("conv1", 3, 224, 64, 7, 2, 3, ("bn", "relu"))
    # a pool reads its whole input: "inputs" = input/output size ratio (as networks.golden)
    layers.append(LayerWork.elementwise("maxpool", shape=(batch, 64, hw // 2, hw // 2),
                                        op="pool", ops_per_element=4, inputs=4,
                                        act_bits=abits, out_bits=abits))
    hw //= 2
    c = 64
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        for blk in range(blocks):
            stride = 2 if blk == 0 and stage > 1 else 1
            pre = f"layer{stage}.{blk}"
            out = width * 4
            conv(f"{pre}.conv1", c, hw, width, 1, 1, 0, ("bn", "relu"))
            hw2 = conv(f"{pre}.conv2", width, hw, width, 3, stride, 1, ("bn", "relu"))
            if blk == 0:
                conv(f"{pre}.downsample", c, hw, out, 1, stride, 0, ("bn",))
            last_ops = ("bn", "add", "relu") if fused else ("bn",)
            conv(f"{pre}.conv3", width, hw2, out, 1, 1, 0, last_ops)
            if not fused:
                layers.append(LayerWork.elementwise(f"{pre}.add_relu", shape=(batch, out, hw2, hw2),
                                                    inputs=2, act_bits=abits, out_bits=abits))
            c, hw = out, hw2
    layers.append(LayerWork.elementwise("avgpool", shape=(batch, c, 1, 1), op="pool",
                                        ops_per_element=hw * hw, inputs=hw * hw,
                                        act_bits=abits, out_bits=abits))
    layers.append(LayerWork.matmul("fc", m=batch, n=1000, k=c, weight_bits=wbits,
                                   act_bits=abits, out_bits=max(abits, 16)))
    return Workload(name="resnet50", layers=tuple(layers), precision=precision,
                    meta={"batch": batch, "source": "gilt.experiments.published"})


def compare_published() -> list[dict]:
    """Model vs every published figure above: rows with ``published``, ``model``,
    ``error = model / published - 1``, conditions and source."""
    from simulator.gpu.model import GemmProblem, simulate_gemm
    from simulator.gpu.network import simulate_network
    from simulator.gpu.spec import MMA_DTYPE_BITS, load_gpu_spec

    rows = []
    for g in PUBLISHED_GEMMS:
        spec = load_gpu_spec(g.preset)
        bits = MMA_DTYPE_BITS[g.dtype]
        r = simulate_gemm(GemmProblem(m=g.m, n=g.n, k=g.k, a_bits=bits, w_bits=bits,
                                      out_bits=bits, mma_dtype=g.dtype), spec)
        model = 2 * g.m * g.n * g.k / (r["cycles"] / spec.clock_hz) / 1e12
        rows.append({"kind": "gemm", "name": g.name, "hardware": spec.name,
                     "conditions": f"{g.m}x{g.n}x{g.k} {g.dtype}", "unit": "TFLOP/s",
                     "published": g.tflops, "model": model, "error": model / g.tflops - 1,
                     "source": g.source})
    for p in PUBLISHED_RESNET50:
        spec = load_gpu_spec(p.preset)
        # TensorRT engines (MLPerf, Paddle-TRT) launch their kernels back to back: graph mode
        result = simulate_network(resnet50_workload(p.batch, p.precision), spec, launch="graph")
        model = result.throughput_per_s
        rows.append({"kind": "resnet50", "name": p.name, "hardware": spec.name,
                     "conditions": f"batch {p.batch}, {p.precision}", "unit": "images/s",
                     "published": p.images_per_s, "model": model,
                     "error": model / p.images_per_s - 1, "source": p.source})
    return rows


def seed_claims() -> dict:
    """What the model says about seed C11 (93% SM utilization, FP16 Tensor Cores, Volta) and
    C4 (2800 images/s at 224x224 on an A100), ResNet-50 v1.5 dense, fused epilogues."""
    from simulator.gpu.network import simulate_network
    from simulator.gpu.spec import load_gpu_spec

    v100 = load_gpu_spec("v100-sxm2")
    a100 = load_gpu_spec("a100-sxm4-40gb")
    c11 = []
    for batch in (1, 8, 32, 128, 256):
        r = simulate_network(resnet50_workload(batch, "fp16"), v100)
        c11.append({"batch": batch, "sm_utilization": r.details["sm_utilization"],
                    "tc_pipe_utilization": r.details["tc_pipe_utilization"],
                    "images_per_s": r.throughput_per_s})
    c4 = []
    for precision, mma in (("w8a8", "auto"), ("fp16", "auto"), ("fp16", "tf32")):
        for batch in (1, 2, 8, 32, 128):
            r = simulate_network(resnet50_workload(batch, precision), a100, mma_dtype=mma)
            c4.append({"precision": precision if mma == "auto" else mma, "batch": batch,
                       "images_per_s": r.throughput_per_s,
                       "sm_utilization": r.details["sm_utilization"]})
    return {"C11_v100_fp16_resnet50": c11, "C4_a100_40gb_resnet50": c4}


def write_comparison(path) -> None:
    """Store :func:`compare_published` and :func:`seed_claims` as JSON (atomically)."""
    import json
    from pathlib import Path

    from common.files import write_text_atomic

    path = Path(path)
    payload = {"description": "simulator.gpu model vs published GPU figures; error = "
                              "model / published - 1. Regenerate: python -m "
                              "gilt.experiments.published benchmarks/data/gpu_published.json",
               "rows": compare_published(), "seed_claims": seed_claims()}
    write_text_atomic(path, json.dumps(payload, indent=1))


def format_comparison(rows: list[dict]) -> str:
    lines = [f"{'case':<38}{'hardware':<16}{'conditions':<22}{'published':>11}{'model':>11}"
             f"{'error':>9}"]
    for r in rows:
        lines.append(f"{r['name']:<38}{r['hardware']:<16}{r['conditions']:<22}"
                     f"{r['published']:>11.1f}{r['model']:>11.1f}{100 * r['error']:>8.1f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/data/gpu_published.json"
    write_comparison(target)
    print(format_comparison(compare_published()))
    print(f"written: {target}")


#: SQuAD v1.1 dev features as MLPerf BERT runs them (10,833 features, max_seq_len 384, doc
#: stride 128). ASSUMPTION, not a cited figure: no per-feature length table of the MLPerf
#: SQuAD set was reachable when this was written; 173 mean / 190 root-mean-square tokens are an
#: estimate (context paragraphs of ~140 WordPieces, questions of ~12, 3 special tokens, the
#: longest paragraphs split at 384). BERT Offline predictions scale roughly linearly with it.
SQUAD_MEAN_TOKENS = 173
SQUAD_RMS_TOKENS = 190


def bert_large_workload(batch: int = 1, precision: str = "w8a8", *,
                        mean_tokens: int = SQUAD_MEAN_TOKENS,
                        rms_tokens: int = SQUAD_RMS_TOKENS) -> Workload:
    """BERT-Large (24 layers, hidden 1024, 16 heads, FFN 4096) as TensorRT deploys it for
    MLPerf: padding removed (GEMMs over ``batch * mean_tokens`` tokens), fused QKV projection,
    fused multi-head attention (flash-attention style: both attention GEMMs in one kernel per
    head, the S x S scores never in HBM; stored as one matmul of ``2 * L^2 * 64`` MACs per head
    with ``L = rms_tokens`` so that the sum of L^2 over the batch is kept), bias and GELU in the
    GEMM epilogues, residual add + LayerNorm as one skip-LayerNorm pass."""
    if precision not in ("w8a8", "fp16"):
        raise ValueError(f"precision must be 'w8a8' or 'fp16', got {precision!r}")
    bits = 8 if precision == "w8a8" else 16
    tokens = batch * mean_tokens
    hidden, heads, ffn = 1024, 16, 4096
    layers: list[LayerWork] = [LayerWork.elementwise(
        "embeddings.layernorm", shape=(1, hidden, tokens, 1), inputs=3, act_bits=bits,
        out_bits=bits)]

    def mm(name, n, k, ops):
        layers.append(LayerWork.matmul(name, m=tokens, n=n, k=k, weight_bits=bits,
                                       act_bits=bits, out_bits=bits, fused=ops))

    for i in range(24):
        pre = f"encoder.{i}"
        mm(f"{pre}.qkv", 3 * hidden, hidden, ("bias",))
        layers.append(LayerWork.matmul(
            f"{pre}.fused_mha", m=rms_tokens, n=hidden // heads, k=2 * rms_tokens,
            batch=batch * heads, weight_bits=bits, act_bits=bits, out_bits=bits,
            fused=("scale", "softmax")))
        mm(f"{pre}.attention_output", hidden, hidden, ("bias",))
        layers.append(LayerWork.elementwise(f"{pre}.skip_layernorm1", shape=(1, hidden, tokens, 1),
                                            inputs=2, act_bits=bits, out_bits=bits))
        mm(f"{pre}.ffn1", ffn, hidden, ("bias", "gelu"))
        mm(f"{pre}.ffn2", hidden, ffn, ("bias",))
        layers.append(LayerWork.elementwise(f"{pre}.skip_layernorm2", shape=(1, hidden, tokens, 1),
                                            inputs=2, act_bits=bits, out_bits=bits))
    mm("qa_outputs", 2, hidden, ("bias",))
    return Workload(name="bert_large", layers=tuple(layers), precision=precision,
                    meta={"batch": batch, "source": "gilt.experiments.published",
                          "mean_tokens": mean_tokens, "rms_tokens": rms_tokens})

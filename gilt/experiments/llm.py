"""LLM experiments: validation against published measurements, and the seed's C1 answered.

``python -m gilt.experiments.llm validate`` recomputes every row of
``benchmarks/data/llm_published.csv`` (each row cites its source URL and table) and prints the
error per row and the median |error| per group; ``python -m gilt.experiments.llm c1`` prints
the C1 table of docs/seed-claims.md.

How each group is modelled (GPU model, one decoder block simulated and multiplied by the layer
count, engine steps from :func:`gilt.llm.step_cost`):

* ``static``: TensorRT-LLM's static-batch benchmark (``gptSessionBenchmark``): ``batch``
  prompts of ``isl`` tokens prefilled together, then ``osl - 1`` decode steps;
  :class:`simulator.serving.StaticBatching`; output tokens/s.
* ``ttft``: first-token latency at batch 1, one prefill pass; milliseconds.
* ``inflight``: ``trtllm-bench throughput`` (in-flight batching, all requests queued at once,
  ``max_num_tokens`` 8192, KV blocks reserved for prompt plus output: TensorRT-LLM's default
  GUARANTEED_NO_EVICT, ``kv_cache_free_gpu_mem_fraction`` 0.9):
  :class:`simulator.serving.ContinuousBatching` with chunked prefill; output tokens/s.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

from gilt.llm import Deployment, prefill_s, step_cost
from networks.llm import model_bytes
from simulator.serving import (
    ContinuousBatching,
    LengthDist,
    Slo,
    StaticBatching,
    max_rate,
    offline_trace,
    simulate,
)

__all__ = ["C1_BOUND", "C1_GPUS", "C1_MODELS", "C1_PRECISIONS", "PUBLISHED_CSV", "c1_rows",
           "c1_markdown", "group_medians", "load_published", "predict", "validate"]

PUBLISHED_CSV = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / \
    "llm_published.csv"
GROUPS = ("static", "ttft", "inflight")
#: TensorRT-LLM in-flight batching as trtllm-bench runs it (perf-overview.md, v0.19+)
INFLIGHT = ContinuousBatching(max_seqs=2048, max_batched_tokens=8192, chunked_prefill=True,
                              reserve="full")


def load_published(path: str | Path | None = None) -> list[dict]:
    """Rows of the published-measurement CSV; ValueError naming a row without a source."""
    path = Path(path) if path else PUBLISHED_CSV
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows, start=2):
        if not row.get("source_url", "").startswith("https://") or not row.get("source_table"):
            raise ValueError(f"{path}:{i}: every row needs a source_url and a source_table")
        if row["group"] not in GROUPS:
            raise ValueError(f"{path}:{i}: group must be one of {GROUPS}, got {row['group']!r}")
    return rows


def _deployment(row: dict) -> Deployment:
    return Deployment(row["model"], row["precision"], "gpu", row["hardware"],
                      kv_bits=int(row["kv_bits"]))


def predict(row: dict, *, coarse: bool = False, max_requests: int | None = None) -> float:
    """The model's value for one published row (in the row's unit)."""
    dep = _deployment(row)
    isl, osl = int(row["isl"]), int(row["osl"])
    if row["group"] == "ttft":
        return 1e3 * prefill_s(dep, batch=int(row["batch"]), prompt=isl)
    cost = step_cost(dep, coarse=coarse)
    prompt, output = LengthDist("fixed", isl), LengthDist("fixed", osl)
    if row["group"] == "static":
        batch = int(row["batch"])
        res = simulate(offline_trace(batch, prompt=prompt, output=output), cost,
                       StaticBatching(batch))
    else:
        n = int(row["requests"])
        n = min(n, max_requests) if max_requests else n
        res = simulate(offline_trace(n, prompt=prompt, output=output), cost, INFLIGHT)
    return res.summary()["output_tokens_per_s"]


def validate(path=None, *, coarse: bool = False, max_requests: int | None = None) -> list[dict]:
    """Every published row with the model's value and the relative error."""
    out = []
    for row in load_published(path):
        model = predict(row, coarse=coarse, max_requests=max_requests)
        published = float(row["published"])
        out.append({**row, "model_value": model, "error": model / published - 1.0})
    return out


def group_medians(rows: list[dict]) -> dict[str, float]:
    """Median |relative error| per group (and ``all``)."""
    res = {g: statistics.median(abs(r["error"]) for r in rows if r["group"] == g)
           for g in GROUPS if any(r["group"] == g for r in rows)}
    res["all"] = statistics.median(abs(r["error"]) for r in rows)
    return res


def format_validation(rows: list[dict]) -> str:
    head = (f"{'group':<9}{'model':<13}{'hardware':<16}{'prec':<5}{'batch':>6}{'isl':>7}"
            f"{'osl':>6}{'published':>11}{'model':>11}{'error':>8}  unit")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['group']:<9}{r['model']:<13}{r['hardware']:<16}{r['precision']:<5}"
                     f"{r['batch'] or '-':>6}{r['isl']:>7}{r['osl']:>6}"
                     f"{float(r['published']):>11,.0f}{r['model_value']:>11,.0f}"
                     f"{100 * r['error']:>+7.0f}%  {r['unit']}")
    med = group_medians(rows)
    lines.append("median |error|: " + ", ".join(f"{g} {100 * v:.1f}%" for g, v in med.items()))
    return "\n".join(lines)


# --------------------------------------------------------------------------- C1
C1_MODELS = ("seed-12.8b", "seed-8.0b")
C1_PRECISIONS = ("fp16", "w8a8", "w4a8")
C1_GPUS = ("a100_sxm4_80gb", "h100_sxm5")
#: the latency bound of the C1 serving throughput: p99 TTFT <= 2 s (MLPerf Inference v4.0
#: Llama 2 70B Server) and p99 TPOT <= 50 ms (20 tokens/s per user)
C1_BOUND = Slo(ttft_s=2.0, tpot_s=0.05)
#: request mix of the C1 serving figure: prompts ~1024, outputs ~256 tokens (lognormal)
C1_PROMPT = LengthDist("lognormal", 1024, 512, 16, 4096)
C1_OUTPUT = LengthDist("lognormal", 256, 128, 8, 1024)


def c1_rows(*, coarse: bool = False, requests: int = 1000) -> list[dict]:
    """Size, prefill (1024-token prompt, batch 1), decode (batch 1 and 64 at 1024 context)
    and serving throughput under :data:`C1_BOUND` (continuous batching, vLLM-style) for the
    C1 models on the A100 and H100 presets."""
    from gilt.llm import decode_step_s

    rows = []
    for gpu in C1_GPUS:
        for model in C1_MODELS:
            for precision in C1_PRECISIONS:
                dep = Deployment(model, precision, "gpu", gpu)
                cost = step_cost(dep, coarse=coarse)
                search = max_rate(cost, ContinuousBatching(), C1_BOUND, n=requests,
                                  prompt=C1_PROMPT, output=C1_OUTPUT, iterations=8)
                served = search.result.summary() if search.result else None
                rows.append({
                    "gpu": gpu, "model": model, "precision": precision,
                    "params_b": dep.config.param_count() / 1e9,
                    "size_gb": model_bytes(dep.config, precision) / 1e9,
                    "ttft_1024_ms": 1e3 * prefill_s(dep, prompt=1024),
                    "decode_b1_tok_s": 1.0 / decode_step_s(dep, batch=1, context=1024),
                    "decode_b64_tok_s": 64.0 / decode_step_s(dep, batch=64, context=1024),
                    "rate_req_s": search.rate_per_s,
                    "served_tok_s": served["output_tokens_per_s"] if served else 0.0,
                    "kv_capacity_tokens": cost.kv_capacity_tokens})
    return rows


def c1_markdown(rows: list[dict]) -> str:
    lines = ["| GPU | model | precision | size (GB) | TTFT 1024 tok (ms) | decode b=1 (tok/s) | "
             "decode b=64 (tok/s) | served at bound (req/s, out tok/s) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        gpu = "A100-80GB" if r["gpu"].startswith("a100") else "H100-SXM"
        lines.append(f"| {gpu} | {r['model']} ({r['params_b']:.1f} B) | {r['precision']} | "
                     f"{r['size_gb']:.1f} | {r['ttft_1024_ms']:.0f} | "
                     f"{r['decode_b1_tok_s']:.0f} | {r['decode_b64_tok_s']:,.0f} | "
                     f"{r['rate_req_s']:.1f}, {r['served_tok_s']:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gilt.experiments.llm")
    parser.add_argument("what", choices=("validate", "c1"))
    parser.add_argument("--coarse", action="store_true", help="powers-of-4 step tables")
    args = parser.parse_args(argv)
    if args.what == "validate":
        print(format_validation(validate(coarse=args.coarse)))
    else:
        print(c1_markdown(c1_rows(coarse=args.coarse)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``gilt llm``: a Llama-style decoder on the hardware models and the serving simulator.

Subcommands::

    gilt llm run   --model llama-3-8b --precision w4a8 --target all --prompt 512 --batch 8
    gilt llm serve --model seed-8.0b --scheduler continuous --requests 10000 --rate 20
    gilt llm serve --model seed-8.0b --offline --requests 2000 --out serve-out/
    gilt llm serve --model seed-8.0b --slo-ttft-ms 2000 --slo-tpot-ms 50   # max rate
    gilt llm shard --model seed-12.8b --precision w8a8 --device phone-sd8gen3-12gb
    gilt llm golden --precision w4a8 --kv-bits 8 --steps 4 --onnx tiny.onnx --check-ort
    gilt llm validate | gilt llm c1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from gilt import options

TARGET_CHOICES = ("gpu", "cpu", "npu", "all")
#: a token count (prompt, context, tokens per step)
TOKENS = options.int_in(1, 2**22, what="a token count")


def _deployment_args(p: argparse.ArgumentParser) -> None:
    from networks.llm import CONFIGS, SIM_PRECISIONS

    p.add_argument("--model", default="seed-8.0b",
                   help=f"decoder geometry: {', '.join(CONFIGS)}")
    p.add_argument("--precision", default="w4a8", choices=sorted(SIM_PRECISIONS),
                   help="weights/activations")
    p.add_argument("--kv-bits", type=int, choices=(16, 8, 4),
                   help="KV-cache width (default: 16 for 16-bit activations, else 8)")
    p.add_argument("--hw", help="hardware preset or YAML of the target (default per target: "
                                "h100-sxm5, sapphire-rapids, npu-128x128)")
    p.add_argument("--memory-gib", type=options.finite_float(1e-3, 2**20, what="GiB"),
                   help="device memory for weights + KV (default: GPU HBM; CPU 256, NPU 32)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="llm_command", metavar="ACTION", required=True,
                                help="what to do (run, serve, shard, golden, validate, c1)")
    _run_arguments(sub.add_parser("run", help="prefill and decode time of one model on each "
                                              "target"))
    _serve_arguments(sub.add_parser("serve", help="simulate a serving trace (static / dynamic "
                                                  "/ continuous batching)"))
    _shard_arguments(sub.add_parser("shard", help="sharded loading of a model on a "
                                                  "phone/edge device"))
    _golden_arguments(sub.add_parser("golden", help="run the tiny golden decoder (prefill + "
                                                    "decode)"))
    sub.add_parser("validate", help="model vs published measurements (medians per group)")
    sub.add_parser("c1", help="the seed's C1 table (12.8 B vs 8.0 B on A100/H100)")


def _run_arguments(run: argparse.ArgumentParser) -> None:
    _deployment_args(run)
    run.add_argument("--target", default="gpu", choices=TARGET_CHOICES,
                     help="hardware model(s) to cost on")
    run.add_argument("--batch", type=options.batch, default=1, help="sequences per step")
    run.add_argument("--prompt", type=TOKENS, default=512, help="prompt tokens (prefill)")
    run.add_argument("--context", type=TOKENS, help="decode context (default: the prompt)")
    run.add_argument("--json", metavar="PATH", help="write the rows as JSON (default: none)")


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    _deployment_args(serve)
    serve.add_argument("--target", default="gpu", choices=TARGET_CHOICES[:-1],
                       help="hardware model to serve on")
    serve.add_argument("--scheduler", default="continuous",
                       choices=("static", "dynamic", "continuous"), help="batching policy")
    serve.add_argument("--trace", metavar="CSV",
                       help="arrival_s,prompt_tokens,output_tokens (default: a generated one)")
    serve.add_argument("--requests", type=options.int_in(1, 10**7, what="a request count"),
                       default=1000, help="requests in a generated trace")
    serve.add_argument("--rate", type=options.finite_float(1e-9, 1e9, what="a rate"),
                       default=10.0, help="Poisson arrivals per second")
    serve.add_argument("--offline", action="store_true", help="all requests at t = 0")
    serve.add_argument("--prompt", default="lognormal:1024:512",
                       help="prompt lengths: N, uniform:LO:HI, lognormal:MEAN:STD, normal:M:S")
    serve.add_argument("--output", default="lognormal:256:128", help="output lengths (same)")
    serve.add_argument("--seed", type=options.seed, default=0, help="seed of the trace")
    serve.add_argument("--batch-size", type=options.batch, default=32,
                       help="static batch / dynamic max batch")
    serve.add_argument("--queue-delay-ms", type=options.finite_float(0, 1e9, what="ms"),
                       default=50.0, help="dynamic batching: longest wait for a batch")
    serve.add_argument("--max-seqs", type=options.batch, default=256,
                       help="continuous batching: sequences in flight")
    serve.add_argument("--max-batched-tokens", type=TOKENS, default=8192,
                       help="continuous batching: tokens per step")
    serve.add_argument("--no-chunked-prefill", action="store_true",
                       help="prefill a prompt in one step, not in chunks")
    serve.add_argument("--reserve", default="prompt", choices=("prompt", "full"),
                       help="KV cache reserved at admission: the prompt, or prompt + output")
    serve.add_argument("--slo-ttft-ms", type=options.finite_float(1e-6, 1e9, what="ms"),
                       help="with --slo-tpot-ms: search the highest rate meeting both (p99) "
                            "(default: none)")
    serve.add_argument("--slo-tpot-ms", type=options.finite_float(1e-6, 1e9, what="ms"),
                       help="time per output token bound of the search (default: none)")
    serve.add_argument("--coarse", action="store_true",
                       help="step tables on powers of 4 (faster to build, less exact)")
    serve.add_argument("--out", metavar="DIR", help="write requests.csv, timeline.csv, "
                                                    "summary.json and serve.png (default: "
                                                    "none)")


def _shard_arguments(shard: argparse.ArgumentParser) -> None:
    _deployment_args(shard)
    shard.add_argument("--device", default="phone-sd8gen3-12gb",
                       help="device preset or YAML (simulator/serving/presets)")
    shard.add_argument("--context", type=TOKENS, default=2048,
                       help="KV cache reserved (tokens)")
    shard.add_argument("--shard-mib", type=options.finite_float(1e-3, 2**20, what="MiB"),
                       default=512.0, help="largest shard loaded at once")


def _golden_arguments(golden: argparse.ArgumentParser) -> None:
    golden.add_argument("--precision", default="w4a8", choices=("fp32", "w4", "w4a8"),
                        help="weights (and activations) of the golden decoder")
    golden.add_argument("--kv-bits", default="8", choices=("none", "8", "4"),
                        help="KV-cache quantization")
    golden.add_argument("--block-size", type=int, default=32, choices=(32, 64, 128),
                        help="weight quantization block")
    golden.add_argument("--batch", type=options.int_in(1, 1024, what="a batch size"),
                        default=1, help="sequences")
    golden.add_argument("--prompt-len", type=options.int_in(1, 4096, what="a token count"),
                        default=8, help="prompt tokens")
    golden.add_argument("--steps", type=options.int_in(0, 4096, what="a step count"),
                        default=4, help="decode steps")
    golden.add_argument("--seed", type=options.seed, default=0, help="seed of weights and prompt")
    golden.add_argument("--onnx", metavar="PATH",
                        help="also write the ONNX graph (default: none)")
    golden.add_argument("--check-ort", action="store_true",
                        help="run the same tokens in ONNX Runtime and report the difference")


def _fail(message: str) -> int:
    print(f"gilt llm: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    handlers = {"run": _run, "serve": _serve, "shard": _shard, "golden": _golden,
                "validate": _validate, "c1": _c1}
    try:
        return handlers[args.llm_command](args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        return _fail(str(exc))


def _deployment(args, target: str):
    from gilt.llm import Deployment
    return Deployment(args.model, args.precision, target, args.hw if args.hw else None,
                      kv_bits=args.kv_bits, memory_gib=args.memory_gib)


def _positive(name: str, value) -> None:
    if value is not None and value < 1:
        raise ValueError(f"--{name} must be >= 1, got {value}")


def _run(args) -> int:
    from gilt.llm import kv_capacity_tokens, phase_parts

    for name in ("batch", "prompt", "context"):
        _positive(name, getattr(args, name))
    if args.target == "all" and args.hw:
        raise ValueError("--hw names one target's hardware; give --target too")
    targets = ("gpu", "cpu", "npu") if args.target == "all" else (args.target,)
    context = args.context or args.prompt
    rows = []
    for target in targets:
        dep = _deployment(args, target)
        pre = phase_parts(dep, batch=args.batch, tokens=args.prompt, context=args.prompt)
        dec = phase_parts(dep, batch=args.batch, tokens=1, context=context)
        rows.append({"target": target, "hardware": dep.spec().name, "model": args.model,
                     "precision": args.precision, "kv_bits": dep.kv_bits_resolved(),
                     "batch": args.batch, "prompt": args.prompt, "context": context,
                     "weights_gb": dep.weight_bytes() / 1e9,
                     "kv_capacity_tokens": kv_capacity_tokens(dep),
                     "prefill_ms": 1e3 * pre["total"],
                     "prefill_tok_s": args.batch * args.prompt / pre["total"],
                     "decode_step_ms": 1e3 * dec["total"],
                     "decode_tok_s": args.batch / dec["total"],
                     "decode_parts_ms": {k: 1e3 * v for k, v in dec.items() if k != "total"},
                     "prefill_parts_ms": {k: 1e3 * v for k, v in pre.items() if k != "total"}})
    head = (f"{'target':<7}{'hardware':<18}{'weights GB':>11}{'prefill ms':>12}"
            f"{'prefill tok/s':>15}{'decode ms':>11}{'decode tok/s':>14}  decode split (ms)")
    print(f"{args.model} {args.precision}, batch {args.batch}, prompt {args.prompt}, "
          f"decode context {context}")
    print(head)
    print("-" * len(head))
    for r in rows:
        parts = ", ".join(f"{k} {v:.3g}" for k, v in r["decode_parts_ms"].items())
        print(f"{r['target']:<7}{r['hardware'][:17]:<18}{r['weights_gb']:>11.2f}"
              f"{r['prefill_ms']:>12.2f}{r['prefill_tok_s']:>15,.0f}{r['decode_step_ms']:>11.3f}"
              f"{r['decode_tok_s']:>14,.1f}  {parts}")
    if args.json:
        from common.files import write_text_atomic
        print(f"json: {write_text_atomic(args.json, json.dumps(rows, indent=1))}")
    return 0


def _scheduler(args):
    from simulator.serving import ContinuousBatching, DynamicBatching, StaticBatching

    if args.scheduler == "static":
        return StaticBatching(args.batch_size)
    if args.scheduler == "dynamic":
        return DynamicBatching(args.batch_size, args.queue_delay_ms / 1e3)
    return ContinuousBatching(args.max_seqs, args.max_batched_tokens,
                              not args.no_chunked_prefill, reserve=args.reserve)


def _serve(args) -> int:
    import time

    from gilt.llm import step_cost
    from simulator.serving import (
        LengthDist,
        Slo,
        max_rate,
        offline_trace,
        poisson_trace,
        read_trace_csv,
        simulate,
    )

    _positive("requests", args.requests)
    if (args.slo_ttft_ms is None) != (args.slo_tpot_ms is None):
        raise ValueError("give both --slo-ttft-ms and --slo-tpot-ms (or neither)")
    if args.out:
        _check_out_dir(Path(args.out))
    prompt, output = LengthDist.parse(args.prompt), LengthDist.parse(args.output)
    dep = _deployment(args, args.target)
    sched = _scheduler(args)
    cost = step_cost(dep, coarse=args.coarse)
    t0 = time.perf_counter()
    if args.slo_ttft_ms is not None:
        slo = Slo(args.slo_ttft_ms / 1e3, args.slo_tpot_ms / 1e3)
        search = max_rate(cost, sched, slo, n=args.requests, prompt=prompt, output=output,
                          seed=args.seed)
        print(f"highest Poisson rate meeting p99 TTFT <= {args.slo_ttft_ms:g} ms and p99 TPOT "
              f"<= {args.slo_tpot_ms:g} ms: {search.rate_per_s:.2f} requests/s "
              f"({len(search.probes)} probes)")
        result = search.result
        if result is None:
            print("no rate tried meets the bound")
            return 0
    else:
        if args.trace:
            trace = read_trace_csv(args.trace)
        elif args.offline:
            trace = offline_trace(args.requests, prompt=prompt, output=output, seed=args.seed)
        else:
            trace = poisson_trace(args.requests, args.rate, prompt=prompt, output=output,
                                  seed=args.seed)
        result = simulate(trace, cost, sched)
    wall = time.perf_counter() - t0
    summary = result.summary()
    print(f"{dep.label()}; {args.scheduler} batching; KV cache {cost.kv_capacity_tokens:,} "
          f"tokens; simulated in {wall:.2f} s")
    _print_summary(summary)
    if args.out:
        _write_serve(Path(args.out), result, summary, dep.label())
        print(f"written: {args.out}/ (requests.csv, timeline.csv, summary.json, serve.png)")
    return 0


def _print_summary(s: dict) -> None:
    print(f"requests {s['requests']}, steps {s['steps']:,}, makespan {s['makespan_s']:.1f} s, "
          f"{s['output_tokens_per_s']:,.0f} output tok/s, {s['requests_per_s']:.2f} req/s, "
          f"preemptions {s['preemptions']}, peak KV {s['peak_kv_tokens']:,} tokens")
    print(f"{'':<6}{'p50':>10}{'p90':>10}{'p99':>10}{'mean':>10}   (ms)")
    for name in ("ttft", "tpot", "e2e"):
        print(f"{name:<6}" + "".join(f"{1e3 * s[f'{name}_{k}_s']:>10.1f}"
                                     for k in ("p50", "p90", "p99", "mean")))


def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / "summary.json").exists())):
        raise ValueError(f"--out {out} exists and is not a 'gilt llm serve' folder; "
                         f"choose a new folder")


def _write_serve(out: Path, result, summary: dict, label: str) -> None:
    from common.files import replace_dir_atomic, write_text_atomic

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    tr = result.trace
    lines = ["arrival_s,prompt_tokens,output_tokens,start_s,first_token_s,finish_s,ttft_s,"
             "tpot_s,preemptions"]
    for i in range(len(tr)):
        lines.append(f"{tr.arrival_s[i]:.6f},{tr.prompt_tokens[i]},{tr.output_tokens[i]},"
                     f"{result.start_s[i]:.6f},{result.first_token_s[i]:.6f},"
                     f"{result.finish_s[i]:.6f},{result.ttft_s[i]:.6f},{result.tpot_s[i]:.6f},"
                     f"{result.preemptions[i]}")
    write_text_atomic(staging / "requests.csv", "\n".join(lines) + "\n")
    timeline = ["time_s,running,kv_tokens"] + [f"{t:.6f},{int(b)},{int(k)}"
                                                for t, b, k in result.timeline]
    write_text_atomic(staging / "timeline.csv", "\n".join(timeline) + "\n")
    write_text_atomic(staging / "summary.json",
                      json.dumps({"deployment": label, **summary}, indent=1))
    _serve_plot(result, staging / "serve.png", label)
    replace_dir_atomic(staging, out)


def _serve_plot(result, path: Path, label: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from gilt.plots import save_figure

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    tl = result.timeline
    if tl.size:
        a.plot(tl[:, 0], tl[:, 2] / 1e3, lw=0.8, label="KV tokens held (k)")
        a.axhline(result.kv_capacity_tokens / 1e3, color="tab:red", lw=0.8, ls="--",
                  label="KV capacity")
        a.plot(tl[:, 0], tl[:, 1], lw=0.6, label="running sequences")
    a.set_xlabel("time (s)")
    a.legend(fontsize=7)
    a.set_title("KV cache over time", fontsize=9)
    for name, values in (("TTFT", result.ttft_s), ("TPOT", result.tpot_s),
                         ("end-to-end", result.e2e_s)):
        v = np.sort(values[~np.isnan(values)])
        if v.size:
            b.semilogx(v, np.linspace(0, 1, v.size), label=name)
    b.set_xlabel("seconds")
    b.set_ylabel("fraction of requests")
    b.legend(fontsize=7)
    b.set_title("latency CDF", fontsize=9)
    fig.suptitle(label, fontsize=9)
    save_figure(fig, path)


def _shard(args) -> int:
    from gilt.llm import shard_plan

    _positive("context", args.context)
    plan = shard_plan(args.model, args.precision, args.device, context=args.context,
                      kv_bits=args.kv_bits, shard_mib=args.shard_mib)
    dev = plan.device
    print(f"{args.model} {args.precision} ({plan.model_bytes / 1e9:.2f} GB) on {dev.name}: "
          f"{dev.app_memory_gib:g} GiB for the app, DRAM {dev.dram_bw_gb_per_s:g} GB/s, "
          f"storage {dev.storage_read_gb_per_s:g} GB/s")
    resident = sum(1 for s in plan.shards if s.resident)
    print(f"shards: {len(plan.shards)} of <= {args.shard_mib:g} MiB; resident {resident} "
          f"({plan.resident_bytes / 1e9:.2f} GB), streamed per pass "
          f"{plan.streamed_bytes_per_pass / 1e9:.2f} GB")
    print(f"peak memory {plan.peak_memory_bytes / 2**30:.2f} GiB (budget "
          f"{plan.budget_bytes / 2**30:.2f} GiB for weights); first load {plan.first_load_s:.2f} s;"
          f" pass {1e3 * plan.pass_s:.0f} ms (compute {1e3 * plan.compute_s_per_pass:.0f}, stream "
          f"{1e3 * plan.stream_s_per_pass:.0f}) -> {plan.tokens_per_s:.2f} tokens/s at batch 1")
    print("fits without streaming" if plan.fits else "streams every pass (does not fit)")
    return 0


def _golden(args) -> int:
    import numpy as np

    from networks.llm import Decoder

    for name in ("batch", "prompt_len", "steps"):
        _positive(name.replace("_", "-"), getattr(args, name))
    kv = None if args.kv_bits == "none" else int(args.kv_bits)
    dec = Decoder("tiny", precision=args.precision, kv_bits=kv, block_size=args.block_size,
                  seed=args.seed)
    rng = np.random.default_rng(args.seed)
    prompt = rng.integers(0, dec.config.vocab_size, (args.batch, args.prompt_len))
    tokens = dec.generate(prompt, args.steps)
    _, cache = dec.prefill(np.concatenate([prompt, tokens], axis=1))
    print(f"tiny decoder ({dec.config.param_count():,} parameters) {args.precision}, KV "
          f"{args.kv_bits}, block {args.block_size}: prompt {prompt.tolist()} -> greedy "
          f"{tokens.tolist()}; cache {cache.nbytes():,} bytes for {cache.length} positions")
    if args.onnx or args.check_ort:
        from networks.llm_onnx import export_decoder
        model = export_decoder(dec)
        if args.onnx:
            from common.files import write_bytes_atomic
            print(f"onnx: {write_bytes_atomic(args.onnx, model.SerializeToString())}")
        if args.check_ort:
            _check_ort(dec, model, prompt)
    return 0


def _check_ort(dec, model, prompt) -> None:
    import numpy as np

    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: no comparison")
        return
    from networks.llm import KVCache
    from networks.llm_onnx import cache_feeds

    ids = prompt
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids.astype(np.int64),
             **cache_feeds(dec, KVCache.empty(dec.config, ids.shape[0], dec.kv_bits))}
    got = sess.run(["logits"], feeds)[0]
    ref = dec.prefill(ids)[0]
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    print(f"ONNX Runtime {ort.__version__}: prefill logits max |diff| / max |logit| = {err:.2e}")


def _validate(args) -> int:
    from gilt.experiments.llm import format_validation, validate
    print(format_validation(validate()))
    return 0


def _c1(args) -> int:
    from gilt.experiments.llm import c1_markdown, c1_rows
    print(c1_markdown(c1_rows()))
    return 0

"""``gilt gpu --hw PRESET_OR_YAML --net NAME_OR_ONNX [--batch N]``: a network on a GPU model."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from common.files import write_text_atomic
from simulator.gpu.spec import gpu_presets
from simulator.results import NetworkResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hw", required=True,
                        help=f"GPU preset ({', '.join(gpu_presets())}) or a spec .yaml path")
    parser.add_argument("--net", required=True,
                        help="built-in network name or an .onnx path (networks.workload_for); "
                             "'resnet50-ref' is the simulator's own ResNet-50 v1.5 geometry")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--precision", default="w8a8", choices=("w8a8", "w4a8", "float32", "fp16"),
                        help="deployment precision of the workload (default w8a8)")
    parser.add_argument("--mma", default="auto",
                        choices=("auto", "fp16", "bf16", "tf32", "int8", "int4", "fp8", "fp32"),
                        help="force the Tensor Core input type (default: from bit widths)")
    parser.add_argument("--epilogue", default="workload", choices=("workload", "fused", "unfused"),
                        help="fuse BN/ReLU/add into the GEMM epilogue or run them as passes")
    parser.add_argument("--gating", default="auto",
                        choices=("auto", "dense", "tile-skip", "compaction"),
                        help="how gated layers are deployed (default auto: fastest per layer)")
    parser.add_argument("--launch", default="stream", choices=("stream", "graph"),
                        help="kernel launches on a stream, or a CUDA Graph / TensorRT engine")
    parser.add_argument("--fusion", default="none", choices=("none", "tensorrt"),
                        help="fold element-wise layers into GEMM epilogues (TensorRT-style)")
    parser.add_argument("--plot", metavar="PNG", help="write a roofline plot")
    parser.add_argument("--json", metavar="PATH", help="write per-layer rows and totals as JSON")


def _workload(net: str, batch: int, precision: str):
    if net == "resnet50-ref":
        from gilt.experiments.published import resnet50_workload
        return resnet50_workload(batch, "fp16" if precision in ("fp16", "float32") else precision)
    try:
        import networks
    except ImportError as exc:   # pragma: no cover - networks is part of the project
        raise ValueError(f"cannot build network {net!r}: networks package unavailable ({exc})") from exc
    wl_precision = "float32" if precision == "fp16" else precision
    workload = networks.workload_for(net, batch=batch, precision=wl_precision)
    if precision == "fp16":   # float graph deployed in FP16
        layers = tuple(dataclasses.replace(layer, weight_bits=16, act_bits=16, out_bits=16)
                       for layer in workload.layers)
        workload = dataclasses.replace(workload, layers=layers, precision="fp16")
    if "batch" not in workload.meta:   # layers may carry batch x heads; the input batch is ours
        workload = dataclasses.replace(workload, meta={**workload.meta, "batch": batch})
    return workload


def format_table(result: NetworkResult) -> str:
    """Plain-text per-layer table with totals."""
    head = (f"{'layer':<28}{'op':<11}{'mma':<6}{'tile':<11}{'waves':>6}{'SM%':>6}{'TC%':>6}"
            f"{'util%':>7}{'us':>9}{'TFLOP/s':>9}{'GB/s':>8}  {'bound':<9}gating")
    lines = [head, "-" * len(head)]
    for r in result.layers:
        d = r.details
        lines.append(
            f"{r.name[:27]:<28}{d.get('op', '')[:10]:<11}{str(d.get('mma_dtype', ''))[:5]:<6}"
            f"{str(d.get('tile', '-')):<11}{d.get('waves', 0):>6}"
            f"{100 * d.get('sm_utilization', 0):>6.1f}{100 * d.get('tc_pipe_utilization', 0):>6.1f}"
            f"{100 * r.utilization:>7.1f}{r.time_s * 1e6:>9.1f}{d.get('achieved_tflops', 0):>9.1f}"
            f"{d.get('achieved_gbps', 0):>8.0f}  {r.bound:<9}{d.get('gating_mode', '-')}")
    d = result.details
    lines.append("-" * len(head))
    lines.append(
        f"total {result.network} on {result.hardware}, batch {result.batch}: "
        f"{result.time_s * 1e3:.3f} ms, {result.throughput_per_s:,.0f} images/s, "
        f"SM util {100 * d['sm_utilization']:.1f}%, TC pipe util "
        f"{100 * d['tc_pipe_utilization']:.1f}%, MAC util {100 * result.utilization:.1f}%, "
        f"{d['achieved_tflops']:.1f} TFLOP/s, DRAM {d['dram_bytes'] / 1e6:.1f} MB")
    lines.append(f"launch {d.get('launch', 'stream')}, fusion {d.get('fusion', 'none')}; "
                 f"{d.get('gating_note', '')}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from gilt.plots import roofline_plot
    from simulator.gpu.network import simulate_network
    from simulator.gpu.spec import load_gpu_spec

    try:
        if args.batch < 1:
            raise ValueError(f"--batch must be >= 1, got {args.batch}")
        spec = load_gpu_spec(args.hw)
        workload = _workload(args.net, args.batch, args.precision)
        result = simulate_network(workload, spec, mma_dtype=args.mma, epilogue=args.epilogue,
                                  gating=args.gating, launch=args.launch, fusion=args.fusion)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        print(f"gilt gpu: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.plot:
        print(f"roofline plot: {roofline_plot(result, spec, args.plot)}")
    if args.json:
        payload = {"network": result.network, "hardware": result.hardware,
                   "batch": result.batch, "time_s": result.time_s,
                   "images_per_s": result.throughput_per_s, "utilization": result.utilization,
                   "details": result.details, "layers": result.rows()}
        path = write_text_atomic(args.json, json.dumps(payload, indent=1, default=str))
        print(f"json: {path}")
    return 0

"""``gilt gpu --hw PRESET_OR_YAML --net NAME_OR_ONNX [--batch N]``: a network on a GPU model."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from gilt.files import write_text_atomic
from simulator.gpu.spec import gpu_presets


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
    parser.add_argument("--plot", metavar="PNG", help="write a roofline plot")
    parser.add_argument("--json", metavar="PATH", help="write per-layer rows and totals as JSON")


def _workload(net: str, batch: int, precision: str):
    if net == "resnet50-ref":
        from simulator.gpu.published import resnet50_workload
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


def run(args: argparse.Namespace) -> int:
    from simulator.gpu.network import format_table, roofline_plot, simulate_network
    from simulator.gpu.spec import load_gpu_spec

    try:
        if args.batch < 1:
            raise ValueError(f"--batch must be >= 1, got {args.batch}")
        spec = load_gpu_spec(args.hw)
        workload = _workload(args.net, args.batch, args.precision)
        result = simulate_network(workload, spec, mma_dtype=args.mma, epilogue=args.epilogue)
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

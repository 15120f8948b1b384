"""``gilt gpu``: simulate a network on a GPU (SMs, Tensor Cores, L2, HBM).

Examples::

    gilt gpu                                                # resnet50, w4a8, a100-sxm4-40gb
    gilt gpu --hw h100-sxm5 --net resnet50 --batch 8 --plot roofline.png
    gilt gpu --hw my_gpu.yaml --net model.onnx --precision w8a8 --epilogue unfused
    gilt gpu --net resnet50-ref --precision fp16            # the simulator's ResNet-50 v1.5

The network is costed dense, from its shapes (no golden run; ``gilt report`` measures gating
and zero-skip on a golden run).
"""

from __future__ import annotations

import argparse
import dataclasses

from gilt import options
from gilt.commands import _target

COLUMNS = (*_target.COMMON_COLUMNS[:-1],
           _target.Column("mma_dtype", "MMA type"),
           _target.Column("tile", "tile"),
           _target.Column("waves", "waves", ","),
           _target.Column("sm_utilization", "SM busy (%)", ".1f", 100),
           _target.Column("tc_pipe_utilization", "TC pipe (%)", ".1f", 100),
           _target.Column("achieved_tflops", "TFLOP/s", ".1f"),
           _target.Column("achieved_gbps", "DRAM GB/s", ",.0f"),
           _target.COMMON_COLUMNS[-1],
           _target.Column("gating_mode", "gating mode"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simulator.gpu.spec import gpu_presets

    _target.add_arguments(parser, "gpu", gpu_presets())
    for action in parser._actions:  # the GPU deploys float graphs in FP16 too
        if action.dest == "precision":
            action.choices = (*options.PRECISIONS, "fp16")
        if action.dest == "net":
            action.help += "; 'resnet50-ref' is the simulator's own ResNet-50 v1.5 geometry"
    model = parser.add_argument_group("model")
    model.add_argument("--mma", default="auto",
                       choices=("auto", "fp16", "bf16", "tf32", "int8", "int4", "fp8", "fp32"),
                       help="force the Tensor Core input type (auto: from the layers' bit "
                            "widths)")
    model.add_argument("--epilogue", default="workload",
                       choices=("workload", "fused", "unfused"),
                       help="fuse BN/ReLU/add into the GEMM epilogue or run them as passes "
                            "(workload: as the network says)")
    model.add_argument("--gating-mode", default="auto",
                       choices=("auto", "dense", "tile-skip", "compaction"),
                       help="how gated layers are deployed (auto: the fastest per layer); "
                            "--gating elsewhere is the gating strategy of a golden run")
    model.add_argument("--launch", default="stream", choices=("stream", "graph"),
                       help="kernel launches on a stream, or a CUDA Graph / TensorRT engine")
    model.add_argument("--fusion", default="none", choices=("none", "tensorrt"),
                       help="fold element-wise layers into GEMM epilogues (TensorRT-style)")
    parser.add_argument("--plot", metavar="PNG",
                        help="write a roofline plot (default: none)")


def _workload(args):
    if (args.net or "") == "resnet50-ref":
        from gilt.experiments.published import resnet50_workload

        if args.input_size is not None:
            raise ValueError("--input-size does not apply to resnet50-ref (224x224)")
        return resnet50_workload(args.batch, "fp16" if args.precision in ("fp16", "float32")
                                 else args.precision)
    precision = args.precision
    if precision == "fp16":
        args = argparse.Namespace(**{**vars(args), "precision": "float32"})
    workload = _target.network_workload(args)
    if precision == "fp16":   # the float graph deployed in FP16
        layers = tuple(dataclasses.replace(layer, weight_bits=16, act_bits=16, out_bits=16)
                       for layer in workload.layers)
        workload = dataclasses.replace(workload, layers=layers, precision="fp16")
    if "batch" not in workload.meta:   # layers may carry batch x heads; the input batch is ours
        workload = dataclasses.replace(workload, meta={**workload.meta, "batch": args.batch})
    return workload


def format_table(result, workload=None) -> str:
    """The per-layer table and the totals line, as ``gilt gpu`` prints them."""
    d = result.details
    summary = _target.totals(result)
    return (_target.render(COLUMNS, _target.layer_rows(result, workload)) + "\n"
            + _target.totals_line(summary, _gpu_details(d)))


def _gpu_details(d: dict) -> str:
    note = d.get("gating_note", "")
    return (f"SM busy {100 * d['sm_utilization']:.1f}%, TC pipe "
            f"{100 * d['tc_pipe_utilization']:.1f}%, {d['achieved_tflops']:.1f} TFLOP/s; "
            f"launch {d.get('launch', 'stream')}, fusion {d.get('fusion', 'none')}"
            + (f"\n{note}" if note else ""))


def run(args: argparse.Namespace) -> int:
    from simulator.gpu.network import simulate_network
    from simulator.gpu.spec import load_gpu_spec

    _target.check_outputs(args, "plot")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise ValueError(f"--plot {args.plot!r}: name a .png file")
    spec = load_gpu_spec(args.hw or options.DEFAULT_HW["gpu"])
    workload = _workload(args)
    result = simulate_network(workload, spec, mma_dtype=args.mma, epilogue=args.epilogue,
                              gating=args.gating_mode, launch=args.launch, fusion=args.fusion)
    d = result.details
    summary = _target.totals(result, args, sm_utilization=d["sm_utilization"],
                             tc_pipe_utilization=d["tc_pipe_utilization"],
                             achieved_tflops=d["achieved_tflops"], epilogue=d.get("epilogue"),
                             mma_dtype=d.get("mma_dtype"))
    line = _target.totals_line(summary, _gpu_details(d))
    files = []
    if args.plot:
        from gilt.plots import figure_png, roofline_figure

        files.append((args.plot, figure_png(roofline_figure(result, spec))))
    return _target.emit(args, _target.layer_rows(result, workload), COLUMNS, summary, line,
                        extra_json={"details": d}, extra_files=files)

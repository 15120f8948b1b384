"""``gilt rtl``: run layers on gilt's systolic-array RTL from golden vectors, bit for bit, and put
the measured cycles beside the NPU model's prediction and SCALE-Sim mode.

Examples::

    gilt rtl --rows 8 --cols 8 --dataflow ws --op conv2d --param c=16,h=8,w=8,k=16
    gilt rtl --rows 8 --cols 8 --dataflow os --network resnet50 --input-size 32 \\
             --layers conv1,layer1.0.conv1 --junit rtl.xml
    gilt rtl --vectors golden/conv2d_n1_c8_h8_w8_k8_r3_s3_st1_p1_d1_g1_w4a8

One line per layer: PASS/FAIL (int32 accumulators and requantized outputs bit-exact), RTL
cycles, the model's cycles (``simulator.npu.rtl_array``; ``=`` when every counter agrees),
SCALE-Sim-mode cycles for the same array, utilization and simulation time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from gilt import options

COUNTERS = ("cycles", "busy", "stall", "steps", "gated", "skipped")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arr = parser.add_argument_group("array")
    arr.add_argument("--rows", type=options.int_in(1, 256, what="a PE count"), default=8,
                     help="PE rows, 1..256")
    arr.add_argument("--cols", type=options.int_in(1, 256, what="a PE count"), default=8,
                     help="PE columns, 1..256")
    arr.add_argument("--dataflow", choices=("ws", "os"), default="ws",
                     help="weight- or output-stationary")
    arr.add_argument("--simulator", choices=("auto", "verilator", "icarus"), default="auto",
                     help="auto = Verilator if installed, else Icarus Verilog")
    arr.add_argument("--no-zero-skip", action="store_true",
                     help="run with zero-skip off (all-zero blocks are not gated)")
    src = parser.add_argument_group("what to run (choose one)")
    src.add_argument("--op", choices=("conv2d", "matmul"),
                     help="an operator case (default: none)")
    src.add_argument("--param", action="append", metavar="KEY=VALUE",
                     help="operator parameter, as for `gilt golden --op` (default: the "
                          "operator's, see gilt golden --list-ops)")
    src.add_argument("--network", help="built-in network (with --layers) (default: none)")
    src.add_argument("--vectors", type=Path,
                     help="a golden-vector case folder, or a network folder with index.json "
                          "(default: none)")
    net = parser.add_argument_group("network options")
    net.add_argument("--layers", help="comma-separated layer names (default: every conv/matmul)")
    net.add_argument("--input-size", type=options.input_size, default=None,
                     help="input height/width (default: the network's)")
    net.add_argument("--precision", default=options.DEFAULT_PRECISION,
                     choices=("w4a8", "w8a8"), help="quantization")
    out = parser.add_argument_group("output")
    out.add_argument("--seed", type=options.seed, default=0, help="random seed")
    out.add_argument("--junit", type=Path, help="write JUnit XML here (default: none)")
    out.add_argument("--json", type=Path,
                     help="write every layer's counters and predictions (default: none)")
    out.add_argument("--keep-vectors", type=Path,
                     help="write the generated golden vectors here (default: a temporary folder)")


def _case_dirs(args, work: Path) -> list[Path]:
    """Golden-vector case folders to run, generating them when asked to."""
    from validation import cases
    from validation.manifest import WriteOptions, golden_files, write_tree_atomic

    options = WriteOptions(formats=("npy", "hex"), word_bits=32, endianness="little")
    if args.vectors:
        if (args.vectors / "index.json").exists():
            index = json.loads((args.vectors / "index.json").read_text())
            return [args.vectors / entry["path"] for entry in index["layers"]]
        if not (args.vectors / "manifest.json").exists():
            raise ValueError(f"--vectors {str(args.vectors)!r}: no manifest.json or index.json "
                             "(a folder written by `gilt golden`)")
        return [args.vectors]
    if args.op:
        case = cases.OperatorCase.parse(args.op, cases.parse_param_list(args.param), args.seed)
        _, files = golden_files(case.describe(), case.tensors(), options)
        return [write_tree_atomic(work / case.name, files)]
    from validation.network import network_golden_files

    layers = args.layers.split(",") if args.layers else None
    name, files = network_golden_files(args.network, precision=args.precision,
                                       input_size=args.input_size, layers=layers,
                                       seed=args.seed, options=options)
    target = write_tree_atomic(work / name, files)
    index = json.loads((target / "index.json").read_text())
    return [target / entry["path"] for entry in index["layers"]]


def _row(run) -> str:
    agree = "=" if run.model_matches else "!"
    scalesim = "-" if run.scalesim_cycles is None else str(run.scalesim_cycles)
    return (f"{'PASS' if run.passed else 'FAIL'}  {run.layer.name[:44]:<44} "
            f"{run.counters['cycles']:>10} {agree}{run.model['cycles']:>10} {scalesim:>10} "
            f"{run.utilization:>6.1%} {run.sim_seconds:>8.2f}s")


def _comparisons(run) -> list:
    from validation.check import compare

    counters = compare(np.array([run.counters[k] for k in COUNTERS], np.int64),
                       np.array([run.model[k] for k in COUNTERS], np.int64),
                       name=f"{run.layer.name}/model-counters[{','.join(COUNTERS)}]")
    return [run.acc, run.output, counters]


def _validate(args) -> None:
    chosen = [n for n, v in (("--op", args.op), ("--network", args.network),
                             ("--vectors", args.vectors)) if v]
    if len(chosen) != 1:
        raise ValueError(f"choose exactly one of --op, --network, --vectors (got "
                         f"{chosen or 'none'})")
    if args.param and not args.op:
        raise ValueError("--param applies to --op")
    if args.layers and not args.network:
        raise ValueError("--layers applies to --network")
    for key in ("rows", "cols"):
        if not 1 <= getattr(args, key) <= 64:
            raise ValueError(f"--{key} {getattr(args, key)}: expected 1..64")


def run(args: argparse.Namespace) -> int:
    from validation.check import write_junit
    from validation.rtl.build import ArrayParams, ToolMissingError, choose_simulator
    from validation.rtl.driver import load_layer, run_layer

    try:
        _validate(args)
        params = ArrayParams(args.rows, args.cols, args.dataflow)
        with tempfile.TemporaryDirectory(prefix="gilt-rtl-vectors-") as tmp:
            work = args.keep_vectors or Path(tmp)
            layers = [load_layer(d) for d in _case_dirs(args, work)]
            simulator = choose_simulator(args.simulator)  # after the input checks
            print(f"gilt rtl: {args.rows}x{args.cols} {args.dataflow}, {simulator}, "
                  f"zero-skip {'off' if args.no_zero_skip else 'on'}; requantization in the "
                  "bench (the RTL stops at int32 + bias)")
            print(f"{'':6}{'layer':<44} {'RTL cyc':>10} {'model cyc':>11} {'SCALE-Sim':>10} "
                  f"{'util':>6} {'sim time':>9}")
            runs = []
            for layer in layers:
                run_ = run_layer(layer, params, simulator, zero_skip=not args.no_zero_skip)
                runs.append(run_)
                print(_row(run_), flush=True)
    except (ValueError, ToolMissingError, RuntimeError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"gilt rtl: error: {message}", file=sys.stderr)
        return 2
    comparisons = [c for r in runs for c in _comparisons(r)]
    if args.junit:
        write_junit(args.junit, comparisons, suite="gilt-rtl")
    if args.json:
        from common.files import write_text_atomic
        write_text_atomic(args.json, json.dumps([
            {"layer": r.layer.name, "rows": args.rows, "cols": args.cols,
             "dataflow": args.dataflow, "simulator": simulator, "passed": r.passed,
             "counters": r.counters, "model": r.model, "scalesim_cycles": r.scalesim_cycles,
             "utilization": r.utilization, "sim_seconds": r.sim_seconds} for r in runs],
            indent=2) + "\n")
    ok = all(c.passed for c in comparisons)
    print(f"{'PASS' if ok else 'FAIL'}: {sum(r.passed for r in runs)}/{len(runs)} layers "
          f"bit-exact, {sum(r.model_matches for r in runs)}/{len(runs)} with model = RTL")
    return 0 if ok else 1

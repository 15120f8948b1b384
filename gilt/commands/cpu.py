"""``gilt cpu``: simulate a network on a CPU (SIMD lanes, VNNI, caches, cores).

Examples::

    gilt cpu                                                 # resnet50, w4a8, zen5-epyc
    gilt cpu --hw host --net bert_base --precision float32 --threads 2
    gilt cpu --hw my_cpu.yaml --net model.onnx --isa avx2 --int8-path madd --csv layers.csv
    gilt cpu --hw skylake-sp --net resnet50 --compare-isa      # scalar vs AVX2 vs AVX-512

The network is costed dense, from its shapes (no golden run; ``gilt report`` measures gating
and zero-skip on a golden run).
"""

from __future__ import annotations

import argparse

from gilt import options
from gilt.commands import _target

COLUMNS = (*_target.COMMON_COLUMNS[:-1],
           _target.Column("instruction_path", "instructions"),
           _target.Column("lane_utilization", "SIMD lanes (%)", ".1f", 100),
           _target.Column("block", "register block"),
           _target.Column("threads", "threads", ","),
           _target.COMMON_COLUMNS[-1])
MAX_THREADS = 2**16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simulator.cpu.model import CONV_METHODS
    from simulator.cpu.presets import cpu_presets
    from simulator.cpu.spec import ISA_BITS

    _target.add_arguments(parser, "cpu", cpu_presets(), hw_extra=", 'host' (this machine)")
    model = parser.add_argument_group("model")
    model.add_argument("--isa", default="best", choices=[*ISA_BITS, "best"],
                       help="vector ISA of the kernels (best: the widest the CPU has)")
    model.add_argument("--int8-path", choices=("vnni", "madd"),
                       help="int8 instructions: vpdpbusd (vnni) or vpmaddubsw+vpmaddwd (madd) "
                            "(default: vnni where the CPU has it)")
    model.add_argument("--conv-method", default="im2col", choices=CONV_METHODS,
                       help="how convolutions are lowered")
    model.add_argument("--threads", type=options.int_in(1, MAX_THREADS, what="a thread count"),
                       help="cores used, at most the CPU's (default: all)")
    model.add_argument("--compare-isa", action="store_true",
                       help="also print network time for scalar, AVX2 and AVX-512 kernels")


def _kernel(args, isa=None):
    from simulator.cpu.model import KernelChoice

    return KernelChoice(isa=isa or args.isa, int8_path=args.int8_path,
                        conv_method=args.conv_method, threads=args.threads)


def _block(row: dict) -> dict:
    return {"block": f"{row['mr']}x{row['nr_vectors']}" if "mr" in row else None}


def run(args) -> int:
    from simulator.cpu.model import simulate_network
    from simulator.cpu.presets import load_cpu_spec

    _target.check_outputs(args)
    spec = load_cpu_spec(args.hw or options.DEFAULT_HW["cpu"])
    if args.threads is not None and args.threads > spec.cores:
        raise ValueError(f"--threads {args.threads}: {spec.name} has {spec.cores} cores")
    workload = _target.network_workload(args)
    result = simulate_network(workload, spec, _kernel(args))
    summary = _target.totals(result, args, isa=result.details["isa"],
                             lane_utilization=result.details["lane_utilization"],
                             time_by_bound_s=result.details["time_by_bound_s"])
    details = [f"{spec.cores} cores, {result.details['isa']}, SIMD lanes "
               f"{100 * summary['lane_utilization']:.1f}%"]
    if args.compare_isa:
        isas = ["scalar", "avx2"] + (["avx512"] if spec.vector_bits >= 512 else [])
        times = {isa: simulate_network(workload, spec, _kernel(args, isa)).time_s
                 for isa in isas}
        summary["time_by_isa_s"] = times
        details.append("  ".join(f"{isa}: {t * 1e3:.3f} ms (x{times['scalar'] / t:.1f} vs "
                                 "scalar)" for isa, t in times.items()))
    line = _target.totals_line(summary, details[0]) + "".join(f"\n{d}" for d in details[1:])
    return _target.emit(args, _target.layer_rows(result, workload, _block), COLUMNS, summary,
                        line)

"""``gilt cpu``: simulate a network on a CPU (SIMD lanes, VNNI, caches, cores).

Examples::

    gilt cpu --hw zen5-epyc --net resnet50
    gilt cpu --hw host --net bert_base --precision float32 --threads 2
    gilt cpu --hw my_cpu.yaml --net model.onnx --isa avx2 --int8-path madd --csv layers.csv
    gilt cpu --hw skylake-sp --net resnet50 --compare-isa      # scalar vs AVX2 vs AVX-512
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from simulator.cpu.model import CONV_METHODS, KernelChoice, simulate_network
from simulator.cpu.presets import cpu_presets, load_cpu_spec
from simulator.cpu.spec import ISA_BITS
from simulator.results import NetworkResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hw", required=True,
                        help=f"CPU preset ({', '.join(cpu_presets())}), 'host' or a YAML file")
    parser.add_argument("--net", required=True, help="built-in network name or ONNX file")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--precision", default="w8a8",
                        help="float32, w8a8 (default) or w4a8")
    parser.add_argument("--isa", default="best", choices=[*ISA_BITS, "best"],
                        help="vector ISA of the kernels (default: widest the CPU has)")
    parser.add_argument("--int8-path", choices=("vnni", "madd"),
                        help="int8 instructions: vpdpbusd (vnni) or vpmaddubsw+vpmaddwd (madd)")
    parser.add_argument("--conv-method", default="im2col", choices=CONV_METHODS)
    parser.add_argument("--threads", type=int, help="cores used (default: all)")
    parser.add_argument("--compare-isa", action="store_true",
                        help="also print network time for scalar, AVX2 and AVX-512 kernels")
    parser.add_argument("--csv", metavar="PATH", help="write the per-layer table as CSV")
    parser.add_argument("--json", metavar="PATH", help="write totals and layers as JSON")
    parser.add_argument("--quiet", action="store_true", help="print totals only")


def totals(result: NetworkResult) -> dict:
    """Network totals as plain numbers (what ``--json`` writes next to the layer rows)."""
    return {"network": result.network, "hardware": result.hardware, "target": result.target,
            "layers": len(result.layers), "cycles": result.cycles, "time_s": result.time_s,
            "throughput_per_s": result.throughput_per_s, "macs_dense": result.macs_dense,
            "macs_done": result.macs_done, "utilization": result.utilization,
            "lane_utilization": result.details["lane_utilization"],
            "dram_bytes": result.details["dram_bytes"],
            "time_by_bound_s": result.details["time_by_bound_s"], "isa": result.details["isa"]}


def table(result: NetworkResult) -> str:
    head = (f"{'layer':<22}{'op path':>10}{'time us':>11}{'lanes%':>8}{'util%':>7}"
            f"{'block':>7}  bound")
    rows = [head]
    for lr in result.layers:
        d = lr.details
        block = f"{d['mr']}x{d['nr_vectors']}" if "mr" in d else "-"
        rows.append(f"{lr.name[:21]:<22}{d['instruction_path']:>10}{lr.time_s * 1e6:>11.1f}"
                    f"{100 * d['lane_utilization']:>8.1f}{100 * lr.utilization:>7.1f}"
                    f"{block:>7}  {lr.bound}")
    return "\n".join(rows)


def _csv_text(result: NetworkResult) -> str:
    rows = result.rows()
    buf = io.StringIO()
    keys = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _kernel(args, isa=None) -> KernelChoice:
    return KernelChoice(isa=isa or args.isa, int8_path=args.int8_path,
                        conv_method=args.conv_method, threads=args.threads)


def run(args) -> int:
    from common.files import write_text_atomic

    if args.batch < 1:
        print(f"gilt cpu: --batch must be >= 1, got {args.batch}", file=sys.stderr)
        return 2
    try:
        spec = load_cpu_spec(args.hw)
        import networks  # lazily: only needed here

        workload = networks.workload_for(args.net, batch=args.batch, precision=args.precision)
        result = simulate_network(workload, spec, _kernel(args))
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"gilt cpu: {exc}", file=sys.stderr)
        return 2
    summary = totals(result)
    if not args.quiet:
        print(table(result))
    print(f"{result.network} on {spec.name} ({spec.cores} cores, {result.details['isa']}, "
          f"{args.precision}): {result.time_s * 1e3:.3f} ms, {result.throughput_per_s:.1f}/s, "
          f"MAC utilization {100 * result.utilization:.1f}%, SIMD lanes "
          f"{100 * summary['lane_utilization']:.1f}%")
    if args.compare_isa:
        isas = ["scalar", "avx2"] + (["avx512"] if spec.vector_bits >= 512 else [])
        times = {isa: simulate_network(workload, spec, _kernel(args, isa)).time_s
                 for isa in isas}
        summary["time_by_isa_s"] = times
        print("  ".join(f"{isa}: {t * 1e3:.3f} ms (x{times['scalar'] / t:.1f} vs scalar)"
                        for isa, t in times.items()))
    if args.csv:
        write_text_atomic(args.csv, _csv_text(result))
    if args.json:
        write_text_atomic(args.json, json.dumps({"totals": summary, "layers": result.rows()},
                                                indent=2, default=str))
    return 0

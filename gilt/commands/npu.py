"""``gilt npu``: simulate a network on a systolic NPU, or reproduce a SCALE-Sim run.

Examples::

    gilt npu --hw npu-32x32 --net resnet50                  # gilt model, preset hardware
    gilt npu --hw my_npu.yaml --net model.onnx --dataflow os --search
    gilt npu --scalesim-config scale.cfg --topology Resnet50.csv --compute-report out.csv
    gilt npu --hw npu-32x32 --topology Resnet50.csv --mode scalesim --csv layers.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.files import write_text_atomic
from gilt.plots import timeline_plot
from simulator.npu import scalesim_compat as sc
from simulator.npu.model import MODES, MappingChoice, network_timeline, simulate_network
from simulator.npu.search import search_network
from simulator.npu.spec import DATAFLOWS, NpuSpec, load_npu_spec, npu_presets
from simulator.results import NetworkResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hw", help=f"hardware preset ({', '.join(npu_presets())}) or YAML")
    parser.add_argument("--net", help="built-in network name or ONNX file")
    parser.add_argument("--scalesim-config", metavar="CFG",
                        help="a SCALE-Sim .cfg file for the hardware (instead of --hw)")
    parser.add_argument("--topology", metavar="CSV",
                        help="a SCALE-Sim topology CSV for the network (instead of --net)")
    parser.add_argument("--gemm", action="store_true",
                        help="the topology CSV is SCALE-Sim's GEMM format (Layer, M, N, K)")
    parser.add_argument("--dataflow", choices=DATAFLOWS, help="override the spec's dataflow")
    parser.add_argument("--mode", choices=MODES,
                        help="gilt (default) or scalesim (SCALE-Sim 3.0.0's numbers exactly; "
                             "the default with --scalesim-config)")
    parser.add_argument("--batch", type=int, default=1, help="batch size for --net (default 1)")
    parser.add_argument("--precision", default="w8a8", help="w8a8 (default) or w4a8 for --net")
    parser.add_argument("--fm-tile", metavar="HxW",
                        help="feature-map tiling schedule, e.g. 4x4 (ifmap fetched per tile)")
    parser.add_argument("--search", action="store_true",
                        help="also search each layer's best mapping and compare with the fixed one")
    parser.add_argument("--csv", metavar="PATH", help="write the per-layer table as CSV")
    parser.add_argument("--json", metavar="PATH", help="write totals and layers as JSON")
    parser.add_argument("--compute-report", metavar="PATH",
                        help="write SCALE-Sim's COMPUTE_REPORT.csv columns (scalesim mode)")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="write all of SCALE-Sim's report CSVs there (with --scalesim-config)")
    parser.add_argument("--layout", metavar="CSV",
                        help="a SCALE-Sim layout CSV (its -l file; with --scalesim-config)")
    parser.add_argument("--ramulator-dir", metavar="DIR",
                        help="SCALE-Sim's Ramulator latency files (_ifmapFile<L>.npy, ...) for a "
                             "USER-mode config with UseRamulatorTrace: True")
    parser.add_argument("--energy", metavar="ERT", nargs="?", const="scalesim-45nm",
                        help="with --scalesim-config: per-action energy from an energy table "
                             "(default scalesim-45nm, Accelergy-style; or a YAML path)")
    parser.add_argument("--cores", metavar="IxF",
                        help="split each layer over I x F cores, SCALE-Sim v3 multi-core style "
                             "(ifmap rows into I parts, filters into F; with --scalesim-config)")
    parser.add_argument("--timeline", metavar="PATH",
                        help="write the per-fold PE utilization timeline (.csv, or .png plot)")
    parser.add_argument("--quiet", action="store_true", help="print totals only")


def spec_from_scalesim(config: sc.ScaleSimConfig) -> NpuSpec:
    """An NpuSpec with a SCALE-Sim config's array, SRAMs and dataflow (1-byte words, 1 GHz,
    DRAM at the config's first Bandwidth value in words per cycle, 10 when it has none)."""
    return NpuSpec(name=f"scalesim:{config.run_name}", array_rows=config.array_rows,
                   array_cols=config.array_cols, dataflow=config.dataflow,
                   ifmap_sram_kib=config.ifmap_sram_kib, filter_sram_kib=config.filter_sram_kib,
                   ofmap_sram_kib=config.ofmap_sram_kib,
                   dram_bw_bytes_per_cycle=float((config.bandwidth_words_per_cycle or (10,))[0]),
                   clock_mhz=1000.0, vector_ops_per_cycle=config.array_cols)


def _workload(args):
    if args.topology:
        return sc.topology_workload(args.topology, gemm=args.gemm)
    import networks  # lazily: the network package is only needed for --net

    return networks.workload_for(args.net, batch=args.batch, precision=args.precision)


def _table(result: NetworkResult, mode: str) -> str:
    if mode == "scalesim":
        head = (f"{'layer':<16}{'total cyc':>12}{'stall':>7}{'overall%':>10}{'map eff%':>10}"
                f"{'comp util%':>11}{'ifmap rd':>12}{'filter rd':>12}{'ofmap wr':>12}")
        rows = [head]
        for lr in result.layers:
            d = lr.details
            rows.append(f"{lr.name[:15]:<16}{d['total_cycles']:>12}{d['stall_cycles']:>7}"
                        f"{d['overall_util']:>10.2f}{d['mapping_efficiency']:>10.2f}"
                        f"{d['compute_util']:>11.2f}{d['sram_ifmap_reads']:>12}"
                        f"{d['sram_filter_reads']:>12}{d['sram_ofmap_writes']:>12}")
        return "\n".join(rows)
    head = (f"{'layer':<16}{'df':>3}{'cycles':>12}{'stall%':>7}{'util%':>7}{'map%':>6}"
            f"{'fill%':>6}{'folds':>7}{'DRAM KiB':>10}{'energy uJ':>10}  bound")
    rows = [head]
    for lr in result.layers:
        d = lr.details
        stall = 100 * lr.stall_cycles / lr.cycles if lr.cycles else 0.0
        if "mapping_efficiency" in d:
            extra = (f"{d['dataflow']:>3}{lr.cycles:>12.0f}{stall:>7.1f}"
                     f"{100 * lr.utilization:>7.1f}{100 * d['mapping_efficiency']:>6.1f}"
                     f"{100 * d['temporal_efficiency']:>6.1f}{d['folds']:>7}")
        else:
            extra = f"{'-':>3}{lr.cycles:>12.0f}{stall:>7.1f}{'-':>7}{'-':>6}{'-':>6}{'-':>7}"
        energy = "" if lr.energy_j is None else f"{lr.energy_j * 1e6:>10.2f}"
        rows.append(f"{lr.name[:15]:<16}{extra}{lr.dram_bytes / 1024:>10.1f}{energy:>10}  "
                    f"{lr.bound}")
    return "\n".join(rows)


def _totals(result: NetworkResult) -> dict:
    energy = [lr.energy_j for lr in result.layers if lr.energy_j is not None]
    return {"network": result.network, "hardware": result.hardware,
            "mode": result.details.get("mode"), "layers": len(result.layers),
            "cycles": result.cycles, "time_s": result.time_s,
            "stall_cycles": sum(lr.stall_cycles for lr in result.layers),
            "macs_dense": result.macs_dense, "macs_done": result.macs_done,
            "utilization": result.utilization,
            "dram_bytes": sum(lr.dram_bytes for lr in result.layers),
            "energy_j": sum(energy) if energy else None}


def run_scalesim_config(args, config) -> int:
    """``--scalesim-config`` in scalesim mode: every SCALE-Sim report, memory side included."""
    from simulator.npu.scalesim.multicore import parse_cores, simulate_multicore
    from simulator.npu.scalesim.reports import scalesim_table, write_reports

    try:
        if args.dataflow:
            config = config.replace(dataflow=args.dataflow)
        if args.net or not args.topology:
            raise ValueError("--scalesim-config in scalesim mode needs --topology")
        if args.layout:
            sc.read_layout(args.layout)
        rows = sc.read_topology(args.topology, gemm=args.gemm)
        if args.cores:
            reports = simulate_multicore(rows, config, parse_cores(args.cores))
        else:
            reports = sc.simulate_topology(rows, config, ramulator_dir=args.ramulator_dir)
    except (ValueError, TypeError) as exc:
        print(f"gilt npu: {exc}", file=sys.stderr)
        return 2
    print(scalesim_table(reports, quiet=args.quiet))
    if args.energy:
        from simulator.npu.scalesim.energy import layer_energy, load_ert

        try:
            ert = load_ert(args.energy)
        except ValueError as exc:
            print(f"gilt npu: {exc}", file=sys.stderr)
            return 2
        energies = [layer_energy(r, config, r.macs, ert) for r in reports]
        print(f"energy ({ert['name']}): {sum(e['total'] for e in energies) / 1e6:.3f} uJ")
    if args.report_dir:
        write_reports(reports, args.report_dir, config)
    if args.compute_report:
        write_text_atomic(Path(args.compute_report), sc.report_text(
            "compute", [r.strings("compute") for r in reports]))
    if args.csv:
        sc.write_rows_csv([r.row() for r in reports], args.csv)
    if args.json:
        write_text_atomic(Path(args.json), json.dumps([r.row() for r in reports], indent=1)
                          + "\n")
    return 0


def run(args) -> int:
    if bool(args.hw) == bool(args.scalesim_config):
        print("gilt npu: give exactly one of --hw and --scalesim-config", file=sys.stderr)
        return 2
    if bool(args.net) == bool(args.topology):
        print("gilt npu: give exactly one of --net and --topology", file=sys.stderr)
        return 2
    if args.batch < 1:
        print(f"gilt npu: --batch must be >= 1, got {args.batch}", file=sys.stderr)
        return 2
    try:
        if args.scalesim_config:
            config = sc.read_cfg(args.scalesim_config)
            spec = spec_from_scalesim(config)
            mode = args.mode or "scalesim"
            if mode == "scalesim":
                return run_scalesim_config(args, config)
        else:
            spec = load_npu_spec(args.hw)
            mode = args.mode or "gilt"
        if args.dataflow:
            spec = spec.with_dataflow(args.dataflow)
        choice = None
        if args.fm_tile:
            try:
                th, tw = (int(v) for v in args.fm_tile.lower().split("x"))
            except ValueError:
                raise ValueError(f"--fm-tile must look like 4x4, got {args.fm_tile!r}") from None
            choice = MappingChoice(fm_tile=(th, tw))
        workload = _workload(args)
        result = simulate_network(workload, spec, mode=mode, choice=choice)
    except (ValueError, TypeError) as exc:
        print(f"gilt npu: {exc}", file=sys.stderr)
        return 2
    totals = _totals(result)
    if not args.quiet:
        print(_table(result, mode))
    print(f"total: {totals['cycles']:.0f} cycles ({totals['time_s'] * 1e3:.3f} ms at "
          f"{spec.clock_mhz:g} MHz), PE utilization {totals['utilization']:.1%}, "
          f"stalls {totals['stall_cycles']:.0f}, DRAM {totals['dram_bytes'] / 2**20:.2f} MiB"
          + ("" if totals["energy_j"] is None else f", energy {totals['energy_j'] * 1e3:.3f} mJ")
          + f" [{spec.name}, {spec.dataflow}, {mode} mode]")
    out: dict = {"totals": totals, "layers": result.rows()}
    if args.search:
        report = search_network(workload, spec)
        print(report.summary())
        out["search"] = [{"layer": s.name, "fixed_util": s.fixed.utilization,
                          "best_util": s.best.utilization, "gain": s.gain,
                          "best_dataflow": s.best.details.get("dataflow"),
                          "best_loop_order": s.best.details.get("loop_order"),
                          "best_t_tile": s.best.details.get("t_tile"), "limit": s.limit}
                         for s in report.layers]
    if args.csv:
        sc.write_rows_csv(result.rows(), args.csv)
    if args.json:
        write_text_atomic(Path(args.json), json.dumps(out, indent=1, default=str) + "\n")
    if args.timeline:
        rows = network_timeline(result)
        if not rows:
            print("gilt npu: --timeline needs gilt mode (no per-fold timeline)", file=sys.stderr)
            return 2
        if args.timeline.endswith(".png"):
            timeline_plot(rows, args.timeline, f"{result.network} on {spec.name} "
                                                f"({spec.dataflow})")
        else:
            sc.write_rows_csv(rows, args.timeline)
    if args.compute_report:
        if mode != "scalesim":
            print("gilt npu: --compute-report needs scalesim mode", file=sys.stderr)
            return 2
        write_text_atomic(Path(args.compute_report),
                         sc.compute_report_csv([lr.details for lr in result.layers]))
    return 0

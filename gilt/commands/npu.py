"""``gilt npu``: simulate a network on a systolic NPU, or reproduce a SCALE-Sim run.

Examples::

    gilt npu                                                 # resnet50, w4a8, npu-32x32
    gilt npu --hw my_npu.yaml --net model.onnx --dataflow os --search
    gilt npu --scalesim-config scale.cfg --topology Resnet50.csv --report-dir reports/
    gilt npu --scalesim-config scale.cfg --topology Resnet50.csv --energy --cores 2x2
    gilt npu --hw npu-32x32 --topology Resnet50.csv --mode scalesim --csv layers.csv

The network is costed dense, from its shapes (no golden run; ``gilt report`` measures gating
and zero-skip on a golden run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gilt.commands import _target
from simulator.npu.model import MODES

COLUMNS_GILT = (*_target.COMMON_COLUMNS[:-1],
                _target.Column("dataflow", "dataflow"),
                _target.Column("folds", "folds", ","),
                _target.Column("mapping_efficiency", "mapping (%)", ".1f", 100),
                _target.Column("temporal_efficiency", "fill (%)", ".1f", 100),
                _target.COMMON_COLUMNS[-1])
#: ``--scalesim-config`` in scalesim mode: SCALE-Sim's own report columns (its names and units)
COLUMNS_REPORTS = (
    _target.Column("layer", "layer"),
    _target.Column("Total Cycles", "total cycles", ","),
    _target.Column("Total Cycles (incl. prefetch)", "incl. prefetch (cycles)", ","),
    _target.Column("Stall Cycles", "stall cycles", ","),
    _target.Column("Overall Util %", "overall util (%)", ".2f"),
    _target.Column("DRAM IFMAP Reads", "DRAM ifmap reads (words)", ","),
    _target.Column("DRAM Filter Reads", "DRAM filter reads (words)", ","),
    _target.Column("DRAM OFMAP Writes", "DRAM ofmap writes (words)", ","),
    _target.Column("method", "memory side"),
)
COLUMNS_SCALESIM = (
    _target.Column("name", "layer"),
    _target.Column("total_cycles", "total cycles", ","),
    _target.Column("stall_cycles", "stall cycles", ","),
    _target.Column("overall_util", "overall util (%)", ".2f"),
    _target.Column("mapping_efficiency", "mapping eff (%)", ".2f"),
    _target.Column("compute_util", "compute util (%)", ".2f"),
    _target.Column("sram_ifmap_reads", "ifmap SRAM reads (words)", ","),
    _target.Column("sram_filter_reads", "filter SRAM reads (words)", ","),
    _target.Column("sram_ofmap_writes", "ofmap SRAM writes (words)", ","),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simulator.npu.nvdla.spec import nvdla_presets
    from simulator.npu.spec import DATAFLOWS, npu_presets

    _target.add_arguments(parser, "npu", npu_presets(),
                          hw_extra=f"; NVDLA: {', '.join(nvdla_presets())}")
    src = parser.add_argument_group("SCALE-Sim inputs (instead of --hw / --net)")
    src.add_argument("--scalesim-config", metavar="CFG",
                     help="a SCALE-Sim .cfg file for the hardware, instead of --hw "
                          "(default: none)")
    src.add_argument("--topology", metavar="CSV",
                     help="a SCALE-Sim topology CSV for the network, instead of --net "
                          "(default: none)")
    src.add_argument("--gemm", action="store_true",
                     help="the topology CSV is SCALE-Sim's GEMM format (Layer, M, N, K)")
    src.add_argument("--layout", metavar="CSV",
                     help="a SCALE-Sim layout CSV (its -l file; with --scalesim-config) "
                          "(default: none)")
    src.add_argument("--ramulator-dir", metavar="DIR",
                     help="SCALE-Sim's Ramulator latency files (_ifmapFile<L>.npy, ...) for a "
                          "USER-mode config with UseRamulatorTrace: True (default: none)")
    src.add_argument("--cores", metavar="IxF",
                     help="split each layer over I x F cores, SCALE-Sim v3 multi-core style "
                          "(ifmap rows into I parts, filters into F; with --scalesim-config) "
                          "(default: one core)")
    src.add_argument("--energy", metavar="ERT", nargs="?", const="scalesim-45nm",
                     help="with --scalesim-config: per-action energy from an energy table "
                          "(scalesim-45nm when given without a value, Accelergy-style; or a "
                          "YAML path) (default: none)")
    model = parser.add_argument_group("model")
    model.add_argument("--fallback-gpu", metavar="GPU",
                       help="NVDLA presets: the GPU preset that runs the layers the DLA cannot "
                            "(default: none; such layers are refused by name)")
    model.add_argument("--dataflow", choices=DATAFLOWS,
                       help="override the spec's dataflow (default: the spec's)")
    model.add_argument("--mode", choices=MODES,
                       help="gilt, or scalesim (SCALE-Sim 3.0.0's numbers exactly) (default: "
                            "gilt; scalesim with --scalesim-config)")
    model.add_argument("--fm-tile", metavar="HxW", type=_fm_tile,
                       help="feature-map tiling schedule, e.g. 4x4 (ifmap fetched per tile) "
                            "(default: none)")
    model.add_argument("--search", action="store_true",
                       help="also search each layer's best mapping and compare with the fixed "
                            "one")
    out = parser.add_argument_group("more output")
    out.add_argument("--compute-report", metavar="PATH",
                     help="write SCALE-Sim's COMPUTE_REPORT.csv columns (scalesim mode) "
                          "(default: none)")
    out.add_argument("--report-dir", metavar="DIR",
                     help="write all of SCALE-Sim's report CSVs there (with --scalesim-config) "
                          "(default: none)")
    out.add_argument("--timeline", metavar="PATH",
                     help="write the per-fold PE utilization timeline (.csv, or .png plot; "
                          "gilt mode) (default: none)")


def _fm_tile(text: str) -> tuple[int, int]:
    try:
        th, tw = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW like 4x4, got {text!r}") from None
    if not (1 <= th <= 4096 and 1 <= tw <= 4096):
        raise argparse.ArgumentTypeError(f"tile sides must be in 1..4096, got {text!r}")
    return th, tw


def spec_from_scalesim(config):
    """An NpuSpec with a SCALE-Sim config's array, SRAMs and dataflow (1-byte words, 1 GHz,
    DRAM at the config's first Bandwidth value in words per cycle, 10 when it has none)."""
    from simulator.npu.spec import NpuSpec
    from simulator.spec import spec_from_dict

    return spec_from_dict(NpuSpec, dict(
        name=f"scalesim:{config.run_name}", array_rows=config.array_rows,
        array_cols=config.array_cols, dataflow=config.dataflow,
        ifmap_sram_kib=config.ifmap_sram_kib, filter_sram_kib=config.filter_sram_kib,
        ofmap_sram_kib=config.ofmap_sram_kib,
        dram_bw_bytes_per_cycle=float((config.bandwidth_words_per_cycle or (10,))[0]),
        clock_mhz=1000.0,
        vector_ops_per_cycle=config.array_cols), where="NpuSpec (SCALE-Sim config)")


def _hardware(args):
    """(spec, mode) from --scalesim-config or --hw."""
    from simulator.npu import scalesim_compat as sc
    from simulator.npu.spec import load_npu_spec

    if args.scalesim_config:
        config = sc.read_cfg(args.scalesim_config)
        mode = args.mode or "scalesim"
        spec = spec_from_scalesim(config)
    else:
        spec = load_npu_spec(args.hw or _target.options.DEFAULT_HW["npu"])
        mode = args.mode or "gilt"
    return (spec.with_dataflow(args.dataflow) if args.dataflow else spec), mode


def _check_arguments(args) -> None:
    if args.scalesim_config and args.hw:
        raise ValueError("give --hw or --scalesim-config, not both")
    if args.topology and args.net:
        raise ValueError("give --net or --topology, not both")
    if args.gemm and not args.topology:
        raise ValueError("--gemm describes a --topology file; give one")
    mode = args.mode or ("scalesim" if args.scalesim_config else "gilt")
    if args.compute_report and mode != "scalesim":
        raise ValueError("--compute-report needs scalesim mode (--mode scalesim or "
                         "--scalesim-config)")
    if args.timeline and mode != "gilt":
        raise ValueError("--timeline needs gilt mode (SCALE-Sim mode has no per-fold timeline)")
    if args.timeline and not args.timeline.lower().endswith((".png", ".csv")):
        raise ValueError(f"--timeline {args.timeline!r}: name a .csv or a .png file")
    reports_only = [f"--{n.replace('_', '-')}" for n in ("report_dir", "layout", "ramulator_dir",
                                                         "cores", "energy")
                    if getattr(args, n)]
    if reports_only and not (args.scalesim_config and mode == "scalesim"):
        raise ValueError(f"{', '.join(reports_only)} need --scalesim-config in scalesim mode")
    if args.scalesim_config and mode == "scalesim":
        if not args.topology:
            raise ValueError("--scalesim-config in scalesim mode needs --topology")
        for bad in ("search", "fm_tile", "timeline"):
            if getattr(args, bad):
                raise ValueError(f"--{bad.replace('_', '-')} applies to gilt mode, not to "
                                 "SCALE-Sim's reports")
    if args.report_dir:
        check_report_dir(args.report_dir)
    _target.check_outputs(args, "compute_report", "timeline")


def check_report_dir(path: str) -> None:
    """A folder the SCALE-Sim reports go into (added to, never replaced): not a file."""
    from common.files import OutputPathError, check_output_file

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"--report-dir {path!r} is a file, not a folder")
    check_output_file(folder / "COMPUTE_REPORT.csv", what="--report-dir")


def run(args) -> int:
    from simulator.npu import scalesim_compat as sc
    from simulator.npu.model import MappingChoice, network_timeline, simulate_network
    from simulator.npu.nvdla.spec import is_nvdla_preset

    if args.hw and is_nvdla_preset(args.hw):
        from gilt.commands._nvdla import run_nvdla

        return run_nvdla(args)
    if args.fallback_gpu:
        raise ValueError("--fallback-gpu applies to NVDLA presets only")
    _check_arguments(args)
    spec, mode = _hardware(args)
    if args.scalesim_config and mode == "scalesim":
        return _run_reports(args)
    workload = (sc.topology_workload(args.topology, gemm=args.gemm) if args.topology
                else _target.network_workload(args))
    choice = MappingChoice(fm_tile=args.fm_tile) if args.fm_tile else None
    result = simulate_network(workload, spec, mode=mode, choice=choice)
    rows = _target.layer_rows(result, workload)
    summary = _target.totals(result, None if args.topology else args, mode=mode,
                             dataflow=spec.dataflow)
    line = _target.totals_line(summary, f"{spec.dataflow} dataflow, {mode} mode, "
                                        f"{spec.clock_mhz:g} MHz")
    extra_json: dict = {}
    if args.search:
        from simulator.npu.search import search_network

        report = search_network(workload, spec)
        line += "\n" + report.summary()
        extra_json["search"] = [
            {"layer": s.name, "fixed_util": s.fixed.utilization, "best_util": s.best.utilization,
             "gain": s.gain, "best_dataflow": s.best.details.get("dataflow"),
             "best_loop_order": s.best.details.get("loop_order"),
             "best_t_tile": s.best.details.get("t_tile"), "limit": s.limit}
            for s in report.layers]
    files: list[tuple[str, bytes | str]] = []
    if args.timeline:
        files.append((args.timeline, _timeline(network_timeline(result), args.timeline,
                                               f"{result.network} on {spec.name} "
                                               f"({spec.dataflow})")))
    if args.compute_report:
        files.append((args.compute_report,
                      sc.compute_report_csv([layer.details for layer in result.layers])))
    columns = COLUMNS_SCALESIM if mode == "scalesim" else COLUMNS_GILT
    return _target.emit(args, rows, columns, summary, line, extra_json=extra_json,
                        extra_files=files)


def _timeline(rows: list[dict], path: str, title: str) -> bytes | str:
    if not path.lower().endswith(".png"):
        return _target.csv_text(rows)
    from gilt.plots import timeline_png

    return timeline_png(rows, title)


def _run_reports(args) -> int:
    """``--scalesim-config`` in scalesim mode: every SCALE-Sim report, memory side included,
    computed (and the energy table read) before anything is printed or written."""
    from simulator.npu import scalesim_compat as sc
    from simulator.npu.scalesim.multicore import parse_cores, simulate_multicore
    from simulator.npu.scalesim.reports import write_reports

    config = sc.read_cfg(args.scalesim_config)
    if args.dataflow:
        config = config.replace(dataflow=args.dataflow)
    if args.layout:
        sc.read_layout(args.layout)
    rows = sc.read_topology(args.topology, gemm=args.gemm)
    ert = None
    if args.energy:
        from simulator.npu.scalesim.energy import layer_energy, load_ert

        ert = load_ert(args.energy)
    if args.cores:
        reports = simulate_multicore(rows, config, parse_cores(args.cores))
    else:
        reports = sc.simulate_topology(rows, config, ramulator_dir=args.ramulator_dir)
    table_rows = [r.row() for r in reports]
    total, stall = sum(r.total_cycles for r in reports), sum(r.stall_cycles for r in reports)
    methods = "/".join(sorted({r.method for r in reports}))
    line = (f"total: {args.topology} on scalesim:{config.run_name} ({config.array_rows}x"
            f"{config.array_cols}, {config.dataflow}): {total:,} cycles, {stall:,} stall cycles, "
            f"{len(reports)} rows; scalesim mode, memory side by {methods}")
    if ert is not None:
        energy = sum(layer_energy(r, config, r.macs, ert)["total"] for r in reports)
        line += f"\nenergy ({ert['name']}): {energy / 1e6:.3f} uJ"
    files: list[tuple[str, bytes | str]] = []
    if args.compute_report:
        files.append((args.compute_report, sc.report_text(
            "compute", [r.strings("compute") for r in reports])))
    summary = {"topology": args.topology, "config": args.scalesim_config, "rows": len(reports),
               "cycles": total, "stall_cycles": stall, "mode": "scalesim"}
    _target.emit(args, table_rows, COLUMNS_REPORTS, summary, line, extra_files=files)
    if args.report_dir:
        write_reports(reports, args.report_dir, config)
    return 0

"""``gilt npu --hw <NVDLA preset> --net NAME``: a network on one NVDLA engine.

``gilt npu`` hands over here when ``--hw`` names an NVDLA preset (``jetson-agx-xavier-dla``,
``nvdla-nv-full``) or a YAML file with NVDLA keys; the systolic-array and SCALE-Sim options do
not apply and are refused by name. Layers the DLA cannot run are refused unless
``--fallback-gpu`` names a GPU preset to run them. NVDLA computes int8/int16/fp16: a 4-bit
precision is refused by name (give ``--precision w8a8``).
"""

from __future__ import annotations

from gilt.commands import _target

#: gilt npu options that mean nothing for NVDLA (the systolic-array and SCALE-Sim ones)
ARRAY_ONLY = ("scalesim_config", "topology", "gemm", "layout", "ramulator_dir", "cores",
              "energy", "dataflow", "mode", "fm_tile", "search", "compute_report", "report_dir",
              "timeline")

COLUMNS = (*_target.COMMON_COLUMNS[:-1],
           _target.Column("engine", "engine"),
           _target.Column("mode", "mode"),
           _target.Column("limit", "limit"),
           _target.COMMON_COLUMNS[-1])


def run_nvdla(args) -> int:
    from simulator.npu.nvdla.model import simulate_network
    from simulator.npu.nvdla.spec import load_nvdla_spec

    given = [f"--{name.replace('_', '-')}" for name in ARRAY_ONLY if getattr(args, name, None)]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise ValueError(f"{', '.join(given)} {verb} not apply to an NVDLA preset")
    _target.check_outputs(args)
    spec = load_nvdla_spec(args.hw)
    workload = _target.network_workload(args)
    result = simulate_network(workload, spec, fallback_gpu=args.fallback_gpu)
    rows = _target.layer_rows(result, workload)
    fallback = result.details["gpu_fallback"]
    summary = _target.totals(result, args, hardware_layers=result.details["hardware_layers"],
                             gpu_fallback=fallback)
    line = _target.totals_line(
        summary, f"{result.details['hardware_layers']} hardware layers"
        + (f", {len(fallback)} layers on the GPU ({args.fallback_gpu})" if fallback else ""),
        f"{spec.clock_mhz:g} MHz, nvdla")
    return _target.emit(args, rows, COLUMNS, summary, line)

"""SCALE-Sim 3.0.0 compatibility: the public names of :mod:`simulator.npu.scalesim`, in one place.

The implementation lives in the :mod:`simulator.npu.scalesim` package (file I/O, the compute
model, the memory replay, the oracle runner); this module keeps the names the rest of gilt and
its users import (``from simulator.npu import scalesim_compat as sc``)."""

from __future__ import annotations

import io
from pathlib import Path

from simulator.npu.scalesim.io import (  # noqa: F401 - re-exported
    BANDWIDTH_REPORT_HEADER,
    COMPUTE_REPORT_HEADER,
    DATAFLOWS,
    DETAIL_REPORT_HEADER,
    REPORT_FILES,
    ScaleSimConfig,
    TopologyRow,
    read_cfg,
    read_layout,
    read_topology,
    report_text,
    topology_workload,
    write_cfg,
    write_rows_csv,
)
from simulator.npu.scalesim.model import (  # noqa: F401 - re-exported
    LayerReport,
    compute_numbers,
    scalesim_dims,
    scalesim_layer,
    simulate_row,
    simulate_topology,
)
from simulator.npu.scalesim.oracle import (  # noqa: F401 - re-exported
    ORACLE_PYTHON,
    ROOT,
    RUNNER,
    oracle_available,
    run_oracle,
)

TOPOLOGIES = Path(__file__).with_name("topologies")
REPORTS = ("compute", "bandwidth", "detail")

#: Columns of the closed-form CALC-mode numbers (:func:`scalesim_layer`) and where they sit in
#: SCALE-Sim's reports: (report, item index).
COMPARED = {"total_cycles": ("compute", 1), "stall_cycles": ("compute", 2),
            "overall_util": ("compute", 3), "mapping_efficiency": ("compute", 4),
            "compute_util": ("compute", 5), "sram_ifmap_reads": ("detail", 2),
            "sram_filter_reads": ("detail", 5), "sram_ofmap_writes": ("detail", 8)}


def compare_reports(ours: LayerReport, oracle: dict) -> list[str]:
    """``report[i]`` for every report item where ``ours`` and an oracle row differ (text)."""
    diff = []
    for rep in REPORTS + (("sparse",) if "sparse" in oracle else ()):
        mine, theirs = ours.strings(rep), oracle[rep]
        if len(mine) != len(theirs):
            diff.append(f"{rep}: {len(mine)} items vs {len(theirs)}")
            continue
        diff += [f"{rep}[{i}]" for i, (a, b) in enumerate(zip(mine, theirs)) if a != b]
    return diff


def compute_report_csv(results: list[dict]) -> str:
    """COMPUTE_REPORT.csv text from :func:`scalesim_layer`-style dicts (SCALE-Sim's header and
    ``str()`` of each value); the prefetch-inclusive column is the dict's
    ``total_cycles_incl_prefetch`` when given, else empty."""
    out = io.StringIO()
    out.write(COMPUTE_REPORT_HEADER + "\n")
    for lid, res in enumerate(results):
        items = [res.get("total_cycles_incl_prefetch", ""), res["total_cycles"],
                 res["stall_cycles"], res["overall_util"], res["mapping_efficiency"],
                 res["compute_util"]]
        out.write(f"{lid}, " + ", ".join(str(x) for x in items) + ",\n")
    return out.getvalue()

"""SCALE-Sim 3.0.0's numbers for one layer: compute side in closed form, memory side replayed.

With (Sr, Sc, T) from :func:`scalesim_dims` and an R x C array: ``F = ceil(Sr/R) * ceil(Sc/C)``
folds run back to back, each ``L = T + R + C - 2`` cycles (OS; short by R: scale-sim-v3 issue #4)
or ``2R + C + T - 2`` (WS, IS). Without stalls Total Cycles is ``F*L - 1`` (scale-sim issue #125);
stalls come from :mod:`.memory`. Mapping Efficiency and Compute Util are per-fold means summed
left to right in float64 in SCALE-Sim's fold order (column folds outer), so they agree to the
last bit. SRAM counts (words): OS ifmap ``ceil(Sc/C)*W*Npx``, filter ``ceil(Sr/R)*W*M``, ofmap
``Npx*M + F*(R+C)`` (a double count in SCALE-Sim); WS ifmap ``ceil(M/C)*W*Npx``, filter ``W*M``,
ofmap ``ceil(W/R)*Npx*M``; IS ifmap ``W*Npx``, filter ``ceil(Npx/C)*W*M``, ofmap
``ceil(W/R)*Npx*M``.

:func:`simulate_row` gives every item of COMPUTE_REPORT, BANDWIDTH_REPORT and
DETAILED_ACCESS_REPORT (and SPARSE_REPORT with sparsity) typed as SCALE-Sim types them, so that
``str()`` of each writes the same text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.npu.scalesim.compute import compute_numbers, gemm_dims
from simulator.npu.scalesim.io import ScaleSimConfig, TopologyRow
from simulator.npu.scalesim.memory import MemoryParams, MemoryResult, simulate_memory
from simulator.npu.scalesim.operands import row_operands
from simulator.npu.scalesim.sparsity import sparse_operands


def scalesim_dims(row: TopologyRow, dataflow: str) -> tuple[int, int, int]:
    """``(Sr, Sc, T)`` of SCALE-Sim's mapping: OS (Npx, M, W), WS (W, M, Npx), IS (W, Npx, M),
    with Npx output pixels, W = R*S*C window size and M filters."""
    return gemm_dims(row.ofmap_h * row.ofmap_w, row.window, row.filters, dataflow)


def scalesim_layer(row: TopologyRow, rows_pe: int, cols_pe: int, dataflow: str) -> dict:
    """SCALE-Sim 3.0.0's COMPUTE_REPORT numbers and SRAM counts for one layer in CALC bandwidth
    mode with no ofmap stall (always the case unless the array is wider than half the ofmap
    SRAM), in closed form: no memory replay. :func:`simulate_row` gives every report item."""
    num = compute_numbers(row.ofmap_h * row.ofmap_w, row.window, row.filters, rows_pe, cols_pe,
                          dataflow)
    total = num["compute_cycles"]
    return {"name": row.name, "total_cycles": total, "stall_cycles": 0,
            "overall_util": (row.macs * 100) / (total * rows_pe * cols_pe),
            "mapping_efficiency": num["mapping_efficiency"], "compute_util": num["compute_util"],
            "sram_ifmap_reads": num["sram_ifmap_reads"],
            "sram_filter_reads": num["sram_filter_reads"],
            "sram_ofmap_writes": num["sram_ofmap_writes"], "folds": num["folds"],
            "fold_cycles": num["fold_cycles"]}


@dataclass(frozen=True)
class LayerReport:
    """Every report item of one layer (or one core's part of it), typed as SCALE-Sim types
    them; ``method`` says how the memory side was obtained (``replay`` or ``closed-form``)."""

    name: str
    compute: tuple
    bandwidth: tuple
    detail: tuple
    sparse: tuple | None
    memory: MemoryResult
    method: str
    macs: int = 0

    def strings(self, kind: str) -> list[str]:
        return [str(x) for x in getattr(self, kind)]

    def row(self) -> dict:
        """One flat dict (gilt's --csv/--json rows), report columns named as SCALE-Sim names
        them, plus ``method``."""
        from simulator.npu.scalesim.io import (
            BANDWIDTH_REPORT_HEADER,
            BANDWIDTH_REPORT_HEADER_SPARSE,
            COMPUTE_REPORT_HEADER,
            DETAIL_REPORT_HEADER,
        )

        out: dict = {"layer": self.name, "method": self.method}
        bw_header = BANDWIDTH_REPORT_HEADER_SPARSE if self.sparse else BANDWIDTH_REPORT_HEADER
        for header, values in ((COMPUTE_REPORT_HEADER, self.compute),
                               (bw_header, self.bandwidth), (DETAIL_REPORT_HEADER, self.detail)):
            names = [h.strip() for h in header.split(",")[1:-1]]
            out.update(zip(names, values))
        return out

    @property
    def total_cycles(self) -> int:
        return self.compute[1]

    @property
    def stall_cycles(self) -> int:
        return self.compute[2]


def memory_params(config: ScaleSimConfig, dram_latencies: tuple | None = None) -> MemoryParams:
    """The memory system SCALE-Sim 3.0.0 builds from a config (see :class:`MemoryParams`);
    ``dram_latencies``: the layer's Ramulator latencies (USER mode with UseRamulatorTrace)."""
    if config.user_bandwidth:
        return MemoryParams(config.ifmap_sram_kib, config.filter_sram_kib, config.ofmap_sram_kib,
                            False, config.ifmap_bank_bandwidth, config.filter_bank_bandwidth,
                            config.bandwidth_words_per_cycle[0], dram_latencies,
                            config.read_request_buffer, config.write_request_buffer)
    return MemoryParams(config.ifmap_sram_kib, config.filter_sram_kib, config.ofmap_sram_kib,
                        True, 10, 10, config.array_cols)


def check_supported(config: ScaleSimConfig, dram_latencies=None) -> None:
    """Refuse, naming it, what this model does not reproduce or is not given."""
    if config.ifmap_custom_layout or config.filter_custom_layout:
        raise ValueError("[layout] IfmapCustomLayout/FilterCustomLayout = True (SCALE-Sim's "
                         "custom-layout bank model) is not reproduced by gilt's SCALE-Sim mode")
    if config.use_ramulator_trace and config.user_bandwidth and dram_latencies is None:
        raise ValueError("UseRamulatorTrace = True in USER mode needs the Ramulator latency "
                         "files (gilt npu --ramulator-dir DIR; SCALE-Sim reads ./results/)")


def simulate_row(row: TopologyRow, config: ScaleSimConfig, *,
                 dram_latencies: tuple | None = None) -> LayerReport:
    """All of SCALE-Sim 3.0.0's report items for one topology row under ``config``
    (``dram_latencies``: the layer's Ramulator latencies, see :mod:`.dram`)."""
    check_supported(config, dram_latencies)
    if config.sparsity_support:
        ifop, fop, sparse = sparse_operands(row, config)
    else:
        ifop, fop = row_operands(row, config)
        sparse = None
    npx = row.ofmap_h * row.ofmap_w
    distinct = None if sparse is not None else (distinct_ifmap_words(row), row.window * row.filters)
    return simulate_gemm(row.name, ifop, fop, (npx, row.filters), row.macs, config,
                         sparse=sparse, distinct=distinct, dram_latencies=dram_latencies)


def distinct_ifmap_words(row: TopologyRow) -> int:
    """Input words a conv layer reads at least once: the rows times the columns its windows
    cover, times the channels (windows overlap when stride < filter, leave gaps when >)."""
    def covered(size: int, filt: int, stride: int, out: int) -> int:
        return (out - 1) * min(filt, stride) + max(0, min(filt, size - (out - 1) * stride))

    return (covered(row.ifmap_h, row.filter_h, row.stride_h, row.ofmap_h)
            * covered(row.ifmap_w, row.filter_w, row.stride_w, row.ofmap_w) * row.channels)


def simulate_gemm(name: str, ifop: np.ndarray, fop: np.ndarray, ofmap_shape: tuple[int, int],
                  macs: int, config: ScaleSimConfig, *, sparse=None,
                  distinct: tuple[int, int] | None = None,
                  dram_latencies: tuple | None = None) -> LayerReport:
    """Report items for SCALE-Sim's run of one set of operand matrices (a layer, or a core's
    part of one)."""
    r, c, df = config.array_rows, config.array_cols, config.dataflow
    uses = config.use_ramulator_trace and config.user_bandwidth
    mem = simulate_memory(df, r, c, ifop, fop, ofmap_shape,
                          memory_params(config, dram_latencies if uses else None),
                          distinct=distinct)
    if sparse is None:
        num = compute_numbers(ifop.shape[0], ifop.shape[1], fop.shape[1], r, c, df)
        sram = (num["sram_ifmap_reads"], num["sram_filter_reads"], num["sram_ofmap_writes"])
        means = (num["mapping_efficiency"], num["compute_util"])
        metadata = None
    else:
        sram, means, metadata = sparse.sram, sparse.means, sparse.metadata_reads
    total = mem.total_cycles
    compute = (mem.total_cycles_incl_prefetch, total, mem.stall_cycles,
               (macs * 100) / (total * r * c), means[0], means[1])
    dram = (mem.ifmap_dram, mem.filter_dram, mem.ofmap_dram)
    dram_bw = tuple(d[2] / (d[1] - d[0] + 1) for d in dram)
    sram_bw = [sram[0] / total, sram[1] / total, sram[2] / total]
    if metadata is not None:
        sram_bw.insert(2, metadata / total)
    s = mem.sram_cycles
    detail = (s[0], s[1], sram[0], s[2], s[3], sram[1], s[4], s[5], sram[2],
              *dram[0], *dram[1], *dram[2])
    sparse_items = None if sparse is None else (*sparse.storage, metadata / total)
    return LayerReport(name, compute, (*sram_bw, *dram_bw), detail, sparse_items, mem,
                       mem.method, macs)


def simulate_topology(rows: list[TopologyRow], config: ScaleSimConfig, *,
                      ramulator_dir=None) -> list[LayerReport]:
    """:func:`simulate_row` for every row (SCALE-Sim runs layers independently);
    ``ramulator_dir``: SCALE-Sim's Ramulator ``results`` directory (USER mode with
    UseRamulatorTrace)."""
    if ramulator_dir is None or not (config.use_ramulator_trace and config.user_bandwidth):
        return [simulate_row(row, config) for row in rows]
    from simulator.npu.scalesim.dram import load_ramulator_latencies

    return [simulate_row(row, config,
                         dram_latencies=load_ramulator_latencies(ramulator_dir, lid))
            for lid, row in enumerate(rows)]

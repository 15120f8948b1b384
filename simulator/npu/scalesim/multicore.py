"""A layer split over several cores, as SCALE-Sim v3's multi-core front end (Krittika) splits a
matmul layer: the ifmap operand's rows (output pixels) into ``I`` equal parts (ceil), the filter
operand's columns (filters) into ``F`` parts; core ``i * F + f`` runs part (i, f) on its own
array with the config's SRAMs and bandwidths (per core), through the same single-core model as
a whole layer. Per-core reports; the layer takes as long as its slowest core.

SCALE-Sim v3 reference: its ``multi-core`` submodule (scalesim-project/krittika,
``single_layer_sim.py``: ``run_compute_all_parts`` / ``run_mem_sim_all_parts``)."""

from __future__ import annotations

import math

from simulator.npu.scalesim.io import ScaleSimConfig, TopologyRow
from simulator.npu.scalesim.model import LayerReport, check_supported, row_operands, simulate_gemm


def parse_cores(text: str) -> tuple[int, int]:
    """``'IxF'`` -> (I, F), both >= 1."""
    try:
        i, f = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--cores must look like 2x2 (ifmap parts x filter parts), got "
                         f"{text!r}") from None
    if i < 1 or f < 1:
        raise ValueError(f"--cores needs positive part counts, got {text!r}")
    return i, f


def core_parts(n: int, parts: int, what: str, name: str) -> list[tuple[int, int]]:
    per = math.ceil(n / parts)
    spans = [(k * per, min((k + 1) * per, n)) for k in range(parts)]
    if any(lo >= hi for lo, hi in spans):
        raise ValueError(f"layer {name!r}: {parts} {what} parts of ceil({n}/{parts}) leave a core "
                         "with nothing to do")
    return spans


def simulate_layer_multicore(row: TopologyRow, config: ScaleSimConfig,
                             cores: tuple[int, int]) -> list[LayerReport]:
    """Per-core reports of ``row`` split over ``cores = (I, F)`` cores."""
    check_supported(config)
    if config.sparsity_support:
        raise ValueError("multi-core with SparsitySupport is not modelled")
    ifop, fop = row_operands(row, config)
    window = ifop.shape[1]
    out = []
    for r0, r1 in core_parts(ifop.shape[0], cores[0], "ifmap", row.name):
        for c0, c1 in core_parts(fop.shape[1], cores[1], "filter", row.name):
            k = len(out)
            out.append(simulate_gemm(f"{row.name}:core{k}", ifop[r0:r1], fop[:, c0:c1],
                                     (r1 - r0, c1 - c0), (r1 - r0) * (c1 - c0) * window, config))
    return out


def simulate_multicore(rows: list[TopologyRow], config: ScaleSimConfig,
                       cores: tuple[int, int]) -> list[LayerReport]:
    """Every row's per-core reports, layer after layer."""
    return [rep for row in rows for rep in simulate_layer_multicore(row, config, cores)]


def layer_cycles(reports: list[LayerReport]) -> int:
    """A layer's cycles on a multi-core array: its slowest core's Total Cycles."""
    return max(r.total_cycles for r in reports)

"""SCALE-Sim 3.0.0's compute side of one GEMM in closed form (see :mod:`.model`)."""

from __future__ import annotations

import math

from numba import njit

from simulator.npu.scalesim.io import DATAFLOWS


def gemm_dims(npx: int, window: int, filters: int, dataflow: str) -> tuple[int, int, int]:
    if dataflow == "os":
        return npx, filters, window
    if dataflow == "ws":
        return window, filters, npx
    if dataflow == "is":
        return window, npx, filters
    raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")


def compute_numbers(npx: int, window: int, filters: int, rows_pe: int, cols_pe: int,
                    dataflow: str) -> dict:
    """The compute side of one GEMM ``[npx x window] . [window x filters]`` (see the module
    docstring): fold count and length, stall-free cycles, the two per-fold means and the SRAM
    read/write counts."""
    sr, sc, t = gemm_dims(npx, window, filters, dataflow)
    r, c = rows_pe, cols_pe
    row_folds, col_folds = math.ceil(sr / r), math.ceil(sc / c)
    folds = row_folds * col_folds
    fold_len = t + r + c - 2 if dataflow == "os" else 2 * r + c + t - 2
    util_len = fold_len if dataflow == "os" else fold_len + c - 1
    map_sum, util_sum = _fold_means(sr, sc, t, r, c, util_len)
    m = filters
    if dataflow == "os":
        sram = (col_folds * window * npx, row_folds * window * m, npx * m + folds * (r + c))
    elif dataflow == "ws":
        sram = (col_folds * window * npx, window * m, row_folds * npx * m)
    else:
        sram = (window * npx, col_folds * window * m, row_folds * npx * m)
    return {"folds": folds, "fold_cycles": fold_len, "compute_cycles": folds * fold_len - 1,
            "mapping_efficiency": map_sum / folds * 100, "compute_util": util_sum / folds * 100,
            "sram_ifmap_reads": sram[0], "sram_filter_reads": sram[1],
            "sram_ofmap_writes": sram[2], "macs": npx * window * filters}


@njit(cache=True)
def _fold_means(sr, sc, t, r, c, util_len):
    """Sums over folds, in SCALE-Sim's order (column folds outer) and float64 left to right, of
    the used fraction of the array and of its compute utilization."""
    map_sum = 0.0
    util_sum = 0.0
    pe = r * c
    for fc in range(-(-sc // c)):
        cols_used = min(c, sc - fc * c)
        for fr in range(-(-sr // r)):
            used = min(r, sr - fr * r) * cols_used
            map_sum += used / pe
            util_sum += used * t / (pe * util_len)
    return map_sum, util_sum

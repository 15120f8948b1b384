"""SCALE-Sim 3.0.0's N:M structured sparsity of weights (``[sparsity] SparsitySupport: true``).

A topology row's ``N:M`` ratio keeps the first N of every M window positions of every filter
(the same positions in all filters). SCALE-Sim then (its ``operand_matrix``):

* zeroes the dropped positions of the filter operand and packs each filter's column block by
  block (M rows in, N rows out: the kept addresses, then zeros up to N), dropping trailing rows
  that are zero in every filter; address 0 counts as "zero" there (a quirk with offset 0);
* multiplies the ifmap operand by the kept-position mask and drops the all-zero columns;
* in WS, counts each ifmap SRAM read M/N times (one input block shared by M/N rows, no
  broadcast), in float;
* reports the filter storage of the chosen representation (SPARSE_REPORT.csv): ``csr``/``csc``
  over the 0/1 mask, ``ellpack_block`` as the packed size plus ``ceil(log2 M)`` bits per kept
  entry in 32-bit words; the metadata words are read once per layer.

Its ``OptimizedMapping`` (random per-filter ratios, row-wise skew) is refused, naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.npu.scalesim.compute import compute_numbers
from simulator.npu.scalesim.io import ScaleSimConfig, TopologyRow
from simulator.npu.scalesim.operands import row_operands


@dataclass(frozen=True)
class SparseInfo:
    """The compute-side numbers SCALE-Sim reports for a sparse layer."""

    sram: tuple          # ifmap reads (float in WS), filter reads, ofmap writes
    means: tuple         # mapping efficiency %, compute util %
    metadata_reads: float
    storage: tuple       # original filter storage, new storage, metadata storage


def keep_mask(window: int, n: int, m: int) -> np.ndarray:
    """1 for the window positions an N:M ratio keeps (the first N of every M), else 0."""
    pattern = np.concatenate([np.ones(n, np.int64), np.zeros(m - n, np.int64)])
    return np.tile(pattern, -(-window // m))[:window]


def pack_filter(fop: np.ndarray, mask: np.ndarray, n: int, m: int) -> np.ndarray:
    """SCALE-Sim's packed filter operand (see the module docstring)."""
    window, filters = fop.shape
    masked = fop * mask[:, None]
    blocks = []
    for start in range(0, window, m):
        block = masked[start:start + m]
        nonzero = block != 0
        kept = np.zeros((n, filters), np.int64)
        counts = nonzero.sum(axis=0)
        if (counts > n).any():
            raise ValueError(f"more than {n} nonzero weights in a block of {m}")
        order = np.argsort(~nonzero, axis=0, kind="stable")      # nonzero first, in order
        packed = np.take_along_axis(block, order, axis=0)[:n]
        rows = np.arange(n)[:, None] < counts[None, :]
        kept[:packed.shape[0]] = np.where(rows[:packed.shape[0]], packed, 0)
        blocks.append(kept)
    out = np.concatenate(blocks, axis=0)
    nonzero_rows = np.flatnonzero((out != 0).any(axis=1))
    return out[:nonzero_rows[-1] + 1] if nonzero_rows.size else out[:0]


def sparse_operands(row: TopologyRow, config: ScaleSimConfig):
    """(ifmap operand, filter operand, :class:`SparseInfo`) of a row under SparsitySupport."""
    if config.sparsity_optimized_mapping:
        raise ValueError("[sparsity] OptimizedMapping = true (SCALE-Sim's random per-filter "
                         "ratios and row-wise skew) is not reproduced by gilt's SCALE-Sim mode")
    n, m = row.sparsity_n, row.sparsity_m
    ifop, fop = row_operands(row, config)
    mask = keep_mask(row.window, n, m)
    fop_packed = pack_filter(fop, mask, n, m)
    ifop = ifop * mask[None, :]
    keep_cols = (ifop != 0).any(axis=0)
    if ifop.shape[0] == 1 and config.ifmap_offset == 0:
        keep_cols[0] = True
    ifop = np.ascontiguousarray(ifop[:, keep_cols])
    if ifop.shape[1] != fop_packed.shape[0]:
        raise ValueError(f"layer {row.name!r}: {ifop.shape[1]} ifmap columns against "
                         f"{fop_packed.shape[0]} packed filter rows (SCALE-Sim's address-0 "
                         "quirk with a zero offset); not reproduced")
    return ifop, fop_packed, _sparse_info(row, config, ifop, fop_packed, mask)


def _sparse_info(row, config, ifop, fop, mask) -> SparseInfo:
    npx, window = ifop.shape
    filters = fop.shape[1]
    r, c, df = config.array_rows, config.array_cols, config.dataflow
    num = compute_numbers(npx, window, filters, r, c, df)
    sram = [num["sram_ifmap_reads"], num["sram_filter_reads"], num["sram_ofmap_writes"]]
    if df == "ws":                          # each fold's reads scaled by M/N, summed in float
        ratio = row.sparsity_m / row.sparsity_n
        reads = 0
        for _ in range(-(-filters // c)):
            for fr in range(-(-window // r)):
                reads += npx * max(0, min(r, window - fr * r)) * ratio
        sram[0] = reads
    storage = _storage(config.sparse_rep, mask, row.filters, fop.shape, row.sparsity_m)
    return SparseInfo(tuple(sram), (num["mapping_efficiency"], num["compute_util"]),
                      0 + storage[2], storage)


def _storage(rep: str, mask: np.ndarray, filters: int, packed_shape, m: int) -> tuple:
    original = mask.size * filters
    if rep == "ellpack_block":
        entries = packed_shape[0] * packed_shape[1]
        metadata = (entries * math.ceil(math.log2(m))) / 32
        return original, entries + metadata, metadata
    nnz = int(mask.sum()) * filters
    pointers = (mask.size if rep == "csr" else filters) + 1
    return original, 2 * nnz + pointers, nnz + pointers

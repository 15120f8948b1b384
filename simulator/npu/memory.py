"""SRAM and DRAM traffic of a mapped layer, and the stalls DRAM bandwidth causes.

Loop nest of one core (outer to inner): temporal chunks (``t_tile``), then the two fold loops in
``mapping.loop_order`` (``cols-outer``: column folds outside row folds), group passes outermost.
Operands: ifmap ``I[M x K]``, filter ``F[K x N]``, ofmap ``O[M x N]``; each loop runs over one of
M, N, K (:data:`simulator.npu.mapping.ROLES`).

SRAM traffic (elements; words = elements / values per word, e.g. two int4 weights per 8-bit word):

* an input operand is streamed once per iteration of the loop over the GEMM dimension it lacks:
  ``reads(X) = |X| * trips(missing dim)`` (ws ifmap: ``|I| * col_folds``; ws filter:
  ``|F| * t_folds``; os filter: ``|F| * row_folds``; ...);
* outputs are written once per iteration of the reduction (K) loop and read back to accumulate:
  ``writes(O) = |O| * trips(K)``, ``psum reads = |O| * (trips(K) - 1)``. (SCALE-Sim counts
  neither the read-back nor, for os, the right number of writes.)

DRAM traffic (bytes, at stored bit widths; the ifmap as the raw tensor, not its im2col copy):
an operand is fetched once if the part of it live inside the loop it lacks fits in its SRAM
(half the SRAM when double-buffered), else once per iteration of that loop. Partial sums that do
not fit spill to DRAM at accumulator width and come back: ``(trips(K) - 1)`` round trips.

Stalls (double-buffered): the first fold's tiles load before compute starts (prologue), the last
output tile drains after it (epilogue; along the streamed dimension only about ``R + C`` steps'
worth, since data moves in wavefronts), and in between DRAM and compute overlap:
``total = prologue + max(compute, dram - prologue - epilogue) + epilogue``. Without double
buffering they serialize: ``total = compute + dram``. ``dram = bytes / bw`` with the bandwidth
shared by the cores that run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.workload import LayerWork
from simulator.npu.mapping import ROLES, Mapping

OPERAND_DIMS = {"ifmap": ("m", "k"), "filter": ("k", "n"), "ofmap": ("m", "n")}


@dataclass(frozen=True)
class Traffic:
    """Per-core traffic of one layer. ``sram_*`` in words of each operand's SRAM word size,
    ``dram_*`` in bytes."""

    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    sram_ofmap_reads: int          # partial-sum read-back
    sram_bytes: float
    dram_ifmap_bytes: float
    dram_filter_bytes: float
    dram_ofmap_write_bytes: float
    dram_ofmap_read_bytes: float   # partial-sum spill read-back
    prologue_bytes: float
    epilogue_bytes: float

    @property
    def dram_bytes(self) -> float:
        return (self.dram_ifmap_bytes + self.dram_filter_bytes + self.dram_ofmap_write_bytes
                + self.dram_ofmap_read_bytes)


def loop_trips(mapping: Mapping) -> dict[str, int]:
    """Trips of the loop over each GEMM dimension: row folds, column folds or time chunks."""
    rdim, cdim, tdim = ROLES[mapping.dataflow]
    return {rdim: mapping.row_folds, cdim: mapping.col_folds, tdim: mapping.t_folds}


def loop_nest(mapping: Mapping) -> tuple[str, str, str]:
    """GEMM dimension of each loop, outer to inner."""
    rdim, cdim, tdim = ROLES[mapping.dataflow]
    inner = (cdim, rdim) if mapping.loop_order == "cols-outer" else (rdim, cdim)
    return (tdim, *inner)


def values_per_word(word_bits: int, value_bits: int) -> int:
    """Values packed per SRAM word, ``max(1, word_bits // value_bits)``.

    >>> values_per_word(8, 4), values_per_word(16, 8), values_per_word(8, 16)
    (2, 2, 1)
    """
    return max(1, word_bits // value_bits)


def _fetches(size_bytes: float, dims: tuple[str, ...], nest: tuple[str, ...],
             trips: dict[str, int], capacity: float) -> float:
    """DRAM fetches of an operand indexed by ``dims``: for the loop over the dimension it lacks,
    the operand's part live across that loop's iterations is ``size / prod(trips of indexing
    loops outside it)``; if that fits ``capacity`` it is fetched once, else once per trip."""
    factor = 1
    outside = 1
    for dim in nest:
        if dim in dims:
            outside *= trips[dim]
        elif size_bytes / outside > capacity:
            factor *= trips[dim]
    return size_bytes * factor


def _edge_bytes(mapping: Mapping, size: dict, trips: dict,
                dram_size: dict) -> tuple[float, float]:
    """Prologue and epilogue bytes: the first input tiles and the last output tile. Along the
    streamed dimension data moves in wavefronts, so only about one array depth (R + C steps)
    of it must be in place before compute starts or remains to drain after it ends."""
    tdim = ROLES[mapping.dataflow][2]
    edge = dict(trips)
    edge[tdim] = max(1.0, size[tdim] / min(mapping.t_tile, mapping.rows + mapping.cols))

    def first_tile(op: str) -> float:
        a, b = OPERAND_DIMS[op]
        return dram_size[op] / (edge[a] * edge[b])

    return first_tile("ifmap") + first_tile("filter"), first_tile("ofmap")


def layer_traffic(layer: LayerWork, mapping: Mapping, *, act_word_bits: int,
                  weight_word_bits: int, out_word_bits: int, sram_bytes: dict[str, float],
                  double_buffered: bool, fractions: dict[str, float] | None = None,
                  fm_tile: tuple[int, int] | None = None) -> Traffic:
    """Traffic of ``layer`` mapped as ``mapping`` on one core (all groups).

    ``fractions`` scales each operand's DRAM size when the core sees part of the layer (core
    split, gating compaction): ``{"ifmap": f, "filter": f, "ofmap": f}``, default 1.
    ``fm_tile``: a feature-map tiling schedule: each output tile's input window is fetched once
    and kept while every filter runs over it (:func:`fm_tile_ifmap_factor`)."""
    fr = {"ifmap": 1.0, "filter": 1.0, "ofmap": 1.0, **(fractions or {})}
    g = mapping.groups
    k_elems = mapping.k * mapping.k_per_pe
    size = {"m": mapping.m, "n": mapping.n, "k": k_elems}
    trips = loop_trips(mapping)
    elems = {op: g * size[a] * size[b] for op, (a, b) in OPERAND_DIMS.items()}
    missing = {"ifmap": "n", "filter": "m"}
    reads = {op: elems[op] * trips[missing[op]] for op in ("ifmap", "filter")}
    ktrips = trips["k"]
    ofmap_writes = elems["ofmap"] * ktrips
    ofmap_reads = elems["ofmap"] * (ktrips - 1)

    words = {
        "ifmap": math.ceil(reads["ifmap"] / values_per_word(act_word_bits, layer.act_bits)),
        "filter": math.ceil(reads["filter"] / values_per_word(weight_word_bits,
                                                              layer.weight_bits)),
    }
    psum_bits = layer.acc_bits if ktrips > 1 else layer.out_bits
    ofmap_vpw = values_per_word(out_word_bits, psum_bits)
    sram_bytes_total = (reads["ifmap"] * layer.act_bits + reads["filter"] * layer.weight_bits
                        + (ofmap_writes + ofmap_reads) * psum_bits) / 8

    # DRAM: raw tensors at stored widths, scaled to the part this core handles.
    dram_size = {"ifmap": layer.act_in_bytes * fr["ifmap"],
                 "filter": layer.weight_bytes * fr["filter"],
                 "ofmap": layer.act_out_bytes * fr["ofmap"]}
    acc_bytes = elems["ofmap"] * layer.acc_bits / 8
    cap = {op: sram_bytes[op] / (2 if double_buffered else 1) for op in sram_bytes}
    nest = loop_nest(mapping)
    dram_in = {op: _fetches(dram_size[op], OPERAND_DIMS[op], nest, trips, cap[op])
               for op in ("ifmap", "filter")}
    if fm_tile is not None:
        dram_in["ifmap"] = dram_size["ifmap"] * fm_tile_ifmap_factor(layer, fm_tile)
    # Outputs: the partial sums live across the reduction loop must fit, else spill.
    outside = 1
    for dim in nest:
        if dim == "k":
            break
        outside *= trips[dim]
    spill = ktrips > 1 and acc_bytes / outside > cap["ofmap"]
    ofmap_write = dram_size["ofmap"] + (acc_bytes * (ktrips - 1) if spill else 0.0)
    ofmap_read = acc_bytes * (ktrips - 1) if spill else 0.0

    prologue, epilogue = _edge_bytes(mapping, size, trips, dram_size)
    return Traffic(
        sram_ifmap_reads=words["ifmap"], sram_filter_reads=words["filter"],
        sram_ofmap_writes=math.ceil(ofmap_writes / ofmap_vpw),
        sram_ofmap_reads=math.ceil(ofmap_reads / ofmap_vpw), sram_bytes=sram_bytes_total,
        dram_ifmap_bytes=dram_in["ifmap"], dram_filter_bytes=dram_in["filter"],
        dram_ofmap_write_bytes=ofmap_write, dram_ofmap_read_bytes=ofmap_read,
        prologue_bytes=prologue, epilogue_bytes=epilogue)


def _axis_window_sum(out: int, tile: int, stride: int, kernel: int, dilation: int,
                     pad_begin: int, size: int) -> int:
    """Sum over output tiles along one axis of the input positions (inside the tensor) that the
    tile's windows read."""
    total = 0
    for start in range(0, out, tile):
        stop = min(start + tile, out)
        lo = max(0, start * stride - pad_begin)
        hi = min(size, (stop - 1) * stride - pad_begin + (kernel - 1) * dilation + 1)
        total += max(0, hi - lo)
    return total


def fm_tile_ifmap_factor(layer: LayerWork, tile: tuple[int, int]) -> float:
    """Input bytes fetched under a feature-map tiling schedule (e.g. the stack's 4x4 output
    tiles), relative to the raw input: each ``th x tw`` output tile fetches the bounding box of
    its input windows (halo included, padding not fetched; what a DMA moves) once, for all
    filters. 1.0 for 1x1 stride-1 convs;
    ``(4 + 2)^2 / 16 = 2.25`` in the interior of a 3x3 stride-1 conv with 4x4 tiles."""
    th, tw = tile
    for name, value in (("tile height", th), ("tile width", tw)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"fm_tile {name} must be a positive int, got {value!r}")
    rows = _axis_window_sum(layer.out_h, th, layer.stride[0], layer.kernel_h, layer.dilation[0],
                            layer.pads[0], layer.in_h)
    cols = _axis_window_sum(layer.out_w, tw, layer.stride[1], layer.kernel_w, layer.dilation[1],
                            layer.pads[1], layer.in_w)
    return rows * cols / (layer.in_h * layer.in_w)


def stall_cycles(compute: float, traffic: Traffic, *, bw_bytes_per_cycle: float,
                 double_buffered: bool) -> float:
    """Cycles compute waits for DRAM (see module docstring); ``>= 0``."""
    if bw_bytes_per_cycle <= 0:
        raise ValueError(f"bw_bytes_per_cycle must be > 0, got {bw_bytes_per_cycle!r}")
    dram = traffic.dram_bytes / bw_bytes_per_cycle
    if not double_buffered:
        return dram
    pro = traffic.prologue_bytes / bw_bytes_per_cycle
    epi = traffic.epilogue_bytes / bw_bytes_per_cycle
    middle = max(0.0, dram - pro - epi)
    return pro + max(compute, middle) + epi - compute

"""Per-layer GPU model: a layer as library-chosen threadblock tiles on an SM array.

A compute layer is ``G`` independent GEMMs ``O[M x N] = I[M x K] . F[K x N]`` (implicit GEMM for a
convolution: M = batch*out_h*out_w, N = out_channels/G, K = (in_channels/G, padded for Tensor
Cores)*kh*kw; see :meth:`common.workload.LayerWork.gemm_shape`). Every constant below that is a
calibration (efficiencies, latencies, launch costs) comes from the preset's cited ``model:``
section (:class:`simulator.gpu.spec.GpuModel`, written ``md`` here).

**Tile and split-K: a library heuristic, not the best of all** (:func:`choose_tile`). Tiles are
tried largest first along a ladder oriented by the GEMM's shape (M >= N: 256x128, 128x128,
128x64, 64x64; else the transposes), leaving out tiles wider than M or N rounded up to 64 and,
for a GEMM of fewer than ``SHORT_K_ITERS`` K steps, the top rung; the first tile whose grid
gives nearly every SM a tile with waves not too empty is
taken, else the smallest rung: ``tiles >= GRID_FILL_MIN * SMs`` and
``tiles / (ceil(tiles / SMs) * SMs) >= WAVE_EFFICIENCY_MIN``. A grid still under half the SMs with
``k_iters >= 4 * split`` gets split-K: the largest power of two (<= 16) keeping
``tiles * split <= SMs``, as CUTLASS's split-K-serial / cuBLAS's heuristics do for small grids.

**Occupancy** (blocks per SM, ``b``)::

    regs/thread = ceil8(BM*BN / threads + reg_overhead_per_thread)
    smem/block  = pipeline_stages * (BM*BK*a_bytes + BN*BK*w_bytes)
    b = min(regs_per_sm // (regs/thread * threads), smem_per_sm // smem/block,
            max_threads_per_sm // threads, max_blocks_per_sm)

**One K step of b co-resident blocks on one SM** (cycles, :func:`step_cycles`)::

    c_mma    = b*BM*BN*BK / (tc_macs_per_clock_per_sm * mma_efficiency * min(1, b*warps/4))
    c_l2     = b*(BM*BK*a_bytes + BN*BK*w_bytes) / (l2_bw_bytes_per_clock / sm_count)
    c_gather = b*BM*BK*a_bytes / gather_bytes_per_clock_per_sm   (channel run < 16 B only)
    c_w4     = b*BN*BK*w4_dequant_ops / int32_lanes_per_sm         (4-bit weights only)
    c_lat    = dram_latency_cycles / (pipeline_stages - 1)         (latency a prefetch must hide)
    t_step   = max(c_mma, c_l2, c_gather, c_w4, c_lat)

so Volta's two-stage pipeline exposes ~450 cycles of latency behind a ~284-cycle MMA step. A wave
is ``k_iters * t_step + fill + b * epilogue`` with ``fill = dram_latency + c_l2/b``.

**Kernel**: ``waves = ceil(tiles / (SMs*b))`` (the last wave runs with the blocks it has); DRAM
bytes from a roofline with L2 reuse (:func:`dram_traffic`); compute ``C`` and DRAM ``D`` overlap
partially::

    kernel = max(C, D) + (1 - memory_overlap) * min(C, D)
    cycles = kernel + launch_gap + kernel_fixed_us        (graph mode: graph_launch_overhead_us)

**Gating as deployed** (``gating=``; :func:`simulate_layer`): ``dense`` runs the masked layer
dense (no saving); ``tile-skip`` skips a ``BK``-deep K step of an M-tile only when every channel
of the step is off for every sample the tile covers (a spatial gate skips whole M-tiles);
``compaction`` gathers each sample's active channels (a memory pass) and runs a grouped GEMM
with the smaller K; ``auto`` takes the fastest of the three for each gated layer. The mode used
and a one-line reason are in ``details["gating_mode"]`` / ``details["gating_note"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from common.workload import LayerWork
from simulator.gpu.spec import MMA_DTYPE_BITS, GpuSpec
from simulator.results import LayerResult

#: Threadblock tiles (BM, BN, warps) in the spirit of CUTLASS/cuBLAS tile sets (NVIDIA, Matrix
#: Multiplication Background User's Guide, "Typical Tile Dimensions In cuBLAS": 256x128 and
#: 128x256 most efficient, 64x64 least). Library data, not calibration.
TILE_SHAPES: tuple[tuple[int, int, int], ...] = (
    (256, 128, 8), (128, 256, 8), (128, 128, 4), (256, 64, 4), (64, 256, 4),
    (128, 64, 4), (64, 128, 4), (64, 64, 4), (64, 32, 2), (32, 32, 1))
#: The heuristic's ladders, largest first, for M >= N and for M < N.
TILE_LADDER = {"tall": ((256, 128), (128, 128), (128, 64), (64, 64)),
               "wide": ((128, 256), (128, 128), (64, 128), (64, 64))}
#: a GEMM with fewer K steps than this starts one rung down the ladder: several smaller blocks
#: per SM hide each other's prologue (DRAM latency) and epilogue, which one big block cannot
SHORT_K_ITERS = 4
#: the heuristic's bars: a rung is taken when its grid gives at least GRID_FILL_MIN of the
#: SMs a tile and its waves (one tile per SM each) are at least WAVE_EFFICIENCY_MIN full; the
#: guide's 2304x1664 GEMM (117 256x128 tiles on 108 SMs, a 54%-full second wave) still runs
#: 256x128 in cuBLAS, so the wave bar is low
GRID_FILL_MIN = 0.9
WAVE_EFFICIENCY_MIN = 0.5
#: K depth of one main-loop step, in bytes of the MMA operand (CUTLASS: 32 fp16, 64 int8, 16 tf32)
BK_BYTES = 64
#: split-K factors the heuristic may pick (powers of two, CUTLASS split-K serial)
SPLIT_K = (1, 2, 4, 8, 16)
#: fused ops that are separate memory passes when the epilogue is not fused
EPILOGUE_FUSABLE = ("bn", "batchnorm", "relu", "relu6", "clip", "hardswish", "sigmoid", "add",
                    "requant", "gelu", "layernorm", "bias")
GATING_MODES = ("auto", "dense", "tile-skip", "compaction")
LAUNCH_MODES = ("stream", "graph")
#: one line per gating mode: why the speed-up is what it is
GATING_NOTES = {
    "none": "layer not gated",
    "dense": "masked dense: gated channels are zeros in a dense GEMM, no time saved",
    "tile-skip": "tile skip: only K steps whose BK channels are off for every sample of an "
                 "M-tile are skipped; per-sample masks rarely empty a whole step",
    "compaction": "channel compaction: active channels gathered per sample (one extra memory "
                  "pass), then a grouped GEMM with the smaller K",
}


@dataclass(frozen=True)
class GemmProblem:
    """``groups`` GEMMs ``[M x K] . [K x N]`` with operand/output widths in bits."""

    m: int
    n: int
    k: int
    groups: int = 1
    a_bits: int = 16
    w_bits: int = 16
    out_bits: int = 16
    mma_dtype: str = "fp16"
    #: mean fraction of K steps each M-tile still runs (tile-skip gating / zero skip), in [0, 1]
    k_step_fraction: float = 1.0
    #: M-tiles left after a spatial gate, as a fraction of ceil(M/BM), by tile height BM
    m_tile_fraction: dict = field(default_factory=dict, compare=False)
    fused_epilogue: bool = True
    #: bytes of the distinct A operand in memory (a convolution's input tensor, smaller than its
    #: im2col view M x K); None: the GEMM view, M*K*a_bits/8 per group
    a_unique_bytes: float | None = None
    #: the A operand is gathered element-wise (a pixel's channel run is under one 16 B vector)
    gather_a: bool = False

    def __post_init__(self):
        for key in ("m", "n", "k", "groups", "a_bits", "w_bits", "out_bits"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"GemmProblem.{key} must be a positive int, got {value!r}")
        if self.mma_dtype not in MMA_DTYPE_BITS and self.mma_dtype != "fp32":
            raise ValueError(f"GemmProblem.mma_dtype must be one of "
                             f"{sorted(MMA_DTYPE_BITS) + ['fp32']}, got {self.mma_dtype!r}")
        if not 0.0 <= self.k_step_fraction <= 1.0:
            raise ValueError(f"GemmProblem.k_step_fraction must be in [0, 1], "
                             f"got {self.k_step_fraction!r}")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def bk_for(mma_dtype: str) -> int:
    """K elements per main-loop step: 64 bytes of operand (8 for FP32 SIMT).

    >>> bk_for("fp16"), bk_for("int8"), bk_for("tf32"), bk_for("fp32")
    (32, 64, 16, 8)
    """
    if mma_dtype == "fp32":
        return 8
    return BK_BYTES * 8 // MMA_DTYPE_BITS[mma_dtype]


def dram_cycles(spec: GpuSpec, nbytes: float) -> float:
    """Cycles to stream ``nbytes`` through HBM: ``bytes / (hbm_bw * hbm_efficiency) * clock``
    (the one HBM formula of the model)."""
    return nbytes / (spec.hbm_bw_bytes_per_s * spec.model.hbm_efficiency) * spec.clock_hz


def launch_cycles(spec: GpuSpec, launch: str = "stream") -> float:
    """Fixed cycles of one kernel: the launch gap of ``launch`` mode plus ``kernel_fixed_us``."""
    md = spec.model
    gap = md.graph_launch_overhead_us if launch == "graph" else md.launch_overhead_us
    return (gap + md.kernel_fixed_us) * 1e-6 * spec.clock_hz


def overlap(compute: float, memory: float, fraction: float) -> float:
    """Time of compute and memory that overlap by ``fraction`` of the shorter one.

    >>> overlap(10.0, 4.0, 1.0), overlap(10.0, 4.0, 0.0), overlap(10.0, 4.0, 0.5)
    (10.0, 14.0, 12.0)
    """
    return max(compute, memory) + (1.0 - fraction) * min(compute, memory)


def tile_occupancy(spec: GpuSpec, bm: int, bn: int, warps: int, bk: int, a_bytes: float,
                   w_bytes: float) -> dict:
    """Blocks per SM for one tile and what limits it (registers, shared memory, threads)."""
    threads = warps * 32
    regs = _ceil_div(bm * bn // threads + spec.model.reg_overhead_per_thread, 8) * 8
    smem = spec.model.pipeline_stages * (bm * bk * a_bytes + bn * bk * w_bytes)
    if regs > spec.max_registers_per_thread or smem > spec.max_shared_mem_per_block_kib * 1024:
        return {"blocks_per_sm": 0, "regs_per_thread": regs, "smem_per_block": smem,
                "limit": "registers" if regs > spec.max_registers_per_thread else "shared_mem"}
    limits = {
        "registers": spec.registers_per_sm // (regs * threads),
        "shared_mem": int(spec.shared_mem_per_sm_kib * 1024 // smem),
        "threads": spec.max_threads_per_sm // threads,
        "blocks": spec.max_blocks_per_sm,
    }
    limit = min(limits, key=limits.get)
    return {"blocks_per_sm": limits[limit], "regs_per_thread": regs, "smem_per_block": smem,
            "limit": limit}


def _warps(bm: int, bn: int) -> int:
    return next(w for m, n, w in TILE_SHAPES if (m, n) == (bm, bn))


def choose_tile(p: GemmProblem, spec: GpuSpec) -> tuple[int, int, int]:
    """``(BM, BN, split_k)`` by the library heuristic of the module docstring."""
    ladder = TILE_LADDER["tall" if p.m >= p.n else "wide"]
    k_iters = _ceil_div(p.k, bk_for(p.mma_dtype))
    fits = [t for t in ladder if t[0] <= max(64, _ceil_div(p.m, 64) * 64)
            and t[1] <= max(64, _ceil_div(p.n, 64) * 64)] or [ladder[-1]]
    if k_iters < SHORT_K_ITERS and len(fits) > 1:
        fits = fits[1:]
    bm, bn = fits[-1]
    for cand in fits:
        tiles = p.groups * _ceil_div(p.m, cand[0]) * _ceil_div(p.n, cand[1])
        sm_waves = _ceil_div(tiles, spec.sm_count)
        if tiles >= GRID_FILL_MIN * spec.sm_count \
                and tiles / (sm_waves * spec.sm_count) >= WAVE_EFFICIENCY_MIN:
            bm, bn = cand
            break
    tiles = p.groups * _ceil_div(p.m, bm) * _ceil_div(p.n, bn)
    split = 1
    if 2 * tiles < spec.sm_count:
        for s in SPLIT_K:
            if tiles * s <= spec.sm_count and k_iters >= 4 * s:
                split = s
    return bm, bn, split


def step_cycles(p: GemmProblem, spec: GpuSpec, bm: int, bn: int, warps: int, blocks: int,
                include_memory: bool = True) -> dict:
    """Cycles of one K step of ``blocks`` co-resident blocks on one SM, by resource (module
    docstring); ``include_memory=False`` prices the step with free memory."""
    md = spec.model
    bk = bk_for(p.mma_dtype)
    a_bytes, w_bytes = p.a_bits / 8, p.w_bits / 8
    if p.mma_dtype == "fp32":
        rate = spec.fp32_lanes_per_sm * md.simt_efficiency
    else:
        rate = spec.tc_macs_per_clock_per_sm[p.mma_dtype] * md.mma_efficiency
    part = min(1.0, blocks * warps / spec.sub_partitions_per_sm)
    l2_per_sm = spec.l2_bw_bytes_per_clock / spec.sm_count
    parts = {"mma": blocks * bm * bn * bk / (rate * part)}
    if p.w_bits == 4:
        parts["w4_unpack"] = blocks * bn * bk * md.w4_dequant_ops / spec.int32_lanes_per_sm
    if include_memory:
        parts["l2"] = blocks * (bm * bk * a_bytes + bn * bk * w_bytes) / l2_per_sm
        parts["latency"] = md.dram_latency_cycles / (md.pipeline_stages - 1)
        if p.gather_a:
            parts["gather"] = blocks * bm * bk * a_bytes / md.gather_bytes_per_clock_per_sm
    return parts


def dram_traffic(p: GemmProblem, spec: GpuSpec, bm: int, bn: int, split: int, waves: int,
                 wave_slots: int) -> tuple[float, float]:
    """``(dram_bytes, l2_bytes)`` of the kernel: operands that fit in ``l2_resident_fraction``
    of L2 are read once; otherwise every wave re-reads the A rows and B columns of its
    square-rasterized block of tiles. A convolution's A in DRAM is its input tensor."""
    g = p.groups
    a_bytes, w_bytes = p.a_bits / 8, p.w_bits / 8
    tiles_m, tiles_n = _ceil_div(p.m, bm), _ceil_div(p.n, bn)
    m_frac = p.m_tile_fraction.get(bm, 1.0)
    a_gemm = g * p.m * p.k * a_bytes
    a_total = a_gemm if p.a_unique_bytes is None else min(a_gemm, p.a_unique_bytes)
    a_expand = a_gemm / a_total if a_total else 1.0      # im2col re-reads hit L1/L2
    w_total = g * p.n * p.k * w_bytes
    kf = p.k_step_fraction
    l2_traffic = g * (tiles_n * p.m * p.k * a_bytes * m_frac
                      + tiles_m * m_frac * p.n * p.k * w_bytes) * kf
    if a_total + w_total <= spec.model.l2_resident_fraction * spec.l2_size_bytes:
        dram_in = (a_total + w_total) * kf
    else:
        wm = min(tiles_m, max(1, math.isqrt(wave_slots)))
        wn = min(tiles_n, _ceil_div(wave_slots, wm))
        per_wave = (wm * bm * p.k * a_bytes / a_expand + wn * bn * p.k * w_bytes) * kf
        dram_in = max(a_total + w_total, min(l2_traffic, waves * per_wave / split))
    partials = 2 * g * p.m * p.n * 4 * split if split > 1 else 0.0
    return dram_in + g * p.m * p.n * p.out_bits / 8 + partials, l2_traffic


def _waves(p: GemmProblem, spec: GpuSpec, bm: int, bn: int, warps: int, split: int,
           blocks_per_sm: int, include_memory: bool) -> dict:
    """Sum over waves of ``k_iters * t_step + fill + b * epilogue`` (module docstring)."""
    md, sms = spec.model, spec.sm_count
    bk = bk_for(p.mma_dtype)
    k_iters = _ceil_div(_ceil_div(p.k, bk), split)
    k_eff = k_iters * p.k_step_fraction
    tiles = max(0, round(p.groups * _ceil_div(p.m, bm) * p.m_tile_fraction.get(bm, 1.0)
                         * _ceil_div(p.n, bn) * split))
    l2_per_sm = spec.l2_bw_bytes_per_clock / sms
    out_bytes = 4 if split > 1 else p.out_bits / 8  # split-K partials leave as fp32
    ops = md.epilogue_ops_fused if p.fused_epilogue and split == 1 else md.epilogue_ops_plain
    epilogue = bm * bn * (ops / spec.fp32_lanes_per_sm + out_bytes / l2_per_sm)

    def wave(blocks: int) -> tuple[float, float, str]:
        parts = step_cycles(p, spec, bm, bn, warps, blocks, include_memory)
        limiter = max(parts, key=parts.get)
        fill = (md.dram_latency_cycles + parts["l2"] / blocks) if include_memory else 0.0
        return k_eff * parts[limiter] + fill + blocks * epilogue, k_eff * parts["mma"], limiter

    slots = sms * blocks_per_sm
    full, rest = divmod(tiles, slots)
    t_full, mma_full, limiter = wave(blocks_per_sm)
    out = {"compute": full * t_full, "busy": full * sms * t_full, "mma": full * mma_full,
           "waves": full + (1 if rest else 0), "tiles": tiles, "wave_slots": slots,
           "last_wave_tiles": rest, "k_iters": k_iters, "k_eff": k_eff, "step_limit": limiter}
    if rest:
        t_last, mma_last, lim_last = wave(_ceil_div(rest, sms))
        out["compute"] += t_last
        out["mma"] += mma_last
        out["busy"] += min(rest, sms) * t_last
        if not full:
            out["step_limit"] = lim_last
    return out


def _evaluate(p: GemmProblem, spec: GpuSpec, bm: int, bn: int, split: int,
              include_memory: bool = True, launch: str = "stream") -> dict | None:
    """Cycles and counters of one (tile, split) choice; None if the tile cannot launch."""
    warps = _warps(bm, bn)
    bk = bk_for(p.mma_dtype)
    occ = tile_occupancy(spec, bm, bn, warps, bk, p.a_bits / 8, p.w_bits / 8)
    b = occ["blocks_per_sm"]
    if b == 0 or split > _ceil_div(p.k, bk):
        return None
    w = _waves(p, spec, bm, bn, warps, split, b, include_memory)
    dram_bytes, l2_bytes = dram_traffic(p, spec, bm, bn, split, w["waves"], w["wave_slots"])
    dram = dram_cycles(spec, dram_bytes) if include_memory else 0.0
    fixed = (2 if split > 1 else 1) * launch_cycles(spec, launch)
    kernel = overlap(w["compute"], dram, spec.model.memory_overlap)
    macs_issued = (p.groups * _ceil_div(p.m, bm) * p.m_tile_fraction.get(bm, 1.0) * bm
                   * _ceil_div(p.n, bn) * bn * w["k_eff"] * bk * split)
    return {
        "cycles": kernel + fixed, "compute_cycles": w["compute"], "dram_cycles": dram,
        "launch_cycles": fixed, "busy_sm_cycles": w["busy"], "tiles": w["tiles"],
        "waves": w["waves"], "wave_slots": w["wave_slots"],
        "last_wave_tiles": w["last_wave_tiles"], "blocks_per_sm": b,
        "occupancy_limit": occ["limit"], "regs_per_thread": occ["regs_per_thread"],
        "smem_per_block_kib": occ["smem_per_block"] / 1024, "tile": (bm, bn, bk),
        "warps": warps, "split_k": split, "k_iters": w["k_iters"],
        "k_iters_effective": w["k_eff"], "dram_bytes": dram_bytes, "l2_bytes": l2_bytes,
        "macs_issued": macs_issued, "mma_cycles": w["mma"], "step_limit": w["step_limit"],
    }


def simulate_gemm(p: GemmProblem, spec: GpuSpec, *, tile: tuple[int, int] | None = None,
                  split_k: int | None = None, launch: str = "stream") -> dict:
    """The library's (tile, split-K) for ``p`` on ``spec`` (:func:`choose_tile`), with the
    counters of :func:`_evaluate` plus ``stall_cycles`` (cycles added by memory: the same
    choice re-run with free memory) and ``free_compute_cycles``.

    ``tile=(BM, BN)`` forces a tile from :data:`TILE_SHAPES`; ``split_k`` forces a split.
    Raises ValueError for a tile that is not in the set or cannot launch on ``spec``."""
    if p.mma_dtype != "fp32" and not spec.has_mma(p.mma_dtype):
        raise ValueError(f"{spec.name} has no {p.mma_dtype!r} Tensor Core path "
                         f"(has {sorted(spec.tc_macs_per_clock_per_sm)})")
    if launch not in LAUNCH_MODES:
        raise ValueError(f"launch must be one of {LAUNCH_MODES}, got {launch!r}")
    if tile is not None and tuple(tile) not in {s[:2] for s in TILE_SHAPES}:
        raise ValueError(f"tile must be one of {[s[:2] for s in TILE_SHAPES]}, got {tile!r}")
    if split_k is not None and (isinstance(split_k, bool) or not isinstance(split_k, int)
                                or split_k < 1):
        raise ValueError(f"split_k must be a positive int, got {split_k!r}")
    bm, bn, split = choose_tile(p, spec)
    if tile is not None:
        bm, bn = tile
        split = 1
    if split_k is not None:
        split = split_k
    best = _evaluate(p, spec, bm, bn, split, launch=launch)
    if best is None:
        raise ValueError(f"tile {bm}x{bn} (split {split}) cannot launch for {p} on {spec.name}")
    free = _evaluate(p, spec, bm, bn, split, include_memory=False, launch=launch)
    best["stall_cycles"] = max(0.0, best["cycles"] - free["cycles"])
    best["free_compute_cycles"] = free["compute_cycles"]
    return best


# ----------------------------------------------------------------------------- layers
def resolve_mma_dtype(layer: LayerWork, spec: GpuSpec, requested: str = "auto") -> str:
    """The MMA input type a layer runs with. ``auto``: 8-bit (or 4-bit weight, 8-bit activation)
    layers use INT8 where the part has INT8 Tensor Cores, else FP16 (V100: operands converted
    to FP16 on the way to the MMA); 16-bit use FP16; wider use TF32 where present, else FP32 on
    CUDA cores."""
    if requested != "auto":
        if requested != "fp32" and not spec.has_mma(requested):
            raise ValueError(f"mma_dtype {requested!r} not available on {spec.name}; "
                             f"choose from {sorted(spec.tc_macs_per_clock_per_sm)} or 'fp32'")
        return requested
    if layer.act_bits <= 8 and layer.weight_bits <= 8:
        return "int8" if spec.has_mma("int8") else "fp16"
    if layer.act_bits <= 16 and layer.weight_bits <= 16:
        return "fp16" if spec.has_mma("fp16") else "fp32"
    return "tf32" if spec.has_mma("tf32") else "fp32"


def _operand_bits(layer: LayerWork, mma: str) -> tuple[int, int]:
    """Bits per operand element as loaded (storage width; W4 stays 4-bit until dequantized)."""
    mma_bits = 32 if mma == "fp32" else MMA_DTYPE_BITS[mma]
    a_bits = max(layer.act_bits, mma_bits) if mma != "int4" else 4
    w_bits = layer.weight_bits if layer.weight_bits <= mma_bits else mma_bits
    return a_bits, w_bits


def padded_channels(spec: GpuSpec, channels: int, a_bits: int, mma: str) -> int:
    """Input channels per group as a Tensor Core implicit GEMM sees them: padded to
    ``channel_align_bytes`` (C <= ``small_channel_pad``: to that, the C=4 first-layer kernels).

    >>> from simulator.gpu.spec import load_gpu_spec
    >>> a100 = load_gpu_spec("a100_sxm4_40gb")
    >>> [padded_channels(a100, c, 16, "fp16") for c in (3, 4, 5, 64, 100)]
    [4, 4, 8, 64, 104]
    >>> padded_channels(a100, 3, 32, "fp32")
    3
    """
    if mma == "fp32":
        return channels
    md = spec.model
    if channels <= md.small_channel_pad:
        return md.small_channel_pad
    align = max(1, md.channel_align_bytes * 8 // a_bits)
    return _ceil_div(channels, align) * align


def _tile_skip_fractions(layer: LayerWork, bk: int, heights: tuple[int, ...]
                         ) -> tuple[dict, dict]:
    """``({BM: fraction of K steps run}, {BM: fraction of M-tiles run})`` of the tile-skip
    deployment: a channel gate ``(N, C_in)`` frees a K step of an M-tile only when all of its
    ``bk`` channels (one filter tap) are off for every sample the tile covers; a spatial gate
    ``(N, H_out, W_out)`` frees an M-tile whose pixels are all off. Always dicts by BM."""
    mask = np.asarray(layer.gate_mask, dtype=bool)
    _, m, _, k = layer.gemm_shape()
    if mask.shape == (layer.batch, layer.out_h, layer.out_w):
        flat = mask.reshape(-1)
        m_frac = {}
        for bm in heights:
            padded = np.zeros(_ceil_div(m, bm) * bm, dtype=bool)
            padded[:m] = flat
            m_frac[bm] = float(padded.reshape(-1, bm).any(axis=1).mean())
        return {bm: 1.0 for bm in heights}, m_frac
    pixels = layer.out_h * layer.out_w
    taps = layer.kernel_h * layer.kernel_w
    c = layer.in_channels
    chunks = _ceil_div(c, bk) if c >= bk else 1
    padded = np.zeros((layer.batch, chunks * bk if c >= bk else c), dtype=bool)
    padded[:, :c] = mask
    active = padded.reshape(layer.batch, chunks, -1).any(axis=2)          # (N, chunks)
    prefix = np.vstack([np.zeros((1, chunks), dtype=np.int64),
                        np.cumsum(active, axis=0, dtype=np.int64)])
    ch_prefix = np.vstack([np.zeros((1, c), dtype=np.int64), np.cumsum(mask, axis=0)])
    k_frac = {}
    for bm in heights:
        starts = np.arange(_ceil_div(m, bm)) * bm
        first, last = starts // pixels, np.minimum(starts + bm - 1, m - 1) // pixels
        if c >= bk:   # K ordered (r, s, c): a step holds bk channels of one tap
            k_frac[bm] = float(((prefix[last + 1] - prefix[first]) > 0).mean())
        else:         # a step spans taps: count the channels any covered sample keeps
            union = ((ch_prefix[last + 1] - ch_prefix[first]) > 0).sum(axis=1)
            k_frac[bm] = float(np.mean(np.ceil(union * taps / bk)) / _ceil_div(k, bk))
    return k_frac, {}


def _check_gate(layer: LayerWork) -> str:
    """``"channel"``, ``"spatial"`` or ``"none"``; ValueError for a mask of another shape."""
    if layer.gate_mask is None:
        return "none"
    shape = np.shape(layer.gate_mask)
    if shape == (layer.batch, layer.in_channels):
        return "channel" if layer.groups == 1 else "none"
    if shape == (layer.batch, layer.out_h, layer.out_w):
        return "spatial"
    raise ValueError(
        f"layer {layer.name!r}: gate_mask shape {shape} is neither (N, C_in) = "
        f"{(layer.batch, layer.in_channels)} nor (N, H_out, W_out) = "
        f"{(layer.batch, layer.out_h, layer.out_w)}")


def _zero_skip_fraction(layer: LayerWork, bm: int, bn: int, bk: int) -> tuple[float, str]:
    """Fraction of K steps a tile can skip because a whole operand step is zero blocks:
    ``p ** blocks_per_step`` with ``p`` the measured zero-block fraction (independence).

    Example: half of the 4x4 weight blocks zero, a 128-wide N tile and a 32-deep step hold
    256 blocks, so ``0.5 ** 256``: effectively never."""
    block = layer.zero_block
    skip, how = 0.0, "none"
    for bitmap, rows, kind in ((layer.weight_zero_bitmap, bn, "weight"),
                               (layer.act_zero_bitmap, bm, "act")):
        if bitmap is None or block is None:
            continue
        bitmap = np.asarray(bitmap, dtype=bool)
        p = float(bitmap.mean()) if bitmap.size else 0.0
        blocks_per_step = max(1, _ceil_div(rows * bk, max(int(np.prod(block)), 1)))
        skip = max(skip, p ** blocks_per_step)
        how = f"{kind} blocks {tuple(block)}: p={p:.3f}, {blocks_per_step} blocks/step"
    return skip, how


@dataclass(frozen=True)
class _LayerGemm:
    """A compute layer resolved to its GEMM: MMA type, operand widths, padded K, gather."""

    mma: str
    groups: int
    m: int
    n: int
    k: int
    a_bits: int
    w_bits: int
    out_bits: int
    gather_a: bool
    a_unique_bytes: float
    c_padded: int


def _layer_gemm(layer: LayerWork, spec: GpuSpec, mma_dtype: str, out_bits: int) -> _LayerGemm:
    mma = resolve_mma_dtype(layer, spec, mma_dtype)
    groups, m, n, _ = layer.gemm_shape()
    a_bits, w_bits = _operand_bits(layer, mma)
    cin = layer.in_channels // groups
    c_pad = padded_channels(spec, cin, a_bits, mma) if layer.op == "conv" else cin
    k = c_pad * layer.kernel_h * layer.kernel_w
    taps = layer.kernel_h * layer.kernel_w
    gather = layer.op == "conv" and taps > 1 and c_pad * a_bits / 8 < 16
    a_unique = layer.batch * layer.in_channels * layer.in_h * layer.in_w * a_bits / 8
    return _LayerGemm(mma, groups, m, n, k, a_bits, w_bits, out_bits, gather, a_unique, c_pad)


def _gemm_run(lg: _LayerGemm, spec: GpuSpec, layer: LayerWork, *, fused: bool, launch: str,
              tile, split_k, k_scale: float = 1.0, groups: int | None = None,
              m: int | None = None, gate: tuple[dict, dict] | None = None) -> dict:
    """One kernel for the layer's GEMM (optionally with K scaled, regrouped, or tile-skip
    fractions), with the zero-block skip of the chosen tile applied."""
    k = max(1, round(lg.k * k_scale))
    base = GemmProblem(m=m or lg.m, n=lg.n, k=k, groups=groups or lg.groups, a_bits=lg.a_bits,
                       w_bits=lg.w_bits, out_bits=lg.out_bits, mma_dtype=lg.mma,
                       fused_epilogue=fused, a_unique_bytes=lg.a_unique_bytes * k_scale,
                       gather_a=lg.gather_a)
    bm, bn, _ = choose_tile(base, spec) if tile is None else (*tile, 1)
    k_frac = gate[0].get(bm, 1.0) if gate else 1.0
    z_skip, z_note = _zero_skip_fraction(layer, bm, bn, bk_for(lg.mma))
    problem = replace(base, k_step_fraction=k_frac * (1.0 - z_skip),
                      m_tile_fraction=gate[1] if gate else {})
    r = simulate_gemm(problem, spec, tile=tile, split_k=split_k, launch=launch)
    r["zero_skip"] = z_note
    return r


def _memory_pass(spec: GpuSpec, op: str, nbytes: float, launch: str = "stream") -> dict:
    """One memory-bound kernel over ``nbytes`` (read + write): DRAM time + latency + launch."""
    dram = dram_cycles(spec, nbytes)
    fixed = spec.model.dram_latency_cycles + launch_cycles(spec, launch)
    return {"op": op, "bytes": nbytes, "cycles": dram + fixed, "dram_cycles": dram,
            "overhead_cycles": fixed}


def _gated_runs(layer: LayerWork, lg: _LayerGemm, spec: GpuSpec, gating: str, kw: dict
                ) -> tuple[str, dict, list]:
    """``(mode, gemm run, extra passes)`` for ``gating`` (``auto``: the fastest mode)."""
    kind = _check_gate(layer)
    if kind == "none":
        return "none", _gemm_run(lg, spec, layer, **kw), []
    modes = ("dense", "tile-skip", "compaction") if gating == "auto" else (gating,)
    best = None
    for mode in modes:
        run, passes = _gating_mode_run(layer, lg, spec, mode, kind, kw)
        total = run["cycles"] + sum(p["cycles"] for p in passes)
        if best is None or total < best[0]:
            best = (total, mode, run, passes)
    return best[1], best[2], best[3]


def _gating_mode_run(layer: LayerWork, lg: _LayerGemm, spec: GpuSpec, mode: str, kind: str,
                     kw: dict) -> tuple[dict, list]:
    if mode == "dense":
        return _gemm_run(lg, spec, layer, **kw), []
    if mode == "tile-skip":
        heights = tuple(sorted({s[0] for s in TILE_SHAPES}))
        gate = _tile_skip_fractions(layer, bk_for(lg.mma), heights)
        return _gemm_run(lg, spec, layer, gate=gate, **kw), []
    mask = np.asarray(layer.gate_mask, dtype=bool)
    act_bytes = lg.a_unique_bytes
    if kind == "channel":   # per-sample gather of active channels, grouped GEMM over samples
        active = float(mask.sum(axis=1).mean()) / layer.in_channels
        per_sample_m = layer.out_h * layer.out_w
        run = _gemm_run(lg, spec, layer, k_scale=active, groups=layer.batch * lg.groups,
                        m=per_sample_m, **kw)
    else:                   # spatial: gather active output pixels' receptive rows
        active = float(mask.mean())
        run = _gemm_run(lg, spec, layer, m=max(1, round(lg.m * active)), **kw)
    gather = _memory_pass(spec, "gather", act_bytes * (1.0 + active), kw["launch"])
    return run, [gather]


def _check_choices(epilogue: str, gating: str, launch: str) -> None:
    for name, value, allowed in (("epilogue", epilogue, ("workload", "fused", "unfused")),
                                 ("gating", gating, GATING_MODES),
                                 ("launch", launch, LAUNCH_MODES)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def _epilogue_passes(layer: LayerWork, spec: GpuSpec, ops: list, width: int,
                     launch: str) -> list:
    """Each unfused op as its own memory pass over the output (read at ``width`` bits, the
    last one writes the layer's ``out_bits``)."""
    elems = layer.batch * layer.out_channels * layer.out_h * layer.out_w
    passes = []
    for i, op in enumerate(ops):
        out_w = layer.out_bits if i == len(ops) - 1 else width
        passes.append(_memory_pass(spec, op, elems * (width + out_w) / 8, launch))
        width = out_w
    return passes


def simulate_layer(layer: LayerWork, spec: GpuSpec, *, mma_dtype: str = "auto",
                   epilogue: str = "workload", tile: tuple[int, int] | None = None,
                   split_k: int | None = None, gating: str = "auto",
                   launch: str = "stream") -> LayerResult:
    """Cycles, utilization and traffic of one layer (see the module docstring).

    ``epilogue``: ``"workload"``/``"fused"`` fuse what ``layer.fused`` lists; ``"unfused"`` runs
    each op in ``layer.fused`` as its own memory pass after the GEMM (which then writes
    accumulators: 32-bit for integer MMA). ``gating``: ``auto``, ``dense``, ``tile-skip`` or
    ``compaction`` (module docstring); ``launch``: ``stream`` or ``graph`` (CUDA Graphs /
    TensorRT engine). Raises ValueError on bad choices."""
    _check_choices(epilogue, gating, launch)
    if layer.op in ("elementwise", "pool"):
        return _memory_layer(layer, spec, launch)
    if layer.op == "depthwise":
        return _depthwise_layer(layer, spec, epilogue, launch)
    unfused = [op for op in layer.fused if op.lower() in EPILOGUE_FUSABLE] \
        if epilogue == "unfused" else []
    mma = resolve_mma_dtype(layer, spec, mma_dtype)
    gemm_out = (layer.acc_bits if mma in ("int8", "int4") else max(layer.out_bits, 16)) \
        if unfused else layer.out_bits
    lg = _layer_gemm(layer, spec, mma_dtype, gemm_out)
    kw = {"fused": not unfused, "launch": launch, "tile": tile, "split_k": split_k}
    mode, best, passes = _gated_runs(layer, lg, spec, gating, kw)
    passes = passes + _epilogue_passes(layer, spec, unfused, gemm_out, launch)
    return _gemm_result(layer, spec, lg, best, passes, mode, epilogue)


def _gemm_result(layer: LayerWork, spec: GpuSpec, lg: _LayerGemm, best: dict, passes: list,
                 mode: str, epilogue: str) -> LayerResult:
    extra = sum(p["cycles"] for p in passes)
    pass_overhead = sum(p["overhead_cycles"] for p in passes)
    cycles = best["cycles"] + extra
    dram = best["dram_bytes"] + sum(p["bytes"] for p in passes)
    peak = spec.peak_macs_per_clock(lg.mma)
    details = _common_details(spec, layer, cycles, dram, peak)
    details.update({key: best[key] for key in (
        "warps", "split_k", "blocks_per_sm", "occupancy_limit", "regs_per_thread", "tiles",
        "waves", "wave_slots", "last_wave_tiles", "k_iters", "compute_cycles", "dram_cycles",
        "launch_cycles", "zero_skip", "step_limit")})
    details.update({
        "mma_dtype": lg.mma, "tile": "x".join(map(str, best["tile"])),
        "smem_per_block_kib": round(best["smem_per_block_kib"], 2),
        "wave_efficiency": (best["tiles"] / (best["waves"] * best["wave_slots"])
                            if best["waves"] else 0.0),
        "k_iters_effective": round(best["k_iters_effective"], 3),
        "sm_utilization": best["busy_sm_cycles"] / (spec.sm_count * cycles) if cycles else 0.0,
        "tc_pipe_utilization": best["macs_issued"] / (peak * cycles) if cycles else 0.0,
        "epilogue": "unfused" if any(p["op"] != "gather" for p in passes) else "fused",
        "epilogue_pass_cycles": extra, "epilogue_passes": passes,
        "w4_dequant": lg.w_bits == 4, "channels_padded": lg.c_padded, "im2col_gather":
        lg.gather_a, "gating_mode": mode, "gating_note": GATING_NOTES[mode],
        "gate": _check_gate(layer)})
    return LayerResult(
        name=layer.name, target="gpu", cycles=cycles, time_s=cycles / spec.clock_hz,
        macs_dense=layer.macs_dense, macs_done=layer.macs_done,
        utilization=min(1.0, layer.macs_done / (peak * cycles)) if cycles else 0.0,
        compute_cycles=best["free_compute_cycles"],
        memory_cycles=min(cycles, best["dram_cycles"] + sum(p["dram_cycles"] for p in passes)),
        overhead_cycles=best["launch_cycles"] + pass_overhead,
        stall_cycles=best["stall_cycles"] + extra - pass_overhead, dram_bytes=dram,
        onchip_bytes=best["l2_bytes"], details=details)


def _common_details(spec: GpuSpec, layer: LayerWork, cycles: float, dram: float,
                    peak_mac_clk: float) -> dict:
    time_s = cycles / spec.clock_hz if cycles else 0.0
    flops = 2.0 * layer.macs_done
    return {
        "op": layer.op,
        "achieved_tflops": flops / time_s / 1e12 if time_s else 0.0,
        "peak_tflops": 2.0 * peak_mac_clk * spec.clock_hz / 1e12,
        "achieved_gbps": dram / time_s / 1e9 if time_s else 0.0,
        "peak_gbps": spec.hbm_bw_gb_per_s,
        "arithmetic_intensity": flops / dram if dram else 0.0,
    }


def _memory_layer(layer: LayerWork, spec: GpuSpec, launch: str = "stream") -> LayerResult:
    """Element-wise and pooling passes: read inputs, write output, at HBM bandwidth."""
    nbytes = layer.act_in_bytes + layer.act_out_bytes
    memory = dram_cycles(spec, nbytes)
    elems = layer.batch * layer.out_channels * layer.out_h * layer.out_w
    op_cycles = layer.ops / (spec.fp32_lanes_per_sm * spec.sm_count)
    fixed = spec.model.dram_latency_cycles + launch_cycles(spec, launch)
    body = overlap(op_cycles, memory, spec.model.memory_overlap)
    cycles = body + fixed
    blocks = _ceil_div(int(max(elems / 4, 1)), 256)     # 4 elements per thread, 256 threads
    details = _common_details(spec, layer, cycles, nbytes, spec.peak_macs_per_clock("fp32"))
    details.update({"sm_utilization": min(1.0, blocks / spec.sm_count) * body / cycles,
                    "tc_pipe_utilization": 0.0, "tiles": blocks,
                    "waves": _ceil_div(blocks, spec.sm_count * 8), "dram_cycles": memory,
                    "mma_dtype": "none", "gating_mode": "none",
                    "gating_note": GATING_NOTES["none"]})
    return LayerResult(name=layer.name, target="gpu", cycles=cycles,
                       time_s=cycles / spec.clock_hz, macs_dense=0, macs_done=0,
                       utilization=0.0, compute_cycles=op_cycles, memory_cycles=memory,
                       overhead_cycles=fixed, stall_cycles=body - op_cycles, ops=layer.ops,
                       dram_bytes=nbytes, details=details)


def _depthwise_layer(layer: LayerWork, spec: GpuSpec, epilogue: str,
                     launch: str = "stream") -> LayerResult:
    """Depthwise conv on CUDA cores (no Tensor Core mapping: K = kh*kw is tiny). FP16/INT8
    activations use packed half2 FMA (2 per lane per clock)."""
    md = spec.model
    pack = 2 if layer.act_bits <= 16 else 1
    rate = spec.fp32_lanes_per_sm * spec.sm_count * pack * md.depthwise_fma_efficiency
    skip = layer.skip_fraction if layer.gate_mask is not None else 0.0
    compute = layer.macs_dense * (1.0 - skip) / rate
    nbytes = layer.act_in_bytes + layer.weight_bytes + layer.act_out_bytes
    memory = dram_cycles(spec, nbytes)
    blocks = _ceil_div(layer.batch * layer.out_channels * layer.out_h * layer.out_w, 256)
    fixed = launch_cycles(spec, launch) + md.dram_latency_cycles
    body = overlap(compute, memory, md.memory_overlap)
    ops = [o for o in layer.fused if o.lower() in EPILOGUE_FUSABLE] \
        if epilogue == "unfused" else []
    passes = [_memory_pass(spec, op, 2 * layer.act_out_bytes, launch) for op in ops]
    cycles = body + fixed + sum(p["cycles"] for p in passes)
    peak = spec.peak_macs_per_clock("fp32") * pack
    details = _common_details(spec, layer, cycles, nbytes, peak)
    details.update({"mma_dtype": "fp32-simt" if pack == 1 else "half2-simt", "tiles": blocks,
                    "waves": _ceil_div(blocks, spec.sm_count * 8), "compute_cycles": compute,
                    "dram_cycles": memory, "tc_pipe_utilization": 0.0,
                    "sm_utilization": min(1.0, blocks / spec.sm_count) * body / cycles,
                    "epilogue_passes": passes, "epilogue": "unfused" if passes else "fused",
                    "gating_mode": "dense" if layer.gate_mask is not None else "none",
                    "gating_note": "depthwise on CUDA cores: gated channels' MACs skipped"
                    if layer.gate_mask is not None else GATING_NOTES["none"]})
    pass_dram = sum(p["dram_cycles"] for p in passes)
    return LayerResult(name=layer.name, target="gpu", cycles=cycles,
                       time_s=cycles / spec.clock_hz, macs_dense=layer.macs_dense,
                       macs_done=layer.macs_done,
                       utilization=min(1.0, layer.macs_done / (peak * cycles)),
                       compute_cycles=compute, memory_cycles=min(cycles, memory + pass_dram),
                       overhead_cycles=fixed + sum(p["overhead_cycles"] for p in passes),
                       stall_cycles=body - compute + pass_dram,
                       dram_bytes=nbytes + sum(p["bytes"] for p in passes),
                       onchip_bytes=nbytes, details=details)

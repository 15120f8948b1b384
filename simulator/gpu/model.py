"""Per-layer GPU model: a layer as CUTLASS-like threadblock tiles on an SM array.

A compute layer is ``G`` independent GEMMs ``O[M x N] = I[M x K] . F[K x N]`` (implicit GEMM for a
convolution: M = batch*out_h*out_w, N = out_channels/G, K = (in_channels/G)*kh*kw; see
:meth:`common.workload.LayerWork.gemm_shape`). For each candidate threadblock tile
``BM x BN x BK`` (``BK`` = 64 bytes of the MMA operand type) and split-K factor ``s``:

Occupancy (blocks per SM, ``b``)::

    regs/thread   = ceil8(BM*BN / threads + REG_OVERHEAD)          (accumulators + fragments)
    smem/block    = stages * (BM*BK*a_bytes + BN*BK*w_bytes)
    b = min(regs_per_sm // (regs/thread * threads), smem_per_sm // smem/block,
            max_threads_per_sm // threads, max_blocks_per_sm)

Tile and wave quantization::

    tiles  = G * ceil(M/BM) * ceil(N/BN) * s          (minus M-tiles a spatial gate skips)
    waves  = ceil(tiles / (sm_count * b))             last wave holds r = tiles mod (sm_count*b)

One main-loop iteration of ``b`` co-resident blocks on one SM (cycles)::

    c_mma = b*BM*BN*BK / (tc_macs_per_clock_per_sm * mma_issue_efficiency * min(1, warps/4))
    c_l2  = b*(BM*BK*a_bytes + BN*BK*w_bytes) / (l2_bw_bytes_per_clock / sm_count)
    c_w4  = b*BN*BK*W4_DEQUANT_OPS / int32_lanes_per_sm           (W4A8 only)
    t_wave(b) = k_iters_eff * max(c_mma, c_l2, c_w4) + fill + b * epilogue
    fill      = dram_latency_cycles + c_l2/b                  (first stage of the pipeline)
    epilogue  = BM*BN*(EPILOGUE_OPS[fused]/fp32_lanes + out_bytes/(l2 bytes per clock per SM))

Memory roofline with L2 reuse: operands that fit in ``L2_RESIDENT_FRACTION`` of L2 are read from
DRAM once; otherwise every wave re-reads the A rows and B columns of its (square-rasterized)
block of tiles. A convolution's A operand in DRAM is its input tensor, not the im2col view (the
kh*kw overlapping re-reads are served by L1/L2). ``dram_cycles = dram_bytes / (hbm_bw * hbm_efficiency) * clock``.
Kernel cycles = ``max(sum of waves, dram_cycles) + launch``; the tile and split with the fewest
cycles wins, as a cuBLAS heuristic would pick.

Gating and zero-skip only pay where a whole tile step can be skipped: a channel gate
``(N, C_in)`` drops a ``BK``-deep K step of an M-tile when every channel of that step is off for
every sample the M-tile covers; a spatial gate ``(N, H_out, W_out)`` drops an M-tile whose pixels
are all off; zero-block bitmaps drop a step with probability ``p ** blocks_per_step`` (blocks
assumed independent). MACs skipped at a finer grain still cost Tensor Core time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from common.workload import LayerWork
from simulator.gpu.spec import MMA_DTYPE_BITS, GpuSpec
from simulator.results import LayerResult

#: Threadblock tiles (BM, BN, warps) in the spirit of CUTLASS/cuBLAS tile sets (the guide's
#: "Typical Tile Dimensions In cuBLAS": 256x128 and 128x256 most efficient, 64x64 least).
TILE_SHAPES: tuple[tuple[int, int, int], ...] = (
    (256, 128, 8), (128, 256, 8), (128, 128, 4), (256, 64, 4), (64, 256, 4),
    (128, 64, 4), (64, 128, 4), (64, 64, 4), (64, 32, 2), (32, 32, 1))
#: K depth of one main-loop step, in bytes of the MMA operand (CUTLASS: 32 fp16, 64 int8, 16 tf32)
BK_BYTES = 64
#: registers per thread beyond the accumulators: A/B fragments, addresses, loop state
REG_OVERHEAD = 40
#: split-K factors tried when the grid is small compared to the SM count
SPLIT_K = (1, 2, 4, 8, 16)
#: CUDA-core ops per output element of a fused epilogue (scale, bias/BN, activation, convert)
#: and of a plain store epilogue (convert only)
EPILOGUE_OPS = {"fused": 4, "plain": 1}
#: INT32 ops to unpack one 4-bit weight to an 8/16-bit MMA operand (shift, mask/sign-extend)
W4_DEQUANT_OPS = 2
#: fraction of L2 that operands may occupy and still be read from DRAM only once
L2_RESIDENT_FRACTION = 0.5
#: depthwise conv on CUDA cores: fraction of FMA peak a tuned kernel reaches
DEPTHWISE_FMA_EFFICIENCY = 0.5
#: fused ops that are separate memory passes when the epilogue is not fused
EPILOGUE_FUSABLE = ("bn", "batchnorm", "relu", "relu6", "clip", "hardswish", "sigmoid", "add",
                    "requant")


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
    #: mean fraction of K steps each M-tile still runs (gating / zero skip), in [0, 1]
    k_step_fraction: float = 1.0
    #: M-tiles left after a spatial gate, as a fraction of ceil(M/BM) (per tile height)
    m_tile_fraction: dict = field(default_factory=dict, compare=False)
    fused_epilogue: bool = True
    #: bytes of the distinct A operand in memory (a convolution's input tensor, smaller than its
    #: im2col view M x K); None: the GEMM view, M*K*a_bits/8 per group
    a_unique_bytes: float | None = None

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


def tile_occupancy(spec: GpuSpec, bm: int, bn: int, warps: int, bk: int, a_bytes: float,
                   w_bytes: float) -> dict:
    """Blocks per SM for one tile and what limits it (registers, shared memory, threads)."""
    threads = warps * 32
    regs = min(_ceil_div(bm * bn // threads + REG_OVERHEAD, 8) * 8, 10**6)
    smem = spec.pipeline_stages * (bm * bk * a_bytes + bn * bk * w_bytes)
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


def _bk(mma_dtype: str) -> int:
    bits = 32 if mma_dtype == "fp32" else MMA_DTYPE_BITS[mma_dtype]
    return BK_BYTES * 8 // bits


def _evaluate(p: GemmProblem, spec: GpuSpec, bm: int, bn: int, warps: int, split: int,
              include_memory: bool = True) -> dict | None:
    """Cycles and counters of one (tile, split) choice; None if the tile cannot launch."""
    bk = 8 if p.mma_dtype == "fp32" else _bk(p.mma_dtype)
    a_bytes, w_bytes, out_bytes = p.a_bits / 8, p.w_bits / 8, p.out_bits / 8
    occ = tile_occupancy(spec, bm, bn, warps, bk, a_bytes, w_bytes)
    b = occ["blocks_per_sm"]
    if b == 0:
        return None
    sms = spec.sm_count
    tiles_m = _ceil_div(p.m, bm)
    tiles_n = _ceil_div(p.n, bn)
    k_iters_total = _ceil_div(p.k, bk)
    if split > k_iters_total:
        return None
    k_iters = _ceil_div(k_iters_total, split)
    k_eff = k_iters * p.k_step_fraction
    m_frac = p.m_tile_fraction.get(bm, 1.0)
    tiles_m_run = tiles_m * m_frac
    tiles = max(0, round(p.groups * tiles_m_run * tiles_n * split))

    if p.mma_dtype == "fp32":
        rate = spec.fp32_lanes_per_sm * spec.mma_issue_efficiency
    else:
        rate = spec.tc_macs_per_clock_per_sm[p.mma_dtype] * spec.mma_issue_efficiency
    l2_per_sm = spec.l2_bw_bytes_per_clock / sms
    epi_ops = EPILOGUE_OPS["fused" if p.fused_epilogue else "plain"]
    epi_single = bm * bn * (epi_ops / spec.fp32_lanes_per_sm + out_bytes / l2_per_sm)
    if split > 1:   # partial sums leave as fp32; the reduction applies the epilogue
        epi_single = bm * bn * (1 / spec.fp32_lanes_per_sm + 4 / l2_per_sm)

    def wave_cycles(blocks: int) -> tuple[float, float]:
        part = min(1.0, blocks * warps / spec.sub_partitions_per_sm)
        c_mma = blocks * bm * bn * bk / (rate * part)
        c_l2 = blocks * (bm * bk * a_bytes + bn * bk * w_bytes) / l2_per_sm
        c_w4 = blocks * bn * bk * W4_DEQUANT_OPS / spec.int32_lanes_per_sm if p.w_bits == 4 else 0
        c_iter = max(c_mma, c_l2 if include_memory else 0.0, c_w4)
        fill = (spec.dram_latency_cycles + c_l2 / blocks) if include_memory else 0.0
        return k_eff * c_iter + fill + blocks * epi_single, k_eff * c_mma

    wave_slots = sms * b
    full_waves, rest = divmod(tiles, wave_slots)
    t_full, mma_full = wave_cycles(b)
    compute = full_waves * t_full
    busy = full_waves * sms * t_full
    mma_total = full_waves * mma_full
    if rest:
        b_last = _ceil_div(rest, sms)
        t_last, mma_last = wave_cycles(b_last)
        compute += t_last
        mma_total += mma_last
        busy += min(rest, sms) * t_last
    waves = full_waves + (1 if rest else 0)

    # DRAM traffic with L2 reuse (square rasterization of each wave's tiles)
    g = p.groups
    a_gemm = g * p.m * p.k * a_bytes
    a_total = a_gemm if p.a_unique_bytes is None else min(a_gemm, p.a_unique_bytes)
    a_expand = a_gemm / a_total if a_total else 1.0      # im2col re-reads hit L1/L2
    w_total = g * p.n * p.k * w_bytes
    out_total = g * p.m * p.n * out_bytes
    l2_traffic = g * (tiles_n * p.m * p.k * a_bytes * m_frac
                      + tiles_m_run * p.n * p.k * w_bytes) * p.k_step_fraction
    if a_total + w_total <= L2_RESIDENT_FRACTION * spec.l2_size_bytes:
        dram_in = (a_total + w_total) * max(p.k_step_fraction, 0.0)
    else:
        wm = min(tiles_m, max(1, math.isqrt(wave_slots)))
        wn = min(tiles_n, _ceil_div(wave_slots, wm))
        per_wave = (wm * bm * p.k * a_bytes / a_expand
                    + wn * bn * p.k * w_bytes) * p.k_step_fraction
        dram_in = max(a_total + w_total, min(l2_traffic, waves * per_wave / max(split, 1)))
    partials = 2 * g * p.m * p.n * 4 * split if split > 1 else 0.0
    dram_bytes = dram_in + out_total + partials
    dram_cycles = dram_bytes / (spec.hbm_bw_bytes_per_s * spec.hbm_efficiency) * spec.clock_hz
    launches = 2 if split > 1 else 1
    launch = launches * spec.kernel_launch_overhead_us * 1e-6 * spec.clock_hz
    kernel = max(compute, dram_cycles if include_memory else 0.0)
    total = kernel + launch
    macs_issued = g * tiles_m_run * bm * tiles_n * bn * k_eff * bk * split
    return {
        "cycles": total, "compute_cycles": compute, "dram_cycles": dram_cycles,
        "launch_cycles": launch, "busy_sm_cycles": busy, "tiles": tiles, "waves": waves,
        "wave_slots": wave_slots, "last_wave_tiles": rest, "blocks_per_sm": b,
        "occupancy_limit": occ["limit"], "regs_per_thread": occ["regs_per_thread"],
        "smem_per_block_kib": occ["smem_per_block"] / 1024, "tile": (bm, bn, bk),
        "warps": warps, "split_k": split, "k_iters": k_iters, "k_iters_effective": k_eff,
        "dram_bytes": dram_bytes, "l2_bytes": l2_traffic, "macs_issued": macs_issued,
        "mma_cycles": mma_total,
    }


def simulate_gemm(p: GemmProblem, spec: GpuSpec, *, tile: tuple[int, int] | None = None,
                  split_k: int | None = None) -> dict:
    """Best (tile, split-K) for ``p`` on ``spec``: the counters of :func:`_evaluate` plus
    ``stall_cycles`` (cycles added by memory: the same choice re-run with free memory).

    ``tile=(BM, BN)`` forces a tile from :data:`TILE_SHAPES`; ``split_k`` forces a split.
    Raises ValueError for a tile that is not in the set or cannot launch on ``spec``."""
    if p.mma_dtype != "fp32" and not spec.has_mma(p.mma_dtype):
        raise ValueError(f"{spec.name} has no {p.mma_dtype!r} Tensor Core path "
                         f"(has {sorted(spec.tc_macs_per_clock_per_sm)})")
    shapes = TILE_SHAPES
    if tile is not None:
        shapes = tuple(s for s in TILE_SHAPES if (s[0], s[1]) == tuple(tile))
        if not shapes:
            raise ValueError(f"tile must be one of {[s[:2] for s in TILE_SHAPES]}, got {tile!r}")
    if split_k is not None and (not isinstance(split_k, int) or split_k < 1):
        raise ValueError(f"split_k must be a positive int, got {split_k!r}")
    splits = (split_k,) if split_k is not None else SPLIT_K
    best = None
    for bm, bn, warps in shapes:
        for split in splits:
            if split > 1 and split_k is None:
                base_tiles = p.groups * _ceil_div(p.m, bm) * _ceil_div(p.n, bn)
                if base_tiles >= spec.sm_count:   # split-K only helps a small grid
                    continue
            r = _evaluate(p, spec, bm, bn, warps, split)
            if r is not None and (best is None or r["cycles"] < best["cycles"]):
                best = r
    if best is None:
        raise ValueError(f"no tile in {[s[:2] for s in shapes]} (split {splits}) can launch "
                         f"for {p} on {spec.name}")
    bm, bn, _ = best["tile"]
    free = _evaluate(p, spec, bm, bn, best["warps"], best["split_k"], include_memory=False)
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
    a_bits = max(layer.act_bits, 1) if layer.act_bits <= mma_bits else mma_bits
    w_bits = layer.weight_bits if layer.weight_bits <= mma_bits else mma_bits
    return a_bits, w_bits


def _act_bytes(layer: LayerWork, a_bits: int) -> float:
    """Bytes of the layer's input tensor at the loaded operand width (the implicit GEMM's A
    operand as it sits in memory)."""
    return layer.batch * layer.in_channels * layer.in_h * layer.in_w * a_bits / 8


def _gate_fractions(layer: LayerWork, bk: int, tile_heights: tuple[int, ...]
                    ) -> tuple[float, dict, dict]:
    """(mean fraction of K steps run, {BM: fraction of M-tiles run}, notes) from the layer's
    gate mask and zero-block bitmaps, at the granularity a tile can skip."""
    k_frac, m_frac, notes = 1.0, {}, {}
    mask = layer.gate_mask
    _, m, _, k = layer.gemm_shape()
    pixels = layer.out_h * layer.out_w
    if mask is not None and layer.groups == 1:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape == (layer.batch, layer.in_channels):
            taps = layer.kernel_h * layer.kernel_w
            c = layer.in_channels
            if c >= bk:   # K ordered (r, s, c): a step holds bk channels of one tap
                chunks = _ceil_div(c, bk)
                padded = np.zeros((layer.batch, chunks * bk), dtype=bool)
                padded[:, :c] = mask
                active = padded.reshape(layer.batch, chunks, bk).any(axis=2)   # (N, chunks)
            else:
                active = mask.any(axis=1, keepdims=True)
                chunks = 1
            fractions = []
            for bm in tile_heights:
                tiles_m = _ceil_div(m, bm)
                first = (np.arange(tiles_m) * bm) // pixels
                last = np.minimum((np.arange(tiles_m) * bm + bm - 1), m - 1) // pixels
                prefix = np.vstack([np.zeros((1, chunks), dtype=np.int64),
                                    np.cumsum(active, axis=0, dtype=np.int64)])
                union = (prefix[last + 1] - prefix[first]) > 0     # (tiles_m, chunks)
                if c >= bk:
                    fractions.append(float(union.mean()))
                else:
                    union_ch = np.array([mask[f:l_ + 1].any(axis=0).sum()
                                         for f, l_ in zip(first, last)])
                    fractions.append(float(np.mean(np.ceil(union_ch * taps / bk))
                                           / _ceil_div(k, bk)))
            k_frac = {bm: f for bm, f in zip(tile_heights, fractions)}
            notes["gate"] = "channel"
        elif mask.shape == (layer.batch, layer.out_h, layer.out_w):
            flat = mask.reshape(-1)
            for bm in tile_heights:
                tiles_m = _ceil_div(m, bm)
                padded = np.zeros(tiles_m * bm, dtype=bool)
                padded[:m] = flat
                m_frac[bm] = float(padded.reshape(tiles_m, bm).any(axis=1).mean())
            notes["gate"] = "spatial"
        else:
            raise ValueError(
                f"layer {layer.name!r}: gate_mask shape {mask.shape} is neither (N, C_in) = "
                f"{(layer.batch, layer.in_channels)} nor (N, H_out, W_out) = "
                f"{(layer.batch, layer.out_h, layer.out_w)}")
    elif mask is not None:
        notes["gate"] = "ignored (grouped conv)"
    return k_frac, m_frac, notes


def _zero_skip_fraction(layer: LayerWork, bm: int, bn: int, bk: int) -> tuple[float, str]:
    """Fraction of K steps a tile can skip because a whole operand step is zero blocks:
    ``p ** blocks_per_step`` with ``p`` the measured zero-block fraction (independence)."""
    block = layer.zero_block
    skip = 0.0
    how = "none"
    for bitmap, rows, kind in ((layer.weight_zero_bitmap, bn, "weight"),
                               (layer.act_zero_bitmap, bm, "act")):
        if bitmap is None or block is None:
            continue
        bitmap = np.asarray(bitmap, dtype=bool)
        p = float(bitmap.mean()) if bitmap.size else 0.0
        block_elems = int(np.prod(block))
        blocks_per_step = max(1, _ceil_div(rows * bk, max(block_elems, 1)))
        skip = max(skip, p ** blocks_per_step)
        how = f"{kind} blocks {tuple(block)}: p={p:.3f}, {blocks_per_step} blocks/step"
    return skip, how


def _dram_cycles(spec: GpuSpec, nbytes: float) -> float:
    return nbytes / (spec.hbm_bw_bytes_per_s * spec.hbm_efficiency) * spec.clock_hz


def _pass_overhead(spec: GpuSpec) -> float:
    """The fixed part of a memory pass: DRAM latency (nothing to hide it) and the launch."""
    return spec.dram_latency_cycles + spec.kernel_launch_overhead_us * 1e-6 * spec.clock_hz


def _memory_pass(spec: GpuSpec, op: str, nbytes: float) -> dict:
    """One memory-bound kernel over ``nbytes`` (read + write): DRAM time + latency + launch."""
    dram = _dram_cycles(spec, nbytes)
    overhead = _pass_overhead(spec)
    return {"op": op, "bytes": nbytes, "cycles": dram + overhead, "dram_cycles": dram,
            "overhead_cycles": overhead}


def simulate_layer(layer: LayerWork, spec: GpuSpec, *, mma_dtype: str = "auto",
                   epilogue: str = "workload", tile: tuple[int, int] | None = None,
                   split_k: int | None = None) -> LayerResult:
    """Cycles, utilization and traffic of one layer (see the module docstring).

    ``epilogue``: ``"workload"`` fuses what ``layer.fused`` lists, ``"fused"`` the same,
    ``"unfused"`` runs each op in ``layer.fused`` as its own memory pass after the GEMM (the
    GEMM then writes accumulators: 32-bit for integer MMA). Raises ValueError on bad choices."""
    if epilogue not in ("workload", "fused", "unfused"):
        raise ValueError(f"epilogue must be 'workload', 'fused' or 'unfused', got {epilogue!r}")
    if layer.op in ("elementwise", "pool"):
        return _memory_layer(layer, spec)
    if layer.op == "depthwise":
        return _depthwise_layer(layer, spec, epilogue)
    mma = resolve_mma_dtype(layer, spec, mma_dtype)
    groups, m, n, k = layer.gemm_shape()
    a_bits, w_bits = _operand_bits(layer, mma)
    bk = 8 if mma == "fp32" else _bk(mma)
    heights = tuple(sorted({s[0] for s in TILE_SHAPES}))
    k_frac_by_bm, m_frac, gate_notes = _gate_fractions(layer, bk, heights)
    unfused_ops = [op for op in layer.fused if op.lower() in EPILOGUE_FUSABLE] \
        if epilogue == "unfused" else []
    integer_mma = mma in ("int8", "int4")
    gemm_out_bits = (layer.acc_bits if integer_mma else max(layer.out_bits, 16)) \
        if unfused_ops else layer.out_bits

    best = None
    for bm_fixed in heights if tile is None else (tile[0],):
        k_frac = k_frac_by_bm.get(bm_fixed, 1.0) if isinstance(k_frac_by_bm, dict) \
            else k_frac_by_bm
        shapes = [s for s in TILE_SHAPES if s[0] == bm_fixed
                  and (tile is None or (s[0], s[1]) == tuple(tile))]
        for bm, bn, _w in shapes:
            z_skip, z_note = _zero_skip_fraction(layer, bm, bn, bk)
            problem = GemmProblem(m=m, n=n, k=k, groups=groups, a_bits=a_bits, w_bits=w_bits,
                                  out_bits=gemm_out_bits, mma_dtype=mma,
                                  k_step_fraction=k_frac * (1.0 - z_skip),
                                  m_tile_fraction=m_frac, fused_epilogue=not unfused_ops,
                                  a_unique_bytes=_act_bytes(layer, a_bits))
            try:
                r = simulate_gemm(problem, spec, tile=(bm, bn), split_k=split_k)
            except ValueError:
                continue
            r["zero_skip"] = z_note
            if best is None or r["cycles"] < best["cycles"]:
                best = r
    if best is None:
        raise ValueError(f"layer {layer.name!r}: no tile can launch on {spec.name}")

    passes = []
    if unfused_ops:
        elems = layer.batch * layer.out_channels * layer.out_h * layer.out_w
        width = gemm_out_bits
        for i, op in enumerate(unfused_ops):
            out_w = layer.out_bits if i == len(unfused_ops) - 1 else width
            nbytes = elems * (width + out_w) / 8
            passes.append(_memory_pass(spec, op, nbytes))
            width = out_w
    extra_cycles = sum(p["cycles"] for p in passes)
    extra_bytes = sum(p["bytes"] for p in passes)
    cycles = best["cycles"] + extra_cycles
    dram = best["dram_bytes"] + extra_bytes
    peak_mac_clk = spec.peak_macs_per_clock(mma)
    details = _common_details(spec, layer, cycles, dram, peak_mac_clk)
    details.update({
        "mma_dtype": mma, "tile": "x".join(map(str, best["tile"])), "warps": best["warps"],
        "split_k": best["split_k"], "blocks_per_sm": best["blocks_per_sm"],
        "occupancy_limit": best["occupancy_limit"], "regs_per_thread": best["regs_per_thread"],
        "smem_per_block_kib": round(best["smem_per_block_kib"], 2), "tiles": best["tiles"],
        "waves": best["waves"], "wave_slots": best["wave_slots"],
        "last_wave_tiles": best["last_wave_tiles"],
        "wave_efficiency": (best["tiles"] / (best["waves"] * best["wave_slots"])
                            if best["waves"] else 0.0),
        "k_iters": best["k_iters"], "k_iters_effective": round(best["k_iters_effective"], 3),
        "sm_utilization": best["busy_sm_cycles"] / (spec.sm_count * cycles) if cycles else 0.0,
        "tc_pipe_utilization": (best["macs_issued"] / (peak_mac_clk * cycles)
                                if cycles else 0.0),
        "compute_cycles": best["compute_cycles"], "dram_cycles": best["dram_cycles"],
        "launch_cycles": best["launch_cycles"], "epilogue": "unfused" if passes else "fused",
        "epilogue_pass_cycles": extra_cycles, "epilogue_passes": passes,
        "w4_dequant": w_bits == 4, "zero_skip": best["zero_skip"], **gate_notes,
    })
    pass_overhead = sum(p["overhead_cycles"] for p in passes)
    return LayerResult(
        name=layer.name, target="gpu", cycles=cycles, time_s=cycles / spec.clock_hz,
        macs_dense=layer.macs_dense, macs_done=layer.macs_done,
        utilization=min(1.0, layer.macs_done / (peak_mac_clk * cycles)) if cycles else 0.0,
        compute_cycles=best["free_compute_cycles"],
        memory_cycles=best["dram_cycles"] + sum(p["dram_cycles"] for p in passes),
        overhead_cycles=best["launch_cycles"] + pass_overhead,
        stall_cycles=best["stall_cycles"] + extra_cycles - pass_overhead, dram_bytes=dram,
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


def _memory_layer(layer: LayerWork, spec: GpuSpec) -> LayerResult:
    """Element-wise and pooling passes: read inputs, write output, at HBM bandwidth."""
    nbytes = layer.act_in_bytes + layer.act_out_bytes
    dram_cycles = _dram_cycles(spec, nbytes)
    elems = layer.batch * layer.out_channels * layer.out_h * layer.out_w
    op_cycles = layer.ops / (spec.fp32_lanes_per_sm * spec.sm_count)
    cycles = max(op_cycles, dram_cycles) + _pass_overhead(spec)
    threads = elems / 4                    # 4 elements per thread (vectorized)
    blocks = _ceil_div(int(max(threads, 1)), 256)
    sm_busy = min(1.0, blocks / spec.sm_count) * dram_cycles / cycles
    details = _common_details(spec, layer, cycles, nbytes, spec.peak_macs_per_clock("fp32"))
    details.update({"sm_utilization": sm_busy, "tc_pipe_utilization": 0.0, "tiles": blocks,
                    "waves": _ceil_div(blocks, spec.sm_count * 8), "dram_cycles": dram_cycles,
                    "mma_dtype": "none"})
    return LayerResult(name=layer.name, target="gpu", cycles=cycles,
                       time_s=cycles / spec.clock_hz, macs_dense=0, macs_done=0,
                       utilization=0.0, compute_cycles=op_cycles, memory_cycles=dram_cycles,
                       overhead_cycles=_pass_overhead(spec),
                       stall_cycles=max(0.0, dram_cycles - op_cycles), ops=layer.ops,
                       dram_bytes=nbytes, details=details)


def _depthwise_layer(layer: LayerWork, spec: GpuSpec, epilogue: str) -> LayerResult:
    """Depthwise conv on CUDA cores (no Tensor Core mapping: K = kh*kw is tiny). FP16/INT8
    activations use packed half2 FMA (2 per lane per clock)."""
    pack = 2 if layer.act_bits <= 16 else 1
    rate = spec.fp32_lanes_per_sm * spec.sm_count * pack * DEPTHWISE_FMA_EFFICIENCY
    skip = layer.skip_fraction if layer.gate_mask is not None else 0.0
    macs_run = layer.macs_dense * (1.0 - skip)
    compute = macs_run / rate
    nbytes = layer.act_in_bytes + layer.weight_bytes + layer.act_out_bytes
    dram_cycles = _dram_cycles(spec, nbytes)
    outputs = layer.batch * layer.out_channels * layer.out_h * layer.out_w
    blocks = _ceil_div(outputs, 256)
    waves = _ceil_div(blocks, spec.sm_count * 8)
    launch = spec.kernel_launch_overhead_us * 1e-6 * spec.clock_hz
    kernel = max(compute, dram_cycles) + spec.dram_latency_cycles
    passes = []
    if epilogue == "unfused":
        for op in (o for o in layer.fused if o.lower() in EPILOGUE_FUSABLE):
            nb = 2 * layer.act_out_bytes
            passes.append(_memory_pass(spec, op, nb))
    extra = sum(p["cycles"] for p in passes)
    cycles = kernel + launch + extra
    dram = nbytes + sum(p["bytes"] for p in passes)
    peak = spec.peak_macs_per_clock("fp32") * pack
    details = _common_details(spec, layer, cycles, dram, peak)
    details.update({"mma_dtype": "fp32-simt" if pack == 1 else "half2-simt", "tiles": blocks,
                    "waves": waves, "compute_cycles": compute, "dram_cycles": dram_cycles,
                    "sm_utilization": min(1.0, blocks / spec.sm_count) * kernel / cycles,
                    "tc_pipe_utilization": 0.0, "epilogue_passes": passes,
                    "epilogue": "unfused" if passes else "fused"})
    return LayerResult(name=layer.name, target="gpu", cycles=cycles,
                       time_s=cycles / spec.clock_hz, macs_dense=layer.macs_dense,
                       macs_done=layer.macs_done,
                       utilization=min(1.0, layer.macs_done / (peak * cycles)),
                       compute_cycles=compute,
                       memory_cycles=dram_cycles + sum(p["dram_cycles"] for p in passes),
                       overhead_cycles=launch + spec.dram_latency_cycles
                       + sum(p["overhead_cycles"] for p in passes),
                       stall_cycles=max(0.0, dram_cycles - compute)
                       + sum(p["dram_cycles"] for p in passes),
                       dram_bytes=dram, onchip_bytes=nbytes, details=details)

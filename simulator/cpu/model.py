"""CPU cycle model: SIMD lanes, instruction mix, register blocking, cache roofline, cores.

A layer becomes ``groups`` GEMMs ``C[M x N] = A[M x K] . B[K x N]`` (``LayerWork.gemm_shape``):
M output pixels, N output channels (the vectorized dimension, NHWC layout), K the reduction.
A micro-kernel keeps an ``mr x nr`` block of accumulator registers (``mr`` broadcast rows, ``nr``
vectors of ``lanes`` columns) and, per inner iteration, consumes ``k_step`` values of K:

=========  ========  ================================================  ===================
path       k_step    instructions per iteration                        chain latency
=========  ========  ================================================  ===================
fp32       1         mr*nr FMA, nr vector loads + mr broadcasts        fma_latency_cycles
vnni       4         mr*nr ``vpdpbusd``, nr loads + mr broadcasts      int_dot_latency
madd       4         2*mr*nr mul (``vpmaddubsw``, ``vpmaddwd``),       1 (``vpaddd``)
                     mr*nr ``vpaddd``, nr loads + mr broadcasts
=========  ========  ================================================  ===================

``lanes = vector_bits / 32`` (fp32 values or int32 accumulators per vector; scalar code: 1).
Cycles of one iteration are the busiest resource (port pressure) or the dependency chain::

    t_iter = max(fma/ipc_fma, mul/ipc_int_mul, alu/ipc_alu,
                 nr/ipc_load(w), (nr+mr)/load_units, chain_latency)

    compute_cycles = groups * sum over blocks (ceil(K_eff/k_step) * t_iter(block) + mr*nr)

where blocks are the full ``mr x nr`` tiles plus the row tail (``M mod mr``) and the column
tail (``ceil((N mod nr*lanes)/lanes)`` masked vectors), and ``mr*nr`` is the store epilogue.
Lanes that hold no output column (masked tails, channel counts that are not multiples of the
lane count) and K padded to ``k_step`` are issued but useless: ``lane_utilization`` =
dense MACs / MAC slots issued.

Gating (``gate_mask`` of shape ``(N, C_in)`` or ``macs_skipped_gate``) shrinks K per sample:
im2col gathers only active channels (``K_eff = ceil(active*kh*kw/k_step)*k_step``); direct conv
skips a group of ``k_step`` channels only when all of it is gated. Spatial masks ``(N, H, W)``
shrink M. Zero blocks are skipped only with ``KernelChoice.skip_zero_blocks``.

Memory (Goto blocking: B micro-panel ``kc x nr*lanes`` in half of L1, A block ``mc x kc`` in half
of L2) gives bytes per level; each level streams at its bandwidth, overlapped with compute::

    L2 bytes    = A * ceil(N / (nr*lanes)) + C * (2*ceil(K/kc) - 1)
    outer bytes = B * ceil(M / mc) + A + C        (from where B and the layer live)
    cycles      = max(compute / threads, L2/(bw_L2*threads), outer/bw_home) + copies + overhead

``copies`` are passes that do not overlap the GEMM: im2col (``max`` of its bytes at copy bandwidth
and one vector store per ``kh*kw`` run of ``C_in`` values per pixel) and, for libraries that
pack A on every call (``pack_a``), a read and a write of A.

Threads split the tiles (``ceil(tiles/threads)`` per thread); a parallel region costs
``parallel_overhead_us``. Depthwise conv vectorizes channels (``ceil(C/lanes)`` vectors per
pixel, ``kh*kw`` taps); elementwise and pooling are one vector op per ``lanes`` elements per op
and usually memory-bound.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from common.workload import LayerWork, Workload
from simulator.cpu.presets import load_cpu_spec
from simulator.cpu.spec import ISA_BITS, CpuSpec
from simulator.results import LayerResult, NetworkResult

PATHS = ("fp32", "vnni", "madd")
CONV_METHODS = ("im2col", "direct")
LEVELS = ("L1", "L2", "L3", "DRAM")
_SCALAR_REGISTERS = 16


@dataclass(frozen=True)
class KernelChoice:
    """The software being modelled on a :class:`CpuSpec`.

    * ``isa``: ``scalar``, ``avx2``, ``avx512`` or ``best`` (widest the CPU has);
    * ``dtype``: ``fp32``, ``int8`` or ``auto`` (fp32 when the layer's activations are wider
      than 8 bits, else int8; int4 weights are decoded to int8 once and stream at 4 bits);
    * ``int8_path``: ``vnni``, ``madd`` or None (VNNI where the CPU has it at that width);
    * ``mr`` / ``nr_vectors``: register block, None to pick the fastest legal one;
    * ``conv_method``: ``im2col`` (gather patches into a buffer, then GEMM) or ``direct``;
    * ``threads``: cores used (None: all);
    * ``call_overhead_us``: fixed cost of one library call (dispatch, argument checks);
    * ``pack_a``: the library copies A into a packed buffer on every call (MLAS does);
    * ``warm``: operands already sit in the smallest cache that holds them (a benchmark loop);
      otherwise weights come from DRAM and activations from L3 when they fit there;
    * ``skip_zero_blocks``: the kernel skips all-zero blocks (``macs_skipped_zero``).
    """

    isa: str = "best"
    dtype: str = "auto"
    int8_path: str | None = None
    mr: int | None = None
    nr_vectors: int | None = None
    conv_method: str = "im2col"
    threads: int | None = None
    call_overhead_us: float = 0.0
    pack_a: bool = False
    warm: bool = False
    skip_zero_blocks: bool = False

    def __post_init__(self):
        if self.isa not in (*ISA_BITS, "best"):
            raise ValueError(f"isa must be one of {[*ISA_BITS, 'best']}, got {self.isa!r}")
        if self.dtype not in ("fp32", "int8", "auto"):
            raise ValueError(f"dtype must be 'fp32', 'int8' or 'auto', got {self.dtype!r}")
        if self.int8_path not in (None, "vnni", "madd"):
            raise ValueError(f"int8_path must be 'vnni', 'madd' or None, got {self.int8_path!r}")
        if self.conv_method not in CONV_METHODS:
            raise ValueError(f"conv_method must be one of {CONV_METHODS}, "
                             f"got {self.conv_method!r}")
        for key in ("mr", "nr_vectors", "threads"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{key} must be a positive int or None, got {value!r}")
        if isinstance(self.call_overhead_us, bool) or not isinstance(
                self.call_overhead_us, (int, float)) or self.call_overhead_us < 0:
            raise ValueError(f"call_overhead_us must be a number >= 0, "
                             f"got {self.call_overhead_us!r}")


# --------------------------------------------------------------------------- instruction level
@dataclass(frozen=True)
class IsaPath:
    """Resolved instruction path: ISA width, data type and int8 sequence."""

    isa: str
    width: int         # vector bits (32 for scalar)
    lanes: int         # 32-bit lanes per vector
    kind: str          # fp32, vnni, madd
    k_step: int        # K values per inner iteration
    registers: int

    @property
    def macs_per_mul(self) -> int:
        """MAC slots of one multiplying instruction (madd: two per 4 MACs, counted as 2)."""
        return self.lanes * (1 if self.kind == "fp32" else 4 if self.kind == "vnni" else 2)


def resolve_path(spec: CpuSpec, kernel: KernelChoice, dtype: str) -> IsaPath:
    """The instruction path ``kernel`` runs on ``spec`` for ``dtype`` (``fp32`` / ``int8``)."""
    isa = spec.best_isa() if kernel.isa == "best" else kernel.isa
    width = spec.isa_bits(isa)
    lanes = max(1, width // 32)
    regs = _SCALAR_REGISTERS if width == 32 else (spec.vector_registers if width == 512 else 16)
    if dtype == "fp32":
        return IsaPath(isa, width, lanes, "fp32", 1, regs)
    if width == 32:  # scalar int8: imul + add per MAC, one MAC per iteration
        return IsaPath(isa, width, 1, "madd", 1, regs)
    kind = kernel.int8_path or ("vnni" if spec.has_vnni(isa) else "madd")
    if kind == "vnni" and not spec.has_vnni(isa):
        raise ValueError(f"int8_path 'vnni' needs vpdpbusd at {width} bits; {spec.name} has "
                         f"vnni_bits={spec.vnni_bits}")
    return IsaPath(isa, width, lanes, kind, 4, regs)


def iteration_mix(path: IsaPath, mr: int, nr: int) -> dict[str, int]:
    """Instructions of one inner iteration of an ``mr x nr`` register block."""
    mix = {"fma": 0, "int_mul": 0, "alu": 0, "vector_loads": nr, "broadcasts": mr}
    if path.kind == "fp32":
        mix["fma"] = mr * nr
    elif path.kind == "vnni":
        mix["int_mul"] = mr * nr
    elif path.width == 32:  # scalar int8
        mix["int_mul"] = mr * nr
        mix["alu"] = mr * nr
    else:
        mix["int_mul"] = 2 * mr * nr
        mix["alu"] = mr * nr
    return mix


def iteration_cycles(spec: CpuSpec, path: IsaPath, mr: int, nr: int) -> float:
    """Cycles of one inner iteration: busiest pipe class or the accumulator chain latency."""
    mix = iteration_mix(path, mr, nr)
    if path.width == 32:
        mul_ipc = spec.macs_per_cycle("int8", "scalar") if path.kind == "madd" else 0
    else:
        mul_ipc = spec.ipc("int_mul", path.width)
    loads = max(mix["vector_loads"] / spec.ipc("load", path.width),
                (mix["vector_loads"] + mix["broadcasts"]) / spec.load_units)
    chain = {"fp32": spec.fma_latency_cycles, "vnni": spec.int_dot_latency_cycles,
             "madd": 1}[path.kind]
    return max(mix["fma"] / spec.ipc("fma", path.width),
               mix["int_mul"] / mul_ipc if mix["int_mul"] else 0.0,
               mix["alu"] / spec.ipc("alu", path.width),
               loads, float(chain))


def register_limit(path: IsaPath, mr: int, nr: int) -> bool:
    """Accumulators + B vectors + one broadcast (+ one temp for madd) fit the register file."""
    extra = 2 if path.kind == "madd" else 1
    return mr * nr + nr + extra <= path.registers


def choose_block(spec: CpuSpec, path: IsaPath, max_rows: int = 16) -> tuple[int, int]:
    """The legal ``(mr, nr)`` with the fewest cycles per MAC slot (larger block on ties);
    ``max_rows`` caps ``mr`` for GEMMs with few rows (a GEMV-shaped kernel keeps more vectors
    of one row in flight instead)."""
    best = None
    for nr in range(1, 9):
        for mr in range(1, max(1, min(16, max_rows)) + 1):
            if not register_limit(path, mr, nr):
                continue
            key = (iteration_cycles(spec, path, mr, nr) / (mr * nr), -mr * nr, -nr)
            if best is None or key < best[0]:
                best = (key, (mr, nr))
    return best[1]


# --------------------------------------------------------------------------- GEMM compute
@dataclass(frozen=True)
class GemmCompute:
    cycles: float            # summed over all tiles (one core's worth of work, serial)
    tiles: int
    mac_slots: float         # multiply lanes issued x MACs per lane
    instructions: dict


def gemm_compute(spec: CpuSpec, path: IsaPath, m: int, n: int, k: int, *, mr: int, nr: int,
                 groups: int = 1) -> GemmCompute:
    """Serial compute cycles of ``groups`` GEMMs M x N x K with an ``mr x nr`` block.

    K is padded to ``k_step``; row and column tails run a smaller block (masked vectors)."""
    if m < 1 or n < 1 or k < 1:
        return GemmCompute(0.0, 0, 0.0, {})
    cols = nr * path.lanes
    k_iters = math.ceil(k / path.k_step)
    m_full, m_tail = divmod(m, mr)
    n_full, n_rem = divmod(n, cols)
    n_tail = math.ceil(n_rem / path.lanes)
    cycles = 0.0
    slots = 0.0
    tiles = 0
    mix_total = {"fma": 0, "int_mul": 0, "alu": 0, "vector_loads": 0, "broadcasts": 0}
    for rows, row_count in ((mr, m_full), (m_tail, 1 if m_tail else 0)):
        for vecs, col_count in ((nr, n_full), (n_tail, 1 if n_tail else 0)):
            count = row_count * col_count
            if count == 0:
                continue
            per_iter = iteration_cycles(spec, path, rows, vecs)
            cycles += count * (k_iters * per_iter + rows * vecs)
            slots += count * k_iters * rows * vecs * path.lanes * path.k_step
            tiles += count
            for key, value in iteration_mix(path, rows, vecs).items():
                mix_total[key] += count * k_iters * value
    instructions = {key: value * groups for key, value in mix_total.items()}
    return GemmCompute(cycles * groups, tiles * groups, slots * groups, instructions)


# --------------------------------------------------------------------------- memory
def _level_bytes(spec: CpuSpec) -> dict[str, float]:
    return {"L1": spec.l1d_kib * 1024, "L2": spec.l2_kib * 1024, "L3": spec.l3_mib * 2**20}


def level_bandwidth(spec: CpuSpec, level: str, threads: int, clock_hz: float) -> float:
    """Bytes per cycle the ``threads`` cores together get from ``level``."""
    if level == "L1":
        return spec.l1_load_bytes_per_cycle * threads
    if level == "L2":
        return spec.l2_bw_bytes_per_cycle * threads
    if level == "L3":
        return spec.l3_bw_bytes_per_cycle * threads
    if level == "DRAM":
        return spec.dram_bw_gb_per_s * 1e9 / clock_hz
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def home_level(spec: CpuSpec, shared_bytes: float, private_bytes: float, threads: int) -> str:
    """Smallest level holding ``shared_bytes`` (every core needs all of it, e.g. weights) plus
    this core's share of ``private_bytes`` (activations split over threads)."""
    per_core = shared_bytes + private_bytes / threads
    sizes = _level_bytes(spec)
    if per_core <= sizes["L2"]:
        return "L2"
    if shared_bytes + private_bytes <= sizes["L3"]:
        return "L3"
    return "DRAM"


# --------------------------------------------------------------------------- per layer
def _layer_dtype(layer: LayerWork, kernel: KernelChoice) -> str:
    if kernel.dtype != "auto":
        return kernel.dtype
    return "fp32" if layer.act_bits > 8 else "int8"


def _effective_k_per_sample(layer: LayerWork, kernel: KernelChoice, k_step: int,
                            k_dense: int) -> list[tuple[int, int]]:
    """``[(k_eff, samples)]``: reduction length each batch sample really runs (gating)."""
    taps = layer.kernel_h * layer.kernel_w
    mask = layer.gate_mask
    if mask is not None and mask.ndim == 2 and mask.shape == (layer.batch, layer.in_channels):
        counts: dict[int, int] = {}
        cin_g = layer.in_channels // layer.groups
        for row in np.asarray(mask, dtype=bool):
            per_group = row.reshape(layer.groups, cin_g)[0] if layer.groups > 1 else row
            if kernel.conv_method == "direct" and taps >= 1 and layer.op != "matmul":
                padded = np.zeros(math.ceil(cin_g / k_step) * k_step, dtype=bool)
                padded[:cin_g] = per_group
                k_eff = taps * int(padded.reshape(-1, k_step).any(axis=1).sum()) * k_step
            else:
                k_eff = int(per_group.sum()) * taps
            counts[k_eff] = counts.get(k_eff, 0) + 1
        return sorted(counts.items())
    spatial = mask is not None and mask.ndim == 3  # gating shrinks M instead (_rows_per_sample)
    if layer.macs_skipped_gate and layer.macs_dense and not spatial:
        keep = 1.0 - layer.macs_skipped_gate / layer.macs_dense
        return [(max(1, math.ceil(k_dense * keep)), layer.batch)]
    if kernel.conv_method == "direct" and layer.op == "conv":
        cin_g = layer.in_channels // layer.groups
        return [(taps * math.ceil(cin_g / k_step) * k_step, layer.batch)]
    return [(k_dense, layer.batch)]


def _rows_per_sample(layer: LayerWork) -> list[tuple[int, int]]:
    """``[(active output pixels, samples)]`` from a spatial gate mask, else dense."""
    mask = layer.gate_mask
    pixels = layer.out_h * layer.out_w
    if mask is not None and mask.ndim == 3 and mask.shape == (layer.batch, layer.out_h,
                                                               layer.out_w):
        counts: dict[int, int] = {}
        for sample in np.asarray(mask, dtype=bool):
            active = int(sample.sum())
            counts[active] = counts.get(active, 0) + 1
        return sorted(counts.items())
    return [(pixels, layer.batch)]


def _bytes_per(dtype: str, bits: int) -> float:
    return 4.0 if dtype == "fp32" else bits / 8


def _finish(layer: LayerWork, spec: CpuSpec, path: IsaPath, clock_hz: float, threads: int,
            compute_cycles: float, level_cycles: dict[str, float], serial_cycles: float,
            overhead_cycles: float, mac_slots: float, details: dict, dram_bytes: float,
            onchip_bytes: float, dtype: str) -> LayerResult:
    memory_cycles = max(level_cycles.values(), default=0.0)
    body = max(compute_cycles, memory_cycles)
    cycles = body + serial_cycles + overhead_cycles
    peak_path = spec.macs_per_cycle(dtype if layer.is_compute else "fp32", path.isa,
                                    int8_path=path.kind if (dtype == "int8" and path.width > 32
                                                            and layer.is_compute) else None)
    peak_total = peak_path * threads
    machine_peak = spec.macs_per_cycle(dtype if layer.is_compute else "fp32", spec.best_isa()) \
        * spec.cores
    useful = layer.macs_done
    achieved = useful / cycles if cycles > 0 else 0.0
    util = min(1.0, achieved / peak_total) if peak_total > 0 and layer.is_compute else 0.0
    details = dict(details)
    details.update({
        "isa": path.isa, "dtype": dtype, "instruction_path": path.kind if layer.is_compute
        else "vector", "threads": threads, "clock_hz": clock_hz,
        "lane_utilization": ((layer.macs_dense if layer.is_compute else layer.ops) / mac_slots)
        if mac_slots else 0.0,
        "compute_cycles": compute_cycles, "memory_cycles": memory_cycles,
        "serial_cycles": serial_cycles, "overhead_cycles": overhead_cycles,
        "level_cycles": dict(level_cycles),
        "peak_macs_per_cycle": peak_total, "achieved_macs_per_cycle": achieved,
        "achieved_vs_peak": (achieved / peak_total) if peak_total else 0.0,
        "machine_peak_macs_per_cycle": machine_peak,
        "achieved_vs_machine_peak": (achieved / machine_peak) if machine_peak else 0.0,
    })
    return LayerResult(name=layer.name, target="cpu", cycles=cycles, time_s=cycles / clock_hz,
                       macs_dense=layer.macs_dense, macs_done=layer.macs_done, utilization=util,
                       compute_cycles=compute_cycles, memory_cycles=memory_cycles,
                       overhead_cycles=serial_cycles + overhead_cycles,
                       stall_cycles=max(0.0, memory_cycles - compute_cycles), ops=layer.ops,
                       dram_bytes=dram_bytes, onchip_bytes=onchip_bytes, details=details)


def _threads(spec: CpuSpec, kernel: KernelChoice) -> int:
    return min(spec.cores, kernel.threads or spec.cores)


def _level_cycles(spec, clock_hz, threads, home, l2_bytes, outer_bytes):
    cycles = {"L2": l2_bytes / level_bandwidth(spec, "L2", threads, clock_hz)}
    if home != "L2":
        cycles[home] = outer_bytes / level_bandwidth(spec, home, threads, clock_hz)
    else:
        cycles["L2"] += outer_bytes / level_bandwidth(spec, "L2", threads, clock_hz)
    return cycles


def _gemm_layer(layer: LayerWork, spec: CpuSpec, kernel: KernelChoice, dtype: str,
                clock_hz: float) -> LayerResult:
    path = resolve_path(spec, kernel, dtype)
    mr, nr = choose_block(spec, path, max_rows=layer.gemm_shape()[1])
    mr, nr = kernel.mr or mr, kernel.nr_vectors or nr
    if not register_limit(path, mr, nr):
        raise ValueError(f"register block mr={mr} x nr_vectors={nr} needs more than the "
                         f"{path.registers} registers of {path.isa}")
    groups, m_dense, n, k_dense = layer.gemm_shape()
    pixels = layer.out_h * layer.out_w
    threads_cap = _threads(spec, kernel)
    total, k_work = _gemm_work(layer, spec, kernel, path, mr, nr)
    threads = max(1, min(threads_cap, total.tiles))
    per_thread = total.cycles * math.ceil(total.tiles / threads) / max(1, total.tiles) \
        / spec.kernel_efficiency(dtype)

    # memory: bytes at the compute data type; weights stream from DRAM at their stored bits
    ea = _bytes_per(dtype, 8)
    ec = _bytes_per(dtype, layer.out_bits)
    k_mean = max(1, round(sum(k * m for k, m in k_work) / max(1, sum(m for _, m in k_work))))
    m_total = max(1, sum(m for _, m in k_work))
    a_bytes = groups * m_total * k_mean * ea
    b_bytes = groups * k_mean * n * ea
    c_bytes = groups * m_dense * n * ec
    cols = nr * path.lanes
    kc = max(path.k_step, min(k_mean, int(spec.l1d_kib * 1024 / 2 / (cols * ea))))
    mc = max(mr, min(m_total, int(spec.l2_kib * 1024 / 2 / (kc * ea)) // mr * mr))
    k_passes = math.ceil(k_mean / kc)
    l2_bytes = a_bytes * math.ceil(n / cols) + c_bytes * 4 / ec * (2 * k_passes - 1) \
        * (k_passes > 1)
    reuse_b = b_bytes * math.ceil(m_total / mc)
    weights_stored = layer.weight_bytes if dtype == "int8" else layer.weight_count * 4
    act_in = layer.act_in_bytes if dtype == "int8" else layer.act_in_bytes * 32 / layer.act_bits
    needs_im2col = layer.op != "matmul" and kernel.conv_method == "im2col" and (
        layer.kernel_h * layer.kernel_w > 1 or layer.stride != (1, 1))
    im2col_bytes = a_bytes if needs_im2col else 0.0
    home, dram, level_cycles = _gemm_levels(
        spec, kernel, clock_hz, threads, {"a": a_bytes, "b": b_bytes, "c": c_bytes,
                                          "im2col": im2col_bytes, "act_in": act_in,
                                          "l2": l2_bytes, "reuse_b": reuse_b,
                                          "weights": weights_stored})
    serial = _serial_copy_cycles(layer, spec, kernel, path, clock_hz, threads, a_bytes,
                                 im2col_bytes, needs_im2col, m_total * groups, ea)
    overhead_s = kernel.call_overhead_us * 1e-6 + (spec.parallel_overhead_us * 1e-6
                                                   if threads > 1 else 0.0)
    details = {"op_mapping": "gemm" if layer.op == "matmul" else f"conv-{kernel.conv_method}",
               "gemm": {"groups": groups, "m": m_dense, "n": n, "k": k_dense,
                        "k_effective": k_mean, "m_effective": m_total},
               "mr": mr, "nr_vectors": nr, "tile_columns": cols, "k_step": path.k_step,
               "kc": kc, "mc": mc, "home_level": home, "tiles": total.tiles,
               "instructions": total.instructions,
               "k_utilization": k_dense / (math.ceil(k_dense / path.k_step) * path.k_step),
               "n_lane_utilization": n / (math.ceil(n / path.lanes) * path.lanes),
               "im2col_bytes": im2col_bytes, "pixels": pixels}
    onchip_total = l2_bytes + reuse_b + act_in + c_bytes
    return _finish(layer, spec, path, clock_hz, threads, per_thread, level_cycles, serial,
                   overhead_s * clock_hz, total.mac_slots, details, dram, onchip_total, dtype)


def _gemm_work(layer: LayerWork, spec: CpuSpec, kernel: KernelChoice, path: IsaPath, mr: int,
               nr: int) -> tuple[GemmCompute, list]:
    """Serial compute of every (reduction length, rows) part gating leaves, summed, and the
    ``[(k, m)]`` parts (zero-block skip shortens K when the kernel skips zero blocks)."""
    groups, _, n, k_dense = layer.gemm_shape()
    total = GemmCompute(0.0, 0, 0.0, {})
    k_work = []
    for k_eff, k_samples in _effective_k_per_sample(layer, kernel, path.k_step, k_dense):
        for rows, r_samples in _rows_per_sample(layer):
            # one of the two lists is dense ([(x, batch)]), so this is the sample count
            m = round(rows * k_samples * r_samples / layer.batch)
            k_run = k_eff
            if k_eff and kernel.skip_zero_blocks and layer.macs_skipped_zero:
                k_run = max(1, math.ceil(k_eff * (1 - layer.macs_skipped_zero
                                                  / max(1, layer.macs_dense))))
            part = gemm_compute(spec, path, m, n, k_run, mr=mr, nr=nr, groups=groups)
            k_work.append((k_run, m))
            merged = dict(total.instructions)
            for key, value in part.instructions.items():
                merged[key] = merged.get(key, 0) + value
            total = GemmCompute(total.cycles + part.cycles, total.tiles + part.tiles,
                                total.mac_slots + part.mac_slots, merged)
    return total, k_work


def _gemm_levels(spec: CpuSpec, kernel: KernelChoice, clock_hz: float, threads: int,
                 nbytes: dict) -> tuple[str, float, dict]:
    """``(home level, DRAM bytes, cycles per level)``: warm operands sit in the smallest level
    holding them; cold ones bring weights from DRAM and activations from L3 when they fit."""
    b, act_in, c = nbytes["b"], nbytes["act_in"], nbytes["c"]
    if kernel.warm:
        home = home_level(spec, b, nbytes["a"] + c + nbytes["im2col"], threads)
        dram = 0.0 if home != "DRAM" else b + act_in + c
        outer = nbytes["reuse_b"] + act_in + c
        return home, dram, _level_cycles(spec, clock_hz, threads, home, nbytes["l2"], outer)
    act_home = "L3" if act_in + c <= spec.l3_mib * 2**20 else "DRAM"
    b_home = home_level(spec, b, 0.0, threads)
    dram = nbytes["weights"] + (0.0 if act_home == "L3" else act_in + c)
    level_cycles = {"L2": nbytes["l2"] / level_bandwidth(spec, "L2", threads, clock_hz),
                    "DRAM": dram / level_bandwidth(spec, "DRAM", threads, clock_hz)}
    onchip = nbytes["reuse_b"] - b + (act_in + c if act_home == "L3" else 0.0)
    lvl = "L3" if b_home != "L2" or act_home == "L3" else "L2"
    level_cycles[lvl] = level_cycles.get(lvl, 0.0) + onchip / level_bandwidth(
        spec, lvl, threads, clock_hz)
    return "DRAM", dram, level_cycles


def _serial_copy_cycles(layer: LayerWork, spec: CpuSpec, kernel: KernelChoice, path: IsaPath,
                        clock_hz: float, threads: int, a_bytes: float, im2col_bytes: float,
                        needs_im2col: bool, rows: int, ea: float) -> float:
    """Passes that do not overlap the GEMM: the im2col copy and per-call packing of A (read +
    write at vector width). im2col copies kh*kw runs of C_in/groups contiguous values (NHWC)
    per output pixel, each run at least one load+store, so narrow channel counts copy slowly."""
    copy_bytes = im2col_bytes + (a_bytes if kernel.pack_a else 0.0)
    copy_bw = min(spec.l1_load_bytes_per_cycle, path.width / 8 * spec.load_units) * threads
    serial = 2 * copy_bytes / min(copy_bw, level_bandwidth(spec, "L2", threads, clock_hz))
    if needs_im2col:
        run_bytes = (layer.in_channels // layer.groups) * ea
        runs = rows * layer.kernel_h * layer.kernel_w
        serial = max(serial, runs * math.ceil(run_bytes / (path.width / 8)) / threads)
    return serial


def _depthwise_layer(layer: LayerWork, spec: CpuSpec, kernel: KernelChoice, dtype: str,
                     clock_hz: float) -> LayerResult:
    """Channels on lanes; per output pixel and channel vector, ``taps`` multiply-adds.

    fp32: one FMA and one load per tap. int8: inputs widened to int16 (one ALU op and one load
    per tap), taps paired by ``vpmaddwd`` (``ceil(taps/2)`` multiplies and ``vpaddd``)."""
    path = resolve_path(spec, kernel, dtype)
    taps = layer.kernel_h * layer.kernel_w
    channels = layer.out_channels
    active = channels
    if layer.gate_mask is not None and layer.gate_mask.ndim == 2:
        active_counts = np.asarray(layer.gate_mask, dtype=bool).sum(axis=1)
    else:
        active_counts = np.full(layer.batch, active)
    # a gated channel frees its lane only if its whole vector is gated: the kernel skips whole
    # vectors, so vectors = ceil(active/lanes) only when active channels are compacted
    # (im2col-like gather); the direct kernel keeps the dense vector count
    if kernel.conv_method == "im2col":
        vectors = sum(math.ceil(int(a) / path.lanes) for a in active_counts)
    else:
        vectors = layer.batch * math.ceil(channels / path.lanes)
    pixel_vectors = vectors * layer.out_h * layer.out_w
    if path.kind == "fp32":
        mix = {"fma": taps, "int_mul": 0, "alu": 0, "vector_loads": taps, "broadcasts": 0}
        chain = spec.fma_latency_cycles / 4  # four independent pixels in flight
        slots_per = taps * path.lanes
    else:
        pairs = math.ceil(taps / 2)
        mix = {"fma": 0, "int_mul": pairs, "alu": pairs + taps, "vector_loads": taps,
               "broadcasts": 0}
        chain = 0.25
        slots_per = pairs * 2 * path.lanes
    mul_ipc = spec.ipc("int_mul", path.width) if path.width > 32 else 1.0
    per_vector = max(mix["fma"] / spec.ipc("fma", path.width), mix["int_mul"] / mul_ipc,
                     mix["alu"] / spec.ipc("alu", path.width),
                     mix["vector_loads"] / spec.ipc("load", path.width), chain * taps) + 1
    threads = max(1, min(_threads(spec, kernel), pixel_vectors))
    compute = pixel_vectors * per_vector / threads
    eb = _bytes_per(dtype, layer.act_bits)
    act_in = layer.batch * layer.in_channels * layer.in_h * layer.in_w * eb
    out = layer.batch * channels * layer.out_h * layer.out_w * _bytes_per(dtype, layer.out_bits)
    weights = layer.weight_count * _bytes_per(dtype, layer.weight_bits)
    home = home_level(spec, weights, act_in + out, threads) if kernel.warm else (
        "L3" if act_in + out <= spec.l3_mib * 2**20 else "DRAM")
    traffic = act_in + out + (weights if home != "DRAM" or kernel.warm else 0.0)
    dram = traffic if home == "DRAM" else (0.0 if kernel.warm else weights)
    level_cycles = {home: traffic / level_bandwidth(spec, home, threads, clock_hz)}
    if not kernel.warm and home != "DRAM":
        level_cycles["DRAM"] = weights / level_bandwidth(spec, "DRAM", threads, clock_hz)
    overhead = (kernel.call_overhead_us + (spec.parallel_overhead_us if threads > 1 else 0)) \
        * 1e-6 * clock_hz
    instructions = {key: value * pixel_vectors for key, value in mix.items()}
    details = {"op_mapping": "depthwise-direct", "taps": taps, "vectors_per_pixel":
               vectors / layer.batch, "home_level": home, "instructions": instructions,
               "n_lane_utilization": channels / (math.ceil(channels / path.lanes) * path.lanes)}
    return _finish(layer, spec, path, clock_hz, threads, compute, level_cycles, 0.0, overhead,
                   pixel_vectors * slots_per, details, dram, act_in + out + weights, dtype)


def _elementwise_layer(layer: LayerWork, spec: CpuSpec, kernel: KernelChoice, dtype: str,
                       clock_hz: float) -> LayerResult:
    """``layer.ops`` operations on 32-bit lanes (int8 values are widened for the arithmetic);
    bytes are the inputs and the output at their stored widths."""
    path = resolve_path(spec, kernel, "fp32")
    ops = layer.ops
    threads = _threads(spec, kernel)
    elements = layer.batch * layer.out_channels * layer.out_h * layer.out_w
    vector_ops = math.ceil(ops / path.lanes)
    threads = max(1, min(threads, vector_ops))
    compute = vector_ops / spec.ipc("alu", path.width) / threads
    in_bytes = layer.batch * layer.in_channels * layer.in_h * layer.in_w * (
        4.0 if dtype == "fp32" else layer.act_bits / 8)
    out_bytes = elements * (4.0 if dtype == "fp32" else layer.out_bits / 8)
    traffic = in_bytes + out_bytes
    home = home_level(spec, 0.0, traffic, threads) if kernel.warm else (
        "L3" if traffic <= spec.l3_mib * 2**20 else "DRAM")
    level_cycles = {home: traffic / level_bandwidth(spec, home, threads, clock_hz)}
    overhead = (kernel.call_overhead_us + (spec.parallel_overhead_us if threads > 1 else 0)) \
        * 1e-6 * clock_hz
    details = {"op_mapping": layer.op, "home_level": home, "vector_ops": vector_ops}
    return _finish(layer, spec, path, clock_hz, threads, compute, level_cycles, 0.0, overhead,
                   float(vector_ops * path.lanes), details,
                   traffic if home == "DRAM" else 0.0, traffic, dtype)


GATING_MODES = ("auto", "dense", "tile-skip", "compaction")
GATING_NOTES = {
    "none": "layer not gated",
    "dense": "masked dense: gated channels are zeros in a dense GEMM, no time saved",
    "tile-skip": "tile skip (direct conv): a group of k_step channels is skipped only when "
                 "all of it is gated for the sample",
    "compaction": "channel compaction (im2col of the active channels only): K shrinks with the "
                  "active fraction, the gather is the im2col copy",
}


def _dense_twin(layer: LayerWork) -> LayerWork:
    return dataclasses.replace(layer, gate_mask=None, macs_skipped_gate=0,
                               macs_done=layer.macs_done + layer.macs_skipped_gate)


def _gated_layer(layer: LayerWork, spec: CpuSpec, kernel: KernelChoice, dtype: str,
                 clock_hz: float, gating: str) -> LayerResult:
    """A gated conv/matmul in the deployment ``gating`` names (``auto``: the fastest)."""
    modes = ("dense", "tile-skip", "compaction") if gating == "auto" else (gating,)
    best = None
    for mode in modes:
        if mode == "dense":
            r = _gemm_layer(_dense_twin(layer), spec, kernel, dtype, clock_hz)
            peak = r.details["peak_macs_per_cycle"]
            r = dataclasses.replace(r, macs_done=layer.macs_done, utilization=min(
                1.0, layer.macs_done / (peak * r.cycles)) if peak and r.cycles else 0.0)
        else:
            method = "direct" if mode == "tile-skip" else "im2col"
            r = _gemm_layer(layer, spec, dataclasses.replace(kernel, conv_method=method),
                            dtype, clock_hz)
        if best is None or r.cycles < best[1].cycles:
            best = (mode, r)
    mode, r = best
    r.details.update({"gating_mode": mode, "gating_note": GATING_NOTES[mode]})
    return r


def simulate_layer(layer: LayerWork, spec, kernel: KernelChoice | None = None, *,
                   gating: str = "auto") -> LayerResult:
    """Model one layer on a CPU (``spec``: :class:`CpuSpec`, preset name, YAML path, dict or
    ``"host"``). Returns a :class:`LayerResult`; CPU figures are in ``details``. ``gating``
    names how a gated layer is deployed: ``dense``, ``tile-skip``, ``compaction`` or ``auto``
    (the fastest); ``details["gating_mode"]`` / ``["gating_note"]`` say which and why."""
    if not isinstance(layer, LayerWork):
        raise TypeError(f"layer must be a LayerWork, got {type(layer).__name__}")
    if gating not in GATING_MODES:
        raise ValueError(f"gating must be one of {GATING_MODES}, got {gating!r}")
    spec = load_cpu_spec(spec)
    kernel = kernel or KernelChoice()
    if not isinstance(kernel, KernelChoice):
        raise TypeError(f"kernel must be a KernelChoice, got {type(kernel).__name__}")
    dtype = _layer_dtype(layer, kernel)
    isa = spec.best_isa() if kernel.isa == "best" else kernel.isa
    clock_hz = spec.clock_hz_for(isa)
    gated = layer.gate_mask is not None or layer.macs_skipped_gate > 0
    if layer.op in ("conv", "matmul") and gated:
        return _gated_layer(layer, spec, kernel, dtype, clock_hz, gating)
    if layer.op in ("conv", "matmul"):
        r = _gemm_layer(layer, spec, kernel, dtype, clock_hz)
    elif layer.op == "depthwise":
        r = _depthwise_layer(layer, spec, kernel, dtype, clock_hz)
    else:
        r = _elementwise_layer(layer, spec, kernel, dtype, clock_hz)
    r.details.setdefault("gating_mode", "dense" if gated else "none")
    r.details.setdefault("gating_note", GATING_NOTES["dense" if gated else "none"])
    return r


def simulate_network(workload: Workload, spec, kernel: KernelChoice | None = None, *,
                     gating: str = "auto") -> NetworkResult:
    """Every layer of ``workload`` through :func:`simulate_layer`; totals on the result
    (``details["gating_modes_used"]`` counts the gated layers per deployment mode)."""
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    spec = load_cpu_spec(spec)
    kernel = kernel or KernelChoice()
    layers = tuple(simulate_layer(layer, spec, kernel, gating=gating)
                   for layer in workload.layers)
    used: dict[str, int] = {}
    for r in layers:
        mode = r.details.get("gating_mode", "none")
        if mode != "none":
            used[mode] = used.get(mode, 0) + 1
    batch = workload.batch
    bounds: dict[str, float] = {}
    for result in layers:
        bounds[result.bound] = bounds.get(result.bound, 0.0) + result.time_s
    slots = sum(r.macs_dense / r.details["lane_utilization"] for r in layers
                if r.details.get("lane_utilization") and r.macs_dense and
                r.details.get("instruction_path") != "vector")
    dense = sum(r.macs_dense for r in layers if r.details.get("instruction_path") != "vector")
    details = {"isa": layers[0].details["isa"] if layers else kernel.isa,
               "precision": workload.precision, "time_by_bound_s": bounds,
               "lane_utilization": dense / slots if slots else 0.0,
               "dram_bytes": sum(r.dram_bytes for r in layers), "gating": gating,
               "gating_modes_used": used,
               "gating_note": ("no gated layer" if not used else
                               f"gating {gating}: " + ", ".join(
                                   f"{m} on {n} layers" for m, n in used.items())
                               + "; " + GATING_NOTES[max(used, key=used.get)])}
    return NetworkResult(network=workload.name, target="cpu", hardware=spec.name, layers=layers,
                         batch=batch, details=details)

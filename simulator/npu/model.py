"""Per-layer NPU cycle model: pure functions of (layer, spec, mapping choice) -> LayerResult.

Two modes:

* ``gilt`` (default): SCALE-Sim's fold model with its quirks fixed (every fold pays the
  stationary operand's ``R`` turnaround, os included; no ``-1``; partial sums read back),
  plus what it lacks: padding, stride, dilation, groups and depthwise (block-diagonal packing),
  batch, sub-byte operands, gating and zero-skip from the golden run, multi-core arrays, DRAM
  stalls with double buffering, energy and a per-fold utilization timeline.
* ``scalesim``: SCALE-Sim 3.0.0's numbers exactly (:mod:`simulator.npu.scalesim_compat`).

Metrics (all per layer; see docs/sim-npu.md for the plain-words version):

* ``mapping_efficiency`` = mapped PE slots / (spatial folds * R * C): how well the layer's
  dimensions fill the array's rows and columns;
* ``temporal_efficiency`` = T / fold cycles: the share of a fold spent streaming rather than
  loading, filling and draining;
* ``compute_utilization`` = useful MACs / (peak MACs per cycle * compute cycles): both of the
  above together, stalls excluded;
* ``utilization`` (LayerResult) = useful MACs / (peak MACs per cycle * all cycles): stalls
  included; the number C12's "PE utilization" means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.workload import LayerWork, Workload
from simulator.npu import scalesim_compat as sc
from simulator.npu.mapping import Mapping, compute_cycles, fold_cycles, mapping_for
from simulator.npu.memory import layer_traffic, stall_cycles
from simulator.npu.skip import gating_compaction, zero_skip
from simulator.npu.spec import NpuSpec, load_npu_spec
from simulator.results import LayerResult, NetworkResult

MODES = ("gilt", "scalesim")
CORE_SPLITS = ("auto", "n", "m")


@dataclass(frozen=True)
class MappingChoice:
    """How a layer is mapped. ``None`` fields take defaults: the spec's dataflow, the longest
    temporal chunk that fits the SRAMs. ``core_split``: which GEMM dimension the cores share
    (``n`` filters, ``m`` pixels, ``auto`` = the faster). ``fm_tile``: an output feature-map
    tiling schedule (the stack's 4x4 tiles: ``(4, 4)``): each tile's input window, halo
    included, is fetched once (:func:`simulator.npu.memory.fm_tile_ifmap_factor`)."""

    dataflow: str | None = None
    loop_order: str = "cols-outer"
    t_tile: int | None = None
    group_pack: bool = True
    core_split: str = "auto"
    fm_tile: tuple[int, int] | None = None

    def __post_init__(self):
        if self.core_split not in CORE_SPLITS:
            raise ValueError(f"core_split must be one of {CORE_SPLITS}, got {self.core_split!r}")


def _k_per_pe(layer: LayerWork, spec: NpuSpec) -> int:
    return spec.pe_int4_macs if layer.weight_bits <= 4 else 1


def simulate_layer(layer: LayerWork, spec: NpuSpec | str, choice: MappingChoice | None = None,
                   *, mode: str = "gilt") -> LayerResult:
    """Cycles, utilization, traffic and energy of one layer (see module docstring)."""
    spec = load_npu_spec(spec)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(layer, LayerWork):
        raise TypeError(f"layer must be a LayerWork, got {type(layer).__name__}")
    if mode == "scalesim":
        return scalesim_layer_result(layer, spec)
    if not layer.is_compute:
        return _vector_layer(layer, spec)
    choice = choice or MappingChoice()
    if choice.core_split == "auto" and spec.cores > 1:
        options = [_simulate_gemm(layer, spec, choice, split) for split in ("n", "m")]
        return min(options, key=lambda r: (r.cycles, r.energy_j or 0.0))
    split = "n" if choice.core_split == "auto" else choice.core_split
    return _simulate_gemm(layer, spec, choice, split)


def _map_gemm(layer: LayerWork, spec: NpuSpec, choice: MappingChoice, split: str,
              dataflow: str):
    """The layer's mapping on one core and its traffic: the core's share of M or N (``split``),
    gating compaction, the temporal tile (the choice's, or the best by :func:`_auto_t_tile`).
    Returns ``(mapping, traffic, compaction, cores_active, k_per_pe)``."""
    _, m_full, n_full, k_full = layer.gemm_shape()
    comp = gating_compaction(layer)
    m_active, k_active = comp.m, comp.k
    n_share = n_full
    m_share = m_active
    cores = spec.cores
    if split == "n":
        n_share = math.ceil(n_full / cores)
        cores_active = math.ceil(n_full / n_share)
    else:
        m_share = math.ceil(m_active / cores)
        cores_active = math.ceil(m_active / m_share)
    k_per_pe = _k_per_pe(layer, spec)
    mapping = mapping_for(layer, dataflow=dataflow, rows=spec.array_rows, cols=spec.array_cols,
                          k_per_pe=k_per_pe, group_pack=choice.group_pack,
                          t_tile=None, loop_order=choice.loop_order, m=m_share, n=n_share,
                          k_active=k_active)
    k_frac = k_active / k_full
    fractions = {"ifmap": k_frac * m_share / m_full, "filter": k_frac * n_share / n_full,
                 "ofmap": m_share * n_share / (m_full * n_full)}

    def remap(t_tile: int) -> Mapping:
        return mapping_for(layer, dataflow=dataflow, rows=spec.array_rows,
                           cols=spec.array_cols, k_per_pe=k_per_pe, group_pack=choice.group_pack,
                           t_tile=t_tile, loop_order=choice.loop_order, m=m_share, n=n_share,
                           k_active=k_active)

    def traffic_of(m: Mapping):
        return layer_traffic(layer, m, act_word_bits=spec.act_word_bits,
                             weight_word_bits=spec.weight_word_bits,
                             out_word_bits=spec.out_word_bits,
                             sram_bytes={op: spec.sram_bytes(op) for op in
                                         ("ifmap", "filter", "ofmap")},
                             double_buffered=spec.double_buffered, fractions=fractions,
                             fm_tile=choice.fm_tile)

    if choice.t_tile is not None:
        mapping = remap(min(choice.t_tile, mapping.t))
        traffic = traffic_of(mapping)
    else:
        mapping, traffic = _auto_t_tile(mapping, remap, traffic_of)
    return mapping, traffic, comp, cores_active, k_per_pe


def _simulate_gemm(layer: LayerWork, spec: NpuSpec, choice: MappingChoice,
                   split: str) -> LayerResult:
    dataflow = choice.dataflow or spec.dataflow
    _, m_full, n_full, k_full = layer.gemm_shape()
    mapping, traffic, comp, cores_active, k_per_pe = _map_gemm(layer, spec, choice, split,
                                                               dataflow)
    m_active, k_active = comp.m, comp.k
    cores = spec.cores
    skip = zero_skip(layer, mapping, comp) if cores == 1 else None
    compute = compute_cycles(mapping, stationary_double_buffer=spec.stationary_double_buffer,
                             skipped_steps=skip.skipped_steps if skip else 0,
                             skipped_folds=skip.skipped_folds if skip else 0)
    bw = spec.dram_bw_bytes_per_cycle / cores_active
    stalls = stall_cycles(compute, traffic, bw_bytes_per_cycle=bw,
                          double_buffered=spec.double_buffered)
    cycles = compute + stalls
    peak = spec.pes * cores * k_per_pe
    useful = layer.macs_done
    # min(1, ...): a workload built by hand may mark zero blocks that its macs_done still counts
    util = 0.0 if cycles == 0 else min(1.0, useful / (peak * cycles))
    compute_util = 0.0 if compute == 0 else useful / (peak * compute)
    fold_len = fold_cycles(mapping, mapping.t_tile)
    dram_total = traffic.dram_bytes * cores_active
    onchip = traffic.sram_bytes * cores_active
    temporal = mapping.t_tile / fold_len
    energy = _energy(layer, spec, cycles=cycles, peak=peak, onchip_bytes=onchip,
                     dram_bytes=dram_total)
    details = {
        "mode": "gilt", "dataflow": dataflow, "loop_order": mapping.loop_order,
        "t_tile": mapping.t_tile, "group_pack": mapping.group_pack, "core_split": split,
        "cores_active": cores_active, "k_per_pe": k_per_pe,
        "gemm_m": m_full, "gemm_n": n_full, "gemm_k": k_full, "groups": mapping.groups,
        "sr": mapping.sr, "sc": mapping.sc, "t": mapping.t,
        "folds": mapping.folds, "fold_cycles": fold_len, "compute_cycles": compute,
        "mapping_efficiency": mapping.mapping_efficiency, "temporal_efficiency": temporal,
        "compute_utilization": compute_util,
        "sram_ifmap_reads": traffic.sram_ifmap_reads,
        "sram_filter_reads": traffic.sram_filter_reads,
        "sram_ofmap_writes": traffic.sram_ofmap_writes,
        "sram_ofmap_reads": traffic.sram_ofmap_reads,
        "dram_ifmap_bytes": traffic.dram_ifmap_bytes * cores_active,
        "dram_filter_bytes": traffic.dram_filter_bytes * cores_active,
        "dram_ofmap_write_bytes": traffic.dram_ofmap_write_bytes * cores_active,
        "dram_ofmap_read_bytes": traffic.dram_ofmap_read_bytes * cores_active,
        "fm_tile": "x".join(map(str, choice.fm_tile)) if choice.fm_tile else "",
        "gating": comp.note, "gemm_m_active": m_active, "gemm_k_active": k_active,
        "zero_skip": skip.note if skip else "zero-skip not modelled with several cores",
        "skipped_steps": skip.skipped_steps if skip else 0,
        "skipped_folds": skip.skipped_folds if skip else 0,
        "timeline": fold_timeline(mapping, stationary_double_buffer=spec.stationary_double_buffer),
    }
    return LayerResult(name=layer.name, target="npu", cycles=float(cycles),
                       time_s=cycles / spec.clock_hz, macs_dense=layer.macs_dense,
                       macs_done=useful, utilization=util, compute_cycles=float(compute),
                       memory_cycles=float(traffic.dram_bytes / bw), stall_cycles=float(stalls),
                       dram_bytes=float(dram_total), onchip_bytes=float(onchip),
                       energy_j=energy, details=details)


def _auto_t_tile(mapping: Mapping, remap, traffic_of):
    """The default temporal chunk: the longest (T, T/2, T/4, ...) whose DRAM traffic is the
    least any chunk reaches, i.e. the longest chunk whose working set fits the SRAMs (partial
    sums included). Longer chunks pay fill and drain less often."""
    best = (mapping, traffic_of(mapping))
    if mapping.t_folds != 1:
        return best
    t = mapping.t
    tile = t
    while tile > 1:
        tile = math.ceil(tile / 2)
        cand = remap(tile)
        traffic = traffic_of(cand)
        if traffic.dram_bytes < best[1].dram_bytes * (1 - 1e-9):
            best = (cand, traffic)
        if tile <= mapping.rows:
            break
    return best


def _energy(layer: LayerWork, spec: NpuSpec, *, cycles: float, peak: int, onchip_bytes: float,
            dram_bytes: float) -> float:
    """Joules: MACs done at ``energy_mac_pj * (weight_bits * act_bits / 64)`` (multiplier cost
    scales with the product of operand widths), SRAM and DRAM bytes, and idle PE-cycles (PE
    capacity not used by a MAC; zero-operand MACs the golden run skipped are idle, i.e. gated)."""
    mac_pj = spec.energy_mac_pj * layer.weight_bits * layer.act_bits / 64
    idle = max(0.0, peak * cycles - layer.macs_done)
    pj = (layer.macs_done * mac_pj + onchip_bytes * spec.energy_sram_pj_per_byte
          + dram_bytes * spec.energy_dram_pj_per_byte + idle * spec.energy_idle_pe_pj_per_cycle)
    return pj * 1e-12


def fold_timeline(mapping: Mapping, *, stationary_double_buffer: bool = False,
                  max_runs: int = 4096) -> list:
    """Per-fold PE utilization in execution order, run-length encoded:
    ``[(folds, cycles_per_fold, utilization), ...]`` where a fold's utilization is
    ``mapped PEs / (R*C) * streaming steps / fold cycles``. Zero-skip savings are not shown.
    Expand with :func:`timeline_points` for a plot. Long timelines are cut at ``max_runs``
    runs, the last run standing for the rest."""
    r, c = mapping.rows, mapping.cols
    pe = r * c
    if mapping.group_pack > 1:
        full, rest = divmod(mapping.groups, mapping.group_pack)
        spatial = [(full, mapping.group_pack * mapping.sr * mapping.sc)] if full else []
        if rest:
            spatial.append((1, rest * mapping.sr * mapping.sc))
    else:
        rows_used = _splits(mapping.sr, r)
        cols_used = _splits(mapping.sc, c)
        outer, inner = ((cols_used, rows_used) if mapping.loop_order == "cols-outer"
                        else (rows_used, cols_used))
        block: list = []
        for n_out, used_out in outer:
            inner_runs = [(n_in, used_in * used_out) for n_in, used_in in inner]
            if len(inner_runs) == 1:
                block.append((inner_runs[0][0] * n_out, inner_runs[0][1]))
            else:
                block.extend(inner_runs * n_out)
        spatial = block * mapping.group_passes
    runs: list[tuple[int, int, float]] = []
    for n_chunks, t_len in _splits(mapping.t, mapping.t_tile):
        length = fold_cycles(mapping, t_len, preload_hidden=stationary_double_buffer)
        pattern = spatial if len(spatial) > 1 else [(spatial[0][0] * n_chunks, spatial[0][1])]
        reps = n_chunks if len(spatial) > 1 else 1
        for _ in range(reps):
            for count, used in pattern:
                _append_run(runs, count, length, used * t_len / (pe * length))
            if len(runs) >= max_runs:
                return runs
    return runs


def _splits(total: int, size: int) -> list[tuple[int, int]]:
    """``[(count, used)]``: ``total`` split into blocks of ``size`` (last one short)."""
    full, rest = divmod(total, size)
    out = [(full, size)] if full else []
    if rest:
        out.append((1, rest))
    return out


def _append_run(runs: list, count: int, length: int, util: float) -> None:
    if count <= 0:
        return
    if runs and runs[-1][1] == length and runs[-1][2] == util:
        runs[-1] = (runs[-1][0] + count, length, util)
    else:
        runs.append((count, length, util))


def timeline_points(runs: list) -> tuple[list[int], list[float]]:
    """Step-plot points ``(start_cycle, utilization)`` of a run-length timeline."""
    starts, utils = [], []
    cycle = 0
    for count, length, util in runs:
        starts.append(cycle)
        utils.append(util)
        cycle += count * length
    starts.append(cycle)
    utils.append(0.0)
    return starts, utils


def network_timeline(result: NetworkResult) -> list[dict]:
    """The per-fold timeline of a whole network, layer after layer: one row per run of equal
    folds with ``layer``, ``start_cycle``, ``folds``, ``cycles_per_fold`` and ``utilization``
    (compute cycles only: stalls and non-array layers are left out)."""
    rows = []
    cycle = 0
    for layer in result.layers:
        for count, length, util in layer.details.get("timeline", []):
            rows.append({"layer": layer.name, "start_cycle": cycle, "folds": count,
                         "cycles_per_fold": length, "utilization": util})
            cycle += count * length
    return rows


def _vector_layer(layer: LayerWork, spec: NpuSpec) -> LayerResult:
    """Elementwise and pooling layers run on the post-processing unit, memory-bound or
    op-bound: ``cycles = max(ops / vector_ops_per_cycle, bytes / bw)``. They do no array MACs,
    so ``macs_*`` are 0 and their operations are counted in ``ops``."""
    ops = layer.ops
    nbytes = layer.act_in_bytes + layer.act_out_bytes
    op_cycles = ops / (spec.vector_ops_per_cycle * spec.cores)
    mem_cycles = nbytes / spec.dram_bw_bytes_per_cycle
    cycles = max(op_cycles, mem_cycles)
    energy = (nbytes * spec.energy_dram_pj_per_byte + ops * spec.energy_mac_pj) * 1e-12
    return LayerResult(name=layer.name, target="npu", cycles=float(cycles),
                       time_s=cycles / spec.clock_hz, macs_dense=0, macs_done=0,
                       utilization=0.0, compute_cycles=float(op_cycles),
                       memory_cycles=float(mem_cycles),
                       stall_cycles=float(max(0.0, mem_cycles - op_cycles)), ops=ops,
                       dram_bytes=float(nbytes), onchip_bytes=0.0, energy_j=energy,
                       details={"mode": "gilt", "op": layer.op, "ops": ops})


# ------------------------------------------------------------------------------ SCALE-Sim mode
def topology_rows(layer: LayerWork) -> list[sc.TopologyRow]:
    """``layer`` as SCALE-Sim topology rows: padding folded into the input size (as SCALE-Sim
    users do), groups as one row per group (SCALE-Sim's ``DP`` expansion). ValueError for what
    SCALE-Sim cannot express: batch > 1 and dilation."""
    if not layer.is_compute:
        raise ValueError(f"layer {layer.name!r}: SCALE-Sim models only conv/matmul, "
                         f"not {layer.op!r}")
    if layer.batch != 1:
        raise ValueError(f"layer {layer.name!r}: SCALE-Sim mode needs batch 1, "
                         f"got {layer.batch}")
    if layer.dilation != (1, 1):
        raise ValueError(f"layer {layer.name!r}: SCALE-Sim cannot express dilation "
                         f"{layer.dilation}")
    top, left, bottom, right = layer.pads
    g = layer.groups
    names = [layer.name] if g == 1 else [f"{layer.name}Channel_{i}" for i in range(g)]
    return [sc.TopologyRow(name, layer.in_h + top + bottom, layer.in_w + left + right,
                           layer.kernel_h, layer.kernel_w, layer.in_channels // g,
                           layer.out_channels // g, layer.stride[0], layer.stride[1])
            for name in names]


def scalesim_layer_result(layer: LayerWork, spec: NpuSpec) -> LayerResult:
    """SCALE-Sim 3.0.0's numbers for ``layer`` on ``spec``'s array and dataflow (one core,
    CALC bandwidth mode), as a LayerResult; the report fields are in ``details``."""
    rows = topology_rows(layer)
    per_row = [sc.scalesim_layer(row, spec.array_rows, spec.array_cols, spec.dataflow)
               for row in rows]
    total = sum(r["total_cycles"] for r in per_row)
    macs = sum(row.macs for row in rows)
    first = per_row[0]
    details = {"mode": "scalesim", "dataflow": spec.dataflow, "rows": len(rows),
               "folds": sum(r["folds"] for r in per_row)}
    for key in sc.COMPARED:
        details[key] = first[key] if len(per_row) == 1 else (
            sum(r[key] for r in per_row) if "util" not in key and "efficiency" not in key
            else sum(r[key] for r in per_row) / len(per_row))
    util = macs / (total * spec.pes)
    return LayerResult(name=layer.name, target="npu", cycles=float(total),
                       time_s=total / spec.clock_hz, macs_dense=macs, macs_done=macs,
                       utilization=util, compute_cycles=float(total), stall_cycles=0.0,
                       dram_bytes=0.0,
                       onchip_bytes=float(first["sram_ifmap_reads"] + first["sram_filter_reads"]
                                          + first["sram_ofmap_writes"]) if len(per_row) == 1
                       else float(sum(r["sram_ifmap_reads"] + r["sram_filter_reads"]
                                      + r["sram_ofmap_writes"] for r in per_row)),
                       energy_j=None, details=details)


def simulate_network(workload: Workload, spec: NpuSpec | str, *, mode: str = "gilt",
                     choice: MappingChoice | None = None,
                     choices: dict[str, MappingChoice] | None = None) -> NetworkResult:
    """Every layer of ``workload`` on ``spec``; ``choices`` maps layer names to per-layer
    mappings (from :mod:`simulator.npu.search`). SCALE-Sim mode skips non-compute layers, which
    SCALE-Sim does not model."""
    spec = load_npu_spec(spec)
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    layers = workload.compute_layers if mode == "scalesim" else workload.layers
    per = choices or {}
    results = tuple(simulate_layer(layer, spec, per.get(layer.name, choice), mode=mode)
                    for layer in layers)
    batch = workload.batch
    return NetworkResult(network=workload.name, target="npu", hardware=spec.name,
                         layers=results, batch=batch,
                         details={"mode": mode, "dataflow": spec.dataflow,
                                  "precision": workload.precision})

"""NVDLA cycle model: pure functions of (hardware layer, spec) -> LayerResult.

The rules are NVDLA's own, from its public hardware documentation (``nvdla/doc``:
``hwarch.rst``, ``ias/unit_description.rst``, the primer's sizing section, ``scalability.rst``)
and the scalability parameters of ``nvdla/hw``'s ``nv_full`` configuration:

* **Convolution core** (direct convolution). One *atomic operation* per cycle multiplies one
  ``1 x 1 x atomic_c`` input cube by ``atomic_k`` kernels (16-bit data: ``atomic_k / 2``). A
  *stripe* repeats it for 16..32 output points with the weights held; the next stripe's weights
  load in ``stripe_min_atomics`` cycles, so a stripe shorter than that still costs that much
  (a fully connected layer at batch 1 runs at 1/16 of the array, as the documentation says). A
  *block* is ``R x S`` stripes, a *channel operation* ``ceil(C / atomic_c)`` blocks, repeated for
  every ``ceil(K / atomic_k)`` kernel group and every stripe of the output plane::

      core = groups * ceil(K / kpg) * ceil(C / atomic_c) * R * S * stripes(N * P * Q)
      stripes(n) = sum over ceil(n / 32) balanced stripes of max(length, 16)

  where ``C``, ``K`` are per group. Depthwise convolution keeps ``kpg`` kernels per atomic, each
  on its own channel (32 useful MACs per cycle of the 2048). **Winograd** (3x3, stride 1):
  ``ceil(C / 4)`` blocks of one stripe per 2x2 output tile, outputs padded to multiples of 4
  (2.25x fewer cycles; weights grow 16/9). **Image-input mode** (first layer, <= 4 channels,
  stored HWC4): channel pre-extension over the kernel width (``4 S`` channels per atomic) and
  post-extension over 2 lines (``stride_x * 4 <= 32`` and ``4 S <= 32``) or 4 lines (both
  <= 16), ``ceil(R / lines)`` kernel rows, stripes of 64.
* **Convolution buffer** (``cbuf_banks`` banks, whole banks to weights or features). Weights
  held and features streamed once if the weights fit beside one support window of the input
  (``R + stride`` rows); otherwise the cheaper of splitting the weights (the input re-read per
  weight chunk) and splitting the input (the weights re-read per input chunk). The primer's
  rule: "if the convolutional buffer can only hold a fourth of the weight data ... 10MB of input
  memory traffic would multiply to 40MB". Feature cubes are stored in 32-byte channel atoms.
* **SDP / PDP** run in the same pipeline (fused mode): their rates, ``sdp_throughput``
  elements per cycle (``sdp_lut_throughput`` for a LUT activation) and ``pdp_throughput``, bound
  the layer next to the MAC array; an element-wise operand (residual add) is one more tensor
  read. Standalone SDP/PDP passes read and write memory.
* **Memory**: DRAM bytes over ``spec.dram_bytes_per_cycle``; DMA and compute overlap
  (``cycles = max(compute, memory)``), the primer's "time required to run each layer is the
  maximum amount of the time required for data input, output, and ... MAC operations".
* **Efficiency**: the core's cycles are divided by ``model.conv_efficiency`` (what the
  documented rules leave out, calibrated against measured networks; 1.0 reproduces the rules).
* **Overhead** per hardware layer: ``model.layer_fixed_cycles`` + ``model.layer_overhead_us``;
  per inference ``model.task_overhead_us`` (charged to the first layer).

``LayerResult`` fields as everywhere (:mod:`simulator.results`); NVDLA figures in ``details``.
"""

from __future__ import annotations

import math

from common.workload import LayerWork, Workload
from simulator.npu.nvdla.deploy import HwLayer, plan
from simulator.npu.nvdla.spec import NvdlaSpec, load_nvdla_spec
from simulator.results import LayerResult, NetworkResult

WINOGRAD_GROWTH = 16 / 9     # 3x3 kernels stored as 4x4 transformed kernels


def _ceil(a: float, b: float) -> int:
    return int(-(-a // b))


def stripe_cycles(points: int, spec: NvdlaSpec, *, stripe_max: int | None = None) -> int:
    """Cycles of ``points`` atomic operations split into balanced stripes of at most
    ``stripe_max`` (default ``spec.stripe_max_atomics``), each costing at least
    ``spec.stripe_min_atomics`` (the next stripe's weight load)."""
    stripe_max = stripe_max or spec.stripe_max_atomics
    n = _ceil(points, stripe_max)
    base, extra = divmod(points, n)
    lo = spec.stripe_min_atomics
    return (n - extra) * max(base, lo) + extra * max(base + 1, lo)


def _bytes(bits: int) -> int:
    return max(1, bits // 8)


def check_precision(layer: LayerWork) -> None:
    """NVDLA computes int8, int16 and fp16: refuse anything else by name."""
    for key in ("weight_bits", "act_bits"):
        bits = getattr(layer, key)
        if layer.is_compute and bits not in (8, 16):
            raise ValueError(f"layer {layer.name!r}: NVDLA has no {bits}-bit {key[:-5]} path "
                             "(int8, int16, fp16 only); deploy it at w8a8 or fp16")


def conv_mode(layer: LayerWork, spec: NvdlaSpec, *, first: bool) -> str:
    """``image``, ``winograd``, ``depthwise`` or ``direct`` (module docstring)."""
    g = layer.groups
    if first and spec.image_input and g == 1 and layer.in_channels <= 4 \
            and layer.op == "conv":
        return "image"
    if g > 1 and layer.in_channels // g == 1:
        return "depthwise"
    if (spec.winograd and g == 1 and (layer.kernel_h, layer.kernel_w) == (3, 3)
            and layer.stride == (1, 1) and layer.dilation == (1, 1) and layer.op == "conv"):
        return "winograd"
    return "direct"


def _image_lines(layer: LayerWork) -> int:
    pre = 4 * layer.kernel_w                      # HWC4: 4 channels x kernel width
    sx = layer.stride[1] * 4
    if pre <= 16 and sx <= 16:
        return 4
    if pre <= 32 and sx <= 32:
        return 2
    return 1


def core_cycles(layer: LayerWork, spec: NvdlaSpec, mode: str) -> dict:
    """Cycles of the convolution core for ``layer`` in ``mode`` and the loop counts."""
    kpg = spec.kernels_per_group(max(layer.weight_bits, layer.act_bits))
    g = layer.groups
    c, k = layer.in_channels // g, layer.out_channels // g
    r, s = layer.kernel_h, layer.kernel_w
    points = layer.batch * layer.out_h * layer.out_w
    if mode == "image":
        lines = _image_lines(layer)
        blocks = _ceil(4 * s * lines, spec.atomic_c)
        kgroups = _ceil(k, kpg)
        taps = _ceil(r, lines)
        cycles = kgroups * blocks * taps * stripe_cycles(
            points, spec, stripe_max=spec.image_stripe_atomics)
        return {"cycles": cycles, "kernel_groups": kgroups, "channel_blocks": blocks,
                "taps": taps, "lines": lines}
    if mode == "depthwise":
        kgroups = _ceil(layer.out_channels, kpg)
        cycles = kgroups * r * s * stripe_cycles(points, spec)
        return {"cycles": cycles, "kernel_groups": kgroups, "channel_blocks": 1, "taps": r * s}
    kgroups = _ceil(k, kpg)
    if mode == "winograd":
        tiles = layer.batch * (_ceil(layer.out_h, 4) * 2) * (_ceil(layer.out_w, 4) * 2)
        blocks = _ceil(c, 4)
        cycles = g * kgroups * blocks * stripe_cycles(tiles, spec)
        return {"cycles": cycles, "kernel_groups": kgroups, "channel_blocks": blocks,
                "taps": 1, "winograd_tiles": tiles}
    blocks = _ceil(c, spec.atomic_c)
    cycles = g * kgroups * blocks * r * s * stripe_cycles(points, spec)
    return {"cycles": cycles, "kernel_groups": kgroups, "channel_blocks": blocks, "taps": r * s}


def _cube_bytes(elements_per_channel: int, channels: int, bits: int, spec: NvdlaSpec) -> int:
    """A feature cube in memory: channels padded to the memory atom."""
    atom = spec.memory_atomic_bytes
    return elements_per_channel * _ceil(channels * _bytes(bits), atom) * atom


def conv_traffic(layer: LayerWork, spec: NvdlaSpec, mode: str, *, out_layer: LayerWork,
                 ew_reads: int) -> dict:
    """DRAM bytes of a conv hardware layer and how the convolution buffer was shared."""
    ab, wb = _bytes(layer.act_bits), _bytes(layer.weight_bits)
    n = layer.batch
    if mode == "image":
        feature = layer.in_h * layer.in_w * 4 * ab            # HWC4 per image
        window = (layer.kernel_h + layer.stride[0]) * layer.in_w * 4 * ab
    else:
        feature = _cube_bytes(layer.in_h * layer.in_w, layer.in_channels, layer.act_bits, spec)
        rows = min(layer.in_h, (layer.kernel_h - 1) * layer.dilation[0] + layer.stride[0] + 1)
        window = _cube_bytes(rows * layer.in_w, layer.in_channels, layer.act_bits, spec)
    weights = layer.weight_count * wb * (WINOGRAD_GROWTH if mode == "winograd" else 1.0)
    kpg = spec.kernels_per_group(max(layer.weight_bits, layer.act_bits))
    w_min = weights * min(1.0, kpg / layer.out_channels)
    bank, banks = spec.cbuf_bank_bytes, spec.cbuf_banks
    total_feature = n * feature
    # (a) weights in chunks beside one input window; the input is read once per chunk
    free_w = (banks - _ceil(window, bank)) * bank
    split_w = math.inf if free_w <= 0 else weights + _ceil(weights, free_w) * total_feature
    # (b) input in chunks beside one kernel group's weights; weights read once per chunk
    free_f = (banks - _ceil(w_min, bank)) * bank
    split_f = math.inf if free_f <= 0 else total_feature + _ceil(total_feature, free_f) * weights
    if math.isinf(split_w) and math.isinf(split_f):
        raise ValueError(f"layer {layer.name!r}: neither one input window ({window} B) nor one "
                         f"kernel group ({w_min:.0f} B) fits the {spec.cbuf_bytes} B "
                         "convolution buffer")
    strategy = "weight-split" if split_w <= split_f else "feature-split"
    inputs = min(split_w, split_f)
    out = _cube_bytes(out_layer.out_h * out_layer.out_w, out_layer.out_channels,
                      out_layer.out_bits, spec) * out_layer.batch
    ew = ew_reads * _cube_bytes(layer.out_h * layer.out_w, layer.out_channels,
                                layer.out_bits, spec) * n
    return {"dram_bytes": inputs + out + ew, "feature_bytes": total_feature,
            "weight_bytes": weights, "output_bytes": out, "ew_bytes": ew,
            "cbuf_strategy": strategy,
            "refetch": inputs / (total_feature + weights)}


def _result(hw: HwLayer, spec: NvdlaSpec, *, compute: float, memory: float, overhead: float,
            macs: int, dram: float, details: dict) -> LayerResult:
    cycles = max(compute, memory) + overhead
    bits = max(hw.layer.weight_bits, hw.layer.act_bits) if hw.layer.is_compute else 8
    peak = spec.macs_per_cycle(bits)
    util = 0.0 if cycles == 0 or not macs else min(1.0, macs / (peak * cycles))
    return LayerResult(name=hw.name, target="dla", cycles=float(cycles),
                       time_s=cycles / spec.clock_hz, macs_dense=hw.layer.macs_dense if macs
                       else 0, macs_done=macs, utilization=util, compute_cycles=float(compute),
                       memory_cycles=float(memory), overhead_cycles=float(overhead),
                       stall_cycles=float(max(0.0, memory - compute)),
                       ops=0 if macs else hw.layer.ops, dram_bytes=float(dram),
                       details={"engine": hw.engine, "sources": list(hw.sources),
                                "sdp_ops": list(hw.sdp_ops), "note": hw.note, **details})


def _overhead(spec: NvdlaSpec) -> float:
    return spec.model.layer_fixed_cycles + spec.model.layer_overhead_us * 1e-6 * spec.clock_hz


def conv_layer(hw: HwLayer, spec: NvdlaSpec, *, first: bool = False) -> LayerResult:
    """A conv hardware layer: core, SDP, PDP and DMA in one pipeline."""
    layer = hw.layer
    check_precision(layer)
    mode = conv_mode(layer, spec, first=first)
    core = core_cycles(layer, spec, mode)
    out_elems = layer.batch * layer.out_channels * layer.out_h * layer.out_w
    sdp = out_elems / spec.sdp_throughput
    lut = out_elems / spec.sdp_lut_throughput if hw.lut else 0.0
    pdp = out_elems / spec.pdp_throughput if hw.pool is not None else 0.0
    traffic = conv_traffic(layer, spec, mode, out_layer=hw.pool or layer, ew_reads=hw.ew_reads)
    mac = core["cycles"] / spec.model.conv_efficiency
    compute = max(mac, sdp, lut, pdp)
    memory = traffic["dram_bytes"] / spec.dram_bytes_per_cycle
    limit = max((("mac", mac), ("sdp", sdp), ("sdp-lut", lut), ("pdp", pdp),
                 ("dram", memory)), key=lambda kv: kv[1])[0]
    details = {"mode": mode, **{k: v for k, v in core.items() if k != "cycles"},
               "core_cycles": core["cycles"], "mac_cycles": mac, "sdp_cycles": sdp, "lut_cycles": lut,
               "pdp_cycles": pdp, "limit": limit, "pooled": hw.pool is not None,
               **{k: v for k, v in traffic.items() if k != "dram_bytes"}}
    return _result(hw, spec, compute=compute, memory=memory, overhead=_overhead(spec),
                   macs=layer.macs_done, dram=traffic["dram_bytes"], details=details)


def pass_layer(hw: HwLayer, spec: NvdlaSpec) -> LayerResult:
    """A standalone SDP, PDP or copy pass: read, compute at the engine's rate, write."""
    layer = hw.layer
    out_elems = layer.batch * layer.out_channels * layer.out_h * layer.out_w
    out_bytes = _cube_bytes(layer.out_h * layer.out_w, layer.out_channels, layer.out_bits,
                            spec) * layer.batch
    if hw.engine == "pdp":
        in_elems = layer.batch * layer.in_channels * layer.in_h * layer.in_w
        compute = max(in_elems, out_elems) / spec.pdp_throughput
        in_bytes = in_elems * _bytes(layer.act_bits)
    elif hw.engine == "copy":
        compute = 0.0
        in_bytes = layer.act_in_bytes
    else:
        rate = spec.sdp_lut_throughput if hw.lut else spec.sdp_throughput
        compute = out_elems / rate
        per_tensor = _cube_bytes(layer.out_h * layer.out_w, layer.out_channels,
                                 layer.act_bits, spec) * layer.batch
        in_bytes = hw.reads * per_tensor
    dram = in_bytes + out_bytes
    memory = dram / spec.dram_bytes_per_cycle
    return _result(hw, spec, compute=compute, memory=memory, overhead=_overhead(spec), macs=0,
                   dram=dram, details={"mode": hw.engine, "reads": hw.reads, "lut": hw.lut})


def concat_layer(hw: HwLayer, spec: NvdlaSpec) -> LayerResult:
    """Concatenation along channels costs nothing: producers write into one buffer."""
    return _result(hw, spec, compute=0.0, memory=0.0, overhead=0.0, macs=0, dram=0.0,
                   details={"mode": "in-place"})


def _gpu_layers(run: list[HwLayer], spec: NvdlaSpec, gpu, batch: int) -> list[LayerResult]:
    """Fallback layers on the GPU model (graph launch, as TensorRT), as DLA-clock cycles,
    plus one DLA -> GPU -> DLA hand-off for the run."""
    from simulator.gpu.network import simulate_network as gpu_network

    sub = Workload(name="fallback", layers=tuple(h.layer for h in run),
                   meta={"batch": batch})
    result = gpu_network(sub, gpu, launch="graph")
    out = []
    for i, (hw, r) in enumerate(zip(run, result.layers)):
        handoff = spec.model.gpu_handoff_us * 1e-6 * spec.clock_hz if i == 0 else 0.0
        scale = spec.clock_hz / gpu.clock_hz
        out.append(LayerResult(
            name=hw.name, target="gpu", cycles=r.cycles * scale + handoff,
            time_s=r.time_s + handoff / spec.clock_hz, macs_dense=r.macs_dense,
            macs_done=r.macs_done, utilization=r.utilization,
            compute_cycles=r.compute_cycles * scale, memory_cycles=r.memory_cycles * scale,
            overhead_cycles=r.overhead_cycles * scale + handoff,
            stall_cycles=r.stall_cycles * scale, ops=r.ops, dram_bytes=r.dram_bytes,
            details={"engine": "gpu", "gpu": gpu.name, "gpu_time_s": r.time_s,
                     "note": hw.note, "handoff": bool(handoff)}))
    return out


_PASSES = {"sdp": pass_layer, "pdp": pass_layer, "copy": pass_layer, "concat": concat_layer}


def simulate_network(workload: Workload, spec: NvdlaSpec | str, *, fallback_gpu=None
                     ) -> NetworkResult:
    """Every hardware layer of ``workload`` (:func:`simulator.npu.nvdla.deploy.plan`) on one
    NVDLA engine. Layers the DLA cannot run are refused by name unless ``fallback_gpu`` (a
    GPU spec or preset) runs them, each contiguous run paying ``model.gpu_handoff_us``.
    ``NetworkResult.target`` is ``"dla"``; cycles are DLA cycles."""
    spec = load_nvdla_spec(spec)
    hws = plan(workload)
    gpu_runs = [h for h in hws if h.engine == "gpu"]
    if gpu_runs and fallback_gpu is None:
        names = ", ".join(f"{h.name} ({h.note})" for h in gpu_runs[:5])
        more = f" and {len(gpu_runs) - 5} more" if len(gpu_runs) > 5 else ""
        raise ValueError(f"{len(gpu_runs)} layer(s) of {workload.name!r} cannot run on the "
                         f"DLA: {names}{more}; give a GPU for fallback (fallback_gpu=, "
                         "--fallback-gpu)")
    if fallback_gpu is not None:
        from simulator.gpu.spec import load_gpu_spec
        fallback_gpu = load_gpu_spec(fallback_gpu)
    results: list[LayerResult] = []
    first = True
    pending: list[HwLayer] = []
    for hw in hws + (None,):
        if hw is not None and hw.engine == "gpu":
            pending.append(hw)
            continue
        if pending:
            results.extend(_gpu_layers(pending, spec, fallback_gpu, workload.batch))
            pending = []
        if hw is None:
            break
        if hw.engine == "conv":
            results.append(conv_layer(hw, spec, first=first))
            first = False
        else:
            results.append(_PASSES[hw.engine](hw, spec))
    results = _charge_task(results, spec)
    return NetworkResult(network=workload.name, target="dla", hardware=spec.name,
                         layers=tuple(results), batch=workload.batch,
                         details={"hardware_layers": sum(r.target == "dla" for r in results),
                                  "gpu_fallback": [r.name for r in results if r.target == "gpu"],
                                  "precision": workload.precision,
                                  "dram_bytes": sum(r.dram_bytes for r in results)})


def _charge_task(results: list[LayerResult], spec: NvdlaSpec) -> list[LayerResult]:
    """Add the per-inference submission cost to the first layer's overhead."""
    if not results:
        return results
    extra = spec.model.task_overhead_us * 1e-6 * spec.clock_hz
    r = results[0]
    details = {**r.details, "task_overhead_cycles": extra}
    results[0] = LayerResult(name=r.name, target=r.target, cycles=r.cycles + extra,
                             time_s=r.time_s + extra / spec.clock_hz, macs_dense=r.macs_dense,
                             macs_done=r.macs_done,
                             utilization=r.utilization * r.cycles / (r.cycles + extra)
                             if r.cycles + extra else 0.0,
                             compute_cycles=r.compute_cycles, memory_cycles=r.memory_cycles,
                             overhead_cycles=r.overhead_cycles + extra,
                             stall_cycles=r.stall_cycles, ops=r.ops, dram_bytes=r.dram_bytes,
                             energy_j=r.energy_j, details=details)
    return results

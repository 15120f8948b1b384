"""Network level: every layer through :func:`simulator.gpu.model.simulate_layer`, totals,
images/s, a per-layer table and a roofline plot."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from gilt.files import save_figure
from simulator.gpu.model import simulate_layer
from simulator.gpu.spec import GpuSpec, load_gpu_spec
from simulator.results import NetworkResult
from simulator.workload import Workload


def rebatch(workload: Workload, batch: int) -> Workload:
    """The workload at another batch size. The old batch is ``workload.meta["batch"]`` or the
    largest layer batch; a layer whose batch is a multiple of it (``batch x heads``) is scaled
    (a matmul stored with batch 1 and the batch folded into its rows ``m`` gets ``m`` scaled). MACs scale with the batch (exact:
    they are linear in it); gate masks and zero bitmaps are tiled or cut along the batch axis."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    old = int(workload.meta.get("batch") or max((l.batch for l in workload.layers), default=1))
    layers = []
    for layer in workload.layers:
        if layer.batch % old == 0 and old != batch:    # e.g. attention: batch x heads
            changes = {"batch": layer.batch // old * batch}
        elif (layer.op == "matmul" and layer.batch == 1 and old > 1 and old != batch
              and layer.in_h % old == 0):
            rows = layer.in_h // old * batch
            changes = {"in_h": rows, "out_h": rows}
        else:
            layers.append(layer)
            continue
        scale = batch / old
        dense = layer.macs_dense * batch // old
        gate = round(layer.macs_skipped_gate * scale)
        zero = round(layer.macs_skipped_zero * scale)
        changes.update({"macs_dense": dense, "macs_skipped_gate": gate,
                        "macs_skipped_zero": zero, "macs_done": dense - gate - zero})
        for key in ("gate_mask", "act_zero_bitmap"):
            value = getattr(layer, key)
            if value is not None and "batch" in changes and np.ndim(value) \
                    and np.shape(value)[0] == layer.batch:
                value = np.asarray(value)
                new = changes["batch"]
                reps = -(-new // value.shape[0])
                changes[key] = np.concatenate([value] * reps, axis=0)[:new]
        layers.append(dataclasses.replace(layer, **changes))
    return Workload(name=workload.name, layers=tuple(layers), precision=workload.precision,
                    meta=dict(workload.meta, batch=batch))


def simulate_network(workload: Workload, spec: GpuSpec | str, *, batch: int | None = None,
                     mma_dtype: str = "auto", epilogue: str = "workload") -> NetworkResult:
    """All layers of ``workload`` on ``spec`` (a GpuSpec, preset name or YAML path).

    ``batch`` re-batches the workload first (:func:`rebatch`). ``mma_dtype`` forces the Tensor
    Core type (``auto``: from the layers' bit widths); ``epilogue`` as in
    :func:`simulate_layer`. Totals: ``NetworkResult.time_s`` and ``throughput_per_s``
    (images/s); ``details`` holds SM and Tensor Core utilization over the whole run."""
    spec = load_gpu_spec(spec)
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simulator.workload.Workload, got "
                        f"{type(workload).__name__}")
    if batch is not None:
        workload = rebatch(workload, batch)
    results = tuple(simulate_layer(layer, spec, mma_dtype=mma_dtype, epilogue=epilogue)
                    for layer in workload.layers)
    net_batch = workload.batch
    total = sum(r.cycles for r in results)
    sm_busy = sum(r.details.get("sm_utilization", 0.0) * r.cycles for r in results)
    tc_busy = sum(r.details.get("tc_pipe_utilization", 0.0) * r.cycles for r in results)
    time_s = total / spec.clock_hz
    details = {
        "sm_utilization": sm_busy / total if total else 0.0,
        "tc_pipe_utilization": tc_busy / total if total else 0.0,
        "dram_bytes": sum(r.dram_bytes for r in results),
        "achieved_tflops": 2 * workload.macs_done / time_s / 1e12 if time_s else 0.0,
        "bound_time_share": {b: sum(r.cycles for r in results if r.bound == b) / total
                             for b in ("compute", "memory", "latency")} if total else {},
        "precision": workload.precision, "mma_dtype": mma_dtype, "epilogue": epilogue,
    }
    return NetworkResult(network=workload.name, target="gpu", hardware=spec.name,
                         layers=results, batch=net_batch, details=details)


def format_table(result: NetworkResult) -> str:
    """Plain-text per-layer table with totals."""
    head = (f"{'layer':<28}{'op':<11}{'mma':<6}{'tile':<11}{'waves':>6}{'SM%':>6}{'TC%':>6}"
            f"{'util%':>7}{'us':>9}{'TFLOP/s':>9}{'GB/s':>8}  bound")
    lines = [head, "-" * len(head)]
    for r in result.layers:
        d = r.details
        lines.append(
            f"{r.name[:27]:<28}{d.get('op', '')[:10]:<11}{str(d.get('mma_dtype', ''))[:5]:<6}"
            f"{str(d.get('tile', '-')):<11}{d.get('waves', 0):>6}"
            f"{100 * d.get('sm_utilization', 0):>6.1f}{100 * d.get('tc_pipe_utilization', 0):>6.1f}"
            f"{100 * r.utilization:>7.1f}{r.time_s * 1e6:>9.1f}{d.get('achieved_tflops', 0):>9.1f}"
            f"{d.get('achieved_gbps', 0):>8.0f}  {r.bound}")
    d = result.details
    lines.append("-" * len(head))
    lines.append(
        f"total {result.network} on {result.hardware}, batch {result.batch}: "
        f"{result.time_s * 1e3:.3f} ms, {result.throughput_per_s:,.0f} images/s, "
        f"SM util {100 * d['sm_utilization']:.1f}%, TC pipe util "
        f"{100 * d['tc_pipe_utilization']:.1f}%, MAC util {100 * result.utilization:.1f}%, "
        f"{d['achieved_tflops']:.1f} TFLOP/s, DRAM {d['dram_bytes'] / 1e6:.1f} MB")
    return "\n".join(lines)


def roofline_plot(result: NetworkResult, spec: GpuSpec | str, path: str | os.PathLike) -> Path:
    """Roofline PNG: each compute layer at (FLOP per DRAM byte, achieved FLOP/s) under the
    Tensor Core and HBM roofs. Written atomically (temp file + os.replace)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = load_gpu_spec(spec)
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ai = np.logspace(-1, 4, 200)
    bw = spec.hbm_bw_bytes_per_s
    for dtype in sorted(spec.tc_macs_per_clock_per_sm):
        peak = spec.peak_flops(dtype)
        ax.loglog(ai, np.minimum(peak, ai * bw) / 1e12, lw=1, label=f"roof {dtype}")
    pts = [(r.details.get("arithmetic_intensity", 0), r.details.get("achieved_tflops", 0),
            r.bound) for r in result.layers if r.macs_done > 0 and r.details.get("tiles")]
    colors = {"compute": "tab:green", "memory": "tab:red", "latency": "tab:orange"}
    for bound, color in colors.items():
        xs = [p[0] for p in pts if p[2] == bound and p[0] > 0 and p[1] > 0]
        ys = [p[1] for p in pts if p[2] == bound and p[0] > 0 and p[1] > 0]
        if xs:
            ax.scatter(xs, ys, s=14, color=color, label=f"{bound}-bound layers", zorder=3)
    ax.set_xlabel("arithmetic intensity (FLOP / DRAM byte)")
    ax.set_ylabel("TFLOP/s")
    ax.set_title(f"{result.network} on {result.hardware}, batch {result.batch}")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, which="both", lw=0.3)
    return save_figure(fig, path)


__all__ = ["format_table", "rebatch", "roofline_plot", "simulate_network"]

"""Network level: every layer through :func:`simulator.gpu.model.simulate_layer`, totals,
images/s (tables and plots are the application's: ``gilt.commands.gpu``, ``gilt.plots``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from common.workload import Workload
from simulator.gpu.deploy import fuse_epilogues
from simulator.gpu.model import GATING_NOTES, simulate_layer
from simulator.gpu.spec import GpuSpec, load_gpu_spec
from simulator.results import BOUNDS, NetworkResult


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
        changes.update({"ops": layer.ops * batch // old, "macs_dense": dense,
                        "macs_skipped_gate": gate,
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
                     mma_dtype: str = "auto", epilogue: str = "workload",
                     gating: str = "auto", launch: str = "stream",
                     fusion: str = "none") -> NetworkResult:
    """All layers of ``workload`` on ``spec`` (a GpuSpec, preset name or YAML path).

    ``batch`` re-batches the workload first (:func:`rebatch`). ``mma_dtype`` forces the Tensor
    Core type (``auto``: from the layers' bit widths); ``epilogue``, ``gating`` and ``launch``
    as in :func:`simulate_layer`; ``fusion="tensorrt"`` first folds element-wise layers into
    their producers' epilogues (:func:`simulator.gpu.deploy.fuse_epilogues`). Totals:
    ``NetworkResult.time_s`` and ``throughput_per_s`` (images/s); ``details`` holds SM and
    Tensor Core utilization over the whole run and the gating modes used."""
    spec = load_gpu_spec(spec)
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a common.workload.Workload, got "
                        f"{type(workload).__name__}")
    if fusion not in FUSION_MODES:
        raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
    if batch is not None:
        workload = rebatch(workload, batch)
    if fusion == "tensorrt":
        workload = fuse_epilogues(workload)
    results = tuple(simulate_layer(layer, spec, mma_dtype=mma_dtype, epilogue=epilogue,
                                   gating=gating, launch=launch)
                    for layer in workload.layers)
    used: dict[str, int] = {}
    for r in results:
        if r.details.get("gating_mode", "none") != "none":
            used[r.details["gating_mode"]] = used.get(r.details["gating_mode"], 0) + 1
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
                             for b in BOUNDS} if total else {},
        "precision": workload.precision, "mma_dtype": mma_dtype, "epilogue": epilogue,
        "gating": gating, "gating_modes_used": used, "launch": launch, "fusion": fusion,
        "gating_note": _gating_note(gating, used),
    }
    return NetworkResult(network=workload.name, target="gpu", hardware=spec.name,
                         layers=results, batch=net_batch, details=details)


FUSION_MODES = ("none", "tensorrt")


def _gating_note(gating: str, used: dict) -> str:
    """One line for reports: which gating deployment ran and why it pays what it pays."""
    if not used:
        return "no gated layer"
    counts = ", ".join(f"{mode} on {n} layer{'s' if n > 1 else ''}" for mode, n in used.items())
    main = max(used, key=used.get)
    chosen = "fastest per layer" if gating == "auto" else "as requested"
    return f"gating {gating} ({chosen}): {counts}; {GATING_NOTES[main]}"


__all__ = ["FUSION_MODES", "rebatch", "simulate_network"]

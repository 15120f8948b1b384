"""Deployment passes: a workload as an inference engine runs it (workload -> workload).

:func:`fuse_epilogues` is TensorRT-style epilogue fusion: an element-wise layer whose activation
input comes from a compute layer that has no other consumer is folded into that layer's GEMM
epilogue (its op appended to ``LayerWork.fused``), so it costs CUDA-core ops in the epilogue
instead of an HBM pass. A residual ``add`` folds into the first of its producers that qualifies
(the other operand is read by the epilogue); a ``relu`` after it folds into the same layer.
Ops that need a reduction across the output row (``layernorm``, ``softmax``) or broadcast
another tensor (``mul``) stay passes.

The graph edges come from ``Workload.meta["layer_ops"]`` / ``["layer_inputs"]`` (recorded by
``networks.golden.graph_workload``); a workload without them is returned unchanged, with
``meta["fusion"]`` saying why (nothing is fused on a guess).
"""

from __future__ import annotations

import dataclasses

from common.workload import Workload

#: graph ops an epilogue can apply per output element
EPILOGUE_OPS = frozenset({"add", "relu", "relu6", "clip", "gelu", "hardswish", "sigmoid",
                          "hardsigmoid", "bias_add",
                          # x * sigmoid(x) of one tensor: TensorRT's pointwise fusion folds the
                          # Sigmoid -> Mul pair into the producing convolution (YOLOv5's SiLU)
                          "silu"})


def _consumers(inputs: dict) -> dict:
    count: dict = {}
    for srcs in inputs.values():
        for s in srcs:
            count[s] = count.get(s, 0) + 1
    return count


def fuse_epilogues(workload: Workload) -> Workload:
    """``workload`` with element-wise layers folded into their producer's epilogue (module
    docstring). ``meta["fusion"]`` lists what was fused into what."""
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    ops, inputs = workload.meta.get("layer_ops"), workload.meta.get("layer_inputs")
    if not ops or not inputs:
        return dataclasses.replace(workload, meta={
            **workload.meta, "fusion": "none: the workload carries no graph edges "
                                       "(meta['layer_ops'], meta['layer_inputs'])"})
    consumers = _consumers(inputs)
    compute = {layer.name for layer in workload.layers if layer.is_compute}
    host: dict[str, str] = {}          # fused element-wise layer -> compute layer holding it
    extra: dict[str, list[str]] = {}   # compute layer -> ops appended to its epilogue
    for layer in workload.layers:
        if layer.op != "elementwise" or ops.get(layer.name) not in EPILOGUE_OPS:
            continue
        for src in inputs.get(layer.name, []):
            target = host.get(src, src)
            if target in compute and consumers.get(src, 0) == 1:
                host[layer.name] = target
                extra.setdefault(target, []).append(ops[layer.name])
                break
    layers = []
    for layer in workload.layers:
        if layer.name in host:
            continue
        if layer.name in extra:
            layer = dataclasses.replace(layer, fused=tuple(layer.fused) + tuple(extra[layer.name]))
        layers.append(layer)
    summary = {name: host_name for name, host_name in host.items()}
    return Workload(name=workload.name, layers=tuple(layers), precision=workload.precision,
                    meta={**workload.meta, "fusion": summary})

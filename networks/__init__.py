"""Networks: graph, built-in models, ONNX import, post-training quantization, golden run.

A few lines take a network from a name or an ONNX file to the per-layer table::

    import networks
    g = networks.load("resnet50", input_size=64)          # or a path to an .onnx file
    q = networks.quantize(g, precision="w4a8")            # PTQ: W4 weights, A8 activations
    run = networks.golden_run(q)                           # every tensor + activity records
    print(run.table())
    workload = run.workload()                              # common.workload.Workload
"""

from __future__ import annotations

import os

from networks.golden import GoldenRun, graph_workload
from networks.golden import golden_run as _golden_run
from networks.graph import Graph, Node, QuantParams, TensorInfo
from networks.models import MODELS, build_model
from networks.quantize import PRECISIONS, fuse, quantize_graph

__all__ = ["MODELS", "Graph", "GoldenRun", "Node", "QuantParams", "TensorInfo", "build",
           "golden_run", "load", "quantize", "workload_for"]


def build(name: str, *, batch: int = 1, input_size: int | None = None,
          seq_len: int | None = None, seed: int = 0) -> Graph:
    """A built-in float32 model with seeded weights: one of ``MODELS``."""
    return build_model(name, batch=batch, input_size=input_size, seq_len=seq_len, seed=seed)


def load(name_or_onnx_path, **kw) -> Graph:
    """A built-in model by name (keywords as :func:`build`) or an ONNX file / ModelProto
    (keywords as :func:`networks.onnx_import.import_onnx`: ``batch``, ``input_size``,
    ``input_shapes``, ``name``; ``seed`` is accepted and ignored)."""
    if isinstance(name_or_onnx_path, str) and name_or_onnx_path in MODELS:
        return build(name_or_onnx_path, **kw)
    if isinstance(name_or_onnx_path, (str, os.PathLike)) or hasattr(name_or_onnx_path, "graph"):
        from networks.onnx_import import import_onnx

        if isinstance(name_or_onnx_path, (str, os.PathLike)) and \
                not os.path.exists(name_or_onnx_path):
            raise ValueError(f"name_or_onnx_path must be one of {sorted(MODELS)} or an existing "
                             f".onnx file, got {name_or_onnx_path!r}")
        kw.pop("seed", None)  # an ONNX file brings its own weights
        if kw.get("input_size") is None:
            kw.pop("input_size", None)
        return import_onnx(name_or_onnx_path, **kw)
    raise TypeError(f"name_or_onnx_path must be a model name, a path or an onnx ModelProto, "
                    f"got {type(name_or_onnx_path).__name__}")


def quantize(graph: Graph, *, precision: str = "w4a8", calibration=None, gating=None,
             zero_skip: bool = False, fuse: bool = True, seed: int = 0, **kw) -> Graph:
    """Post-training quantization (see :mod:`networks.quantize`); extra keywords:
    ``first_last_8bit``, ``weight_granularity`` ("per_channel" / "blocked"), ``block_size``,
    ``policy`` (node name -> weight bits)."""
    return quantize_graph(graph, precision=precision, calibration=calibration, gating=gating,
                          zero_skip=zero_skip, fuse_ops=fuse, seed=seed, **kw)


def golden_run(graph: Graph, inputs=None, *, keep="all", seed: int = 0, **kw) -> GoldenRun:
    """Run a graph keeping tensors (``keep``) and per-layer activity records."""
    return _golden_run(graph, inputs, keep=keep, seed=seed, **kw)


def workload_for(name_or_path, *, batch: int = 1, precision: str = "w8a8",
                 input_size: int | None = None):
    """The dense workload of a model from shapes alone (no weights, no golden run): fast.
    ``precision`` "float32", "w8a8" or "w4a8" (first and last weighted layers at 8 bits, BN
    folded and ReLU fused as the quantized deployment would run)."""
    if precision not in ("float32", *PRECISIONS):
        raise ValueError(f"precision must be 'float32', 'w8a8' or 'w4a8', got {precision!r}")
    if isinstance(name_or_path, str) and name_or_path in MODELS:
        kw = {"seq_len": input_size} if MODELS[name_or_path][2] == "sequence" else \
            {"input_size": input_size}
        graph = build_model(name_or_path, batch=batch, seed=0, materialize=False, **kw)
    else:
        graph = load(name_or_path, batch=batch)
        if graph.precision != "float32":
            return graph_workload(graph, source="shapes")
    if precision == "float32":
        return graph_workload(graph, source="shapes")
    g = fuse(graph)
    weighted = [n for n in g.nodes if n.op in ("conv", "matmul") and n.inputs[1] in g.constants]
    bits = PRECISIONS[precision]
    for node in weighted:
        b = 8 if node in (weighted[0], weighted[-1]) else bits
        node.meta["weight_bits"] = b
    g.meta["precision"] = precision
    from common.workload import Workload

    wl = graph_workload(g, source="shapes")
    # bit widths of the quantized deployment: int8 activations, weights per the policy
    layers = []
    wbits = {n.name: n.meta["weight_bits"] for n in weighted}
    from dataclasses import replace

    for layer in wl.layers:
        layers.append(replace(layer, weight_bits=wbits.get(layer.name, 8), act_bits=8,
                              out_bits=8))
    return Workload(wl.name, tuple(layers), precision=precision, meta=wl.meta)

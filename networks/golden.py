"""The golden run: execute a float, W8A8 or W4A8 graph keeping tensors and activity records,
and turn it into the workload the simulators cost (``common.workload``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from common.workload import LayerWork, Workload
from networks.execute import LayerActivity, run_graph
from networks.graph import Graph, Node, format_table
from networks.models import sample_inputs

#: Graph operators that only relabel memory: no workload layer.
_NO_LAYER = frozenset({"flatten", "reshape", "identity"})
_POOL_OPS = frozenset({"max_pool", "avg_pool", "global_avg_pool", "qmax_pool",
                       "qglobal_avg_pool"})


@dataclass
class GoldenRun:
    """Result of :func:`golden_run`: ``tensors`` (name -> array, per ``keep``), ``outputs``
    (graph outputs), ``records`` (one :class:`LayerActivity` per compute node, in order)."""

    graph: Graph
    tensors: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    records: list[LayerActivity]
    inputs: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def record(self, name: str) -> LayerActivity:
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(f"no activity record for node {name!r}")

    def workload(self) -> Workload:
        """Per-layer geometry, bit widths and observed activity (MACs done / skipped by gate
        and zero blocks, gate masks, zero bitmaps)."""
        return graph_workload(self.graph, {r.name: r for r in self.records},
                              source="golden_run")

    def table(self) -> str:
        extra = {}
        for r in self.records:
            extra[r.name] = {"MACs done": f"{r.macs_done:,}",
                             "skip gate": f"{r.macs_skipped_gate / r.macs_dense:.1%}"
                             if r.macs_dense else "",
                             "skip zero": f"{r.macs_skipped_zero / r.macs_dense:.1%}"
                             if r.macs_dense else ""}
        dense = sum(r.macs_dense for r in self.records)
        done = sum(r.macs_done for r in self.records)
        text = format_table(self.graph, extra)
        return text + (f"\ngolden run: {done:,} of {dense:,} MACs done "
                       f"({1 - done / dense if dense else 0:.1%} skipped)")

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.tensors.values())


def golden_run(graph: Graph, inputs=None, *, keep="all", seed: int = 0,
               float_impl: str = "blas") -> GoldenRun:
    """Run ``graph`` on ``inputs`` (dict name -> array, a single array for a one-input graph,
    or None for a seeded standard-normal sample). ``keep``: "all", a list of tensor names, or
    () to keep only the outputs (bounded memory)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a networks.Graph, got {type(graph).__name__}")
    if inputs is None:
        inputs = sample_inputs(graph, seed=seed)
    elif isinstance(inputs, np.ndarray):
        if len(graph.inputs) != 1:
            raise ValueError(f"inputs is one array but the graph has inputs {graph.inputs}")
        inputs = {graph.inputs[0]: inputs}
    elif not isinstance(inputs, dict):
        raise TypeError(f"inputs must be None, an array or a dict, got {type(inputs).__name__}")
    if keep != "all":
        if isinstance(keep, str):
            raise ValueError(f"keep must be 'all' or a collection of tensor names, got {keep!r}")
        unknown = sorted(set(keep) - set(graph.tensors))
        if unknown:
            raise ValueError(f"keep names unknown tensors {unknown[:10]}")
    if float_impl not in ("blas", "reference"):
        raise ValueError(f"float_impl must be 'blas' or 'reference', got {float_impl!r}")
    tensors, outputs, records = run_graph(graph, inputs, keep=keep, float_impl=float_impl)
    return GoldenRun(graph, tensors, outputs, records, dict(inputs))


# ---------------------------------------------------------------------- workload
def _as_nchw(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) == 0:  # a scalar
        return (1, 1, 1, 1)
    if len(shape) == 4:
        return tuple(shape)
    if len(shape) == 3:  # (N, S, D): D channels over an S x 1 image
        return (shape[0], shape[2], shape[1], 1)
    if len(shape) == 2:
        return (shape[0], shape[1], 1, 1)
    if len(shape) == 1:
        return (1, shape[0], 1, 1)
    n = shape[0]
    return (n, shape[1], math.prod(shape[2:-1]) * 1, shape[-1])


def _bits(graph: Graph, tensor: str) -> int:
    info = graph.tensors.get(tensor)
    return 32 if info is None else min(32, max(1, info.bits))


def _act_input(graph: Graph, node: Node) -> str:
    return next(t for t in node.inputs if t and t not in graph.constants)


def _layer_graph(graph: Graph) -> dict:
    """``layer_ops`` (layer name -> graph op) and ``layer_inputs`` (layer name -> names of the
    layers producing its activation inputs, through relabelling nodes): what a deployment pass
    (epilogue fusion) needs to know about the graph the flat layer list came from."""
    producer: dict[str, str] = {}
    ops: dict[str, str] = {}
    inputs: dict[str, list[str]] = {}
    for node in graph.nodes:
        srcs = [producer[t] for t in node.inputs if t and t in producer]
        if node.op in _NO_LAYER:
            for out in node.outputs:
                if srcs:
                    producer[out] = srcs[0]
            continue
        ops[node.name] = node.op
        inputs[node.name] = srcs
        for out in node.outputs:
            producer[out] = node.name
    return {"layer_ops": ops, "layer_inputs": inputs}


def _conv_layer(graph: Graph, node: Node, rec: LayerActivity | None) -> LayerWork:
    x = graph.shape(node.inputs[0])
    w = graph.shape(node.inputs[1])
    a = node.attrs
    act = dict(macs_skipped_gate=rec.macs_skipped_gate, macs_skipped_zero=rec.macs_skipped_zero,
               gate_mask=rec.gate_mask, act_zero_bitmap=rec.act_zero_bitmap,
               zero_block=rec.zero_block) if rec else {}
    return LayerWork.conv(
        node.name, batch=x[0], in_channels=x[1], in_h=x[2], in_w=x[3], out_channels=w[0],
        kernel=tuple(w[2:]), stride=tuple(a["strides"]), pads=tuple(a["pads"]),
        dilation=tuple(a["dilations"]), groups=a.get("group", 1),
        weight_bits=graph.weight_bits(node) or 32, act_bits=_bits(graph, node.inputs[0]),
        out_bits=_bits(graph, node.outputs[0]), fused=tuple(node.meta.get("fused", ())), **act)


def _matmul_layer(graph: Graph, node: Node, rec: LayerActivity | None) -> LayerWork:
    y = graph.shape(node.outputs[0])
    a_shape = graph.shape(node.inputs[0])
    k = a_shape[-1]
    m = a_shape[-2] if len(a_shape) > 1 else 1
    n = y[-1] if y else 1
    batch = math.prod(y[:-2]) if len(y) > 2 else 1
    if len(y) == 2 and len(a_shape) == 2:
        m, batch = y[0], 1
    wbits = graph.weight_bits(node) if node.inputs[1] in graph.constants else \
        _bits(graph, node.inputs[1])
    act = dict(macs_skipped_zero=rec.macs_skipped_zero, act_zero_bitmap=rec.act_zero_bitmap,
               zero_block=rec.zero_block) if rec else {}
    return LayerWork.matmul(
        node.name, m=m, n=n, k=k, batch=batch, weight_bits=wbits or 32,
        act_bits=_bits(graph, node.inputs[0]), out_bits=_bits(graph, node.outputs[0]), **act)


def _pass_layer(graph: Graph, node: Node, rec: LayerActivity | None) -> LayerWork:
    """A memory-bound pass: element-wise, or a pool (its window reuse as the input ratio)."""
    out = node.outputs[0]
    src = _act_input(graph, node) if any(
        t and t not in graph.constants for t in node.inputs) else out
    n_inputs = sum(1 for t in node.inputs if t and t not in graph.constants)
    shape = _as_nchw(graph.shape(out))
    if node.op in _POOL_OPS:
        # input bytes = N*C*H_in*W_in: carried as "inputs" = window reuse ratio
        ratio = max(1, -(-math.prod(graph.shape(src)) // math.prod(shape)))
        return LayerWork.elementwise(node.name, shape=shape, op="pool", ops_per_element=ratio,
                                     inputs=ratio, act_bits=_bits(graph, src),
                                     out_bits=_bits(graph, out))
    return LayerWork.elementwise(node.name, shape=shape, inputs=max(1, n_inputs),
                                 act_bits=_bits(graph, src), out_bits=_bits(graph, out))


#: graph operator -> LayerWork maker (every other operator is a memory-bound pass)
_LAYERS = {"conv": _conv_layer, "qconv": _conv_layer, "matmul": _matmul_layer,
           "qmatmul": _matmul_layer}


def graph_workload(graph: Graph, records: dict[str, LayerActivity] | None = None, *,
                   source: str = "shapes") -> Workload:
    """The workload of a graph: one LayerWork per compute node (with the observed activity
    when ``records`` has it, else dense) and per memory-bound pass."""
    records = records or {}
    layers = [_LAYERS.get(node.op, _pass_layer)(graph, node, records.get(node.name))
              for node in graph.nodes if node.op not in _NO_LAYER]
    meta = {"source": source, "model": graph.meta.get("model", graph.name),
            **_layer_graph(graph),
            "batch": int(graph.shape(graph.inputs[0])[0]) if graph.inputs and
            graph.shape(graph.inputs[0]) else 1,
            "params": graph.param_count(), "model_bytes": graph.model_bytes()}
    if "size_ratio" in graph.meta:
        meta["size_ratio"] = graph.meta["size_ratio"]
    return Workload(graph.name, tuple(layers), precision=graph.precision, meta=meta)

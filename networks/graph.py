"""A small dataflow graph: nodes are operators, edges are typed tensors with quantization params.

The graph is deliberately plain: a list of :class:`Node` in execution (topological) order, a
dict of :class:`TensorInfo` (shape, dtype, optional :class:`QuantParams`) and a dict of constant
arrays (weights, biases, BN statistics). Built-in models, ONNX import and post-training
quantization all produce this one type; the golden run executes it node by node.

Operator vocabulary (``Node.op``) and their inputs (``*`` = constant initializer):

=====================  ======================================================================
float operators        ``conv`` (x, W*, [B*]), ``matmul`` (a, b or b*, [B*]), ``batchnorm``
                       (x, scale*, bias*, mean*, var*), ``relu``, ``clip``, ``hardsigmoid``,
                       ``hardswish``, ``sigmoid``, ``silu``, ``gelu``, ``erf``, ``add``,
                       ``sub``, ``mul``, ``div``, ``concat``, ``global_avg_pool``,
                       ``max_pool``, ``avg_pool``, ``flatten``, ``reshape``, ``transpose``,
                       ``softmax``, ``layernorm`` (x, scale*, bias*), ``resize_nearest``,
                       ``gate`` (x -> bool mask), ``identity``
quantized operators    ``quantize``, ``dequantize``, ``qconv`` (integer conv + requantize),
                       ``qmatmul``, ``qadd``, ``qmul``, ``qlut`` (256-entry table for a unary
                       op), ``qmax_pool``, ``qglobal_avg_pool``, ``qconcat``; anything else in a
                       quantized graph runs as dequantize -> float op -> quantize (``qfloat``)
=====================  ======================================================================

Attribute conventions follow ONNX (``strides``, ``pads`` top,left,bottom,right, ``dilations``,
``group``) so that import and export are one-to-one. Convolutions are NCHW / OIHW; ``matmul``
weights are ``(K, N)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from common.geometry import conv_output_size
from networks.onnx_functions import FUNCTIONS

FLOAT_OPS = frozenset({
    "conv", "matmul", "batchnorm", "relu", "clip", "hardsigmoid", "hardswish", "sigmoid", "silu",
    "gelu", "erf", "add", "sub", "mul", "div", "concat", "global_avg_pool", "max_pool",
    "avg_pool", "flatten", "reshape", "transpose", "softmax", "layernorm", "resize_nearest",
    "gate", "identity"})
QUANT_OPS = frozenset({
    "quantize", "dequantize", "qconv", "qmatmul", "qadd", "qmul", "qlut", "qmax_pool",
    "qglobal_avg_pool", "qconcat", "qfloat"})
ALL_OPS = FLOAT_OPS | QUANT_OPS
#: Operators whose cost is multiply-accumulates (the rest are memory-bound passes).
COMPUTE_OPS = frozenset({"conv", "matmul", "qconv", "qmatmul"})
#: ONNX operators run by one ``reference/`` function with ONNX's signature, named by their
#: op_type (``networks.onnx_functions``; attrs ``{"attributes": ..., "opset": ...}``)
ONNX_FUNCTION_OPS = frozenset(FUNCTIONS)
ALL_OPS = ALL_OPS | ONNX_FUNCTION_OPS
#: tensor dtypes of a graph and their widths in bits (4-bit values are int8/uint8 tensors whose
#: QuantParams say bits=4)
DTYPE_BITS = {"float32": 32, "int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "int32": 32,
              "uint32": 32, "int64": 64, "uint64": 64, "bool": 1}
DTYPES = tuple(DTYPE_BITS)


@dataclass(frozen=True)
class QuantParams:
    """How a tensor's integers map to reals: ``real = (q - zero_point) * scale``.

    ``scale`` / ``zero_point`` are scalars (per tensor) or 1-D arrays along ``axis`` (per
    channel); ``block_size`` > 0 means blocked along ``axis`` with scale shape
    ``(..., ceil(K / block_size))``. ``bits`` is the value range actually used (4 for int4
    values stored in int8 arrays)."""

    scale: np.ndarray | float
    zero_point: np.ndarray | int = 0
    bits: int = 8
    signed: bool = True
    axis: int | None = None
    block_size: int = 0

    def __post_init__(self):
        scale = np.asarray(self.scale, dtype=np.float32)
        if scale.size == 0 or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f"scale must be finite and > 0, got {self.scale!r}")
        if self.bits not in (4, 8, 16, 32):
            raise ValueError(f"bits must be one of 4, 8, 16, 32, got {self.bits!r}")
        object.__setattr__(self, "scale", scale if scale.ndim else np.float32(scale))
        zp = np.asarray(self.zero_point, dtype=np.int32)
        lo, hi = self.qrange
        if np.any(zp < lo) or np.any(zp > hi):
            raise ValueError(f"zero_point must lie in [{lo}, {hi}], got {self.zero_point!r}")
        object.__setattr__(self, "zero_point", zp if zp.ndim else int(zp))

    @property
    def qrange(self) -> tuple[int, int]:
        if self.signed:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1

    @property
    def per_tensor(self) -> bool:
        return np.ndim(self.scale) == 0

    def describe(self) -> str:
        kind = "per-tensor" if self.per_tensor else (
            f"blocked({self.block_size})" if self.block_size else f"per-channel(axis={self.axis})")
        return f"{'' if self.signed else 'u'}int{self.bits} {kind}"


@dataclass
class TensorInfo:
    """An edge of the graph. ``shape`` is fully static (batch included)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    quant: QuantParams | None = None

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name!r}: dtype must be one of {DTYPES}, "
                             f"got {self.dtype!r}")
        self.shape = tuple(int(s) for s in self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def bits(self) -> int:
        if self.quant is not None:
            return self.quant.bits
        return DTYPE_BITS[self.dtype]


@dataclass
class Node:
    """One operator application. ``attrs`` holds attributes (ONNX names); ``meta`` holds
    bookkeeping that does not change the numerics (fused ops, original ONNX names, policy)."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.op not in ALL_OPS:
            raise ValueError(f"node {self.name!r}: op must be one of {sorted(ALL_OPS)}, "
                             f"got {self.op!r}")


@dataclass
class Graph:
    """Nodes in execution order, tensors by name, constants by name."""

    name: str
    nodes: list[Node]
    tensors: dict[str, TensorInfo]
    constants: dict[str, np.ndarray]
    inputs: list[str]
    outputs: list[str]
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ checks
    def validate(self) -> Graph:
        """Check that every edge is produced before use, names are unique and shapes are known;
        raise ValueError naming every problem."""
        problems = []
        seen_nodes = set()
        available = set(self.inputs) | set(self.constants)
        for name in self.inputs:
            if name not in self.tensors:
                problems.append(f"graph input {name!r} has no TensorInfo")
        for node in self.nodes:
            if node.name in seen_nodes:
                problems.append(f"duplicate node name {node.name!r}")
            seen_nodes.add(node.name)
            for t in node.inputs:
                if t and t not in available:
                    problems.append(f"node {node.name!r} ({node.op}) reads {t!r} before it is "
                                    f"produced")
            for t in node.outputs:
                if t in available:
                    problems.append(f"tensor {t!r} is produced twice (node {node.name!r})")
                if t not in self.tensors:
                    problems.append(f"node {node.name!r} output {t!r} has no TensorInfo")
                available.add(t)
        for t in self.outputs:
            if t not in available:
                problems.append(f"graph output {t!r} is never produced")
        if problems:
            raise ValueError(f"graph {self.name!r} is invalid:\n  " + "\n  ".join(problems))
        return self

    # ------------------------------------------------------------------ views
    def producer(self) -> dict[str, Node]:
        return {t: node for node in self.nodes for t in node.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for node in self.nodes:
            for t in node.inputs:
                out.setdefault(t, []).append(node)
        return out

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r} in graph {self.name!r}")

    def shape(self, tensor: str) -> tuple[int, ...]:
        if tensor in self.tensors:
            return self.tensors[tensor].shape
        return tuple(self.constants[tensor].shape)

    @property
    def compute_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.op in COMPUTE_OPS]

    @property
    def precision(self) -> str:
        return self.meta.get("precision", "float32")

    def copy(self) -> Graph:
        """Structure copy (nodes, tensors, meta); constant arrays are shared (never mutated in
        place by this package)."""
        return Graph(
            name=self.name,
            nodes=[replace(n, inputs=list(n.inputs), outputs=list(n.outputs),
                           attrs=dict(n.attrs), meta=dict(n.meta)) for n in self.nodes],
            tensors={k: replace(v) for k, v in self.tensors.items()},
            constants=dict(self.constants), inputs=list(self.inputs),
            outputs=list(self.outputs), meta=dict(self.meta))

    # ------------------------------------------------------------------ counts
    def param_count(self) -> int:
        """Trainable parameters as frameworks count them: conv/matmul weights and biases, BN and
        LayerNorm scale and bias (BN running statistics are buffers, not parameters)."""
        total = 0
        for node in self.nodes:
            if node.op in ("conv", "qconv", "matmul", "qmatmul"):
                total += sum(self.constants[t].size for t in node.inputs[1:]
                             if t in self.constants)
            elif node.op == "batchnorm":
                total += sum(self.constants[t].size for t in node.inputs[1:3])
            elif node.op == "layernorm":
                total += sum(self.constants[t].size for t in node.inputs[1:] if t)
        return int(total)

    def node_macs(self, node: Node) -> int:
        """Dense multiply-accumulates of a compute node; elementwise ops count one op per
        output element (see ``common.workload``)."""
        if node.op in ("conv", "qconv"):
            w = self.shape(node.inputs[1])
            y = self.shape(node.outputs[0])
            return math.prod(y) * math.prod(w[1:])
        if node.op in ("matmul", "qmatmul"):
            a = self.shape(node.inputs[0])
            y = self.shape(node.outputs[0])
            return math.prod(y) * a[-1]
        return 0

    def macs(self) -> int:
        return sum(self.node_macs(n) for n in self.compute_nodes)

    def weight_bits(self, node: Node) -> int:
        if node.op in ("qconv", "qmatmul") and node.inputs[1] in self.tensors:
            info = self.tensors[node.inputs[1]]
            return info.bits
        return 32 if node.op in ("conv", "matmul") else 0

    def model_bytes(self) -> int:
        """Bytes to store every constant at its stored width: float32 = 4, int8 weights = 1,
        int4 weights = 1/2 (packed), int32 biases = 4, plus float32 scales and int zero
        points of quantized weights. BN running statistics count (they are stored)."""
        total = 0
        for name, arr in self.constants.items():
            info = self.tensors.get(name)
            if info is not None and info.quant is not None:
                total += math.ceil(arr.size * info.quant.bits / 8)
                total += 4 * np.size(info.quant.scale)
                if np.any(np.asarray(info.quant.zero_point) != 0):
                    total += np.size(info.quant.zero_point)
            else:
                total += arr.size * arr.dtype.itemsize
        return int(total)

    # ------------------------------------------------------------------ table
    def table(self) -> str:
        """Readable layer table: node, op, input and output shapes, MACs, weight/act bits."""
        return format_table(self)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.table()


def _fmt_shape(shape) -> str:
    return "x".join(str(s) for s in shape) if shape else "scalar"


def format_table(graph: Graph, extra: dict[str, dict] | None = None) -> str:
    """The layer table (:func:`common.table.render`, the printer every command uses). ``extra``
    maps node name -> {column: value} (the golden run adds MACs done and skip fractions)."""
    from common.table import Column, render

    extra = extra or {}
    extra_cols = sorted({k for row in extra.values() for k in row})
    columns = [Column("index", "#"), Column("node", "node"), Column("op", "op"),
               Column("input", "input shape"), Column("output", "output shape"),
               Column("macs", "MACs", ","), Column("w_bits", "w bits"),
               Column("a_bits", "a bits"), *(Column(c, c) for c in extra_cols)]
    rows = []
    for i, node in enumerate(graph.nodes):
        first_in = next((t for t in node.inputs if t and t not in graph.constants), None)
        in_shape = graph.shape(first_in) if first_in else ()
        op = node.op
        if node.meta.get("fused"):
            op += "+" + "+".join(node.meta["fused"])
        if node.op in ("qlut", "qfloat"):
            op += f"({node.attrs.get('float_op', '')})"
        rows.append({"index": i, "node": node.name, "op": op, "input": _fmt_shape(in_shape),
                     "output": _fmt_shape(graph.shape(node.outputs[0])),
                     "macs": graph.node_macs(node) or None,
                     "w_bits": graph.weight_bits(node) or None,
                     "a_bits": graph.tensors[first_in].bits if first_in in graph.tensors
                     else None,
                     **extra.get(node.name, {})})
    lines = [render(columns, rows), ""]
    lines.append(f"{graph.name}: {len(graph.nodes)} nodes, {len(graph.compute_nodes)} compute, "
                 f"{graph.param_count():,} parameters, {graph.macs():,} MACs, "
                 f"precision {graph.precision}, {graph.model_bytes() / 2**20:.2f} MiB stored")
    if "float_bytes" in graph.meta:
        lines.append(f"model size vs float32: {graph.model_bytes() / graph.meta['float_bytes']:.3f}"
                     f" (float32 {graph.meta['float_bytes'] / 2**20:.2f} MiB)")
    return "\n".join(lines)


# ---------------------------------------------------------------------- shape inference
def _pair(v, n=2):
    if isinstance(v, int):
        return (v,) * n
    return tuple(int(x) for x in v)


def _broadcast(a, b, where):
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise ValueError(f"{where}: shapes {a} and {b} do not broadcast") from None


def _conv_shape(attrs, shapes, where):
    x, w = shapes[0], shapes[1]
    if len(x) != 4 or len(w) != 4:
        raise ValueError(f"{where}: conv needs 4-D x and W, got {x} and {w}")
    groups = attrs.get("group", 1)
    if x[1] != w[1] * groups or w[0] % groups:
        raise ValueError(f"{where}: x channels {x[1]} != W in-channels {w[1]} x group "
                         f"{groups} (or out-channels {w[0]} not divisible)")
    oh, ow = _window_out(x, w[2:], attrs, where)
    return (x[0], w[0], oh, ow)


def _window_out(x, kernel, attrs, where):
    s = _pair(attrs.get("strides", 1))
    d = _pair(attrs.get("dilations", 1))
    p = tuple(attrs.get("pads", (0, 0, 0, 0)))
    oh = conv_output_size(x[2], kernel[0], s[0], p[0], p[2], d[0])
    ow = conv_output_size(x[3], kernel[1], s[1], p[1], p[3], d[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{where}: output {oh}x{ow} is empty for input {x}")
    return oh, ow


def _matmul_shape(attrs, shapes, where):
    a, b = shapes[0], shapes[1]
    if not a or not b or a[-1] != b[-2 if len(b) > 1 else 0]:
        raise ValueError(f"{where}: matmul inner dims differ: {a} @ {b}")
    batch = _broadcast(a[:-2], b[:-2], where)
    rows = tuple(a[-2:-1])                       # a 1-D operand has no row / column axis
    cols = tuple(b[-1:]) if len(b) > 1 else ()
    return (*batch, *rows, *cols)


def _concat_shape(attrs, shapes, where):
    x = shapes[0]
    axis = attrs["axis"] % len(x)
    for s in shapes[1:]:
        if len(s) != len(x) or any(s[i] != x[i] for i in range(len(x)) if i != axis):
            raise ValueError(f"{where}: concat shapes {shapes} differ off axis {axis}")
    return tuple(sum(s[axis] for s in shapes) if i == axis else x[i] for i in range(len(x)))


def _pool_shape(attrs, shapes, where):
    x = shapes[0]
    if len(x) != 4:
        raise ValueError(f"{where}: pooling needs a 4-D NCHW input, got {x}")
    return (x[0], x[1], *_window_out(x, _pair(attrs["kernel_shape"]), attrs, where))


def _flatten_shape(attrs, shapes, where):
    x = shapes[0]
    axis = attrs.get("axis", 1)
    axis = axis + len(x) if axis < 0 else axis
    return (math.prod(x[:axis]), math.prod(x[axis:]))


def _reshape_shape(attrs, shapes, where):
    x = shapes[0]
    target = list(attrs["shape"])
    for i, t in enumerate(target):
        if t == 0:
            target[i] = x[i]
    if -1 in target:
        known = math.prod(t for t in target if t != -1)
        target[target.index(-1)] = math.prod(x) // known if known else 0
    if math.prod(target) != math.prod(x):
        raise ValueError(f"{where}: cannot reshape {x} to {attrs['shape']}")
    return tuple(target)


def _transpose_shape(attrs, shapes, where):
    x = shapes[0]
    perm = attrs.get("perm") or tuple(reversed(range(len(x))))
    return tuple(x[p] for p in perm)


#: graph operator -> output shape rule (attrs, input shapes, where); operators not listed keep
#: their first input's shape (elementwise, normalization, softmax, quantize, dequantize, luts)
SHAPE_RULES = {
    "conv": _conv_shape, "qconv": _conv_shape,
    "matmul": _matmul_shape, "qmatmul": _matmul_shape,
    **dict.fromkeys(("add", "sub", "mul", "div", "qadd", "qmul"),
                    lambda attrs, shapes, where: _broadcast(shapes[0], shapes[1], where)),
    "concat": _concat_shape, "qconcat": _concat_shape,
    **dict.fromkeys(("global_avg_pool", "qglobal_avg_pool"),
                    lambda attrs, shapes, where: (*shapes[0][:2], *(1,) * (len(shapes[0]) - 2))),
    "max_pool": _pool_shape, "avg_pool": _pool_shape, "qmax_pool": _pool_shape,
    "flatten": _flatten_shape, "reshape": _reshape_shape, "transpose": _transpose_shape,
    "resize_nearest": lambda attrs, shapes, where: tuple(
        int(math.floor(d * s)) for d, s in zip(shapes[0], attrs["scales"])),
    "gate": lambda attrs, shapes, where: (shapes[0][0], shapes[0][1]),
}


def infer_shape(op: str, attrs: dict, in_shapes: list[tuple[int, ...]], where: str = "") -> tuple:
    """Output shape of ``op`` for the given input shapes; ValueError names the node."""
    rule = SHAPE_RULES.get(op)
    if rule is None:
        return tuple(in_shapes[0]) if in_shapes else ()
    return rule(attrs, [tuple(s) for s in in_shapes], where or op)

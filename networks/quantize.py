"""Post-training quantization of a float graph to W8A8 or W4A8 (seed C3).

Steps (each recorded in ``graph.meta`` and the quantized nodes' ``meta``):

1. Optional fusion (seed C14a): BatchNorm folded into the preceding conv
   (``W' = W * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``, float64 then
   float32), then a following ReLU / Clip fused into the conv as its activation.
2. Calibration: the fused float graph runs on the calibration inputs (user arrays, or a seeded
   standard-normal sample) and every tensor's min/max is recorded.
3. Activations: asymmetric int8 per tensor, ``scale = (max(0, hi) - min(0, lo)) / 255``,
   ``zero_point = rint(-128 - min(0, lo) / scale)`` (0 lies on the grid; a ReLU output gets
   zero_point -128, so saturation *is* the ReLU).
4. Weights: symmetric per output channel, ``scale = max|w| / qmax`` with qmax 127 (8-bit) or
   7 (4-bit, values -7..7 stored in int8); 4-bit weights may instead be ``blocked`` (one scale
   per output channel and block of ``block_size`` input channels). Biases: int32
   ``rint(b / (s_x * s_w))``.
5. Precision policy: ``w4a8`` keeps the first and last weighted layers at 8 bits by default
   (``first_last_8bit``); ``policy`` maps node names to weight bits and overrides everything.
6. Optional channel gating (seed C5) on the input of every 1x1 conv with groups 1 (other than
   the first layer), and optional zero-skip measurement (seed C8) in the golden run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from networks.execute import build_lut, run_graph
from networks.graph import Graph, Node, QuantParams, TensorInfo
from networks.models import sample_inputs
from reference.fusion import fold_bn_float
from reference.ptq import activation_qparams, quantize_bias, quantize_weights

PRECISIONS = {"w8a8": 8, "w4a8": 4}
LUT_OPS = frozenset({"relu", "clip", "hardsigmoid", "hardswish", "sigmoid", "silu", "gelu",
                     "erf"})
MOVE_OPS = frozenset({"flatten", "reshape", "transpose", "identity"})
GATE_STRATEGIES = ("topk", "threshold", "none", "unit")


def _is_placeholder(a: np.ndarray) -> bool:
    return a.size > 1 and all(s == 0 for s in a.strides)


# ---------------------------------------------------------------------- fusion
def fuse(graph: Graph) -> Graph:
    """Fold BatchNorm into the preceding conv and fuse a following ReLU / Clip into it.
    Returns a new graph (constants of untouched nodes shared). Shape-only graphs (placeholder
    weights) are fused structurally."""
    g = graph.copy()
    consumers = g.consumers()
    producer = g.producer()
    removed: set[str] = set()
    rename: dict[str, str] = {}
    for node in g.nodes:
        if node.op != "batchnorm":
            continue
        src = producer.get(node.inputs[0])
        if src is None or src.op != "conv" or len(consumers.get(node.inputs[0], [])) != 1 \
                or node.inputs[0] in g.outputs:
            continue
        if not all(t in g.constants for t in [src.inputs[1], *node.inputs[1:5]]):
            continue  # statistics or weights computed at run time: BN stays a node
        gamma, beta, mean, var = (g.constants[t] for t in node.inputs[1:5])
        w = g.constants[src.inputs[1]]
        o = w.shape[0]
        if _is_placeholder(w):
            new_w, new_b = w, np.broadcast_to(np.float32(0), (o,))
        else:
            b = None if len(src.inputs) < 3 or not src.inputs[2] else \
                g.constants[src.inputs[2]]
            new_w, new_b = fold_bn_float(w, b, gamma, beta, mean, var,
                                         epsilon=node.attrs.get("epsilon", 1e-5))
        wname, bname = f"{src.name}.weight_folded", f"{src.name}.bias_folded"
        g.constants[wname] = new_w
        g.constants[bname] = new_b
        src.inputs = [src.inputs[0], wname, bname] + src.inputs[3:]
        src.meta["fused"] = [*src.meta.get("fused", []), "bn"]
        src.meta.setdefault("onnx_names", []).append(node.name)
        rename[node.outputs[0]] = src.outputs[0]
        removed.add(node.name)
    _apply_removal(g, removed, rename)
    consumers = g.consumers()
    producer = g.producer()
    removed, rename = set(), {}
    for node in g.nodes:
        if node.op not in ("relu", "clip"):
            continue
        src = producer.get(node.inputs[0])
        if src is None or src.op != "conv" or src.attrs.get("activation") or \
                len(consumers.get(node.inputs[0], [])) != 1 or node.inputs[0] in g.outputs:
            continue
        if node.op == "relu":
            src.attrs["activation"] = "relu"
        else:
            src.attrs.update(activation="clip", act_min=float(node.attrs.get("min", -np.inf)),
                             act_max=float(node.attrs.get("max", np.inf)))
        src.meta["fused"] = [*src.meta.get("fused", []), node.op]
        rename[node.outputs[0]] = src.outputs[0]
        removed.add(node.name)
    _apply_removal(g, removed, rename)
    g.meta["fused"] = True
    return g.validate()


def _apply_removal(g: Graph, removed: set[str], rename: dict[str, str]) -> None:
    """Drop nodes; the tensor the removed node produced is replaced by its input (the
    producer's output keeps the removed node's output *name*, so downstream names stay)."""
    if not removed:
        return
    g.nodes = [n for n in g.nodes if n.name not in removed]
    # keep the later (post-BN / post-ReLU) tensor name: rename the producer's output to it
    for later, earlier in rename.items():
        for n in g.nodes:
            n.outputs = [later if t == earlier else t for t in n.outputs]
            n.inputs = [later if t == earlier else t for t in n.inputs]
        g.tensors.pop(earlier, None)


# ---------------------------------------------------------------------- calibration
def calibrate(graph: Graph, calibration=None, *, seed: int = 0) -> dict[str, tuple]:
    """Per-tensor (min, max) over the calibration inputs: None (one seeded standard-normal
    batch), a dict of input arrays, or a list of such dicts."""
    if calibration is None:
        batches = [sample_inputs(graph, seed=seed)]
    elif isinstance(calibration, dict):
        batches = [calibration]
    elif isinstance(calibration, (list, tuple)) and calibration and \
            all(isinstance(b, dict) for b in calibration):
        batches = list(calibration)
    else:
        raise TypeError(f"calibration must be None, a dict of input arrays or a list of such "
                        f"dicts, got {type(calibration).__name__}")
    ranges: dict[str, list] = {}

    def track(name, arr):
        if arr is None or arr.dtype.kind != "f":
            return
        lo, hi = float(arr.min()), float(arr.max())
        r = ranges.get(name)
        ranges[name] = [lo, hi] if r is None else [min(r[0], lo), max(r[1], hi)]

    def hook(node, values):
        for t in node.inputs:
            if t in values:
                track(t, values[t])

    for batch in batches:
        _, outputs, _ = run_graph(graph, batch, keep=(), before_node=hook)
        for t, v in outputs.items():
            track(t, v)
    return {k: tuple(v) for k, v in ranges.items()}


def activation_params(lo: float, hi: float) -> QuantParams:
    """Asymmetric int8 parameters covering [min(0, lo), max(0, hi)]
    (``reference.ptq.activation_qparams``)."""
    scale, zp = activation_qparams(lo, hi)
    return QuantParams(scale, zp, bits=8, signed=True)


def weight_params(w: np.ndarray, bits: int, axis: int, block_size: int = 0
                  ) -> tuple[np.ndarray, QuantParams]:
    """Symmetric per-channel (or blocked along the input-channel axis 1) weights
    (``reference.ptq.quantize_weights``)."""
    q, scale = quantize_weights(w, bits=bits, axis=axis, block_size=block_size)
    if block_size:
        return q, QuantParams(scale, 0, bits=bits, axis=1, block_size=block_size)
    return q, QuantParams(scale, 0, bits=bits, axis=axis)


# ---------------------------------------------------------------------- the pass
def parse_gating(gating):
    """The gate configuration of ``gating`` (None, ``"topk[:keep]"``, ``"threshold[:t]"``,
    ``"none"``: gate nodes that keep every channel, a dict with ``strategy`` and
    ``keep``/``threshold``, or a GatingUnit).
    ``keep`` must be in (0, 1] and ``threshold`` finite; anything else is a ValueError naming
    the value (a typo must not become a silently different network)."""
    if gating is None or gating is False:
        return None
    if isinstance(gating, str):
        strategy, sep, arg = gating.strip().partition(":")
        if strategy not in ("topk", "threshold", "none") or (sep and not arg) \
                or (strategy == "none" and sep):
            raise ValueError(f"gating must be None, 'topk[:keep]', 'threshold[:t]', 'none' "
                             f"or a dict, got {gating!r}")
        cfg: dict = {"strategy": strategy}
        if arg:
            try:
                cfg["keep" if strategy == "topk" else "threshold"] = float(arg)
            except ValueError:
                raise ValueError(f"gating {gating!r}: {arg!r} is not a number") from None
        return _checked_gate(cfg, gating)
    if hasattr(gating, "decide") and hasattr(gating, "decide_int"):  # a GatingUnit
        return {"strategy": "unit", "unit": gating}
    if isinstance(gating, dict):
        if gating.get("strategy", "topk") not in GATE_STRATEGIES:
            raise ValueError(f"gating['strategy'] must be one of {GATE_STRATEGIES}, got "
                             f"{gating.get('strategy')!r}")
        return _checked_gate({"strategy": "topk", **gating}, gating)
    raise TypeError(f"gating must be None, a str, a dict or a reference.gating.GatingUnit, got "
                    f"{type(gating).__name__}")


def _checked_gate(cfg: dict, given) -> dict:
    keep, threshold = cfg.get("keep"), cfg.get("threshold")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int | float)
                             or not math.isfinite(keep) or not 0 < keep <= 1):
        raise ValueError(f"gating {given!r}: keep must be a fraction in (0, 1], got {keep!r}")
    if threshold is not None and (isinstance(threshold, bool)
                                  or not isinstance(threshold, int | float)
                                  or not math.isfinite(threshold)):
        raise ValueError(f"gating {given!r}: threshold must be a finite number, got "
                         f"{threshold!r}")
    return cfg


_parse_gating = parse_gating


def _check_options(graph, precision, weight_granularity, block_size) -> None:
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a networks.Graph, got {type(graph).__name__}")
    if graph.precision != "float32":
        raise ValueError(f"graph is already quantized ({graph.precision}); quantize the float "
                         f"graph")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if weight_granularity not in ("per_channel", "blocked"):
        raise ValueError(f"weight_granularity must be 'per_channel' or 'blocked', got "
                         f"{weight_granularity!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    if any(_is_placeholder(a) for a in graph.constants.values()):
        raise ValueError("graph has shape-only placeholder weights (materialize=False); build "
                         "it with weights to quantize it")
    multi = [n.name for n in graph.nodes if len(n.outputs) > 1]
    if multi:
        raise ValueError(f"graph has nodes with several outputs {multi[:5]}: post-training "
                         f"quantization handles one output per node")


@dataclass
class _Pass:
    """The state of one quantization pass: source graph, graph built, calibrated ranges, the
    float -> integer tensor names and the options."""

    src: Graph
    q: Graph
    ranges: dict
    gate_cfg: dict | None
    bits_for: Callable[[str], int]
    weight_granularity: str
    block_size: int
    qname: dict = field(default_factory=dict)
    first_conv_seen: bool = False

    def act_info(self, t: str) -> QuantParams:
        lo, hi = self.ranges.get(t, (0.0, 1.0))
        return activation_params(lo, hi)

    def add_tensor(self, name, shape, dtype="int8", quant=None) -> str:
        self.q.tensors[name] = TensorInfo(name, shape, dtype, quant)
        return name

    def out_tensor(self, node: Node, quant: QuantParams) -> str:
        out = node.outputs[0]
        return self.add_tensor(f"{out}:q", self.src.tensors[out].shape, quant=quant)

    def emit(self, node: Node, op: str, ins, out: str, attrs=None):
        self.q.nodes.append(Node(node.name, op, list(ins), [out],
                                 dict(node.attrs) if attrs is None else attrs,
                                 dict(node.meta)))
        self.qname[node.outputs[0]] = out


def _q_weighted(p: _Pass, node: Node, ins: list) -> None:
    """conv / matmul with constant weights: integer weights, int32 bias, optional gate."""
    src = p.src
    bits = p.bits_for(node.name)
    w = src.constants[node.inputs[1]]
    is_conv = node.op == "conv"
    blocked = (p.weight_granularity == "blocked" and bits == 4 and is_conv
               and node.attrs.get("group", 1) == 1 and w.shape[1] > p.block_size)
    wq, wqp = weight_params(w, bits, 0 if is_conv else 1, p.block_size if blocked else 0)
    wname = f"{node.name}.weight_q"
    p.q.constants[wname] = wq
    p.add_tensor(wname, wq.shape, quant=wqp)
    xqp = p.q.tensors[ins[0]].quant
    bname = ""
    if len(node.inputs) > 2 and node.inputs[2]:
        s = wqp.scale.max(axis=1) if blocked else wqp.scale
        bname = f"{node.name}.bias_q"
        bq = quantize_bias(src.constants[node.inputs[2]], xqp.scale, s)
        p.q.constants[bname] = bq
        p.add_tensor(bname, bq.shape, "int32")
    new_inputs = [ins[0], wname, bname] + ins[3:]
    # optional gating of the input channels of 1x1 convs (not the first conv)
    out_shape = src.tensors[node.outputs[0]].shape
    if (is_conv and p.gate_cfg and p.first_conv_seen and len(node.inputs) < 4
            and w.shape[2:] == (1, 1) and node.attrs.get("group", 1) == 1):
        mname = p.add_tensor(f"{node.name}.gate", (out_shape[0], w.shape[1]), "bool")
        p.q.nodes.append(Node(mname, "gate", [ins[0]], [mname], dict(p.gate_cfg)))
        new_inputs = [ins[0], wname, bname, mname]
    while new_inputs and not new_inputs[-1]:
        new_inputs.pop()
    yq = p.out_tensor(node, p.act_info(node.outputs[0]))
    p.emit(node, "qconv" if is_conv else "qmatmul", new_inputs, yq)
    p.q.nodes[-1].meta["weight_quant"] = ("blocked" if blocked else "per_channel", bits,
                                          p.block_size if blocked else 0)
    p.first_conv_seen = True


def _q_copy_constants(p: _Pass, node: Node) -> None:
    for t in node.inputs:
        if t in p.src.constants:
            p.q.constants[t] = p.src.constants[t]


def _q_binary(p: _Pass, node: Node, ins: list) -> None:
    yq = p.out_tensor(node, p.act_info(node.outputs[0]))
    _q_copy_constants(p, node)
    p.emit(node, "q" + node.op, ins, yq)


def _q_lut(p: _Pass, node: Node, ins: list) -> None:
    xqp = p.q.tensors[ins[0]].quant
    yqp = p.act_info(node.outputs[0])
    lut = build_lut(node.op, node.attrs, xqp, yqp)
    lname = f"{node.name}.lut"
    p.q.constants[lname] = lut
    p.add_tensor(lname, lut.shape, quant=yqp)
    yq = p.out_tensor(node, yqp)
    p.emit(node, "qlut", [ins[0], lname], yq,
           {"float_op": node.op, "float_attrs": dict(node.attrs)})


def _q_same_params(op: str):
    """An operator whose output keeps its input's quantization (max pool, data movement)."""
    def build(p: _Pass, node: Node, ins: list) -> None:
        yq = p.out_tensor(node, p.q.tensors[ins[0]].quant)
        p.emit(node, op or node.op, ins, yq)
    return build


def _q_global_avg_pool(p: _Pass, node: Node, ins: list) -> None:
    yq = p.out_tensor(node, p.act_info(node.outputs[0]))
    p.emit(node, "qglobal_avg_pool", ins, yq, {})


def _q_gate(p: _Pass, node: Node, ins: list) -> None:
    out = node.outputs[0]
    mname = p.add_tensor(out, p.src.tensors[out].shape, "bool")
    attrs = dict(node.attrs)
    if p.gate_cfg:
        attrs.update(p.gate_cfg)
    p.emit(node, "gate", ins, mname, attrs)


def _q_float(p: _Pass, node: Node, ins: list) -> None:
    """Any other operator (softmax, layernorm, unfused batchnorm, avg_pool, resize, concat of
    different scales, sub, div, ONNX functions): dequantize -> float op -> quantize. A
    non-float output (an ONNX function's indices or shapes) stays unquantized."""
    _q_copy_constants(p, node)
    info = p.src.tensors[node.outputs[0]]
    if info.dtype == "float32":
        yq = p.out_tensor(node, p.act_info(node.outputs[0]))
    else:
        yq = p.add_tensor(f"{node.outputs[0]}:q", info.shape, info.dtype)
    p.emit(node, "qfloat", ins, yq, {"float_op": node.op, "float_attrs": dict(node.attrs)})


def _quantizer(p: _Pass, node: Node):
    """The quantizer of one float node (the table of the pass)."""
    src = p.src
    if node.op in ("conv", "matmul") and node.inputs[1] in src.constants:
        return _q_weighted
    if node.op == "matmul":  # activation x activation (attention)
        return lambda p, node, ins: p.emit(node, "qmatmul", ins, p.out_tensor(
            node, p.act_info(node.outputs[0])))
    if node.op in ("add", "mul") and all(t in p.qname or t in src.constants
                                         for t in node.inputs):
        return _q_binary
    if node.op in LUT_OPS:
        return _q_lut
    if node.op == "max_pool":
        return _q_same_params("qmax_pool")
    if node.op == "global_avg_pool":
        return _q_global_avg_pool
    if node.op in MOVE_OPS or (node.op == "concat" and _same_quant(
            p.q, [p.qname.get(t, t) for t in node.inputs])):
        return _q_same_params("")
    if node.op == "gate":
        return _q_gate
    return _q_float


def _bits_policy(src: Graph, precision: str, first_last_8bit: bool, policy: dict):
    weighted = [n.name for n in src.nodes
                if n.op in ("conv", "matmul") and n.inputs[1] in src.constants]
    default_bits = PRECISIONS[precision]

    def bits_for(name: str) -> int:
        if name in policy:
            if policy[name] not in (4, 8):
                raise ValueError(f"policy[{name!r}] must be 4 or 8, got {policy[name]!r}")
            return policy[name]
        if first_last_8bit and weighted and name in (weighted[0], weighted[-1]):
            return 8
        return default_bits
    return bits_for


def quantize_graph(graph: Graph, *, precision: str = "w4a8", calibration=None, gating=None,
                   zero_skip: bool = False, fuse_ops: bool = True, seed: int = 0,
                   first_last_8bit: bool = True, weight_granularity: str = "per_channel",
                   block_size: int = 32, policy: dict | None = None) -> Graph:
    """Quantize a float graph; see the module docstring. Returns a new graph."""
    _check_options(graph, precision, weight_granularity, block_size)
    gate_cfg = _parse_gating(gating)
    policy = dict(policy or {})
    src = fuse(graph) if fuse_ops else graph.copy()
    q = Graph(name=src.name, nodes=[], tensors={}, constants={}, inputs=list(src.inputs),
              outputs=list(src.outputs), meta=dict(src.meta))
    p = _Pass(src, q, calibrate(src, calibration, seed=seed), gate_cfg,
              _bits_policy(src, precision, first_last_8bit, policy), weight_granularity,
              block_size)
    for name in src.inputs:
        info = src.tensors[name]
        q.tensors[name] = TensorInfo(name, info.shape)
        qt = p.add_tensor(f"{name}:q", info.shape, quant=p.act_info(name))
        q.nodes.append(Node(f"{name}.quantize", "quantize", [name], [qt]))
        p.qname[name] = qt
    for node in src.nodes:
        ins = [p.qname.get(t, t) for t in node.inputs]
        _quantizer(p, node)(p, node, ins)
    for out in src.outputs:
        q.tensors[out] = TensorInfo(out, src.tensors[out].shape)
        q.nodes.append(Node(f"{out}.dequantize", "dequantize", [p.qname[out]], [out]))
    q.meta.update(precision=precision, zero_skip=bool(zero_skip), gating=gate_cfg,
                  float_bytes=graph.model_bytes(), weight_granularity=weight_granularity,
                  block_size=block_size if weight_granularity == "blocked" else 0,
                  first_last_8bit=first_last_8bit, policy=policy, calibration_seed=seed,
                  fused=fuse_ops)
    q.validate()
    q.meta["size_ratio"] = q.model_bytes() / q.meta["float_bytes"]
    return q


def _same_quant(q: Graph, tensors: list[str]) -> bool:
    qps = [q.tensors[t].quant for t in tensors]
    if any(p is None or not p.per_tensor for p in qps):
        return False
    return all(float(p.scale) == float(qps[0].scale) and p.zero_point == qps[0].zero_point
               for p in qps)

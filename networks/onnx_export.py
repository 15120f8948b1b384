"""Export a graph to ONNX (``onnx`` is optional: imported here only).

Float graphs become standard ONNX (opset 20). Quantized graphs become QOperator models that ONNX
Runtime executes with the same integer arithmetic as the golden run:

* ``qconv`` -> QLinearConv (per-channel int8 weights, int32 bias; a fused ReLU is the output
  range, the zero point being qmin); a ``qmatmul`` with constant weights -> Reshape,
  1x1 QLinearConv (which carries the bias that QLinearMatMul lacks), Reshape;
  activation x activation ``qmatmul`` -> QLinearMatMul;
* ``qadd`` / ``qmul`` / ``qlut`` / ``qfloat`` -> DequantizeLinear, the float op(s),
  QuantizeLinear (the golden contract *is* this chain);
* ``qmax_pool`` -> MaxPool on int8; ``qglobal_avg_pool`` -> com.microsoft
  QLinearGlobalAveragePool; data movement ops unchanged.

4-bit weights are int8 initializers named in the model's ``metadata_props`` entry
``gilt.weight_bits`` (``networks.onnx_rules.WEIGHT_BITS_KEY``), which the importer reads.

Not exportable (ValueError naming the nodes): gate nodes and gated convs (no ONNX operator),
blocked-weight convs.
"""

from __future__ import annotations

import json

import numpy as np

from common.files import write_bytes_atomic
from networks.graph import Graph, Node
from networks.onnx_rules import WEIGHT_BITS_KEY

OPSET = 20

_SIMPLE = {"relu": "Relu", "sigmoid": "Sigmoid", "hardswish": "HardSwish", "erf": "Erf",
           "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "identity": "Identity",
           "global_avg_pool": "GlobalAveragePool"}


class _Writer:
    def __init__(self, graph: Graph):
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.nph = onnx, helper, numpy_helper
        self.graph = graph
        self.nodes = []
        self.inits = {}
        self._n = 0

    def const(self, name: str, value) -> str:
        if name not in self.inits:
            self.inits[name] = self.nph.from_array(np.asarray(value), name)
        return name

    def tmp(self, base: str) -> str:
        self._n += 1
        return f"{base}__{self._n}"

    def add(self, op: str, inputs, outputs, name: str, domain: str = "", **attrs):
        self.nodes.append(self.helper.make_node(op, list(inputs), list(outputs),
                                                name=name, domain=domain or None, **attrs))


def _conv(w: _Writer, node: Node, ins: list[str], out: str, a: dict) -> None:
    kshape = list(w.graph.shape(node.inputs[1])[2:])
    conv_out = w.tmp(out) if a.get("activation") else out
    w.add("Conv", [i for i in ins[:3] if i], [conv_out], node.name, kernel_shape=kshape,
          strides=list(a["strides"]), pads=list(a["pads"]), dilations=list(a["dilations"]),
          group=a.get("group", 1))
    if a.get("activation") == "relu":
        w.add("Relu", [conv_out], [out], node.name + ".relu")
    elif a.get("activation") == "clip":
        w.add("Clip", [conv_out, w.const(node.name + ".min", np.float32(a["act_min"])),
                       w.const(node.name + ".max", np.float32(a["act_max"]))], [out],
              node.name + ".clip")


def _matmul(w: _Writer, node: Node, ins: list[str], out: str, a: dict) -> None:
    has_bias = len(ins) > 2 and ins[2]
    if has_bias and len(w.graph.shape(node.inputs[0])) == 2 and \
            node.inputs[1] in w.graph.constants:
        w.add("Gemm", ins[:3], [out], node.name)
    elif has_bias:
        mm = w.tmp(out)
        w.add("MatMul", ins[:2], [mm], node.name)
        w.add("Add", [mm, ins[2]], [out], node.name + ".bias")
    else:
        w.add("MatMul", ins[:2], [out], node.name)


def _clip(w: _Writer, node: Node, ins: list[str], out: str, a: dict) -> None:
    name = node.name
    w.add("Clip", [ins[0], w.const(name + ".min", np.float32(a.get("min", -np.inf))),
                   w.const(name + ".max", np.float32(a.get("max", np.inf)))], [out], name)


def _silu(w: _Writer, node: Node, ins: list[str], out: str, a: dict) -> None:
    s = w.tmp(out)
    w.add("Sigmoid", ins[:1], [s], node.name + ".sigmoid")
    w.add("Mul", [ins[0], s], [out], node.name)


def _pool(w: _Writer, node: Node, ins: list[str], out: str, a: dict, op: str) -> None:
    extra = {"count_include_pad": int(a.get("count_include_pad", 0))} \
        if op == "avg_pool" else {}
    w.add("MaxPool" if op != "avg_pool" else "AveragePool", ins[:1], [out], node.name,
          kernel_shape=list(a["kernel_shape"]), strides=list(a.get("strides", (1, 1))),
          pads=list(a.get("pads", (0, 0, 0, 0))), **extra)


def _reshape(w: _Writer, node: Node, ins: list[str], out: str, a: dict) -> None:
    shape = np.array(w.graph.shape(node.outputs[0]), np.int64)
    w.add("Reshape", [ins[0], w.const(node.name + ".shape", shape)], [out], node.name)


def _resize_nearest(w: _Writer, node: Node, ins: list[str], out: str, a: dict) -> None:
    scales = w.const(node.name + ".scales", np.array(a["scales"], np.float32))
    w.add("Resize", [ins[0], "", scales], [out], node.name, mode="nearest",
          coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def _one(onnx_op: str, n_inputs: int | None = None, *, drop_absent: bool = False,
         **attr_rules):
    """An emitter of one ONNX node from the first ``n_inputs`` inputs (None: all;
    ``drop_absent``: optional inputs left out rather than written as ""); ``attr_rules`` maps
    an ONNX attribute to ``(gilt attribute, default, convert)`` (no default: required)."""
    def emit(w: _Writer, node: Node, ins: list[str], out: str, a: dict) -> None:
        attrs = {}
        for onnx_name, (key, *default, convert) in attr_rules.items():
            attrs[onnx_name] = convert(a[key] if not default else a.get(key, default[0]))
        inputs = ins[:n_inputs] if n_inputs is not None else ins
        if drop_absent:
            inputs = [i for i in inputs if i]
        w.add(onnx_op, inputs, [out], node.name, **attrs)
    return emit


#: gilt float op -> emitter of its ONNX node(s)
_FLOAT_EXPORT = {
    "conv": _conv,
    "matmul": _matmul,
    "batchnorm": _one("BatchNormalization", 5, epsilon=("epsilon", 1e-5, float)),
    "layernorm": _one("LayerNormalization", 3, drop_absent=True, axis=("axis", -1, int),
                      epsilon=("epsilon", 1e-5, float)),
    "clip": _clip,
    "hardsigmoid": _one("HardSigmoid", 1, alpha=("alpha", 0.2, float),
                        beta=("beta", 0.5, float)),
    "silu": _silu,
    "gelu": _one("Gelu", 1, approximate=("approximate", "none", str)),
    **{op: _one(onnx_op) for op, onnx_op in _SIMPLE.items()},
    "concat": _one("Concat", axis=("axis", int)),
    **{op: (lambda w, n, i, o, a, op=op: _pool(w, n, i, o, a, op))
       for op in ("max_pool", "avg_pool", "qmax_pool")},
    "flatten": _one("Flatten", 1, axis=("axis", 1, int)),
    "reshape": _reshape,
    "transpose": _one("Transpose", 1, perm=("perm", list)),
    "softmax": _one("Softmax", 1, axis=("axis", -1, int)),
    "resize_nearest": _resize_nearest,
}


def _float_node(w: _Writer, node: Node, ins: list[str], out: str, attrs: dict, op: str):
    """Emit the ONNX node(s) of a float operator."""
    emit = _FLOAT_EXPORT.get(op)
    if emit is None:
        raise ValueError(f"node {node.name!r}: op {op!r} has no ONNX export")
    emit(w, node, ins, out, attrs)


def _qparams(w: _Writer, tensor: str) -> tuple[str, str]:
    qp = w.graph.tensors[tensor].quant
    dt = np.int8 if qp.signed else np.uint8
    s = w.const(f"{tensor}.scale", np.asarray(qp.scale, np.float32))
    z = w.const(f"{tensor}.zero_point", np.asarray(qp.zero_point).astype(dt))
    return s, z


def _dq(w: _Writer, tensor: str) -> str:
    s, z = _qparams(w, tensor)
    out = w.tmp(tensor + ".dq")
    w.add("DequantizeLinear", [tensor, s, z], [out], out)
    return out


def _weight_bits(graph: Graph, used: set[str]) -> dict[str, int]:
    """Initializer name -> 4 for every 4-bit weight written (a qmatmul's as ``.as_conv``)."""
    bits = {}
    for name, info in graph.tensors.items():
        if name in graph.constants and info.quant is not None and info.quant.bits == 4:
            for written in (name, f"{name}.as_conv"):
                if written in used:
                    bits[written] = 4
    return bits


def _quantize(w: _Writer, node: Node, ins: list[str], out: str) -> None:
    s, z = _qparams(w, out)
    w.add("QuantizeLinear", [ins[0], s, z], [out], node.name)


def _dequantize(w: _Writer, node: Node, ins: list[str], out: str) -> None:
    s, z = _qparams(w, ins[0])
    w.add("DequantizeLinear", [ins[0], s, z], [out], node.name)


def _qconv(w: _Writer, node: Node, ins: list[str], out: str) -> None:
    xs, xz = _qparams(w, ins[0])
    ws, wz = _qparams(w, ins[1])
    ys, yz = _qparams(w, out)
    bias = [ins[2]] if len(ins) > 2 and ins[2] else []
    a = node.attrs
    w.add("QLinearConv", [ins[0], xs, xz, ins[1], ws, wz, ys, yz, *bias], [out], node.name,
          kernel_shape=list(w.graph.shape(ins[1])[2:]), strides=list(a["strides"]),
          pads=list(a["pads"]), dilations=list(a["dilations"]), group=a.get("group", 1))


def _qmatmul(w: _Writer, node: Node, ins: list[str], out: str) -> None:
    """Constant weights: Reshape, 1x1 QLinearConv (it carries the bias QLinearMatMul lacks),
    Reshape; activation x activation: QLinearMatMul."""
    graph = w.graph
    xs, xz = _qparams(w, ins[0])
    ws, wz = _qparams(w, ins[1])
    ys, yz = _qparams(w, out)
    if ins[1] not in graph.constants:
        w.add("QLinearMatMul", [ins[0], xs, xz, ins[1], ws, wz, ys, yz], [out], node.name)
        return
    bias = [ins[2]] if len(ins) > 2 and ins[2] else []
    k, n = graph.shape(ins[1])
    rows = int(np.prod(graph.shape(ins[0])[:-1]))
    w4 = f"{ins[1]}.as_conv"
    w.inits.pop(ins[1], None)
    w.const(w4, np.ascontiguousarray(graph.constants[ins[1]].T).reshape(n, k, 1, 1))
    x4, y4 = w.tmp(ins[0]), w.tmp(out)
    w.add("Reshape", [ins[0], w.const(w.tmp("shape"), np.array([rows, k, 1, 1], np.int64))],
          [x4], node.name + ".to_nchw")
    w.add("QLinearConv", [x4, xs, xz, w4, ws, wz, ys, yz, *bias], [y4], node.name,
          kernel_shape=[1, 1])
    w.add("Reshape", [y4, w.const(w.tmp("shape"), np.array(graph.shape(out), np.int64))],
          [out], node.name + ".from_nchw")


def _qfloat_chain(w: _Writer, node: Node, ins: list[str], out: str) -> None:
    """DequantizeLinear of the quantized inputs, the float op(s), QuantizeLinear: the golden
    contract of qadd / qmul / qlut / qfloat is this chain."""
    graph = w.graph
    float_op = {"qadd": "add", "qmul": "mul"}.get(node.op) or node.attrs["float_op"]
    fattrs = node.attrs.get("float_attrs", node.attrs)
    fins = []
    for t in (ins[:1] if node.op == "qlut" else ins):
        info = graph.tensors.get(t)
        q_in = t and info is not None and info.quant is not None and \
            info.dtype in ("int8", "uint8") and t not in graph.constants
        fins.append(_dq(w, t) if q_in else t)
    fout = w.tmp(out + ".f")
    _float_node(w, node, fins, fout, fattrs, float_op)
    s, z = _qparams(w, out)
    w.add("QuantizeLinear", [fout, s, z], [out], node.name + ".quantize")


def _qglobal_avg_pool(w: _Writer, node: Node, ins: list[str], out: str) -> None:
    xs, xz = _qparams(w, ins[0])
    ys, yz = _qparams(w, out)
    w.add("QLinearGlobalAveragePool", [ins[0], xs, xz, ys, yz], [out], node.name,
          domain="com.microsoft", channels_last=0)


#: gilt quantized op -> emitter (every other op: :data:`_FLOAT_EXPORT`)
_QUANT_EXPORT = {
    "quantize": _quantize, "dequantize": _dequantize, "qconv": _qconv, "qmatmul": _qmatmul,
    **{op: _qfloat_chain for op in ("qadd", "qmul", "qlut", "qfloat")},
    "qglobal_avg_pool": _qglobal_avg_pool,
}


def _unexportable(graph: Graph) -> list[str]:
    return [f"{n.name} ({n.op})" for n in graph.nodes
            if n.op == "gate" or (n.op in ("conv", "qconv") and len(n.inputs) > 3)
            or (n.op == "qconv" and graph.tensors[n.inputs[1]].quant.block_size)]


def _model(w: _Writer):
    """The ModelProto of the nodes written, with the graph's inputs, outputs and the
    initializers some node uses."""
    graph, helper, onnx = w.graph, w.helper, w.onnx

    def vi(name):
        info = graph.tensors[name]
        et = {"float32": onnx.TensorProto.FLOAT, "int8": onnx.TensorProto.INT8,
              "uint8": onnx.TensorProto.UINT8}[info.dtype]
        return helper.make_tensor_value_info(name, et, list(info.shape))

    used = {i for n in w.nodes for i in n.input}
    inits = [t for k, t in w.inits.items() if k in used]
    g = helper.make_graph(w.nodes, graph.name, [vi(t) for t in graph.inputs],
                          [vi(t) for t in graph.outputs], inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if any(n.domain == "com.microsoft" for n in w.nodes):
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(g, opset_imports=opsets, producer_name="gilt.networks")
    model.ir_version = 9
    bits = _weight_bits(graph, used)
    if bits:  # explicit bit widths: int4 values travel in int8 initializers
        helper.set_model_props(model, {WEIGHT_BITS_KEY: json.dumps(bits, sort_keys=True)})
    return model


def export_onnx(graph: Graph, path=None):
    """Return an ``onnx.ModelProto`` of ``graph`` (and write it atomically to ``path``)."""
    bad = _unexportable(graph)
    if bad:
        raise ValueError(f"graph {graph.name!r} has nodes with no ONNX equivalent (gating, "
                         f"blocked weights): {bad}")
    w = _Writer(graph)
    for name, arr in graph.constants.items():
        if any(name in n.inputs for n in graph.nodes):
            info = graph.tensors.get(name)
            if info is not None and info.quant is not None and info.dtype in ("int8", "uint8"):
                w.const(name, arr)
            else:
                w.const(name, np.ascontiguousarray(arr))
    for node in graph.nodes:
        ins, out = list(node.inputs), node.outputs[0]
        emit = _QUANT_EXPORT.get(node.op)
        if emit is not None:
            emit(w, node, ins, out)
        else:
            _float_node(w, node, ins, out, node.attrs, node.op)
    model = _model(w)
    if path is not None:
        write_bytes_atomic(path, model.SerializeToString())
    return model

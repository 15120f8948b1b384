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


def _float_node(w: _Writer, node: Node, ins: list[str], out: str, attrs: dict, op: str):
    """Emit the ONNX node(s) of a float operator."""
    g = w.graph
    name = node.name
    if op == "conv":
        a = attrs
        kshape = list(g.shape(node.inputs[1])[2:])
        conv_out = w.tmp(out) if a.get("activation") else out
        w.add("Conv", [i for i in ins[:3] if i], [conv_out], name, kernel_shape=kshape,
              strides=list(a["strides"]), pads=list(a["pads"]),
              dilations=list(a["dilations"]), group=a.get("group", 1))
        if a.get("activation") == "relu":
            w.add("Relu", [conv_out], [out], name + ".relu")
        elif a.get("activation") == "clip":
            w.add("Clip", [conv_out, w.const(name + ".min", np.float32(a["act_min"])),
                           w.const(name + ".max", np.float32(a["act_max"]))], [out],
                  name + ".clip")
    elif op == "matmul":
        if len(ins) > 2 and ins[2] and len(g.shape(node.inputs[0])) == 2 and \
                node.inputs[1] in g.constants:
            w.add("Gemm", ins[:3], [out], name)
        elif len(ins) > 2 and ins[2]:
            mm = w.tmp(out)
            w.add("MatMul", ins[:2], [mm], name)
            w.add("Add", [mm, ins[2]], [out], name + ".bias")
        else:
            w.add("MatMul", ins[:2], [out], name)
    elif op == "batchnorm":
        w.add("BatchNormalization", ins[:5], [out], name, epsilon=attrs.get("epsilon", 1e-5))
    elif op == "layernorm":
        w.add("LayerNormalization", [i for i in ins[:3] if i], [out], name,
              axis=attrs.get("axis", -1), epsilon=attrs.get("epsilon", 1e-5))
    elif op == "clip":
        w.add("Clip", [ins[0], w.const(name + ".min", np.float32(attrs.get("min", -np.inf))),
                       w.const(name + ".max", np.float32(attrs.get("max", np.inf)))],
              [out], name)
    elif op == "hardsigmoid":
        w.add("HardSigmoid", ins[:1], [out], name, alpha=float(attrs.get("alpha", 0.2)),
              beta=float(attrs.get("beta", 0.5)))
    elif op == "silu":
        s = w.tmp(out)
        w.add("Sigmoid", ins[:1], [s], name + ".sigmoid")
        w.add("Mul", [ins[0], s], [out], name)
    elif op == "gelu":
        w.add("Gelu", ins[:1], [out], name, approximate=attrs.get("approximate", "none"))
    elif op in _SIMPLE:
        w.add(_SIMPLE[op], ins, [out], name)
    elif op == "concat":
        w.add("Concat", ins, [out], name, axis=attrs["axis"])
    elif op in ("max_pool", "avg_pool", "qmax_pool"):
        extra = {"count_include_pad": int(attrs.get("count_include_pad", 0))} \
            if op == "avg_pool" else {}
        w.add("MaxPool" if op != "avg_pool" else "AveragePool", ins[:1], [out], name,
              kernel_shape=list(attrs["kernel_shape"]),
              strides=list(attrs.get("strides", (1, 1))),
              pads=list(attrs.get("pads", (0, 0, 0, 0))), **extra)
    elif op == "flatten":
        w.add("Flatten", ins[:1], [out], name, axis=attrs.get("axis", 1))
    elif op == "reshape":
        w.add("Reshape", [ins[0], w.const(name + ".shape",
                                          np.array(g.shape(node.outputs[0]), np.int64))],
              [out], name)
    elif op == "transpose":
        w.add("Transpose", ins[:1], [out], name, perm=list(attrs["perm"]))
    elif op == "softmax":
        w.add("Softmax", ins[:1], [out], name, axis=attrs.get("axis", -1))
    elif op == "resize_nearest":
        w.add("Resize", [ins[0], "", w.const(name + ".scales",
                                             np.array(attrs["scales"], np.float32))],
              [out], name, mode="nearest", coordinate_transformation_mode="asymmetric",
              nearest_mode="floor")
    else:
        raise ValueError(f"node {name!r}: op {op!r} has no ONNX export")


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


def export_onnx(graph: Graph, path=None):
    """Return an ``onnx.ModelProto`` of ``graph`` (and write it atomically to ``path``)."""
    bad = [f"{n.name} ({n.op})" for n in graph.nodes
           if n.op == "gate" or (n.op in ("conv", "qconv") and len(n.inputs) > 3)
           or (n.op == "qconv" and graph.tensors[n.inputs[1]].quant.block_size)]
    if bad:
        raise ValueError(f"graph {graph.name!r} has nodes with no ONNX equivalent (gating, "
                         f"blocked weights): {bad}")
    w = _Writer(graph)
    helper, onnx = w.helper, w.onnx
    for name, arr in graph.constants.items():
        if any(name in n.inputs for n in graph.nodes):
            info = graph.tensors.get(name)
            if info is not None and info.quant is not None and info.dtype in ("int8", "uint8"):
                w.const(name, arr)
            else:
                w.const(name, np.ascontiguousarray(arr))
    for node in graph.nodes:
        ins, out, op = list(node.inputs), node.outputs[0], node.op
        if op == "quantize":
            s, z = _qparams(w, out)
            w.add("QuantizeLinear", [ins[0], s, z], [out], node.name)
        elif op == "dequantize":
            s, z = _qparams(w, ins[0])
            w.add("DequantizeLinear", [ins[0], s, z], [out], node.name)
        elif op == "qconv" or (op == "qmatmul" and ins[1] in graph.constants):
            xs, xz = _qparams(w, ins[0])
            ws, wz = _qparams(w, ins[1])
            ys, yz = _qparams(w, out)
            bias = [ins[2]] if len(ins) > 2 and ins[2] else []
            if op == "qconv":
                a = node.attrs
                w.add("QLinearConv", [ins[0], xs, xz, ins[1], ws, wz, ys, yz, *bias], [out],
                      node.name, kernel_shape=list(graph.shape(ins[1])[2:]),
                      strides=list(a["strides"]), pads=list(a["pads"]),
                      dilations=list(a["dilations"]), group=a.get("group", 1))
            else:
                a_shape = graph.shape(ins[0])
                k, n = graph.shape(ins[1])
                rows = int(np.prod(a_shape[:-1]))
                w4 = f"{ins[1]}.as_conv"
                wq = graph.constants[ins[1]]
                w.inits.pop(ins[1], None)
                w.const(w4, np.ascontiguousarray(wq.T).reshape(n, k, 1, 1))
                x4 = w.tmp(ins[0])
                y4 = w.tmp(out)
                w.add("Reshape", [ins[0], w.const(w.tmp("shape"),
                                                  np.array([rows, k, 1, 1], np.int64))],
                      [x4], node.name + ".to_nchw")
                w.add("QLinearConv", [x4, xs, xz, w4, ws, wz, ys, yz, *bias], [y4], node.name,
                      kernel_shape=[1, 1])
                w.add("Reshape", [y4, w.const(w.tmp("shape"),
                                              np.array(graph.shape(out), np.int64))],
                      [out], node.name + ".from_nchw")
        elif op == "qmatmul":
            a_s, a_z = _qparams(w, ins[0])
            b_s, b_z = _qparams(w, ins[1])
            ys, yz = _qparams(w, out)
            w.add("QLinearMatMul", [ins[0], a_s, a_z, ins[1], b_s, b_z, ys, yz], [out],
                  node.name)
        elif op in ("qadd", "qmul", "qlut", "qfloat"):
            float_op = {"qadd": "add", "qmul": "mul"}.get(op) or node.attrs["float_op"]
            fattrs = node.attrs.get("float_attrs", node.attrs)
            fins = []
            for t in (ins[:1] if op == "qlut" else ins):
                info = graph.tensors.get(t)
                q_in = t and info is not None and info.quant is not None and \
                    info.dtype in ("int8", "uint8") and t not in graph.constants
                fins.append(_dq(w, t) if q_in else t)
            fout = w.tmp(out + ".f")
            _float_node(w, node, fins, fout, fattrs, float_op)
            s, z = _qparams(w, out)
            w.add("QuantizeLinear", [fout, s, z], [out], node.name + ".quantize")
        elif op == "qglobal_avg_pool":
            xs, xz = _qparams(w, ins[0])
            ys, yz = _qparams(w, out)
            w.add("QLinearGlobalAveragePool", [ins[0], xs, xz, ys, yz], [out], node.name,
                  domain="com.microsoft", channels_last=0)
        else:
            _float_node(w, node, ins, out, node.attrs, op)

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
    if path is not None:
        write_bytes_atomic(path, model.SerializeToString())
    return model



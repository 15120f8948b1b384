"""Import ONNX models (float, QDQ, QOperator) into a :class:`networks.graph.Graph`.

``onnx`` is an optional dependency, imported only here. The whole model is checked before
anything is built: every node whose operator, domain or attribute value is not supported is
listed (name and type) in one ValueError, and no graph is returned.

* Float operators: Conv, Gemm, MatMul, BatchNormalization, Relu, Clip, HardSigmoid, HardSwish,
  Sigmoid, Mul, Add, Sub, Div, Concat, GlobalAveragePool, MaxPool, AveragePool, Flatten,
  Reshape, Transpose, Softmax, LayerNormalization, Gelu, Erf, Resize (nearest, asymmetric,
  floor), Identity, Dropout (inference), Constant.
* QDQ: QuantizeLinear / DequantizeLinear around float operators. A DequantizeLinear of a
  constant (quantized weights) is folded at import with ``reference.dequantize``;
  DequantizeLinear -> Conv / MatMul (int8 weights, int32 bias) -> QuantizeLinear then becomes
  one qconv / qmatmul, as ONNX Runtime's QDQ optimizer makes a QLinearConv of it; other chains
  stay quantize / dequantize nodes around float operators, executed as written.
* QOperator: QLinearConv, QLinearMatMul, and com.microsoft QGemm, QLinearAdd, QLinearMul,
  QLinearGlobalAveragePool, QLinearSigmoid; MaxPool, Flatten, Reshape, Transpose on int8/uint8
  tensors keep their quantization. Weight zero points must be 0 (symmetric weights).
  QLinearAdd / QLinearMul follow the DequantizeLinear -> op -> QuantizeLinear float32 contract;
  ONNX Runtime's AVX2 kernels for those two use a fixed-point approximation that can differ by
  one LSB.
"""

from __future__ import annotations

import os

import numpy as np

from networks.execute import build_lut
from networks.graph import Graph, Node, QuantParams, TensorInfo, infer_shape
from reference.quantize import dequantize as ref_dequantize

MS = "com.microsoft"

#: op_type -> {attribute: allowed values (None = any)}; domain "" unless listed in _DOMAIN.
SUPPORTED = {
    "Conv": {"kernel_shape": None, "strides": None, "pads": None, "dilations": None,
             "group": None, "auto_pad": {"NOTSET", "VALID"}},
    "Gemm": {"alpha": {1.0}, "beta": {1.0}, "transA": {0}, "transB": None},
    "MatMul": {}, "BatchNormalization": {"epsilon": None, "momentum": None,
                                         "training_mode": {0}},
    "Relu": {}, "Clip": {"min": None, "max": None}, "HardSigmoid": {"alpha": None, "beta": None},
    "HardSwish": {}, "Sigmoid": {}, "Mul": {}, "Add": {}, "Sub": {}, "Div": {},
    "Concat": {"axis": None}, "GlobalAveragePool": {},
    "MaxPool": {"kernel_shape": None, "strides": None, "pads": None, "ceil_mode": {0},
                "dilations": {(1, 1)}, "storage_order": {0}, "auto_pad": {"NOTSET"}},
    "AveragePool": {"kernel_shape": None, "strides": None, "pads": None, "ceil_mode": {0},
                    "count_include_pad": None, "auto_pad": {"NOTSET"}},
    "Flatten": {"axis": None}, "Reshape": {"allowzero": {0}}, "Transpose": {"perm": None},
    "Softmax": {"axis": None},
    "LayerNormalization": {"axis": None, "epsilon": None, "stash_type": {1}},
    "Gelu": {"approximate": None}, "Erf": {}, "Identity": {}, "Dropout": {"seed": None},
    "Resize": {"mode": {"nearest"}, "coordinate_transformation_mode": {"asymmetric"},
               "nearest_mode": {"floor"}},
    "Constant": {"value": None},
    "QuantizeLinear": {"axis": None, "saturate": {1}}, "DequantizeLinear": {"axis": None},
    "QLinearConv": {"kernel_shape": None, "strides": None, "pads": None, "dilations": None,
                    "group": None, "auto_pad": {"NOTSET"}},
    "QLinearMatMul": {},
    "QLinearAdd": {}, "QLinearMul": {}, "QLinearGlobalAveragePool": {"channels_last": {0}},
    "QLinearSigmoid": {}, "QGemm": {"alpha": {1.0}, "transA": {0}, "transB": None},
}
_DOMAIN = {"QGemm": MS, "QLinearAdd": MS, "QLinearMul": MS, "QLinearGlobalAveragePool": MS,
           "QLinearSigmoid": MS}
_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "HardSwish": "hardswish", "Erf": "erf",
          "Identity": "identity", "Dropout": "identity", "GlobalAveragePool": "global_avg_pool"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


def _attrs(onnx, node) -> dict:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list):
            v = tuple(v)
        out[a.name] = v
    return out


def _check(onnx, model, consts: set[str]) -> list[str]:
    problems = []
    for i, node in enumerate(model.graph.node):
        label = f"{node.name or f'<node {i}>'} ({node.op_type})"
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        if node.op_type not in SUPPORTED or _DOMAIN.get(node.op_type, "") != domain:
            problems.append(f"{label}: unsupported operator"
                            f"{f' in domain {domain!r}' if domain else ''}")
            continue
        allowed = SUPPORTED[node.op_type]
        for key, value in _attrs(onnx, node).items():
            if key not in allowed:
                problems.append(f"{label}: unsupported attribute {key}={value!r}")
            elif allowed[key] is not None and value not in allowed[key]:
                problems.append(f"{label}: unsupported {key}={value!r} (supported: "
                                f"{sorted(allowed[key], key=str)})")
        if node.op_type in ("Conv", "QLinearConv", "Gemm") and \
                node.input[1 if node.op_type != "QLinearConv" else 3] not in consts:
            problems.append(f"{label}: weights must be a constant initializer")
        if node.op_type == "QGemm" and (len(node.input) < 9 or not node.input[7]
                                        or node.input[3] not in consts):
            problems.append(f"{label}: needs constant weights and an output scale (int8 out)")
        if node.op_type == "Reshape" and node.input[1] not in consts:
            problems.append(f"{label}: shape must be a constant")
        if node.op_type == "Resize" and not any(
                t in consts for t in list(node.input[2:4]) if t):
            problems.append(f"{label}: scales or sizes must be constant")
    return problems


def import_onnx(model_or_path, *, batch: int | None = None,
                input_shapes: dict[str, tuple[int, ...]] | None = None,
                input_size: int | None = None, name: str | None = None) -> Graph:
    """Import an ONNX ``ModelProto`` or file. ``input_shapes`` fixes input shapes (symbolic
    dimensions otherwise take ``batch`` for the first and are an error elsewhere);
    ``input_size`` sets H = W of every 4-D (image) input."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:  # pragma: no cover - onnx is a test dependency
        raise ImportError("ONNX import needs the optional 'onnx' package") from e
    if isinstance(model_or_path, (str, os.PathLike)):
        model = onnx.load(os.fspath(model_or_path))
    elif isinstance(model_or_path, onnx.ModelProto):
        model = model_or_path
    else:
        raise TypeError(f"model_or_path must be a path or an onnx.ModelProto, got "
                        f"{type(model_or_path).__name__}")
    og = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in og.initializer}
    const_names = set(consts)
    for n in og.node:  # Constant outputs and dequantized constant weights (QDQ) fold
        if n.op_type == "Constant" or (n.op_type == "DequantizeLinear" and n.input
                                       and n.input[0] in const_names):
            const_names.update(n.output)
    problems = _check(onnx, model, const_names)
    if problems:
        raise ValueError(f"ONNX model {og.name or '<unnamed>'!r}: {len(problems)} unsupported "
                         f"node(s); nothing imported:\n  " + "\n  ".join(problems))
    if input_size is not None and (isinstance(input_size, bool) or
                                   not isinstance(input_size, int) or input_size < 1):
        raise ValueError(f"input_size must be a positive int, got {input_size!r}")
    imp = _Importer(onnx, model, consts, batch, input_shapes or {}, name)
    imp.input_size = input_size
    return imp.run()


class _Importer:
    def __init__(self, onnx, model, consts, batch, input_shapes, name):
        self.onnx = onnx
        self.model = model
        og = model.graph
        self.g = Graph(name=name or og.name or "onnx_model", nodes=[], tensors={},
                       constants={}, inputs=[], outputs=[o.name for o in og.output])
        self.consts = consts
        self.batch = batch
        self.input_shapes = input_shapes
        self.quantized = False
        self.input_size = None
        self.dq_origin: dict[str, tuple] = {}  # folded float weight -> (int values, scale, zp)

    # ------------------------------------------------------------------ helpers
    def c(self, name: str) -> np.ndarray:
        return self.consts[name]

    def fconst(self, name: str) -> str:
        """Register a float constant used by a node."""
        if name not in self.g.constants:
            self.g.constants[name] = np.asarray(self.consts[name], dtype=np.float32)
        return name

    def shape(self, t: str):
        return self.g.shape(t)

    def dtype(self, t: str) -> str:
        return self.g.tensors[t].dtype if t in self.g.tensors else "float32"

    def qp(self, scale_name: str, zp_name: str | None, bits: int = 8) -> QuantParams:
        s = np.asarray(self.c(scale_name), np.float32)
        zp = self.c(zp_name) if zp_name else np.uint8(0)
        signed = zp.dtype == np.int8
        if s.size > 1:
            return QuantParams(s.reshape(-1), zp.astype(np.int32).reshape(-1) if zp.size > 1
                               else 0, bits=bits, signed=signed, axis=0)
        return QuantParams(np.float32(s.reshape(())), int(zp.reshape(-1)[0]), bits=bits,
                           signed=signed)

    def set_quant(self, t: str, qp: QuantParams, where: str):
        info = self.g.tensors[t]
        if info.quant is not None:
            same = np.array_equal(np.asarray(info.quant.scale), np.asarray(qp.scale)) and \
                np.array_equal(np.asarray(info.quant.zero_point), np.asarray(qp.zero_point))
            if not same:
                raise ValueError(f"node {where!r}: tensor {t!r} has two different quantization "
                                 f"parameters")
            return
        info.quant = qp
        info.dtype = "int8" if qp.signed else "uint8"

    def qinput(self, t: str, qp: QuantParams, where: str) -> str:
        """An integer operand: a constant (registered with its parameters) or a tensor."""
        if t in self.consts:
            v = self.c(t)
            self.g.constants[t] = v
            self.g.tensors[t] = TensorInfo(t, v.shape, str(v.dtype), qp)
        else:
            self.set_quant(t, qp, where)
        return t

    def emit(self, op, inputs, out, name, attrs=None, dtype="float32", quant=None):
        attrs = attrs or {}
        shape = infer_shape(op, attrs, [self.shape(t) for t in inputs if t], where=name)
        self.g.tensors[out] = TensorInfo(out, shape, dtype, quant)
        self.g.nodes.append(Node(name, op, list(inputs), [out], attrs))

    def weight(self, name: str, qp: QuantParams) -> str:
        w = self.c(name)
        bits = 4 if w.dtype == np.int8 and w.size and w.min() >= -8 and w.max() <= 7 else 8
        qp = QuantParams(qp.scale, qp.zero_point, bits=bits, signed=qp.signed, axis=qp.axis)
        self.g.constants[name] = w
        self.g.tensors[name] = TensorInfo(name, w.shape, str(w.dtype), qp)
        return name

    # ------------------------------------------------------------------ run
    def run(self) -> Graph:
        og = self.model.graph
        init = set(self.consts)
        for vi in og.input:
            if vi.name in init:
                continue
            shape = self.input_shapes.get(vi.name)
            if shape is None:
                dims = vi.type.tensor_type.shape.dim
                shape = []
                for k, d in enumerate(dims):
                    if d.HasField("dim_value") and d.dim_value > 0:
                        shape.append(d.dim_value if not (k == 0 and self.batch) else self.batch)
                    elif k == 0:
                        shape.append(self.batch or 1)
                    else:
                        raise ValueError(f"input {vi.name!r} has a symbolic dimension {k}; pass "
                                         f"input_shapes={{{vi.name!r}: (...)}}")
            if self.input_size and len(shape) == 4 and vi.name not in self.input_shapes:
                shape = [shape[0], shape[1], self.input_size, self.input_size]
            et = vi.type.tensor_type.elem_type
            if et != self.onnx.TensorProto.FLOAT:
                raise ValueError(f"input {vi.name!r} must be float32, got elem_type {et}")
            self.g.tensors[vi.name] = TensorInfo(vi.name, tuple(shape))
            self.g.inputs.append(vi.name)
        for i, node in enumerate(og.node):
            self.node(node, node.name or f"{node.op_type}_{i}")
        g = self.g
        if self.quantized:
            self.fuse_qdq()
            wbits = [g.tensors[n.inputs[1]].quant.bits for n in g.nodes
                     if n.op in ("qconv", "qmatmul") and n.inputs[1] in g.constants]
            g.meta["precision"] = "w4a8" if wbits and sum(b == 4 for b in wbits) * 2 > \
                len(wbits) else "w8a8"
        else:
            g.meta["precision"] = "float32"
        g.meta.update(source="onnx", model=g.name)
        return g.validate()

    def fuse_qdq(self) -> None:
        """DequantizeLinear(x) -> Conv / MatMul (int8 weights, int32 bias) -> QuantizeLinear
        becomes one qconv / qmatmul, as ONNX Runtime's QDQ optimizer turns it into
        QLinearConv / QLinearMatMul; the integers run exactly and the workload sees 8-bit
        weights. Other DQ -> op -> Q chains stay as written."""
        g = self.g
        producer, consumers = g.producer(), g.consumers()
        drop: set[str] = set()
        for node in list(g.nodes):
            if node.op not in ("conv", "matmul") or node.inputs[1] not in self.dq_origin:
                continue
            dq = producer.get(node.inputs[0])
            users = consumers.get(node.outputs[0], [])
            if dq is None or dq.op != "dequantize" or len(users) != 1 or \
                    users[0].op != "quantize" or node.outputs[0] in g.outputs:
                continue
            q = users[0]
            wq, ws, wzp = self.dq_origin[node.inputs[1]]
            if wq.dtype != np.int8 or np.any(np.asarray(wzp)):
                continue
            bias = node.inputs[2] if len(node.inputs) > 2 else ""
            if bias and (bias not in self.dq_origin or self.dq_origin[bias][0].dtype != np.int32):
                continue
            is_conv = node.op == "conv"
            wname = node.inputs[1] + ":int"
            self.consts[wname] = wq
            self.weight(wname, QuantParams(ws.reshape(-1) if ws.size > 1 else ws.reshape(()), 0,
                                           axis=(0 if is_conv else 1) if ws.size > 1 else None))
            inputs = [dq.inputs[0], wname]
            if bias:
                bname = bias + ":int"
                self.g.constants[bname] = self.dq_origin[bias][0].astype(np.int32)
                self.g.tensors[bname] = TensorInfo(bname, self.g.constants[bname].shape, "int32")
                inputs.append(bname)
            node.op = "qconv" if is_conv else "qmatmul"
            node.inputs = inputs
            node.outputs = list(q.outputs)
            node.meta["onnx_names"] = [node.name, q.name]
            drop.add(q.name)
            g.tensors.pop(q.inputs[0], None)
        g.nodes = [n for n in g.nodes if n.name not in drop]
        consumers = g.consumers()
        g.nodes = [n for n in g.nodes if not (n.op == "dequantize" and not consumers.get(
            n.outputs[0]) and n.outputs[0] not in g.outputs)]
        used = {t for n in g.nodes for t in n.inputs}
        for t in [t for t in g.constants if t not in used]:
            del g.constants[t]

    def node(self, node, name):
        op, ins, out = node.op_type, list(node.input), node.output[0] if node.output else ""
        a = _attrs(self.onnx, node)
        if op == "Constant":
            self.consts[out] = self.onnx.numpy_helper.to_array(a["value"])
            return
        if op == "Conv":
            w = self.fconst(ins[1])
            k = self.shape(w)[2:]
            attrs = {"strides": a.get("strides", (1, 1)), "pads": a.get("pads", (0, 0, 0, 0)),
                     "dilations": a.get("dilations", (1, 1)), "group": a.get("group", 1)}
            b = self.fconst(ins[2]) if len(ins) > 2 and ins[2] else ""
            del k
            self.emit("conv", [ins[0], w] + ([b] if b else []), out, name, attrs)
        elif op == "Gemm":
            wv = self.c(ins[1]).astype(np.float32)
            wname = ins[1] + (".T" if a.get("transB", 0) else "")
            self.g.constants[wname] = np.ascontiguousarray(wv.T if a.get("transB", 0) else wv)
            b = self.fconst(ins[2]) if len(ins) > 2 and ins[2] else ""
            self.emit("matmul", [ins[0], wname] + ([b] if b else []), out, name)
        elif op == "MatMul":
            if ins[1] in self.consts:
                self.fconst(ins[1])
            self.emit("matmul", ins[:2], out, name)
        elif op == "BatchNormalization":
            self.emit("batchnorm", [ins[0]] + [self.fconst(t) for t in ins[1:5]], out, name,
                      {"epsilon": a.get("epsilon", 1e-5)})
        elif op == "LayerNormalization":
            self.emit("layernorm", [ins[0]] + [self.fconst(t) for t in ins[1:3] if t], out, name,
                      {"axis": a.get("axis", -1), "epsilon": a.get("epsilon", 1e-5)})
        elif op == "Clip":
            lo = float(self.c(ins[1])) if len(ins) > 1 and ins[1] else a.get("min", -np.inf)
            hi = float(self.c(ins[2])) if len(ins) > 2 and ins[2] else a.get("max", np.inf)
            self.emit("clip", ins[:1], out, name, {"min": lo, "max": hi})
        elif op == "HardSigmoid":
            self.emit("hardsigmoid", ins[:1], out, name,
                      {"alpha": a.get("alpha", 0.2), "beta": a.get("beta", 0.5)})
        elif op == "Gelu":
            self.emit("gelu", ins[:1], out, name, {"approximate": a.get("approximate", "none")})
        elif op in ("MaxPool", "AveragePool"):
            k = tuple(a["kernel_shape"])
            attrs = {"kernel_shape": k, "strides": a.get("strides", k),
                     "pads": a.get("pads", (0, 0, 0, 0))}
            if op == "AveragePool":
                attrs["count_include_pad"] = a.get("count_include_pad", 0)
                self.emit("avg_pool", ins[:1], out, name, attrs)
            elif self.dtype(ins[0]) != "float32":
                qp = self.g.tensors[ins[0]].quant
                self.emit("qmax_pool", ins[:1], out, name, attrs, self.dtype(ins[0]), qp)
            else:
                self.emit("max_pool", ins[:1], out, name, attrs)
        elif op in ("Flatten", "Reshape", "Transpose"):
            x_shape = self.shape(ins[0])
            if op == "Flatten":
                attrs = {"axis": a.get("axis", 1)}
            elif op == "Reshape":
                attrs = {"shape": tuple(int(v) for v in self.c(ins[1]))}
            else:
                attrs = {"perm": a.get("perm", tuple(reversed(range(len(x_shape)))))}
            self.emit(op.lower(), ins[:1], out, name, attrs, self.dtype(ins[0]),
                      self.g.tensors[ins[0]].quant)
        elif op in _UNARY:
            self.emit(_UNARY[op], ins[:1], out, name)
        elif op in _BINARY:
            operands = [self.fconst(t) if t in self.consts else t for t in ins]
            self.emit(_BINARY[op], operands, out, name)
        elif op == "Softmax":
            self.emit("softmax", ins[:1], out, name, {"axis": a.get("axis", -1)})
        elif op == "Concat":
            qps = [self.g.tensors[t].quant for t in ins]
            q = qps[0] if qps[0] is not None and all(
                p is not None and float(p.scale) == float(qps[0].scale)
                and p.zero_point == qps[0].zero_point for p in qps) else None
            self.emit("concat", ins, out, name, {"axis": a["axis"]},
                      self.dtype(ins[0]) if q else "float32", q)
        elif op == "Resize":
            x_shape = self.shape(ins[0])
            if len(ins) > 2 and ins[2] and ins[2] in self.consts and self.c(ins[2]).size:
                scales = tuple(float(s) for s in self.c(ins[2]))
            else:
                scales = tuple(float(s) / d for s, d in zip(self.c(ins[3]), x_shape))
            self.emit("resize_nearest", ins[:1], out, name, {"scales": scales})
        elif op == "QuantizeLinear":
            qp = self.qp(ins[1], ins[2] if len(ins) > 2 and ins[2] else None)
            self.quantized = True
            self.emit("quantize", ins[:1], out, name, {}, "int8" if qp.signed else "uint8", qp)
        elif op == "DequantizeLinear":
            qp = self.qp(ins[1], ins[2] if len(ins) > 2 and ins[2] else None)
            if ins[0] in self.consts:  # QDQ weights: fold
                q = self.c(ins[0])
                axis = a.get("axis", 1) if np.size(qp.scale) > 1 else None
                zp = self.c(ins[2]) if len(ins) > 2 and ins[2] else 0
                self.consts[out] = ref_dequantize(q, self.c(ins[1]), zp, axis=axis)
                self.dq_origin[out] = (q, np.asarray(self.c(ins[1]), np.float32), zp)
                return
            self.set_quant(ins[0], qp, name)
            self.emit("dequantize", ins[:1], out, name)
        elif op == "QLinearConv":
            self.quantized = True
            self.set_quant(ins[0], self.qp(ins[1], ins[2]), name)
            wqp = self.qp(ins[4], ins[5])
            if np.any(np.asarray(wqp.zero_point)):
                raise ValueError(f"node {name!r} (QLinearConv): weight zero points must be 0")
            w = self.weight(ins[3], QuantParams(wqp.scale, 0, signed=wqp.signed, axis=0))
            inputs = [ins[0], w]
            if len(ins) > 8 and ins[8]:
                self.g.constants[ins[8]] = self.c(ins[8]).astype(np.int32)
                self.g.tensors[ins[8]] = TensorInfo(ins[8], self.c(ins[8]).shape, "int32")
                inputs.append(ins[8])
            yq = self.qp(ins[6], ins[7])
            attrs = {"strides": a.get("strides", (1, 1)), "pads": a.get("pads", (0, 0, 0, 0)),
                     "dilations": a.get("dilations", (1, 1)), "group": a.get("group", 1)}
            self.emit("qconv", inputs, out, name, attrs, "int8" if yq.signed else "uint8", yq)
        elif op == "QLinearMatMul":
            self.quantized = True
            self.set_quant(ins[0], self.qp(ins[1], ins[2]), name)
            bqp = self.qp(ins[4], ins[5])
            if ins[3] in self.consts:
                b = self.weight(ins[3], QuantParams(bqp.scale, bqp.zero_point,
                                                    signed=bqp.signed,
                                                    axis=1 if bqp.axis is not None else None))
            else:
                b = ins[3]
                self.set_quant(b, bqp, name)
            yq = self.qp(ins[6], ins[7])
            self.emit("qmatmul", [ins[0], b], out, name, {}, "int8" if yq.signed else "uint8",
                      yq)
        elif op == "QGemm":  # com.microsoft: A, sA, zA, B, sB, zB, C (int32), sY, zY
            self.quantized = True
            self.set_quant(ins[0], self.qp(ins[1], ins[2]), name)
            bqp = self.qp(ins[4], ins[5])
            if np.any(np.asarray(bqp.zero_point)):
                raise ValueError(f"node {name!r} (QGemm): weight zero points must be 0")
            wv = self.c(ins[3])
            wname = ins[3] + (".T" if a.get("transB", 0) else "")
            self.consts[wname] = np.ascontiguousarray(wv.T if a.get("transB", 0) else wv)
            b = self.weight(wname, QuantParams(bqp.scale, 0, signed=bqp.signed,
                                               axis=1 if bqp.axis is not None else None))
            inputs = [ins[0], b]
            if ins[6]:
                self.g.constants[ins[6]] = self.c(ins[6]).astype(np.int32)
                self.g.tensors[ins[6]] = TensorInfo(ins[6], self.c(ins[6]).shape, "int32")
                inputs.append(ins[6])
            yq = self.qp(ins[7], ins[8])
            self.emit("qmatmul", inputs, out, name, {}, "int8" if yq.signed else "uint8", yq)
        elif op in ("QLinearAdd", "QLinearMul"):
            self.quantized = True
            self.qinput(ins[0], self.qp(ins[1], ins[2]), name)
            self.qinput(ins[3], self.qp(ins[4], ins[5]), name)
            yq = self.qp(ins[6], ins[7])
            self.emit("qadd" if op == "QLinearAdd" else "qmul", [ins[0], ins[3]], out, name, {},
                      "int8" if yq.signed else "uint8", yq)
        elif op == "QLinearGlobalAveragePool":
            self.quantized = True
            self.set_quant(ins[0], self.qp(ins[1], ins[2]), name)
            yq = self.qp(ins[3], ins[4])
            self.emit("qglobal_avg_pool", ins[:1], out, name, {},
                      "int8" if yq.signed else "uint8", yq)
        elif op == "QLinearSigmoid":
            self.quantized = True
            xq = self.qp(ins[1], ins[2])
            self.set_quant(ins[0], xq, name)
            yq = self.qp(ins[3], ins[4])
            lname = f"{name}.lut"
            self.g.constants[lname] = build_lut("sigmoid", {}, xq, yq)
            self.g.tensors[lname] = TensorInfo(lname, (256,), "int8" if yq.signed else "uint8",
                                               yq)
            self.emit("qlut", [ins[0], lname], out, name, {"float_op": "sigmoid"},
                      "int8" if yq.signed else "uint8", yq)
        else:  # pragma: no cover - _check rejects it first
            raise ValueError(f"node {name!r}: unsupported op {op!r}")

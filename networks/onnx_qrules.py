"""The importer's quantized operators (QDQ and QOperator) and ONNX Runtime's QDQ fusion.

Quantization parameters live on the graph's edges (:class:`networks.graph.QuantParams`): a
QuantizeLinear sets them on its output, a DequantizeLinear or QLinear* operator on its inputs,
and two readers of one tensor must agree. The integer type comes from the zero point's type
(int4/uint4, int8/uint8, int16/uint16; int32 for DequantizeLinear) or QuantizeLinear's
``output_dtype``, else uint8, as ONNX says; the layout from the scale's shape (one value: per
tensor; 1-D: per ``axis``; ``block_size``: blocked).
"""

from __future__ import annotations

import numpy as np

from networks.graph import QuantParams, TensorInfo
from networks.onnx_rules import _CONV_ATTRS, MS, OnnxNode, Refused, _conv_attrs, rule
from reference.quantize import dequantize as ref_dequantize

#: integer type name -> (bits, signed)
QTYPES = {"int4": (4, True), "uint4": (4, False), "int8": (8, True), "uint8": (8, False),
          "int16": (16, True), "uint16": (16, False), "int32": (32, True)}
#: QuantizeLinear's output_dtype (TensorProto enum) -> integer type name
_OUTPUT_DTYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 21: "uint4", 22: "int4"}


def storage(qp: QuantParams) -> str:
    """The graph dtype holding values of ``qp``'s type (4-bit values in 8-bit tensors)."""
    width = max(qp.bits, 8)
    return f"{'' if qp.signed else 'u'}int{width}"


def _type_of(imp, t: str) -> str:
    """Integer type name of a tensor or constant (4-bit constants keep their ONNX type)."""
    if t in imp.four_bit:
        return "int4" if imp.four_bit[t] else "uint4"
    return imp.dtype(t)


def linear_params(imp, n: OnnxNode, data_shape, scale_i: int, zp_i: int, *, qtype: str | None,
                  axis: int | None = None, block_size: int = 0) -> QuantParams:
    """QuantParams of a (De)QuantizeLinear-style (scale, zero point) input pair.

    ``qtype`` is the integer type when the zero point is absent (None: the zero point must
    say it); ``axis`` the per-axis dimension (None: ONNX's ``axis`` attribute)."""
    scale = imp.c(n, scale_i, "scale")
    if scale.dtype != np.float32:
        raise Refused(f"input {scale_i} (scale) has dtype {scale.dtype}; float32 only")
    if n.has(zp_i):
        zp = imp.c(n, zp_i, "zero point")
        zp_type = _type_of(imp, n.input(zp_i))
        if qtype is not None and zp_type != qtype:
            raise Refused(f"zero point type {zp_type} does not match the tensor type {qtype}")
        qtype = zp_type
    else:
        zp = np.zeros((), np.int32)
    if qtype not in QTYPES:
        raise Refused(f"integer type {qtype} is not supported (supported: {sorted(QTYPES)})")
    bits, signed = QTYPES[qtype]
    rank = len(data_shape)
    ax = n.attrs.get("axis", 1) if axis is None else axis
    if block_size or scale.size > 1:
        if not -rank <= ax < rank:
            raise Refused(f"axis={ax} out of range for rank {rank}")
        ax %= rank
    try:
        if block_size:
            if scale.ndim != rank:
                raise Refused(f"blocked scale of shape {scale.shape} for data of rank {rank}")
            z = np.broadcast_to(zp.astype(np.int32), scale.shape).copy()
            return QuantParams(scale, z, bits=bits, signed=signed, axis=ax,
                               block_size=int(block_size))
        if scale.size == 1:
            if zp.size != 1:
                raise Refused(f"zero point of shape {zp.shape} with a single scale")
            return QuantParams(np.float32(scale.reshape(())), int(zp.reshape(())), bits=bits,
                               signed=signed)
        if scale.ndim != 1 or scale.size != data_shape[ax]:
            raise Refused(f"scale of shape {scale.shape} is neither one value nor one per "
                          f"entry of axis {ax} (size {data_shape[ax]})")
        if zp.size not in (1, scale.size):
            raise Refused(f"zero point of shape {zp.shape} for {scale.size} scales")
        z = zp.astype(np.int32).reshape(-1) if zp.size > 1 else int(zp.reshape(()))
        if isinstance(z, int) and z:
            z = np.full(scale.size, z, np.int32)
        return QuantParams(scale.reshape(-1), z, bits=bits, signed=signed, axis=ax)
    except Refused:
        raise
    except ValueError as exc:  # QuantParams: scale <= 0, zero point out of range
        raise Refused(str(exc)) from None


def _per_tensor(qp: QuantParams, what: str) -> QuantParams:
    if not qp.per_tensor:
        raise Refused(f"{what} must be quantized per tensor")
    return qp


@rule("QuantizeLinear", min_version=10, attrs={"axis": None, "saturate": None,
                                               "block_size": None, "output_dtype": None,
                                               "precision": {0}})
def _quantize_linear(imp, n: OnnxNode):
    x = imp.float_input(n, 0)
    odt = int(n.attrs.get("output_dtype", 0))
    if odt and odt not in _OUTPUT_DTYPES:
        raise Refused(f"unsupported output_dtype={odt}")
    qtype = _OUTPUT_DTYPES.get(odt) if odt else (None if n.has(2) else "uint8")
    qp = linear_params(imp, n, imp.shape(x), 1, 2, qtype=qtype,
                       block_size=int(n.attrs.get("block_size", 0)))
    imp.quantized = True
    imp.emit("quantize", [x], n.out, n.name, {}, storage(qp), qp)


@rule("DequantizeLinear", min_version=10, attrs={"axis": None, "block_size": None,
                                                 "output_dtype": {0}})
def _dequantize_linear(imp, n: OnnxNode):
    x = n.input(0)
    qp = linear_params(imp, n, imp.shape(x), 1, 2, qtype=_type_of(imp, x),
                       block_size=int(n.attrs.get("block_size", 0)))
    if qp.bits == 32 and np.any(np.asarray(qp.zero_point)):
        raise Refused("an int32 input needs zero point 0")
    imp.quantized = True
    if imp.is_const(x):  # quantized weights or bias: fold to float, remember the integers
        v = imp.consts[x]
        zp = qp.zero_point
        zp = zp.astype(v.dtype) if isinstance(zp, np.ndarray) else zp
        imp.consts[n.out] = ref_dequantize(v, qp.scale, zp,
                                           axis=None if qp.per_tensor else qp.axis,
                                           block_size=qp.block_size or None)
        imp.dq_origin[n.out] = {"values": v, "quant": qp, "source": x}
        return
    imp.set_quant(x, qp, n.name)
    imp.emit("dequantize", [x], n.out, n.name)


def _activation(imp, n: OnnxNode, i: int, what: str) -> QuantParams:
    """Set the per-tensor parameters of an integer activation input ``i`` (scale i+1, zp i+2)."""
    t = n.input(i)
    qp = _per_tensor(linear_params(imp, n, imp.shape(t), i + 1, i + 2,
                                   qtype=_type_of(imp, t)), what)
    imp.qinput(n, i, qp)
    return qp


def _output_params(imp, n: OnnxNode, scale_i: int, zp_i: int) -> QuantParams:
    qp = linear_params(imp, n, (), scale_i, zp_i, qtype=None if n.has(zp_i) else "uint8")
    return _per_tensor(qp, "the output")


def _weights(imp, n: OnnxNode, i: int, axis: int) -> str:
    """Integer weights (constant) with their scale / zero point at i+1, i+2, per tensor or per
    ``axis``; bit width from explicit metadata."""
    w = imp.c(n, i, "weights")
    if w.dtype.name not in ("int8", "uint8"):
        raise Refused(f"weights {n.input(i)!r} have dtype {w.dtype}; int8 or uint8 only")
    qp = linear_params(imp, n, w.shape, i + 1, i + 2, qtype=_type_of(imp, n.input(i)),
                       axis=axis)
    return imp.weight(n.input(i), w, qp)


def _int32_bias(imp, n: OnnxNode, i: int) -> list[str]:
    if not n.has(i):
        return []
    b = imp.c(n, i, "bias")
    if b.dtype != np.int32:
        raise Refused(f"bias {n.input(i)!r} has dtype {b.dtype}; int32 only")
    name = n.input(i)
    imp.g.constants[name] = b
    imp.g.tensors[name] = TensorInfo(name, b.shape, "int32")
    return [name]


@rule("QLinearConv", min_version=10, attrs=_CONV_ATTRS)
def _qlinear_conv(imp, n: OnnxNode):
    imp.quantized = True
    _activation(imp, n, 0, "x")
    w = _weights(imp, n, 3, axis=0)
    attrs = _conv_attrs(n, imp.shape(n.input(0)), imp.shape(w))
    yq = _output_params(imp, n, 6, 7)
    imp.emit("qconv", [n.input(0), w, *_int32_bias(imp, n, 8)], n.out, n.name, attrs,
             storage(yq), yq)


def _b_operand(imp, n: OnnxNode, i: int) -> str:
    """QLinearMatMul's / QGemm's B: constant weights or a tensor, per tensor or per column."""
    b = n.input(i)
    rank = len(imp.shape(b))
    if imp.is_const(b):
        return _weights(imp, n, i, axis=rank - 1)
    qp = linear_params(imp, n, imp.shape(b), i + 1, i + 2, qtype=_type_of(imp, b),
                       axis=rank - 1)
    imp.set_quant(b, qp, n.name)
    return b


@rule("QLinearMatMul", min_version=10)
def _qlinear_matmul(imp, n: OnnxNode):
    imp.quantized = True
    _activation(imp, n, 0, "a")
    b = _b_operand(imp, n, 3)
    yq = _output_params(imp, n, 6, 7)
    imp.emit("qmatmul", [n.input(0), b], n.out, n.name, {}, storage(yq), yq)


@rule("QGemm", domain=MS, attrs={"alpha": {1.0}, "transA": {0}, "transB": {0, 1}},
      defaults={"alpha": 1.0, "transA": 0, "transB": 0})
def _qgemm(imp, n: OnnxNode):  # A, sA, zA, B, sB, zB, C (int32), sY, zY
    imp.quantized = True
    if not n.has(7):
        raise Refused("needs y_scale (a float output is not supported)")
    _activation(imp, n, 0, "A")
    if n.attrs.get("transB"):  # B^T's per-row scales are per column of B
        source = n.input(3)
        name = f"{source}.T"
        imp.consts[name] = np.ascontiguousarray(imp.c(n, 3, "weights").T)
        if source in imp.weight_bits:
            imp.weight_bits[name] = imp.weight_bits[source]
        n.inputs[3] = name
    b = _b_operand(imp, n, 3)
    yq = _output_params(imp, n, 7, 8)
    imp.emit("qmatmul", [n.input(0), b, *_int32_bias(imp, n, 6)], n.out, n.name, {},
             storage(yq), yq)


@rule("QLinearGlobalAveragePool", domain=MS, attrs={"channels_last": {0}},
      defaults={"channels_last": 0})
def _qlinear_global_avg_pool(imp, n: OnnxNode):
    imp.quantized = True
    _activation(imp, n, 0, "X")
    if len(imp.shape(n.input(0))) != 4:
        raise Refused(f"input shape {imp.shape(n.input(0))}: only 4-D NCHW is supported")
    yq = _output_params(imp, n, 3, 4)
    imp.emit("qglobal_avg_pool", [n.input(0)], n.out, n.name, {}, storage(yq), yq)


# ---------------------------------------------------------------------- QDQ fusion
def _fusable_weight(origin: dict, is_conv: bool, rank: int) -> bool:
    """Weights ONNX Runtime's QDQ fusion turns into QLinearConv / QLinearMatMul ones: 8-bit
    (or 4-bit) integers, per tensor or per output channel / column."""
    qp = origin["quant"]
    if origin["values"].dtype.name not in ("int8", "uint8") or qp.block_size:
        return False
    return qp.per_tensor or qp.axis == (0 if is_conv else rank - 1)


def _fusion_site(g, node, dq_origin, producer, consumers):
    """The (DequantizeLinear, QuantizeLinear) pair around ``node`` when it fuses, else None."""
    if node.op not in ("conv", "matmul") or node.inputs[1] not in dq_origin:
        return None
    dq = producer.get(node.inputs[0])
    users = consumers.get(node.outputs[0], [])
    if dq is None or dq.op != "dequantize" or len(users) != 1 or users[0].op != "quantize" \
            or node.outputs[0] in g.outputs:
        return None
    xq, yq = g.tensors[dq.inputs[0]].quant, g.tensors[users[0].outputs[0]].quant
    if xq.bits != 8 or yq.bits != 8 or not xq.per_tensor or not yq.per_tensor:
        return None
    origin = dq_origin[node.inputs[1]]
    if not _fusable_weight(origin, node.op == "conv", origin["values"].ndim):
        return None
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    if bias and (bias not in dq_origin or dq_origin[bias]["values"].dtype != np.int32):
        return None
    return dq, users[0]


def fuse_qdq(imp) -> None:
    """DequantizeLinear(x) -> Conv / MatMul (integer weights, int32 bias) -> QuantizeLinear
    becomes one qconv / qmatmul, as ONNX Runtime's QDQ optimizer turns it into
    QLinearConv / QLinearMatMul at its default optimization level; the integers run exactly.
    Other DQ -> op -> Q chains stay as written."""
    g = imp.g
    producer, consumers = g.producer(), g.consumers()
    drop: set[str] = set()
    for node in list(g.nodes):
        site = _fusion_site(g, node, imp.dq_origin, producer, consumers)
        if site is None:
            continue
        dq, q = site
        origin = imp.dq_origin[node.inputs[1]]
        wname = imp.weight(origin["source"], origin["values"], origin["quant"])
        inputs = [dq.inputs[0], wname]
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        if bias:
            bname = imp.dq_origin[bias]["source"]
            g.constants[bname] = imp.dq_origin[bias]["values"]
            g.tensors[bname] = TensorInfo(bname, g.constants[bname].shape, "int32")
            inputs.append(bname)
        node.op = "qconv" if node.op == "conv" else "qmatmul"
        node.inputs = inputs
        g.tensors.pop(node.outputs[0], None)
        node.outputs = list(q.outputs)
        node.meta["onnx_names"] = [node.name, q.name]
        drop.add(q.name)
    g.nodes = [n for n in g.nodes if n.name not in drop]
    consumers = g.consumers()
    g.nodes = [n for n in g.nodes if not (n.op == "dequantize" and not consumers.get(
        n.outputs[0]) and n.outputs[0] not in g.outputs)]


def refuse_float_reductions(imp) -> None:
    """A float32 convolution or matrix product whose result is quantized (DequantizeLinear ->
    Conv / MatMul / Gemm -> QuantizeLinear that ONNX Runtime runs in float32) cannot agree
    with ONNX Runtime bit for bit: MLAS sums it in its own blocked order, so a sum near a
    rounding boundary rounds the other way. Refused by name (ValueError listing them)."""
    g = imp.g
    consumers = g.consumers()
    bad = [f"{n.name} ({n.op})" for n in g.nodes
           if n.op in ("conv", "matmul", "Gemm", "MatMul", "ConvTranspose", "Einsum")
           and any(c.op == "quantize" for c in consumers.get(n.outputs[0], []))]
    if bad:
        raise ValueError(f"ONNX model {g.name!r}: {len(bad)} DequantizeLinear -> "
                         f"Conv/MatMul/Gemm -> QuantizeLinear group(s) that ONNX Runtime runs "
                         f"in float32 (MLAS's summation order, which gilt does not reproduce "
                         f"bit for bit); nothing imported: {bad[:8]}"
                         + (" ..." if len(bad) > 8 else ""))

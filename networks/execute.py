"""Execute a :class:`networks.graph.Graph` node by node on NumPy arrays.

The executor is a table, :data:`KERNELS`: graph operator name -> kernel ``(ctx, node,
inputs) -> output``. A kernel only unpacks the node (attributes, the quantization parameters of
its edges) and calls ``reference/``; every numeric rule (rounding, saturation, accumulation,
evaluation order) is a ``reference/`` function with its own "Numeric contract":

* float ``conv`` / ``matmul``: ``reference.conv_float.conv2d_float_blas`` /
  ``matmul_float_blas`` (``float_impl="blas"``, the default: fast, deterministic on one machine
  and thread count) or the fixed-order ``conv2d_float`` / ``matmul_float``
  (``float_impl="reference"``); the other float operators are ``reference.activations``,
  ``elementwise``, ``normalization`` and ``pooling``.
* ``quantize`` / ``dequantize``: ``reference.quantize`` (float32 division, round half to even,
  saturate; ``fl32(q - zp) * scale``), per tensor, per axis or blocked as the edge says.
* ``qconv`` / ``qmatmul``: exact integer ``conv2d_int`` / ``matmul_int`` (plus
  ``add_bias_int32``; ``graph.meta["accumulation"]``, default "exact", is their
  ``accumulation=``: "vpmaddubsw" reproduces ONNX Runtime's uint8 x int8 layers on x86 without
  VNNI), then ``reference.requantize`` in ``graph.meta["requantize_mode"]``
  (default "onnxruntime"); a fused activation is the requantize clamp
  (``reference.fusion.activation_clamp`` / ``clip_clamp``). Blocked int4 weights:
  ``reference.blocked.blocked_conv2d_requantize``.
* ``qadd`` / ``qmul`` / ``qfloat``: dequantize the integer inputs, the float operator,
  quantize: exactly ONNX's DequantizeLinear -> op -> QuantizeLinear. ``qlut``: the same chain
  for a unary operator, precomputed by ``reference.quantized_ops.dequantize_op_quantize_table``
  and applied by ``lut_apply``.
* ``qmax_pool``: ``reference.quantized_ops.quantized_max_pool2d``; ``qglobal_avg_pool``:
  ``reference.qlinear_ops.qlinear_global_average_pool`` (ONNX Runtime's kernel).
* ``gate``: ``reference.gating`` (``TopKChannelGate`` with ``topk_keep_count``, any channel
  ``GatingUnit``, ``threshold_channel_mask`` / ``_int``); a gated conv sees masked input
  channels as zeros (``apply_mask``; the zero point on integer maps).

Every compute node also yields an activity record (:class:`LayerActivity`, the table
:data:`ACTIVITY`): dense MACs, MACs skipped by the gate (``reference.gating.gate_macs``) and by
zero blocks (``reference.zeroskip.conv_zero_skip_macs`` / ``matmul_zero_skip_macs``), the gate
mask and the zero-block bitmap of its input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from networks.graph import Graph, Node, QuantParams
from networks.onnx_functions import FUNCTIONS, run_function
from reference import activations as ract
from reference import elementwise as relt
from reference import normalization as rnorm
from reference import pooling as rpool
from reference import quantized_ops as rqops
from reference.blocked import blocked_conv2d_requantize
from reference.conv_float import conv2d_float, conv2d_float_blas, matmul_float, matmul_float_blas
from reference.conv_int import conv2d_int
from reference.dtypes import storage_dtype
from reference.fusion import activation_clamp, clip_clamp
from reference.gating import (
    TopKChannelGate,
    apply_mask,
    gate_macs,
    threshold_channel_mask,
    threshold_channel_mask_int,
    topk_keep_count,
)
from reference.matmul_int import add_bias_int32, matmul_int
from reference.qlinear_ops import qlinear_global_average_pool
from reference.quantize import dequantize as ref_dequantize
from reference.quantize import quantize as ref_quantize
from reference.requantize import requantize
from reference.zeroskip import conv_zero_skip_macs, matmul_zero_skip_macs, zero_block_bitmap

#: Zero-skip block over a conv input: (channels, rows, cols) = one channel of a 4x4 tile (C7).
CONV_ZERO_BLOCK = (1, 4, 4)
#: Zero-skip block over a matmul's left operand: (rows, k).
MATMUL_ZERO_BLOCK = (4, 4)


@dataclass(frozen=True)
class LayerActivity:
    """What a compute node did in one golden run (``macs_dense == done + gate + zero``)."""

    name: str
    op: str
    macs_dense: int
    macs_skipped_gate: int = 0
    macs_skipped_zero: int = 0
    gate_mask: np.ndarray | None = None
    act_zero_bitmap: np.ndarray | None = None
    zero_block: tuple[int, ...] | None = None

    @property
    def macs_done(self) -> int:
        return self.macs_dense - self.macs_skipped_gate - self.macs_skipped_zero


@dataclass(frozen=True)
class Context:
    """What a kernel may read besides its node and inputs: the graph (edge quantization,
    shapes, meta) and the float implementation."""

    graph: Graph | None
    float_impl: str = "blas"

    def quant(self, tensor: str) -> QuantParams | None:
        info = self.graph.tensors.get(tensor) if self.graph is not None else None
        return None if info is None else info.quant


Kernel = Callable[[Context, Node, list], "np.ndarray | tuple"]
#: graph operator -> kernel
KERNELS: dict[str, Kernel] = {}


def kernel(*ops: str):
    """Register a kernel for graph operators ``ops``."""
    def register(fn: Kernel) -> Kernel:
        for op in ops:
            KERNELS[op] = fn
        return fn
    return register


def _opt(ins: list, i: int):
    return ins[i] if len(ins) > i else None


def _pads(node: Node) -> tuple:
    return tuple(node.attrs.get("pads", (0, 0, 0, 0)))


def _geometry(node: Node) -> dict:
    a = node.attrs
    return dict(strides=tuple(a["strides"]), pads=_pads(node), dilations=tuple(a["dilations"]),
                groups=a.get("group", 1))


def _zp(qp: QuantParams, like: np.ndarray):
    """An edge's zero point for a reference call: an int, or an array of the tensor's dtype."""
    zp = qp.zero_point
    return zp.astype(like.dtype) if isinstance(zp, np.ndarray) else zp


def _dtype(qp: QuantParams) -> str:
    return ("int" if qp.signed else "uint") + str(qp.bits)


def _layout(qp: QuantParams) -> dict:
    return dict(axis=qp.axis if not qp.per_tensor else None, block_size=qp.block_size or None)


def dequant(q: np.ndarray, qp: QuantParams) -> np.ndarray:
    """``reference.quantize.dequantize`` with an edge's parameters."""
    return ref_dequantize(q, qp.scale, _zp(qp, q), **_layout(qp))


def quant(x: np.ndarray, qp: QuantParams) -> np.ndarray:
    """``reference.quantize.quantize`` with an edge's parameters (its dtype from the edge)."""
    zp = qp.zero_point
    if isinstance(zp, np.ndarray):
        zp = zp.astype(storage_dtype(_dtype(qp)))
    return ref_quantize(x.astype(np.float32, copy=False), qp.scale, zp, dtype=_dtype(qp),
                        **_layout(qp))


# ---------------------------------------------------------------------- float kernels
def fused_activation(y: np.ndarray, attrs: dict) -> np.ndarray:
    """Apply a conv's fused activation (``attrs["activation"]``: None, "relu" or "clip" with
    ``act_min`` / ``act_max``)."""
    act = attrs.get("activation")
    if act is None:
        return y
    if act == "relu":
        return ract.relu(y)
    if act == "clip":
        return ract.clip(y, attrs["act_min"], attrs["act_max"])
    raise ValueError(f"fused activation must be None, 'relu' or 'clip', got {act!r}")


@kernel("conv")
def _conv(ctx: Context, node: Node, ins: list) -> np.ndarray:
    x, w, b, mask = ins[0], ins[1], _opt(ins, 2), _opt(ins, 3)
    if mask is not None:
        x = apply_mask(x, mask, kind="channel")
    impl = conv2d_float if ctx.float_impl == "reference" else conv2d_float_blas
    return fused_activation(impl(x, w, bias=b, **_geometry(node)), node.attrs)


@kernel("matmul")
def _matmul(ctx: Context, node: Node, ins: list) -> np.ndarray:
    a, b, bias = ins[0], ins[1], _opt(ins, 2)
    if ctx.float_impl == "reference":
        y = matmul_float(a, b)
        return y if bias is None else relt.add(y, bias)
    return matmul_float_blas(a, b, bias=bias)


@kernel("batchnorm")
def _batchnorm(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return rnorm.batch_norm(ins[0], *ins[1:5], epsilon=node.attrs.get("epsilon", 1e-5))


@kernel("layernorm")
def _layernorm(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return rnorm.layer_norm(ins[0], ins[1], _opt(ins, 2), axis=node.attrs.get("axis", -1),
                            epsilon=node.attrs.get("epsilon", 1e-5))


def _unary(fn: Callable, **defaults) -> Kernel:
    """A kernel calling ``fn(x, **attrs)`` with the node's attributes over ``defaults``."""
    def run(ctx: Context, node: Node, ins: list) -> np.ndarray:
        return fn(ins[0], **{k: node.attrs.get(k, v) for k, v in defaults.items()})
    return run


def _binary(fn: Callable) -> Kernel:
    return lambda ctx, node, ins: fn(ins[0], ins[1])


KERNELS.update({
    "relu": _unary(ract.relu),
    "clip": _unary(ract.clip, min=-np.inf, max=np.inf),
    "hardsigmoid": _unary(ract.hard_sigmoid, alpha=0.2, beta=0.5),
    "hardswish": _unary(ract.hard_swish),
    "sigmoid": _unary(ract.sigmoid),
    "silu": _unary(ract.silu),
    "gelu": _unary(ract.gelu, approximate="none"),
    "erf": _unary(ract.erf),
    "softmax": _unary(ract.softmax, axis=-1),
    "global_avg_pool": _unary(rpool.global_avg_pool2d),
    "add": _binary(relt.add),
    "sub": _binary(relt.sub),
    "mul": _binary(relt.mul),
    "div": _binary(relt.div),
})


def _window(node: Node) -> dict:
    a = node.attrs
    return dict(kernel_shape=a["kernel_shape"], strides=a.get("strides", (1, 1)),
                pads=_pads(node), dilations=a.get("dilations", (1, 1)))


KERNELS["max_pool"] = lambda ctx, node, ins: rpool.max_pool2d(ins[0], **_window(node))


@kernel("avg_pool")
def _avg_pool(ctx: Context, node: Node, ins: list) -> np.ndarray:
    a = node.attrs
    return rpool.avg_pool2d(ins[0], kernel_shape=a["kernel_shape"],
                            strides=a.get("strides", (1, 1)), pads=_pads(node),
                            count_include_pad=bool(a.get("count_include_pad", 0)))


@kernel("gate")
def _gate(ctx: Context, node: Node, ins: list) -> np.ndarray:
    """(N, C) bool channel mask. Strategies: ``topk`` (``keep`` fraction, at least one
    channel), ``threshold`` (mean activation > ``threshold``, real units), ``none`` (all kept),
    ``unit`` (any channel ``reference.gating.GatingUnit`` in ``attrs["unit"]``). Integer maps
    decide on exact integer sums of ``q - zp``."""
    a, x = node.attrs, ins[0]
    strategy = a.get("strategy", "topk")
    qp = ctx.quant(node.inputs[0]) if x.dtype.kind in "iu" else None
    if strategy in ("topk", "unit"):
        unit = a["unit"] if strategy == "unit" else TopKChannelGate(
            topk_keep_count(a.get("keep", 0.5), x.shape[1]))
        if getattr(unit, "kind", "channel") != "channel":
            raise ValueError(f"gate unit must be a channel GatingUnit, got kind {unit.kind!r}")
        if qp is not None:
            return unit.decide_int(x, scale=qp.scale, zero_point=qp.zero_point)
        return unit.decide(x)
    if strategy == "threshold":
        t = a.get("threshold", 0.0)
        if qp is not None:
            return threshold_channel_mask_int(x, t, scale=qp.scale, zero_point=qp.zero_point)
        return threshold_channel_mask(x, t)
    if strategy == "none":
        return np.ones(x.shape[:2], dtype=bool)
    raise ValueError(f"gate strategy must be 'topk', 'threshold', 'none' or 'unit', got "
                     f"{strategy!r}")


# ---------------------------------------------------------------------- data movement
@kernel("flatten", "reshape")
def _reshape(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return ins[0].reshape(ctx.graph.shape(node.outputs[0]))


@kernel("transpose")
def _transpose(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(ins[0], node.attrs.get("perm")))


@kernel("concat", "qconcat")
def _concat(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return relt.concat(ins, axis=node.attrs["axis"])


@kernel("resize_nearest")
def _resize_nearest(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return relt.resize_nearest(ins[0], scales=node.attrs["scales"])


@kernel("identity")
def _identity(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return ins[0]


# ---------------------------------------------------------------------- integer kernels
@kernel("quantize")
def _quantize(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return quant(ins[0], ctx.quant(node.outputs[0]))


@kernel("dequantize")
def _dequantize(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return dequant(ins[0], ctx.quant(node.inputs[0]))


def fused_activation_range(ty: QuantParams, attrs: dict) -> tuple[int, int]:
    """Output integer range of a conv with a fused activation (ReLU: from the zero point,
    Clip: its quantized bounds). With PTQ's calibrated ranges these are no-ops."""
    act = attrs.get("activation")
    if act == "clip":
        return clip_clamp(attrs["act_min"], attrs["act_max"], ty.scale, ty.zero_point,
                          dtype=_dtype(ty))
    return activation_clamp(act, ty.scale, ty.zero_point, dtype=_dtype(ty))


@kernel("qconv")
def _qconv(ctx: Context, node: Node, ins: list) -> np.ndarray:
    """Integer conv + requantize (the module docstring gives the contracts)."""
    x, w, bias, mask = ins[0], ins[1], _opt(ins, 2), _opt(ins, 3)
    tx, tw, ty = (ctx.quant(t) for t in (node.inputs[0], node.inputs[1], node.outputs[0]))
    if mask is not None:
        x = apply_mask(x, mask, kind="channel", fill=tx.zero_point)
    geo = _geometry(node)
    if tw.block_size:
        if geo.pop("groups") != 1:
            raise ValueError(f"node {node.name!r}: blocked weight quantization needs group 1")
        return blocked_conv2d_requantize(
            x, w, tw.scale, bias, x_scale=tx.scale, x_zero_point=tx.zero_point,
            y_scale=ty.scale, y_zero_point=ty.zero_point, block_size=tw.block_size,
            dtype=_dtype(ty), **geo)
    acc = conv2d_int(x, w, x_zero_point=tx.zero_point, w_zero_point=_zp(tw, w), bias=bias,
                     accumulation=ctx.graph.meta.get("accumulation", "exact"), **geo)
    return requantize(acc, tx.scale, tw.scale, ty.scale, ty.zero_point,
                      mode=ctx.graph.meta.get("requantize_mode", "onnxruntime"),
                      dtype=_dtype(ty), axis=1, clamp=fused_activation_range(ty, node.attrs))


@kernel("qmatmul")
def _qmatmul(ctx: Context, node: Node, ins: list) -> np.ndarray:
    a, b, bias = ins[0], ins[1], _opt(ins, 2)
    ta, tb, ty = (ctx.quant(t) for t in (node.inputs[0], node.inputs[1], node.outputs[0]))
    acc = matmul_int(a, b, a_zero_point=ta.zero_point, b_zero_point=_zp(tb, b),
                     accumulation=ctx.graph.meta.get("accumulation", "exact"))
    if bias is not None:
        acc = add_bias_int32(acc, bias)
    return requantize(acc, ta.scale, tb.scale, ty.scale, ty.zero_point,
                      mode=ctx.graph.meta.get("requantize_mode", "onnxruntime"),
                      dtype=_dtype(ty), axis=-1)


@kernel("qlut")
def _qlut(ctx: Context, node: Node, ins: list) -> np.ndarray:
    return rqops.lut_apply(ins[0], ins[1])


@kernel("qglobal_avg_pool")
def _qglobal_avg_pool(ctx: Context, node: Node, ins: list) -> np.ndarray:
    tx, ty = ctx.quant(node.inputs[0]), ctx.quant(node.outputs[0])
    return qlinear_global_average_pool(ins[0], tx.scale, tx.zero_point, ty.scale,
                                       ty.zero_point)


KERNELS["qmax_pool"] = lambda ctx, node, ins: rqops.quantized_max_pool2d(ins[0],
                                                                         **_window(node))


def _float_inputs(ctx: Context, node: Node, ins: list) -> list:
    out = []
    for t, v in zip(node.inputs, ins):
        qp = ctx.quant(t) if t else None
        is_q = v is not None and qp is not None and v.dtype.kind in "iu" and \
            ctx.graph.tensors[t].dtype in ("int8", "uint8")
        out.append(dequant(v, qp) if is_q else v)
    return out


def run_qfloat(ctx: Context, node: Node, ins: list, float_op: str) -> np.ndarray:
    """Dequantize the integer inputs, run the float op, quantize the output."""
    fake = Node(node.name, float_op, node.inputs, node.outputs,
                dict(node.attrs.get("float_attrs", {})))
    y = KERNELS[float_op](ctx, fake, _float_inputs(ctx, node, ins))
    qout = ctx.quant(node.outputs[0])
    return quant(y, qout) if qout is not None else y


KERNELS.update({
    "qadd": lambda ctx, node, ins: run_qfloat(ctx, node, ins, "add"),
    "qmul": lambda ctx, node, ins: run_qfloat(ctx, node, ins, "mul"),
    "qfloat": lambda ctx, node, ins: run_qfloat(ctx, node, ins, node.attrs["float_op"]),
})


def _function_kernel(op: str) -> Kernel:
    """A row of ``networks.onnx_functions``: the ONNX operator's reference function on the
    node's inputs (absent ones None), attributes and opset."""
    def run(ctx: Context, node: Node, ins: list):
        outs = run_function(op, ins, node.attrs.get("attributes", {}),
                            opset=node.attrs["opset"], n_outputs=len(node.outputs))
        return tuple(outs) if len(outs) > 1 else outs[0]
    return run


KERNELS.update({op: _function_kernel(op) for op in FUNCTIONS})


def build_lut(float_op: str, attrs: dict, qin: QuantParams, qout: QuantParams) -> np.ndarray:
    """256-entry table of ``quantize(op(dequantize(q)))`` over every int8/uint8 input,
    indexed by ``q - qmin`` (``reference.quantized_ops.dequantize_op_quantize_table``)."""
    fake = Node("lut", float_op, ["x"], ["y"], dict(attrs))
    return rqops.dequantize_op_quantize_table(
        lambda x: KERNELS[float_op](Context(None), fake, [x]), in_scale=qin.scale,
        in_zero_point=qin.zero_point, in_dtype=_dtype(qin), out_scale=qout.scale,
        out_zero_point=qout.zero_point, out_dtype=_dtype(qout))


def run_node(graph: Graph | None, node: Node, ins: list, *, float_impl: str = "blas"):
    """Compute one node (a graph operator of :data:`KERNELS`) on its input arrays."""
    fn = KERNELS.get(node.op)
    if fn is None:
        raise ValueError(f"node {node.name!r}: no kernel for op {node.op!r}")
    return fn(Context(graph, float_impl), node, ins)


# ---------------------------------------------------------------------- activity records
def zero_blocks(real_zero: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """Bitmap over the trailing ``len(block)`` dims: True where a whole block is zero (edge
    blocks may be short). ``real_zero`` is a bool array, True where the element is 0
    (``reference.zeroskip.zero_block_bitmap``)."""
    full = (1,) * (real_zero.ndim - len(block)) + tuple(block)
    return zero_block_bitmap(real_zero, full, zero_point=True)


def conv_activity(node: Node, x_is_zero: np.ndarray, mask: np.ndarray | None, w_shape,
                  out_shape, zero_skip: bool, x_hw: tuple[int, int] | None = None
                  ) -> LayerActivity:
    """MACs of a conv split into done / skipped by the gate (masked input channels) / skipped
    by zero blocks (every MAC that reads an input element of an all-zero block, counted only on
    channels the gate kept). Padding taps count as done."""
    n, o, oh, ow = out_shape
    _, cg, kh, kw = w_shape
    geo = _geometry(node)
    dense = n * o * oh * ow * cg * kh * kw
    if x_hw is None:
        x_hw = x_is_zero.shape[2:]
    gate_skip = 0
    if mask is not None:
        _, gate_skip = gate_macs(mask, "channel", (n, mask.shape[1], *x_hw), w_shape,
                                 out_hw=(oh, ow), **geo)
    zero_skip_macs, bitmap = 0, None
    if zero_skip:
        bitmap = zero_blocks(x_is_zero, CONV_ZERO_BLOCK)
        zero_skip_macs = conv_zero_skip_macs(bitmap, (1, *CONV_ZERO_BLOCK), x_is_zero.shape,
                                             w_shape, out_hw=(oh, ow), channel_mask=mask,
                                             **geo)
    return LayerActivity(node.name, node.op, dense, gate_skip, zero_skip_macs,
                         None if mask is None else mask.copy(), bitmap,
                         CONV_ZERO_BLOCK if zero_skip else None)


def matmul_activity(node: Node, a_shape, a_is_zero: np.ndarray | None, out_shape
                    ) -> LayerActivity:
    """MACs of ``a @ b``; with a zero bitmap, every MAC reading an all-zero (4 x 4) block of
    ``a`` is skipped."""
    dense = math.prod(out_shape) * a_shape[-1]
    if a_is_zero is None or a_is_zero.ndim < 2:
        return LayerActivity(node.name, node.op, dense)
    bitmap = zero_blocks(a_is_zero, MATMUL_ZERO_BLOCK)
    skipped = matmul_zero_skip_macs(bitmap, MATMUL_ZERO_BLOCK, a_is_zero.shape, out_shape)
    return LayerActivity(node.name, node.op, dense, 0, skipped, None, bitmap, MATMUL_ZERO_BLOCK)


def _is_zero(graph: Graph, tensor: str, value: np.ndarray) -> np.ndarray:
    info = graph.tensors.get(tensor)
    if info is not None and info.quant is not None and value.dtype.kind in "iu":
        return value == np.asarray(info.quant.zero_point, value.dtype)
    return value == 0


def _conv_record(graph, node, ins, y, zero_skip):
    x_zero = _is_zero(graph, node.inputs[0], ins[0]) if zero_skip else None
    return conv_activity(node, x_zero, _opt(ins, 3), ins[1].shape, y.shape, zero_skip,
                         ins[0].shape[2:])


def _matmul_record(graph, node, ins, y, zero_skip):
    a_zero = _is_zero(graph, node.inputs[0], ins[0]) if zero_skip else None
    return matmul_activity(node, ins[0].shape, a_zero, y.shape)


#: compute operator -> activity record maker
ACTIVITY = {"conv": _conv_record, "qconv": _conv_record, "matmul": _matmul_record,
            "qmatmul": _matmul_record}


# ---------------------------------------------------------------------- the loop
def _graph_inputs(graph: Graph, inputs: dict) -> dict[str, np.ndarray]:
    missing = [n for n in graph.inputs if n not in inputs]
    if missing:
        raise ValueError(f"inputs is missing graph input(s) {missing}; got {sorted(inputs)}")
    values: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        arr = np.asarray(inputs[name])
        if arr.dtype.name in ("int4", "uint4"):  # ml_dtypes 4-bit: one value per byte
            arr = arr.astype(np.int8 if arr.dtype.name == "int4" else np.uint8)
        info = graph.tensors[name]
        if arr.shape != info.shape:
            raise ValueError(f"input {name!r} has shape {arr.shape}, expected {info.shape}")
        if info.dtype != "float32" and arr.dtype.name != info.dtype:
            raise ValueError(f"input {name!r} has dtype {arr.dtype.name}, expected "
                             f"{info.dtype}")
        values[name] = arr.astype(np.float32, copy=False) if arr.dtype.kind == "f" else arr
    return values


def _last_uses(graph: Graph) -> dict[str, int]:
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            last_use[t] = i
    return last_use


def _check_output(graph: Graph, node: Node, tensor: str, value: np.ndarray) -> None:
    """A kernel's result must have the shape the graph declared (no silent reshaping)."""
    info = graph.tensors.get(tensor)
    if info is not None and np.shape(value) != info.shape:
        raise ValueError(f"node {node.name!r} ({node.op}) produced {tensor!r} of shape "
                         f"{np.shape(value)}, the graph declares {info.shape}")


def _value(graph: Graph, values: dict, tensor: str):
    if not tensor:
        return None
    return values[tensor] if tensor in values else graph.constants[tensor]


def run_graph(graph: Graph, inputs: dict, *, keep="all", zero_skip: bool | None = None,
              float_impl: str = "blas",
              before_node: Callable[[Node, dict], None] | None = None
              ) -> tuple[dict, dict, list[LayerActivity]]:
    """Run every node. Returns ``(kept tensors, outputs, activity records)``.

    ``keep``: "all", a collection of tensor names (graph outputs are always returned in
    ``outputs``), or () for none; tensors not kept are freed as soon as their last consumer has
    run, which bounds memory. ``zero_skip``: measure zero blocks on compute inputs (default:
    ``graph.meta["zero_skip"]``)."""
    if zero_skip is None:
        zero_skip = bool(graph.meta.get("zero_skip", False))
    values = _graph_inputs(graph, inputs)
    keep_all = keep == "all"
    keep_set = set() if keep_all else set(keep)
    last_use = _last_uses(graph)
    ctx = Context(graph, float_impl)
    kept: dict[str, np.ndarray] = {}
    records: list[LayerActivity] = []
    for i, node in enumerate(graph.nodes):
        if before_node is not None:
            before_node(node, values)
        ins = [_value(graph, values, t) for t in node.inputs]
        fn = KERNELS.get(node.op)
        if fn is None:
            raise ValueError(f"node {node.name!r}: no kernel for op {node.op!r}")
        y = fn(ctx, node, ins)
        ys = y if isinstance(y, tuple) else (y,)
        if node.op in ACTIVITY:
            records.append(ACTIVITY[node.op](graph, node, ins, ys[0], zero_skip))
        for out, value in zip(node.outputs, ys):
            if not out:
                continue
            _check_output(graph, node, out, value)
            values[out] = value
            if keep_all or out in keep_set:
                kept[out] = value
        for t in node.inputs:
            if t in values and last_use.get(t) == i and t not in graph.outputs:
                del values[t]
    if keep_all:
        for name in graph.inputs:
            kept.setdefault(name, values.get(name, inputs[name]))
    outputs = {t: _value(graph, values, t) for t in graph.outputs}
    return kept, outputs, records


def run_float(graph: Graph, inputs: dict, *, keep=(), before_node=None, float_impl="blas"):
    """Convenience: run a float graph, return (kept, outputs, records)."""
    return run_graph(graph, inputs, keep=keep, before_node=before_node, float_impl=float_impl)

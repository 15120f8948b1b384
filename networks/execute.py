"""Execute a :class:`networks.graph.Graph` node by node on NumPy arrays.

Float graphs run the ``reference/`` float operators, except conv and matmul, which by default go
through im2col + float32 BLAS (``float_impl="blas"``: fast, deterministic on one machine and
thread count, within a few ulp of ``reference.conv_float``'s fixed evaluation order, which
``float_impl="reference"`` selects).

Quantized graphs (produced by ``networks.quantize`` or ONNX QOperator/QDQ import) run integer
operators. Their numeric contracts, which the ONNX Runtime cross-checks pin down:

* ``quantize`` / ``dequantize``: ``reference.quantize`` / ``reference.dequantize`` (float32
  division, round half to even, saturate; ``float32(q - zp) * scale``).
* ``qconv`` / ``qmatmul``: exact int32 accumulation (``reference.conv2d_int`` /
  ``reference.matmul_int``) plus int32 bias ``round(b / (s_x s_w))``, then ONNX Runtime's
  requantization: ``m = float32(float32(s_x * s_w) / s_y)`` per output channel,
  ``y = clamp(rint(float32(acc) * m), qmin - zp, qmax - zp) + zp`` (round half to even).
  A fused ReLU is the output range itself (its zero point is qmin, so saturation is the ReLU).
  ``graph.meta["accumulation"]`` (default ``"exact"``) is passed to both as ``accumulation=``:
  ``"vpmaddubsw"`` reproduces ONNX Runtime's uint8 x int8 layers on x86 without VNNI.
  Blocked int4 weights: one exact int32 sum per input-channel block, combined in float64
  ``sum_b acc_b * s_w[o, b]``, times ``s_x / s_y`` in float64, then round half even.
* ``qadd`` / ``qmul`` (and ``qfloat``, any other operator): dequantize every input as above,
  apply the float32 operator, quantize the result; exactly ONNX's DequantizeLinear -> op ->
  QuantizeLinear.
* ``qlut``: a unary operator as a 256-entry table built by the same dequantize -> op ->
  quantize chain (identical results, one gather per element).
* ``qmax_pool``: integer max (exact); ``qglobal_avg_pool``: exact int32 window sum of
  ``q - zp_x``, then requantize with ``m = float32(s_x / float32(s_y * float32(H*W)))``
  (ONNX Runtime's QLinearGlobalAveragePool).
* ``gate``: per-sample channel scores = mean over H, W (integer sums of ``q - zp`` on quantized
  tensors, float32 means on float ones); ``topk`` keeps the ``keep`` fraction (at least one
  channel, ties to the lower channel index), ``threshold`` keeps scores above ``threshold``
  (in real units). A gated conv sees masked input channels as exact zeros and skips their MACs.

Every compute node yields an activity record (:class:`LayerActivity`): dense MACs, MACs skipped
by the gate and by zero blocks, the gate mask and the zero-block bitmap of its input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from networks.graph import Graph, Node, QuantParams
from reference import activations as ract
from reference import elementwise as relt
from reference import normalization as rnorm
from reference import pooling as rpool
from reference.conv_float import conv2d_float, matmul_float
from reference.conv_int import conv2d_int
from reference.gating import TopKChannelGate, gate_macs
from reference.matmul_int import matmul_int
from reference.quantize import dequantize as ref_dequantize
from reference.quantize import quantize as ref_quantize
from reference.requantize import requantize
from reference.zeroskip import zero_block_bitmap

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


# ---------------------------------------------------------------------- float helpers
def _im2col(x: np.ndarray, kh: int, kw: int, strides, pads, dilations, oh: int, ow: int
            ) -> np.ndarray:
    """(N, C, H, W) -> (N, C*kh*kw, oh*ow) with zero padding."""
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    if any(pads):
        xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=x.dtype)
        xp[:, :, pt:pt + h, pl:pl + w] = x
    else:
        xp = x
    sh, sw = strides
    dh, dw = dilations
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                  j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return cols.reshape(n, c * kh * kw, oh * ow)


def conv_blas(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, *, strides, pads,
              dilations, group: int, out_shape) -> np.ndarray:
    """Float32 conv through im2col + BLAS (grouped: one matmul per group; depthwise: taps)."""
    n, o, oh, ow = out_shape
    _, cg, kh, kw = w.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    if group > 1 and cg == 1 and o == group:  # depthwise: multiply-add per tap
        y = np.zeros((n, o, oh, ow), dtype=np.float32)
        pt, pl, pb, pr = pads
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))) if any(pads) else x
        for i in range(kh):
            for j in range(kw):
                tap = xp[:, :, i * dilations[0]:i * dilations[0] + strides[0] * (oh - 1) + 1:
                         strides[0], j * dilations[1]:j * dilations[1] + strides[1] * (ow - 1)
                         + 1:strides[1]]
                y += tap * w[None, :, 0, i, j, None, None]
    else:
        if kh == kw == 1 and strides == (1, 1) and not any(pads):
            cols = x.reshape(n, x.shape[1], oh * ow)
        else:
            cols = _im2col(x, kh, kw, strides, pads, dilations, oh, ow)
        if group == 1:
            y = np.matmul(w.reshape(o, -1), cols)
        else:
            k = cg * kh * kw
            cols = cols.reshape(n, group, k, oh * ow)
            y = np.matmul(w.reshape(group, o // group, k)[None], cols)
        y = y.reshape(n, o, oh, ow)
    if bias is not None:
        y += bias.reshape(1, o, 1, 1)
    return y


# ---------------------------------------------------------------------- activity helpers
def _tap_uses(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int
              ) -> np.ndarray:
    """How many (output position, tap) pairs read each input position along one axis."""
    uses = np.zeros(size, dtype=np.int64)
    for i in range(kernel):
        pos = np.arange(out) * stride + i * dilation - pad
        pos = pos[(pos >= 0) & (pos < size)]
        np.add.at(uses, pos, 1)
    return uses


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
    group = node.attrs.get("group", 1)
    dense = n * o * oh * ow * cg * kh * kw
    if x_hw is None:
        x_hw = x_is_zero.shape[2:]
    gate_skip = 0
    if mask is not None:
        _, gate_skip = gate_macs(mask, "channel", (n, mask.shape[1], *x_hw), w_shape,
                                 strides=node.attrs["strides"], pads=_attr_pads(node),
                                 dilations=node.attrs["dilations"], groups=group,
                                 out_hw=(oh, ow))
    zero_skip_macs = 0
    bitmap = None
    if zero_skip:
        bitmap = zero_blocks(x_is_zero, CONV_ZERO_BLOCK)
        h, w = x_is_zero.shape[2:]
        s, p, d = node.attrs["strides"], node.attrs["pads"], node.attrs["dilations"]
        uh = _tap_uses(h, kh, s[0], p[0], d[0], oh)
        uw = _tap_uses(w, kw, s[1], p[1], d[1], ow)
        uses = np.outer(uh, uw)  # reads of input (h, w) per output channel
        zero_elems = np.repeat(np.repeat(bitmap, 4, axis=2), 4, axis=3)[:, :, :h, :w]
        if mask is not None:
            zero_elems = zero_elems & mask[:, :, None, None]
        zero_skip_macs = int((zero_elems * uses[None, None]).sum()) * (o // group)
    return LayerActivity(node.name, node.op, dense, gate_skip, zero_skip_macs,
                         None if mask is None else mask.copy(), bitmap,
                         CONV_ZERO_BLOCK if zero_skip else None)


def matmul_activity(node: Node, a_shape, a_is_zero: np.ndarray | None, out_shape
                    ) -> LayerActivity:
    """MACs of ``a @ b``; with a zero bitmap, every MAC reading an all-zero (4 x 4) block of
    ``a`` is skipped."""
    k = a_shape[-1]
    dense = math.prod(out_shape) * k
    if a_is_zero is None or a_is_zero.ndim < 2:
        return LayerActivity(node.name, node.op, dense)
    bitmap = zero_blocks(a_is_zero, MATMUL_ZERO_BLOCK)
    m = a_is_zero.shape[-2]
    elems = np.repeat(np.repeat(bitmap, 4, axis=-2), 4, axis=-1)[..., :m, :k]
    n_out = out_shape[-1]
    batch_rep = math.prod(out_shape[:-2]) // max(1, math.prod(a_is_zero.shape[:-2]))
    skipped = int(elems.sum()) * n_out * batch_rep
    return LayerActivity(node.name, node.op, dense, 0, skipped, None, bitmap, MATMUL_ZERO_BLOCK)


# ---------------------------------------------------------------------- gate
def decide_gate(attrs: dict, x: np.ndarray, qp: QuantParams | None = None) -> np.ndarray:
    """(N, C) bool channel mask of a gate node. Strategies: ``topk`` (``keep`` fraction of the
    channels, at least one: ``reference.gating.TopKChannelGate``), ``threshold`` (mean
    activation > ``threshold``, real units), ``none`` (all kept), ``unit`` (any channel
    ``reference.gating.GatingUnit`` in ``attrs["unit"]``). Integer maps decide on exact
    integer sums of ``q - zp`` (``decide_int``)."""
    strategy = attrs.get("strategy", "topk")
    n, c = x.shape[:2]
    is_int = x.dtype.kind in "iu"
    if strategy in ("topk", "unit"):
        unit = attrs["unit"] if strategy == "unit" else TopKChannelGate(
            max(1, min(c, int(round(attrs.get("keep", 0.5) * c)))))
        if getattr(unit, "kind", "channel") != "channel":
            raise ValueError(f"gate unit must be a channel GatingUnit, got kind {unit.kind!r}")
        if is_int:
            return unit.decide_int(x, scale=qp.scale, zero_point=qp.zero_point)
        return unit.decide(x)
    if strategy == "threshold":
        if is_int:
            sums = (x.reshape(n, c, -1).astype(np.int64) - int(qp.zero_point)).sum(axis=2)
            scores = sums.astype(np.float64) * float(qp.scale) / x[0, 0].size
        else:
            scores = x.reshape(n, c, -1).mean(axis=2, dtype=np.float32)
        return scores > attrs.get("threshold", 0.0)
    if strategy == "none":
        return np.ones((n, c), dtype=bool)
    raise ValueError(f"gate strategy must be 'topk', 'threshold', 'none' or 'unit', got "
                     f"{strategy!r}")


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
        return np.clip(y, np.float32(attrs["act_min"]), np.float32(attrs["act_max"]))
    raise ValueError(f"fused activation must be None, 'relu' or 'clip', got {act!r}")


def _attr_pads(node):
    return tuple(node.attrs.get("pads", (0, 0, 0, 0)))


def run_float_node(graph: Graph, node: Node, ins: list, *, float_impl: str = "blas"):
    """Compute one float node; returns the output array (gate: bool mask)."""
    op, a = node.op, node.attrs
    x = ins[0]
    if op == "conv":
        w = ins[1]
        b = ins[2] if len(ins) > 2 and ins[2] is not None else None
        mask = ins[3] if len(ins) > 3 else None
        if mask is not None:
            x = x * mask[:, :, None, None].astype(x.dtype)
        if float_impl == "reference":
            y = conv2d_float(x, w, bias=b, strides=a["strides"], pads=_attr_pads(node),
                             dilations=a["dilations"], groups=a.get("group", 1))
        else:
            y = conv_blas(x, w, b, strides=tuple(a["strides"]), pads=_attr_pads(node),
                          dilations=tuple(a["dilations"]), group=a.get("group", 1),
                          out_shape=graph.shape(node.outputs[0]))
        return fused_activation(y, a)
    if op == "matmul":
        b = ins[1]
        y = matmul_float(x, b) if float_impl == "reference" else np.matmul(
            x.astype(np.float32), b.astype(np.float32))
        if len(ins) > 2 and ins[2] is not None:
            y = y + ins[2]
        return y.astype(np.float32, copy=False)
    if op == "batchnorm":
        return rnorm.batch_norm(x, *ins[1:5], epsilon=a.get("epsilon", 1e-5))
    if op == "layernorm":
        bias = ins[2] if len(ins) > 2 else None
        return rnorm.layer_norm(x, ins[1], bias, axis=a.get("axis", -1),
                                epsilon=a.get("epsilon", 1e-5))
    if op == "relu":
        return ract.relu(x)
    if op == "clip":
        lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        return np.clip(x, np.float32(lo), np.float32(hi)).astype(np.float32)
    if op == "hardsigmoid":
        return ract.hard_sigmoid(x, alpha=a.get("alpha", 0.2), beta=a.get("beta", 0.5))
    if op == "hardswish":
        return ract.hard_swish(x)
    if op == "sigmoid":
        return ract.sigmoid(x)
    if op == "silu":
        return ract.silu(x)
    if op == "gelu":
        return ract.gelu(x, approximate=a.get("approximate", "none"))
    if op == "erf":
        from scipy.special import erf
        return erf(x.astype(np.float64)).astype(np.float32)
    if op == "add":
        return relt.add(x, ins[1])
    if op == "mul":
        return relt.mul(x, ins[1])
    if op == "sub":
        return (np.asarray(x, np.float32) - np.asarray(ins[1], np.float32)).astype(np.float32)
    if op == "div":
        return (np.asarray(x, np.float32) / np.asarray(ins[1], np.float32)).astype(np.float32)
    if op == "softmax":
        return ract.softmax(x, axis=a.get("axis", -1))
    if op == "global_avg_pool":
        return rpool.global_avg_pool2d(x)
    if op == "max_pool":
        return rpool.max_pool2d(x, kernel_shape=a["kernel_shape"],
                                strides=a.get("strides", a["kernel_shape"]),
                                pads=_attr_pads(node))
    if op == "avg_pool":
        return rpool.avg_pool2d(x, kernel_shape=a["kernel_shape"],
                                strides=a.get("strides", a["kernel_shape"]),
                                pads=_attr_pads(node),
                                count_include_pad=bool(a.get("count_include_pad", 0)))
    if op == "gate":
        return decide_gate(a, x)
    return run_data_movement(graph, node, ins)


def run_data_movement(graph: Graph, node: Node, ins: list):
    """Operators that only move data: same code for float and integer tensors."""
    op, a, x = node.op, node.attrs, ins[0]
    if op in ("flatten", "reshape"):
        return x.reshape(graph.shape(node.outputs[0]))
    if op == "transpose":
        return np.ascontiguousarray(np.transpose(x, a.get("perm")))
    if op in ("concat", "qconcat"):
        return relt.concat(ins, axis=a["axis"])
    if op == "resize_nearest":
        out = x
        for axis, s in enumerate(a["scales"]):
            if s != 1:
                idx = np.floor(np.arange(graph.shape(node.outputs[0])[axis]) / s).astype(int)
                out = np.take(out, idx, axis=axis)
        return out
    if op == "identity":
        return x
    raise ValueError(f"node {node.name!r}: no float kernel for op {op!r}")


# ---------------------------------------------------------------------- integer kernels
def requantize_ort(acc: np.ndarray, multiplier: np.ndarray, zero_point: int, qmin: int,
                   qmax: int, axis: int = 1) -> np.ndarray:
    """ONNX Runtime's MlasRequantizeOutput with a precomputed multiplier:
    ``clamp(rint(float32(acc) * m), qmin - zp, qmax - zp) + zp`` in float32, ``m`` scalar or
    per channel along ``axis``. Used where ORT's multiplier is not ``s_x * s_w / s_y``
    (QLinearGlobalAveragePool: ``s_x / (s_y * H * W)``); conv and matmul use
    ``reference.requantize``."""
    m = np.asarray(multiplier, dtype=np.float32)
    if m.ndim:
        shape = [1] * acc.ndim
        shape[axis] = m.size
        m = m.reshape(shape)
    f = acc.astype(np.float32) * m
    f = np.clip(f, np.float32(qmin - zero_point), np.float32(qmax - zero_point))
    return (np.rint(f).astype(np.int32) + zero_point).astype(np.int8 if qmin < 0 else np.uint8)


def conv_multiplier(sx, sw, sy) -> np.ndarray:
    """float32(float32(s_x * s_w) / s_y), as ONNX Runtime's QLinearConv computes it."""
    return (np.float32(sx) * np.asarray(sw, np.float32)) / np.float32(sy)


def dequant(q: np.ndarray, qp: QuantParams) -> np.ndarray:
    axis = qp.axis if not qp.per_tensor else None
    return ref_dequantize(q, qp.scale, qp.zero_point, axis=axis,
                                block_size=qp.block_size or None)


def quant(x: np.ndarray, qp: QuantParams) -> np.ndarray:
    dtype = ("int" if qp.signed else "uint") + str(qp.bits)
    axis = qp.axis if not qp.per_tensor else None
    return ref_quantize(x.astype(np.float32, copy=False), qp.scale, qp.zero_point,
                              dtype=dtype, axis=axis, block_size=qp.block_size or None)


def build_lut(float_op: str, attrs: dict, qin: QuantParams, qout: QuantParams) -> np.ndarray:
    """256-entry table of ``quantize(op(dequantize(q)))`` over every int8/uint8 input,
    indexed by ``q - qmin``."""
    lo, hi = qin.qrange
    q = np.arange(lo, hi + 1).astype(np.int8 if qin.signed else np.uint8)
    fake = Node("lut", float_op, ["x"], ["y"], dict(attrs))
    y = run_float_node(None, fake, [dequant(q, qin)])
    return quant(y, qout)


def qconv(graph: Graph, node: Node, ins: list) -> np.ndarray:
    """Integer conv + requantize (see the module docstring for the contract)."""
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    mask = ins[3] if len(ins) > 3 else None
    tx = graph.tensors[node.inputs[0]].quant
    tw = graph.tensors[node.inputs[1]].quant
    ty = graph.tensors[node.outputs[0]].quant
    if mask is not None:
        x = np.where(mask[:, :, None, None], x, np.asarray(tx.zero_point, x.dtype))
    a = node.attrs
    geo = dict(strides=tuple(a["strides"]), pads=_attr_pads(node),
               dilations=tuple(a["dilations"]), groups=a.get("group", 1))
    if tw.block_size:
        return _qconv_blocked(x, w, bias, tx, tw, ty, geo)
    acc = conv2d_int(x, w, x_zero_point=tx.zero_point, bias=bias,
                     accumulation=graph.meta.get("accumulation", "exact"), **geo)
    return requantize(acc, tx.scale, tw.scale, ty.scale, ty.zero_point,
                      mode=graph.meta.get("requantize_mode", "onnxruntime"),
                      dtype=_dtype(ty), axis=1, clamp=_act_range(ty, a))


def _dtype(qp: QuantParams) -> str:
    return ("int" if qp.signed else "uint") + str(qp.bits)


def _act_range(ty: QuantParams, attrs: dict) -> tuple[int, int]:
    """Output integer range of a conv with a fused activation: ReLU clamps below at the zero
    point (real 0), Clip at its quantized bounds. With PTQ's calibrated ranges these are no-ops
    (the zero point is already qmin), so ONNX export needs no extra operator."""
    lo, hi = ty.qrange
    act = attrs.get("activation")
    zp, s = int(ty.zero_point), ty.scale
    if act == "relu":
        lo = max(lo, zp)
    elif act == "clip":  # the clip bounds quantized like any value (clip commutes with it)
        s32 = np.float32(s)
        if np.isfinite(attrs["act_min"]):
            lo = max(lo, zp + int(np.rint(np.float32(attrs["act_min"]) / s32)))
        if np.isfinite(attrs["act_max"]):
            hi = min(hi, zp + int(np.rint(np.float32(attrs["act_max"]) / s32)))
    return lo, hi


def _qconv_blocked(x, w, bias, tx, tw, ty, geo) -> np.ndarray:
    if geo["groups"] != 1:
        raise ValueError("blocked weight quantization needs groups == 1")
    bs = tw.block_size
    c = w.shape[1]
    total = None
    for bi, c0 in enumerate(range(0, c, bs)):
        acc = conv2d_int(np.ascontiguousarray(x[:, c0:c0 + bs]),
                         np.ascontiguousarray(w[:, c0:c0 + bs]),
                         x_zero_point=tx.zero_point, **geo).astype(np.float64)
        part = acc * tw.scale[:, bi].astype(np.float64)[None, :, None, None]
        total = part if total is None else total + part
    if bias is not None:  # bias quantized with the per-channel max block scale
        total += bias.astype(np.float64)[None, :, None, None] * \
            tw.scale.max(axis=1).astype(np.float64)[None, :, None, None]
    v = np.rint(total * (float(tx.scale) / float(ty.scale)))
    lo, hi = ty.qrange
    return (np.clip(v, lo - ty.zero_point, hi - ty.zero_point) + ty.zero_point).astype(
        np.int8 if ty.signed else np.uint8)


def qmatmul(graph: Graph, node: Node, ins: list) -> np.ndarray:
    a, b = ins[0], ins[1]
    ta = graph.tensors[node.inputs[0]].quant
    tb = graph.tensors[node.inputs[1]].quant
    ty = graph.tensors[node.outputs[0]].quant
    bzp = tb.zero_point
    if np.ndim(bzp) and not np.any(bzp):
        bzp = 0
    acc = matmul_int(a, b, a_zero_point=ta.zero_point, b_zero_point=bzp,
                     accumulation=graph.meta.get("accumulation", "exact"))
    if len(ins) > 2 and ins[2] is not None:
        acc = (acc.astype(np.int64) + ins[2]).astype(np.int32)
    return requantize(acc, ta.scale, tb.scale, ty.scale, ty.zero_point,
                      mode=graph.meta.get("requantize_mode", "onnxruntime"), dtype=_dtype(ty),
                      axis=-1)


def qglobal_avg_pool(graph: Graph, node: Node, ins: list) -> np.ndarray:
    x = ins[0]
    tx = graph.tensors[node.inputs[0]].quant
    ty = graph.tensors[node.outputs[0]].quant
    n, c = x.shape[:2]
    hw = math.prod(x.shape[2:])
    acc = (x.reshape(n, c, hw).astype(np.int32) - np.int32(tx.zero_point)).sum(
        axis=2, dtype=np.int64).astype(np.int32)
    m = np.float32(tx.scale) / (np.float32(ty.scale) * np.float32(hw))
    lo, hi = ty.qrange
    return requantize_ort(acc, m, ty.zero_point, lo, hi).reshape(n, c, *(1,) * (x.ndim - 2))


def qmax_pool(graph: Graph, node: Node, ins: list) -> np.ndarray:
    x = ins[0]
    a = node.attrs
    out = rpool.pool_windows(x.astype(np.float32), a["kernel_shape"],
                             a.get("strides", a["kernel_shape"]), _attr_pads(node), (1, 1),
                             -np.inf).max(axis=(4, 5))
    return out.astype(x.dtype)


def qfloat(graph: Graph, node: Node, ins: list, float_op: str | None = None) -> np.ndarray:
    """Dequantize the integer inputs, run the float op, quantize the output."""
    fin = []
    for t, v in zip(node.inputs, ins):
        info = graph.tensors.get(t)
        if v is not None and info is not None and info.quant is not None and \
                v.dtype.kind in "iu" and info.dtype in ("int8", "uint8"):
            fin.append(dequant(v, info.quant))
        else:
            fin.append(v)
    op = float_op or node.attrs.get("float_op")
    fake = Node(node.name, op, node.inputs, node.outputs, dict(node.attrs.get("float_attrs", {})))
    y = run_float_node(graph, fake, fin)
    qout = graph.tensors[node.outputs[0]].quant
    return quant(y, qout) if qout is not None else y


# ---------------------------------------------------------------------- the loop
def _is_zero(graph: Graph, tensor: str, value: np.ndarray) -> np.ndarray:
    info = graph.tensors.get(tensor)
    if info is not None and info.quant is not None and value.dtype.kind in "iu":
        return value == np.asarray(info.quant.zero_point, value.dtype)
    return value == 0


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
    missing = [n for n in graph.inputs if n not in inputs]
    if missing:
        raise ValueError(f"inputs is missing graph input(s) {missing}; got {sorted(inputs)}")
    values: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        arr = np.asarray(inputs[name])
        want = graph.tensors[name].shape
        if arr.shape != want:
            raise ValueError(f"input {name!r} has shape {arr.shape}, expected {want}")
        values[name] = arr.astype(np.float32, copy=False) if arr.dtype.kind == "f" else arr
    keep_all = keep == "all"
    keep_set = set() if keep_all else set(keep)
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            last_use[t] = i
    kept: dict[str, np.ndarray] = {}
    records: list[LayerActivity] = []
    for i, node in enumerate(graph.nodes):
        if before_node is not None:
            before_node(node, values)
        ins = [None if not t else (values[t] if t in values else graph.constants[t])
               for t in node.inputs]
        op = node.op
        if op == "quantize":
            y = quant(ins[0], graph.tensors[node.outputs[0]].quant)
        elif op == "dequantize":
            y = dequant(ins[0], graph.tensors[node.inputs[0]].quant)
        elif op == "qconv":
            y = qconv(graph, node, ins)
        elif op == "qmatmul":
            y = qmatmul(graph, node, ins)
        elif op == "qlut":
            lut = graph.constants[node.inputs[1]]
            lo = graph.tensors[node.inputs[0]].quant.qrange[0]
            y = lut[ins[0].astype(np.int32) - lo]
        elif op in ("qadd", "qmul"):
            y = qfloat(graph, node, ins, {"qadd": "add", "qmul": "mul"}[op])
        elif op == "qfloat":
            y = qfloat(graph, node, ins)
        elif op == "qglobal_avg_pool":
            y = qglobal_avg_pool(graph, node, ins)
        elif op == "qmax_pool":
            y = qmax_pool(graph, node, ins)
        elif op == "gate" and ins[0].dtype.kind in "iu":
            y = decide_gate(node.attrs, ins[0], graph.tensors[node.inputs[0]].quant)
        else:
            y = run_float_node(graph, node, ins, float_impl=float_impl)
        if op in ("conv", "qconv"):
            mask = ins[3] if len(ins) > 3 else None
            records.append(conv_activity(
                node, _is_zero(graph, node.inputs[0], ins[0]) if zero_skip else None, mask,
                ins[1].shape, y.shape, zero_skip, ins[0].shape[2:]))
        elif op in ("matmul", "qmatmul"):
            records.append(matmul_activity(
                node, ins[0].shape, _is_zero(graph, node.inputs[0], ins[0]) if zero_skip
                else None, y.shape))
        out = node.outputs[0]
        values[out] = y
        if keep_all or out in keep_set:
            kept[out] = y
        for t in node.inputs:
            if t in values and last_use.get(t) == i and t not in graph.outputs:
                del values[t]
    if keep_all:
        for name in graph.inputs:
            kept.setdefault(name, values.get(name, inputs[name]))
    outputs = {t: values[t] for t in graph.outputs}
    return kept, outputs, records


def run_float(graph: Graph, inputs: dict, *, keep=(), before_node=None, float_impl="blas"):
    """Convenience: run a float graph, return (kept, outputs, records)."""
    return run_graph(graph, inputs, keep=keep, before_node=before_node, float_impl=float_impl)

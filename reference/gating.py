"""Dynamic gating (seed C2, C5): a gating unit looks at a feature map and decides, per input
sample, which channels (or pixels) the next conv computes with; the gated conv then skips the
masked operands and reports what it skipped.

GatingUnit interface (``GatingUnit``): ``kind`` is "channel" (mask (N, C)) or "spatial"
(mask (N, H, W)); ``decide(x)`` is the float decision on a float32 NCHW map; ``decide_int(q, *,
scale, zero_point)`` the integer decision on an int8/uint8 map: every comparison is made
between exact int64 integers (no float rounding), so it is reproducible bit for bit by a
hardware gate. Strategies here:

- ``ChannelGate``: global average pool -> linear (C -> C) -> ``> threshold`` (per channel).
- ``TopKChannelGate``: keep the k channels with the largest global-average score per sample.
- ``SpatialGate``: per pixel, a 1x1 conv to one score -> ``> threshold``.

The seed's base module (``base_module_float`` / ``base_module_int``): conv1 3x3 (in -> out/2,
pad 1) -> gate -> mask -> conv2 1x1 (out/2 -> out) on conv1(x) * mask; swapping the gate swaps
the sparsity strategy.

Gated conv (``gated_conv2d_int``, ``gated_conv2d_float``): equal, bit for bit, to the dense conv
of the masked input (masked channels / pixels set to the zero point), while only computing the
unmasked operands: macs_done + macs_skipped == macs_dense.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from reference._validate import as_float, check_int, conv_geometry, int_array
from reference.conv_float import conv2d_float, conv2d_macs
from reference.conv_int import conv2d_int
from reference.requantize import requantize
from reference.zeroskip import (
    centred_conv_operands,
    finish_int32,
    sparse_conv_accumulate,
    tap_coverage,
)


@dataclass(frozen=True)
class GateRecord:
    """Activity of one gated conv: the mask and the MACs done and skipped."""

    kind: str
    mask: np.ndarray          # bool, (N, C) for "channel", (N, H, W) for "spatial"
    macs_dense: int
    macs_done: int
    macs_skipped: int

    @property
    def active_fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


class GatingUnit(abc.ABC):
    """A gating strategy. ``kind`` says the mask's shape: "channel" (N, C) or "spatial"
    (N, H, W). Both decision paths return bool masks, True = compute.

    Numeric contract: ``decide`` takes float32 NCHW (other real dtypes converted);
    ``decide_int`` takes int8/uint8 NCHW and must decide by exact integer comparisons only.
    Subclasses raise ValueError naming the input when the channel count does not match.
    """

    kind: str = "channel"

    @abc.abstractmethod
    def decide(self, x) -> np.ndarray:
        """Float decision on a float32 NCHW map."""

    @abc.abstractmethod
    def decide_int(self, q, *, scale, zero_point=0) -> np.ndarray:
        """Exact integer decision on an int8/uint8 NCHW map of real value scale * (q - zp)."""


def _check_channels(weight, c):
    """ValueError unless the input's channel count ``c`` is the gate weight's first axis."""
    if c != weight.shape[0]:
        raise ValueError(f"x has {c} channels: this gate expects {weight.shape[0]}")


def _int_sums(q, zero_point):
    q = int_array("q", q, ndim=4)
    return q.astype(np.int64) - int(zero_point)


def _quantize_params(weight, bias, threshold, unit_scale):
    """Integer weights (int8, symmetric per tensor) and bias/threshold in accumulator units."""
    wmax = float(np.max(np.abs(weight))) if np.size(weight) else 0.0
    w_scale = wmax / 127.0 if wmax > 0 else 1.0
    wq = np.clip(np.rint(np.asarray(weight, np.float64) / w_scale), -127, 127).astype(np.int64)
    acc_scale = unit_scale * w_scale
    bq = np.rint(np.asarray(bias, np.float64) / acc_scale).astype(np.int64)
    tq = int(np.rint(threshold / acc_scale))
    return wq, bq, tq


class ChannelGate(GatingUnit):
    """Channel gating: g = W @ mean_hw(x) + b; channel c is kept where g[c] > threshold.

    Numeric contract:
      - float: mean over H*W by NumPy's pairwise sum in float32, then ``matmul``-free explicit
        order sum_c' W[c, c'] * m[c'] (c' ascending, float32), + b, strict ``>`` threshold.
      - integer: S[c'] = sum_hw (q - zp) exact int64; W quantized once to int8 symmetric
        (w_scale = max|W| / 127, round half even), b and threshold to units of
        scale * w_scale (round half even). Decision: sum_c' Wq[c, c'] * S[c'] + H*W * bq[c]
        > H*W * tq -- exact int64, no division, reproducible by integer hardware. It approximates
        the float decision (quantization of W, b, t); it is not required to equal it.
      - errors: ValueError for a weight that is not (C, C) or a mismatched bias.
    """

    kind = "channel"

    def __init__(self, weight, bias, *, threshold=0.0):
        self.weight = as_float("weight", weight, "float32", ndim=2)
        c = self.weight.shape[0]
        if self.weight.shape != (c, c):
            raise ValueError(f"weight has shape {self.weight.shape}: expected square (C, C)")
        self.bias = as_float("bias", bias, "float32", ndim=1)
        if self.bias.shape != (c,):
            raise ValueError(f"bias has shape {self.bias.shape}: expected ({c},)")
        self.threshold = float(threshold)

    def decide(self, x):
        x = as_float("x", x, "float32", ndim=4)
        _check_channels(self.weight, x.shape[1])
        m = x.reshape(x.shape[0], x.shape[1], -1).sum(axis=2) / np.float32(x.shape[2] * x.shape[3])
        g = np.zeros((x.shape[0], self.weight.shape[0]), np.float32)
        for k in range(m.shape[1]):
            g += m[:, k:k + 1] * self.weight[None, :, k]
        return (g + self.bias) > np.float32(self.threshold)

    def decide_int(self, q, *, scale, zero_point=0):
        xc = _int_sums(q, zero_point)
        _check_channels(self.weight, xc.shape[1])
        hw = xc.shape[2] * xc.shape[3]
        s = xc.reshape(xc.shape[0], xc.shape[1], -1).sum(axis=2)           # (N, C) exact
        wq, bq, tq = _quantize_params(self.weight, self.bias, self.threshold, float(scale))
        z = s @ wq.T + hw * bq                                               # exact int64
        return z > hw * tq


class TopKChannelGate(GatingUnit):
    """Top-k channels per sample by global-average activation (ties: lower channel index).

    Numeric contract: float score = float32 mean over H*W (pairwise sum); integer score =
    exact int64 sum of (q - zp) over H*W (the same order as the mean, as H*W and scale are
    positive). The k largest are kept; ties broken toward the lower index by a stable sort, so
    the mask has exactly k True entries per sample. Errors: ValueError if k < 1 or k > C.
    """

    kind = "channel"

    def __init__(self, k):
        self.k = check_int("k", k, minimum=1)

    def _top(self, score):
        if self.k > score.shape[1]:
            raise ValueError(f"k={self.k}: larger than the {score.shape[1]} channels")
        order = np.argsort(-score, axis=1, kind="stable")[:, :self.k]
        mask = np.zeros(score.shape, dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        return mask

    def decide(self, x):
        x = as_float("x", x, "float32", ndim=4)
        return self._top(x.reshape(x.shape[0], x.shape[1], -1).mean(axis=2, dtype=np.float32))

    def decide_int(self, q, *, scale, zero_point=0):
        xc = _int_sums(q, zero_point)
        return self._top(xc.reshape(xc.shape[0], xc.shape[1], -1).sum(axis=2))


def topk_keep_count(keep, channels) -> int:
    """Channels a top-k gate keeps for a ``keep`` fraction of ``channels``.

    Numeric contract: ``max(1, min(channels, round(keep * channels)))`` with the product in
    float64 and Python's ``round`` (half to even); at least one channel. Errors: ValueError
    for ``channels < 1`` or a ``keep`` that is not a finite number in [0, 1].
    """
    channels = check_int("channels", channels, minimum=1)
    keep = float(keep)
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep={keep!r}: expected a fraction in [0, 1]")
    return max(1, min(channels, int(round(keep * channels))))


def threshold_channel_mask(x, threshold) -> np.ndarray:
    """(N, C) mask of channels whose mean activation exceeds ``threshold`` (float map).

    Numeric contract: score = float32 mean over H*W (``np.mean`` with dtype float32: pairwise
    sum, one division), kept where ``score > threshold`` with ``threshold`` a Python float
    compared against the float32 scores (NumPy's rule for a Python scalar: it takes the
    array's dtype).
    """
    x = as_float("x", x, "float32", ndim=4)
    n, c = x.shape[:2]
    return x.reshape(n, c, -1).mean(axis=2, dtype=np.float32) > float(threshold)


def threshold_channel_mask_int(q, threshold, *, scale, zero_point=0) -> np.ndarray:
    """(N, C) mask of channels whose mean real activation exceeds ``threshold`` (int8 map of
    real value ``scale * (q - zero_point)``).

    Numeric contract: ``S = sum_hw (q - zp)`` exact int64; ``score = float64(S) *
    float64(scale) / (H*W)`` (left to right, float64); kept where ``score > threshold``
    (float64). Unlike :class:`GatingUnit` decisions this is not integer-only: the threshold is
    real. Errors: TypeError for a non-8-bit ``q``.
    """
    xc = _int_sums(q, zero_point)
    n, c = xc.shape[:2]
    sums = xc.reshape(n, c, -1).sum(axis=2)
    return sums.astype(np.float64) * float(scale) / (xc.shape[2] * xc.shape[3]) > \
        float(threshold)


class SpatialGate(GatingUnit):
    """Spatial gating: per pixel score = sum_c w[c] * x[c, h, w] + b; kept where > threshold.

    Numeric contract: float: c ascending in float32, then + b, strict ``>``. Integer: w
    quantized to int8 symmetric, b and threshold to scale * w_scale units (half even); decision
    sum_c wq[c] * (q - zp) + bq > tq, exact int64. Mask shape (N, H, W).
    """

    kind = "spatial"

    def __init__(self, weight, bias=0.0, *, threshold=0.0):
        self.weight = as_float("weight", weight, "float32", ndim=1)
        self.bias = float(bias)
        self.threshold = float(threshold)

    def decide(self, x):
        x = as_float("x", x, "float32", ndim=4)
        _check_channels(self.weight, x.shape[1])
        s = np.zeros((x.shape[0],) + x.shape[2:], np.float32)
        for c in range(x.shape[1]):
            s += self.weight[c] * x[:, c]
        return (s + np.float32(self.bias)) > np.float32(self.threshold)

    def decide_int(self, q, *, scale, zero_point=0):
        xc = _int_sums(q, zero_point)
        _check_channels(self.weight, xc.shape[1])
        wq, bq, tq = _quantize_params(self.weight, self.bias, self.threshold, float(scale))
        s = np.einsum("nchw,c->nhw", xc, wq)                                 # exact int64
        return s + int(bq) > tq


def _check_mask(mask, kind, n, c, h, w):
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask has dtype {mask.dtype}: expected bool")
    want = (n, c) if kind == "channel" else (n, h, w)
    if kind not in ("channel", "spatial"):
        raise ValueError(f"kind={kind!r}: expected 'channel' or 'spatial'")
    if mask.shape != want:
        raise ValueError(f"mask has shape {mask.shape}: expected {want} for kind={kind!r}")
    return mask


def gate_macs(mask, kind, x_shape, w_shape, *, strides, pads, dilations, groups, out_hw):
    """(macs_dense, macs_skipped) of a gated conv, counted in dense-conv terms.

    Kind "channel": every MAC of a masked input channel is skipped (its padding taps too: the
    channel is not computed at all). Kind "spatial": a MAC is skipped when its input is a masked
    in-image pixel; taps that read the padding count as done, as a dense engine does them, so
    spatial gating is never credited with padding.

    Numeric contract: exact Python ints; mask as for ``gated_conv2d_int``.
    """
    n, c, h, w = x_shape
    o, cg, kh, kw = w_shape
    oh, ow = out_hw
    dense = n * o * oh * ow * cg * kh * kw
    rows = tap_coverage(h, kh, strides[0], pads[0], dilations[0], oh)
    cols = tap_coverage(w, kw, strides[1], pads[1], dilations[1], ow)
    if kind == "channel":
        # a gated channel is not computed at all: all its taps (padding ones too) for the
        # o/groups outputs it feeds
        skipped = int((~mask).sum()) * (o // groups) * oh * ow * kh * kw
    else:
        skipped = int(np.einsum("nhw,h,w->", (~mask).astype(np.int64), rows, cols)) * o * cg
    return dense, skipped


def apply_mask(x, mask, *, kind="channel", fill=0):
    """x with masked channels ((N, C) mask) or pixels ((N, H, W) mask) set to ``fill``.

    Numeric contract: exact copy of kept values; dtype kept; ``fill`` is the zero point for
    integer maps (real value 0). Errors: TypeError for a non-bool mask, ValueError for its shape.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x has shape {x.shape}: expected 4-D NCHW")
    mask = _check_mask(mask, kind, *x.shape)
    m = mask[:, :, None, None] if kind == "channel" else mask[:, None]
    return np.where(m, x, np.asarray(fill, dtype=x.dtype))


def _channel_gated_acc(x, w, mask, x_zero_point, w_zero_point, groups, out_hw, geometry):
    """Exact int64 sums over the kept input channels only: per sample and group, conv2d_int
    of the kept channels (its int32 results summed in int64; the caller's single wrap to
    int32 gives the same value mod 2**32 as the dense conv)."""
    n, c = mask.shape
    o, cg = w.shape[:2]
    og = o // groups
    wzp = np.broadcast_to(np.asarray(w_zero_point), (o,)) if np.ndim(w_zero_point) else \
        w_zero_point
    acc = np.zeros((n, o) + out_hw, dtype=np.int64)
    for s in range(n):
        for g in range(groups):
            keep = np.flatnonzero(mask[s, g * cg:(g + 1) * cg])
            if keep.size == 0:
                continue
            rows = slice(g * og, (g + 1) * og)
            zp = wzp[rows].astype(w.dtype) if np.ndim(wzp) else wzp
            acc[s, rows] = conv2d_int(x[s:s + 1, g * cg + keep], w[rows][:, keep],
                                      x_zero_point=x_zero_point, w_zero_point=zp, **geometry)[0]
    return acc


def gated_conv2d_int(x, w, mask, *, kind="channel", x_zero_point=0, w_zero_point=0, bias=None,
                     strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """Integer conv that skips masked input channels or pixels; ``(int32, GateRecord)``.

    Numeric contract:
      - bit-identical to ``conv2d_int(apply_mask(x, mask, kind=kind, fill=x_zero_point), w,
        ...)``: a masked operand equals the zero point, so its products are 0 and leaving them
        out changes no exact integer sum; int64 sums wrapped to int32 once, bias added before.
      - kind "channel": per sample, only the kept input channels enter the conv; kind
        "spatial": only taps whose input pixel is kept (or in the padding) are computed.
        Record counts from ``gate_macs``: skipped = MACs whose operand is masked;
        macs_done = macs_dense - macs_skipped (spatial: padding taps count as done).
      - errors: those of conv2d_int; TypeError/ValueError for the mask.
    """
    xc, wc, b = centred_conv_operands(x, w, x_zero_point, w_zero_point, bias)
    strides, pads, dilations, groups, oh, ow = conv_geometry(
        xc.shape, wc.shape, strides, pads, dilations, groups)
    n, c, h, wd = xc.shape
    mask = _check_mask(mask, kind, n, c, h, wd)
    geometry = dict(strides=strides, pads=pads, dilations=dilations)
    if kind == "channel":
        acc = _channel_gated_acc(np.asarray(x), np.asarray(w), mask, x_zero_point,
                                 w_zero_point, groups, (oh, ow), geometry)
    else:  # one channel block per group, the same pixel mask for each
        x_active = np.broadcast_to(mask[:, None], (n, groups, h, wd))
        w_active = np.ones((wc.shape[0], 1) + wc.shape[2:], dtype=bool)
        acc, _ = sparse_conv_accumulate(xc, wc, x_active, w_active, channel_block=wc.shape[1],
                                        groups=groups, out_hw=(oh, ow), **geometry)
    dense, skipped = gate_macs(mask, kind, xc.shape, wc.shape, strides=strides, pads=pads,
                               dilations=dilations, groups=groups, out_hw=(oh, ow))
    return finish_int32(acc, b), GateRecord(kind, mask.copy(), dense, dense - skipped, skipped)


def gated_conv2d_float(x, w, mask, *, kind="channel", bias=None, strides=(1, 1),
                       pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, precision="float32"):
    """Float conv on the masked input, computing only kept channels (channel kind, groups=1 or
    per group) or every tap on a map whose masked pixels are zero (spatial kind);
    ``(output, GateRecord)``.

    Numeric contract: channel kind: the conv of the kept channels only, in ``conv2d_float``'s
    order restricted to them; it equals ``conv2d_float`` of the masked input up to the sign of
    zero (skipped terms are +-0.0 products), i.e. ``==`` elementwise. Spatial kind: the dense
    ``conv2d_float`` of the masked input (the MAC count records what a pixel-skipping engine
    avoids). MAC counts as ``gated_conv2d_int``.
    """
    x = as_float("x", x, precision, ndim=4)
    strides, pads, dilations, groups, oh, ow = conv_geometry(
        x.shape, np.shape(w), strides, pads, dilations, groups)
    n, c, h, wd = x.shape
    mask = _check_mask(mask, kind, n, c, h, wd)
    geometry = dict(strides=strides, pads=pads, dilations=dilations, groups=groups)
    dense = conv2d_macs(x.shape, np.shape(w), **geometry)
    w = as_float("w", w, precision, ndim=4)
    o, cg, kh, kw = w.shape
    if kind == "spatial":
        xm = apply_mask(x, mask, kind="spatial")
        out = conv2d_float(xm, w, bias=bias, precision=precision, **geometry)
        _, skipped = gate_macs(mask, kind, x.shape, w.shape, out_hw=(oh, ow), **geometry)
        return out, GateRecord(kind, mask.copy(), dense, dense - skipped, skipped)
    og = o // groups
    out = np.empty((n, o, oh, ow), dtype=x.dtype)
    for s in range(n):
        for g in range(groups):
            keep = np.flatnonzero(mask[s, g * cg:(g + 1) * cg])
            rows = slice(g * og, (g + 1) * og)
            if keep.size == 0:
                out[s, rows] = 0.0
            else:
                out[s, rows] = conv2d_float(x[s:s + 1, g * cg + keep], w[rows][:, keep],
                                            strides=strides, pads=pads, dilations=dilations,
                                            precision=precision)[0]
    if bias is not None:
        out = out + as_float("bias", bias, precision, ndim=1)[None, :, None, None]
    _, skipped = gate_macs(mask, kind, x.shape, w.shape, out_hw=(oh, ow), **geometry)
    return out, GateRecord(kind, mask.copy(), dense, dense - skipped, skipped)


@dataclass(frozen=True)
class BaseModuleRecord:
    """Activity of the seed's base module: conv1 is dense, conv2 is gated."""

    mask: np.ndarray
    macs_dense: int
    macs_done: int
    macs_skipped: int
    conv2: GateRecord


def _check_base_weights(w1, w2):
    if np.ndim(w1) != 4 or np.shape(w1)[2:] != (3, 3):
        raise ValueError(f"w1 has shape {np.shape(w1)}: expected (out/2, in, 3, 3)")
    if np.ndim(w2) != 4 or np.shape(w2)[2:] != (1, 1) or np.shape(w2)[1] != np.shape(w1)[0]:
        raise ValueError(f"w2 has shape {np.shape(w2)}: expected (out, {np.shape(w1)[0]}, 1, 1)")


def base_module_float(x, w1, w2, gate: GatingUnit, *, b1=None, b2=None, precision="float32"):
    """Seed C5 base module, float: y = conv2_1x1(conv1_3x3(x) * gate(conv1_3x3(x))).

    Numeric contract: conv1 = ``conv2d_float`` pad 1; mask = ``gate.decide`` on conv1's output
    (float32); conv2 = ``gated_conv2d_float``. Returns (y, BaseModuleRecord).
    """
    if not isinstance(gate, GatingUnit):
        raise TypeError(f"gate is {type(gate).__name__}: expected a GatingUnit")
    _check_base_weights(w1, w2)
    h1 = conv2d_float(x, w1, bias=b1, pads=(1, 1, 1, 1), precision=precision)
    mask = gate.decide(h1)
    y, rec = gated_conv2d_float(h1, w2, mask, kind=gate.kind, bias=b2, precision=precision)
    m1 = conv2d_macs(np.shape(x), np.shape(w1), pads=(1, 1, 1, 1))
    return y, BaseModuleRecord(mask, m1 + rec.macs_dense, m1 + rec.macs_done, rec.macs_skipped,
                               rec)


def base_module_int(x, w1, w2, gate: GatingUnit, *, x_scale, w1_scale, h_scale, x_zero_point=0,
                    h_zero_point=0, b1=None, b2=None, w2_zero_point=0, mode="onnxruntime"):
    """Seed C5 base module, integer: returns (int32 accumulators of conv2, BaseModuleRecord).

    Numeric contract: h = requantize(conv2d_int(x, w1, pad 1, bias b1), x_scale, w1_scale,
    h_scale, h_zero_point, mode=mode) as int8; mask = gate.decide_int(h, scale=h_scale,
    zero_point=h_zero_point) (exact integers); conv2 = ``gated_conv2d_int`` on h with masked
    operands skipped, bit-identical to the dense conv2d_int of apply_mask(h, mask,
    fill=h_zero_point). The int32 result is left for the caller to requantize (scale
    h_scale * w2_scale).
    """
    if not isinstance(gate, GatingUnit):
        raise TypeError(f"gate is {type(gate).__name__}: expected a GatingUnit")
    _check_base_weights(w1, w2)
    acc1 = conv2d_int(x, w1, x_zero_point=x_zero_point, bias=b1, pads=(1, 1, 1, 1))
    h = requantize(acc1, x_scale, w1_scale, h_scale, h_zero_point, mode=mode)
    mask = gate.decide_int(h, scale=h_scale, zero_point=h_zero_point)
    y, rec = gated_conv2d_int(h, w2, mask, kind=gate.kind, x_zero_point=h_zero_point,
                              w_zero_point=w2_zero_point, bias=b2)
    m1 = conv2d_macs(np.shape(x), np.shape(w1), pads=(1, 1, 1, 1))
    return y, BaseModuleRecord(mask, m1 + rec.macs_dense, m1 + rec.macs_done, rec.macs_skipped,
                               rec)

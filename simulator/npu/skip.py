"""What gating and zero-skipping save on a systolic array, from the golden run's real masks.

A systolic array cannot skip single MACs: a cycle moves a whole wavefront. What it can skip, per
dataflow (R x C array; Sr, Sc, T as in mapping.py):

**Gating** (decided before the layer runs, so the controller can *compact* the GEMM):

* channel gating, ``gate_mask`` of shape ``(N, C_in)``: the inactive input channels' rows of K
  are dropped before mapping. Samples of a batch share the array, so a channel is dropped only
  if it is inactive in every sample (union over the batch). Only ``groups == 1`` layers are
  compacted; every dataflow gains (fewer row folds for ws/is, a shorter stream for os).
* spatial gating, ``gate_mask`` of shape ``(N, H_out, W_out)``: inactive output pixels leave M
  (ws: shorter stream; os: fewer row folds; is: fewer column folds).
* a gated layer without a mask (counts only) is compacted along K by the counted fraction.

**Zero blocks** (``act_zero_bitmap`` over the NCHW input, ``weight_zero_bitmap`` over the OIHW
weights; True = the block is all zero; the block shape is ``ceil(tensor dim / bitmap dim)``):

* a *stream step* (one wavefront: one T index over the fold's rows) is skipped when every
  value the streaming operand feeds into it is zero: ws: the im2col column of activations over
  the fold's K rows; os: the activations of the fold's pixels at that k, or the weights of the
  fold's filters at that k; is: the weights of the fold's K rows for that filter;
* a *whole fold* is skipped when its stationary tile is all zero: ws: the weight tile; is: the
  activation tile (os keeps outputs, it never skips a fold);
* a MAC with a zero operand that cannot be skipped in time is still gated for *energy*
  (``macs_done`` from the golden run is what the PEs spend energy on).

Zero-skip costing needs ``groups == 1`` and one MAC per PE per cycle; otherwise it is reported
as not modelled (``details["zero_skip"]``) and costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from common.workload import LayerWork
from simulator.npu.mapping import Mapping


@dataclass(frozen=True)
class Compaction:
    """GEMM sizes after gating: ``m`` pixels, ``k`` reduction length; masks of what is kept
    (``None`` = all kept) and a note saying where the numbers came from."""

    m: int
    k: int
    keep_m: np.ndarray | None
    keep_k: np.ndarray | None
    note: str


def gating_compaction(layer: LayerWork) -> Compaction:
    """Compaction of ``layer``'s GEMM from its gate mask (see module docstring)."""
    _, m, _, k = layer.gemm_shape()
    mask = layer.gate_mask
    if mask is None:
        if layer.macs_skipped_gate and layer.groups == 1:
            frac = 1.0 - layer.macs_skipped_gate / layer.macs_dense
            k_active = max(1, math.ceil(k * frac))
            return Compaction(m, k_active, None, None, "gating from counts: K scaled")
        return Compaction(m, k, None, None, "no gating")
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 2:
        if mask.shape != (layer.batch, layer.in_channels):
            raise ValueError(f"layer {layer.name!r}: channel gate_mask shape {mask.shape}, "
                             f"expected (batch, in_channels) = "
                             f"{(layer.batch, layer.in_channels)}")
        if layer.groups != 1:
            return Compaction(m, k, None, None, "channel gating not compacted (groups > 1)")
        keep_c = mask.any(axis=0)
        keep_k = np.repeat(keep_c, layer.kernel_h * layer.kernel_w)
        return Compaction(m, max(1, int(keep_k.sum())), None, keep_k,
                          "channel gating: inactive channels (all samples) dropped from K")
    if mask.ndim == 3:
        expected = (layer.batch, layer.out_h, layer.out_w)
        if mask.shape != expected:
            raise ValueError(f"layer {layer.name!r}: spatial gate_mask shape {mask.shape}, "
                             f"expected (batch, out_h, out_w) = {expected}")
        keep_m = mask.reshape(-1)
        return Compaction(max(1, int(keep_m.sum())), k, keep_m, None,
                          "spatial gating: inactive output pixels dropped from M")
    raise ValueError(f"layer {layer.name!r}: gate_mask must be 2-D (batch, in_channels) or 3-D "
                     f"(batch, out_h, out_w), got shape {mask.shape}")


def expand_bitmap(bitmap: np.ndarray, shape: tuple[int, ...], what: str,
                  block: tuple[int, ...] | None = None) -> np.ndarray:
    """Element-level zero mask of a tensor of ``shape`` from its block bitmap (the layout of
    ``reference.zeroskip.zero_block_bitmap``: one entry per block, the last block along an axis
    may be short). ``block`` is the block shape when known (``LayerWork.zero_block``); else it
    is inferred as ``ceil(dim / bitmap dim)``. ValueError when the bitmap does not tile."""
    bitmap = np.asarray(bitmap, dtype=bool)
    if bitmap.ndim != len(shape):
        raise ValueError(f"{what} bitmap shape {bitmap.shape} does not tile tensor shape {shape}")
    if block is not None and len(block) < len(shape):  # blocks over the trailing dims
        block = (1,) * (len(shape) - len(block)) + tuple(block)
    if block is not None and (len(block) != len(shape) or any(
            math.ceil(s / b) != n for s, b, n in zip(shape, block, bitmap.shape))):
        block = None        # zero_block describes the other operand
    out = bitmap
    for axis, (b, s) in enumerate(zip(bitmap.shape, shape)):
        size = block[axis] if block is not None else math.ceil(s / b) if 1 <= b <= s else 0
        if size < 1 or math.ceil(s / size) != b:
            raise ValueError(f"{what} bitmap shape {bitmap.shape} does not tile tensor shape "
                             f"{shape} (axis {axis})")
        out = np.repeat(out, size, axis=axis)
        out = np.take(out, np.arange(s), axis=axis)
    return out


def im2col_zero(layer: LayerWork, zero: np.ndarray) -> np.ndarray:
    """``Z[M, K]``: True where the ifmap value feeding GEMM entry (pixel, k) is zero (padding
    counts as zero). K is ordered (channel, kh, kw) like the OIHW weights."""
    top, left, bottom, right = layer.pads
    padded = np.pad(zero, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=True)
    sh, sw = layer.stride
    dh, dw = layer.dilation
    cols = []
    for i in range(layer.kernel_h):
        for j in range(layer.kernel_w):
            h0, w0 = i * dh, j * dw
            cols.append(padded[:, :, h0:h0 + sh * (layer.out_h - 1) + 1:sh,
                               w0:w0 + sw * (layer.out_w - 1) + 1:sw])
    z = np.stack(cols, axis=2)  # N, C, kh*kw, Ho, Wo
    z = z.transpose(0, 3, 4, 1, 2).reshape(layer.batch * layer.out_h * layer.out_w, -1)
    return z


def _act_zero_matrix(layer: LayerWork, m_full: int, k_full: int) -> np.ndarray:
    """``Z[M, K]`` of the activation operand from ``act_zero_bitmap``: a conv's bitmap is over
    its NCHW input (im2col'd here); a matmul's over ``A[..., m, k]`` (``networks.execute``
    layout: blocks over the trailing dims, leading dims batch or absent)."""
    bitmap = layer.act_zero_bitmap
    if bitmap is None:
        return np.zeros((m_full, k_full), dtype=bool)
    if layer.op != "matmul":
        za = expand_bitmap(bitmap, (layer.batch, layer.in_channels, layer.in_h, layer.in_w),
                           "act", layer.zero_block)
        return im2col_zero(layer, za)
    bitmap = np.asarray(bitmap, dtype=bool)
    m, k = layer.in_h, layer.in_channels
    lead = bitmap.shape[:-2]
    block = tuple(layer.zero_block[-2:]) if layer.zero_block else None
    z = expand_bitmap(bitmap.reshape(-1, *bitmap.shape[-2:]),
                      (int(np.prod(lead, dtype=np.int64)), m, k), "act",
                      (1,) + block if block else None)
    if z.shape[0] == layer.batch:
        return z.reshape(layer.batch * m, k)
    if z.shape[0] == 1:
        return np.tile(z[0], (layer.batch, 1))
    raise ValueError(f"matmul act bitmap leading dims {lead} do not match batch {layer.batch}")


def _block_all(z: np.ndarray, axis: int, size: int) -> np.ndarray:
    """All-reduce ``z`` over consecutive blocks of ``size`` along ``axis`` (last block short)."""
    n = z.shape[axis]
    starts = np.arange(0, n, size)
    return np.logical_and.reduceat(z, starts, axis=axis)


@dataclass(frozen=True)
class ZeroSkip:
    skipped_steps: int
    skipped_folds: int
    note: str


def zero_skip(layer: LayerWork, mapping: Mapping, compaction: Compaction) -> ZeroSkip:
    """Stream steps and whole folds that ``layer``'s zero blocks let ``mapping`` skip."""
    if layer.act_zero_bitmap is None and layer.weight_zero_bitmap is None:
        return ZeroSkip(0, 0, "no zero bitmaps")
    if layer.groups != 1 or mapping.k_per_pe != 1:
        return ZeroSkip(0, 0, "zero-skip not modelled (groups > 1 or dual-MAC PEs)")
    _, m_full, n, k_full = layer.gemm_shape()
    try:
        zi = _act_zero_matrix(layer, m_full, k_full)
        if layer.weight_zero_bitmap is not None:
            zw4 = expand_bitmap(layer.weight_zero_bitmap,
                                (layer.out_channels, layer.in_channels // layer.groups,
                                 layer.kernel_h, layer.kernel_w), "weight", layer.zero_block)
            zw = zw4.reshape(layer.out_channels, -1).T  # K x N
        else:
            zw = np.zeros((k_full, n), dtype=bool)
    except ValueError as exc:  # a layout this model does not know: no skip, and say so
        return ZeroSkip(0, 0, f"zero-skip not modelled: {exc}")
    if compaction.keep_m is not None:
        zi = zi[compaction.keep_m]
    if compaction.keep_k is not None:
        zi = zi[:, compaction.keep_k]
        zw = zw[compaction.keep_k]
    r, c = mapping.rows, mapping.cols
    df = mapping.dataflow
    if df == "ws":      # rows K, cols N, stream M
        a = _block_all(zi, 1, r)                    # M x row folds: activation column zero
        step_count = a.sum(axis=0)                  # per row fold
        fold_zero = _block_all(_block_all(zw, 0, r), 1, c)   # row folds x col folds
        steps = int((step_count[:, None] * ~fold_zero).sum())
        folds = int(fold_zero.sum())
        note = "ws: zero activation columns skip stream steps; zero weight tiles skip folds"
    elif df == "os":    # rows M, cols N, stream K
        a = _block_all(zi, 0, r)                    # pixel folds x K
        w = _block_all(zw, 1, c)                    # K x filter folds
        cnt_a = a.sum(axis=0)
        cnt_w = w.sum(axis=1)
        both = np.einsum("rk,kc->k", a.astype(np.int64), w.astype(np.int64))
        steps = int((cnt_a * w.shape[1] + cnt_w * a.shape[0] - both).sum())
        folds = 0
        note = "os: a k step is skipped when the fold's activations or weights at k are zero"
    else:               # is: rows K, cols M, stream N
        fold_zero = _block_all(_block_all(zi.T, 0, r), 1, c)   # row folds x col folds
        w = _block_all(zw, 0, r)                    # row folds x N
        steps = int((w.sum(axis=1)[:, None] * ~fold_zero).sum())
        folds = int(fold_zero.sum())
        note = "is: zero activation tiles skip folds; zero weight rows skip stream steps"
    return ZeroSkip(steps, folds, note)

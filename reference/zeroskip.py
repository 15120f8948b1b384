"""Zero-block skipping (seed C8): mark blocks whose values are all zero (all equal to the zero
point, i.e. real value 0) and skip the multiply-accumulates that read them.

Bitmaps. ``zero_block_bitmap(x, block)`` cuts ``x`` into blocks of shape ``block`` (one entry per
axis; the last block along an axis may be short) and returns a bool array, one entry per block,
True where every element of the block equals ``zero_point``. A skipped block contributes
(x - zp) * (w - zw) = 0 to every sum, so leaving it out changes no integer result: the skipping
matmul and conv are bit-identical to dense ones (integers are summed exactly in int64 and
wrapped to int32 once at the end, like ``matmul_int`` and ``conv2d_int``).

The conv engine ``sparse_conv_accumulate`` is shared with channel and spatial gating
(``reference.gating``): it computes the conv as a sum over (input-channel block, kernel tap)
of small matmuls restricted to the active output channels and the active output positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference._validate import check_int_tuple, conv_geometry, int_array
from reference.conv_float import conv2d_macs
from reference.matmul_int import exact_matmul, wrap_int32, zero_point_vector


@dataclass(frozen=True)
class ZeroSkipRecord:
    """What a zero-skipping operator skipped.

    a_bitmap / b_bitmap: True = all-zero block (activation / weight side). blocks_* count the
    blocks of each side; macs_* count multiply-accumulates of the whole operator.
    """

    a_bitmap: np.ndarray
    b_bitmap: np.ndarray
    a_block: tuple[int, ...]
    b_block: tuple[int, ...]
    a_blocks_zero: int
    b_blocks_zero: int
    macs_dense: int
    macs_done: int
    macs_skipped: int

    @property
    def skip_fraction(self) -> float:
        return self.macs_skipped / self.macs_dense if self.macs_dense else 0.0


def zero_block_bitmap(x, block, *, zero_point=0) -> np.ndarray:
    """Bool bitmap of all-zero blocks of ``x``.

    Numeric contract: ``x`` any integer or float array; ``block`` one positive int per axis of
    ``x``; ``zero_point`` scalar or an array broadcastable to ``x`` (e.g. per channel). Entry
    [i0, i1, ...] is True iff every element of x[i0*b0:(i0+1)*b0, ...] equals ``zero_point``
    (exact comparison; for floats -0.0 == 0.0). Result shape ceil(x.shape / block). Short edge
    blocks are judged on the elements they have. Errors: ValueError naming ``block``.
    """
    x = np.asarray(x)
    block = check_int_tuple("block", block, x.ndim, minimum=1, broadcast=True)
    is_zero = np.broadcast_to(x == np.asarray(zero_point), x.shape)
    pad = [(0, -s % b) for s, b in zip(x.shape, block)]
    is_zero = np.pad(is_zero, pad, constant_values=True)
    shape = []
    for s, b in zip(is_zero.shape, block):
        shape += [s // b, b]
    return is_zero.reshape(shape).all(axis=tuple(range(1, 2 * x.ndim, 2)))


def _expand(bitmap, block, shape):
    """Element-level view of a block bitmap, cropped to ``shape``."""
    out = bitmap
    for axis, b in enumerate(block):
        out = np.repeat(out, b, axis=axis)
    return out[tuple(slice(0, s) for s in shape)]


def skip_matmul_operands(a, b, a_zero_point, b_zero_point, a_block, b_block):
    """Check ``skip_matmul_int``'s arguments; return (a - a_zp, b - b_zp, a_block, b_block).

    Numeric contract: centred operands exact in int16 (|.| <= 255); a int8/uint8 (M, K),
    b int8/uint8 (K, N), a_zero_point scalar, b_zero_point scalar or (N,); blocks 2-tuples of
    ints >= 1 with a_block[1] == b_block[0]. Errors: TypeError/ValueError naming the argument.
    Kernels that mirror ``skip_matmul_int`` can call this to check arguments identically.
    """
    a = int_array("a", a, ndim=2)
    b = int_array("b", b, ndim=2)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"a has shape {a.shape}, b has shape {b.shape}: expected "
                         f"a.shape[1] == b.shape[0]")
    a_block = check_int_tuple("a_block", a_block, 2, minimum=1, broadcast=True)
    b_block = check_int_tuple("b_block", b_block, 2, minimum=1, broadcast=True)
    if a_block[1] != b_block[0]:
        raise ValueError(f"a_block={a_block}, b_block={b_block}: expected a_block[1] == "
                         f"b_block[0] (the K blocks must line up)")
    azp = zero_point_vector("a_zero_point", a_zero_point, a.dtype, 1, "tensor")
    bzp = zero_point_vector("b_zero_point", b_zero_point, b.dtype, b.shape[1], "column")
    ac = a.astype(np.int16) - azp.astype(np.int16)     # |.| <= 255: int16 is exact
    bc = b.astype(np.int16) - bzp.astype(np.int16)
    return ac, bc, a_block, b_block


def skip_matmul_int(a, b, *, a_zero_point=0, b_zero_point=0, a_block=(4, 4), b_block=(4, 4)):
    """``(a - a_zp) @ (b - b_zp)`` skipping all-zero blocks; returns ``(int32, ZeroSkipRecord)``.

    Numeric contract:
      - a int8/uint8 (M, K), b int8/uint8 (K, N) (int4 as int8 in -8..7); a_zero_point scalar,
        b_zero_point scalar or one per column (N,). Same result as ``matmul_int``: exact int64
        sums wrapped to int32 once (ONNX MatMulInteger). Bit-identical to dense.
      - a_block = (bm, bk), b_block = (bk, bn): the two bk must be equal (K blocks line up).
      - For each K block kb only the rows of a whose (m, kb) block is non-zero and the columns
        of b whose (kb, n) block is non-zero are multiplied: macs_done = sum over kb of
        rows * len(kb) * cols.
      - Errors: TypeError for dtypes, ValueError for shapes, zero points or blocks.
    """
    ac, bc, a_block, b_block = skip_matmul_operands(a, b, a_zero_point, b_zero_point, a_block,
                                                    b_block)
    m, k = ac.shape
    n = bc.shape[1]
    a_bitmap = zero_block_bitmap(ac, a_block)
    b_bitmap = zero_block_bitmap(bc, b_block)
    a_rows_active = ~_expand(a_bitmap, (a_block[0], 1), (m, a_bitmap.shape[1]))  # (M, nKB)
    b_cols_active = ~_expand(b_bitmap, (1, b_block[1]), (b_bitmap.shape[0], n))  # (nKB, N)
    acc = np.zeros((m, n), dtype=np.int64)
    done = 0
    bk = a_block[1]
    for kb in range(a_bitmap.shape[1]):
        rows = np.flatnonzero(a_rows_active[:, kb])
        cols = np.flatnonzero(b_cols_active[kb])
        if rows.size == 0 or cols.size == 0:
            continue
        ks = slice(kb * bk, min((kb + 1) * bk, k))
        if rows.size == m and cols.size == n:      # nothing to skip: plain slices, no gather
            acc += exact_matmul(ac[:, ks], bc[ks])
        else:
            acc[np.ix_(rows, cols)] += exact_matmul(ac[rows, ks], bc[ks][:, cols])
        done += rows.size * (ks.stop - ks.start) * cols.size
    dense = m * k * n
    record = ZeroSkipRecord(a_bitmap, b_bitmap, a_block, b_block, int(a_bitmap.sum()),
                            int(b_bitmap.sum()), dense, done, dense - done)
    return wrap_int32(acc), record


def _tap_view(arr, i, j, geometry, out_hw):
    """Values of the padded ``arr`` (..., Hp, Wp) seen by tap (i, j) at every output position."""
    (sh, sw), _, (dh, dw) = geometry
    oh, ow = out_hw
    return arr[..., i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]


def sparse_conv_accumulate(xc, wc, x_active, w_active, *, channel_block, strides, pads,
                           dilations, groups, out_hw):
    """Integer conv accumulation restricted to active operands; returns (int64 acc, macs_done).

    Numeric contract (internal engine, shared with reference.gating): ``xc`` (N, C, H, W) and
    ``wc`` (O, C/groups, KH, KW) are zero-point-centred int64; ``x_active`` bool
    (N, C/channel_block, H, W): False where an input element's channel block is skipped at that
    pixel; ``w_active`` bool (O, C/groups/channel_block, KH, KW): False where a weight block is
    skipped. ``channel_block`` must divide C/groups. acc[n, o, p] = sum over the active
    (channel block, tap) pairs of exact int64 products; a skipped operand is one whose product
    would be zero, so acc equals the dense sum exactly. Padding is inactive.
    """
    n, c, h, w = xc.shape
    o, cg, kh, kw = wc.shape
    pt, pl, pb, pr = pads
    og = o // groups
    nb = cg // channel_block
    xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=np.int64)
    xp[:, :, pt:pt + h, pl:pl + w] = xc
    ap = np.zeros((n, x_active.shape[1], h + pt + pb, w + pl + pr), dtype=bool)
    ap[:, :, pt:pt + h, pl:pl + w] = x_active
    geometry = (strides, pads, dilations)
    acc = np.zeros((n, o, out_hw[0] * out_hw[1]), dtype=np.int64)
    done = 0
    for g in range(groups):
        for blk in range(nb):
            c_lo = g * cg + blk * channel_block          # absolute input channel
            xs = xp[:, c_lo:c_lo + channel_block]
            act = ap[:, c_lo // channel_block]
            for i in range(kh):
                for j in range(kw):
                    rows = g * og + np.flatnonzero(w_active[g * og:(g + 1) * og, blk, i, j])
                    if rows.size == 0:
                        continue
                    wt = wc[rows, blk * channel_block:(blk + 1) * channel_block, i, j]
                    pos_all = _tap_view(act, i, j, geometry, out_hw).reshape(n, -1)
                    vals_all = _tap_view(xs, i, j, geometry, out_hw).reshape(n, channel_block, -1)
                    for s in range(n):
                        pos = np.flatnonzero(pos_all[s])
                        if pos.size == 0:
                            continue
                        acc[s, rows[:, None], pos[None, :]] += exact_matmul(wt,
                                                                           vals_all[s][:, pos])
                        done += rows.size * channel_block * pos.size
    return acc.reshape(n, o, out_hw[0], out_hw[1]), done


def centred_conv_operands(x, w, x_zero_point, w_zero_point, bias):
    """Check conv operands like ``conv2d_int`` and return (xc, wc, bias int64 or None).

    Numeric contract: xc = x - x_zp and wc = w - w_zp[o] exactly in int64; TypeError for
    dtypes (x, w int8/uint8; bias int32), ValueError for shapes and zero points out of range.
    """
    x = int_array("x", x, ndim=4)
    w = int_array("w", w, ndim=4)
    o = w.shape[0]
    xzp = zero_point_vector("x_zero_point", x_zero_point, x.dtype, 1, "tensor")
    wzp = zero_point_vector("w_zero_point", w_zero_point, w.dtype, o, "output channel")
    xc = x.astype(np.int64) - xzp
    wc = w.astype(np.int64) - (wzp.reshape(-1, 1, 1, 1) if wzp.ndim else wzp)
    b = None
    if bias is not None:
        b = int_array("bias", bias, ndim=1, dtypes=("int32",))
        if b.shape[0] != o:
            raise ValueError(f"bias has shape {b.shape}: expected ({o},)")
        b = b.astype(np.int64)
    return xc, wc, b


def finish_int32(acc, bias):
    """Add the int32 bias (widened) and wrap to int32 once, as conv2d_int does.

    Numeric contract: int64 acc + bias, then reduction modulo 2**32 to int32 (ONNX wrap).
    """
    if bias is not None:
        acc = acc + bias.reshape(1, -1, 1, 1)
    return wrap_int32(acc)


def skip_conv2d_int(x, w, *, x_zero_point=0, w_zero_point=0, bias=None, strides=(1, 1),
                    pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, x_block=(4, 4, 4),
                    w_block=(4, 4)):
    """Integer conv skipping all-zero activation and weight blocks; ``(int32, ZeroSkipRecord)``.

    Numeric contract:
      - operands, zero points, bias, geometry and result exactly as
        ``reference.conv_int.conv2d_int`` (bit-identical; int32 wrap once at the end).
      - x_block = (bc, bh, bw): activation blocks over (C, H, W) of each image; the bitmap has
        shape (N, ceil(C/bc), ceil(H/bh), ceil(W/bw)). w_block = (bo, bc): weight blocks over
        (O, C/groups) of each kernel tap; bitmap shape (ceil(O/bo), ceil((C/groups)/bc), KH,
        KW). The two bc must be equal and divide C/groups.
      - A MAC is skipped when its input element lies in a zero activation block or in the
        padding, or its weight lies in a zero weight block.
      - Errors: TypeError for dtypes; ValueError naming the parameter for shapes, zero points,
        geometry or blocks.
    """
    xc, wc, b = centred_conv_operands(x, w, x_zero_point, w_zero_point, bias)
    strides, pads, dilations, groups, oh, ow = conv_geometry(
        xc.shape, wc.shape, strides, pads, dilations, groups)
    x_block = check_int_tuple("x_block", x_block, 3, minimum=1, broadcast=True)
    w_block = check_int_tuple("w_block", w_block, 2, minimum=1, broadcast=True)
    cg = wc.shape[1]
    if x_block[0] != w_block[1] or cg % x_block[0]:
        raise ValueError(f"x_block={x_block}, w_block={w_block}: the channel blocks "
                         f"x_block[0] and w_block[1] must be equal and divide C/groups = {cg}")
    bc = x_block[0]
    a_bitmap = zero_block_bitmap(xc, (1,) + x_block)
    b_bitmap = zero_block_bitmap(wc, w_block + (1, 1))
    n, c, h, wd = xc.shape
    x_active = ~_expand(a_bitmap, (1, 1, x_block[1], x_block[2]), (n, c // bc, h, wd))
    w_active = ~_expand(b_bitmap, (w_block[0], 1, 1, 1), (wc.shape[0],) + b_bitmap.shape[1:])
    acc, done = sparse_conv_accumulate(xc, wc, x_active, w_active, channel_block=bc,
                                       strides=strides, pads=pads, dilations=dilations,
                                       groups=groups, out_hw=(oh, ow))
    dense = conv2d_macs(xc.shape, wc.shape, strides=strides, pads=pads, dilations=dilations,
                        groups=groups)
    record = ZeroSkipRecord(a_bitmap, b_bitmap, (1,) + x_block, w_block + (1, 1),
                            int(a_bitmap.sum()), int(b_bitmap.sum()), dense, done, dense - done)
    return finish_int32(acc, b), record


def tap_coverage(size, kernel, stride, pad_begin, dilation, out) -> np.ndarray:
    """How many (output position, kernel tap) pairs of one conv axis read each input index.

    Numeric contract: exact int64 counts, shape (size,); output position ``p`` and tap ``t``
    read input index ``p * stride - pad_begin + t * dilation`` when it lies in [0, size)
    (padding reads are not counted).
    """
    cov = np.zeros(size, dtype=np.int64)
    idx = (np.arange(out)[:, None] * stride - pad_begin
           + np.arange(kernel)[None, :] * dilation).ravel()
    np.add.at(cov, idx[(idx >= 0) & (idx < size)], 1)
    return cov


def conv_zero_skip_macs(bitmap, block, x_shape, w_shape, *, strides, pads, dilations, groups,
                        out_hw, channel_mask=None) -> int:
    """MACs of a conv that read an element of an all-zero activation block (what a zero-block
    skipping engine saves; the golden run's count).

    Numeric contract: exact Python int. ``bitmap`` is ``zero_block_bitmap`` of the NCHW input
    with ``block`` (one entry per axis); every in-image element of a True block is counted once
    per (output position, tap) that reads it (:func:`tap_coverage` per axis) and per output
    channel of its group (``O / groups``). Padding taps are never counted (a dense engine does
    them). With ``channel_mask`` ((N, C) bool, a channel gate), only kept channels count: gated
    ones are the gate's saving, not the zero-skip's.
    """
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    elems = _expand(np.asarray(bitmap, dtype=bool), tuple(block), (n, c, h, w))
    if channel_mask is not None:
        elems = elems & np.asarray(channel_mask, dtype=bool)[:, :, None, None]
    rows = tap_coverage(h, kh, strides[0], pads[0], dilations[0], out_hw[0])
    cols = tap_coverage(w, kw, strides[1], pads[1], dilations[1], out_hw[1])
    return int((elems * np.outer(rows, cols)[None, None]).sum()) * (o // groups)


def matmul_zero_skip_macs(bitmap, block, a_shape, out_shape) -> int:
    """MACs of ``a @ b`` that read an element of an all-zero block of ``a`` (golden-run count).

    Numeric contract: exact Python int. ``bitmap`` is ``zero_block_bitmap`` of ``a`` with
    ``block`` over its trailing (rows, K) dims (leading dims block 1); each zero element of
    ``a`` feeds ``out_shape[-1]`` outputs, times the batch broadcast factor
    ``prod(out_shape[:-2]) / prod(a_shape[:-2])``.
    """
    full = (1,) * (len(a_shape) - len(block)) + tuple(block)
    elems = _expand(np.asarray(bitmap, dtype=bool), full, tuple(a_shape))
    batch_rep = int(np.prod(out_shape[:-2])) // max(1, int(np.prod(a_shape[:-2])))
    return int(elems.sum()) * int(out_shape[-1]) * batch_rep

"""Integer 2-D convolution on the CPU (NCHW x, OIHW w) -> int32, bit-exact with the reference.

Mirrors `reference.conv_int.conv2d_int` (ONNX ConvInteger + int32 bias):

    y[n, o, oh, ow] = bias[o] + sum_{c in group, kh, kw} (x[n, c, ih, iw] - x_zp) * (w[o, c, kh, kw] - w_zp[o])

wrapped modulo 2**32 to int32, padded positions holding x_zp (they contribute 0).

Two paths:

* GEMM lowering (any groups): the input patches of one group are packed row by row into an
  (N*OH*OW, KH*KW*Cg) matrix (padding = x_zero_point; NHWC copy of x so each tap copies Cg
  contiguous bytes) by a Numba kernel, then multiplied by the (KH*KW*Cg, Og) weight matrix with `kernels.cpu.matmul_int.matmul_int` (vpdpbusd when
  the CPU has AVX512-VNNI). The patch matrix is the A panel of the GEMM, built once.
* Depthwise (one input channel per group): a direct Numba loop over the KH*KW taps, int64
  accumulation, narrowed once.

The bias is added to the int32 GEMM result in int64 and narrowed once (wrap).

Weights are constants in inference: `pack_conv_weights(w, groups=...)` does the weight side of
the lowering once (per-group VNNI-packed B with column sums, as onnxruntime packs initializers
at session creation) and returns a frozen `PackedConvWeights` that `conv2d_int` and
`kernels.cpu.fusion.conv_bn_relu_int` accept in place of `w`. Raw arrays keep working (packed
on every call); both give the same bits.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from kernels._args import check_groups, conv_geometry, conv_weights
from kernels.cpu._vnni import HAS_AVX512_VNNI
from kernels.cpu.matmul_int import NR, PackedB, matmul_int, packed_offset

__all__ = ["PackedConvWeights", "conv2d_int", "pack_conv_weights"]


@njit(parallel=True, cache=True)
def _im2col(xh, c0, cg, kh, kw, pad_value, strides, pads, dilations, oh, ow, out):
    """out[(n, oy, ox), (i, j, c)] = x[n, c0 + c, iy, ix] (NHWC input `xh`), or pad_value.

    Columns are ordered (tap, channel) so that each tap copies `cg` contiguous NHWC bytes.
    """
    n_img, h, wd, _ = xh.shape
    for row in prange(n_img * oh * ow):
        n = row // (oh * ow)
        p = row % (oh * ow)
        oy = p // ow
        ox = p % ow
        for i in range(kh):
            iy = oy * strides[0] - pads[0] + i * dilations[0]
            for j in range(kw):
                ix = ox * strides[1] - pads[1] + j * dilations[1]
                col = (i * kw + j) * cg
                if 0 <= iy < h and 0 <= ix < wd:
                    out[row, col:col + cg] = xh[n, iy, ix, c0:c0 + cg]
                else:
                    out[row, col:col + cg] = pad_value


@njit(parallel=True, cache=True)
def _pack_conv_b(w, o0, og, flip, k_groups, n_blocks):
    """VNNI-packed (KH*KW*Cg, Og) weight matrix of output channels o0..o0+og, straight from
    OIHW `w` (XOR 0x80 when `flip`: uint8 weights), and its column sums."""
    _, cg, kh, kw = w.shape
    out = np.zeros(n_blocks * k_groups * NR * 4, dtype=np.int8)
    colsum = np.zeros(og, dtype=np.int64)
    x = np.uint8(0x80) if flip else np.uint8(0)
    for j in prange(og):
        s = np.int64(0)
        for i in range(kh):
            for jj in range(kw):
                for c in range(cg):
                    v = np.int8(np.uint8(w[o0 + j, c, i, jj]) ^ x)
                    out[packed_offset((i * kw + jj) * cg + c, j, k_groups)] = v
                    s += v
        colsum[j] = s
    return out, colsum


def lowered_gemm_operands(x, w, groups, packed=None):
    """NHWC copy of x and per-group weight matrices (K = KH*KW*Cg ordered (i, j, c), Og):
    VNNI-packed `PackedB`s when the host has AVX512-VNNI, else plain (K, Og) arrays.
    `packed`: a `PackedConvWeights` of `w` whose matrices are reused (no packing)."""
    o, cg, kh, kw = w.shape
    og = o // groups
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if packed is not None:
        return xh, list(packed.mats), og
    return xh, _weight_matrices(w, groups), og


def _weight_matrices(w, groups):
    o, cg, kh, kw = w.shape
    og = o // groups
    k = kh * kw * cg
    if HAS_AVX512_VNNI:
        k_groups, n_blocks = -(-k // 4), -(-og // NR)
        offset = 128 if w.dtype == np.uint8 else 0
        mats = []
        for g in range(groups):
            data, colsum = _pack_conv_b(w, g * og, og, offset != 0, k_groups, n_blocks)
            mats.append(PackedB(data=data.view(np.uint8), colsum=colsum, offset=offset, k=k,
                                n=og, dtype=w.dtype))
        return mats
    return [np.ascontiguousarray(w[g * og:(g + 1) * og].transpose(0, 2, 3, 1)
                                 .reshape(og, -1).T) for g in range(groups)]


@dataclass(frozen=True, eq=False)
class PackedConvWeights:
    """Conv weights prepared once for repeated calls (see `pack_conv_weights`).

    weights: read-only copy of the (O, C/groups, KH, KW) int8/uint8 weights (int4 decoded to
    -8..7), used for argument checks and the depthwise kernel; groups: the grouping they were
    packed for; mats: per group the GEMM's B (a VNNI `PackedB` with column sums on an
    AVX512-VNNI host, else a (KH*KW*C/groups, O/groups) array); empty for depthwise weights.
    """

    weights: np.ndarray
    groups: int
    mats: tuple

    @property
    def shape(self):
        return self.weights.shape

    @property
    def dtype(self):
        return self.weights.dtype


def pack_conv_weights(w, *, groups=1, w_int4_shape=None):
    """Pack OIHW conv weights once (what onnxruntime does to initializers at session creation).

    Numeric contract: packing changes layout only: `conv2d_int(x, pack_conv_weights(w,
    groups=g), groups=g, ...)` equals `conv2d_int(x, w, groups=g, ...)` bit for bit. `w`:
    int8/uint8 (O, C/groups, KH, KW), or uint8 packed int4 bytes with `w_int4_shape` (as
    `conv2d_int`). Zero points, bias and geometry stay per-call arguments. The result copies
    `w` (later edits of `w` do not leak in). Errors: TypeError for a non-array or wrong dtype,
    ValueError naming `groups` / `w_int4_shape` when they do not fit `w`.
    """
    w = conv_weights(w, w_int4_shape)
    check_groups(groups)
    if w.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide the {w.shape[0]} output channels of w")
    weights = np.array(w, copy=True, order="C")
    weights.flags.writeable = False
    mats = () if w.shape[1] == 1 else tuple(_weight_matrices(weights, int(groups)))
    return PackedConvWeights(weights=weights, groups=int(groups), mats=mats)


def unwrap_packed(x, w, groups, w_int4_shape):
    """(weights array, PackedConvWeights or None) for a conv's `w` argument, checking that
    packed weights fit this call (ValueError naming `groups`, `x` or `w_int4_shape`)."""
    if not isinstance(w, PackedConvWeights):
        return w, None
    if w_int4_shape is not None:
        raise ValueError("w_int4_shape must be None when w is a PackedConvWeights (int4 weights "
                         f"are decoded by pack_conv_weights), got {w_int4_shape!r}")
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups != w.groups:
        raise ValueError(f"groups={groups!r} does not match the groups={w.groups} that w was "
                         "packed for (pack_conv_weights(w, groups=...))")
    if isinstance(x, np.ndarray) and x.ndim == 4 and x.shape[1] != w.shape[1] * w.groups:
        raise ValueError(f"x has {x.shape[1]} channels but the packed w expects "
                         f"{w.shape[1] * w.groups} (C/groups={w.shape[1]}, groups={w.groups})")
    return w.weights, w


@njit(parallel=True, cache=True)
def _gemm_to_nchw(acc, o0, bias, oh, ow, y):
    """y[n, o0 + o, :, :] = acc[(n, oh, ow), o] + bias[o0 + o], narrowed once (wrap)."""
    n_img = y.shape[0]
    og = acc.shape[1]
    n_ob = (og + 15) // 16  # 16 channels at a time: contiguous reads of acc, rows of y
    for t in prange(n_img * n_ob):
        n = t // n_ob
        ob = (t % n_ob) * 16
        for p in range(oh * ow):
            for o in range(ob, min(ob + 16, og)):
                y[n, o0 + o, p] = np.int32(np.int64(acc[n * oh * ow + p, o]) +
                                                         bias[o0 + o])


@njit(parallel=True, cache=True)
def _depthwise(x, w, x_zp, w_zp, bias, strides, pads, dilations, y):
    """One input channel per group; output channel o reads input channel o // multiplier."""
    n_img, c, h, wd = x.shape
    o_ch, _, kh, kw = w.shape
    mult = o_ch // c
    _, _, oh, ow = y.shape
    for t in prange(n_img * o_ch):
        n = t // o_ch
        o = t % o_ch
        ci = o // mult
        wz = w_zp[o]
        for oy in range(oh):
            for ox in range(ow):
                acc = bias[o]
                for i in range(kh):
                    iy = oy * strides[0] - pads[0] + i * dilations[0]
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = ox * strides[1] - pads[1] + j * dilations[1]
                        if 0 <= ix < wd:
                            acc += (np.int64(x[n, ci, iy, ix]) - x_zp) * \
                                (np.int64(w[o, 0, i, j]) - wz)
                y[n, o, oy, ox] = np.int32(acc)  # truncation: wraps modulo 2**32


def conv2d_int(x, w, *, x_zero_point=0, w_zero_point=0, bias=None, strides=(1, 1),
               pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, w_int4_shape=None):
    """Integer convolution, bit-exact with `reference.conv_int.conv2d_int`.

    Numeric contract: as the reference: x int8/uint8 (N, C, H, W) with scalar x_zero_point;
    w int8/uint8 (O, C/groups, KH, KW) (int4 as int8 -8..7, or packed with `w_int4_shape`),
    w_zero_point scalar or per output channel; optional int32 bias (O,); pads ONNX order
    (top, left, bottom, right) filled with x_zero_point; exact accumulation wrapped modulo
    2**32 to int32 (N, O, OH, OW). Errors: TypeError/ValueError naming the argument.
    `w` may be a `PackedConvWeights` from `pack_conv_weights` (same result, no per-call weight
    packing); its groups must equal `groups` (else ValueError).
    """
    w, packed = unwrap_packed(x, w, groups, w_int4_shape)
    w, x_zp, w_zp, bias, strides, pads, dilations, groups, (oh, ow) = conv_geometry(
        x, w, x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=bias, strides=strides,
        pads=pads, dilations=dilations, groups=groups, w_int4_shape=w_int4_shape)
    n_img, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    y = np.empty((n_img, o, oh, ow), np.int32)
    if cg == 1:
        _depthwise(np.ascontiguousarray(x), np.ascontiguousarray(w), x_zp, w_zp, bias, strides,
                   pads, dilations, y)
        return y
    xh, wmats, og = lowered_gemm_operands(x, w, groups, packed)
    cols = np.empty((n_img * oh * ow, cg * kh * kw), x.dtype)
    for g in range(groups):
        _im2col(xh, g * cg, cg, kh, kw, x.dtype.type(x_zp), strides, pads, dilations, oh, ow,
                cols)
        acc = matmul_int(cols, wmats[g], a_zero_point=x_zp,
                         b_zero_point=w_zp[g * og:(g + 1) * og])
        _gemm_to_nchw(acc, g * og, bias, oh, ow, y.reshape(n_img, o, oh * ow))
    return y


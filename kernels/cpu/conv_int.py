"""Integer 2-D convolution on the CPU (NCHW x, OIHW w) -> int32, bit-exact with the reference.

Mirrors `reference.conv_int.conv2d_int` (ONNX ConvInteger + int32 bias):

    y[n, o, oh, ow] = bias[o] + sum_{c in group, kh, kw} (x[n, c, ih, iw] - x_zp) * (w[o, c, kh, kw] - w_zp[o])

wrapped modulo 2**32 to int32, padded positions holding x_zp (they contribute 0).

Two paths:

* GEMM lowering (any groups): the input patches of one group are packed row by row into an
  (N*OH*OW, KH*KW*Cg) matrix (padding = x_zero_point; NHWC copy of x so each tap copies Cg
  contiguous bytes) by a Numba kernel, then multiplied by the (KH*KW*Cg, Og) weight matrix with `kernels.cpu.matmul_int.matmul_int` (vpdpbusd when
  the CPU has AVX512-VNNI). The patch matrix is the A panel of the GEMM, built once.
  With one group on an AVX512-VNNI host the patches are written straight into the GEMM's
  uint8 A panel (with row sums), and the epilogue (`vnni_epilogue_nchw`, shared with `kernels.cpu.fusion`) takes the raw `vpdpbusd`
  sums, applies the zero-point correction and bias (folded per channel, exact int64) and
  writes NCHW int32 rows through a staged 16-channel x 256-pixel tile (`stage_tile`, shared
  with `kernels.cpu.fusion`; Numba's cache keys on each function's own file, so clear
  `__pycache__` after changing these shared helpers).
* Depthwise (one input channel per group): a direct Numba loop over the KH*KW taps, int64
  accumulation, narrowed once.

Otherwise the bias is added to the int32 GEMM result in int64 and narrowed once (wrap).

Weights are constants in inference: `pack_conv_weights(w, groups=...)` does the weight side of
the lowering once (per-group VNNI-packed B with column sums, as onnxruntime packs initializers
at session creation) and returns a frozen `PackedConvWeights` that `conv2d_int` and
`kernels.cpu.fusion.conv_bn_relu_int` accept in place of `w`. Raw arrays keep working (packed
on every call); both give the same bits.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from kernels import _scalar
from kernels._args import check_groups, conv_geometry, conv_weights
from kernels.cpu._vnni import HAS_AVX512_VNNI
from kernels.cpu.matmul_int import (
    NR,
    PackedB,
    gemm_vnni_raw,
    matmul_int,
    packed_offset,
    padded_a_shape,
)

__all__ = ["PackedConvWeights", "conv2d_int", "pack_conv_weights"]

_ops = _scalar.build(njit(inline="always"), native_rint=True)
_requant_float_one = _ops.requant_float_one
_requant_fixed_one = _ops.requant_fixed_one
_wrap_int32 = _ops.wrap_int32


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
def _im2col_u(xh, cg, kh, kw, pad_value, flip, strides, pads, dilations, oh, ow, out, rowsum):
    """Patches of NHWC `xh` (groups=1) straight into the VNNI A panel: uint8 (XOR 0x80 when
    `flip`: int8 x), columns (i, j, c), zero padding rows/columns pre-set; with row sums."""
    n_img, h, wd, _ = xh.shape
    x = np.uint8(0x80) if flip else np.uint8(0)
    pad_u = np.uint8(pad_value) ^ x
    for row in prange(n_img * oh * ow):
        n = row // (oh * ow)
        p = row % (oh * ow)
        oy = p // ow
        ox = p % ow
        s = np.int64(0)
        for i in range(kh):
            iy = oy * strides[0] - pads[0] + i * dilations[0]
            for j in range(kw):
                ix = ox * strides[1] - pads[1] + j * dilations[1]
                dst = out[row, (i * kw + j) * cg:(i * kw + j + 1) * cg]
                if 0 <= iy < h and 0 <= ix < wd:  # branch outside the channel loop: it vectorizes
                    src = xh[n, iy, ix]
                    for c in range(cg):
                        v = np.uint8(src[c]) ^ x
                        dst[c] = v
                        s += np.int64(v)
                else:
                    for c in range(cg):
                        dst[c] = pad_u
                    s += np.int64(pad_u) * cg
        rowsum[row] = s


#: Output pixels per epilogue task. A task stages a 16-channel x 256-pixel tile of the GEMM
#: result (contiguous 64-byte reads per pixel) transposed into a local buffer, then writes
#: each channel's contiguous NCHW row in a loop LLVM vectorizes.
EPI_PIXELS = 256


@njit(inline="always")
def epi_tasks(y, hw):
    """Epilogue task count over y (N, O, OH*OW): (image, 16-channel block, pixel block)."""
    return y.shape[0] * ((y.shape[1] + 15) // 16) * ((hw + EPI_PIXELS - 1) // EPI_PIXELS)


@njit(inline="always")
def stage_tile(c, n_pad, t, o_total, hw):
    """Task t's (n, first channel ob, channels, first pixel p0, pixels npx, first GEMM row i0)
    and its (16, EPI_PIXELS) int32 tile[ol, pl] = c[(i0 + pl) * n_pad + ob + ol], pl < npx
    (`c` has n_pad >= 16 * ceil(O / 16) columns, so the block never reads past it)."""
    n_ob = (o_total + 15) // 16
    n_pb = (hw + EPI_PIXELS - 1) // EPI_PIXELS
    n = t // (n_ob * n_pb)
    r = t % (n_ob * n_pb)
    ob = (r // n_pb) * 16
    p0 = (r % n_pb) * EPI_PIXELS
    npx = min(EPI_PIXELS, hw - p0)
    i0 = n * hw + p0
    tile = np.empty((16, EPI_PIXELS), np.int32)
    for pl in range(npx):
        row = (i0 + pl) * n_pad + ob
        for ol in range(16):
            tile[ol, pl] = c[row + ol]
    return n, ob, min(16, o_total - ob), p0, npx, i0, tile


@njit(parallel=True, cache=True)
def vnni_epilogue_nchw(c, n_pad, rowsum, corr, b0, requant, fixed_point, m, multiplier, shift,
                       variant, zp, lo, hi, hw, y):
    """y[n, o, p] from the raw VNNI sums, i = n*hw + p:
    v = wrap32(c[i, o] - b0[o] * rowsum[i] + corr[o]), with corr[o] = bias[o] - A0 * colsum[o]
    + K * A0 * b0[o] (exact int64, folded per call); y = v (int32) or, when `requant`,
    the requantized and clamped int8/uint8 value (`kernels._scalar`, as the requantize kernel)."""
    for t in prange(epi_tasks(y, hw)):
        n, ob, nch, p0, npx, i0, tile = stage_tile(c, n_pad, t, y.shape[1], hw)
        rs = rowsum[i0:i0 + npx]
        for ol in range(nch):
            o = ob + ol
            base, bo, src, dst = corr[o], b0[o], tile[ol], y[n, o, p0:p0 + npx]
            if not requant:
                for pl in range(npx):
                    dst[pl] = _wrap_int32(np.int64(src[pl]) - bo * rs[pl] + base)
            elif fixed_point:
                mul = multiplier[o]
                sh = shift[o]
                for pl in range(npx):
                    v = _wrap_int32(np.int64(src[pl]) - bo * rs[pl] + base)
                    dst[pl] = _requant_fixed_one(v, mul, sh, variant, zp, lo, hi)
            else:
                mo = m[o]
                for pl in range(npx):
                    v = _wrap_int32(np.int64(src[pl]) - bo * rs[pl] + base)
                    dst[pl] = _requant_float_one(v, mo, zp, lo, hi)


def gemm_nchw_vnni(x, xh, packed, x_zp, w_zp, bias64, kh, kw, strides, pads, dilations, oh,
                   ow):
    """groups=1 on a VNNI host: patches packed straight into the uint8 A panel, raw GEMM, and
    (raw sums, n_pad, rowsum, per-channel correction, b0) for an NCHW epilogue."""
    n_img, cg = x.shape[0], xh.shape[3]
    rows = n_img * oh * ow
    a_u = np.empty(padded_a_shape(rows, packed.k), np.uint8)
    a_u[rows:] = 0  # only the padding is zeroed: the patch kernel writes every real byte
    a_u[:rows, packed.k:] = 0
    rowsum = np.empty(rows, np.int64)
    _im2col_u(xh, cg, kh, kw, x.dtype.type(x_zp), x.dtype == np.int8, strides, pads, dilations,
              oh, ow, a_u, rowsum)
    c = gemm_vnni_raw(a_u, packed)
    a0 = np.int64(x_zp + (128 if x.dtype == np.int8 else 0))
    b0 = w_zp.astype(np.int64) - packed.offset
    corr = bias64 - a0 * packed.colsum + np.int64(packed.k) * a0 * b0
    return c, c.size // a_u.shape[0], rowsum, corr, b0


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
    if groups == 1 and isinstance(wmats[0], PackedB):  # one VNNI GEMM, patches packed as A
        raw, n_pad, rowsum, corr, b0 = gemm_nchw_vnni(x, xh, wmats[0], x_zp, w_zp, bias, kh, kw,
                                                      strides, pads, dilations, oh, ow)
        unused = np.zeros(1, np.int64)  # requantize parameters, not read for int32 output
        vnni_epilogue_nchw(raw, n_pad, rowsum, corr, b0, False, False, unused.astype(np.float32),
                           unused, unused, 0, 0, 0, 0, oh * ow, y.reshape(n_img, o, oh * ow))
        return y
    cols = np.empty((n_img * oh * ow, cg * kh * kw), x.dtype)
    for g in range(groups):
        _im2col(xh, g * cg, cg, kh, kw, x.dtype.type(x_zp), strides, pads, dilations, oh, ow,
                cols)
        acc = matmul_int(cols, wmats[g], a_zero_point=x_zp,
                         b_zero_point=w_zp[g * og:(g + 1) * og])
        _gemm_to_nchw(acc, g * og, bias, oh, ow, y.reshape(n_img, o, oh * ow))
    return y


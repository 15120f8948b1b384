"""Integer 2-D convolution in Numba-CUDA (NCHW x, OIHW w) -> int32, bit-exact with the reference.

Mirrors `reference.conv_int.conv2d_int` and `kernels.cpu.conv_int.conv2d_int`.

* `conv_implicit_gemm_kernel`: implicit GEMM per group (grid z = group). GEMM rows are output
  pixels (n, oy, ox), columns the group's output channels, and the K index (c, i, j) is
  decoded into an input coordinate while the A tile is staged in shared memory; no im2col
  matrix exists. Out-of-image taps (padding, value x_zero_point) and out-of-range rows/K are
  loaded as 0 after centring, so they add nothing.
* `depthwise_kernel`: one thread per output element for one-input-channel groups.

Accumulation is int32 with wrap-around (`int32(acc + ...)` each step), equal modulo 2**32 to
the reference's exact sum; the bias is added the same way.
"""

import math

import numpy as np
from numba import cuda, int32

from kernels._args import conv_geometry
from kernels.cuda._index import nchw_of

__all__ = ["conv2d_int"]

#: Output tile edge of the implicit GEMM (TILE x TILE threads) and its K step.
TILE = 16
#: Threads per block of the depthwise kernel.
DEPTHWISE_THREADS = 128


@cuda.jit(cache=True)
def conv_implicit_gemm_kernel(x, w, x_zp, w_zp, bias, sh, sw, pt, pl, dh, dw, oh, ow, y):
    """y[n, g*og + col, oy, ox] for GEMM row (n, oy, ox) and column col of group g."""
    a_tile = cuda.shared.array((TILE, TILE), int32)
    b_tile = cuda.shared.array((TILE, TILE), int32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    g = cuda.blockIdx.z
    n_img, _, h, wd = x.shape
    o_total, cg, kh, kw = w.shape
    og = o_total // cuda.gridDim.z
    m = n_img * oh * ow
    k_total = cg * kh * kw
    row = cuda.blockIdx.y * TILE + ty        # output pixel of this thread
    col = cuda.blockIdx.x * TILE + tx        # output channel within the group
    a_row = cuda.blockIdx.y * TILE + ty      # row this thread stages into a_tile
    an = a_row // (oh * ow)
    ap = a_row % (oh * ow)
    ay = (ap // ow) * sh - pt
    ax = (ap % ow) * sw - pl
    b_col = g * og + col
    acc = int32(0)
    for k0 in range(0, k_total, TILE):
        ka = k0 + tx
        val = int32(0)
        if a_row < m and ka < k_total:
            c = ka // (kh * kw)
            r = ka % (kh * kw)
            iy = ay + (r // kw) * dh
            ix = ax + (r % kw) * dw
            if iy >= 0 and iy < h and ix >= 0 and ix < wd:
                val = int32(x[an, g * cg + c, iy, ix]) - x_zp
        a_tile[ty, tx] = val
        kb = k0 + ty
        wv = int32(0)
        if kb < k_total and col < og:
            c = kb // (kh * kw)
            r = kb % (kh * kw)
            wv = int32(w[b_col, c, r // kw, r % kw]) - w_zp[b_col]
        b_tile[ty, tx] = wv
        cuda.syncthreads()
        for t in range(TILE):
            acc = int32(acc + a_tile[ty, t] * b_tile[t, tx])
        cuda.syncthreads()
    if row < m and col < og:
        n = row // (oh * ow)
        p = row % (oh * ow)
        y[n, b_col, p // ow, p % ow] = int32(acc + bias[b_col])


@cuda.jit(cache=True)
def depthwise_kernel(x, w, x_zp, w_zp, bias, sh, sw, pt, pl, dh, dw, y):
    """One thread per output element; output channel o reads input channel o // multiplier."""
    t = cuda.grid(1)
    n_img, c, h, wd = x.shape
    o_total, _, kh, kw = w.shape
    _, _, oh, ow = y.shape
    if t >= n_img * o_total * oh * ow:
        return
    n, o, oy, ox = nchw_of(t, o_total, oh, ow)
    ci = o // (o_total // c)
    acc = int32(bias[o])
    for i in range(kh):
        iy = oy * sh - pt + i * dh
        for j in range(kw):
            ix = ox * sw - pl + j * dw
            if iy >= 0 and iy < h and ix >= 0 and ix < wd:
                acc = int32(acc + (int32(x[n, ci, iy, ix]) - x_zp) *
                            (int32(w[o, 0, i, j]) - w_zp[o]))
    y[n, o, oy, ox] = acc


def conv2d_int(x, w, *, x_zero_point=0, w_zero_point=0, bias=None, strides=(1, 1),
               pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, w_int4_shape=None):
    """CUDA integer convolution, bit-exact with `reference.conv_int.conv2d_int`.

    Numeric contract: as the reference (see `kernels.cpu.conv_int.conv2d_int`); packed int4
    weights (`w_int4_shape`) are decoded on the host before the launch. Errors:
    TypeError/ValueError naming the argument.
    """
    w, x_zp, w_zp, bias, strides, pads, dilations, groups, (oh, ow) = conv_geometry(
        x, w, x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=bias, strides=strides,
        pads=pads, dilations=dilations, groups=groups, w_int4_shape=w_int4_shape)
    n_img = x.shape[0]
    o, cg = w.shape[:2]
    geometry = (strides[0], strides[1], pads[0], pads[1], dilations[0], dilations[1])
    d_x = cuda.to_device(np.ascontiguousarray(x))
    d_w = cuda.to_device(np.ascontiguousarray(w))
    d_wzp = cuda.to_device(w_zp.astype(np.int32))
    d_bias = cuda.to_device(bias.astype(np.int64).astype(np.int32))
    y = cuda.device_array((n_img, o, oh, ow), np.int32)
    if cg == 1:
        total = n_img * o * oh * ow
        blocks = math.ceil(total / DEPTHWISE_THREADS)
        depthwise_kernel[blocks, DEPTHWISE_THREADS](d_x, d_w, x_zp, d_wzp, d_bias, *geometry, y)
    else:
        grid = (math.ceil(o // groups / TILE), math.ceil(n_img * oh * ow / TILE), groups)
        conv_implicit_gemm_kernel[grid, (TILE, TILE)](d_x, d_w, x_zp, d_wzp, d_bias, *geometry,
                                                      oh, ow, y)
    return y.copy_to_host()

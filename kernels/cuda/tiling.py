"""Output-tiled integer convolution in Numba-CUDA with shared-memory halos.

Bit-exact with `reference.tiling.tiled_conv2d_int`. One thread block per (output tile, output
channel, image), one thread per output pixel of the tile (`tile` up to TILE_MAX x TILE_MAX).
For each input channel of the group, the block cooperatively stages the tile's input window
(tile plus halo, zero-point-centred, 0 outside the image) in shared memory, synchronises,
and every thread accumulates its KH x KW taps from shared memory. The first output channel of
each group counts the in-image elements it staged (int64 atomic): the record's
`input_elements_read`. Windows larger than HALO_MAX x HALO_MAX raise ValueError.
"""

import numpy as np
from numba import cuda, int32

from kernels.cpu.tiling import tiling_params
from kernels.cuda.conv_int import conv2d_int
from reference.tiling import TilingRecord

__all__ = ["tiled_conv2d_int"]

#: Largest tile edge (threads per block edge) and largest staged window edge.
TILE_MAX = 16
HALO_MAX = 24


@cuda.jit(cache=True)
def tiled_conv_kernel(x, w, x_zp, w_zp, bias, sh, sw, pt, pl, dh, dw, grid_w, y, reads):
    win = cuda.shared.array((HALO_MAX, HALO_MAX), int32)
    n_img, c, h, wd = x.shape
    o_total, cg, kh, kw = w.shape
    _, _, oh, ow = y.shape
    th = cuda.blockDim.y
    tw = cuda.blockDim.x
    o = cuda.blockIdx.y
    n = cuda.blockIdx.z
    r0 = (cuda.blockIdx.x // grid_w) * th
    c0 = (cuda.blockIdx.x % grid_w) * tw
    g = o // (o_total // (c // cg))
    ty = r0 + cuda.threadIdx.y
    tx = c0 + cuda.threadIdx.x
    win_h = (min(r0 + th, oh) - 1 - r0) * sh + dh * (kh - 1) + 1
    win_w = (min(c0 + tw, ow) - 1 - c0) * sw + dw * (kw - 1) + 1
    y0 = r0 * sh - pt
    x0 = c0 * sw - pl
    lane = cuda.threadIdx.y * tw + cuda.threadIdx.x
    counting = o % (o_total // (c // cg)) == 0
    acc = int32(bias[o])
    wz = w_zp[o]
    for cl in range(cg):
        ci = g * cg + cl
        loaded = 0
        for e in range(lane, win_h * win_w, th * tw):  # cooperative, bounds-guarded load
            u = e // win_w
            v = e % win_w
            iy = y0 + u
            ix = x0 + v
            val = int32(0)
            if iy >= 0 and iy < h and ix >= 0 and ix < wd:
                val = int32(x[n, ci, iy, ix]) - x_zp
                loaded += 1
            win[u, v] = val
        if counting and loaded > 0:
            cuda.atomic.add(reads, 0, loaded)
        cuda.syncthreads()
        if ty < oh and tx < ow:
            by = (ty - r0) * sh
            bx = (tx - c0) * sw
            for i in range(kh):
                for j in range(kw):
                    acc = int32(acc + win[by + i * dh, bx + j * dw] *
                                (int32(w[o, cl, i, j]) - wz))
        cuda.syncthreads()
    if ty < oh and tx < ow:
        y[n, o, ty, tx] = acc


def tiled_conv2d_int(x, w, *, x_zero_point=0, w_zero_point=0, bias=None, strides=(1, 1),
                     pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, tile=(4, 4),
                     min_map=(16, 16)):
    """Bit-exact CUDA twin of `reference.tiling.tiled_conv2d_int`: `(int32, TilingRecord)`."""
    conv_kw = dict(x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=bias,
                   strides=strides, pads=pads, dilations=dilations, groups=groups)
    geo, tile, tiled, grid, macs = tiling_params(x, w, conv_kw, tile, min_map)
    if not tiled:
        out = conv2d_int(x, w, **conv_kw)
        return out, TilingRecord(False, tile, (1, 1), macs, macs, 0, x.size, x.size)
    w, x_zp, w_zp, bias64, strides, pads, dilations, groups, (oh, ow) = geo
    _, _, kh, kw = w.shape
    win = ((tile[0] - 1) * strides[0] + dilations[0] * (kh - 1) + 1,
           (tile[1] - 1) * strides[1] + dilations[1] * (kw - 1) + 1)
    if max(tile) > TILE_MAX or max(win) > HALO_MAX:
        raise ValueError(f"tile={tile} needs a {win[0]}x{win[1]} input window; the CUDA kernel "
                         f"supports tiles up to {TILE_MAX} and windows up to {HALO_MAX}")
    y = cuda.device_array((x.shape[0], w.shape[0], oh, ow), np.int32)
    reads = cuda.to_device(np.zeros(1, np.int64))
    launch = (grid[0] * grid[1], w.shape[0], x.shape[0])
    tiled_conv_kernel[launch, (tile[1], tile[0])](
        cuda.to_device(np.ascontiguousarray(x)), cuda.to_device(np.ascontiguousarray(w)), x_zp,
        cuda.to_device(w_zp.astype(np.int32)), cuda.to_device(bias64.astype(np.int32)),
        strides[0], strides[1], pads[0], pads[1], dilations[0], dilations[1], grid[1], y, reads)
    return y.copy_to_host(), TilingRecord(True, tile, grid, macs, macs, 0, x.size,
                                          int(reads.copy_to_host()[0]))

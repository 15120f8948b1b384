"""Output-tiled integer convolution on the CPU, bit-exact with `reference.tiling.tiled_conv2d_int`.

The output map is cut into `tile` (default 4x4) tiles; for each (image, tile) the kernel
stages the tile's input window (the tile plus its halo, x_zero_point outside the image) into a
local zero-point-centred buffer, then computes the tile's outputs for every output channel
from that buffer only, the way the CUDA kernel uses shared memory. It counts the in-image
input elements it loaded: the record's `input_elements_read`. Exact int64 sums, one int32
wrap with the bias, so the result equals the untiled conv. Maps smaller than `min_map` run
untiled through `kernels.cpu.conv_int.conv2d_int`, as the reference does.
"""

import math

import numpy as np
from numba import njit, prange

from kernels._args import conv_geometry
from kernels.cpu.conv_int import conv2d_int
from reference._validate import check_int_tuple
from reference.tiling import TilingRecord

__all__ = ["tiled_conv2d_int", "tiling_params"]


@njit(parallel=True, cache=True)
def _tiled_conv(x, w, x_zp, w_zp, bias, groups, strides, pads, dilations, tile, y, reads):
    n_img, c, h, wd = x.shape
    o_total, cg, kh, kw = w.shape
    _, _, oh, ow = y.shape
    og = o_total // groups
    th, tw = tile
    sh, sw = strides
    dh, dw = dilations
    grid_h = (oh + th - 1) // th
    grid_w = (ow + tw - 1) // tw
    win_h = (th - 1) * sh + dh * (kh - 1) + 1
    win_w = (tw - 1) * sw + dw * (kw - 1) + 1
    for t in prange(n_img * grid_h * grid_w):
        n = t // (grid_h * grid_w)
        r0 = ((t // grid_w) % grid_h) * th
        c0 = (t % grid_w) * tw
        y0 = r0 * sh - pads[0]
        x0 = c0 * sw - pads[1]
        # the window of this tile as clipped to the output map (edge tiles may be short)
        tile_h = (min(r0 + th, oh) - 1 - r0) * sh + dh * (kh - 1) + 1
        tile_w = (min(c0 + tw, ow) - 1 - c0) * sw + dw * (kw - 1) + 1
        win = np.zeros((c, win_h, win_w), dtype=np.int32)  # the staged halo window
        loaded = 0
        for ci in range(c):
            for u in range(tile_h):
                iy = y0 + u
                if iy < 0 or iy >= h:
                    continue
                for v in range(tile_w):
                    ix = x0 + v
                    if 0 <= ix < wd:
                        win[ci, u, v] = np.int32(x[n, ci, iy, ix]) - x_zp
                        loaded += 1
        reads[t] = loaded
        for o in range(o_total):
            g = o // og
            wz = w_zp[o]
            for ty in range(r0, min(r0 + th, oh)):
                for tx in range(c0, min(c0 + tw, ow)):
                    acc = bias[o]
                    by = (ty - r0) * sh
                    bx = (tx - c0) * sw
                    for cl in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                acc += np.int64(win[g * cg + cl, by + i * dh, bx + j * dw]) * \
                                    (np.int64(w[o, cl, i, j]) - wz)
                    y[n, o, ty, tx] = np.int32(acc)  # truncation: wraps modulo 2**32


def tiling_params(x, w, kwargs, tile, min_map):
    """Checked conv geometry plus tile/min_map and the dense MAC count."""
    geo = conv_geometry(x, w, w_int4_shape=None, **kwargs)
    tile = check_int_tuple("tile", tile, 2, minimum=1, broadcast=True)
    min_map = check_int_tuple("min_map", min_map, 2, minimum=1, broadcast=True)
    w_unpacked, (oh, ow) = geo[0], geo[-1]
    o, cg, kh, kw = w_unpacked.shape
    macs = x.shape[0] * o * oh * ow * cg * kh * kw
    tiled = x.shape[2] >= min_map[0] and x.shape[3] >= min_map[1]
    grid = (math.ceil(oh / tile[0]), math.ceil(ow / tile[1])) if tiled else (1, 1)
    return geo, tile, tiled, grid, macs


def tiled_conv2d_int(x, w, *, x_zero_point=0, w_zero_point=0, bias=None, strides=(1, 1),
                     pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, tile=(4, 4),
                     min_map=(16, 16)):
    """Bit-exact CPU twin of `reference.tiling.tiled_conv2d_int`: `(int32, TilingRecord)`."""
    conv_kw = dict(x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=bias,
                   strides=strides, pads=pads, dilations=dilations, groups=groups)
    geo, tile, tiled, grid, macs = tiling_params(x, w, conv_kw, tile, min_map)
    if not tiled:
        out = conv2d_int(x, w, **conv_kw)
        return out, TilingRecord(False, tile, (1, 1), macs, macs, 0, x.size, x.size)
    w, x_zp, w_zp, bias64, strides, pads, dilations, groups, (oh, ow) = geo
    y = np.empty((x.shape[0], w.shape[0], oh, ow), np.int32)
    reads = np.zeros(x.shape[0] * grid[0] * grid[1], np.int64)
    _tiled_conv(np.ascontiguousarray(x), np.ascontiguousarray(w), x_zp, w_zp, bias64, groups,
                strides, pads, dilations, tile, y, reads)
    return y, TilingRecord(True, tile, grid, macs, macs, 0, x.size, int(reads.sum()))

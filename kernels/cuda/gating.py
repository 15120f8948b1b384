"""Gated integer convolution in Numba-CUDA, bit-exact with `reference.gating.gated_conv2d_int`.

One thread per output element, the same skipping rules as `kernels.cpu.gating` (masked input
channels not computed, masked pixels' taps skipped); each thread adds the MACs it performed
(dense terms: padding taps of computed channels count) to a global int64 counter.
"""

import math

import numpy as np
from numba import cuda, int32, int64

from kernels.cpu.gating import gating_params
from kernels.cuda._index import nchw_of
from reference.gating import GateRecord

__all__ = ["gated_conv2d_int"]

#: Threads per block.
THREADS = 128


@cuda.jit(cache=True)
def gated_conv_kernel(x, w, mask, spatial, x_zp, w_zp, bias, sh, sw, pt, pl, dh, dw, y, done):
    t = cuda.grid(1)
    n_img, c, h, wd = x.shape
    o_total, cg, kh, kw = w.shape
    _, _, oh, ow = y.shape
    if t >= n_img * o_total * oh * ow:
        return
    n, o, oy, ox = nchw_of(t, o_total, oh, ow)
    g = o // (o_total // (c // cg))
    wz = w_zp[o]
    acc = int32(bias[o])
    count = int64(0)
    for cl in range(cg):
        ci = g * cg + cl
        if spatial == 0 and mask[n, ci, 0] == 0:
            continue
        for i in range(kh):
            iy = oy * sh - pt + i * dh
            for j in range(kw):
                ix = ox * sw - pl + j * dw
                if iy < 0 or iy >= h or ix < 0 or ix >= wd:
                    count += 1
                elif spatial == 0 or mask[n, iy, ix] != 0:
                    acc = int32(acc + (int32(x[n, ci, iy, ix]) - x_zp) *
                                (int32(w[o, cl, i, j]) - wz))
                    count += 1
    y[n, o, oy, ox] = acc
    cuda.atomic.add(done, 0, count)


def gated_conv2d_int(x, w, mask, *, kind="channel", x_zero_point=0, w_zero_point=0, bias=None,
                     strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """Bit-exact CUDA twin of `reference.gating.gated_conv2d_int`: `(int32, GateRecord)`."""
    conv_kw = dict(x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=bias,
                   strides=strides, pads=pads, dilations=dilations, groups=groups)
    geo, mask3, dense = gating_params(x, w, mask, kind, conv_kw)
    w, x_zp, w_zp, bias64, strides, pads, dilations, groups, (oh, ow) = geo
    y = cuda.device_array((x.shape[0], w.shape[0], oh, ow), np.int32)
    done = cuda.to_device(np.zeros(1, np.int64))
    total = y.size
    gated_conv_kernel[max(1, math.ceil(total / THREADS)), THREADS](
        cuda.to_device(np.ascontiguousarray(x)), cuda.to_device(np.ascontiguousarray(w)),
        cuda.to_device(mask3.astype(np.int8)), 1 if kind == "spatial" else 0, x_zp,
        cuda.to_device(w_zp.astype(np.int32)), cuda.to_device(bias64.astype(np.int32)),
        strides[0], strides[1], pads[0], pads[1], dilations[0], dilations[1], y, done)
    macs_done = int(done.copy_to_host()[0])
    return y.copy_to_host(), GateRecord(kind, np.array(mask, dtype=bool), dense, macs_done,
                                        dense - macs_done)

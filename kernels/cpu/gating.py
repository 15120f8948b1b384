"""Gated integer convolution on the CPU, bit-exact with `reference.gating.gated_conv2d_int`.

kind "channel": per image, masked input channels are not computed at all (the kernel skips
the whole channel loop); kind "spatial": taps whose input pixel is masked are skipped. A
masked operand equals the zero point, so its product is 0 and skipping it leaves the exact
int64 sum unchanged (one int32 wrap with the bias at the end). The kernel counts the MACs it
performed in the reference's dense terms (padding taps of a computed channel count as done,
as a dense engine does them), which gives the record's `macs_done`.
"""

import numpy as np
from numba import njit, prange

from kernels._args import conv_geometry
from reference.gating import GateRecord

__all__ = ["gated_conv2d_int", "gating_params"]


@njit(parallel=True, cache=True)
def _gated_conv(x, w, mask, spatial, x_zp, w_zp, bias, groups, strides, pads, dilations, y,
                done):
    n_img, c, h, wd = x.shape
    o_total, cg, kh, kw = w.shape
    _, _, oh, ow = y.shape
    og = o_total // groups
    for t in prange(n_img * o_total):
        n = t // o_total
        o = t % o_total
        g = o // og
        wz = w_zp[o]
        count = 0
        for oy in range(oh):
            for ox in range(ow):
                acc = bias[o]
                for cl in range(cg):
                    ci = g * cg + cl
                    if not spatial and not mask[n, ci, 0]:
                        continue  # gated channel: not computed at all
                    for i in range(kh):
                        iy = oy * strides[0] - pads[0] + i * dilations[0]
                        for j in range(kw):
                            ix = ox * strides[1] - pads[1] + j * dilations[1]
                            if iy < 0 or iy >= h or ix < 0 or ix >= wd:
                                count += 1  # padding tap: a dense engine does it (adds 0)
                                continue
                            if spatial and not mask[n, iy, ix]:
                                continue
                            acc += (np.int64(x[n, ci, iy, ix]) - x_zp) * \
                                (np.int64(w[o, cl, i, j]) - wz)
                            count += 1
                y[n, o, oy, ox] = np.int32(acc)  # truncation: wraps modulo 2**32
        done[t] = count


def gating_params(x, w, mask, kind, conv_kw):
    """Checked geometry and the mask as a 3-D bool array ((N, C, 1) or (N, H, W))."""
    if kind not in ("channel", "spatial"):
        raise ValueError(f"kind={kind!r}: expected 'channel' or 'spatial'")
    geo = conv_geometry(x, w, w_int4_shape=None, **conv_kw)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask has dtype {mask.dtype}: expected bool")
    n, c, h, wd = x.shape
    want = (n, c) if kind == "channel" else (n, h, wd)
    if mask.shape != want:
        raise ValueError(f"mask has shape {mask.shape}: expected {want} for kind={kind!r}")
    mask3 = mask.reshape(n, c, 1) if kind == "channel" else mask
    o, cg, kh, kw = geo[0].shape
    oh, ow = geo[-1]
    dense = n * o * oh * ow * cg * kh * kw
    return geo, np.ascontiguousarray(mask3), dense


def gated_conv2d_int(x, w, mask, *, kind="channel", x_zero_point=0, w_zero_point=0, bias=None,
                     strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """Bit-exact CPU twin of `reference.gating.gated_conv2d_int`: `(int32, GateRecord)`."""
    conv_kw = dict(x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=bias,
                   strides=strides, pads=pads, dilations=dilations, groups=groups)
    geo, mask3, dense = gating_params(x, w, mask, kind, conv_kw)
    w, x_zp, w_zp, bias64, strides, pads, dilations, groups, (oh, ow) = geo
    y = np.empty((x.shape[0], w.shape[0], oh, ow), np.int32)
    done = np.zeros(x.shape[0] * w.shape[0], np.int64)
    _gated_conv(np.ascontiguousarray(x), np.ascontiguousarray(w), mask3, kind == "spatial",
                x_zp, w_zp, bias64, groups, strides, pads, dilations, y, done)
    macs_done = int(done.sum())
    return y, GateRecord(kind, np.array(mask, dtype=bool), dense, macs_done, dense - macs_done)

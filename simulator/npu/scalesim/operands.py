"""SCALE-Sim 3.0.0's operand address matrices, built with numpy.

A conv layer is the GEMM ``O[Npx x M] = I[Npx x W] . F[W x M]`` (Npx output pixels, window
``W = R*S*C``, M filters). SCALE-Sim gives every operand element a word address: the ifmap in
HWC order from ``IfmapOffset`` (``-1`` where a window runs past the input, its ``ceil`` output
size), the filter as ``filter * W + window_index`` from ``FilterOffset``, the ofmap as
``pixel * M + filter`` from ``OfmapOffset``. The memory replay reads these matrices."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.npu.scalesim.io import ScaleSimConfig, TopologyRow


@njit(cache=True)
def ifmap_operand(h: int, w: int, r: int, s: int, c: int, stride_h: int, stride_w: int,
                  out_h: int, out_w: int, offset: int) -> np.ndarray:
    """(out_h*out_w) x (r*s*c) ifmap addresses, ``-1`` outside the input."""
    out = np.empty((out_h * out_w, r * s * c), np.int64)
    for p in range(out_h * out_w):
        iy, ix = (p // out_w) * stride_h, (p % out_w) * stride_w
        k = 0
        for ry in range(r):
            for rx in range(s):
                y, x = iy + ry, ix + rx
                inside = y < h and x < w
                a = (y * w + x) * c + offset
                for ch in range(c):
                    out[p, k] = a + ch if inside else -1
                    k += 1
    return out


def filter_operand(window: int, filters: int, offset: int) -> np.ndarray:
    """window x filters filter addresses."""
    return (np.arange(filters)[None, :] * window + np.arange(window)[:, None] + offset).astype(
        np.int64)


def row_operands(row: TopologyRow, config: ScaleSimConfig) -> tuple[np.ndarray, np.ndarray]:
    """A topology row's ifmap and filter operand matrices under ``config``'s offsets."""
    ifop = ifmap_operand(row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels,
                         row.stride_h, row.stride_w, row.ofmap_h, row.ofmap_w,
                         config.ifmap_offset)
    return ifop, filter_operand(row.window, row.filters, config.filter_offset)

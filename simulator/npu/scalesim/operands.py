"""SCALE-Sim 3.0.0's operand address matrices, built with numpy.

A conv layer is the GEMM ``O[Npx x M] = I[Npx x W] . F[W x M]`` (Npx output pixels, window
``W = R*S*C``, M filters). SCALE-Sim gives every operand element a word address: the ifmap in
HWC order from ``IfmapOffset`` (``-1`` where a window runs past the input, its ``ceil`` output
size), the filter as ``filter * W + window_index`` from ``FilterOffset``, the ofmap as
``pixel * M + filter`` from ``OfmapOffset``. The memory replay reads these matrices."""

from __future__ import annotations

import numpy as np


def ifmap_operand(h: int, w: int, r: int, s: int, c: int, stride_h: int, stride_w: int,
                  out_h: int, out_w: int, offset: int) -> np.ndarray:
    """(out_h*out_w) x (r*s*c) ifmap addresses, ``-1`` outside the input."""
    pix = np.arange(out_h * out_w)
    oy, ox = np.divmod(pix, out_w)
    iy, ix = (oy * stride_h)[:, None], (ox * stride_w)[:, None]
    win = np.arange(r * s * c)
    ry, rest = np.divmod(win, s * c)
    rx, ch = np.divmod(rest, c)
    y, x = iy + ry[None, :], ix + rx[None, :]
    addr = (y * w + x) * c + ch[None, :] + offset
    return np.where((y < h) & (x < w), addr, -1).astype(np.int64)


def filter_operand(window: int, filters: int, offset: int) -> np.ndarray:
    """window x filters filter addresses."""
    return (np.arange(filters)[None, :] * window + np.arange(window)[:, None] + offset).astype(
        np.int64)

"""Image preprocessing on the CPU, bit-exact with `reference.image_ops`.

`resize_bilinear` runs OpenCV's 8-bit fixed-point bilinear resize as one fused pass: the taps
and 11-bit weights come from the reference (host side, exact), the kernel does the horizontal
int32 pass for the two source rows of each output row and the vertical shift-and-round of the
contract, per output row in parallel. The exact 2x downscale (OpenCV's area path) and the
argument checks are the reference's. Not in `kernels.registry` (which pairs every operator with
a CUDA kernel); tested against the reference in `tests/kernels/test_image_ops.py`.
"""

import numpy as np
from numba import njit, prange

from reference import image_ops as ref

__all__ = ["resize_bilinear"]


@njit(parallel=True, cache=True)
def _bilinear_kernel(img, x0, x1, a0, a1, y0, y1, b0, b1, out):
    height, width, ch = out.shape
    for y in prange(height):
        for x in range(width):
            for c in range(ch):
                # horizontal pass of the two rows: < 2**20, then the vertical shifts
                h0 = np.int32(img[y0[y], x0[x], c]) * a0[x] + np.int32(img[y0[y], x1[x], c]) * a1[x]
                h1 = np.int32(img[y1[y], x0[x], c]) * a0[x] + np.int32(img[y1[y], x1[x], c]) * a1[x]
                v = ((b0[y] * (h0 >> 4)) >> 16) + ((b1[y] * (h1 >> 4)) >> 16)
                out[y, x, c] = np.uint8((v + 2) >> 2)


def resize_bilinear(img, *, width: int, height: int) -> np.ndarray:
    """`reference.image_ops.resize_bilinear`, same arguments and result."""
    img = ref._image("img", img)
    w_out, h_out = ref._out_size(img, width, height)
    h, w = img.shape[:2]
    if w == 2 * w_out and h == 2 * h_out:      # OpenCV's area path: the reference's own
        return ref.resize_bilinear(img, width=w_out, height=h_out)
    x3 = img[..., None] if img.ndim == 2 else img
    taps_x = [t.astype(np.int32) for t in ref._taps(w, w_out, clamp_weight=True)]
    taps_y = [t.astype(np.int32) for t in ref._taps(h, h_out, clamp_weight=False)]
    out = np.empty((h_out, w_out, x3.shape[2]), np.uint8)
    _bilinear_kernel(np.ascontiguousarray(x3), *taps_x, *taps_y, out)
    return out[..., 0] if img.ndim == 2 else out

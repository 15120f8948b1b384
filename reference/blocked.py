"""Blocked (group-wise) 4-bit weights: an integer convolution whose weight scale changes along
the input channels, one scale per (output channel, block of ``block_size`` input channels).

Per-channel quantization gives each output channel one scale; blocked quantization (GPTQ/AWQ
style, ONNX's ``block_size``) gives each block of input channels its own, which keeps 4-bit
weights accurate on wide layers. The int32 accumulator then no longer has one real scale, so
the blocks cannot share one requantization: each block's exact integer sum is scaled by its
own weight scale and the scaled sums are combined before rounding.
"""

from __future__ import annotations

import numpy as np

from reference._validate import check_array, check_int, check_scale, conv_geometry
from reference.conv_int import conv2d_int
from reference.dtypes import qtype
from reference.quantize import _zero_point_for

__all__ = ["blocked_conv2d_requantize"]


def _check_block_scales(w_scale, o: int, c: int, block_size: int) -> np.ndarray:
    scales = check_scale("w_scale", w_scale)
    n_blocks = -(-c // block_size)
    if scales.shape != (o, n_blocks):
        raise ValueError(f"w_scale must have shape (O, ceil(C / block_size)) = {(o, n_blocks)}, "
                         f"got {scales.shape}")
    return scales


def blocked_conv2d_requantize(x, w, w_scale, bias=None, *, x_scale, y_scale, block_size,
                              x_zero_point=0, y_zero_point=0, dtype="int8", strides=(1, 1),
                              pads=(0, 0, 0, 0), dilations=(1, 1)) -> np.ndarray:
    """Conv of int8/uint8 NCHW ``x`` with blocked OIHW integer weights, requantized to ``dtype``.

    Numeric contract
    ----------------
    - ``x`` int8/uint8 with ``x_zero_point``; ``w`` int8 (4-bit values unpacked, symmetric:
      weight zero point 0); ``w_scale`` float32 ``(O, ceil(C / block_size))``; ``bias`` int32
      ``(O,)`` in units of ``x_scale * max_b w_scale[o, b]`` or None; groups 1.
    - Block ``b`` covers input channels ``[b * block_size, (b + 1) * block_size)`` (the last one
      may be short). Its accumulator ``acc_b = conv2d_int(x[:, block], w[:, block], x_zero_point)``
      is exact int32 (wrapping as :func:`reference.conv_int.conv2d_int`).
    - Combination in float64, blocks in ascending order, each product rounded once:
      ``t = float64(acc_0) * float64(w_scale[o, 0]); t += float64(acc_b) * float64(w_scale[o, b])``
      for b = 1, 2, ...; then ``t += float64(bias[o]) * float64(max_b w_scale[o, b])``.
    - Output: ``v = round_half_even(t * (float64(x_scale) / float64(y_scale)))`` (the ratio one
      float64 division of the two float32 scales, then one float64 multiply), clamped to
      ``[qmin - y_zero_point, qmax - y_zero_point]`` of ``dtype`` (int8 or uint8), ``+
      y_zero_point``. Result of ``dtype``'s storage, NCHW.
    - Errors: TypeError for dtypes; ValueError for geometry, scales, zero points, block_size.
    """
    x = check_array("x", x, ("int8", "uint8"), ndim=4)
    w = check_array("w", w, ("int8",), ndim=4)
    t = qtype(dtype)
    if t.name not in ("int8", "uint8"):
        raise ValueError(f"dtype must be 'int8' or 'uint8', got {dtype!r}")
    bs = check_int("block_size", block_size, minimum=1)
    strides, pads, dilations, _, _, _ = conv_geometry(x.shape, w.shape, strides, pads,
                                                      dilations, 1)
    o, c = w.shape[:2]
    scales = _check_block_scales(w_scale, o, c, bs).astype(np.float64)
    zp = int(_zero_point_for(y_zero_point, "y_zero_point", t).reshape(-1)[0])
    sx = float(check_scale("x_scale", x_scale).reshape(-1)[0])
    sy = float(check_scale("y_scale", y_scale).reshape(-1)[0])
    geometry = dict(strides=strides, pads=pads, dilations=dilations)
    total = None
    for b, c0 in enumerate(range(0, c, bs)):
        acc = conv2d_int(np.ascontiguousarray(x[:, c0:c0 + bs]),
                         np.ascontiguousarray(w[:, c0:c0 + bs]),
                         x_zero_point=x_zero_point, **geometry).astype(np.float64)
        part = acc * scales[:, b][None, :, None, None]
        total = part if total is None else total + part
    if bias is not None:
        b32 = check_array("bias", bias, ("int32",), ndim=1)
        if b32.shape[0] != o:
            raise ValueError(f"bias must have {o} entries (output channels), got {b32.shape[0]}")
        total += b32.astype(np.float64)[None, :, None, None] * \
            scales.max(axis=1)[None, :, None, None]
    v = np.rint(total * (sx / sy))
    return (np.clip(v, t.qmin - zp, t.qmax - zp) + zp).astype(t.storage)

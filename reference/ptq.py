"""Post-training quantization rules of the golden model (``networks.quantize``): the int8
activation parameters from a calibrated range, symmetric 8/4-bit weights (per output channel or
blocked), and int32 biases.

These are gilt's own PTQ recipe (seed C3), separate from ``reference.calibration``'s general
methods: the zero point here is computed from the float32-rounded scale, and a zero range
widens to one unit instead of taking scale 1.
"""

from __future__ import annotations

import math

import numpy as np

from reference._validate import as_float, check_axis, check_int

__all__ = ["activation_qparams", "quantize_bias", "quantize_weights"]

#: floor on a weight channel's max |w| (an all-zero channel still gets a positive scale)
MIN_WEIGHT_ABSMAX = 1e-12


def activation_qparams(lo: float, hi: float) -> tuple[np.float32, int]:
    """Asymmetric int8 ``(scale, zero_point)`` covering ``[min(0, lo), max(0, hi)]``.

    Numeric contract: ``lo, hi = min(0, lo), max(0, hi)`` in Python floats (float64); a
    non-positive or non-finite span becomes ``hi = lo + 1``; ``scale =
    float32((hi - lo) / 255)``; ``zero_point = clip(round_half_even(-128 - lo /
    float64(scale)), -128, 127)`` (from the float32 scale). So real 0 is a code, and a ReLU
    output (lo = 0) gets zero point -128.
    """
    lo, hi = min(0.0, float(lo)), max(0.0, float(hi))
    if hi - lo <= 0 or not math.isfinite(hi - lo):
        hi = lo + 1.0
    scale = np.float32((hi - lo) / 255.0)
    zp = int(np.clip(np.rint(-128.0 - lo / float(scale)), -128, 127))
    return scale, zp


def quantize_weights(w, *, bits: int, axis: int = 0, block_size: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric integer weights ``(q int8, scale float32)`` with zero point 0.

    Numeric contract: ``w`` converted to float32; ``qmax = 2**(bits-1) - 1`` (127 or 7, the
    narrow range); per channel along ``axis``: ``scale[c] = float32(max(max|w[c]|, 1e-12) /
    qmax)`` (the max over every other axis); ``block_size > 0``: one scale per (output channel
    ``o``, block of ``block_size`` channels along axis 1), shape ``(O, ceil(C / block_size))``,
    the last block short. ``q = clip(round_half_even(w / scale), -qmax, qmax)`` with one float32
    division. Errors: ValueError for bits other than 4 or 8, a bad axis or block_size.
    """
    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits!r}")
    qmax = (1 << (bits - 1)) - 1
    w = as_float("w", w, "float32")
    block_size = check_int("block_size", block_size, minimum=0)
    if block_size:
        if w.ndim < 2:
            raise ValueError(f"blocked weights need at least 2 dims, got shape {w.shape}")
        o, c = w.shape[:2]
        nb = -(-c // block_size)
        pad = nb * block_size - c
        wp = np.pad(np.abs(w), ((0, 0), (0, pad)) + ((0, 0),) * (w.ndim - 2))
        amax = wp.reshape(o, nb, block_size, *w.shape[2:]).max(axis=tuple(range(2, w.ndim + 1)))
        scale = (np.maximum(amax, MIN_WEIGHT_ABSMAX) / qmax).astype(np.float32)
        s_full = np.repeat(scale, block_size, axis=1)[:, :c]
        s_full = s_full.reshape(o, c, *(1,) * (w.ndim - 2))
        return np.clip(np.rint(w / s_full), -qmax, qmax).astype(np.int8), scale
    axis = check_axis("axis", axis, w.ndim)
    red = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=red)
    scale = (np.maximum(amax, MIN_WEIGHT_ABSMAX) / qmax).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    return np.clip(np.rint(w / scale.reshape(shape)), -qmax, qmax).astype(np.int8), scale


def quantize_bias(bias, x_scale, w_scale) -> np.ndarray:
    """An int32 bias in accumulator units: ``clip(round_half_even(float64(bias) /
    (float64(x_scale) * float64(w_scale))), int32 range)``, the product and the division in
    float64 (``w_scale`` one per output channel, or the per-channel max of blocked scales).

    Numeric contract: saturates to the int32 range (a huge bias at a tiny scale clips rather
    than wraps); result int32 of ``bias``'s shape."""
    b = np.asarray(bias).astype(np.float64)
    acc_scale = float(x_scale) * np.asarray(w_scale).astype(np.float64)
    return np.clip(np.rint(b / acc_scale), -2**31, 2**31 - 1).astype(np.int32)

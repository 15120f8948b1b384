"""Fake quantization for quantization-aware training (seed C16) with its straight-through
gradient.

Forward: ``fake_quant(x) = dequantize(quantize(x))`` -- the float tensor a QAT graph carries, equal
bit for bit to ONNX QuantizeLinear followed by DequantizeLinear (the same functions as the
integer path, so training sees exactly the noise inference will have).

Backward (straight-through estimator, clipped, as PyTorch's FakeQuantize and TF's
fake_quant_with_min_max_vars): d fake_quant / d x = 1 where the rounded value lies inside
[qmin, qmax] (the quantizer is treated as identity there), 0 where it saturates. Rounding's true
derivative (0 almost everywhere) would stop all learning; that is why the estimator exists.
"""

from __future__ import annotations

import numpy as np

from reference._validate import as_float
from reference.dtypes import qrange
from reference.quantize import dequantize, quantize, round_float


def fake_quant(x, scale, zero_point=0, *, dtype="int8", rounding="half_even") -> np.ndarray:
    """Quantize then dequantize: ``(saturate(round(x / scale) + zp) - zp) * scale``.

    Numeric contract: float32 in and out; ``x / scale`` one float32 division, ``rounding``
    ("half_even" as ONNX, "half_away" as TFLite), saturation to ``qrange(dtype)`` (int4 -> -8..7),
    then float32 ``(q - zp) * scale``: bit-identical to ONNX QuantizeLinear + DequantizeLinear.
    Per-tensor scale/zero point. Errors: those of ``reference.quantize.quantize`` (named scale,
    zero_point, dtype, rounding; NaN in x).
    """
    x = as_float("x", x, "float32")
    q = quantize(x, scale, zero_point, dtype=dtype, rounding=rounding)
    return dequantize(q, scale, zero_point)


def fake_quant_grad(x, grad_output, scale, zero_point=0, *, dtype="int8",
                    rounding="half_even") -> np.ndarray:
    """Straight-through gradient of ``fake_quant`` with respect to ``x``.

    Numeric contract: returns ``grad_output * m`` in float32, where m = 1 if
    qmin <= round(x / scale) + zero_point <= qmax (same float32 division and ``rounding`` as the
    forward pass) and 0 otherwise, so the gradient is passed unchanged inside the range and
    blocked where the forward saturated. Errors: ValueError if shapes differ.
    """
    x = as_float("x", x, "float32")
    g = as_float("grad_output", grad_output, "float32")
    if g.shape != x.shape:
        raise ValueError(f"grad_output has shape {g.shape}: expected x's shape {x.shape}")
    quantize(x[:0], scale, zero_point, dtype=dtype, rounding=rounding)  # validates arguments
    qmin, qmax = qrange(dtype)
    with np.errstate(over="ignore"):
        v = round_float(np.divide(x, np.float32(scale), dtype=np.float32), rounding)
    v = v.astype(np.float64) + float(zero_point)
    inside = (v >= qmin) & (v <= qmax)
    return np.where(inside, g, np.float32(0)).astype(np.float32)

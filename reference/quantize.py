"""Linear quantization and dequantization: per-tensor, per-axis and blocked.

``q = saturate(round(x / scale) + zero_point)`` and ``x' = (q - zero_point) * scale``, the
ONNX QuantizeLinear / DequantizeLinear definitions, computed the way ONNX Runtime's x86 kernels
compute them (float32 division, not a reciprocal multiply; round half to even; saturation).
"""

from __future__ import annotations

import numpy as np

from reference._validate import (
    check_array,
    check_axis,
    check_choice,
    check_int,
    check_scale,
    check_zero_point,
    numpy_dtype,
)
from reference.dtypes import QTYPES, qtype

__all__ = ["ROUNDING_MODES", "broadcast_quant_param", "dequantize", "quantize", "round_float"]

ROUNDING_MODES = ("half_even", "half_away")
FLOAT_DTYPES = ("float16", "float32", "float64")


def round_float(v: np.ndarray, rounding: str) -> np.ndarray:
    """Round a float array to integral values in the same dtype.

    ``"half_even"``: ties to the even neighbour (IEEE default, ``nearbyint``, ONNX).
    ``"half_away"``: ties away from zero (C ``std::round``, TFLite's ``TfLiteRound``).
    """
    if rounding == "half_even":
        return np.rint(v)
    return _round_half_away(v)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    # floor(|v| + 0.5) is wrong in floating point for the largest value below 0.5 (the sum
    # rounds up to 1.0) and for odd integers near 2**p (p = 24 or 53: the sum rounds to even);
    # decide the tie from the exact fractional part instead, in any float dtype.
    t = np.trunc(v)
    with np.errstate(invalid="ignore"):
        frac = np.abs(v - t)  # exact (Sterbenz); NaN for inf, which keeps t = inf
    return np.where(frac >= 0.5, t + np.sign(v), t)


def broadcast_quant_param(param: np.ndarray, name: str, x_shape: tuple[int, ...],
                          axis: int | None, block_size: int | None) -> np.ndarray:
    """Reshape a scale or zero point so that it broadcasts against an array of ``x_shape``.

    - ``axis=None``: ``param`` must hold one value (shape ``()`` or ``(1,)``): per tensor.
    - ``axis`` given, ``block_size=None``: ``param`` is 1-D with ``x_shape[axis]`` entries
      (a single value is also accepted and applies to every slice): per axis.
    - ``block_size`` given: ``param`` has the rank of ``x`` and the same shape except along
      ``axis``, where it has ``ceil(x_shape[axis] / block_size)`` entries; block ``j`` covers
      indices ``j*block_size .. (j+1)*block_size - 1`` (the last block may be short).
    """
    ndim = len(x_shape)
    if axis is None:
        if block_size is not None:
            raise ValueError(f"block_size={block_size} needs an axis, got axis=None")
        if param.size != 1:
            raise ValueError(f"{name} must hold one value when axis is None (per tensor), got "
                             f"shape {param.shape}; pass axis= for per-axis quantization")
        return param.reshape(())
    ax = check_axis("axis", axis, ndim)
    if block_size is None:
        if param.size == 1 and param.ndim <= 1:
            return param.reshape(())
        if param.ndim != 1 or param.shape[0] != x_shape[ax]:
            raise ValueError(f"{name} must be 1-D with x.shape[{ax}] = {x_shape[ax]} entries for "
                             f"per-axis quantization, got shape {param.shape}")
        shape = [1] * ndim
        shape[ax] = x_shape[ax]
        return param.reshape(shape)
    bs = check_int("block_size", block_size, minimum=1)
    nblocks = -(-x_shape[ax] // bs)
    want = tuple(nblocks if i == ax else d for i, d in enumerate(x_shape))
    if param.shape != want:
        raise ValueError(f"{name} must have shape {want} for block_size={bs} along axis {ax} of "
                         f"x with shape {tuple(x_shape)}, got shape {param.shape}")
    return np.repeat(param, bs, axis=ax).take(np.arange(x_shape[ax]), axis=ax)


def _zero_point_for(zero_point: object, name: str, t) -> np.ndarray:
    """Check a zero point for quantized type ``t``: a Python int, or a NumPy integer array or
    scalar of ``t``'s storage dtype, within ``t``'s range; returned as an int64 array."""
    dt = numpy_dtype(zero_point)
    if dt is not None and dt.kind in "iu" and dt != t.storage:
        raise TypeError(f"{name} dtype {dt.name} does not match dtype "
                        f"{t.name} (expected storage {t.storage.name})")
    return check_zero_point(name, zero_point, t.qmin, t.qmax, t.name)


def quantize(x: np.ndarray, scale: object, zero_point: object = 0, *, dtype: str = "int8",
             axis: int | None = None, block_size: int | None = None,
             rounding: str = "half_even") -> np.ndarray:
    """Quantize floats to ``dtype``: ``saturate(round(x / scale) + zero_point)``.

    Numeric contract
    ----------------
    - ``x``: float16/float32/float64 array, converted to float32 first (ONNX Runtime's type).
    - ``scale``: float32 (finite, > 0); ``zero_point``: int in the range of ``dtype`` (an int
      array must have ``dtype``'s storage dtype). Per tensor (``axis=None``), per axis (1-D of
      ``x.shape[axis]``) or blocked (``block_size`` along ``axis``, last block may be short),
      see :func:`broadcast_quant_param`.
    - Arithmetic: ``x / scale`` as one IEEE float32 division (not a reciprocal multiply, which
      differs in about 1% of elements), rounded by ``rounding`` (``"half_even"`` default, as
      ONNX; ``"half_away"`` as TFLite's ``std::round``), then ``+ zero_point`` and saturation to
      ``qrange(dtype)`` in wide precision. ``+inf`` gives qmax, ``-inf`` qmin (as ONNX Runtime).
    - NaN: ``ValueError`` (no integer represents it; ONNX Runtime's result is
      platform-dependent).
    - Result dtype: ``storage_dtype(dtype)``; int4/uint4 results are unpacked, one per byte.
      An array of ``x``'s shape (0-d for a NumPy scalar ``x``).
    - Errors: ``TypeError`` for a non-float ``x``; ``ValueError`` for bad scale, zero point,
      dtype, axis, block_size or rounding, naming the argument and the value.
    """
    x = check_array("x", x, FLOAT_DTYPES)
    t = qtype(dtype)
    check_choice("rounding", rounding, ROUNDING_MODES)
    s = broadcast_quant_param(check_scale("scale", scale), "scale", x.shape, axis, block_size)
    zp = broadcast_quant_param(_zero_point_for(zero_point, "zero_point", t), "zero_point",
                               x.shape, axis, block_size)
    x32 = x.astype(np.float32, copy=False)
    if np.isnan(x32).any():
        raise ValueError(f"x must not contain NaN (got {int(np.isnan(x32).sum())} NaN values): "
                         f"quantization has no integer for it")
    with np.errstate(over="ignore"):
        v = np.divide(x32, s, dtype=np.float32)
    # Clamp in float before converting (as MLAS does): exact because the bounds are integers
    # and rounding is monotonic, and it keeps inf and |v| >= 2**63 out of the integer cast.
    r = round_float(v, rounding).astype(np.float64)
    lo = (t.qmin - zp).astype(np.float64)
    hi = (t.qmax - zp).astype(np.float64)
    r = np.minimum(np.maximum(r, lo), hi)
    return np.asarray(r.astype(np.int64) + zp).astype(t.storage)  # 0-d stays an array


def dequantize(q: np.ndarray, scale: object, zero_point: object = 0, *, axis: int | None = None,
               block_size: int | None = None) -> np.ndarray:
    """Dequantize integers: ``float32(q - zero_point) * scale``.

    Numeric contract
    ----------------
    - ``q``: int8/uint8/int16/uint16/int32 array (int4 values unpacked in int8/uint8).
    - ``scale`` float32 (> 0, finite), ``zero_point`` int in the range of ``q``'s dtype (int32:
      any int32); per tensor / axis / block as :func:`quantize`.
    - Arithmetic: ``q - zero_point`` exactly in int64, converted to float32 (exact for 8/16-bit;
      round to nearest even above 2**24 for int32), then one float32 multiply by ``scale``
      (ONNX Runtime's order). Result float32, never NaN.
    - Errors: ``TypeError`` for a float or other dtype ``q``; ``ValueError`` for bad scale,
      zero point, axis or block_size.
    """
    q = check_array("q", q, ("int8", "uint8", "int16", "uint16", "int32"))
    if q.dtype.name == "int32":
        zp_arr = check_zero_point("zero_point", zero_point, -(2**31), 2**31 - 1, "int32")
    else:
        zp_arr = _zero_point_for(zero_point, "zero_point", QTYPES[q.dtype.name])
    s = broadcast_quant_param(check_scale("scale", scale), "scale", q.shape, axis, block_size)
    zp = broadcast_quant_param(zp_arr, "zero_point", q.shape, axis, block_size)
    centered = (q.astype(np.int64) - zp).astype(np.float32)
    return np.asarray(np.multiply(centered, s, dtype=np.float32))  # 0-d stays an array



"""Calibration: choosing ``(scale, zero_point)`` for a tensor from its values.

Methods: min-max (symmetric or asymmetric), percentile (clips outliers), and an MSE-optimal
clipping search for low-bit (4-bit) weights. Any of them per tensor or per channel (``axis``).

Conventions (those of ONNX Runtime's quantization tool and TFLite for weights):

- The range always contains 0, so real 0 is exactly representable:
  ``rmin = min(0, lo)``, ``rmax = max(0, hi)``.
- Asymmetric: ``scale = (rmax - rmin) / (qmax - qmin)``,
  ``zero_point = round_half_even(qmin - rmin / scale)`` clamped to ``[qmin, qmax]``.
- Symmetric: narrow range ``[-qmax, qmax]`` with ``qmax = 2**(bits-1) - 1`` (127 for int8, 7 for
  int4): ``scale = max(|rmin|, |rmax|) / qmax``, ``zero_point = 0`` (signed types) or
  ``2**(bits-1)`` (unsigned types: 128 for uint8, 8 for uint4).
- A zero range (all-zero tensor or channel) gets ``scale = 1.0`` (as ONNX Runtime), so a
  fully-gated channel quantizes to its zero point without dividing by zero.
- Arithmetic in float64, the scale rounded once to float32 (the type runtimes store).
"""

from __future__ import annotations

import numpy as np

from reference._validate import check_array, check_axis, check_choice, check_int
from reference.dtypes import qtype
from reference.quantize import dequantize, quantize

__all__ = ["CALIBRATION_METHODS", "calibrate", "mse_optimal_scale", "range_to_qparams"]

CALIBRATION_METHODS = ("minmax", "percentile", "mse")


def _reduce_axes(x: np.ndarray, axis: int | None) -> tuple[int, ...] | None:
    if axis is None:
        return None
    ax = check_axis("axis", axis, x.ndim)
    return tuple(i for i in range(x.ndim) if i != ax)


def range_to_qparams(rmin: np.ndarray | float, rmax: np.ndarray | float, *, dtype: str = "int8",
                     symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(scale float32, zero_point)`` covering ``[rmin, rmax]`` (widened to contain 0).

    Numeric contract: see the module docstring. ``rmin <= rmax`` elementwise, finite;
    ``zero_point`` has ``dtype``'s storage type; both have the broadcast shape of the inputs.
    """
    t = qtype(dtype)
    lo = np.minimum(np.asarray(rmin, np.float64), 0.0)
    hi = np.maximum(np.asarray(rmax, np.float64), 0.0)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise ValueError(f"rmin and rmax must be finite, got rmin={rmin!r}, rmax={rmax!r}")
    if symmetric:
        qmax_sym = (1 << (t.bits - 1)) - 1
        absmax = np.maximum(-lo, hi)
        scale = np.where(absmax > 0, absmax / qmax_sym, 1.0)
        zp = np.full(scale.shape, 0 if t.signed else 1 << (t.bits - 1), np.int64)
    else:
        span = hi - lo
        scale = np.where(span > 0, span / (t.qmax - t.qmin), 1.0)
        zp = np.clip(np.rint(t.qmin - lo / scale), t.qmin, t.qmax).astype(np.int64)
    scale32 = scale.astype(np.float32)
    # A range below float32's normal numbers would round the scale to 0: keep the smallest.
    scale32 = np.maximum(scale32, np.finfo(np.float32).tiny)
    return np.asarray(scale32), np.asarray(zp.astype(t.storage))


def mse_optimal_scale(w: np.ndarray, *, dtype: str = "int4", axis: int | None = 0,
                      grid: int = 100, min_ratio: float = 0.2) -> np.ndarray:
    """Symmetric scale minimizing ``sum((dequantize(quantize(w)) - w)**2)`` per channel.

    Candidates clip at ``alpha * max|w|`` for ``grid`` values of ``alpha`` evenly spaced in
    ``[min_ratio, 1]``; ``scale = alpha * max|w| / qmax`` (narrow range, zero point 0 for signed
    types, ``2**(bits-1)`` for unsigned). The quantization inside the search is
    :func:`reference.quantize.quantize` itself (float32 division, round half to even,
    saturation), so the chosen scale is optimal for exactly the integers gilt produces. Ties go to
    the larger ``alpha`` (less clipping). A zero channel gets scale 1.0. Returns float32 of shape
    ``(w.shape[axis],)`` (``()`` for ``axis=None``).
    """
    w = check_array("w", w, ("float32", "float64"))
    grid = check_int("grid", grid, minimum=1)
    if not 0.0 < float(min_ratio) <= 1.0:
        raise ValueError(f"min_ratio must be in (0, 1], got {min_ratio!r}")
    if w.size == 0 or not np.isfinite(w).all():
        raise ValueError(f"w must be non-empty and finite, got shape {w.shape}")
    t = qtype(dtype)
    axes = _reduce_axes(w, axis)
    absmax = np.max(np.abs(w.astype(np.float64)), axis=axes, keepdims=True)
    qmax_sym = (1 << (t.bits - 1)) - 1
    zp = 0 if t.signed else 1 << (t.bits - 1)
    best_err = np.full(absmax.shape, np.inf)
    best_scale = np.ones(absmax.shape, np.float32)
    w32 = w.astype(np.float32)
    kw = {} if axis is None else {"axis": axis}
    for alpha in np.linspace(1.0, float(min_ratio), grid):  # larger alpha first: wins ties
        scale = np.maximum((alpha * absmax / qmax_sym).astype(np.float32),
                           np.finfo(np.float32).tiny)
        scale = np.where(absmax > 0, scale, np.float32(1.0))
        s_arg = scale.reshape(-1) if axis is not None else scale.reshape(())
        zp_arg = np.full(s_arg.shape, zp, t.storage)
        q = quantize(w32, s_arg, zp_arg, dtype=t.name, **kw)
        err = np.sum((dequantize(q, s_arg, zp_arg, **kw).astype(np.float64) - w) ** 2,
                     axis=axes, keepdims=True)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_scale = np.where(better, scale, best_scale)
    return best_scale.reshape(-1) if axis is not None else best_scale.reshape(())


def calibrate(x: np.ndarray, *, method: str = "minmax", dtype: str = "int8",
              symmetric: bool = True, axis: int | None = None, percentile: float = 99.99,
              grid: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Choose ``(scale, zero_point)`` for ``x`` by ``method``; per channel when ``axis`` is set.

    Numeric contract
    ----------------
    - ``x``: non-empty finite float32/float64 array (activations from calibration batches, or
      weights; for per-channel weights pass ``axis=0``, the OIHW output channel).
    - ``"minmax"``: the range ``[min(x), max(x)]``.
    - ``"percentile"``: ``[P(100 - p), P(p)]`` of ``x`` (symmetric: ``P(p)`` of ``|x|``),
      NumPy's linear interpolation, ``p = percentile`` in (50, 100].
    - ``"mse"``: :func:`mse_optimal_scale` (symmetric only; meant for 4-bit weights).
    - Range to parameters: :func:`range_to_qparams` (module docstring). Scale float32 > 0;
      zero point in ``dtype``'s storage type; shapes ``()`` or ``(x.shape[axis],)``.
    - Errors: ``ValueError`` for empty or non-finite ``x``, unknown method/dtype, percentile
      out of range, ``method="mse"`` with ``symmetric=False``, bad axis; ``TypeError`` for an
      integer ``x``.
    """
    x = check_array("x", x, ("float16", "float32", "float64"))
    check_choice("method", method, CALIBRATION_METHODS)
    t = qtype(dtype)
    if x.size == 0:
        raise ValueError("x must not be empty: there is nothing to calibrate on")
    if not np.isfinite(x).all():
        raise ValueError(f"x must be finite, got {int((~np.isfinite(x)).sum())} NaN/inf values")
    axes = _reduce_axes(x, axis)
    xf = x.astype(np.float64)
    if method == "mse":
        if not symmetric:
            raise ValueError("method='mse' searches symmetric scales; got symmetric=False")
        scale = mse_optimal_scale(xf, dtype=t.name, axis=axis, grid=grid)
        zp = np.full(scale.shape, 0 if t.signed else 1 << (t.bits - 1), t.storage)
        return np.asarray(scale), zp
    if method == "minmax":
        lo, hi = np.min(xf, axis=axes), np.max(xf, axis=axes)
    else:
        p = float(percentile)
        if not 50.0 < p <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile!r}")
        if symmetric:
            hi = np.percentile(np.abs(xf), p, axis=axes)
            lo = -hi
        else:
            lo = np.percentile(xf, 100.0 - p, axis=axes)
            hi = np.percentile(xf, p, axis=axes)
    return range_to_qparams(lo, hi, dtype=t.name, symmetric=symmetric)

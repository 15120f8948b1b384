"""Batch normalization (inference form) and layer normalization, float32 with a float64 twin."""

from __future__ import annotations

import numpy as np

from reference._validate import as_float, check_positive_float


def _channel_params(names_values, c, precision):
    out = []
    for name, value in names_values:
        p = as_float(name, value, precision, ndim=1)
        if p.shape[0] != c:
            raise ValueError(f"{name} has shape {p.shape}: expected ({c},) (one per channel)")
        out.append(p)
    return out


def batch_norm(x, scale, bias, mean, var, *, epsilon=1e-5, precision="float32") -> np.ndarray:
    """Inference batch norm over axis 1 (ONNX BatchNormalization, training_mode=0).

    y = (x - mean) / sqrt(var + epsilon) * scale + bias, evaluated as ONNX Runtime's CPU
    kernel folds it: y = x * ns + nb.

    Numeric contract:
      - x is N x C x D1 x ... (at least 2-D); scale, bias, mean, var are (C,).
      - evaluation order (ONNX Runtime ``batch_norm.h``, Eigen array expressions), each
        operation rounded once in ``precision`` and no fused multiply-add:
        ``inv = 1 / sqrt(var + epsilon)`` (epsilon rounded to ``precision`` first),
        ``ns = inv * scale``, ``nb = bias - mean * ns``, ``y = x * ns + nb``.
        float32 is bit-identical to ONNX Runtime on x86-64 (its Eigen code is built without
        FMA); where the compiler fuses ``mean * ns`` or ``x * ns + nb`` (aarch64), results
        differ by about one ulp. ``precision="float64"`` is the same formula in float64, the
        twin that error bounds are measured against.
      - errors: ValueError for shape mismatches, epsilon <= 0 or negative variances;
        TypeError for non-numeric.
    """
    x = as_float("x", x, precision)
    if x.ndim < 2:
        raise ValueError(f"x has shape {x.shape}: expected at least 2-D (N, C, ...)")
    check_positive_float("epsilon", epsilon)
    c = x.shape[1]
    scale, bias, mean, var = _channel_params(
        [("scale", scale), ("bias", bias), ("mean", mean), ("var", var)], c, precision)
    if np.any(var < 0):
        raise ValueError("var has negative entries: expected variances >= 0")
    bshape = (1, c) + (1,) * (x.ndim - 2)
    t = x.dtype.type
    inv = t(1) / np.sqrt(var + t(epsilon))
    ns = inv * scale
    nb = bias - mean * ns
    return x * ns.reshape(bshape) + nb.reshape(bshape)


def layer_norm(x, scale, bias=None, *, axis=-1, epsilon=1e-5, precision="float32") -> np.ndarray:
    """Layer normalization over the trailing dims from ``axis`` (ONNX LayerNormalization-17).

    Numeric contract:
      - mean = sum(x) / n and var = sum((x - mean)**2) / n over the normalized dims, sums by
        NumPy's pairwise summation in ``precision`` (deterministic for a given shape);
        y = (x - mean) / sqrt(var + epsilon) * scale + bias, each step rounded in ``precision``.
      - scale (and bias) have the shape of the normalized trailing dims.
      - errors: ValueError for a bad axis, shape mismatch or epsilon <= 0.
    """
    x = as_float("x", x, precision)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis}: expected in [{-x.ndim}, {x.ndim - 1}] for shape {x.shape}")
    check_positive_float("epsilon", epsilon)
    first = axis % x.ndim
    norm_shape = x.shape[first:]
    axes = tuple(range(first, x.ndim))
    scale = as_float("scale", scale, precision)
    if scale.shape != norm_shape:
        raise ValueError(f"scale has shape {scale.shape}: expected {norm_shape}")
    t = x.dtype.type
    n = t(int(np.prod(norm_shape)))
    mean = np.sum(x, axis=axes, keepdims=True) / n
    d = x - mean
    var = np.sum(d * d, axis=axes, keepdims=True) / n
    y = d / np.sqrt(var + t(epsilon)) * scale
    if bias is not None:
        bias = as_float("bias", bias, precision)
        if bias.shape != norm_shape:
            raise ValueError(f"bias has shape {bias.shape}: expected {norm_shape}")
        y = y + bias
    return y

"""ONNX activations and normalised exponentials: LeakyRelu, PRelu, Elu, Selu, HardSigmoid,
Sigmoid, Relu, Clip, Softmax, LogSoftmax (float32, with float64 twins where stated).

Numeric contract shared here: computation in the input's float dtype; ONNX float attributes
(alpha, beta, gamma) are float32 in the model and are rounded to the input dtype once; every
multiply and add is rounded separately (NumPy never fuses them, so no FMA); ``exp`` is that of
:func:`reference.math_ops.exp` (float64, rounded once). ONNX Runtime uses vectorised
approximations of exp/tanh/logistic and may contract multiply-adds, so tests compare with
tolerances stated per operator; selections (Relu, Clip, the sign tests) are exact.
"""

from __future__ import annotations

import numpy as np

from reference._onnx_common import (
    FLOAT_DTYPES,
    NUMERIC_DTYPES,
    float_attr,
    float_tensor,
    numeric_tensor,
    scalar_value,
    unidirectional_operand,
)
from reference._validate import check_axis
from reference.math_ops import exp

__all__ = [
    "clip", "elu", "hard_sigmoid", "leaky_relu", "log_softmax", "prelu", "relu", "selu",
    "sigmoid", "softmax",
]


def relu(X) -> np.ndarray:
    """ONNX ``Relu``: ``max(X, 0)``.

    Numeric contract: exact selection; NaN stays NaN; -0.0 becomes +0.0."""
    x = numeric_tensor("X", X, FLOAT_DTYPES + ("int8", "int16", "int32", "int64"))
    keep = (x > 0) | np.isnan(x) if x.dtype.kind == "f" else x > 0
    return np.where(keep, x, x.dtype.type(0))


def leaky_relu(X, *, alpha=0.01) -> np.ndarray:
    """ONNX ``LeakyRelu``: ``X`` where ``X >= 0`` else ``alpha * X``.

    Numeric contract: one rounded multiply where X < 0, else X unchanged."""
    x = float_tensor("X", X)
    a = float_attr(x.dtype.type, alpha, "alpha")
    return np.where(x >= 0, x, a * x)


def prelu(X, slope) -> np.ndarray:
    """ONNX ``PRelu``: ``X`` where ``X >= 0`` else ``slope * X``; ``slope`` broadcasts to
    ``X`` unidirectionally (ONNX 9+).

    Numeric contract: one rounded multiply where X < 0, else X unchanged."""
    x = float_tensor("X", X)
    s = unidirectional_operand("slope", slope, x.shape, x.dtype)
    return np.where(x >= 0, x, s * x)


def elu(X, *, alpha=1.0) -> np.ndarray:
    """ONNX ``Elu``: ``X`` where ``X >= 0`` else ``alpha * (exp(X) - 1)``: exp per the module
    contract, then the subtraction and the multiply each rounded."""
    x = float_tensor("X", X)
    t = x.dtype.type
    a = float_attr(t, alpha, "alpha")
    with np.errstate(over="ignore", invalid="ignore"):  # exp of the unused x >= 0 branch
        return np.where(x >= 0, x, a * (exp(x) - t(1)))


def selu(X, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875) -> np.ndarray:
    """ONNX ``Selu``: ``gamma * X`` for ``X > 0`` else ``gamma * (alpha * exp(X) - alpha)``
    (ONNX's formula, each step rounded; defaults are the float32 values ONNX states).

    Numeric contract: exp per the module contract, then each multiply and subtraction
    rounded in X's dtype."""
    x = float_tensor("X", X)
    t = x.dtype.type
    a, g = float_attr(t, alpha, "alpha"), float_attr(t, gamma, "gamma")
    with np.errstate(over="ignore", invalid="ignore"):  # exp of the unused x > 0 branch
        return np.where(x > 0, g * x, g * (a * exp(x) - a))


def hard_sigmoid(X, *, alpha=0.2, beta=0.5) -> np.ndarray:
    """ONNX ``HardSigmoid``: ``max(0, min(1, alpha * X + beta))``, multiply then add, each
    rounded (ONNX Runtime may fuse them into one FMA: <= 1 ulp apart).

    Numeric contract: multiply, add, then two exact clamps, in X's dtype."""
    x = float_tensor("X", X)
    t = x.dtype.type
    a, b = float_attr(t, alpha, "alpha"), float_attr(t, beta, "beta")
    return np.maximum(t(0), np.minimum(t(1), a * x + b))


def sigmoid(X) -> np.ndarray:
    """ONNX ``Sigmoid``: ``1 / (1 + exp(-X))`` evaluated in float64 and rounded once to X's
    dtype (correctly rounded in practice, as the module contract's exp)."""
    x = float_tensor("X", X)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x64))
        y = np.where(x64 >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return y.astype(x.dtype)


def clip(input, min=None, max=None) -> np.ndarray:
    """ONNX ``Clip`` (opset 11+: ``min``/``max`` inputs, each optional, scalars of input's
    dtype): ``minimum(maximum(input, min), max)``. Exact. With ``min > max`` every element
    becomes ``max`` (ONNX's rule); a NaN input stays NaN. Integer inputs allowed (opset 12+).
    Numeric contract: exact (two selections).
    """
    x = numeric_tensor("input", input, NUMERIC_DTYPES)
    out = x
    for name, bound, fn in (("min", min, np.maximum), ("max", max, np.minimum)):
        if bound is None:
            continue
        b = scalar_value(name, bound)
        if b.dtype != x.dtype:
            raise TypeError(f"{name} must have input's dtype {x.dtype.name}, got {b.dtype.name}")
        out = fn(out, b)
    return out.copy() if out is x else out


def _softmax_parts(x: np.ndarray, axis: int):
    """(x - max) with the reduction axis moved last, and the pairwise sum of its exp."""
    z = np.moveaxis(x, axis, -1)
    with np.errstate(invalid="ignore"):
        d = z - np.max(z, axis=-1, keepdims=True)
    e = exp(np.ascontiguousarray(d))
    return d, e, np.add.reduce(e, axis=-1, keepdims=True)


def softmax(input, *, axis=-1) -> np.ndarray:
    """ONNX ``Softmax`` (opset 13+: normalised along one ``axis``; for opsets < 13 the caller
    flattens to 2-D at ``axis`` first, see :mod:`reference.onnx_ops_table`).

    Numeric contract: ``d = x - max(x)`` (exact selection, one rounded subtraction);
    ``e = exp(d)`` (module contract); ``s`` = NumPy's pairwise sum of ``e`` along the axis
    (the axis made contiguous; deterministic for a given length); ``y = e / s`` (one rounded
    division; ONNX Runtime multiplies by ``1 / s``, <= 1 ulp apart, and its exp differs by a
    few ulp). A row containing +inf or only -inf gives NaN, as in ONNX Runtime.
    """
    x = float_tensor("input", input)
    axis = check_axis("axis", axis, x.ndim)
    _, e, s = _softmax_parts(x, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.moveaxis(e / s, -1, axis)


def log_softmax(input, *, axis=-1) -> np.ndarray:
    """ONNX ``LogSoftmax``: ``d - log(s)``.

    Numeric contract: ``d`` and ``s`` as in :func:`softmax`; ``log(s)`` in float64 rounded
    once, then one rounded subtraction."""
    x = float_tensor("input", input)
    axis = check_axis("axis", axis, x.ndim)
    d, _, s = _softmax_parts(x, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(s.astype(np.float64)).astype(x.dtype)
        return np.moveaxis(d - logs, -1, axis)

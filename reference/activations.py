"""Float activation functions of the stack (ResNet-50, MobileNetV3-Large, BERT-base, YOLOv5s).

Every function takes ``precision="float32"`` (default) or ``"float64"`` (the twin used for error
bounds); the input is converted to that dtype first and every intermediate stays in it.
Elementwise functions are computed with the formula written in their docstring, in that order.
"""

from __future__ import annotations

import numpy as np

from reference._validate import as_float, check_choice, float_dtype


def relu(x, *, precision="float32") -> np.ndarray:
    """max(x, 0).

    Numeric contract: exact in any precision (a selection, no rounding); -0.0 maps to 0.0 or
    -0.0 as np.maximum returns; NaN propagates. Errors: TypeError for non-numeric input.
    """
    x = as_float("x", x, precision)
    return np.maximum(x, x.dtype.type(0))


def relu6(x, *, precision="float32") -> np.ndarray:
    """min(max(x, 0), 6). Numeric contract: exact (selection only); NaN propagates."""
    x = as_float("x", x, precision)
    return np.minimum(np.maximum(x, x.dtype.type(0)), x.dtype.type(6))


def clip(x, min=-np.inf, max=np.inf, *, precision="float32") -> np.ndarray:
    """min(max(x, lo), hi) (ONNX Clip), bounds rounded to ``precision`` once.

    Numeric contract: exact (a selection); NaN propagates; an infinite bound is no bound.
    Errors: TypeError for non-numeric input.
    """
    x = as_float("x", x, precision)
    t = x.dtype.type
    return np.clip(x, t(min), t(max)).astype(x.dtype, copy=False)


def erf(x, *, precision="float32") -> np.ndarray:
    """The error function. Numeric contract: SciPy's ``erf`` in float64, rounded once to
    ``precision`` (NumPy has no float32 erf). Errors: TypeError for non-numeric input."""
    from scipy.special import erf as erf64

    x = as_float("x", x, precision)
    return erf64(x.astype(np.float64)).astype(x.dtype)


def hard_sigmoid(x, *, alpha=1.0 / 6.0, beta=0.5, precision="float32") -> np.ndarray:
    """max(0, min(1, alpha * x + beta)).

    Numeric contract: alpha and beta are rounded to ``precision`` once; ``alpha * x`` then
    ``+ beta`` are each rounded (no FMA). Defaults alpha=1/6, beta=0.5 are MobileNetV3's
    relu6(x + 3) / 6 (ONNX HardSigmoid's own default alpha is 0.2: pass it explicitly).
    """
    x = as_float("x", x, precision)
    t = x.dtype.type
    return np.clip(t(alpha) * x + t(beta), t(0), t(1))


def hard_swish(x, *, precision="float32") -> np.ndarray:
    """x * hard_sigmoid(x) with alpha=1/6, beta=0.5 (ONNX HardSwish).

    Numeric contract: hard_sigmoid as above, then one rounded multiply by x.
    """
    x = as_float("x", x, precision)
    return x * hard_sigmoid(x, precision=precision)


def sigmoid(x, *, precision="float32") -> np.ndarray:
    """1 / (1 + exp(-x)), evaluated without overflow.

    Numeric contract: for x >= 0: 1 / (1 + exp(-x)); for x < 0: e / (1 + e) with e = exp(x), so
    exp never overflows; each step rounded in ``precision``. Result in [0, 1].
    """
    x = as_float("x", x, precision)
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def silu(x, *, precision="float32") -> np.ndarray:
    """x * sigmoid(x) (SiLU / swish-1, YOLOv5s). Numeric contract: sigmoid above, one multiply."""
    x = as_float("x", x, precision)
    return x * sigmoid(x, precision=precision)


def gelu(x, *, approximate="none", precision="float32") -> np.ndarray:
    """GELU (BERT-base), as ONNX Gelu-20.

    Numeric contract:
      - approximate="none": 0.5 * x * (1 + erf(x / sqrt(2))); erf from SciPy in float64 for both
        precisions, rounded once to float32 for the float32 path (erf has no float32 libm
        routine in NumPy).
      - approximate="tanh": 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))), every step
        in ``precision``.
      - errors: ValueError for another ``approximate``.
    """
    from scipy.special import erf

    check_choice("approximate", approximate, ("none", "tanh"))
    x = as_float("x", x, precision)
    t = x.dtype.type
    if approximate == "none":
        inner = erf(x.astype(np.float64) / np.sqrt(2.0)).astype(x.dtype)
    else:
        inner = np.tanh(t(np.sqrt(2.0 / np.pi)) * (x + t(0.044715) * (x * x * x)))
    return t(0.5) * x * (t(1) + inner)


def softmax(x, *, axis=-1, precision="float32") -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along ``axis`` (ONNX Softmax-13).

    Numeric contract: the max along the axis is subtracted first (exact), exp and the division
    are rounded in ``precision``, the sum is NumPy's pairwise summation along the axis in
    ``precision`` (deterministic for a given shape). Rows of -inf only give NaN, as ONNX.
    Errors: ValueError if ``axis`` is out of range.
    """
    x = as_float("x", x, precision)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis}: expected in [{-x.ndim}, {x.ndim - 1}] for shape {x.shape}")
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True, dtype=float_dtype(precision))


def log_softmax(x, *, axis=-1, precision="float32") -> np.ndarray:
    """(x - max) - log(sum(exp(x - max))) along ``axis``.

    Numeric contract: as ``softmax`` (max subtracted exactly, pairwise sum in ``precision``),
    then one rounded log and one subtraction. Errors: ValueError for a bad axis.
    """
    x = as_float("x", x, precision)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis}: expected in [{-x.ndim}, {x.ndim - 1}] for shape {x.shape}")
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))

"""ONNX element-wise math: arithmetic, powers and roots, transcendental functions, variadic
Min/Max/Sum/Mean and comparisons, with NumPy (= ONNX multidirectional) broadcasting.

Numeric contract shared by the float functions here:

- Computation happens in the input's type (float32, or the float64 twin); operands of one
  operator share a dtype (ONNX's type constraint), mixing is a TypeError.
- Add, Sub, Mul, Div, Neg, Abs, Sqrt, Reciprocal, Min, Max, Floor, Ceil and the comparisons are
  single IEEE-754 operations, correctly rounded (or exact): the same bits on every machine.
- Exp, Log, Tanh, Erf and general Pow are evaluated in float64 by NumPy/SciPy and rounded once
  to float32. The float32 result is the correctly rounded value except when the exact value
  lies within about one float64 ulp of a float32 rounding boundary (probability ~2**-29 per
  element), so it is machine-independent in practice. ONNX Runtime uses its own vectorised
  approximations (Eigen, MLAS) that differ from this by a few float32 ulp; tests compare with
  a stated tolerance. For float64 inputs these use NumPy's float64 libm (<= 1 ulp).
- Min and Max also take float16 (a selection, exact in any type).
- Integer inputs (where ONNX allows them: Add, Sub, Mul, Div, Neg, Abs, Min, Max, comparisons)
  wrap modulo 2**bits like ONNX Runtime's C++ arithmetic; integer Div truncates toward zero
  (C semantics, as ONNX Runtime; NumPy's ``//`` floors) and a zero divisor or
  ``INT_MIN / -1`` is a ValueError (undefined behaviour in C).
"""

from __future__ import annotations

import numpy as np

from reference._onnx_common import (
    FLOAT_DTYPES,
    NUMERIC_DTYPES,
    broadcast_shape,
    float_tensor,
    numeric_tensor,
)

__all__ = [
    "abs_", "add", "ceil", "div", "equal", "erf", "exp", "floor", "greater", "less", "log",
    "max_", "mean", "min_", "neg", "not_", "pow_", "reciprocal", "sqrt", "sub", "sum_", "tanh",
    "mul",
]

SIGNED_DTYPES = ("int8", "int16", "int32", "int64")


def _pair(a, b, dtypes=NUMERIC_DTYPES) -> tuple[np.ndarray, np.ndarray]:
    a, b = numeric_tensor("A", a, dtypes), numeric_tensor("B", b, dtypes)
    if a.dtype != b.dtype:
        raise TypeError(f"A and B must have the same dtype, got {a.dtype.name} and "
                        f"{b.dtype.name}")
    broadcast_shape([("A", a), ("B", b)])
    return a, b


def _variadic(name: str, inputs, dtypes) -> list[np.ndarray]:
    if not inputs:
        raise ValueError(f"{name} needs at least one input")
    arrays = [numeric_tensor(f"data_{i}", a, dtypes) for i, a in enumerate(inputs)]
    if any(a.dtype != arrays[0].dtype for a in arrays):
        raise TypeError(f"{name} inputs must share a dtype, got "
                        f"{[a.dtype.name for a in arrays]}")
    broadcast_shape([(f"data_{i}", a) for i, a in enumerate(arrays)])
    return arrays


def add(A, B) -> np.ndarray:
    """ONNX ``Add``: ``A + B``.

    Numeric contract: one correctly rounded IEEE add (integers wrap modulo 2**bits)."""
    a, b = _pair(A, B)
    with np.errstate(over="ignore"):
        return np.add(a, b)


def sub(A, B) -> np.ndarray:
    """ONNX ``Sub``: ``A - B``.

    Numeric contract: one correctly rounded IEEE subtract (integers wrap modulo 2**bits)."""
    a, b = _pair(A, B)
    with np.errstate(over="ignore"):
        return np.subtract(a, b)


def mul(A, B) -> np.ndarray:
    """ONNX ``Mul``: ``A * B``.

    Numeric contract: one correctly rounded IEEE multiply (integers wrap modulo 2**bits)."""
    a, b = _pair(A, B)
    with np.errstate(over="ignore"):
        return np.multiply(a, b)


def div(A, B) -> np.ndarray:
    """ONNX ``Div``: floats ``A / B`` (IEEE: x/0 is +-inf or NaN); integers truncate toward
    zero, and a zero divisor or ``INT_MIN / -1`` is a ValueError.

    Numeric contract: one correctly rounded IEEE division; integers truncate toward zero."""
    a, b = _pair(A, B)
    if a.dtype.kind == "f":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.divide(a, b)
    if np.any(b == 0):
        raise ValueError("Div: integer division by zero in B (undefined in ONNX)")
    if a.dtype.kind == "i":
        lowest = np.iinfo(a.dtype).min
        if np.any((a == lowest) & (b == -1)):
            raise ValueError(f"Div: {lowest} / -1 overflows {a.dtype.name} (undefined)")
    q = np.floor_divide(a, b)
    if a.dtype.kind == "i":  # floor -> truncation where the signs differ and it is inexact
        q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0))).astype(a.dtype)
    return q


def pow_(X, Y) -> np.ndarray:
    """ONNX ``Pow``: ``X ** Y``; ``X`` float32/float64/int32/int64, ``Y`` any of those or
    uint32/uint64. Output dtype is X's.

    Numeric contract: float ``X``: when ``Y`` has one element equal to 2 (or 3) the result is
    ``X * X`` (``X * X * X``, left to right) in X's dtype, exactly as ONNX Runtime evaluates
    it; otherwise ``pow`` in float64, rounded once to X's dtype. Integer ``X`` (ONNX Runtime:
    ``std::pow`` in double, then a C cast): ``pow`` in float64 truncated toward zero; a result
    that is not finite or exceeds 2**53 in magnitude (where that is no longer exact, and the
    C cast may be undefined) is a ValueError.
    """
    x = numeric_tensor("X", X, FLOAT_DTYPES + ("int32", "int64"))
    y = numeric_tensor("Y", Y, FLOAT_DTYPES + ("int32", "int64", "uint32", "uint64"))
    broadcast_shape([("X", x), ("Y", y)])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if x.dtype.kind == "f" and y.size == 1 and y.reshape(-1)[0] in (2, 3):
            out = x * x if y.reshape(-1)[0] == 2 else x * x * x
            return np.broadcast_to(out, np.broadcast_shapes(x.shape, y.shape)).copy()
        r = np.power(x.astype(np.float64), y.astype(np.float64))
    if x.dtype.kind == "f":
        return r.astype(x.dtype)
    bad = ~np.isfinite(r) | (np.abs(r) > 2.0**53)
    if bad.any():
        raise ValueError(f"Pow: integer result {r[bad].reshape(-1)[0]!r} is not finite or "
                         f"exceeds 2**53 (undefined in {x.dtype.name})")
    return np.trunc(r).astype(x.dtype)


def _via_float64(name: str, fn, x) -> np.ndarray:
    x = float_tensor(name, x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return fn(x.astype(np.float64)).astype(x.dtype)


def exp(input) -> np.ndarray:
    """ONNX ``Exp``: float64 ``exp`` rounded once (module contract); overflow gives +inf."""
    return _via_float64("input", np.exp, input)


def log(input) -> np.ndarray:
    """ONNX ``Log``: log(0) = -inf, log(x < 0) = NaN.

    Numeric contract: float64 log rounded once (module contract)."""
    return _via_float64("input", np.log, input)


def tanh(input) -> np.ndarray:
    """ONNX ``Tanh``: float64 ``tanh`` rounded once (module contract)."""
    return _via_float64("input", np.tanh, input)


def erf(input) -> np.ndarray:
    """ONNX ``Erf``: SciPy's float64 ``erf`` (Cephes) rounded once (module contract)."""
    from scipy.special import erf as erf64

    return _via_float64("input", erf64, input)


def sqrt(X) -> np.ndarray:
    """ONNX ``Sqrt``: sqrt(x < 0) = NaN.

    Numeric contract: correctly rounded IEEE square root."""
    x = float_tensor("X", X)
    with np.errstate(invalid="ignore"):
        return np.sqrt(x)


def reciprocal(X) -> np.ndarray:
    """ONNX ``Reciprocal``: ``1 / X`` (1/0 = inf).

    Numeric contract: one correctly rounded IEEE division."""
    x = float_tensor("X", X)
    with np.errstate(divide="ignore", over="ignore"):
        return np.divide(x.dtype.type(1), x)


def neg(X) -> np.ndarray:
    """ONNX ``Neg``: ``-X`` (signed integers wrap: -INT_MIN = INT_MIN).

    Numeric contract: exact."""
    x = numeric_tensor("X", X, FLOAT_DTYPES + SIGNED_DTYPES)
    with np.errstate(over="ignore"):
        return np.negative(x)


def abs_(X) -> np.ndarray:
    """ONNX ``Abs``: ``|X|`` (abs(INT_MIN) = INT_MIN wraps as in C).

    Numeric contract: exact."""
    x = numeric_tensor("X", X)
    with np.errstate(over="ignore"):
        return np.abs(x)


def floor(X) -> np.ndarray:
    """ONNX ``Floor``.

    Numeric contract: exact."""
    return np.floor(float_tensor("X", X))


def ceil(X) -> np.ndarray:
    """ONNX ``Ceil``.

    Numeric contract: exact."""
    return np.ceil(float_tensor("X", X))


def _select_fold(name: str, fn, data) -> np.ndarray:
    arrays = _variadic(name, data, NUMERIC_DTYPES + ("float16",))
    out = arrays[0]
    for a in arrays[1:]:
        out = fn(out, a)
    return np.broadcast_to(out, broadcast_shape([("", a) for a in arrays])).copy()


def max_(*data) -> np.ndarray:
    """ONNX ``Max`` (variadic, broadcasting): exact selection, folded left to right; a NaN in
    any input gives NaN (``np.maximum``).

    Numeric contract: exact selection, left fold."""
    return _select_fold("Max", np.maximum, data)


def min_(*data) -> np.ndarray:
    """ONNX ``Min`` (variadic, broadcasting): as :func:`max_` with ``np.minimum``.

    Numeric contract: exact selection, left fold."""
    return _select_fold("Min", np.minimum, data)


def sum_(*data_0) -> np.ndarray:
    """ONNX ``Sum`` (variadic, broadcasting, float): ``((d0 + d1) + d2) + ...``, each add
    rounded in the input dtype (ONNX Runtime's order).

    Numeric contract: left fold, each add rounded in the input dtype."""
    arrays = _variadic("Sum", data_0, FLOAT_DTYPES)
    out = arrays[0]
    with np.errstate(over="ignore", invalid="ignore"):
        for a in arrays[1:]:
            out = out + a
    return np.broadcast_to(out, broadcast_shape([("", a) for a in arrays])).copy()


def mean(*data_0) -> np.ndarray:
    """ONNX ``Mean`` (variadic, broadcasting, float): :func:`sum_`'s left fold, then one
    multiply by ``fl(1 / n)`` (ONNX Runtime's order; a divide by n can differ by 1 ulp).

    Numeric contract: left-fold sum, then one rounded multiply by fl(1 / n)."""
    total = sum_(*data_0)
    t = total.dtype.type
    with np.errstate(over="ignore", invalid="ignore"):
        return total * (t(1) / t(len(data_0)))


def _compare(fn, A, B) -> np.ndarray:
    a, b = _pair(A, B, NUMERIC_DTYPES + ("bool",))
    return fn(a, b)


def equal(A, B) -> np.ndarray:
    """ONNX ``Equal`` -> bool (NaN != NaN).

    Numeric contract: exact comparison to bool."""
    return _compare(np.equal, A, B)


def less(A, B) -> np.ndarray:
    """ONNX ``Less`` -> bool.

    Numeric contract: exact comparison to bool."""
    return _compare(np.less, A, B)


def greater(A, B) -> np.ndarray:
    """ONNX ``Greater`` -> bool.

    Numeric contract: exact comparison to bool."""
    return _compare(np.greater, A, B)


def not_(X) -> np.ndarray:
    """ONNX ``Not`` on a bool tensor.

    Numeric contract: exact."""
    x = numeric_tensor("X", X, ("bool",))
    return np.logical_not(x)

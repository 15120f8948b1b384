"""Argument checks shared by the ONNX-operator families of ``reference/``.

The operator files (shape_ops, cast, math_ops, activation_ops, reduce, resize, linalg, einsum,
recurrent, conv_transpose, normalization_ext) take ONNX inputs as NumPy arrays and ONNX
attributes as Python values; these helpers turn both into checked Python objects and raise the
project's one kind of error for each kind of bad value: ``TypeError`` for a wrong kind or dtype,
``ValueError`` naming the argument and the value for a wrong value or an unsupported attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from reference._validate import describe

__all__ = [
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "NUMERIC_DTYPES",
    "broadcast_shape",
    "float_attr",
    "float_tensor",
    "int_list",
    "normalize_axes",
    "numeric_tensor",
    "scalar_value",
    "unidirectional_operand",
    "unsupported",
]

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
NUMERIC_DTYPES = FLOAT_DTYPES + INT_DTYPES


def unsupported(name: str, value: object, why: str) -> ValueError:
    """The error for an attribute or input value gilt does not support (raise it)."""
    return ValueError(f"{name}={describe(value)} is not supported: {why}")


def _array(name: str, x: object) -> np.ndarray:
    if not isinstance(x, np.ndarray | np.generic):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__} "
                        f"({describe(x)})")
    return np.asarray(x)


def float_tensor(name: str, x: object, dtypes: Sequence[str] = FLOAT_DTYPES) -> np.ndarray:
    """``x`` as an ndarray after checking its dtype is one of ``dtypes`` (float32/float64).

    No conversion: an ONNX float op computes in its input's type. NumPy scalars are 0-d arrays.
    """
    arr = _array(name, x)
    if arr.dtype.name not in dtypes:
        raise TypeError(f"{name} must have dtype in {list(dtypes)}, got dtype {arr.dtype.name}")
    return arr


def numeric_tensor(name: str, x: object, dtypes: Sequence[str] = NUMERIC_DTYPES) -> np.ndarray:
    """Like :func:`float_tensor` for ops that also take integer tensors."""
    return float_tensor(name, x, dtypes)


def int_list(name: str, value: object, *, length: int | None = None,
             minimum: int | None = None) -> tuple[int, ...]:
    """A 1-D int32/int64 array (an ONNX input) or a sequence of ints (an attribute) as a tuple.

    A 0-d integer array counts as one value (ONNX shape inputs written as scalars).
    """
    if isinstance(value, np.ndarray | np.generic):
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer tensor, got dtype {arr.dtype.name}")
        if arr.ndim > 1:
            raise ValueError(f"{name} must be a 1-D tensor, got shape {arr.shape}")
        items = tuple(int(v) for v in arr.reshape(-1))
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a 1-D integer tensor or a sequence of ints, got "
                        f"{type(value).__name__} ({describe(value)})")
    else:
        items = tuple(value)
        for v in items:
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise TypeError(f"{name} must contain ints, got {describe(items)}")
        items = tuple(int(v) for v in items)
    if length is not None and len(items) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(items)}: {list(items)}")
    if minimum is not None and any(v < minimum for v in items):
        raise ValueError(f"{name} entries must be >= {minimum}, got {list(items)}")
    return items


def normalize_axes(name: str, axes: Iterable[int], rank: int) -> tuple[int, ...]:
    """Axes in ``[-rank, rank)`` made non-negative; repeated axes are an error (ONNX)."""
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"{name} contains {a}: expected values in [{-rank}, {rank - 1}] "
                             f"for a {rank}-d tensor")
        out.append(a % rank if rank else a)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat an axis, got {list(axes)}")
    return tuple(out)


def broadcast_shape(named: Sequence[tuple[str, np.ndarray]]) -> tuple[int, ...]:
    """NumPy (= ONNX multidirectional) broadcast of the arrays' shapes, or a ValueError."""
    try:
        return np.broadcast_shapes(*(a.shape for _, a in named))
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in named)
        raise ValueError(f"shapes do not broadcast: {shapes}") from None


def scalar_value(name: str, x: object) -> np.ndarray:
    """A one-element tensor (0-d or shape (1,), as ONNX writes scalars) as a 0-d array."""
    arr = _array(name, x)
    if arr.size != 1 or arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar (0-d or one-element 1-d tensor), got shape "
                         f"{arr.shape}")
    return arr.reshape(())


def float_attr(t: type, value: object, name: str):
    """A float attribute as dtype ``t``: ONNX stores float attributes as float32, so the value
    is rounded to float32 first, then to ``t``. Non-finite values are a ValueError."""
    try:
        v = np.float32(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a float, got {describe(value)}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name}={value!r} must be a finite float32 value")
    return t(v)


def unidirectional_operand(name: str, value: object, target: tuple[int, ...],
                           dtype: np.dtype) -> np.ndarray:
    """A float operand of ``dtype`` that broadcasts to ``target`` without changing it (ONNX's
    unidirectional broadcasting: PRelu's slope, Gemm's C, LayerNormalization's Scale/B)."""
    arr = float_tensor(name, value)
    if arr.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype.name}, got {arr.dtype.name}")
    try:
        ok = np.broadcast_shapes(arr.shape, target) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} shape {arr.shape} does not broadcast unidirectionally to "
                         f"{tuple(target)}")
    return arr

"""ONNX reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
ReduceSumSquare.

Common ONNX semantics: ``axes`` is an input (ReduceSum from opset 13, the others from 18) or,
in older opsets, an attribute: the same positional parameter here. ``axes`` None or empty
reduces every axis unless ``noop_with_empty_axes=1``, which reduces over no axis: each element
is a row of one, so ReduceSum/Mean/Max/Min/Prod return the input, ReduceL1 ``|x|``, ReduceL2
``sqrt(x * x)`` and ReduceSumSquare ``x * x`` (as ONNX Runtime and ``onnx.reference``).
``keepdims=1`` keeps reduced axes as size 1.

Numeric contract shared by all of them:

- Layout: the reduced axes are moved to the end (kept axes and reduced axes each in their
  original order) and made contiguous, so every output element reduces one contiguous row of
  ``n`` values, ``n`` = the product of the reduced sizes, in row-major order of the reduced
  axes.
- Sums (Sum, Mean, L1, L2, SumSquare): NumPy's pairwise summation of that row
  (``np.add.reduce``: 8 interleaved partial sums over blocks of up to 128 elements, blocks
  combined pairwise), every add rounded in the input dtype. Deterministic for a given ``n``
  and independent of SIMD width; ONNX Runtime's Eigen/MLAS sums use another order, so float
  results agree within ``n * eps * sum|x|`` (tests use that bound), not bit for bit.
- Mean = sum / n (one rounded division). L2 = sqrt(sum(x * x)); L1 = sum(|x|);
  SumSquare = sum(x * x) (each square rounded). Prod: strictly left-to-right products.
- Max / Min: exact selections; a NaN in a row gives NaN. An empty row gives -inf / +inf
  (the dtype's min / max for integers), Sum 0, Prod 1, Mean NaN (0 / 0), L1/L2/SumSquare 0.
- Integers (Sum, Prod, Max, Min): accumulate in the input dtype, wrapping like ONNX Runtime.
  Max/Min also take bool (opset 20): any / all, empty rows False / True.
"""

from __future__ import annotations

import math

import numpy as np

from reference._onnx_common import (
    FLOAT_DTYPES,
    int_list,
    normalize_axes,
    numeric_tensor,
)
from reference._validate import check_int

__all__ = [
    "reduce_l1", "reduce_l2", "reduce_max", "reduce_mean", "reduce_min", "reduce_prod",
    "reduce_sum", "reduce_sum_square",
]

_INT_DTYPES = ("int32", "int64", "uint32", "uint64", "int8", "uint8")


def _rows(data, axes, keepdims, noop_with_empty_axes, dtypes):
    """Rows of shape ``kept + (n,)`` and the output shape."""
    x = numeric_tensor("data", data, dtypes)
    check_int("keepdims", keepdims, minimum=0, maximum=1)
    check_int("noop_with_empty_axes", noop_with_empty_axes, minimum=0, maximum=1)
    axes = () if axes is None else int_list("axes", axes)
    if not axes:
        if noop_with_empty_axes:  # reduce over no axis: every element is a row of one
            return x[..., None], x.shape
        axes = tuple(range(x.ndim))
    axes = normalize_axes("axes", axes, x.ndim)
    kept = [d for d in range(x.ndim) if d not in axes]
    red = sorted(axes)
    rows = np.ascontiguousarray(np.transpose(x, kept + red))
    rows = rows.reshape(tuple(x.shape[d] for d in kept) + (math.prod(x.shape[d] for d in red),))
    out_shape = tuple(1 if d in axes else x.shape[d] for d in range(x.ndim)) if keepdims \
        else tuple(x.shape[d] for d in kept)
    return rows, out_shape


def _sum(rows: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.add.reduce(rows, axis=-1, dtype=rows.dtype)


def reduce_sum(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceSum``: pairwise sum per row (module contract)."""
    rows, shape = _rows(data, axes, keepdims, noop_with_empty_axes, FLOAT_DTYPES + _INT_DTYPES)
    return _sum(rows).reshape(shape)


def reduce_mean(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceMean``: pairwise sum, then one division by the row length (float only).

    Numeric contract: the module's (pairwise sum, one division)."""
    rows, shape = _rows(data, axes, keepdims, noop_with_empty_axes, FLOAT_DTYPES)
    with np.errstate(invalid="ignore"):
        return (_sum(rows) / rows.dtype.type(rows.shape[-1])).reshape(shape)


def reduce_sum_square(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceSumSquare``: pairwise sum of ``x * x`` (each square rounded).

    Numeric contract: the module's (squares rounded, pairwise sum)."""
    rows, shape = _rows(data, axes, keepdims, noop_with_empty_axes, FLOAT_DTYPES)
    with np.errstate(over="ignore"):
        return _sum(rows * rows).reshape(shape)


def reduce_l2(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceL2``: ``sqrt`` (IEEE) of the pairwise sum of ``x * x``.

    Numeric contract: the module's (squares rounded, pairwise sum, IEEE sqrt)."""
    rows, shape = _rows(data, axes, keepdims, noop_with_empty_axes, FLOAT_DTYPES)
    with np.errstate(over="ignore"):
        return np.sqrt(_sum(rows * rows)).reshape(shape)


def reduce_l1(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceL1``: pairwise sum of ``|x|``.

    Numeric contract: the module's (pairwise sum of exact |x|)."""
    rows, shape = _rows(data, axes, keepdims, noop_with_empty_axes, FLOAT_DTYPES)
    return _sum(np.abs(rows)).reshape(shape)


def reduce_prod(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceProd``: left-to-right product per row (integers wrap).

    Numeric contract: the module's (left-to-right products)."""
    rows, shape = _rows(data, axes, keepdims, noop_with_empty_axes, FLOAT_DTYPES + _INT_DTYPES)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.multiply.reduce(rows, axis=-1, dtype=rows.dtype).reshape(shape)


def _extreme(data, axes, keepdims, noop, fn, empty_float, empty_int):
    rows, shape = _rows(data, axes, keepdims, noop, FLOAT_DTYPES + _INT_DTYPES + ("bool",))
    if rows.dtype.kind == "b":  # opset 20: max is any, min is all; empty rows False / True
        initial = empty_int == "max"
    elif rows.dtype.kind == "f":
        initial = rows.dtype.type(empty_float)
    else:
        info = np.iinfo(rows.dtype)
        initial = info.min if empty_int == "min" else info.max
    if rows.shape[-1] == 0:
        return np.full(shape, initial, rows.dtype)
    return fn.reduce(rows, axis=-1).reshape(shape)


def reduce_max(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceMax``: exact; NaN propagates; empty rows give -inf (int: dtype min).

    Numeric contract: the module's (exact selection)."""
    return _extreme(data, axes, keepdims, noop_with_empty_axes, np.maximum, -np.inf, "min")


def reduce_min(data, axes=None, *, keepdims=1, noop_with_empty_axes=0) -> np.ndarray:
    """ONNX ``ReduceMin``: exact; NaN propagates; empty rows give +inf (int: dtype max).

    Numeric contract: the module's (exact selection)."""
    return _extreme(data, axes, keepdims, noop_with_empty_axes, np.minimum, np.inf, "max")

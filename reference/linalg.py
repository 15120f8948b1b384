"""ONNX MatMul (NumPy ``matmul`` semantics, broadcasting batch dimensions) and Gemm.

Numeric contract: float products are accumulated in the order of
:func:`reference.conv_float.matmul_float`: ``acc = 0; acc += a[..., m, k] * b[..., k, n]`` for
``k`` ascending, multiply and add rounded separately in the input dtype (no FMA, no BLAS
blocking), so the result is the same on every machine. ONNX Runtime (MLAS SGEMM) sums in a
blocked order with FMA; tests allow ``(K + 2) * eps * sum_k |a * b|`` per element. Integer
MatMul (int32/int64) accumulates in the input dtype and wraps modulo 2**bits, as ONNX Runtime.
"""

from __future__ import annotations

import numpy as np

from reference._onnx_common import (
    FLOAT_DTYPES,
    float_attr,
    float_tensor,
    numeric_tensor,
    unidirectional_operand,
)
from reference._validate import check_int
from reference.conv_float import matmul_float

__all__ = ["gemm", "matmul"]


def matmul(A, B) -> np.ndarray:
    """ONNX ``MatMul``: ``A @ B`` with NumPy's rules (1-D operands promoted and the added
    axis removed; batch dimensions broadcast). float32/float64 in the module's order;
    int32/int64 exact modulo 2**bits. Errors: ValueError for mismatched K or batch shapes,
    TypeError for dtypes.

    Numeric contract: the module's (k ascending, no FMA; integers wrap)."""
    a = numeric_tensor("A", A, FLOAT_DTYPES + ("int32", "int64"))
    b = numeric_tensor("B", B, FLOAT_DTYPES + ("int32", "int64"))
    if a.dtype != b.dtype:
        raise TypeError(f"A and B must have the same dtype, got {a.dtype.name} and "
                        f"{b.dtype.name}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"MatMul operands must be at least 1-D, got shapes {a.shape}, {b.shape}")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"A has shape {a.shape}, B has shape {b.shape}: the contracted "
                         f"dimensions {a2.shape[-1]} and {b2.shape[-2]} differ")
    try:
        np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(f"A has shape {a.shape}, B has shape {b.shape}: batch dimensions do "
                         f"not broadcast") from None
    if a.dtype.kind == "f":
        out = matmul_float(a2, b2, precision=a.dtype.name)
    else:
        out = np.matmul(a2, b2)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def gemm(A, B, C=None, *, alpha=1.0, beta=1.0, transA=0, transB=0) -> np.ndarray:
    """ONNX ``Gemm``: ``alpha * A' @ B' + beta * C`` for 2-D ``A``, ``B`` (float32/float64).

    Numeric contract: ``P = A' @ B'`` in the module's order; then ``alpha * P`` (skipped when
    ``alpha == 1``, which is exact anyway), then ``+ beta * C`` with ``beta * C`` rounded first
    (skipped when ``beta == 1``); ``alpha``/``beta`` are float32 attributes. ``C`` (optional
    from opset 11) broadcasts unidirectionally to ``(M, N)``; absent means 0.
    Errors: ValueError for non-2-D operands, mismatched K or an unbroadcastable C.
    """
    a, b = float_tensor("A", A), float_tensor("B", B)
    if a.dtype != b.dtype:
        raise TypeError(f"A and B must have the same dtype, got {a.dtype.name} and "
                        f"{b.dtype.name}")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Gemm needs 2-D A and B, got shapes {a.shape} and {b.shape}")
    check_int("transA", transA, minimum=0, maximum=1)
    check_int("transB", transB, minimum=0, maximum=1)
    t = a.dtype.type
    al, be = float_attr(t, alpha, "alpha"), float_attr(t, beta, "beta")
    a = a.T if transA else a
    b = b.T if transB else b
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"Gemm: A' has shape {a.shape}, B' has shape {b.shape}: K differs "
                         f"(transA={transA}, transB={transB})")
    y = matmul_float(a, b, precision=a.dtype.name)
    if al != 1:
        y = al * y
    if C is not None:
        c = unidirectional_operand("C", C, y.shape, a.dtype)
        y = y + (c if be == 1 else be * c)
    return y

"""ONNX-compatible entry points: ONNX argument order, attributes as keyword arguments.

Each function is a thin adapter from the ONNX operator's interface onto the operator families
of ``reference/`` (quantize, conv_int, matmul_int, requantize); the numeric contracts are
theirs. Where ONNX Runtime and ``onnx.reference`` disagree, these follow ONNX Runtime (x86);
the differences are listed in docs/quantization.md and tested in
tests/reference/test_oracle_onnx.py.
"""

from __future__ import annotations

import numpy as np

from reference._nbits import nbits_operands
from reference._validate import (
    check_array,
    check_choice,
    check_int,
    check_int_tuple,
    describe,
    numpy_dtype,
)
from reference.conv_int import conv2d_int
from reference.matmul_int import matmul_int
from reference.quantize import dequantize, quantize
from reference.requantize import REQUANTIZE_MODES, requantize

__all__ = [
    "conv_integer",
    "dequantize_linear",
    "dynamic_quantize_linear",
    "matmul_integer",
    "matmul_nbits",
    "qlinear_conv",
    "qlinear_matmul",
    "quantize_linear",
]

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")
#: Output types QuantizeLinear takes from its zero point's dtype (4-bit ones need output_dtype).
QUANTIZE_LINEAR_TYPES = ("int8", "uint8", "int16", "uint16")



def quantize_linear(x: np.ndarray, y_scale: object, y_zero_point: object = None, *,
                    axis: int = 1, block_size: int = 0, output_dtype: str | None = None
                    ) -> np.ndarray:
    """ONNX ``QuantizeLinear`` (opset 21): ``saturate(round_half_even(x / y_scale) + zp)``.

    Numeric contract: that of :func:`reference.quantize.quantize` (float32 division, round half
    to even, saturation; +inf -> qmax and -inf -> qmin like ONNX Runtime, where
    ``onnx.reference`` returns qmin for +inf). The output type is ``output_dtype`` (needed for
    int4/uint4, stored unpacked in int8/uint8), else the dtype of ``y_zero_point`` (a NumPy
    array or scalar: int8, uint8, int16 or uint16), else uint8 (no zero point, or a Python
    int). A numpy-typed zero point must have the output's storage dtype. A scalar ``y_scale``
    is per tensor; a 1-D one is per ``axis`` (negative counts from the end, checked against
    ``x``'s rank); ``block_size > 0`` is blocked along ``axis``.
    """
    zdt = numpy_dtype(y_zero_point)
    dtype = output_dtype
    if dtype is None:
        dtype = "uint8" if zdt is None else zdt.name
        if dtype not in QUANTIZE_LINEAR_TYPES:
            raise TypeError(f"y_zero_point has dtype {dtype}: QuantizeLinear outputs "
                            f"{list(QUANTIZE_LINEAR_TYPES)} (int4/uint4 need output_dtype)")
    zp = 0 if y_zero_point is None else y_zero_point
    return quantize(x, y_scale, zp, dtype=dtype, **_layout(y_scale, axis, block_size))


def _layout(scale: object, axis: int, block_size: int) -> dict:
    block_size = check_int("block_size", block_size, minimum=0)
    if block_size > 0:
        return {"axis": axis, "block_size": block_size}
    if np.size(scale) > 1 or np.ndim(scale) == 1:
        return {"axis": axis, "block_size": None}
    return {"axis": None, "block_size": None}


def dequantize_linear(x: np.ndarray, x_scale: object, x_zero_point: object = None, *,
                      axis: int = 1, block_size: int = 0) -> np.ndarray:
    """ONNX ``DequantizeLinear``: ``float32(x - x_zero_point) * x_scale``.

    Numeric contract: that of :func:`reference.quantize.dequantize` (exact subtraction, one
    float32 multiply). Layout of ``x_scale`` as in :func:`quantize_linear`.
    """
    zp = 0 if x_zero_point is None else x_zero_point
    return dequantize(x, x_scale, zp, **_layout(x_scale, axis, block_size))


def dynamic_quantize_linear(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``DynamicQuantizeLinear``: uint8 quantization with a range computed from ``x``.

    Numeric contract
    ----------------
    - ``x`` float32. ``rmin = min(0, min(x))``, ``rmax = max(0, max(x))`` in float32.
    - ``y_scale = fl32((rmax - rmin) / 255)``; when ``rmax == rmin`` (all-zero or empty
      input) ``y_scale = 1.0`` as ONNX Runtime (``onnx.reference`` gives 1/255 there, which
      changes no quantized value: all are 0).
    - ``y_zero_point = round_half_even(clamp(0 - rmin / y_scale, 0, 255))`` in float32, uint8.
    - ``y = quantize(x, y_scale, y_zero_point, dtype="uint8")``.
    - Errors: ``TypeError`` for a non-float32 ``x``; ``ValueError`` for NaN or inf in ``x``.
    """
    x = check_array("x", x, ("float32",))
    if x.size and not np.isfinite(x).all():
        raise ValueError("x must be finite for DynamicQuantizeLinear, got NaN or inf")
    rmin = np.float32(min(np.float32(0), x.min())) if x.size else np.float32(0)
    rmax = np.float32(max(np.float32(0), x.max())) if x.size else np.float32(0)
    if rmax == rmin:
        scale = np.float32(1.0)
    else:
        scale = np.float32(np.float32(rmax - rmin) / np.float32(255))
    zp_f = np.float32(np.float32(0) - np.float32(rmin / scale))
    zp = np.uint8(np.rint(np.clip(zp_f, np.float32(0), np.float32(255))))
    y = quantize(x, scale, zp, dtype="uint8")
    return y, np.array(scale, np.float32), np.array(zp, np.uint8)


def _conv_geometry(x: np.ndarray, w: np.ndarray, auto_pad: str, dilations, kernel_shape,
                   pads, strides) -> tuple[tuple, tuple, tuple]:
    check_choice("auto_pad", auto_pad, AUTO_PADS)
    dil = (1, 1) if dilations is None else check_int_tuple("dilations", dilations, 2, minimum=1)
    st = (1, 1) if strides is None else check_int_tuple("strides", strides, 2, minimum=1)
    if kernel_shape is not None:
        ks = check_int_tuple("kernel_shape", kernel_shape, 2, minimum=1)
        if w.ndim == 4 and ks != tuple(w.shape[2:]):
            raise ValueError(f"kernel_shape {ks} does not match w.shape[2:] {tuple(w.shape[2:])}")
    if auto_pad == "NOTSET":
        pd = (0, 0, 0, 0) if pads is None else check_int_tuple("pads", pads, 4, minimum=0)
    elif auto_pad == "VALID":
        pd = (0, 0, 0, 0)
    else:
        if pads is not None:
            raise ValueError(f"pads must be None when auto_pad={auto_pad!r}, got {pads!r}")
        begin, end = [], []
        for i in range(2):
            size, k = x.shape[2 + i], w.shape[2 + i]
            out = -(-size // st[i])
            total = max(0, (out - 1) * st[i] + dil[i] * (k - 1) + 1 - size)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        pd = (begin[0], begin[1], end[0], end[1])
    return st, pd, dil


def _check_conv_inputs(x: object, w: object) -> None:
    check_array("x", x, ("int8", "uint8"), ndim=4)
    check_array("w", w, ("int8", "uint8"), ndim=4)


def conv_integer(x: np.ndarray, w: np.ndarray, x_zero_point: object = None,
                 w_zero_point: object = None, *, auto_pad: str = "NOTSET",
                 dilations: tuple[int, int] | None = None, group: int = 1,
                 kernel_shape: tuple[int, int] | None = None,
                 pads: tuple[int, int, int, int] | None = None,
                 strides: tuple[int, int] | None = None) -> np.ndarray:
    """ONNX ``ConvInteger`` (2-D, NCHW): int32 result, int32 wrap-around.

    Numeric contract: that of :func:`reference.conv_int.conv2d_int`, exact accumulation;
    ``pads`` in ONNX order ``(top, left, bottom, right)``; ``auto_pad`` SAME_UPPER/SAME_LOWER/
    VALID as ONNX. (No ``accumulation`` option: ONNX Runtime's ConvInteger multiplies the
    weights, as the GEMM's left operand, by the im2col input, int8 x uint8 or uint8 x uint8,
    which its x86 kernels compute exactly on every host.)
    """
    _check_conv_inputs(x, w)
    st, pd, dil = _conv_geometry(x, w, auto_pad, dilations, kernel_shape, pads, strides)
    return conv2d_int(x, w, x_zero_point=0 if x_zero_point is None else x_zero_point,
                      w_zero_point=0 if w_zero_point is None else w_zero_point,
                      strides=st, pads=pd, dilations=dil, groups=group)


def qlinear_conv(x: np.ndarray, x_scale: object, x_zero_point: object, w: np.ndarray,
                 w_scale: object, w_zero_point: object, y_scale: object, y_zero_point: object,
                 B: np.ndarray | None = None, *, auto_pad: str = "NOTSET",
                 dilations: tuple[int, int] | None = None, group: int = 1,
                 kernel_shape: tuple[int, int] | None = None,
                 pads: tuple[int, int, int, int] | None = None,
                 strides: tuple[int, int] | None = None, mode: str = "onnxruntime",
                 clamp: tuple[int, int] | None = None, accumulation: str = "exact"
                 ) -> np.ndarray:
    """ONNX ``QLinearConv`` (2-D, NCHW) = :func:`conv2d_int` then :func:`requantize`.

    Numeric contract
    ----------------
    - int32 accumulation with bias ``B`` (int32, per output channel), wrapping like ONNX
      Runtime; ``w_scale`` / ``w_zero_point`` per tensor or per output channel.
      ``accumulation``: ``"exact"``, or ``"vpmaddubsw"`` for what ONNX Runtime computes with
      uint8 ``x`` and int8 ``w`` on x86 without VNNI (int16-saturated pair sums, see
      :func:`reference.conv_int.conv2d_int`).
    - Requantization in ``mode`` (default ``"onnxruntime"``: ``fl32(fl32(acc) *
      fl32(fl32(x_scale * w_scale) / y_scale))``, round half to even, ``+ y_zero_point``,
      saturate to ``y_zero_point``'s dtype); ``clamp`` a fused activation range.
    - ``onnx.reference`` rounds ``float64(acc) * M`` instead: it differs on exact ties and for
      ``|acc| > 2**24``; these follow ONNX Runtime.
    """
    _check_conv_inputs(x, w)
    st, pd, dil = _conv_geometry(x, w, auto_pad, dilations, kernel_shape, pads, strides)
    acc = conv2d_int(x, w, x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=B,
                     strides=st, pads=pd, dilations=dil, groups=group,
                     accumulation=accumulation)
    return requantize(acc, x_scale, w_scale, y_scale, y_zero_point, mode=mode,
                      dtype=_output_dtype(y_zero_point), axis=1, clamp=clamp)


def _output_dtype(y_zero_point: object) -> str:
    zdt = numpy_dtype(y_zero_point)
    if zdt is not None:
        return zdt.name
    raise TypeError(f"y_zero_point must be a numpy int8/uint8 scalar or array (it fixes the "
                    f"output type), got {type(y_zero_point).__name__} ({describe(y_zero_point)})")


def matmul_integer(A: np.ndarray, B: np.ndarray, a_zero_point: object = None,
                   b_zero_point: object = None, *, accumulation: str = "exact") -> np.ndarray:
    """ONNX ``MatMulInteger``: see :func:`reference.matmul_int.matmul_int` (``accumulation``
    ``"vpmaddubsw"``: ONNX Runtime's uint8 x int8 result on x86 without VNNI)."""
    return matmul_int(A, B, a_zero_point=0 if a_zero_point is None else a_zero_point,
                      b_zero_point=0 if b_zero_point is None else b_zero_point,
                      accumulation=accumulation)


def qlinear_matmul(a: np.ndarray, a_scale: object, a_zero_point: object, b: np.ndarray,
                   b_scale: object, b_zero_point: object, y_scale: object, y_zero_point: object,
                   *, mode: str = "onnxruntime", accumulation: str = "exact") -> np.ndarray:
    """ONNX ``QLinearMatMul`` = :func:`matmul_int` then :func:`requantize` (per column of b).

    Numeric contract: as :func:`qlinear_conv` with ``b_scale``/``b_zero_point`` per tensor or
    per column (last axis of the result); ``accumulation`` as
    :func:`reference.matmul_int.matmul_int` (K in ``a``'s last-axis order).
    """
    check_choice("mode", mode, REQUANTIZE_MODES)
    acc = matmul_int(a, b, a_zero_point=a_zero_point, b_zero_point=b_zero_point,
                     accumulation=accumulation)
    return requantize(acc, a_scale, b_scale, y_scale, y_zero_point, mode=mode,
                      dtype=_output_dtype(y_zero_point), axis=-1)


def matmul_nbits(A: np.ndarray, B: np.ndarray, scales: np.ndarray,
                 zero_points: np.ndarray | None = None, g_idx: None = None,
                 bias: np.ndarray | None = None, *, K: int, N: int, bits: int = 4,
                 block_size: int, accuracy_level: int = 0) -> np.ndarray:
    """com.microsoft ``MatMulNBits`` (4-bit): ``A @ dequant(B).T + bias`` in float32;
    ``accuracy_level=4`` is the int8-activation path (:func:`reference.llm_ops.matmul_nbits_int8`).

    Numeric contract
    ----------------
    - ``B``: uint8 ``(N, ceil(K / block_size), block_size / 2)``: each row of the weight
      ``W[n, :]`` in blocks of ``block_size`` unsigned 4-bit values, packed two per byte in
      ONNX order (:mod:`reference.packing`); a short last block is zero-padded.
    - ``scales``: float32 ``N * n_blocks`` (row-major ``[n, block]``); ``zero_points``: packed
      uint8 ``N * ceil(n_blocks / 2)`` (4-bit, same nibble order, per row), or None for 8.
    - Levels 0-3: ``W[n, k] = float32(q - zp) * scale[n, k // block_size]`` (exact int, one
      float32 multiply); ``Y = A @ W.T`` in float64 then rounded once to float32, ``+ bias``.
      ONNX Runtime sums in float32 in a blocked order, so it matches this result within
      ``1e-5 * sum_k |A[m,k] * W[n,k]|``, not bit for bit: this is a float operator.
    - Level 4: ``A`` is quantized to int8 per block of ``block_size`` values (ONNX Runtime's
      CPU int8 path), integer block dot products, float32 combination: see
      :func:`reference.llm_ops.matmul_nbits_int8` for the contract and its error bound against
      ONNX Runtime. (The float result of levels 0-3 differs from it by the activation
      quantization error, far more than the float tolerance.)
    - Errors: ``bits != 4``, ``g_idx``, bad shapes, dtypes or block sizes raise.
    """
    check_int("bits", bits, minimum=4, maximum=4)
    if g_idx is not None:
        raise ValueError("g_idx is not supported (act-order GPTQ); got a g_idx array")
    K = check_int("K", K, minimum=1)
    N = check_int("N", N, minimum=1)
    bs = check_int("block_size", block_size, minimum=16)
    if bs & (bs - 1):
        raise ValueError(f"block_size must be a power of two >= 16, got {bs}")
    check_int("accuracy_level", accuracy_level, minimum=0, maximum=4)
    if accuracy_level == 4:
        from reference.llm_ops import matmul_nbits_int8

        return matmul_nbits_int8(A, B, scales, zero_points, bias, K=K, N=N, block_size=bs)
    A = check_array("A", A, ("float32",))
    if A.ndim < 1 or A.shape[-1] != K:
        raise ValueError(f"A.shape[-1] must be K = {K}, got shape {A.shape}")
    codes, zp, sc = nbits_operands(B, scales, zero_points, K, N, bs)
    zp_full = np.repeat(zp, bs, axis=1)[:, :K]
    s_full = np.repeat(sc, bs, axis=1)[:, :K]
    w = np.multiply((codes[:, :K] - zp_full).astype(np.float32), s_full, dtype=np.float32)
    y = np.matmul(A.astype(np.float64), w.T.astype(np.float64)).astype(np.float32)
    if bias is not None:
        bias = check_array("bias", bias, ("float32",), ndim=1)
        if bias.shape[0] != N:
            raise ValueError(f"bias must have N = {N} entries, got {bias.shape[0]}")
        y = y + bias
    return y

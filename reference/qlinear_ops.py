"""ONNX Runtime's QOperator contrib operators (domain ``com.microsoft``), as its CPU kernels
compute them on x86-64 with AVX2 and FMA3 (ONNX Runtime 1.32, the Linux wheel).

These are the operators ``onnxruntime.quantization.quantize_static`` writes into QOperator
models besides QLinearConv / QLinearMatMul: QLinearAdd, QLinearMul, QLinearSigmoid,
QLinearLeakyRelu, QLinearConcat, QLinearSoftmax, QLinearAveragePool, QLinearGlobalAveragePool
and QGemm. Signatures follow the ONNX Runtime contrib schema: tensors positional in the
schema's input order (optional ones default to None), attributes keyword-only with the
schema's defaults.

Most of them are not integer arithmetic: ONNX Runtime computes in float32, through a 256-entry
table built by dequantize -> float function -> QuantizeLinear (concat, sigmoid, leaky relu),
through float sums (average pool, softmax), or through vector kernels whose float rounding
is part of the result (add: two fused multiply-adds; sigmoid: MLAS's rational polynomial with
FMA3). Each function's "Numeric contract" gives that evaluation order; where it differs on other
hosts (aarch64 uses fixed-point add and global average pool, and a clamped, non-x86 logistic),
the docstring says so, and ``tests/reference/test_qlinear_ops.py`` compares bit for bit on x86-64
with AVX2 and FMA3 and within one LSB elsewhere.
"""

from __future__ import annotations

import math

import numpy as np

from reference._fp32 import cvtps2dq, fma32
from reference._validate import (
    check_array,
    check_choice,
    check_int,
    check_int_tuple,
    check_scale,
    numpy_dtype,
)
from reference.dtypes import QTYPES
from reference.matmul_int import matmul_int, wrap_int32
from reference.quantize import _zero_point_for, quantize

__all__ = [
    "mlas_logistic",
    "qgemm",
    "qlinear_add",
    "qlinear_average_pool",
    "qlinear_concat",
    "qlinear_global_average_pool",
    "qlinear_leaky_relu",
    "qlinear_lookup_table",
    "qlinear_mul",
    "qlinear_sigmoid",
    "qlinear_softmax",
]

QL_DTYPES = ("int8", "uint8")
F32 = np.float32
AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


# ----------------------------------------------------------------------------- arguments
def _tensor(name: str, x: object, ndim_min: int = 0) -> np.ndarray:
    x = check_array(name, x, QL_DTYPES)
    if x.ndim < ndim_min:
        raise ValueError(f"{name} must have at least {ndim_min} dimensions, got shape {x.shape}")
    return x


def _scale(name: str, s: object) -> np.float32:
    arr = check_scale(name, s)
    if arr.size != 1:
        raise ValueError(f"{name} must be a scalar or 1-element tensor, got shape {arr.shape}")
    return F32(arr.reshape(-1)[0])


def _zp(name: str, zp: object, dtype: np.dtype) -> int:
    """A scalar zero point of the tensor's dtype (None: 0, as ONNX Runtime)."""
    if zp is None:
        return 0
    z = _zero_point_for(zp, name, QTYPES[dtype.name])
    if z.size != 1:
        raise ValueError(f"{name} must be a scalar or 1-element tensor, got shape {z.shape}")
    return int(z.reshape(-1)[0])


def _saturate(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    t = QTYPES[dtype.name]
    return np.clip(v, t.qmin, t.qmax).astype(dtype)


def _pack_int32(r: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x86 ``packssdw`` then ``packuswb`` / ``packsswb``: int32 -> int16 -> 8 bits, each step
    saturating (so INT32_INDEFINITE from cvtps2dq becomes the type's minimum)."""
    return _saturate(np.clip(r, -32768, 32767), dtype)


# ----------------------------------------------------------------------------- binary
def _broadcast_case(a_shape: tuple, b_shape: tuple) -> tuple[str, int]:
    """ONNX Runtime's ``Broadcaster``: which input is a per-span scalar, and the span length.

    From the innermost output dimension outwards, the first dimension larger than 1 decides:
    an input whose own dimension there is 1 is broadcast along it ("scalar" within each span);
    the span runs over the innermost dimensions in which neither input changes its broadcast
    state. Returns ("a", span), ("b", span) or ("none", span); two all-ones shapes count as
    "a" (ONNX Runtime's two-scalar case).
    """
    out = np.broadcast_shapes(a_shape, b_shape)
    nd = len(out)
    a = (1,) * (nd - len(a_shape)) + tuple(a_shape)
    b = (1,) * (nd - len(b_shape)) + tuple(b_shape)
    dims = [i for i in range(nd - 1, -1, -1) if out[i] > 1]
    if not dims:
        return "a", 1
    first = dims[0]
    a_bc, b_bc = a[first] == 1, b[first] == 1

    def run(is_bc: tuple, start_state: bool) -> int:
        size = 1
        for i in dims:
            if (is_bc[i] == 1) != start_state:
                break
            size *= out[i]
        return size

    span = min(run(a, a_bc), run(b, b_bc))
    return ("a" if a_bc else "b" if b_bc else "none"), span


def _qladd_kernel(x, rx, zx, y, ry, zy, zc, x_single):
    """MLAS ``MlasQLinearAddKernelAvx2Helper`` on the float values of its operands X (``x``)
    and Y (``y``): the fixed part is ``zc - fma(rx, zx, ry * zy)`` (the compiler fused the
    first product); Y's term is added first, then X's, each with one FMA. A one-element X
    (``x_single``) takes the kernel's scalar-X path, which adds X's term first."""
    fixed = F32(F32(zc) - fma32(rx, F32(zx), F32(ry * F32(zy))))
    xf, yf = x.astype(F32), y.astype(F32)
    if x_single:
        return fma32(yf, ry, fma32(xf, rx, fixed))
    return fma32(xf, rx, fma32(yf, ry, fixed))


def _binary_args(a, a_scale, a_zero_point, b, b_scale, b_zero_point, c_scale, c_zero_point):
    """Check QLinearAdd / QLinearMul arguments: one int8/uint8 dtype, broadcastable shapes,
    scalar scales and zero points; returns (a, b, scales, zero points)."""
    a, b = _tensor("a", a), _tensor("b", b)
    if a.dtype != b.dtype:
        raise TypeError(f"a and b must have one dtype, got {a.dtype.name} and {b.dtype.name}")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"a {a.shape} and b {b.shape} do not broadcast") from None
    scales = (_scale("a_scale", a_scale), _scale("b_scale", b_scale), _scale("c_scale", c_scale))
    zps = (_zp("a_zero_point", a_zero_point, a.dtype), _zp("b_zero_point", b_zero_point,
                                                           b.dtype),
           _zp("c_zero_point", c_zero_point, a.dtype))
    return a, b, scales, zps


def qlinear_add(a: np.ndarray, a_scale: object, a_zero_point: object, b: np.ndarray,
                b_scale: object, b_zero_point: object, c_scale: object,
                c_zero_point: object = None) -> np.ndarray:
    """com.microsoft ``QLinearAdd``: ``c = (a - za) sa + (b - zb) sb`` requantized to ``sc, zc``.

    Numeric contract (ONNX Runtime's AVX2 kernel, x86-64)
    -----------------------------------------------------
    - int8 or uint8 ``a``, ``b`` (one dtype, also of the zero points), NumPy broadcasting;
      scales float32 scalars, zero points scalars (None: 0).
    - The kernel takes operands X, Y (X = a, Y = b; *swapped* when ONNX Runtime's broadcaster
      finds ``a`` broadcast along the innermost dimensions, so that X is the full operand):
      ``rx = fl32(sx / sc)``, ``ry = fl32(sy / sc)``,
      ``fixed = fl32(zc - fma(rx, zx, fl32(ry * zy)))`` (the compiler fused the first product),
      ``v = fma(float(X), rx, fma(float(Y), ry, fixed))`` on the *raw* codes (for a broadcast
      Y the inner FMA is computed once per span: the same value); a one-element span adds X's
      term first. One rounding per FMA.
    - ``cvtps2dq`` (round half to even; outside int32 -> INT32_MIN), then saturating packs to
      int16 and to the output type. No clamp before rounding.
    - aarch64 differs: a fixed-point path (Q21 multipliers) when both scale ratios lie in
      [2**-14, 256), float otherwise.
    - Errors: ``TypeError`` for dtypes, ``ValueError`` for shapes, scales and zero points.
    """
    a, b, (sa, sb, sc), (za, zb, zc) = _binary_args(a, a_scale, a_zero_point, b, b_scale,
                                                    b_zero_point, c_scale, c_zero_point)
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    case, span = _broadcast_case(a.shape, b.shape)
    ab, bb = np.broadcast_to(a, out_shape), np.broadcast_to(b, out_shape)
    ra, rb = F32(sa / sc), F32(sb / sc)
    if case == "a":  # ONNX Runtime passes (b, a): the full operand first, a as the scalar
        v = _qladd_kernel(bb, rb, zb, ab, ra, za, zc, span == 1)
    else:
        v = _qladd_kernel(ab, ra, za, bb, rb, zb, zc, span == 1)
    return _pack_int32(cvtps2dq(v), a.dtype)


def qlinear_mul(a: np.ndarray, a_scale: object, a_zero_point: object, b: np.ndarray,
                b_scale: object, b_zero_point: object, c_scale: object,
                c_zero_point: object = None) -> np.ndarray:
    """com.microsoft ``QLinearMul``: ``c = (a - za)(b - zb) sa sb`` requantized to ``sc, zc``.

    Numeric contract (ONNX Runtime's SSE2 kernel, every x86-64)
    -----------------------------------------------------------
    - dtypes, broadcasting, scales and zero points as :func:`qlinear_add`.
    - ``acc = (a - za) * (b - zb)`` exact (int16 operands, int32 product);
      ``ratio = fl32(fl32(sa * sb) / sc)``; ``v = fl32(fl32(float(acc) * ratio) + float(zc))``
      (multiply, then add: two roundings, no FMA in that kernel); ``cvtps2dq`` (half to even,
      out of int32 range -> INT32_MIN, i.e. the minimum code after packing); saturating packs
      to int16 and to the output type. The zero point is added *before* rounding.
    - Errors as :func:`qlinear_add`.
    """
    a, b, (sa, sb, sc), (za, zb, zc) = _binary_args(a, a_scale, a_zero_point, b, b_scale,
                                                    b_zero_point, c_scale, c_zero_point)
    acc = (a.astype(np.int32) - za) * (b.astype(np.int32) - zb)  # |acc| <= 255 * 255
    ratio = F32(F32(sa * sb) / sc)
    v = np.asarray(np.multiply(acc.astype(F32), ratio, dtype=F32))
    v = np.asarray(np.add(v, F32(zc), dtype=F32))
    return _pack_int32(cvtps2dq(v), a.dtype)


# ----------------------------------------------------------------------------- tables
def qlinear_lookup_table(function, x_scale: object, x_zero_point: object, y_scale: object,
                         y_zero_point: object, dtype: str) -> np.ndarray:
    """ONNX Runtime's ``QlinearBuildLookupTable``: the 256 outputs of a unary float function
    for every code of ``dtype`` (int8 or uint8), indexed by the code's byte (``q & 0xFF``).

    Numeric contract: ``x = fl32(x_scale * float(q - x_zero_point))`` (one float32 multiply),
    ``y = function(x)`` (float32 array in, float32 array out), then QuantizeLinear
    (:func:`reference.quantize.quantize`: float32 division by ``y_scale``, round half to
    even, ``+ y_zero_point``, saturate). Result: (256,) array of ``dtype``.
    """
    dt = np.dtype(check_choice("dtype", dtype, QL_DTYPES))
    xs, ys = _scale("x_scale", x_scale), _scale("y_scale", y_scale)
    zx, zy = _zp("x_zero_point", x_zero_point, dt), _zp("y_zero_point", y_zero_point, dt)
    codes = np.arange(256).astype(np.uint8).view(dt).astype(np.int32)   # byte i -> code
    x = np.asarray(np.multiply(xs, (codes - zx).astype(F32), dtype=F32))
    y = np.asarray(function(x), dtype=F32)
    return quantize(y, ys, dt.type(zy), dtype=dt.name)


def _apply_table(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[x.view(np.uint8).astype(np.intp)]


def qlinear_leaky_relu(x: np.ndarray, x_scale: object, x_zero_point: object, y_scale: object,
                       y_zero_point: object = None, *, alpha: float = 0.01) -> np.ndarray:
    """com.microsoft ``QLinearLeakyRelu`` by table (:func:`qlinear_lookup_table`).

    Numeric contract: ``f(v) = v if v >= 0 else fl32(alpha * v)``, ``alpha`` rounded to
    float32 (default 0.01); host independent.
    """
    x = _tensor("x", x)
    al = F32(alpha)
    table = qlinear_lookup_table(lambda v: np.where(v >= 0, v, al * v), x_scale, x_zero_point,
                                 y_scale, y_zero_point, x.dtype.name)
    return _apply_table(x, table)


# MLAS's logistic constants (logistic.cpp), as float32.
_LOGISTIC = {k: F32(v) for k, v in dict(
    lower=-18.0, upper=18.0, a9=4.37031012579801e-11, a7=1.15627324459942e-07,
    a5=6.08574864600143e-05, a3=8.51377133304701e-03, a1=2.48287947061529e-01,
    b10=6.10247389755681e-13, b8=5.76102136993427e-09, b6=6.29106785017040e-06,
    b4=1.70198817374094e-03, b2=1.16817656904453e-01, b0=9.93151921023180e-01).items()}


def mlas_logistic(x: np.ndarray) -> np.ndarray:
    """MLAS ``MlasComputeLogistic`` on x86-64 with FMA3 (its ``...KernelFma3``): a rational
    approximation of 1 / (1 + exp(-x)) (Eigen's coefficients).

    Numeric contract (float32, every product-sum one FMA): ``x = min(max(x, -18), 18)``,
    ``x2 = fl32(x*x)``, ``p = fma(x2, a9, a7)``, then ``p = fma(x2, p, a)`` for a5, a3, a1,
    ``p = fl32(x * p)``; ``q = fma(x2, b10, b8)``, then ``q = fma(x2, q, b)`` for b6, b4, b2,
    b0; ``r = max(fl32(fl32(p / q) + 0.5), 0)`` (no upper clamp in this kernel; the generic
    kernel used on aarch64 clamps to [0, 1]).
    """
    c = _LOGISTIC
    v = np.minimum(np.maximum(np.asarray(x, F32), c["lower"]), c["upper"])
    x2 = np.asarray(v * v, F32)
    p = fma32(x2, c["a9"], c["a7"])
    for k in ("a5", "a3", "a1"):
        p = fma32(x2, p, c[k])
    p = np.asarray(v * p, F32)
    q = fma32(x2, c["b10"], c["b8"])
    for k in ("b6", "b4", "b2", "b0"):
        q = fma32(x2, q, c[k])
    r = np.asarray(np.asarray(p / q, F32) + F32(0.5), F32)
    return np.maximum(r, F32(0))


def qlinear_sigmoid(x: np.ndarray, x_scale: object, x_zero_point: object, y_scale: object,
                    y_zero_point: object = None) -> np.ndarray:
    """com.microsoft ``QLinearSigmoid`` by table (:func:`qlinear_lookup_table`) of
    :func:`mlas_logistic` (x86-64 FMA3; other hosts run another logistic kernel)."""
    x = _tensor("x", x)
    table = qlinear_lookup_table(mlas_logistic, x_scale, x_zero_point, y_scale, y_zero_point,
                                 x.dtype.name)
    return _apply_table(x, table)


def qlinear_concat(y_scale: object, y_zero_point: object, *inputs: object,
                   axis: int) -> np.ndarray:
    """com.microsoft ``QLinearConcat``: inputs are ``(x, x_scale, x_zero_point)`` triples.

    Numeric contract: an input with the output's exact scale and zero point is copied; any
    other is mapped code by code through :func:`qlinear_lookup_table` of the identity
    (dequantize in float32, QuantizeLinear). All tensors and zero points share one dtype
    (int8 or uint8); ``axis`` (required) may be negative.
    """
    if len(inputs) == 0 or len(inputs) % 3:
        raise ValueError(f"inputs must be (x, x_scale, x_zero_point) triples, got {len(inputs)} "
                         f"values")
    ys = _scale("y_scale", y_scale)
    ydt = numpy_dtype(y_zero_point)
    if ydt is None or ydt.name not in QL_DTYPES:
        raise TypeError(f"y_zero_point must be an int8 or uint8 NumPy scalar or array (it fixes "
                        f"the output type), got {y_zero_point!r}")
    zy = _zp("y_zero_point", y_zero_point, ydt)
    parts = []
    for i in range(0, len(inputs), 3):
        n = i // 3
        x = check_array(f"inputs[{n}]", inputs[i], (ydt.name,))
        xs = _scale(f"x_scale[{n}]", inputs[i + 1])
        zx = _zp(f"x_zero_point[{n}]", inputs[i + 2], ydt)
        if xs == ys and zx == zy:
            parts.append(x)
        else:
            parts.append(_apply_table(x, qlinear_lookup_table(
                lambda v: v, xs, ydt.type(zx), ys, ydt.type(zy), ydt.name)))
    ax = check_int("axis", axis)
    nd = parts[0].ndim
    if not -nd <= ax < nd:
        raise ValueError(f"axis must be in [{-nd}, {nd - 1}] for {nd}-d inputs, got {axis}")
    try:
        return np.concatenate(parts, axis=ax)
    except ValueError as e:
        raise ValueError(f"inputs do not concatenate along axis {axis}: {e}") from None


# ----------------------------------------------------------------------------- pooling
def qlinear_global_average_pool(x: np.ndarray, x_scale: object, x_zero_point: object,
                                y_scale: object, y_zero_point: object, *,
                                channels_last: int = 0) -> np.ndarray:
    """com.microsoft ``QLinearGlobalAveragePool`` (N, C, spatial... or channels last).

    Numeric contract (MLAS x86-64)
    ------------------------------
    - ``scale = fl32(x_scale / fl32(y_scale * float(S)))``, S the spatial size; ONNX Runtime
      refuses ``S >= 2**24``, ``scale < 2**-32`` or ``scale >= 256`` (``ValueError`` here).
    - ``acc = sum of raw codes - x_zero_point * S`` in int32 (wraps past 2**31, as the
      kernel's int32 lanes); ``v = fl32(float(acc) * scale)`` clamped to
      ``[qmin - zy, qmax - zy]``, rounded half to even, ``+ zy``.
    - aarch64 uses a fixed-point multiplier whose ties round differently.
    """
    x = _tensor("x", x, 3)
    xs, ys = _scale("x_scale", x_scale), _scale("y_scale", y_scale)
    zx, zy = _zp("x_zero_point", x_zero_point, x.dtype), _zp("y_zero_point", y_zero_point,
                                                              x.dtype)
    check_int("channels_last", channels_last, minimum=0, maximum=1)
    spatial = tuple(range(1, x.ndim - 1)) if channels_last else tuple(range(2, x.ndim))
    size = int(np.prod([x.shape[i] for i in spatial]))
    scale = _gap_scale(xs, ys, size)
    acc = wrap_int32(x.astype(np.int64).sum(axis=spatial, keepdims=True) - zx * size)
    return _requantize_f32(acc, scale, zy, x.dtype)


def _gap_scale(xs: np.float32, ys: np.float32, size: int) -> np.float32:
    scale = F32(xs / F32(ys * F32(size)))
    if size >= 2**24 or size == 0 or not 2.0**-32 <= scale < 256.0:
        raise ValueError(f"QLinearGlobalAveragePool parameters out of ONNX Runtime's range: "
                         f"spatial size {size} (< 2**24, > 0), x_scale / (y_scale * size) = "
                         f"{float(scale)} (in [2**-32, 256))")
    return scale


def _requantize_f32(acc: np.ndarray, scale: np.float32, zp: int, dtype: np.dtype) -> np.ndarray:
    """MLAS ``MlasRequantizeOutput``: fl32(float(acc) * scale), clamp, round half even, + zp."""
    t = QTYPES[dtype.name]
    v = np.asarray(np.multiply(acc.astype(F32), scale, dtype=F32))
    v = np.clip(v, F32(t.qmin - zp), F32(t.qmax - zp))
    return (np.rint(v).astype(np.int64) + zp).astype(dtype)


def _pool_geometry(spatial, kernel, strides, pads, auto_pad):
    k = len(kernel)
    if auto_pad == "NOTSET":
        pads = (0,) * (2 * k) if pads is None else check_int_tuple("pads", pads, 2 * k,
                                                                  minimum=0)
    elif pads is not None:
        raise ValueError(f"pads must be None when auto_pad={auto_pad!r}, got {pads!r}")
    elif auto_pad == "VALID":
        pads = (0,) * (2 * k)
    else:
        head, tail = [], []
        for size, kk, st in zip(spatial, kernel, strides):
            need = (-(-size // st) - 1) * st + kk - size
            h = (need + 1) // 2 if auto_pad == "SAME_LOWER" else need // 2
            head.append(h)
            tail.append(need - h)
        pads = tuple(head + tail)
    out = tuple((size + pads[i] + pads[i + k] - kernel[i]) // strides[i] + 1
                for i, size in enumerate(spatial))
    if min(out) < 1:
        raise ValueError(f"pooling output would be empty: input {spatial}, kernel_shape "
                         f"{kernel}, pads {pads}, strides {strides}")
    return pads, out


def qlinear_average_pool(x: np.ndarray, x_scale: object, x_zero_point: object,
                         y_scale: object, y_zero_point: object, *, kernel_shape,
                         auto_pad: str = "NOTSET", ceil_mode: int = 0, channels_last: int = 0,
                         count_include_pad: int = 0, pads=None, strides=None) -> np.ndarray:
    """com.microsoft ``QLinearAveragePool`` (1-D, 2-D or 3-D windows).

    Numeric contract (ONNX Runtime's scalar loops; host independent)
    ----------------------------------------------------------------
    - If the kernel covers the whole image and every pad is 0, ONNX Runtime runs
      :func:`qlinear_global_average_pool` (integer sum) instead.
    - Otherwise each code is dequantized, ``fl32(x_scale * float(q - zx))``; each window's
      in-image elements are summed one by one in float32 in row-major window order, starting
      from 0.0 (padding adds nothing); the sum is divided in float32 by the count (the kernel
      size with ``count_include_pad``, else the in-image elements); then
      ``rint(fl32(fl32(y / y_scale) + zy))`` (half to even) saturated to the type.
    - ``strides`` default to 1; ``pads`` (begins then ends) to 0; ``auto_pad`` SAME_UPPER,
      SAME_LOWER, VALID as ONNX. ``ceil_mode=1`` is refused (``ValueError``): not modelled.
    """
    x = _tensor("x", x, 3)
    xs, ys = _scale("x_scale", x_scale), _scale("y_scale", y_scale)
    zx, zy = _zp("x_zero_point", x_zero_point, x.dtype), _zp("y_zero_point", y_zero_point,
                                                              x.dtype)
    k = x.ndim - 2
    if k > 3:
        raise ValueError(f"QLinearAveragePool supports 1-3 spatial dimensions, got x {x.shape}")
    kernel = check_int_tuple("kernel_shape", kernel_shape, k, minimum=1)
    st = (1,) * k if strides is None else check_int_tuple("strides", strides, k, minimum=1)
    check_choice("auto_pad", auto_pad, AUTO_PADS)
    if check_int("ceil_mode", ceil_mode, minimum=0, maximum=1):
        raise ValueError("ceil_mode=1 is not modelled for QLinearAveragePool (ONNX Runtime's "
                         "ceil-mode output size differs between versions); use ceil_mode=0")
    check_int("count_include_pad", count_include_pad, minimum=0, maximum=1)
    check_int("channels_last", channels_last, minimum=0, maximum=1)
    xn = np.moveaxis(x, -1, 1) if channels_last else x
    pd, out = _pool_geometry(xn.shape[2:], kernel, st, pads, auto_pad)
    if tuple(kernel) == tuple(xn.shape[2:]) and not any(pd):
        y = qlinear_global_average_pool(xn, xs, x.dtype.type(zx), ys, x.dtype.type(zy))
    else:
        y = _average_windows(xn, xs, zx, ys, zy, kernel, st, pd, out, count_include_pad)
    return np.moveaxis(y, 1, -1) if channels_last else y


def _average_windows(x, xs, zx, ys, zy, kernel, strides, pads, out, include_pad):
    k = len(kernel)
    deq = np.asarray(np.multiply(xs, (x.astype(np.int32) - zx).astype(F32), dtype=F32))
    padded = np.zeros(x.shape[:2] + tuple(s + pads[i] + pads[i + k]
                                          for i, s in enumerate(x.shape[2:])), F32)
    inside = np.zeros(padded.shape[2:], np.int64)
    core = tuple(slice(pads[i], pads[i] + s) for i, s in enumerate(x.shape[2:]))
    padded[(slice(None), slice(None)) + core] = deq
    inside[core] = 1
    total = np.zeros(x.shape[:2] + out, F32)
    count = np.zeros(out, np.int64)
    for tap in np.ndindex(*kernel):  # row-major window order; out-of-image taps add +0.0
        sl = tuple(slice(t, t + strides[i] * (out[i] - 1) + 1, strides[i])
                   for i, t in enumerate(tap))
        total = np.asarray(total + padded[(slice(None), slice(None)) + sl], F32)
        count += inside[sl]
    if include_pad:
        count = np.full(out, int(np.prod(kernel)), np.int64)
    mean = np.asarray(total / count.astype(F32), F32)
    v = np.asarray(np.asarray(mean / ys, F32) + F32(zy), F32)
    return _saturate(np.rint(v).astype(np.int64), x.dtype)


# ----------------------------------------------------------------------------- softmax
def _softmax_table(x_scale: np.float32, reduce_len: int, signed: bool) -> np.ndarray:
    """QLinearSoftmax's float32 exp table (``QlinearBuildLookupTableUint32`` in its float
    form): ``bit_shift = max(0, log(fl32(FLT_MAX / D)) - 5) / x_scale`` and
    ``table[i] = float32(exp((i - 255 + bit_shift) * x_scale))`` in double (the C library's
    exp and log, as math.exp / math.log call them), stored at byte ``i - 128`` for int8."""
    fmax = np.finfo(F32).max
    shift = math.log(float(F32(fmax / F32(reduce_len))))
    shift = max(0.0, shift - 5.0) / float(x_scale)
    table = np.empty(256, F32)
    for i in range(256):
        table[(i - 128) & 0xFF if signed else i] = F32(math.exp((i - 255 + shift)
                                                                * float(x_scale)))
    return table


def qlinear_softmax(x: np.ndarray, x_scale: object, x_zero_point: object, y_scale: object,
                    y_zero_point: object, *, opset: int, axis: int | None = None) -> np.ndarray:
    """com.microsoft ``QLinearSoftmax`` (int8 or uint8).

    Numeric contract (ONNX Runtime's scalar loop; host independent but for the C library's
    exp and log)
    ----------------------------------------------------------------------------------------
    - ``opset`` (required) < 13: rows are the flattened dimensions from ``axis`` on (default
      1); >= 13: rows run along ``axis`` alone (default -1). ``D`` is the row length.
    - Table: :func:`_softmax_table` of ``x_scale`` and ``D`` (``x_zero_point`` is not used).
    - Per row: the code maximum m; uint8: ``e = table[255 - m + q]``; int8:
      ``e = table[(127 - m + q) & 0xFF]``; ``s`` = float32 sum of the row's ``e`` in order;
      ``k = fl32(floor(fl32(1 / y_scale)))``; ``v = rint(fl32(fl32(e / s) * k))`` (half to
      even) *then* ``+ zy``, saturated to the type: with the usual ``y_scale = 1/256``,
      ``zy = -128`` a probability of 1 (v = 256) gives 127. (This is the arithmetic ONNX
      Runtime 1.32 was measured to use; its older sources compute ``(e * k) / s`` and cast the
      int8 result without saturating.)
    """
    x = _tensor("x", x, 1)
    xs, ys = _scale("x_scale", x_scale), _scale("y_scale", y_scale)
    _zp("x_zero_point", x_zero_point, x.dtype)
    zy = _zp("y_zero_point", y_zero_point, x.dtype)
    opset = check_int("opset", opset, minimum=1)
    ax = (1 if opset < 13 else -1) if axis is None else check_int("axis", axis)
    if not -x.ndim <= ax < x.ndim:
        raise ValueError(f"axis must be in [{-x.ndim}, {x.ndim - 1}] for x {x.shape}, got {ax}")
    ax %= x.ndim
    if opset < 13:
        rows = x.reshape(int(np.prod(x.shape[:ax])), -1)
    else:
        rows = np.moveaxis(x, ax, -1).reshape(-1, x.shape[ax])
    d = rows.shape[1]
    signed = x.dtype == np.int8
    table = _softmax_table(xs, d, signed)
    codes = rows.astype(np.int64)
    m = codes.max(axis=1, keepdims=True)
    idx = (127 - m + codes) & 0xFF if signed else 255 - m + codes
    e = table[idx]
    s = np.zeros((rows.shape[0], 1), F32)
    for j in range(d):                       # float32, element by element, in row order
        s = np.asarray(s + e[:, j:j + 1], F32)
    k = F32(math.floor(F32(F32(1.0) / ys)))
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.asarray(np.asarray(e / s, F32) * k, F32)
    v = np.where(np.isfinite(q), np.rint(q), 2.0**31).astype(np.int64) + zy
    t = QTYPES[x.dtype.name]
    y = np.clip(v, t.qmin, t.qmax).astype(x.dtype)
    y = y.reshape(rows.shape)
    if opset < 13:
        return y.reshape(x.shape)
    return np.moveaxis(y.reshape(np.moveaxis(x, ax, -1).shape), -1, ax)


# ----------------------------------------------------------------------------- gemm
def qgemm(a: np.ndarray, a_scale: object, a_zero_point: object, b: np.ndarray,
          b_scale: object, b_zero_point: object, c: np.ndarray | None = None,
          y_scale: object = None, y_zero_point: object = None, *, alpha: float = 1.0,
          transA: int = 0, transB: int = 0, accumulation: str = "exact") -> np.ndarray:  # noqa: N803
    """com.microsoft ``QGemm``: ``alpha * (A - za)(B - zb) + C``, quantized or float output.

    Numeric contract
    ----------------
    - ``a`` int8/uint8 (M, K) (``transA``: (K, M)); ``b`` int8/uint8 (K, N) (``transB``:
      (N, K)); ``b_scale`` and ``b_zero_point`` scalar or one per column; ``c`` optional int32
      broadcastable to (M, N), added to the int32 accumulator (wrapping).
    - Accumulation as :func:`reference.matmul_int.matmul_int` (``accumulation="vpmaddubsw"``:
      ONNX Runtime's uint8 x int8 kernels on x86 without VNNI).
    - ``scale[n] = fl32(fl32(alpha * a_scale) * b_scale[n])``, then ``fl32(scale / y_scale)``
      when ``y_scale`` is given: output ``rint(clamp(fl32(float(acc) * scale), qmin - zy,
      qmax - zy)) + zy`` in ``y_zero_point``'s dtype; without ``y_scale`` the output is float32
      ``fl32(float(acc) * scale)``.
    """
    a, b = _tensor("a", a, 2), _tensor("b", b, 2)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"a and b must be 2-D, got shapes {a.shape} and {b.shape}")
    a = a.T if check_int("transA", transA, minimum=0, maximum=1) else a
    b = b.T if check_int("transB", transB, minimum=0, maximum=1) else b
    n = b.shape[1]
    sa = _scale("a_scale", a_scale)
    sb = check_scale("b_scale", b_scale).reshape(-1)
    if sb.size not in (1, n):
        raise ValueError(f"b_scale must have 1 or N = {n} entries, got {sb.size}")
    za = _zp("a_zero_point", a_zero_point, a.dtype)
    zb = np.asarray(_zero_point_for(b_zero_point, "b_zero_point", QTYPES[b.dtype.name]))
    if zb.size not in (1, n):
        raise ValueError(f"b_zero_point must have 1 or N = {n} entries, got {zb.size}")
    acc = matmul_int(np.ascontiguousarray(a), np.ascontiguousarray(b),
                     a_zero_point=a.dtype.type(za),
                     b_zero_point=zb.reshape(-1).astype(b.dtype) if zb.size > 1
                     else b.dtype.type(zb.reshape(-1)[0]), accumulation=accumulation)
    if c is not None:
        c = check_array("c", c, ("int32",))
        acc = wrap_int32(acc.astype(np.int64) + np.broadcast_to(c, acc.shape))
    scale = np.asarray(F32(F32(alpha) * sa) * sb, F32)
    if y_scale is None:
        if y_zero_point is not None:
            raise ValueError("y_zero_point needs y_scale")
        return np.asarray(np.multiply(acc.astype(F32), scale, dtype=F32))
    scale = np.asarray(scale / _scale("y_scale", y_scale), F32)
    ydt = numpy_dtype(y_zero_point)
    if ydt is None or ydt.name not in QL_DTYPES:
        raise TypeError(f"y_zero_point must be an int8 or uint8 NumPy scalar or array, got "
                        f"{y_zero_point!r}")
    return _requantize_f32(acc, scale, _zp("y_zero_point", y_zero_point, ydt), ydt)

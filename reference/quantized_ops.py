"""Quantized (int8 in, int8 out) elementwise, activation and pooling operators of an int8
pipeline: add and mul with requantization, hard-swish and sigmoid by 256-entry lookup table,
max and average pooling.

Requantization modes are those of ``reference.requantize`` ("onnxruntime", "tflite",
"tflite-single", "xnnpack"); each function says which arithmetic each mode means for it.
"""

from __future__ import annotations

import numpy as np

from reference._validate import check_choice, check_positive_float, int_array
from reference.activations import hard_swish, sigmoid
from reference.dtypes import QTYPES, qrange
from reference.pooling import pool_windows
from reference.qlinear_ops import qlinear_add, qlinear_mul
from reference.quantize import _zero_point_for, dequantize, quantize
from reference.requantize import (
    REQUANTIZE_MODES,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize,
)

ADD_LEFT_SHIFT = 20  # TFLite's add/sub: inputs scaled up by 2**20 before rescaling
ADD_MODES = ("onnxruntime", "tflite", "tflite-single")


def _operands(a, b, a_zero_point, b_zero_point):
    a = int_array("a", a)
    b = int_array("b", b)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"a has shape {a.shape}, b has shape {b.shape}: expected "
                         f"broadcastable shapes") from None
    za = _one_zero_point("a_zero_point", a_zero_point, a.dtype.name)
    zb = _one_zero_point("b_zero_point", b_zero_point, b.dtype.name)
    return a.astype(np.int64) - za, b.astype(np.int64) - zb


def _one_zero_point(name: str, zero_point: object, dtype: str) -> int:
    """One zero point of an 8-bit tensor of ``dtype``: a Python int, or a NumPy integer scalar
    or one-element array of that dtype (as :func:`reference.quantize.quantize` checks it)."""
    zp = _zero_point_for(zero_point, name, QTYPES[dtype])
    if zp.size != 1:
        raise ValueError(f"{name} must be a single value, got shape {zp.shape}")
    return int(zp.reshape(-1)[0])


def _clamp_range(dtype, clamp):
    lo, hi = qrange(dtype)
    if clamp is not None:
        lo, hi = max(lo, int(clamp[0])), min(hi, int(clamp[1]))
        if lo > hi:
            raise ValueError(f"clamp={clamp!r}: does not intersect the {dtype} range")
    return lo, hi


def quantized_add(a, b, *, a_scale, a_zero_point, b_scale, b_zero_point, out_scale,
                  out_zero_point, mode="tflite", dtype="int8", clamp=None) -> np.ndarray:
    """Quantized a + b (broadcasting), int8/uint8 in and out.

    Numeric contract (real value: out_scale * (y - out_zp) ~ a_scale * (a - a_zp) +
    b_scale * (b - b_zp)):
      - "tflite" / "tflite-single" (TFLite reference ``add.h``): twice_max = 2 * max(a_scale,
        b_scale); each input (x - zp) << 20 is multiplied by the Q31 multiplier of
        scale / twice_max (``MultiplyByQuantizedMultiplierSmallerThanOneExp``, two roundings,
        half away from zero); the int32 sum is requantized with
        ``requantize(sum, twice_max / 2**20, 1, out_scale, out_zp, mode=mode)``.
      - "onnxruntime": :func:`reference.qlinear_ops.qlinear_add` (ONNX Runtime's x86-64
        com.microsoft QLinearAdd, bit for bit: two fused multiply-adds on the raw codes), then
        the ``clamp``; ``dtype`` must be the inputs' type.
      - "xnnpack" is refused (ValueError): XNNPACK's qs8 add uses its own fixed-point
        multipliers, which this golden model does not reproduce.
      - saturation to qrange(dtype) intersected with ``clamp`` (a fused activation).
      - errors: TypeError for dtypes, ValueError for shapes, scales, zero points, mode.
    """
    check_choice("mode", mode, ADD_MODES)
    ac, bc = _operands(a, b, a_zero_point, b_zero_point)
    sa, sb, so = (np.float32(check_positive_float(n, v)) for n, v in
                  (("a_scale", a_scale), ("b_scale", b_scale), ("out_scale", out_scale)))
    lo, hi = _clamp_range(dtype, clamp)
    if mode in ("tflite", "tflite-single"):
        twice_max = 2.0 * max(float(sa), float(sb))
        total = np.zeros(np.broadcast_shapes(ac.shape, bc.shape), np.int64)
        for vals, s in ((ac, sa), (bc, sb)):
            mult, shift = quantize_multiplier(float(s) / twice_max)
            total = total + multiply_by_quantized_multiplier(vals << ADD_LEFT_SHIFT, mult, shift)
        acc = total.astype(np.int32)  # |total| < 2**29: two (255 << 20) / 2 terms
        return requantize(acc, np.float32(twice_max / 2**ADD_LEFT_SHIFT), 1.0, so,
                          out_zero_point, mode=mode, dtype=dtype, clamp=(lo, hi))
    return _ort_binary(qlinear_add, a, b, (sa, a_zero_point), (sb, b_zero_point),
                       (so, out_zero_point), dtype, lo, hi)


def _ort_binary(fn, a, b, qa, qb, qo, dtype, lo, hi):
    """ONNX Runtime's QLinearAdd / QLinearMul on raw codes, then the fused clamp."""
    a, b = int_array("a", a), int_array("b", b)
    dt = np.dtype(qrange_storage(dtype))
    if a.dtype != dt or b.dtype != dt:
        raise ValueError(f"mode='onnxruntime' computes in the inputs' type: a ({a.dtype}), b "
                         f"({b.dtype}) and dtype ({dtype}) must agree")
    zs = [dt.type(_one_zero_point(n, z, dtype)) for n, z in
          (("a_zero_point", qa[1]), ("b_zero_point", qb[1]), ("out_zero_point", qo[1]))]
    y = fn(a, qa[0], zs[0], b, qb[0], zs[1], qo[0], zs[2])
    return np.clip(y, lo, hi).astype(dt)


def qrange_storage(dtype):
    """NumPy storage dtype of an 8-bit quantized type name.

    Numeric contract: "int8" -> np.int8, "uint8" -> np.uint8; ValueError naming ``dtype``
    otherwise.
    """
    return {"int8": np.int8, "uint8": np.uint8}[check_choice("dtype", dtype, ("int8", "uint8"))]


def quantized_mul(a, b, *, a_scale, a_zero_point, b_scale, b_zero_point, out_scale,
                  out_zero_point, mode="tflite", dtype="int8", clamp=None) -> np.ndarray:
    """Quantized a * b (broadcasting), int8/uint8 in and out.

    Numeric contract: acc = (a - a_zp) * (b - b_zp) exact (|acc| <= 65025, int32), then
      - "tflite" / "tflite-single" / "tflite-ruy": TFLite's ``mul.h`` (one
        MultiplyByQuantizedMultiplier) of the multiplier ``fl32(fl32(a_scale * b_scale) /
        out_scale)``, computed in float32 as TFLite's ``mul.cc`` does (a double product would
        move exact ties), i.e. ``requantize(acc, that, 1, 1, out_zp, mode=mode)``;
      - "xnnpack": ``requantize(acc, a_scale, b_scale, out_scale, out_zp, mode="xnnpack")``
        (XNNPACK's fp32 requantization: round, then + zp);
      - "onnxruntime": :func:`reference.qlinear_ops.qlinear_mul` (ONNX Runtime's x86-64
        com.microsoft QLinearMul, bit for bit: ``fl32(fl32(acc) * ratio) + out_zp`` before
        rounding half to even), then the ``clamp``; ``dtype`` must be the inputs' type.
    Errors as ``quantized_add``.
    """
    check_choice("mode", mode, REQUANTIZE_MODES)
    ac, bc = _operands(a, b, a_zero_point, b_zero_point)
    lo, hi = _clamp_range(dtype, clamp)
    acc = (ac * bc).astype(np.int32)
    if mode == "onnxruntime":
        sa, sb, so = (np.float32(check_positive_float(n, v)) for n, v in
                      (("a_scale", a_scale), ("b_scale", b_scale), ("out_scale", out_scale)))
        return _ort_binary(qlinear_mul, a, b, (sa, a_zero_point), (sb, b_zero_point),
                           (so, out_zero_point), dtype, lo, hi)
    if mode.startswith("tflite"):  # TFLite's mul.cc: the real multiplier in float32
        sa, sb, so = (np.float32(check_positive_float(n, v)) for n, v in
                      (("a_scale", a_scale), ("b_scale", b_scale), ("out_scale", out_scale)))
        real = np.float32(np.float32(sa * sb) / so)
        return requantize(acc, real, 1.0, 1.0, out_zero_point, mode=mode, dtype=dtype,
                          clamp=(lo, hi))
    return requantize(acc, a_scale, b_scale, out_scale, out_zero_point, mode=mode, dtype=dtype,
                      clamp=(lo, hi))


LUT_FUNCTIONS = {"sigmoid": sigmoid, "hard_swish": hard_swish}


def build_lut(function, *, in_scale, in_zero_point, out_scale, out_zero_point,
              dtype="int8") -> np.ndarray:
    """256-entry table of an activation for 8-bit inputs (TFLite ``LUTPopulate`` recipe).

    Numeric contract: for every input code q (qmin..qmax, table index q - qmin):
    x = fl32(in_scale * fl32(q - in_zp)); y = f(x) in float32 (``reference.activations``);
    r = round_half_away(fl32(y * fl32(1 / out_scale))) + out_zp, saturated to qrange(dtype).
    ``function`` is "sigmoid" or "hard_swish". Result: (256,) array of ``dtype``.
    """
    fn = LUT_FUNCTIONS[check_choice("function", function, tuple(LUT_FUNCTIONS))]
    store = qrange_storage(dtype)
    qmin, qmax = qrange(dtype)
    zi = _one_zero_point("in_zero_point", in_zero_point, dtype)
    zo = _one_zero_point("out_zero_point", out_zero_point, dtype)
    si = np.float32(check_positive_float("in_scale", in_scale))
    inv = np.float32(1.0) / np.float32(check_positive_float("out_scale", out_scale))
    codes = np.arange(qmin, qmax + 1, dtype=np.int64)
    x = si * (codes - zi).astype(np.float32)
    y = fn(x) * inv
    # half away from zero from the exact fractional part (floor(|y| + 0.5) misrounds
    # 0.49999997 in float32)
    t = np.trunc(y)
    r = np.where(np.abs(y - t) >= 0.5, t + np.sign(y), t)
    return np.clip(r.astype(np.int64) + zo, qmin, qmax).astype(store)


def lut_apply(q, table) -> np.ndarray:
    """table[q - qmin] for every element: the int8 activation. Numeric contract: exact gather;
    q int8 (table index q + 128) or uint8 (index q); table (256,) of the output dtype."""
    q = int_array("q", q)
    table = np.asarray(table)
    if table.shape != (256,):
        raise ValueError(f"table has shape {table.shape}: expected (256,)")
    return table[q.astype(np.int64) - qrange(q.dtype.name)[0]]


def quantized_sigmoid(q, *, in_scale, in_zero_point, out_scale=1.0 / 256,
                      out_zero_point=-128) -> np.ndarray:
    """Int8 sigmoid by lookup table (defaults: TFLite's int8 logistic output quantization,
    scale 1/256, zero point -128). Numeric contract: ``lut_apply(q, build_lut(...))``."""
    q = int_array("q", q)
    table = build_lut("sigmoid", in_scale=in_scale, in_zero_point=in_zero_point,
                      out_scale=out_scale, out_zero_point=out_zero_point, dtype=q.dtype.name)
    return lut_apply(q, table)


def quantized_hard_swish(q, *, in_scale, in_zero_point, out_scale,
                         out_zero_point) -> np.ndarray:
    """Int8 hard-swish by lookup table. Numeric contract: ``lut_apply(q, build_lut(...))``."""
    q = int_array("q", q)
    table = build_lut("hard_swish", in_scale=in_scale, in_zero_point=in_zero_point,
                      out_scale=out_scale, out_zero_point=out_zero_point, dtype=q.dtype.name)
    return lut_apply(q, table)


def quantized_max_pool2d(q, *, kernel_shape, strides=None, pads=(0, 0, 0, 0),
                         dilations=(1, 1)) -> np.ndarray:
    """Int8/uint8 max pooling; same scale and zero point in and out (max commutes with a
    positive affine map). Numeric contract: exact; padding never wins (it holds a value below
    qmin); NCHW, ONNX pads; errors as ``reference.pooling.max_pool2d``."""
    q = int_array("q", q, ndim=4)
    win = pool_windows(q.astype(np.int16), kernel_shape, strides, pads, dilations, -32768)
    return win.max(axis=(4, 5)).astype(q.dtype)


def quantized_avg_pool2d(q, *, kernel_shape, strides=None, pads=(0, 0, 0, 0),
                         rounding="half_away") -> np.ndarray:
    """Int8/uint8 average pooling, same scale and zero point in and out (TFLite
    ``reference_integer_ops::AveragePool``).

    Numeric contract: acc = exact int32 sum of the raw codes of the in-image window elements,
    count = their number (padding excluded); "half_away": (acc + count//2) / count for
    acc >= 0 else (acc - count//2) / count with C truncating division (TFLite);
    "half_even": ties to even. Saturated to the dtype (never needed: an average of codes is a
    code). Errors: ValueError for geometry or rounding.
    """
    q = int_array("q", q, ndim=4)
    check_choice("rounding", rounding, ("half_away", "half_even"))
    win = pool_windows(q.astype(np.int64), kernel_shape, strides, pads, (1, 1), 0)
    acc = win.sum(axis=(4, 5))
    ones = np.ones((1, 1) + q.shape[2:], np.int64)
    count = pool_windows(ones, kernel_shape, strides, pads, (1, 1), 0).sum(axis=(4, 5))[0, 0]
    if rounding == "half_away":
        half = count // 2
        num = np.where(acc >= 0, acc + half, acc - half)
        avg = np.sign(num) * (np.abs(num) // count)        # C division truncates toward zero
    else:
        fl, rem = np.divmod(acc, count)                    # floor division, rem >= 0
        twice = 2 * rem
        avg = fl + ((twice > count) | ((twice == count) & (fl % 2 == 1)))
    lo, hi = qrange(q.dtype.name)
    return np.clip(avg, lo, hi).astype(q.dtype)


def dequantize_op_quantize_table(fn, *, in_scale, in_zero_point, in_dtype, out_scale,
                                 out_zero_point, out_dtype) -> np.ndarray:
    """Table of ``quantize(fn(dequantize(q)))`` for every 8-bit input code ``q`` (index
    ``q - qmin``): ONNX's DequantizeLinear -> unary float op -> QuantizeLinear chain,
    precomputed.

    Numeric contract: codes ``qmin..qmax`` of ``in_dtype`` (int8/uint8) dequantized by
    :func:`reference.quantize.dequantize` (``fl32(q - zp) * scale``), ``fn`` applied to that
    float32 vector (``fn`` is a float32 operator of ``reference/``; its own contract), then
    :func:`reference.quantize.quantize` to ``out_dtype`` (float32 division, round half to even,
    saturation). Result: (256,) array of ``out_dtype``'s storage; :func:`lut_apply` uses it.
    Identical, element for element, to running the chain on every tensor element.
    """
    lo, hi = qrange(check_choice("in_dtype", in_dtype, ("int8", "uint8")))
    codes = np.arange(lo, hi + 1).astype(qrange_storage(in_dtype))
    real = dequantize(codes, in_scale, in_zero_point)
    y = np.asarray(fn(real))
    return quantize(y.astype(np.float32, copy=False), out_scale, out_zero_point,
                    dtype=out_dtype)

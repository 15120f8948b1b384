"""Requantization of int32 accumulators to 8-bit outputs, in the rounding of four runtimes.

A quantized conv or matmul produces ``acc`` (int32, bias already added) whose real value is
``acc * input_scale * weight_scale[c]``; the output is ``round(acc * M[c]) + output_zero_point``
with ``M[c] = input_scale * weight_scale[c] / output_scale``, saturated to the output type and
the fused activation ``clamp``. Runtimes differ in how they represent ``M`` and round, and a
golden model must say which one it reproduces. ``mode`` names it:

``"onnxruntime"`` (ONNX Runtime x86/MLAS QLinearConv, QLinearMatMul)
    ``M = fl32(fl32(input_scale * weight_scale) / output_scale)``;
    ``v = fl32(fl32(acc) * M)`` (int32 -> float32 rounds to nearest even above 2**24); ``v``
    clamped to ``[qmin - zp, qmax - zp]`` in float; round half to even (``cvtps2dq``); ``+ zp``.
    Source: onnxruntime ``MlasRequantizeOutput`` (core/mlas/lib/qlmul.cpp / quantize.cpp) and
    the scale computation in ``qlinearconv.cc``.
``"tflite"`` (TFLite reference kernels, ``reference_integer_ops::ConvPerChannel``)
    ``M`` in double: ``double(input_scale) * double(weight_scale) / double(output_scale)``,
    encoded by ``QuantizeMultiplier`` as a Q31 ``multiplier`` in [2**30, 2**31) and ``shift``
    (``frexp``; ``multiplier = std::round(frac * 2**31)``, half away from zero; 2**31 becomes
    2**30 with ``shift + 1``; ``shift < -31`` flushes to 0). Then
    ``MultiplyByQuantizedMultiplier``: left shift ``max(shift, 0)``,
    ``SaturatingRoundingDoublingHighMul`` (``(a*b + (a*b >= 0 ? 2**30 : 1 - 2**30)) / 2**31``,
    C division truncating toward zero: rounds halves up, toward +inf, for either sign),
    ``RoundingDivideByPOT(max(-shift, 0))`` (round half away from zero). Two roundings. Source: tensorflow/lite/kernels/internal/common.h and
    quantization_util.cc (gemmlowp fixedpoint.h).
``"tflite-single"`` (TFLite built with ``TFLITE_SINGLE_ROUNDING``; also ruy's
    ``apply_multiplier.cc``, which TFLite's optimized kernels call without XNNPACK)
    Same ``QuantizeMultiplier`` but ``shift > 30`` is capped to 30 with multiplier 2**31 - 1;
    then one rounding: ``(int64(acc) * multiplier + 2**(30 - shift)) >> (31 - shift)``
    (round half up, toward +inf).
``"tflite-ruy"`` (TFLite's optimized kernels without XNNPACK on x86: ruy's AVX2 8-bit kernel)
    Same ``QuantizeMultiplier`` as ``"tflite"``; then ``r = ((acc << left) * multiplier +
    2**30) >> 31`` (the same value as SaturatingRoundingDoublingHighMul) and a rounding right
    shift ``(r + 2**(right-1)) >> right``: round half *up* where the reference's
    RoundingDivideByPOT rounds half away from zero (``1 << (31 - right)`` when ``r + nudge``
    would overflow int32). Source: ruy ``kernel_avx2_fma.cc`` (``apply_multiplier``,
    ``rounding_right_shift``). Differs from ``"tflite"`` only on negative values whose
    high-mul result is an exact half after the shift.
``"tflite-double"`` (TFLite's reference FULLY_CONNECTED kernels in LiteRT 2.x,
    ``reference_integer_ops::FullyConnected`` / ``FullyConnectedPerChannel`` with scales)
    ``M = double(input_scale) * double(weight_scale) / double(output_scale)``;
    ``round(double(acc) * M)`` (C ``round``: half away from zero) ``+ zp``, saturated. No
    fixed-point multiplier at all.
``"tflite-neon"`` (TFLite's optimized DEPTHWISE_CONV_2D output stage,
    ``optimized_ops::Quantize``, written with NEON intrinsics and run through NEON_2_SSE on x86)
    Channels are processed eight at a time with vector code, ``"tflite-ruy"``'s arithmetic
    (``vqrdmulh`` then a rounding shift that rounds halves up); the last ``C mod 8`` channels
    (all of them when ``C < 8``) go through the scalar ``MultiplyByQuantizedMultiplier``,
    ``"tflite"``'s arithmetic. ``acc``'s channel axis (``axis``) must be given: the result
    depends on each element's channel index and on the channel count ``C``.
``"xnnpack"`` (TFLite's default CPU path: XNNPACK qs8/qc8w GEMM and IGEMM, x86 "fp32"
    requantization; ARM builds use "rndnu" instead and are not modelled)
    ``scale = fl32(fl32(input_scale * kernel_scale) / output_scale)`` (xnnpack
    ``create_convolution2d_nhwc_qx8_qc8w``); ``v = fl32(fl32(acc) * scale)``, ``min(v, qmax -
    zp)``, round half to even (``cvtps2dq`` or the 12582912.0 magic-bias trick, identical),
    ``+ zp`` with saturation, ``max(., qmin)``. The arithmetic is the same as
    ``"onnxruntime"``; it is a separate mode because the runtimes are separate contracts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference._validate import check_array, check_axis, check_choice, check_int_tuple, check_scale
from reference.dtypes import qtype
from reference.quantize import _zero_point_for, round_float

__all__ = [
    "ALL_REQUANTIZE_MODES",
    "REQUANTIZE_MODES",
    "TFLITE_OP_MODES",
    "multiply_by_quantized_multiplier",
    "quantize_multiplier",
    "requantize",
    "rounding_divide_by_pot",
    "ruy_multiply_by_quantized_multiplier",
    "saturating_rounding_doubling_high_mul",
]

#: Modes whose arithmetic is one function of (acc, scales) per element; the kernels mirror these.
REQUANTIZE_MODES = ("onnxruntime", "tflite", "tflite-single", "tflite-ruy", "xnnpack")
#: TFLite operator-specific output stages (see the module docstring); reference only.
TFLITE_OP_MODES = ("tflite-double", "tflite-neon")
ALL_REQUANTIZE_MODES = REQUANTIZE_MODES + TFLITE_OP_MODES
#: Channels per vector block in TFLite's NEON ``Quantize`` (mode "tflite-neon").
NEON_CHANNEL_BLOCK = 8
OUTPUT_DTYPES = ("int8", "uint8", "int16", "uint16", "int4", "uint4")
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real_multiplier: np.ndarray | float, *, single_rounding: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
    """TFLite ``QuantizeMultiplier``: real multiplier -> (Q31 int32 multiplier, shift).

    ``real = multiplier * 2**(shift - 31)`` with ``multiplier`` in [2**30, 2**31) (or 0).
    ``frexp`` in double, ``std::round`` (half away from zero) of ``frac * 2**31``.
    ``single_rounding`` adds the ``TFLITE_SINGLE_ROUNDING`` cap ``shift <= 30``.

    0.5 = 2**30 * 2**(0 - 31); 0.75 = (3 * 2**29) * 2**(0 - 31); 3.0 = (3 * 2**29) * 2**(2 - 31):

    >>> [int(v) for v in quantize_multiplier(0.5)]
    [1073741824, 0]
    >>> [int(v) for v in quantize_multiplier(0.75)]
    [1610612736, 0]
    >>> [int(v) for v in quantize_multiplier(3.0)]
    [1610612736, 2]
    """
    real = np.asarray(real_multiplier, dtype=np.float64)
    frac, shift = np.frexp(real)
    shift = shift.astype(np.int64)
    q = np.floor(frac * 2.0**31 + 0.5).astype(np.int64)  # frac >= 0: half away == half up
    carry = q == 2**31
    q = np.where(carry, q // 2, q)
    shift = np.where(carry, shift + 1, shift)
    flush = shift < -31
    q = np.where(flush, 0, q)
    shift = np.where(flush, 0, shift)
    if single_rounding:
        cap = shift > 30
        q = np.where(cap, 2**31 - 1, q)
        shift = np.where(cap, 30, shift)
    return q, shift


def _wrap32(v: np.ndarray) -> np.ndarray:
    return v.astype(np.int32).astype(np.int64)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values held in int64 arrays."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    s = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded half away from zero."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                                     *, single_rounding: bool = False) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier`` (int32 in, int32 out, held in int64).

    Double rounding: ``RoundingDivideByPOT(SRDHM(x << left, multiplier), right)``; the left
    shift wraps in 32 bits like the C code on two's complement machines. Single rounding
    (``TFLITE_SINGLE_ROUNDING``, ruy): ``(x * multiplier + 2**(30 - shift)) >> (31 - shift)``.
    """
    x = np.asarray(x, np.int64)
    multiplier = np.asarray(multiplier, np.int64)
    shift = np.asarray(shift, np.int64)
    if single_rounding:
        total = 31 - shift
        return (x * multiplier + (np.int64(1) << (total - 1))) >> total
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(_wrap32(x << left), multiplier), right)


def ruy_multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray,
                                         shift: np.ndarray) -> np.ndarray:
    """ruy's x86 (AVX2) fixed-point multiplier: two roundings, both half up (see module doc)."""
    x = np.asarray(x, np.int64)
    multiplier = np.asarray(multiplier, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    r = (_wrap32(x << left) * multiplier + (1 << 30)) >> 31
    nudge = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    overflow = r > INT32_MAX - nudge
    return np.where(overflow, np.int64(1) << (31 - right), (r + nudge) >> right)


@dataclass(frozen=True)
class RequantizeArgs:
    """:func:`requantize`'s arguments, checked: scales as float32 (``weight_scale`` 1-D, one per
    channel along ``axis``, or a single value with ``axis`` None), the output zero point as an
    int, and the saturation range ``[lo, hi]`` (``dtype``'s range intersected with ``clamp``)."""

    acc: np.ndarray
    qtype: object
    input_scale: np.ndarray
    weight_scale: np.ndarray
    output_scale: np.ndarray
    zero_point: int
    lo: int
    hi: int
    axis: int | None


def check_requantize_args(acc, input_scale, weight_scale, output_scale, output_zero_point=0, *,
                          mode="onnxruntime", dtype="int8", axis=1, clamp=None,
                          modes=REQUANTIZE_MODES) -> RequantizeArgs:
    """Check :func:`requantize`'s arguments exactly as it does (kernels mirroring it call this
    so that both raise the same errors; ``modes`` is the set of modes the caller implements:
    the kernels mirror :data:`REQUANTIZE_MODES`). Errors: as :func:`requantize`."""
    acc = check_array("acc", acc, ("int32",))
    check_choice("mode", mode, modes)
    t = qtype(dtype)
    if t.name not in OUTPUT_DTYPES:  # pragma: no cover - every QTYPE is an output type
        raise ValueError(f"dtype must be one of {list(OUTPUT_DTYPES)}, got {dtype!r}")
    s_in = check_scale("input_scale", input_scale)
    s_out = check_scale("output_scale", output_scale)
    for name, s in (("input_scale", s_in), ("output_scale", s_out)):
        if s.size != 1:
            raise ValueError(f"{name} must be a single value, got shape {s.shape}")
    s_w = check_scale("weight_scale", weight_scale)
    if np.size(output_zero_point) != 1:
        raise ValueError(f"output_zero_point must be a single value, got shape "
                         f"{np.shape(output_zero_point)}")
    zp = int(_zero_point_for(output_zero_point, "output_zero_point", t).reshape(-1)[0])
    lo, hi = t.qmin, t.qmax
    if clamp is not None:
        qlo, qhi = check_int_tuple("clamp", clamp, 2)
        if qlo > qhi:
            raise ValueError(f"clamp must be (low, high) with low <= high, got {clamp!r}")
        lo, hi = max(lo, qlo), min(hi, qhi)
        if lo > hi:
            raise ValueError(f"clamp {clamp!r} does not intersect the {t.name} range "
                             f"[{t.qmin}, {t.qmax}]")
    ax = None
    if s_w.size != 1:
        if acc.ndim == 0:
            raise ValueError("weight_scale must be a single value for a 0-d acc")
        ax = check_axis("axis", axis, acc.ndim)
        if s_w.ndim != 1 or s_w.shape[0] != acc.shape[ax]:
            raise ValueError(f"weight_scale must be a single value or 1-D with acc.shape[{ax}] "
                             f"= {acc.shape[ax]} entries, got shape {s_w.shape}")
    return RequantizeArgs(acc=acc, qtype=t, input_scale=s_in.reshape(()),
                          weight_scale=s_w.reshape(-1), output_scale=s_out.reshape(()),
                          zero_point=zp, lo=lo, hi=hi, axis=ax)


def requantize(acc: np.ndarray, input_scale: object, weight_scale: object, output_scale: object,
               output_zero_point: object = 0, *, mode: str = "onnxruntime", dtype: str = "int8",
               axis: int = 1, clamp: tuple[int, int] | None = None) -> np.ndarray:
    """Scale int32 accumulators to ``dtype`` outputs the way runtime ``mode`` does.

    Numeric contract
    ----------------
    - ``acc``: int32 array (bias already added, wrapped like the runtime's int32 accumulator).
    - ``input_scale``, ``output_scale``: one float32 each (finite, > 0); ``weight_scale``: one
      float32 or one per channel along ``axis`` of ``acc`` (``axis=1``: NCHW channels; use
      ``-1`` for a matmul's columns). ``output_zero_point``: int in ``dtype``'s range.
    - Rounding and intermediate precision: fixed by ``mode``, see the module docstring
      (``"onnxruntime"``, ``"tflite"``, ``"tflite-single"``, ``"tflite-ruy"``,
      ``"xnnpack"``, and the TFLite operator stages ``"tflite-double"``, ``"tflite-neon"``);
      never NaN. ``"tflite-neon"`` uses ``axis`` as the channel axis even with one
      ``weight_scale``.
    - Saturation: to ``qrange(dtype)`` intersected with ``clamp=(qlo, qhi)`` (a fused ReLU or
      ReLU6 expressed in output integers, e.g. ``(zp, qmax)``).
    - Result: ``storage_dtype(dtype)`` array of ``acc``'s shape (a 0-d ``acc``, or an
      ``np.int32`` scalar, gives a 0-d array).
    - Errors: ``TypeError`` for a non-int32 ``acc``; ``ValueError`` for bad scales, zero point,
      mode, dtype, axis, clamp (naming the argument and the value).
    """
    args = check_requantize_args(acc, input_scale, weight_scale, output_scale,
                                 output_zero_point, mode=mode, dtype=dtype, axis=axis,
                                 clamp=clamp, modes=ALL_REQUANTIZE_MODES)
    acc, t, zp, lo, hi = args.acc, args.qtype, args.zero_point, args.lo, args.hi
    s_in, s_out = args.input_scale, args.output_scale
    if args.axis is None:
        s_w = args.weight_scale.reshape(())
    else:  # broadcast the per-channel scales along their axis
        shape = [1] * acc.ndim
        shape[args.axis] = acc.shape[args.axis]
        s_w = args.weight_scale.reshape(shape)

    if mode in ("onnxruntime", "xnnpack"):
        m = np.divide(np.multiply(s_in, s_w, dtype=np.float32), s_out, dtype=np.float32)
        # np.asarray: NumPy returns a scalar, not a writable array, for 0-d operands
        v = np.asarray(np.multiply(acc.astype(np.float32), m, dtype=np.float32))
        np.clip(v, np.float32(lo - zp), np.float32(hi - zp), out=v)
        np.rint(v, out=v)
        v += np.float32(zp)  # exact: |v| <= 2**16 after the clamp
        return v.astype(t.storage)
    real = s_in.astype(np.float64) * s_w.astype(np.float64) / s_out.astype(np.float64)
    if mode == "tflite-double":  # one correctly rounded double product, then C round()
        out = round_float(np.asarray(acc.astype(np.float64) * real), "half_away")
        out = np.clip(out, lo - zp, hi - zp).astype(np.int64) + zp
        return np.asarray(out).astype(t.storage)
    single = mode == "tflite-single"
    mult, shift = quantize_multiplier(real, single_rounding=single)
    if mode == "tflite-ruy":
        out = ruy_multiply_by_quantized_multiplier(acc, mult, shift)
    elif mode == "tflite-neon":
        out = _neon_quantize(acc, mult, shift, args.axis if args.axis is not None else axis)
    else:
        out = multiply_by_quantized_multiplier(acc, mult, shift, single_rounding=single)
    out = np.clip(out + zp, lo, hi)
    return np.asarray(out).astype(t.storage)


def _neon_quantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, axis: int
                   ) -> np.ndarray:
    """TFLite's NEON ``Quantize``: channel blocks of eight in ruy's rounding, the tail scalar."""
    if acc.ndim == 0:
        raise ValueError("mode='tflite-neon' needs acc with a channel axis, got a 0-d acc")
    ax = check_axis("axis", axis, acc.ndim)
    channels = acc.shape[ax]
    vector = np.arange(channels) < NEON_CHANNEL_BLOCK * (channels // NEON_CHANNEL_BLOCK)
    shape = [1] * acc.ndim
    shape[ax] = channels
    return np.where(vector.reshape(shape), ruy_multiply_by_quantized_multiplier(acc, mult, shift),
                    multiply_by_quantized_multiplier(acc, mult, shift))

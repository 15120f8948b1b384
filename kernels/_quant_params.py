"""Host-side preparation of quantization parameters for the quantize/requantize kernels.

What a runtime does once at model-preparation time (checking arguments, folding scales into a
float32 multiplier or a Q31 multiplier + shift) happens here; the kernels then do the
per-element work. Arguments are checked with the reference's own validators so that bad input
raises the same TypeError/ValueError as `reference/`.

Kernels see every tensor as (outer, channels, inner) around the quantization axis, and a
parameter as (p_outer, p_channels, p_inner) whose dimensions are either 1 or full; element
(o, c, i) reads parameter (o % p_outer, c % p_channels, i % p_inner).
"""

from dataclasses import dataclass

import numpy as np

from kernels._scalar import FIXED_RUY, FIXED_SINGLE, FIXED_TFLITE
from reference._validate import (
    check_array,
    check_choice,
    check_scale,
    check_zero_point,
)
from reference.dtypes import QTYPES, qtype
from reference.quantize import ROUNDING_MODES, broadcast_quant_param
from reference.requantize import check_requantize_args, quantize_multiplier


def as_3d(shape, axis):
    """(outer, channels, inner) sizes of `shape` around `axis` (None: one channel)."""
    if axis is None or len(shape) == 0:
        return 1, 1, int(np.prod(shape))
    ax = axis % len(shape)
    return int(np.prod(shape[:ax])), int(shape[ax]), int(np.prod(shape[ax + 1:]))


def param_3d(param, shape, axis, dtype):
    """A parameter broadcastable to `shape` reshaped to (1|outer, 1|channels, 1|inner)."""
    p = np.asarray(param, dtype=dtype)
    if p.ndim == 0 or p.size == 1:
        return p.reshape(1, 1, 1)
    outer, ch, inner = as_3d(shape, axis)
    if p.size == ch:
        return np.ascontiguousarray(p.reshape(1, ch, 1))
    return np.ascontiguousarray(np.broadcast_to(p, shape).reshape(outer, ch, inner))


def _zero_point(zero_point, name, t):
    if isinstance(zero_point, np.ndarray) and zero_point.dtype.kind in "iu" \
            and zero_point.dtype.name != t.storage.name:
        raise TypeError(f"{name} dtype {zero_point.dtype.name} does not match dtype "
                        f"{t.name} (expected storage {t.storage.name})")
    return check_zero_point(name, zero_point, t.qmin, t.qmax, t.name)


@dataclass(frozen=True)
class QuantizeParams:
    x: np.ndarray          # float32 (outer, channels, inner)
    scale: np.ndarray      # float32 3-D parameter
    zero_point: np.ndarray  # int64 3-D parameter
    qmin: int
    qmax: int
    half_away: bool
    storage: np.dtype
    shape: tuple


def quantize_params(x, scale, zero_point, *, dtype, axis, block_size, rounding):
    """Check `reference.quantize.quantize` arguments and lay them out for a kernel."""
    x = check_array("x", x, ("float16", "float32", "float64"))
    t = qtype(dtype)
    check_choice("rounding", rounding, ROUNDING_MODES)
    s = broadcast_quant_param(check_scale("scale", scale), "scale", x.shape, axis, block_size)
    zp = broadcast_quant_param(_zero_point(zero_point, "zero_point", t), "zero_point",
                               x.shape, axis, block_size)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    if np.isnan(x32).any():
        raise ValueError(f"x must not contain NaN (got {int(np.isnan(x32).sum())} NaN values): "
                         f"quantization has no integer for it")
    return QuantizeParams(x=x32.reshape(as_3d(x.shape, axis)),
                          scale=param_3d(s, x.shape, axis, np.float32),
                          zero_point=param_3d(zp, x.shape, axis, np.int64),
                          qmin=t.qmin, qmax=t.qmax, half_away=rounding == "half_away",
                          storage=t.storage, shape=x.shape)


def dequantize_params(q, scale, zero_point, *, axis, block_size):
    """Check `reference.quantize.dequantize` arguments; returns (q3, scale3, zp3, shape)."""
    q = check_array("q", q, ("int8", "uint8", "int16", "uint16", "int32"))
    if q.dtype.name == "int32":
        zp_arr = check_zero_point("zero_point", zero_point, -(2**31), 2**31 - 1, "int32")
    else:
        zp_arr = _zero_point(zero_point, "zero_point", QTYPES[q.dtype.name])
    s = broadcast_quant_param(check_scale("scale", scale), "scale", q.shape, axis, block_size)
    zp = broadcast_quant_param(zp_arr, "zero_point", q.shape, axis, block_size)
    q3 = np.ascontiguousarray(q).reshape(as_3d(q.shape, axis))
    return (q3, param_3d(s, q.shape, axis, np.float32), param_3d(zp, q.shape, axis, np.int64),
            q.shape)


@dataclass(frozen=True)
class RequantizeParams:
    acc: np.ndarray         # int32 (outer, channels, inner)
    fixed_point: bool       # tflite modes: multiplier/shift; else float32 m
    m: np.ndarray           # float32 (channels or 1,)
    multiplier: np.ndarray  # int64 (channels or 1,)
    shift: np.ndarray       # int64 (channels or 1,)
    variant: int            # kernels._scalar.FIXED_* (tflite modes)
    zp: int
    lo: int
    hi: int
    storage: np.dtype
    shape: tuple


def requantize_params(acc, input_scale, weight_scale, output_scale, output_zero_point, *,
                      mode, dtype, axis, clamp):
    """Check `reference.requantize.requantize` arguments and fold the scales per channel."""
    args = check_requantize_args(acc, input_scale, weight_scale, output_scale,
                                 output_zero_point, mode=mode, dtype=dtype, axis=axis,
                                 clamp=clamp)
    acc, t, zp, lo, hi, ax = (args.acc, args.qtype, args.zero_point, args.lo, args.hi,
                              args.axis)
    s_in, s_w, s_out = args.input_scale, args.weight_scale, args.output_scale
    s_in32 = s_in.reshape(()).astype(np.float32)
    s_out32 = s_out.reshape(()).astype(np.float32)
    fixed = mode in ("tflite", "tflite-single", "tflite-ruy")
    single = mode == "tflite-single"
    variant = {"tflite-single": FIXED_SINGLE, "tflite-ruy": FIXED_RUY}.get(mode, FIXED_TFLITE)
    # Scale folding as the runtime does at preparation time (see reference.requantize).
    m = np.divide(np.multiply(s_in32, s_w, dtype=np.float32), s_out32, dtype=np.float32)
    if fixed:
        real = s_in32.astype(np.float64) * s_w.astype(np.float64) / s_out32.astype(np.float64)
        mult, shift = quantize_multiplier(real, single_rounding=single)
    else:  # float modes never read them (same shape as m; per-call host time matters)
        mult = shift = np.zeros(m.shape, np.int64)
    return RequantizeParams(
        acc=np.ascontiguousarray(acc).reshape(as_3d(acc.shape, ax)), fixed_point=fixed,
        m=np.ascontiguousarray(m, np.float32).reshape(-1),
        multiplier=np.asarray(mult, np.int64).reshape(-1),
        shift=np.asarray(shift, np.int64).reshape(-1), variant=variant, zp=zp, lo=lo, hi=hi,
        storage=t.storage, shape=acc.shape)

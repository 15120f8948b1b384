"""ONNX ``ConvTranspose`` (1-D, 2-D and 3-D; groups, strides, dilations, pads, auto_pad,
output_padding, output_shape): float, exact integer, and quantized (integer core + requantize,
like QLinearConv).

The loop these functions compute (``x`` is ``(N, C, D...)``, ``w`` is ``(C, M / group,
K...)``, output ``(N, M, O...)``)::

    for n, group g, input channel c of g (ascending), kernel tap t (row-major), input pos i:
        o = i * stride + t * dilation - pad_begin          # per spatial axis
        if 0 <= o < out_size:
            y[n, g * M/g + m, o] += x[n, c, i] * w[c, m, t]   # for every m of the group
    y += bias[m]

Output size per axis: ``stride * (in - 1) + output_padding + (K - 1) * dilation + 1 -
pad_begin - pad_end``. With ``output_shape`` (or auto_pad SAME_*), the pads are derived from
``total = stride * (in - 1) + output_padding + (K - 1) * dilation + 1 - out``:
SAME_UPPER puts ``total // 2`` at the beginning and the rest at the end; NOTSET and SAME_LOWER
put the larger half at the beginning (ONNX's formulas; ONNX Runtime agrees, checked in the
tests). auto_pad SAME_* targets ``out = in * stride``. A total of -1 with output_shape (one
zero row past the kernel's reach, at the end) is accepted; more negative totals, and any
negative total under auto_pad, are refused (ONNX Runtime clamps them to 0, ONNX does not).
"""

from __future__ import annotations

import itertools

import numpy as np

from reference._onnx_common import float_tensor, int_list
from reference._validate import check_array, check_choice, check_int, describe
from reference.matmul_int import zero_point_vector
from reference.requantize import REQUANTIZE_MODES, requantize

__all__ = ["conv_transpose", "conv_transpose_geometry", "conv_transpose_int",
           "qlinear_conv_transpose"]

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def conv_transpose_geometry(x_shape, w_shape, *, auto_pad="NOTSET", dilations=None, group=1,
                            kernel_shape=None, output_padding=None, output_shape=None,
                            pads=None, strides=None):
    """Checked geometry: ``(strides, dilations, pads_begin, out_spatial)``.

    Errors: ValueError naming the attribute for wrong lengths, values < 1 (strides,
    dilations) or < 0 (pads, output_padding), ``output_padding`` not smaller than the stride
    of its axis (ONNX also allows it below the dilation, ONNX Runtime does not), a
    channel/group mismatch, ``kernel_shape`` differing from the weight, or an empty output.
    Numeric contract: integer geometry only (no arithmetic on data).
    """
    check_choice("auto_pad", auto_pad, AUTO_PADS)
    if len(x_shape) < 3 or len(x_shape) > 5 or len(w_shape) != len(x_shape):
        raise ValueError(f"x {tuple(x_shape)} and w {tuple(w_shape)} must both be (N, C, D...) / "
                         f"(C, M/group, K...) with 1 to 3 spatial axes")
    k = len(x_shape) - 2
    g = check_int("group", group, minimum=1)
    c = x_shape[1]
    if w_shape[0] != c or c % g:
        raise ValueError(f"w.shape[0] must equal the input channels {c} and group={g} must "
                         f"divide it, got w shape {tuple(w_shape)}")
    kernel = tuple(w_shape[2:])
    if kernel_shape is not None and int_list("kernel_shape", kernel_shape, length=k) != kernel:
        raise ValueError(f"kernel_shape={list(kernel_shape)} differs from w.shape[2:]={kernel}")
    st = (1,) * k if strides is None else int_list("strides", strides, length=k, minimum=1)
    dil = (1,) * k if dilations is None else int_list("dilations", dilations, length=k, minimum=1)
    op = (0,) * k if output_padding is None else int_list("output_padding", output_padding,
                                                           length=k, minimum=0)
    for i in range(k):
        if op[i] >= st[i]:  # ONNX also allows < dilation; ONNX Runtime rejects it: refuse
            raise ValueError(f"output_padding={list(op)} must be smaller than the stride of "
                             f"each axis (strides={list(st)})")
    full = [st[i] * (x_shape[2 + i] - 1) + op[i] + (kernel[i] - 1) * dil[i] + 1 for i in range(k)]
    begin, out = _pads(k, auto_pad, pads, output_shape, full, x_shape[2:], st)
    if any(o < 1 for o in out):
        raise ValueError(f"output would be empty: spatial size {out} (input {tuple(x_shape)}, "
                         f"kernel {kernel}, strides {list(st)}, pads begin {begin})")
    return st, dil, tuple(begin), tuple(out)


def _pads(k, auto_pad, pads, output_shape, full, in_sizes, st):
    """(pads_begin, out_spatial) from explicit pads, output_shape or auto_pad."""
    p = (0,) * 2 * k if pads is None else int_list("pads", pads, length=2 * k, minimum=0)
    if any(p) and auto_pad != "NOTSET":
        raise ValueError(f"pads={list(p)} must be absent or zero with auto_pad={auto_pad!r}")
    if output_shape is not None:
        if any(p):
            raise ValueError(f"pads={list(p)} and output_shape={describe(output_shape)} are "
                             f"both given: ONNX derives the pads from output_shape")
        shape = int_list("output_shape", output_shape, minimum=1)
        if len(shape) == k + 2:  # ONNX Runtime also takes the full (N, M, D...) form
            shape = shape[2:]
        if len(shape) != k:
            raise ValueError(f"output_shape must have {k} entries, got {list(shape)}")
        target = shape
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = tuple(in_sizes[i] * st[i] for i in range(k))
    else:  # NOTSET or VALID (whose pads are zero)
        return list(p[:k]), [full[i] - p[i] - p[k + i] for i in range(k)]
    begin = []
    for i in range(k):
        total = full[i] - target[i]
        # Negative total padding: ONNX Runtime clamps it to 0 and appends zeros at the end;
        # ONNX's formula agrees only for -1 with output_shape (begin 0, end -1). Refuse the rest.
        if total < (-1 if output_shape is not None else 0):
            what = "output_shape" if output_shape is not None else f"auto_pad={auto_pad!r}"
            raise ValueError(f"{what} asks for spatial size {target[i]} on axis {i}, beyond "
                             f"the {full[i]} positions the kernel reaches (total padding "
                             f"{total}): not supported, ONNX Runtime and the ONNX formula "
                             f"disagree there")
        begin.append(total // 2 if auto_pad == "SAME_UPPER" else total - total // 2)
    return begin, list(target)


def _windows(in_sizes, kernel, st, dil, begin, out):
    """For every kernel tap: (tap index, input slices, output slices) of the positions it hits."""
    for tap in itertools.product(*(range(kk) for kk in kernel)):
        in_sl, out_sl = [], []
        for ax, t in enumerate(tap):
            off = t * dil[ax] - begin[ax]  # o = i * s + off
            lo = max(0, -(off // st[ax]))  # first i with o >= 0: ceil(-off / s)
            hi = min(in_sizes[ax] - 1, (out[ax] - 1 - off) // st[ax])
            if hi < lo:
                break
            in_sl.append(slice(lo, hi + 1))
            o0 = lo * st[ax] + off
            out_sl.append(slice(o0, o0 + (hi - lo) * st[ax] + 1, st[ax]))
        else:
            yield tap, tuple(in_sl), tuple(out_sl)


def _accumulate(x, w, geometry, group, acc_dtype, channel_order):
    st, dil, begin, out = geometry
    n, c = x.shape[:2]
    cg, mg = c // group, w.shape[1]
    xg = x.reshape((n, group, cg) + x.shape[2:])
    wg = w.reshape((group, cg, mg) + w.shape[2:])
    y = np.zeros((n, group, mg) + tuple(out), acc_dtype)
    windows = list(_windows(x.shape[2:], w.shape[2:], st, dil, begin, out))
    if channel_order:  # float: one channel and one tap at a time, in the contract's order
        for ci in range(cg):
            for tap, in_sl, out_sl in windows:
                wv = wg[(slice(None), ci, slice(None)) + tap]          # (G, Mg)
                xv = xg[(slice(None), slice(None), ci) + in_sl]        # (N, G, I...)
                bshape = (1, group, mg) + (1,) * len(out)
                y[(slice(None),) * 3 + out_sl] += xv[:, :, None] * wv.reshape(bshape)
    else:  # integers: exact in int64 whatever the order, so sum the channels at once
        for tap, in_sl, out_sl in windows:
            wv = wg[(slice(None), slice(None), slice(None)) + tap]      # (G, Cg, Mg)
            xv = xg[(slice(None), slice(None), slice(None)) + in_sl]    # (N, G, Cg, I...)
            y[(slice(None),) * 3 + out_sl] += np.einsum("ngc...,gcm->ngm...", xv, wv)
    return y.reshape((n, group * mg) + tuple(out))


def conv_transpose(X, W, B=None, *, auto_pad="NOTSET", dilations=None, group=1,
                   kernel_shape=None, output_padding=None, output_shape=None, pads=None,
                   strides=None) -> np.ndarray:
    """ONNX ``ConvTranspose`` in float32 (or the float64 twin).

    Numeric contract: the module's loop in X's dtype: for each group, input channel ``c``
    ascending, then kernel taps in row-major order, ``y += x * w`` with multiply and add
    rounded separately (no FMA); the bias added last. Deterministic on every machine; ONNX
    Runtime (col2im over a GEMM) sums in another order, so tests allow
    ``(C/group * prod(K) + 2) * eps * sum|x * w|``.
    """
    x, w = float_tensor("X", X), float_tensor("W", W)
    if x.dtype != w.dtype:
        raise TypeError(f"X and W must share a dtype, got {x.dtype.name} and {w.dtype.name}")
    geometry = conv_transpose_geometry(
        x.shape, w.shape, auto_pad=auto_pad, dilations=dilations, group=group,
        kernel_shape=kernel_shape, output_padding=output_padding, output_shape=output_shape,
        pads=pads, strides=strides)
    y = _accumulate(x, w, geometry, group, x.dtype, channel_order=True)
    if B is not None:
        b = float_tensor("B", B)
        if b.dtype != x.dtype or b.shape != (y.shape[1],):
            raise ValueError(f"B must be {x.dtype.name} of shape ({y.shape[1]},), got "
                             f"{b.dtype.name} {b.shape}")
        y = y + b.reshape((1, -1) + (1,) * (y.ndim - 2))
    return y


def _weight_channel_param(name, value, w, group):
    """Per-tensor, or per weight axis 1 (``M / group`` values, ONNX DequantizeLinear axis=1
    on the ``(C, M/group, K...)`` weight), tiled to one value per output channel."""
    arr = np.asarray(value)
    if arr.size == 1:
        return arr.reshape(())
    if arr.ndim != 1 or arr.shape[0] != w.shape[1]:
        raise ValueError(f"{name} must be a scalar or 1-D with w.shape[1] = {w.shape[1]} "
                         f"entries (weight axis 1), got shape {arr.shape}")
    return np.tile(arr, group)


def conv_transpose_int(x, w, x_zero_point=0, w_zero_point=0, *, bias=None, **attributes
                       ) -> np.ndarray:
    """Integer ConvTranspose: ``sum (x - x_zero_point) * (w - w_zero_point) + bias``, int32.

    Numeric contract: ``x``, ``w`` int8/uint8; ``x_zero_point`` one value of x's dtype;
    ``w_zero_point`` one value or ``M / group`` values (weight axis 1, as ONNX Runtime's
    quantizer writes per-channel ConvTranspose weights) of w's dtype; ``bias`` int32 ``(M,)``.
    The sum is exact in int64 (``|term| <= 255 * 255``, at most ``C * prod(K)`` terms), then
    reduced modulo 2**32 to int32 and the bias added with int32 wrap-around (ONNX Runtime's
    accumulator). ``attributes``: those of :func:`conv_transpose`.
    """
    x = check_array("x", x, ("int8", "uint8"))
    w = check_array("w", w, ("int8", "uint8"))
    geometry = conv_transpose_geometry(x.shape, w.shape, **attributes)
    group = attributes.get("group", 1)
    xz = zero_point_vector("x_zero_point", x_zero_point, x.dtype, 1, "tensor")
    wz = _weight_channel_param("w_zero_point", w_zero_point, w, 1)
    zero_point_vector("w_zero_point", wz, w.dtype, w.shape[1], "weight axis-1 channel")
    wz = np.asarray(wz, np.int64).reshape((1, -1) + (1,) * (w.ndim - 2))
    xc = x.astype(np.int64) - np.int64(xz)
    wc = w.astype(np.int64) - wz
    acc = _accumulate(xc, wc, geometry, group, np.int64, channel_order=False).astype(np.int32)
    if bias is not None:
        b = check_array("bias", bias, ("int32",), ndim=1)
        if b.shape[0] != acc.shape[1]:
            raise ValueError(f"bias must have M = {acc.shape[1]} entries, got {b.shape[0]}")
        with np.errstate(over="ignore"):
            acc = acc + b.reshape((1, -1) + (1,) * (acc.ndim - 2))
    return acc


def qlinear_conv_transpose(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
                           y_zero_point, B=None, *, auto_pad="NOTSET", dilations=None, group=1,
                           kernel_shape=None, output_padding=None, output_shape=None, pads=None,
                           strides=None, mode="onnxruntime") -> np.ndarray:
    """Quantized ConvTranspose (QLinearConv's argument order; the form of ORT's
    com.microsoft QLinearConvTranspose and of a QDQ ``DQ -> ConvTranspose -> Q`` group):
    :func:`conv_transpose_int` then :func:`reference.requantize.requantize`.

    Numeric contract: exact int32 accumulator with int32 bias ``B`` (see
    :func:`conv_transpose_int`); ``w_scale`` per tensor or per weight axis 1 (``M / group``
    values, tiled over groups); requantization in ``mode`` (default ``"onnxruntime"``:
    ``fl32(fl32(acc) * fl32(fl32(x_scale * w_scale) / y_scale))``, round half to even,
    ``+ y_zero_point``, saturate to y_zero_point's dtype).
    """
    check_choice("mode", mode, REQUANTIZE_MODES)
    attrs = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                 output_padding=output_padding, output_shape=output_shape, pads=pads,
                 strides=strides)
    acc = conv_transpose_int(x, w, x_zero_point, w_zero_point, bias=B, **attrs)
    w_arr = check_array("w", w, ("int8", "uint8"))
    scale = _weight_channel_param("w_scale", w_scale, w_arr, check_int("group", group, minimum=1))
    if not isinstance(y_zero_point, np.ndarray | np.integer):
        raise TypeError(f"y_zero_point must be a numpy int8/uint8 scalar or array (it fixes the "
                        f"output type), got {type(y_zero_point).__name__}")
    dtype = np.asarray(y_zero_point).dtype.name
    return requantize(acc, x_scale, scale, y_scale, y_zero_point, mode=mode, dtype=dtype, axis=1)

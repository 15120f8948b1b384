"""Float max / average / global-average pooling (NCHW), ONNX semantics with ceil_mode=0."""

from __future__ import annotations

import numpy as np

from reference._validate import as_float, check_choice, check_int_tuple


def pool_windows(x, kernel_shape, strides, pads, dilations, fill):
    """Padded sliding windows of NCHW ``x``: a view of shape (N, C, OH, OW, KH, KW).

    Shared by the float and int8 pooling operators. ``fill`` is the pad value.

    Numeric contract: a strided view (no arithmetic) of a padded copy in ``x``'s dtype; pads
    (top, left, bottom, right) each smaller than the kernel. Errors: ValueError naming the
    parameter for bad geometry; TypeError for non-int tuples.
    """
    if x.ndim != 4:
        raise ValueError(f"x has shape {x.shape}: expected 4-D NCHW")
    kh, kw = check_int_tuple("kernel_shape", kernel_shape, 2, minimum=1, broadcast=True)
    sh, sw = check_int_tuple("strides", strides if strides is not None else (kh, kw), 2,
                             minimum=1, broadcast=True)
    pt, pl, pb, pr = check_int_tuple("pads", pads, 4, minimum=0, broadcast=True)
    dh, dw = check_int_tuple("dilations", dilations, 2, minimum=1, broadcast=True)
    if max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise ValueError(f"pads={pads}: each pad must be smaller than the kernel ({kh}, {kw})")
    n, c, h, w = x.shape
    xp = np.full((n, c, h + pt + pb, w + pl + pr), fill, dtype=x.dtype)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if xp.shape[2] < eh or xp.shape[3] < ew:
        raise ValueError(f"kernel_shape={kernel_shape} with dilations={dilations} spans "
                         f"{eh}x{ew}, larger than the padded input {xp.shape[2:]}")
    win = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(2, 3))
    return win[:, :, ::sh, ::sw, ::dh, ::dw]


def max_pool2d(x, *, kernel_shape, strides=None, pads=(0, 0, 0, 0), dilations=(1, 1),
               precision="float32") -> np.ndarray:
    """Max pooling (ONNX MaxPool, ceil_mode=0). strides default to kernel_shape.

    Numeric contract: exact (a selection); padding is -inf so it never wins; NaN propagates.
    Layout NCHW, pads (top, left, bottom, right), each pad < kernel. Errors: ValueError naming
    the parameter for bad geometry; TypeError for non-numeric x.
    """
    x = as_float("x", x, precision, ndim=4)
    return pool_windows(x, kernel_shape, strides, pads, dilations, -np.inf).max(axis=(4, 5))


AVG_POOL_ORDERS = ("mlas", "rowmajor")


def avg_pool2d(x, *, kernel_shape, strides=None, pads=(0, 0, 0, 0), count_include_pad=False,
               order="mlas", precision="float32") -> np.ndarray:
    """Average pooling (ONNX AveragePool, ceil_mode=0, no dilation). strides default to
    kernel_shape.

    Numeric contract (float32 as ONNX Runtime's CPU kernels, whose orders are the same on
    every host; float64: the same sums in float64, the twin for error bounds). ``order``:
      - ``"rowmajor"`` (ONNX Runtime's AveragePool-19 and later): the in-image window elements
        added one by one in row-major order from 0.0, then one division by the count (the
        kernel size with ``count_include_pad``, else the in-image elements);
      - ``"mlas"`` (AveragePool-7 to -18, MLAS's pooling kernels), by kernel choice:
      - a kernel covering the whole image with strides 1 and no padding is
        :func:`global_avg_pool2d`;
      - else, when the width stride is <= 2, every kernel dimension <= 32 and the padded row
        fits MLAS's 2045-element buffer (its "vector" kernel): for each output row, every
        input column is summed over the window's in-image rows, top to bottom (first row,
        then each next one added); each output sums ``kernel_w`` consecutive column sums of
        that row, left pads and right pads counting as 0.0, left to right; the divisor is
        ``kernel_h * kernel_w`` with ``count_include_pad``, else (in-image columns) *
        (in-image rows), both exact in float32; one division;
      - otherwise (MLAS's generic kernel): the in-image window elements added one by one in
        row-major order from 0.0, then one division by the same count.
      Padding contributes nothing; every add and the division rounded in ``precision``.
    """
    x = as_float("x", x, precision, ndim=4)
    check_choice("order", order, AVG_POOL_ORDERS)
    kh, kw = check_int_tuple("kernel_shape", kernel_shape, 2, minimum=1, broadcast=True)
    sh, sw = check_int_tuple("strides", strides if strides is not None else (kh, kw), 2,
                             minimum=1, broadcast=True)
    pt, pl, pb, pr = check_int_tuple("pads", pads, 4, minimum=0, broadcast=True)
    win = pool_windows(x, (kh, kw), (sh, sw), (pt, pl, pb, pr), (1, 1), 0.0)  # checks geometry
    oh, ow = win.shape[2:4]
    h, w = x.shape[2:]
    mlas = order == "mlas"
    if mlas and (kh, kw) == (h, w) and (sh, sw) == (1, 1) and not any((pt, pl, pb, pr)):
        return global_avg_pool2d(x, precision=precision)
    rows = _window_counts(h, kh, sh, pt, oh)      # in-image rows of each output row
    cols = _window_counts(w, kw, sw, pl, ow)
    count = rows[:, None] * cols[None, :]
    if count_include_pad:
        count = np.full_like(count, kh * kw)
    xp = np.zeros(x.shape[:2] + (h + pt + pb, w + pl + pr), x.dtype)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    if mlas and sw <= 2 and max(kh, kw) <= 32 and pl + pr + w <= 2048 - 3:
        colsum = np.zeros(x.shape[:2] + (oh, xp.shape[3]), x.dtype)
        for i in range(kh):   # top to bottom; rows outside the image add +0.0
            colsum = colsum + xp[:, :, i:i + sh * (oh - 1) + 1:sh, :]
        total = colsum[..., 0:sw * (ow - 1) + 1:sw]
        for j in range(1, kw):
            total = total + colsum[..., j:j + sw * (ow - 1) + 1:sw]
    else:
        total = np.zeros(x.shape[:2] + (oh, ow), x.dtype)
        for i in range(kh):
            for j in range(kw):
                total = total + xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return total / count.astype(x.dtype)


def _window_counts(size, kernel, stride, pad, out):
    start = np.arange(out) * stride - pad
    return np.minimum(start + kernel, size) - np.maximum(start, 0)


def global_avg_pool2d(x, *, precision="float32") -> np.ndarray:
    """Mean over H and W, keeping dims: (N, C, 1, 1) (ONNX GlobalAveragePool).

    Numeric contract (float32: MLAS's global pooling kernel on x86-64; float64: the same
    order in float64): the first ``4 * (S // 4)`` elements of each channel (S = H*W, row-major)
    are summed in four lanes, lane ``j`` adding elements ``j, j+4, ...`` from 0.0; the lanes
    are combined as ``(l0 + l2) + (l1 + l3)``; the remaining ``S % 4`` elements are added one
    by one; then one division by ``float(S)``. (aarch64's NEON reduction combines
    ``(l0 + l1) + (l2 + l3)``: results can differ there by an ulp.)
    """
    x = as_float("x", x, precision, ndim=4)
    n, c, h, w = x.shape
    size = h * w
    if size == 0:
        raise ValueError(f"x has shape {x.shape}: expected H*W > 0")
    flat = x.reshape(n, c, size)
    full = size - size % 4
    lanes = np.zeros((n, c, 4), x.dtype)
    for i in range(0, full, 4):
        lanes = lanes + flat[:, :, i:i + 4]
    total = (lanes[..., 0] + lanes[..., 2]) + (lanes[..., 1] + lanes[..., 3])
    for i in range(full, size):
        total = total + flat[:, :, i]
    return (total / x.dtype.type(size)).reshape(n, c, 1, 1)

"""Float max / average / global-average pooling (NCHW), ONNX semantics with ceil_mode=0."""

from __future__ import annotations

import numpy as np

from reference._validate import as_float, check_int_tuple


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


def avg_pool2d(x, *, kernel_shape, strides=None, pads=(0, 0, 0, 0), count_include_pad=False,
               precision="float32") -> np.ndarray:
    """Average pooling (ONNX AveragePool, ceil_mode=0).

    Numeric contract: the window sum is np.sum over (KH, KW) in ``precision`` (pairwise,
    deterministic for a given kernel), then one rounded division by the count: KH*KW when
    ``count_include_pad`` else the number of non-pad elements. Padding contributes 0.
    """
    x = as_float("x", x, precision, ndim=4)
    win = pool_windows(x, kernel_shape, strides, pads, (1, 1), 0.0)
    total = win.sum(axis=(4, 5))
    if count_include_pad:
        count = np.full(total.shape[2:], win.shape[4] * win.shape[5], dtype=x.dtype)
    else:
        ones = np.ones((1, 1) + x.shape[2:], dtype=x.dtype)
        count = pool_windows(ones, kernel_shape, strides, pads, (1, 1), 0.0).sum(axis=(4, 5))[0, 0]
    return total / count


def global_avg_pool2d(x, *, precision="float32") -> np.ndarray:
    """Mean over H and W, keeping dims: (N, C, 1, 1) (ONNX GlobalAveragePool).

    Numeric contract: NumPy pairwise sum over H*W in ``precision``, then one division by H*W.
    """
    x = as_float("x", x, precision, ndim=4)
    n, c, h, w = x.shape
    if h * w == 0:
        raise ValueError(f"x has shape {x.shape}: expected H*W > 0")
    s = x.reshape(n, c, h * w).sum(axis=2)
    return (s / x.dtype.type(h * w)).reshape(n, c, 1, 1)

"""Float convolution and linear/matmul with a fixed, documented evaluation order.

Why a fixed order: a BLAS GEMM may sum the reduction in any order (blocked, threaded, FMA), so
two machines can differ in the last bit. The golden model instead accumulates tap by tap in a
stated order with separate multiply and add (NumPy never fuses them), so the float32 result is
the same on every machine with IEEE-754 arithmetic, and the float64 twin (``precision="float64"``)
runs the very same order for error bounds.
"""

from __future__ import annotations

import numpy as np

from reference._validate import as_float, conv_geometry, float_dtype


def conv2d_macs(x_shape, w_shape, *, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                groups=1) -> int:
    """Multiply-accumulates of a dense conv: N * O * OH * OW * (C/groups) * KH * KW.

    Numeric contract: exact Python int (no overflow). Errors: as ``conv2d_float``.
    """
    _, _, _, _, oh, ow = conv_geometry(x_shape, w_shape, strides, pads, dilations, groups)
    n = x_shape[0]
    o, cg, kh, kw = w_shape
    return int(n) * int(o) * oh * ow * int(cg) * int(kh) * int(kw)


def conv2d_float(x, w, *, bias=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                 groups=1, precision="float32") -> np.ndarray:
    """2-D convolution (cross-correlation, as ONNX Conv) of NCHW ``x`` with OIHW ``w``.

    Numeric contract:
      - dtypes: inputs of any real dtype are converted to ``precision`` ("float32" or
        "float64") first; every product and sum is computed in that dtype; result in it too.
      - evaluation order: for each output element the accumulator starts at +0.0 and adds
        ``w[o, c, kh, kw] * x_padded[...]`` for c ascending, then kh ascending, then kw
        ascending (c outermost), multiply then add rounded separately (no FMA); the bias is added
        last. So the result is deterministic and independent of BLAS.
      - padding: zeros; pads in ONNX order (top, left, bottom, right).
      - groups: input channels split into ``groups`` consecutive blocks; groups == C is the
        depthwise conv (w of shape (C*m, 1, KH, KW)).
      - output size: OH = (H + top + bottom - dilation_h*(KH-1) - 1) // stride_h + 1.
      - errors: ValueError for bad shapes/geometry (names the parameter), TypeError for
        non-numeric inputs.
    """
    dt = float_dtype(precision)
    x = as_float("x", x, precision, ndim=4)
    w = as_float("w", w, precision, ndim=4)
    (sh, sw), (pt, pl, pb, pr), (dh, dw), g, oh, ow = conv_geometry(
        x.shape, w.shape, strides, pads, dilations, groups)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), dtype=dt)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    xg = xp.reshape(n, g, cg, xp.shape[2], xp.shape[3])
    wg = w.reshape(g, o // g, cg, kh, kw)
    acc = np.zeros((n, g, o // g, oh, ow), dtype=dt)
    for ci in range(cg):
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, ci, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                acc += wg[None, :, :, ci, i, j, None, None] * patch[:, :, None]
    out = acc.reshape(n, o, oh, ow)
    if bias is not None:
        b = as_float("bias", bias, precision, ndim=1)
        if b.shape[0] != o:
            raise ValueError(f"bias has shape {b.shape}: expected ({o},) (output channels)")
        out = out + b[None, :, None, None]
    return out


def matmul_float(a, b, *, precision="float32") -> np.ndarray:
    """Batched matrix product ``a @ b`` (NumPy broadcasting of leading dims, as ONNX MatMul).

    Numeric contract:
      - dtypes: inputs converted to ``precision``; products and sums in that dtype.
      - evaluation order: out[..., m, n] = (((0 + a[m,0]*b[0,n]) + a[m,1]*b[1,n]) + ...), k
        ascending, multiply and add rounded separately (no FMA, no BLAS reordering).
      - shapes: a (..., M, K), b (..., K, N), both at least 2-D; K must match.
      - errors: ValueError for rank < 2 or mismatched K; TypeError for non-numeric input.
    """
    a = as_float("a", a, precision)
    b = as_float("b", b, precision)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"a has shape {a.shape}, b has shape {b.shape}: expected both >= 2-D")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"a has shape {a.shape}, b has shape {b.shape}: expected "
                         f"a.shape[-1] == b.shape[-2]")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    acc = np.zeros(batch + (a.shape[-2], b.shape[-1]), dtype=a.dtype)
    for k in range(a.shape[-1]):
        acc += a[..., :, k:k + 1] * b[..., k:k + 1, :]
    return acc


def linear_float(x, w, *, bias=None, precision="float32") -> np.ndarray:
    """Fully connected layer y = x @ w.T + bias (PyTorch Linear / ONNX Gemm transB=1).

    Numeric contract: x (..., K), w (OUT, K), bias (OUT,) or None; ``matmul_float``'s order
    (k ascending, no FMA), then the bias added last. Result in ``precision``.
    Errors: ValueError for mismatched K or bias length; TypeError for non-numeric input.
    """
    x = as_float("x", x, precision)
    w = as_float("w", w, precision, ndim=2)
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"x has shape {x.shape}, w has shape {w.shape}: expected "
                         f"x.shape[-1] == w.shape[1]")
    lead = x.shape[:-1]
    y = matmul_float(x.reshape(-1, x.shape[-1]), w.T, precision=precision)
    if bias is not None:
        b = as_float("bias", bias, precision, ndim=1)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"bias has shape {b.shape}: expected ({w.shape[0]},)")
        y = y + b
    return y.reshape(lead + (w.shape[0],))


def _im2col(x, kh, kw, strides, pads, dilations, oh, ow):
    """(N, C, H, W) -> (N, C*kh*kw, oh*ow), zero padding; exact copies, no arithmetic."""
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    if any(pads):
        xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=x.dtype)
        xp[:, :, pt:pt + h, pl:pl + w] = x
    else:
        xp = x
    sh, sw = strides
    dh, dw = dilations
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                  j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return cols.reshape(n, c * kh * kw, oh * ow)


def _depthwise_taps(x, w, strides, pads, dilations, oh, ow):
    n, o = x.shape[0], w.shape[0]
    kh, kw = w.shape[2:]
    y = np.zeros((n, o, oh, ow), dtype=np.float32)
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))) if any(pads) else x
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, :, i * dilations[0]:i * dilations[0] + strides[0] * (oh - 1) + 1:
                     strides[0], j * dilations[1]:j * dilations[1] + strides[1] * (ow - 1)
                     + 1:strides[1]]
            y += tap * w[None, :, 0, i, j, None, None]
    return y


def conv2d_float_blas(x, w, *, bias=None, strides=(1, 1), pads=(0, 0, 0, 0),
                      dilations=(1, 1), groups=1) -> np.ndarray:
    """2-D float32 convolution through im2col + BLAS (the golden run's fast float path).

    Numeric contract:
      - dtypes: ``x`` converted to float32 (C-contiguous), ``w`` and ``bias`` used as float32;
        result float32 NCHW. Padding zeros; pads ONNX order (top, left, bottom, right).
      - evaluation order: depthwise (``groups == C == O``, one input channel per group):
        ``y = 0; y += tap * w[o, 0, i, j]`` for kernel row i then column j ascending, multiply
        and add rounded separately. Otherwise one float32 GEMM per group,
        ``W (O/g, C/g*KH*KW) @ cols``, summed in the order of the machine's BLAS ``sgemm``
        (blocking, FMA and threads are the BLAS's: deterministic for one machine, library and
        thread count, not across them). Then ``+ bias`` rounded once.
      - accuracy: within ``k * eps_f32 * sum|w x|`` of :func:`conv2d_float`'s fixed order
        (k = taps per output); use :func:`conv2d_float` where bits must match across machines.
      - errors: as :func:`conv2d_float` (geometry named by argument).
    """
    x = np.ascontiguousarray(as_float("x", x, "float32", ndim=4))
    w = as_float("w", w, "float32", ndim=4)
    strides, pads, dilations, group, oh, ow = conv_geometry(
        x.shape, w.shape, strides, pads, dilations, groups)
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    if group > 1 and cg == 1 and o == group:  # depthwise: multiply-add per tap
        y = _depthwise_taps(x, w, strides, pads, dilations, oh, ow)
    else:
        if kh == kw == 1 and strides == (1, 1) and not any(pads):
            cols = x.reshape(n, x.shape[1], oh * ow)
        else:
            cols = _im2col(x, kh, kw, strides, pads, dilations, oh, ow)
        if group == 1:
            y = np.matmul(w.reshape(o, -1), cols)
        else:
            k = cg * kh * kw
            cols = cols.reshape(n, group, k, oh * ow)
            y = np.matmul(w.reshape(group, o // group, k)[None], cols)
        y = y.reshape(n, o, oh, ow)
    if bias is not None:
        b = as_float("bias", bias, "float32", ndim=1)
        if b.shape[0] != o:
            raise ValueError(f"bias has shape {b.shape}: expected ({o},) (output channels)")
        y += b.reshape(1, o, 1, 1)
    return y


def matmul_float_blas(a, b, *, bias=None) -> np.ndarray:
    """``a @ b (+ bias)`` in float32 through BLAS (NumPy ``matmul`` broadcasting, as ONNX
    MatMul; 1-D operands as NumPy).

    Numeric contract: inputs converted to float32; the reduction summed in the order of the
    machine's BLAS ``sgemm`` (deterministic per machine, library and thread count); then
    ``+ bias`` (broadcast) rounded once; result float32. For a fixed order across machines use
    :func:`matmul_float`. Errors: ValueError for shapes that do not multiply.
    """
    a = as_float("a", a, "float32")
    b = as_float("b", b, "float32")
    try:
        y = np.matmul(a, b)
    except ValueError:
        raise ValueError(f"a has shape {a.shape}, b has shape {b.shape}: expected "
                         f"a.shape[-1] == b.shape[-2] and broadcastable batch dims") from None
    if bias is not None:
        y = y + as_float("bias", bias, "float32")
    return y.astype(np.float32, copy=False)

"""Float elementwise and data-movement operators: add, sub, mul, div, concat, nearest resize."""

from __future__ import annotations

import numpy as np

from reference._validate import as_float, check_int


def add(a, b, *, precision="float32") -> np.ndarray:
    """a + b with NumPy broadcasting. Numeric contract: one correctly rounded add in
    ``precision``. Errors: ValueError if the shapes do not broadcast."""
    a, b = as_float("a", a, precision), as_float("b", b, precision)
    _broadcast("a", a, "b", b)
    return a + b


def mul(a, b, *, precision="float32") -> np.ndarray:
    """a * b with NumPy broadcasting. Numeric contract: one correctly rounded multiply."""
    a, b = as_float("a", a, precision), as_float("b", b, precision)
    _broadcast("a", a, "b", b)
    return a * b


def sub(a, b, *, precision="float32") -> np.ndarray:
    """a - b with NumPy broadcasting. Numeric contract: one correctly rounded subtraction in
    ``precision``. Errors: ValueError if the shapes do not broadcast."""
    a, b = as_float("a", a, precision), as_float("b", b, precision)
    _broadcast("a", a, "b", b)
    return a - b


def div(a, b, *, precision="float32") -> np.ndarray:
    """a / b with NumPy broadcasting. Numeric contract: one correctly rounded IEEE division in
    ``precision`` (x / 0 is +-inf, 0 / 0 NaN, no error). Errors: ValueError for shapes."""
    a, b = as_float("a", a, precision), as_float("b", b, precision)
    _broadcast("a", a, "b", b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def _broadcast(na, a, nb, b):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{na} has shape {a.shape}, {nb} has shape {b.shape}: expected "
                         f"broadcastable shapes") from None


def concat(arrays, *, axis=1) -> np.ndarray:
    """Concatenate along ``axis`` (ONNX Concat). Numeric contract: exact copy; all inputs must
    share one dtype (no silent promotion) and all dims but ``axis``.
    Errors: ValueError for an empty list, mixed ranks/dims or a bad axis; TypeError for mixed
    dtypes."""
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("arrays=[]: expected at least one array")
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise TypeError(f"arrays have dtypes {sorted(map(str, dtypes))}: expected one dtype")
    nd = arrays[0].ndim
    if not -nd <= axis < nd:
        raise ValueError(f"axis={axis}: expected in [{-nd}, {nd - 1}]")
    ax = axis % nd
    for i, a in enumerate(arrays):
        if a.ndim != nd or a.shape[:ax] + a.shape[ax + 1:] != arrays[0].shape[:ax] + \
                arrays[0].shape[ax + 1:]:
            raise ValueError(f"arrays[{i}] has shape {a.shape}: expected the shape of "
                             f"arrays[0] {arrays[0].shape} except along axis {axis}")
    return np.concatenate(arrays, axis=ax)


def upsample_nearest(x, *, scale=2) -> np.ndarray:
    """Nearest-neighbour upsampling of NCHW ``x`` by an integer ``scale`` in H and W (YOLOv5s;
    ONNX Resize mode=nearest, integer scales, asymmetric coordinates, floor rounding).

    Numeric contract: exact copy, any dtype kept; out[n, c, i, j] = x[n, c, i // s, j // s].
    Errors: ValueError for non-4-D x or scale < 1; TypeError for a non-int scale.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x has shape {x.shape}: expected 4-D NCHW")
    s = check_int("scale", scale, minimum=1)
    return np.repeat(np.repeat(x, s, axis=2), s, axis=3)


def resize_nearest(x, *, scales) -> np.ndarray:
    """Nearest-neighbour resize by one scale per axis (ONNX Resize mode=nearest,
    coordinate_transformation_mode=asymmetric, nearest_mode=floor), any dtype.

    Numeric contract: exact copy; output size ``floor(d * s)`` per axis (float64 product);
    output index ``i`` of an axis with ``s != 1`` reads input index ``floor(i / s)`` (float64
    division), so ``out[i] = x[floor(i / s)]``. Errors: ValueError for a scale count that is
    not the rank, a scale <= 0 or an empty output.
    """
    x = np.asarray(x)
    scales = tuple(float(s) for s in scales)
    if len(scales) != x.ndim:
        raise ValueError(f"scales has {len(scales)} entries: expected one per axis of x "
                         f"(shape {x.shape})")
    out = x
    for axis, s in enumerate(scales):
        if not s > 0 or not np.isfinite(s):
            raise ValueError(f"scales[{axis}]={s!r}: expected a finite scale > 0")
        if s == 1:
            continue
        size = int(np.floor(x.shape[axis] * s))
        if size < 1:
            raise ValueError(f"scales[{axis}]={s!r} makes axis {axis} of size "
                             f"{x.shape[axis]} empty")
        idx = np.floor(np.arange(size) / s).astype(int)
        out = np.take(out, idx, axis=axis)
    return out

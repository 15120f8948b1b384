"""Argument checks shared by the CPU and CUDA kernels' host wrappers.

Bad input raises TypeError (wrong kind or dtype) or ValueError (wrong value) naming the
parameter, the value given and what was expected, as the reference operators do.
"""

import numpy as np

INT8_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def check_operand(name, x, ndim=2, dtypes=INT8_DTYPES):
    """Check that `x` is an ndarray of one of `dtypes` with `ndim` dimensions."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype in {[d.name for d in dtypes]}, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")


def zero_point_vector(name, zp, length, dtype, *, lo=None, hi=None):
    """Zero point as an int64 vector of `length` (scalar broadcast), checked against a range.

    The range is that of `dtype` unless `lo`/`hi` narrow it (int4 weights: -8..7).
    """
    arr = np.asarray(zp)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer scalar or array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = np.full(length, int(arr), dtype=np.int64)
    elif arr.shape != (length,):
        raise ValueError(f"{name} must be a scalar or have shape ({length},), got {arr.shape}")
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def check_packed_int4(b_packed, k, n):
    """Check flat packed-int4 bytes of a (k, n) matrix (reference.packing.pack_int4 order)."""
    if not isinstance(b_packed, np.ndarray) or b_packed.dtype != np.uint8:
        raise TypeError("b_packed must be a uint8 numpy array from reference.packing.pack_int4, "
                        f"got {getattr(b_packed, 'dtype', type(b_packed).__name__)}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    need = -(-(k * n) // 2)
    if b_packed.ndim != 1 or b_packed.size != need:
        raise ValueError(f"b_packed must be 1-D with ceil(K*N/2)={need} bytes for K={k}, N={n}, "
                         f"got shape {b_packed.shape}")


def unpack_int4_values(packed, count):
    """`count` signed int4 values (int8, -8..7) from bytes in reference.packing order."""
    flat = packed.reshape(-1)
    nib = np.empty(2 * flat.size, np.uint8)
    nib[0::2] = flat & 15
    nib[1::2] = flat >> 4
    return ((nib[:count].astype(np.int8) ^ 8) - 8).astype(np.int8)


def check_same_k(a, k_b):
    k = a.shape[1]
    if k != k_b:
        raise ValueError(f"a has K={k} columns but b has K={k_b} rows; they must match")


def check_int4_shape(b, b_int4_shape, k):
    """Validate `b_int4_shape` (K, N) of packed int4 weights `b`; returns N."""
    shape = tuple(b_int4_shape)
    if len(shape) != 2 or any(isinstance(v, bool) or not isinstance(v, int | np.integer)
                              for v in shape):
        raise ValueError(f"b_int4_shape must be (K, N) ints for 2-D kernels, got {b_int4_shape!r}")
    if shape[0] != k:
        raise ValueError(f"b_int4_shape[0] must equal a.shape[1]={k}, got {shape[0]}")
    check_packed_int4(b, k, int(shape[1]))
    return int(shape[1])


def _int_tuple(name, value, length, minimum):
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of {length} ints, got {value!r}") from None
    if len(items) != length or any(isinstance(v, bool) or not isinstance(v, int | np.integer)
                                   for v in items):
        raise ValueError(f"{name} must be {length} ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must all be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def conv_weights(w, w_int4_shape):
    """Checked 4-D int8/uint8 OIHW weights; packed int4 bytes decoded when `w_int4_shape`."""
    if w_int4_shape is not None:
        shape = _int_tuple("w_int4_shape", w_int4_shape, 4, 1)
        if not isinstance(w, np.ndarray) or w.dtype != np.uint8:
            raise TypeError("w must be uint8 packed int4 bytes when w_int4_shape is given, got "
                            f"{getattr(w, 'dtype', type(w).__name__)}")
        count = int(np.prod(shape))
        if w.size != (count + 1) // 2:
            raise ValueError(f"w must hold ceil({count}/2) = {(count + 1) // 2} packed bytes for "
                             f"w_int4_shape={shape}, got {w.size}")
        w = unpack_int4_values(w, count).reshape(shape)
    check_operand("w", w, ndim=4)
    return w


def check_groups(groups):
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise ValueError(f"groups must be an int >= 1, got {groups!r}")


def conv_geometry(x, w, *, x_zero_point, w_zero_point, bias, strides, pads, dilations, groups,
                  w_int4_shape):
    """Check conv arguments (as the reference does) and return the unpacked weights + geometry.

    Returns (w, x_zp: int, w_zp: int64 (O,), bias: int64 (O,), strides, pads, dilations,
    groups, (OH, OW)).
    """
    check_operand("x", x, ndim=4)
    w = conv_weights(w, w_int4_shape)
    check_groups(groups)
    strides = _int_tuple("strides", strides, 2, 1)
    dilations = _int_tuple("dilations", dilations, 2, 1)
    pads = _int_tuple("pads", pads, 4, 0)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c % groups or o % groups or cg != c // groups:
        raise ValueError(f"groups={groups} must divide x channels {c} and w channels {o}, and "
                         f"w.shape[1] must be {c} / groups; got x {x.shape}, w {w.shape}")
    oh = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"output would be empty ({oh}x{ow}) for input {h}x{wd}, kernel "
                         f"{kh}x{kw}, pads {pads}, dilations {dilations}")
    x_zp = int(zero_point_vector("x_zero_point", x_zero_point, 1, x.dtype)[0])
    w_zp = zero_point_vector("w_zero_point", w_zero_point, o, w.dtype)
    if bias is None:
        bias = np.zeros(o, np.int64)
    else:
        if not isinstance(bias, np.ndarray) or bias.dtype != np.int32:
            raise TypeError(f"bias must be an int32 numpy array, got "
                            f"{getattr(bias, 'dtype', type(bias).__name__)}")
        if bias.shape != (o,):
            raise ValueError(f"bias must have shape ({o},), got {bias.shape}")
        bias = bias.astype(np.int64)
    return w, x_zp, w_zp, bias, strides, pads, dilations, int(groups), (oh, ow)

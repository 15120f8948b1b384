"""Hypothesis strategies of reference-style arguments, one per operator of kernels.registry.

Each strategy takes `small` (CUDA simulator: tiny shapes) and returns (args, kwargs) that the
reference operator and every backend's kernel are called with. Arrays come from a seeded
NumPy generator mixed with edge values (dtype extremes, the zero point itself, ties at .5).
"""

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from reference.packing import pack_int4, unpack_int4
from reference.requantize import REQUANTIZE_MODES

INT8 = (np.int8, np.uint8)


def _ints(rng, shape, dtype, edge_mix):
    info = np.iinfo(dtype)
    arr = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64)
    if edge_mix:
        pick = rng.random(shape)
        arr = np.where(pick < 0.15, info.min, arr)
        arr = np.where((pick >= 0.15) & (pick < 0.3), info.max, arr)
    return arr.astype(dtype)


def _zp(rng, dtype, size=None):
    info = np.iinfo(dtype)
    choice = rng.integers(0, 4)
    if choice == 0:
        v = np.zeros(size or 1, np.int64)
    elif choice == 1:
        v = np.full(size or 1, info.min if rng.random() < 0.5 else info.max)
    else:
        v = rng.integers(info.min, int(info.max) + 1, size=size or 1)
    return v.astype(dtype) if size else dtype(v[0])


@st.composite
def matmul_int(draw, small):
    hi = 9 if small else 40
    m, k, n = (draw(st.integers(1, hi)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    da, db = draw(st.sampled_from(INT8)), draw(st.sampled_from(INT8))
    edge = draw(st.booleans())
    a = _ints(rng, (m, k), da, edge)
    kwargs = {"a_zero_point": _zp(rng, da, m if draw(st.booleans()) else None)}
    if draw(st.integers(0, 3)) == 0:  # packed int4 weights
        b4 = rng.integers(-8, 8, size=(k, n)).astype(np.int8)
        kwargs["b_zero_point"] = np.int8(rng.integers(-8, 8))
        return (a, pack_int4(b4)), {**kwargs, "b_int4_shape": (k, n)}
    b = _ints(rng, (k, n), db, edge)
    kwargs["b_zero_point"] = _zp(rng, db, n if draw(st.booleans()) else None)
    return (a, b), kwargs


@st.composite
def conv2d_int(draw, small):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    groups_kind = draw(st.sampled_from(("dense", "grouped", "depthwise")))
    cg = 1 if groups_kind == "depthwise" else draw(st.integers(1, 3))
    groups = 1 if groups_kind == "dense" else draw(st.integers(2, 3))
    og = draw(st.integers(1, 2 if small else 3))
    n = draw(st.integers(1, 1 if small else 2))
    h, w = draw(st.integers(1, 6 if small else 9)), draw(st.integers(1, 6 if small else 9))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    assume(h + pads[0] + pads[2] >= dil[0] * (kh - 1) + 1)
    assume(w + pads[1] + pads[3] >= dil[1] * (kw - 1) + 1)
    dx, dw = draw(st.sampled_from(INT8)), draw(st.sampled_from(INT8))
    edge = draw(st.booleans())
    x = _ints(rng, (n, cg * groups, h, w), dx, edge)
    o = og * groups
    kwargs = {"x_zero_point": _zp(rng, dx), "strides": strides, "pads": pads,
              "dilations": dil, "groups": groups}
    if draw(st.booleans()):
        kwargs["bias"] = _ints(rng, (o,), np.int32, edge)
    if draw(st.integers(0, 3)) == 0:
        w4 = rng.integers(-8, 8, size=(o, cg, kh, kw)).astype(np.int8)
        return (x, pack_int4(w4)), {**kwargs, "w_int4_shape": w4.shape}
    kwargs["w_zero_point"] = _zp(rng, dw, o if draw(st.booleans()) else None)
    return (x, _ints(rng, (o, cg, kh, kw), dw, edge)), kwargs


_QDTYPES = {"int8": np.int8, "uint8": np.uint8, "int4": np.int8, "uint4": np.uint8,
            "int16": np.int16, "uint16": np.uint16}
_QRANGE = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7), "uint4": (0, 15),
           "int16": (-32768, 32767), "uint16": (0, 65535)}


@st.composite
def quantize(draw, small):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = tuple(draw(st.lists(st.integers(1, 4 if small else 7), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from(sorted(_QDTYPES)))
    lo, hi = _QRANGE[dtype]
    kind = draw(st.sampled_from(("tensor", "axis", "block")))
    axis = None if kind == "tensor" else draw(st.integers(0, len(shape) - 1))
    kwargs = {"dtype": dtype, "rounding": draw(st.sampled_from(("half_even", "half_away")))}
    if kind == "tensor":
        pshape = ()
    elif kind == "axis":
        pshape = (shape[axis],)
    else:
        bs = draw(st.integers(1, 3))
        pshape = tuple(-(-d // bs) if i == axis else d for i, d in enumerate(shape))
        kwargs["block_size"] = bs
    if axis is not None:
        kwargs["axis"] = axis
    scale = rng.uniform(0.01, 3.0, size=pshape).astype(np.float32)
    zp = rng.integers(lo, hi + 1, size=pshape).astype(_QDTYPES[dtype])
    base = rng.standard_normal(shape).astype(np.float32) * np.float32(hi - lo)
    if kind == "tensor" and draw(st.booleans()):  # exact ties: (integer + 0.5) * scale
        base = (np.round(base / 4) + np.float32(0.5)) * scale
    with np.errstate(over="ignore"):  # float16 overflows to +-inf, a case of its own
        x = base.astype(draw(st.sampled_from((np.float32, np.float64, np.float16))))
        x.flat[0] = draw(st.sampled_from((0.0, np.inf, -np.inf, 1e30, -0.0, 0.5)))
    return (x, scale, zp), kwargs


@st.composite
def dequantize(draw, small):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = tuple(draw(st.lists(st.integers(1, 4 if small else 7), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from((np.int8, np.uint8, np.int16, np.uint16, np.int32)))
    q = _ints(rng, shape, dtype, draw(st.booleans()))
    kwargs = {}
    if draw(st.booleans()):
        kwargs["axis"] = draw(st.integers(0, len(shape) - 1))
        pshape = (shape[kwargs["axis"]],)
    else:
        pshape = ()
    scale = rng.uniform(1e-4, 10.0, size=pshape).astype(np.float32)
    zp = _ints(rng, pshape, dtype, False)
    return (q, scale, zp), kwargs


@st.composite
def requantize(draw, small):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, c, s = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4 if small else 9))
    acc = _ints(rng, (n, c, s), np.int32, draw(st.booleans()))
    if draw(st.booleans()):  # realistic accumulator magnitudes
        acc = (acc >> int(rng.integers(4, 24))).astype(np.int32)
    dtype = draw(st.sampled_from(("int8", "uint8", "int4", "uint4", "int16")))
    lo, hi = _QRANGE[dtype]
    per_channel = draw(st.booleans())
    w_scale = rng.uniform(1e-5, 0.5, size=c if per_channel else None)
    w_scale = np.asarray(w_scale, np.float32) if per_channel else np.float32(w_scale)
    kwargs = {"mode": draw(st.sampled_from(REQUANTIZE_MODES)), "dtype": dtype}
    if draw(st.booleans()):
        zp0 = int(rng.integers(lo, hi + 1))
        kwargs["clamp"] = (zp0, hi)
    in_scale = np.float32(rng.uniform(1e-3, 1.0))
    out_scale = np.float32(rng.uniform(1e-3, 4.0))
    zp = _QDTYPES[dtype](rng.integers(lo, hi + 1))
    return (acc, in_scale, w_scale, out_scale, zp), kwargs


@st.composite
def skip_matmul_int(draw, small):
    hi = 9 if small else 24
    m, k, n = (draw(st.integers(1, hi)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    da, db = draw(st.sampled_from(INT8)), draw(st.sampled_from(INT8))
    a, b = _ints(rng, (m, k), da, False), _ints(rng, (k, n), db, False)
    azp, bzp = _zp(rng, da), _zp(rng, db)
    density = draw(st.sampled_from((0.0, 0.2, 0.6, 1.0)))  # 0.0: all blocks zero
    a = np.where(rng.random((m, k)) < density, a, azp).astype(da)
    b = np.where(rng.random((k, n)) < density, b, bzp).astype(db)
    bk = draw(st.integers(1, 4))
    return (a, b), {"a_zero_point": azp, "b_zero_point": bzp,
                    "a_block": (draw(st.integers(1, 4)), bk),
                    "b_block": (bk, draw(st.integers(1, 4)))}


@st.composite
def tiled_conv2d_int(draw, small):
    args, kwargs = draw(conv2d_int(small))
    x, w = args
    if "w_int4_shape" in kwargs:  # the tiled reference takes unpacked int4 (int8 -8..7)
        shape = kwargs.pop("w_int4_shape")
        w = unpack_int4(w, int(np.prod(shape))).reshape(shape)
    if not small and draw(st.booleans()):  # a map large enough to be tiled by default
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        x = _ints(rng, x.shape[:2] + (16, draw(st.integers(16, 19))), x.dtype, False)
        kwargs.pop("bias", None)
    else:
        kwargs["min_map"] = (1, 1)
    kwargs["tile"] = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return (x, w), kwargs


@st.composite
def gated_conv2d_int(draw, small):
    args, kwargs = draw(tiled_conv2d_int(small))
    kwargs.pop("tile", None)
    kwargs.pop("min_map", None)
    x = args[0]
    n, c, h, w = x.shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(("channel", "spatial")))
    keep = draw(st.sampled_from((0.0, 0.5, 1.0)))  # 0.0: fully gated
    mask = rng.random((n, c) if kind == "channel" else (n, h, w)) < keep
    return (x, args[1], mask), {**kwargs, "kind": kind}


@st.composite
def conv_bn_relu_int(draw, small):
    args, kwargs = draw(tiled_conv2d_int(small))
    x, w = args
    if w.dtype != np.int8:
        w = (w.astype(np.int16) - 128).astype(np.int8)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    o = w.shape[0]
    bias = kwargs.get("bias") if draw(st.booleans()) else None
    dtype = draw(st.sampled_from(("int8", "uint8")))
    lo, hi = _QRANGE[dtype]
    w_scale = rng.uniform(1e-4, 0.05, o).astype(np.float32)
    return (x, w, bias), {
        "x_scale": np.float32(rng.uniform(0.005, 0.1)), "w_scale": w_scale,
        "out_scale": np.float32(rng.uniform(0.01, 1.0)), "x_zero_point": kwargs["x_zero_point"],
        "out_zero_point": _QDTYPES[dtype](rng.integers(lo, hi + 1)),
        "activation": draw(st.sampled_from((None, "relu", "relu6"))),
        "mode": draw(st.sampled_from(REQUANTIZE_MODES)),
        "dtype": dtype, "strides": kwargs["strides"], "pads": kwargs["pads"],
        "dilations": kwargs["dilations"], "groups": kwargs["groups"]}


CASES = {"matmul_int": matmul_int, "conv2d_int": conv2d_int, "quantize": quantize,
         "dequantize": dequantize, "requantize": requantize, "skip_matmul_int": skip_matmul_int,
         "tiled_conv2d_int": tiled_conv2d_int, "gated_conv2d_int": gated_conv2d_int,
         "conv_bn_relu_int": conv_bn_relu_int}

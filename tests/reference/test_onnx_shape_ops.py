"""Data-movement and shape operators and Cast against ONNX Runtime, bit for bit.

Every case is one ONNX node built in memory and run by ONNX Runtime (CPU, optimizations off)
and by gilt's table (:func:`reference.onnx_ops_table.run_onnx_op`) with the same attributes;
omitted attributes exercise the defaults. These operators move or select values, so outputs
must be identical (``np.array_equal``, dtype and shape too).
"""

import numpy as np
import pytest

from reference import cast as cast_mod
from reference import shape_ops
from tests.reference._onnx_node import check_node, make_model, run_gilt, run_ort

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(20260)
X345 = RNG.standard_normal((3, 4, 5)).astype(np.float32)
I64 = np.int64


def _i(*v):
    return np.array(v, I64)


SLICE_CASES = [
    ((0,), (2,), None, None),
    ((1, 0), (3, 4), (0, 1), None),
    ((-2,), (10**10,), (2,), None),              # negative start, end clamped
    ((-100,), (100,), (-1,), None),              # clamped both sides
    ((4,), (0,), (2,), (-1,)),                   # negative step
    ((10**10,), (-(10**10),), (1,), (-2,)),      # INT_MAX-like start, step -2
    ((-1,), (-6,), (2,), (-1,)),                 # end past 0 with negative step
    ((1, 3), (3, 1), (0, -1), (1, -1)),
    ((0, 0, 0), (3, 4, 5), (0, 1, 2), (2, 3, 4)),
    ((3,), (1,), (1,), None),                    # empty
    ((2,), (2,), (0,), (-1,)),                   # empty, negative step
]


@pytest.mark.parametrize("starts, ends, axes, steps", SLICE_CASES)
@pytest.mark.parametrize("opset", [11, 13])
def test_slice(starts, ends, axes, steps, opset):
    ins = [("data", X345), ("starts", _i(*starts)), ("ends", _i(*ends)),
           ("axes", None if axes is None else _i(*axes)),
           ("steps", None if steps is None else _i(*steps))]
    check_node("Slice", ins, opset=opset)


@pytest.mark.parametrize("indices, axis", [
    (np.array([0, 2, -1], I64), None), (np.array([[1, 0], [-4, 3]], I64), 1),
    (np.array(2, I64), -1), (np.array([[0]], np.int32), 2), (np.array([], I64), 0)])
def test_gather(indices, axis):
    attrs = {} if axis is None else {"axis": axis}
    check_node("Gather", [("data", X345), ("indices", indices)], opset=13, **attrs)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_gather_elements(axis):
    a = 0 if axis is None else axis
    shape = list(X345.shape)
    shape[a] = 2
    idx = RNG.integers(-X345.shape[a], X345.shape[a], size=shape).astype(I64)
    attrs = {} if axis is None else {"axis": axis}
    check_node("GatherElements", [("data", X345), ("indices", idx)], opset=13, **attrs)


SQ = RNG.standard_normal((1, 3, 1, 2, 1)).astype(np.float32)


@pytest.mark.parametrize("axes", [None, (0,), (2, -1), (0, 2, 4)])
@pytest.mark.parametrize("opset", [11, 13, 21])
def test_squeeze(axes, opset):
    if opset < 13:
        attrs = {} if axes is None else {"axes": list(axes)}
        check_node("Squeeze", [("data", SQ)], opset=opset, **attrs)
    else:
        check_node("Squeeze", [("data", SQ), ("axes", None if axes is None else _i(*axes))],
                   opset=opset)


@pytest.mark.parametrize("axes", [(0,), (-1,), (1, 0), (0, 4), (3, -5)])
@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze(axes, opset):
    if opset < 13:
        check_node("Unsqueeze", [("data", X345)], opset=opset, axes=list(axes))
    else:
        check_node("Unsqueeze", [("data", X345), ("axes", _i(*axes))], opset=opset)


SPLIT_X = RNG.standard_normal((6, 7)).astype(np.float32)


@pytest.mark.parametrize("opset, axis, split, n", [
    (11, None, None, 3), (11, 1, [2, 5], 2), (13, 0, [1, 2, 3], 3), (13, -1, None, 1),
    (18, 1, None, 3), (18, 1, None, 4), (18, 0, [6, 0], 2), (13, 1, [3, 4], 2),
    (18, 0, None, 4), (18, 0, None, 6)])
def test_split(opset, axis, split, n):
    attrs = {} if axis is None else {"axis": axis}
    if opset >= 18 and split is None:
        attrs["num_outputs"] = n
    ins = [("input", SPLIT_X)]
    if split is not None:
        if opset < 13:
            attrs["split"] = split
        else:
            ins.append(("split", _i(*split)))
    check_node("Split", ins, opset=opset, n_outputs=n, **attrs)


def test_split_num_outputs_with_negative_last_piece_is_refused():
    with pytest.raises(ValueError, match="num_outputs=4"):
        shape_ops.split(np.zeros(5, np.float32), num_outputs=4)


def test_split_uneven_implicit_before_18_is_refused():
    model = make_model("Split", [("input", SPLIT_X)], opset=13, n_outputs=4, axis=1)
    with pytest.raises(ValueError, match="does not split evenly"):
        run_gilt(model, [("input", SPLIT_X)])


PAD_X = RNG.integers(-50, 50, size=(3, 4)).astype(np.float32)


@pytest.mark.parametrize("mode", [None, "constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads, axes", [
    ((1, 2, 0, 3), None), ((0, 0, 2, 1), None), ((2, 1), (1,)), ((1, 1), (-2,)),
    ((-1, 1, 1, -2), None), ((0, 0, 0, 0), None)])
def test_pad(mode, pads, axes):
    attrs = {} if mode is None else {"mode": mode}
    opset = 19 if mode == "wrap" else 18
    ins = [("data", PAD_X), ("pads", _i(*pads)),
           ("value", np.array(7.5, np.float32) if mode in (None, "constant") else None),
           ("axes", None if axes is None else _i(*axes))]
    check_node("Pad", ins, opset=opset, **attrs)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_opset11_default_value(mode):
    check_node("Pad", [("data", PAD_X), ("pads", _i(0, 1, 2, 1))], opset=11, mode=mode)


def test_pad_refusals():
    with pytest.raises(ValueError, match="pads"):
        shape_ops.pad(PAD_X, _i(0, 4, 0, 0), mode="reflect")
    with pytest.raises(TypeError, match="constant_value must have data's dtype float32"):
        shape_ops.pad(PAD_X, _i(0, 1, 0, 0), np.array(7, np.int64))


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 1, 1, 1), (1, 4, 1), (2, 3, 1, 5), (5,)])
def test_expand(shape):
    x = RNG.standard_normal((3, 1, 5)).astype(np.float32)
    check_node("Expand", [("input", x), ("shape", _i(*shape))], opset=13)


@pytest.mark.parametrize("repeats", [(1, 1, 1), (2, 1, 3), (0, 2, 1)])
def test_tile(repeats):
    check_node("Tile", [("input", X345), ("repeats", _i(*repeats))], opset=13)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_where(dtype):
    cond = RNG.random((3, 1, 5)) > 0.5
    x = RNG.integers(0, 2, size=(4, 1)).astype(dtype)
    y = RNG.integers(0, 2, size=(3, 4, 5)).astype(dtype)
    check_node("Where", [("c", cond), ("x", x), ("y", y)], opset=16)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    parts = []
    for i in range(3):
        shape = list(X345.shape)
        shape[axis] = i + 1
        parts.append((f"x{i}", RNG.standard_normal(shape).astype(np.float32)))
    check_node("Concat", parts, opset=13, axis=axis)


@pytest.mark.parametrize("shape, allowzero", [
    ((5, -1), None), ((0, -1), None), ((0, 0, 5), 0), ((-1,), None), ((3, 20), 1),
    ((2, 0, 3), 1)])
def test_reshape(shape, allowzero):
    attrs = {} if allowzero is None else {"allowzero": allowzero}
    data = np.zeros((2, 0, 3), np.float32) if 0 in shape and allowzero else X345
    check_node("Reshape", [("data", data), ("shape", _i(*shape))], opset=14, **attrs)


@pytest.mark.parametrize("perm", [None, (0, 2, 1), (2, 0, 1)])
def test_transpose(perm):
    attrs = {} if perm is None else {"perm": list(perm)}
    check_node("Transpose", [("data", X345)], opset=13, **attrs)


@pytest.mark.parametrize("axis", [None, 0, 2, 3, -1, -3])
def test_flatten(axis):
    attrs = {} if axis is None else {"axis": axis}
    check_node("Flatten", [("input", X345)], opset=13, **attrs)


@pytest.mark.parametrize("value", [None, np.array([3], np.int32), np.array([-2.5], np.float64),
                                   np.array([True])])
@pytest.mark.parametrize("shape", [(2, 3), (0,), (4, 0, 1)])
def test_constant_of_shape(value, shape):
    from onnx import numpy_helper

    attrs = {} if value is None else {"value": numpy_helper.from_array(value)}
    check_node("ConstantOfShape", [("shape", _i(*shape))], opset=20, **attrs)


INT_RANGES = [(0, 10, 3), (10, 0, -3), (5, 5, 1), (-3, 4, 2), (1, 0, 1)]
FLOAT_RANGES = [(0.1, 2.0, 0.3), (1.0, -1.5, -0.25), (0.0, 1.0, 0.1), (100.0, 100.7, 0.013)]


@pytest.mark.parametrize("start, limit, delta, dtype", [
    r + (d,) for d in ("int32", "int64", "int16") for r in INT_RANGES] + [
    r + (d,) for d in ("float32", "float64") for r in INT_RANGES + FLOAT_RANGES])
def test_range(start, limit, delta, dtype):
    ins = [(n, np.array(v, dtype)) for n, v in (("s", start), ("l", limit), ("d", delta))]
    check_node("Range", ins, opset=11)


@pytest.mark.parametrize("start, end", [(None, None), (1, None), (-2, None), (0, -1),
                                        (-10, 10), (2, 1)])
def test_shape(start, end):
    attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    check_node("Shape", [("data", X345)], opset=15, **attrs)


@pytest.mark.parametrize("data", [X345, np.zeros((2, 0), np.int8), np.array(3.0)])
def test_size_and_identity(data):
    check_node("Size", [("data", data)], opset=13)
    check_node("Identity", [("input", data)], opset=16)


@pytest.mark.parametrize("opset, ratio", [(11, None), (11, 0.3), (13, None), (13, 0.2)])
def test_dropout_inference(opset, ratio):
    if opset < 12:
        attrs = {} if ratio is None else {"ratio": ratio}
        check_node("Dropout", [("data", X345)], opset=opset, n_outputs=1, **attrs)
        model = make_model("Dropout", [("data", X345)], opset=opset, n_outputs=2, **attrs)
        with pytest.raises(ValueError, match="mask output is undefined"):
            run_gilt(model, [("data", X345)])
    else:
        ins = [("data", X345), ("ratio", None if ratio is None else np.array(ratio, np.float32))]
        check_node("Dropout", ins, opset=opset, n_outputs=2)


def test_dropout_training_mode_is_refused():
    with pytest.raises(ValueError, match="training_mode"):
        shape_ops.dropout(X345, np.array(0.5, np.float32), np.array(True))


CAST_VALUES = np.array([0.0, -0.0, 1.5, -1.5, 2.5, -2.7, 100.25, 127.9, -128.9, 255.5, 1e3,
                        -7.99, 3e9, 65504.0, 70000.0, 1e-8, 16777217.0], np.float64)
NUMERIC = ["float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32",
           "uint32", "int64", "uint64", "bool"]
CODE = {v.name: k for k, v in cast_mod.ONNX_DTYPES.items()}


def _castable(values: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Source values of dtype ``src`` that gilt defines a result for (no float->int overflow)."""
    with np.errstate(over="ignore", invalid="ignore"):
        x = values.astype(src)
    if np.dtype(src).kind == "f" and np.dtype(dst).kind in "iu":
        info = np.iinfo(dst)
        t = np.trunc(x.astype(np.float64))
        x = x[np.isfinite(t) & (t >= info.min) & (t <= info.max)]
    return x


@pytest.mark.parametrize("src", NUMERIC)
@pytest.mark.parametrize("dst", NUMERIC)
def test_cast_every_pair(src, dst):
    if np.dtype(src).kind in "iub":
        values = np.array([0, 1, 2, 7, 100, 127, 128, 200, 255, 256, 1000, 32767, 32768, 65535,
                           65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32 + 5, 2**53 + 1, 2**63 - 1,
                           -1, -2, -128, -129, -32768, -2**31, -2**63 + 1], dtype=object)
        info = np.iinfo(src) if src != "bool" else None
        keep = [v for v in values if info is None or info.min <= v <= info.max]
        x = np.array([bool(v) for v in keep] if src == "bool" else keep, dtype=src)
    else:
        x = _castable(CAST_VALUES, src, dst)
    check_node("Cast", [("input", x)], opset=19, to=CODE[dst])


def test_cast_float_to_int_out_of_range_is_refused():
    for bad in (np.nan, np.inf, 128.0, -129.0):
        with pytest.raises(ValueError, match="undefined in ONNX"):
            cast_mod.cast(np.array([1.0, bad], np.float32), to=CODE["int8"])
    for code, name in ((16, "BFLOAT16"), (8, "STRING"), (17, "FLOAT8E4M3FN"), (22, "INT4")):
        with pytest.raises(ValueError, match=name):
            cast_mod.cast(X345, to=code)


def test_cast_nan_and_inf_to_float_and_bool():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1e-30, 1e30], np.float32)
    for dst in ("float16", "float64", "bool"):
        check_node("Cast", [("input", x)], opset=13, to=CODE[dst])


def test_outputs_differ_from_onnxruntime_only_by_refusal():
    """Every output is either ORT's or a ValueError: slices with a zero step are refused
    (ORT fails too)."""
    ins = [("data", X345), ("starts", _i(0)), ("ends", _i(2)), ("axes", _i(0)),
           ("steps", _i(0))]
    model = make_model("Slice", ins, opset=13)
    with pytest.raises(ValueError, match="steps"):
        run_gilt(model, ins)
    with pytest.raises(Exception):  # noqa: B017 - ORT's own error type
        run_ort(model, ins)


Q8 = RNG.integers(-128, 128, size=(2, 3, 4)).astype(np.int8)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("op, extra, attrs", [
    ("Transpose", [], {"perm": [2, 0, 1]}), ("Reshape", [("s", _i(4, -1))], {}),
    ("Slice", [("s", _i(1)), ("e", _i(3)), ("a", _i(2))], {}),
    ("Gather", [("i", _i(2, 0))], {"axis": 1}), ("Squeeze", [], {}),
    ("Unsqueeze", [("a", _i(0))], {}), ("Flatten", [], {"axis": 2}),
    ("Tile", [("r", _i(1, 2, 1))], {}), ("Expand", [("s", _i(2, 2, 3, 4))], {}),
    ("Pad", [("p", _i(0, 1, 0, 0, 1, 2))], {"mode": "edge"}),
    ("Concat", [("y", Q8[:1])], {"axis": 0})])
def test_data_movement_on_quantized_tensors(dtype, op, extra, attrs):
    """QDQ models run these on int8/uint8 tensors directly (ONNX Runtime drops the DQ/Q
    pair around them): the same values must come out."""
    x = Q8.astype(dtype)
    extra = [(n, a.astype(dtype) if a.dtype == np.int8 else a) for n, a in extra]
    check_node(op, [("x", x)] + extra, opset=13, **attrs)

"""Oracle tests: reference/ against ONNX Runtime (CPU, x86) and onnx.reference.

Every ONNX-compatible entry point is run on at least 10**5 random elements (counted and
asserted per test) and compared with ``np.array_equal``. Where the two oracles disagree, gilt
follows ONNX Runtime; each known difference of onnx.reference is asserted explicitly below:

1. QuantizeLinear with +inf, -inf, or |x / scale| >= 2**31: onnx.reference casts the rounded
   value to int32 first (x86 gives INT32_MIN), so +inf becomes qmin (or wraps to qmax when the
   zero point is negative); ONNX Runtime and gilt saturate (+inf -> qmax, -inf -> qmin).
2. QLinearConv / QLinearMatMul: onnx.reference rounds ``float64(acc) * M + zp`` (zero point
   added before rounding, acc not rounded to float32); ONNX Runtime rounds
   ``fl32(fl32(acc) * M)`` then adds zp. They differ on exact ties with an odd zero point and
   when |acc| > 2**24.
3. DynamicQuantizeLinear on all-zero input: scale 1/255 (onnx.reference) vs 1.0 (ORT, gilt).

ONNX Runtime's uint8 x int8 QLinearConv, QLinearMatMul and MatMulInteger depend on the CPU:
on x86 without VNNI they saturate pair sums to int16 (gilt's ``accumulation="vpmaddubsw"``),
elsewhere they are exact. The tests probe which one this host's onnxruntime uses
(``tests/ort_host.py``), check that against the CPU flags, and compare with the matching mode;
onnx.reference is always exact. Inputs that cannot saturate are compared with the exact mode
on every host.
"""

from __future__ import annotations

import os
import platform

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from reference import (
    conv_integer,
    dequantize_linear,
    dynamic_quantize_linear,
    matmul_integer,
    matmul_nbits,
    qlinear_conv,
    qlinear_matmul,
    quantize_linear,
)
from reference.conv_int import conv2d_int
from reference.dtypes import QTYPES
from reference.matmul_int import ACCUMULATIONS, matmul_int
from reference.packing import pack_int4
from tests.ort_host import cpu_flags, ort_accumulation, predicted_accumulation

pytestmark = pytest.mark.oracle

MIN_ELEMENTS = 100_000


def assert_host_accumulation(want: np.ndarray, op, args: tuple, kwargs: dict,
                             counts: dict) -> None:
    """``op(*args, accumulation=A, **kwargs)`` with A this host's ORT accumulation equals
    ``want``; ``counts`` adds up the elements compared and, per mode, those equal to ORT's."""
    results = {acc: op(*args, accumulation=acc, **kwargs) for acc in ACCUMULATIONS}
    counts["elements"] = counts.get("elements", 0) + want.size
    for acc, got in results.items():
        assert got.dtype == want.dtype
        counts[acc] = counts.get(acc, 0) + int(np.count_nonzero(got == want))
    assert np.array_equal(results[ort_accumulation()], want)


def report_counts(name: str, counts: dict) -> None:
    print(f"{name}: {counts['elements']} elements vs onnxruntime ({ort_accumulation()} "
          f"host); equal: " + ", ".join(f"{a} {counts[a]}" for a in ACCUMULATIONS))


def assert_enough(total: int) -> None:
    """Each oracle test compares at least MIN_ELEMENTS elements (count shown with -s)."""
    print(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}: {total} elements checked")
    assert total >= MIN_ELEMENTS
ONNX_TYPE = {"int4": TensorProto.INT4, "uint4": TensorProto.UINT4}


def _tensor(name: str, arr: np.ndarray, dtype: str | None = None):
    """Initializer; int4/uint4 values (held unpacked in int8/uint8) become ONNX INT4/UINT4."""
    if dtype in ONNX_TYPE:
        return helper.make_tensor(name, ONNX_TYPE[dtype], arr.shape, arr.reshape(-1).tolist())
    return numpy_helper.from_array(np.asarray(arr), name)


def build(nodes, inputs: dict, inits: list, outputs: list, *, opset: int = 21,
          ms_domain: bool = False):
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for n, a in inputs.items()]
    outs = [helper.make_tensor_value_info(n, t, None) for n, t in outputs]
    opsets = [helper.make_opsetid("", opset)]
    if ms_domain:
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(helper.make_graph(nodes, "g", vis, outs, initializer=inits),
                              opset_imports=opsets)
    model.ir_version = 10
    return model


def run_ort(model, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def run_ref(model, feeds):
    with np.errstate(all="ignore"):
        return ReferenceEvaluator(model).run(None, feeds)


def tensor_type(dtype: str) -> int:
    return ONNX_TYPE.get(dtype) or helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def quant_model(x, scale, zp, dtype, axis, block_size):
    """QuantizeLinear, then Cast to the storage type (numpy has no int4)."""
    storage = QTYPES[dtype].storage
    attrs = {"axis": axis} | ({"block_size": block_size} if block_size else {})
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
             helper.make_node("Cast", ["q"], ["y"], to=helper.np_dtype_to_tensor_dtype(storage))]
    inits = [_tensor("s", scale), _tensor("z", zp.astype(storage), dtype)]
    return build(nodes, {"x": x}, inits, [("y", helper.np_dtype_to_tensor_dtype(storage))])


def random_floats(rng, n, scale):
    """Values over many decades, exact .5 ties, zeros, saturation and +-inf."""
    kinds = rng.integers(0, 5, n)
    mags = 10.0 ** rng.uniform(-6, 6, n) * rng.choice([-1, 1], n)
    ties = (rng.integers(-300, 300, n) + 0.5) * np.float64(scale)  # scale is a power of two
    x = np.where(kinds == 0, mags, np.where(kinds == 1, ties, rng.normal(0, 50, n) * scale))
    x[kinds == 3] = 0.0
    x = x.astype(np.float32)
    specials = np.array([np.inf, -np.inf, 3e9, -3e9, 1e38, -1e38], np.float32)
    x[: len(specials)] = specials
    return x


def full_param(p, shape, axis, block):
    """A per-tensor, per-axis or blocked parameter expanded to ``shape``."""
    p = np.asarray(p)
    if block:
        return np.repeat(p, block, axis=axis)[tuple(slice(0, d) for d in shape)]
    if p.ndim == 1:
        return np.broadcast_to(np.expand_dims(p, [i for i in range(len(shape)) if i != axis]),
                               shape)
    return np.broadcast_to(p, shape)


def _ref_quant_is_unreliable(x, scale):
    with np.errstate(all="ignore"):
        v = np.divide(x, scale, dtype=np.float32)
    return ~np.isfinite(v) | (np.abs(v) >= 2.0**31 - 128)


QUANT_CASES = [  # (dtype, shape, axis, block_size, per-axis scale)
    ("int8", (100, 250), 1, 0, False),
    ("uint8", (100, 250), 1, 0, False),
    ("int16", (50, 200), 1, 0, False),
    ("uint16", (50, 200), 1, 0, False),
    ("int4", (100, 250), 1, 0, False),
    ("uint4", (100, 250), 1, 0, False),
    ("int8", (64, 160), 0, 0, True),
    ("uint8", (64, 160), 1, 0, True),
    ("int4", (64, 160), 1, 32, True),
    ("int8", (70, 100), 0, 16, True),  # 70 = 4 full blocks + a short one
]


def test_quantize_linear_matches_onnxruntime():
    rng = np.random.default_rng(20)
    total = 0
    ref_diffs = 0
    for dtype, shape, axis, block, per_axis in QUANT_CASES:
        t = QTYPES[dtype]
        if block:
            sshape = tuple(-(-d // block) if i == axis else d for i, d in enumerate(shape))
        else:
            sshape = (shape[axis],) if per_axis else ()
        scale = (2.0 ** rng.integers(-12, 4, sshape)).astype(np.float32)
        if per_axis:  # not only powers of two: the division rounds
            scale = (scale * rng.choice([1.0, 0.7, 1.3], sshape)).astype(np.float32)
        zp = rng.integers(t.qmin, t.qmax + 1, sshape).astype(np.int64)
        if not sshape:
            zp = np.array(rng.choice([t.qmin, t.qmax, (t.qmin + t.qmax) // 2]))
        x = random_floats(rng, int(np.prod(shape)), float(np.min(scale))).reshape(shape)
        model = quant_model(x, scale, zp, dtype, axis, block)
        want = run_ort(model, {"x": x})[0]
        got = quantize_linear(x, scale, zp.astype(t.storage), axis=axis, block_size=block,
                              output_dtype=dtype)
        assert got.dtype == t.storage
        assert np.array_equal(got, want), (dtype, shape, axis, block)
        # onnx.reference agrees except where it casts inf / huge values through int32.
        ref = run_ref(model, {"x": x})[0]
        unreliable = _ref_quant_is_unreliable(x, full_param(scale, shape, axis, block))
        assert np.array_equal(ref[~unreliable], got[~unreliable])
        ref_diffs += int((ref != got).sum())
        total += x.size
    assert_enough(total)
    assert ref_diffs > 0  # the documented difference 1 does occur on these inputs


def test_quantize_linear_inf_difference_is_documented():
    x = np.array([np.inf, -np.inf], np.float32)
    model = quant_model(x, np.float32(1.0), np.array(3), "uint8", 1, 0)
    assert run_ort(model, {"x": x})[0].tolist() == [255, 0]
    assert run_ref(model, {"x": x})[0].tolist() == [0, 0]
    assert quantize_linear(x, np.float32(1.0), np.uint8(3)).tolist() == [255, 0]


DEQUANT_CASES = [  # dtype, shape, axis, block
    ("int8", (100, 300), 1, 0), ("uint8", (100, 300), 0, 0), ("int16", (50, 200), 1, 0),
    ("uint16", (50, 200), 1, 0), ("int32", (50, 200), 1, 0), ("int4", (100, 300), 1, 0),
    ("uint4", (64, 160), 1, 32), ("int4", (70, 64), 0, 16), ("int8", (64, 100), 1, 0),
]


def test_dequantize_linear_matches_both_oracles():
    rng = np.random.default_rng(21)
    total = 0
    for i, (dtype, shape, axis, block) in enumerate(DEQUANT_CASES):
        if dtype == "int32":
            t_min, t_max, storage = -(2**31), 2**31 - 1, np.dtype(np.int32)
        else:
            t = QTYPES[dtype]
            t_min, t_max, storage = t.qmin, t.qmax, t.storage
        q = rng.integers(t_min, t_max + 1, shape, dtype=np.int64).astype(storage)
        if block:
            sshape = tuple(-(-d // block) if j == axis else d for j, d in enumerate(shape))
        else:
            sshape = (shape[axis],) if i % 2 else ()
        scale = (10.0 ** rng.uniform(-6, 3, sshape)).astype(np.float32)
        zp = rng.integers(t_min, t_max + 1, sshape, dtype=np.int64)
        if dtype == "int32":
            zp = np.zeros(sshape, np.int64)  # ONNX: int32 zero point must be 0
        attrs = {"axis": axis} | ({"block_size": block} if block else {})
        node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)
        inits = [_tensor("q", q, dtype), _tensor("s", scale),
                 _tensor("z", zp.astype(storage), dtype)]
        model = build([node], {}, inits, [("y", TensorProto.FLOAT)])
        got = dequantize_linear(q, scale, zp.astype(storage), axis=axis, block_size=block)
        assert got.dtype == np.float32
        assert np.array_equal(got, run_ort(model, {})[0]), (dtype, shape, axis, block)
        assert np.array_equal(got, run_ref(model, {})[0]), (dtype, shape, axis, block)
        total += q.size
    assert_enough(total)


def test_dynamic_quantize_linear_matches_onnxruntime():
    rng = np.random.default_rng(22)
    total = 0
    for i in range(12):
        kind = i % 4
        x = rng.normal(rng.uniform(-5, 5), 10.0 ** rng.uniform(-4, 3), (100, 100))
        if kind == 1:
            x = np.abs(x)  # rmin = 0
        elif kind == 2:
            x = -np.abs(x)  # rmax = 0
        x = x.astype(np.float32)
        node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
        model = build([node], {"x": x}, [], [("y", TensorProto.UINT8), ("s", TensorProto.FLOAT),
                                             ("z", TensorProto.UINT8)], opset=20)
        want = run_ort(model, {"x": x})
        got = dynamic_quantize_linear(x)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and np.array_equal(g, w)
        ref = run_ref(model, {"x": x})
        for g, w in zip(got, ref):
            assert np.array_equal(g, w)
        total += x.size
    assert_enough(total)


def test_dynamic_quantize_linear_all_zero_difference_is_documented():
    x = np.zeros((3, 4), np.float32)
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    model = build([node], {"x": x}, [], [("y", TensorProto.UINT8), ("s", TensorProto.FLOAT),
                                         ("z", TensorProto.UINT8)], opset=20)
    y, s, z = dynamic_quantize_linear(x)
    assert float(run_ort(model, {"x": x})[1]) == float(s) == 1.0
    assert float(run_ref(model, {"x": x})[1]) == np.float32(1 / 255)
    assert not y.any() and int(z) == 0


# (x dtype, w dtype, N, C, H, W, O, KH, KW, group, strides, pads, dilations, per-channel)
CONV_CASES = [
    ("uint8", "int8", 1, 16, 20, 20, 32, 3, 3, 1, (1, 1), (1, 1, 1, 1), (1, 1), True),
    ("int8", "int8", 2, 8, 17, 15, 16, 3, 3, 1, (2, 1), (1, 0, 2, 1), (1, 2), True),
    ("uint8", "uint8", 1, 12, 16, 16, 24, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), False),
    ("uint8", "int8", 1, 3, 32, 32, 16, 7, 7, 1, (2, 2), (3, 3, 3, 3), (1, 1), True),
    ("int8", "int8", 1, 32, 14, 14, 32, 3, 3, 32, (1, 1), (1, 1, 1, 1), (1, 1), True),
    ("uint8", "int8", 1, 16, 12, 12, 32, 3, 3, 4, (1, 1), (1, 1, 1, 1), (1, 1), True),
    ("int8", "int8", 1, 64, 10, 10, 64, 3, 3, 1, (1, 1), (1, 1, 1, 1), (1, 1), True),
]


def random_qparams(rng, xd, wd, channels, per_channel, y_decades):
    """Scales over decades and zero points anywhere in range (per-channel weights symmetric:
    ORT's x86 QLinearConv/QLinearMatMul need a zero weight zero point per channel)."""
    xi, wi = np.iinfo(xd), np.iinfo(wd)
    xs = np.float32(10.0 ** rng.uniform(-3, -1))
    ws = (10.0 ** rng.uniform(-3, -1, channels if per_channel else ())).astype(np.float32)
    ys = np.float32(10.0 ** rng.uniform(*y_decades))
    xz = np.array(rng.integers(xi.min, xi.max + 1), xd)
    wz = np.zeros(channels, wd) if per_channel else np.array(rng.integers(wi.min, wi.max + 1),
                                                             wd)
    yz = np.array(rng.integers(xi.min, xi.max + 1), xd)
    return xs, ws, ys, xz, wz, yz


def conv_case(rng, case, int4_weights=False):
    xd, wd, n, c, h, w, o, kh, kw, g, s, p, d, per_ch = case
    xi, wi = np.iinfo(xd), np.iinfo(wd)
    x = rng.integers(xi.min, xi.max + 1, (n, c, h, w)).astype(xd)
    lo, hi = (-8, 7) if int4_weights else (wi.min, wi.max)
    wt = rng.integers(lo, hi + 1, (o, c // g, kh, kw)).astype(wd)
    xs, ws, ys, xz, wz, yz = random_qparams(rng, xd, wd, o, per_ch, (-1.5, 0.5))
    bias = rng.integers(-50_000, 50_000, o).astype(np.int32)
    attrs = {"group": g, "strides": list(s), "pads": list(p), "dilations": list(d)}
    return x, xs, xz, wt, ws, wz, ys, yz, bias, attrs


def qconv_model(x, xs, xz, wt, ws, wz, ys, yz, bias, attrs):
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                            ["y"], **attrs)
    inits = [_tensor(k, v) for k, v in
             (("xs", xs), ("xz", xz), ("w", wt), ("ws", ws), ("wz", wz), ("ys", ys), ("yz", yz),
              ("b", bias))]
    return build([node], {"x": x}, inits, [("y", helper.np_dtype_to_tensor_dtype(yz.dtype))])


def _ref_round(acc, m, zp, dtype):
    """onnx.reference's QLinear rounding, written out: round(float64(acc) * M + zp)."""
    t = QTYPES[dtype]
    return np.round(np.clip(acc * m.astype(np.float64) + int(zp), t.qmin, t.qmax))


def test_qlinear_conv_matches_onnxruntime():
    rng = np.random.default_rng(23)
    counts: dict = {}
    for rep in range(3):
        for case in CONV_CASES:
            x, xs, xz, wt, ws, wz, ys, yz, bias, attrs = conv_case(rng, case)
            model = qconv_model(x, xs, xz, wt, ws, wz, ys, yz, bias, attrs)
            want = run_ort(model, {"x": x})[0]
            assert_host_accumulation(want, qlinear_conv, (x, xs, xz, wt, ws, wz, ys, yz, bias),
                                     attrs, counts)
            if rep == 0:  # onnx.reference: equal up to its documented rounding (difference 2)
                ref = run_ref(model, {"x": x})[0]
                acc = conv2d_int(x, wt, x_zero_point=xz, w_zero_point=wz, bias=bias,
                                 strides=attrs["strides"], pads=attrs["pads"],
                                 dilations=attrs["dilations"], groups=attrs["group"])
                m = (xs * ws / ys).astype(np.float32)
                m = m.reshape(1, -1, 1, 1) if m.ndim else m
                assert np.array_equal(ref, _ref_round(acc, m, yz, yz.dtype.name))
    report_counts("QLinearConv", counts)
    assert_enough(counts["elements"])


def test_qlinear_rounding_difference_is_documented():
    # acc = 1, M = 0.5: ORT rounds 0.5 -> 0 then adds zp 1 -> 1; onnx.reference rounds 1.5 -> 2.
    x = np.ones((1, 1, 1, 1), np.uint8)
    w = np.ones((1, 1, 1, 1), np.uint8)
    args = (x, np.float32(1), np.uint8(0), w, np.float32(1), np.uint8(0), np.float32(2),
            np.uint8(1))
    model = qconv_model(*[np.asarray(a) for a in args], np.zeros(1, np.int32), {})
    assert run_ort(model, {"x": x})[0].item() == 1
    assert run_ref(model, {"x": x})[0].item() == 2
    assert int(qlinear_conv(*args)[0, 0, 0, 0]) == 1


def test_qlinear_matmul_matches_onnxruntime():
    rng = np.random.default_rng(24)
    counts: dict = {}
    for ad, bd, m, k, n, per_col in [("uint8", "int8", 256, 300, 256, True),
                                     ("int8", "int8", 128, 64, 200, False),
                                     ("uint8", "uint8", 64, 512, 256, False),
                                     ("int8", "int8", 3, 2048, 40, True)]:
        ai, bi = np.iinfo(ad), np.iinfo(bd)
        a = rng.integers(ai.min, ai.max + 1, (m, k)).astype(ad)
        b = rng.integers(bi.min, bi.max + 1, (k, n)).astype(bd)
        sa, sb, sy, za, zb, zy = random_qparams(rng, ad, bd, n, per_col, (-1, 1))
        node = helper.make_node("QLinearMatMul", list("abcdefgh"), ["y"])
        inits = [_tensor(k_, v) for k_, v in zip("bcdefgh", (sa, za, b, sb, zb, sy, zy))]
        model = build([node], {"a": a}, inits, [("y", helper.np_dtype_to_tensor_dtype(zy.dtype))])
        assert_host_accumulation(run_ort(model, {"a": a})[0], qlinear_matmul,
                                 (a, sa, za, b, sb, zb, sy, zy), {}, counts)
        acc = matmul_int(a, b, a_zero_point=za, b_zero_point=zb)
        assert np.array_equal(run_ref(model, {"a": a})[0],
                              _ref_round(acc, (sa * sb / sy).astype(np.float32), zy, ad))
    report_counts("QLinearMatMul", counts)
    assert_enough(counts["elements"])


def test_conv_integer_matches_both_oracles():
    rng = np.random.default_rng(25)
    total = 0
    for case in CONV_CASES:
        x, _, xz, wt, _, _, _, _, _, attrs = conv_case(rng, case)
        if x.dtype != np.uint8:  # ORT's ConvInteger takes uint8 activations
            continue
        wz = np.array(rng.integers(np.iinfo(wt.dtype).min, np.iinfo(wt.dtype).max + 1),
                      wt.dtype)
        node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], **attrs)
        inits = [_tensor("w", wt), _tensor("xz", xz), _tensor("wz", wz)]
        model = build([node], {"x": x}, inits, [("y", TensorProto.INT32)])
        got = conv_integer(x, wt, xz, wz, **attrs)
        assert np.array_equal(got, run_ort(model, {"x": x})[0]), case
        assert np.array_equal(got, run_ref(model, {"x": x})[0]), case
        total += got.size
    x = rng.integers(0, 256, (1, 32, 48, 48)).astype(np.uint8)
    wt = rng.integers(-8, 8, (32, 32, 3, 3)).astype(np.int8)  # int4 values in int8
    node = helper.make_node("ConvInteger", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    model = build([node], {"x": x}, [_tensor("w", wt)], [("y", TensorProto.INT32)])
    got = conv_integer(x, wt, pads=(1, 1, 1, 1))
    assert np.array_equal(got, run_ort(model, {"x": x})[0])
    assert np.array_equal(conv2d_int(x, pack_int4(wt), pads=(1, 1, 1, 1),
                                     w_int4_shape=wt.shape), got)
    total += got.size
    assert_enough(total)


def test_matmul_integer_matches_both_oracles():
    rng = np.random.default_rng(26)
    counts: dict = {}
    for ad, bd, shape_a, shape_b, per_col in [
            ("uint8", "int8", (256, 300), (300, 256), True),
            ("uint8", "uint8", (2, 64, 96), (96, 128), False),
            ("int8", "int8", (100, 64), (64, 300), False),
            ("uint8", "int8", (3, 5000), (5000, 20), False)]:  # 5000 * 255 * 128 > 2**24
        ai, bi = np.iinfo(ad), np.iinfo(bd)
        a = rng.integers(ai.min, ai.max + 1, shape_a).astype(ad)
        b = rng.integers(bi.min, bi.max + 1, shape_b).astype(bd)
        za = np.array(rng.integers(ai.min, ai.max + 1), ad)
        n = shape_b[-1]
        zb = (rng.integers(bi.min, bi.max + 1, n) if per_col
              else np.array(rng.integers(bi.min, bi.max + 1))).astype(bd)
        node = helper.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])
        inits = [_tensor("b", b), _tensor("za", za), _tensor("zb", zb)]
        model = build([node], {"a": a}, inits, [("y", TensorProto.INT32)])
        assert_host_accumulation(run_ort(model, {"a": a})[0], matmul_integer, (a, b, za, zb),
                                 {}, counts)
        assert np.array_equal(matmul_integer(a, b, za, zb), run_ref(model, {"a": a})[0])
    report_counts("MatMulInteger", counts)
    assert_enough(counts["elements"])


def _nbits_weights(rng, n, k, block):
    nblk = -(-k // block)
    q = rng.integers(0, 16, (n, nblk * block)).astype(np.uint8)
    q[:, k:] = 0
    b = np.stack([pack_int4(row, signed=False) for row in q]).reshape(n, nblk, block // 2)
    scales = (10.0 ** rng.uniform(-3, -1, n * nblk)).astype(np.float32)
    zps = rng.integers(0, 16, (n, nblk)).astype(np.uint8)
    zp_packed = np.concatenate([pack_int4(row, signed=False) for row in zps])
    return q[:, :k], b, scales, zps, zp_packed


def test_matmul_nbits_matches_onnxruntime_within_tolerance():
    rng = np.random.default_rng(27)
    total = 0
    for m, k, n, block, with_zp in [(64, 256, 512, 32, True), (33, 100, 300, 16, True),
                                    (256, 512, 256, 64, False)]:
        a = rng.normal(0, 1, (m, k)).astype(np.float32)
        q, b, scales, zps, zp_packed = _nbits_weights(rng, n, k, block)
        ins = ["a", "b", "s"] + (["z"] if with_zp else [])
        node = helper.make_node("MatMulNBits", ins, ["y"], domain="com.microsoft", K=k, N=n,
                                bits=4, block_size=block)
        inits = [_tensor("b", b), _tensor("s", scales)] + \
            ([_tensor("z", zp_packed)] if with_zp else [])
        model = build([node], {"a": a}, inits, [("y", TensorProto.FLOAT)], ms_domain=True)
        want = run_ort(model, {"a": a})[0]
        got = matmul_nbits(a, b, scales, zp_packed if with_zp else None, K=k, N=n,
                           block_size=block)
        zfull = np.repeat(zps if with_zp else np.full_like(zps, 8), block, axis=1)[:, :k]
        w = (q.astype(np.float64) - zfull) * np.repeat(scales.reshape(n, -1), block, 1)[:, :k]
        magnitude = np.abs(a.astype(np.float64)) @ np.abs(w).T
        assert np.all(np.abs(got - want) <= 1e-5 * magnitude + 1e-30)
        total += got.size
    assert_enough(total)


def test_qlinear_conv_large_accumulators_and_wrap_match_onnxruntime():
    # K = 4608 terms of about 125 * 125: |acc| ~ 7e7 > 2**24, so fl32(acc) rounds; a bias near
    # 2**31 makes the int32 accumulator wrap. Both must follow ONNX Runtime exactly.
    rng = np.random.default_rng(28)
    x = rng.integers(100, 128, (1, 512, 8, 8)).astype(np.int8)
    w = (rng.integers(100, 128, (64, 512, 3, 3)) * rng.choice([-1, 1], (64, 1, 1, 1))
         ).astype(np.int8)
    bias = rng.integers(-2**31, 2**31, 64).astype(np.int32)
    bias[:8] = 2**31 - 1
    xs, ys = np.float32(0.02), np.float32(40.0)
    ws = (10.0 ** rng.uniform(-2.5, -1.5, 64)).astype(np.float32)
    xz, yz, wz = np.array(-3, np.int8), np.array(5, np.int8), np.zeros(64, np.int8)
    attrs = {"pads": [1, 1, 1, 1]}
    model = qconv_model(x, xs, xz, w, ws, wz, ys, yz, bias, attrs)
    acc = conv2d_int(x, w, x_zero_point=xz, bias=bias, pads=(1, 1, 1, 1))
    assert np.abs(acc.astype(np.int64)).max() > 2**24
    got = qlinear_conv(x, xs, xz, w, ws, wz, ys, yz, bias, pads=(1, 1, 1, 1))
    want = run_ort(model, {"x": x})[0]
    assert 0 < np.count_nonzero((got > -128) & (got < 127))  # not all saturated
    assert np.array_equal(got, want)


@st.composite
def small_qconv(draw):
    """Random QLinearConv geometry, scales over decades and zero points at the extremes."""
    xd = draw(st.sampled_from(["uint8", "int8"]))
    g = draw(st.sampled_from([1, 2, 3]))
    cg, og = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(d[0] * (kh - 1) + 1, 9))
    w = draw(st.integers(d[1] * (kw - 1) + 1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xi = np.iinfo(xd)
    x = rng.integers(xi.min, xi.max + 1, (1, g * cg, h, w)).astype(xd)
    wt = rng.integers(-128, 128, (g * og, cg, kh, kw)).astype(np.int8)
    if draw(st.booleans()):
        x[...] = draw(st.sampled_from([xi.min, xi.max]))  # constant input at an extreme
    xs = np.float32(10.0 ** draw(st.floats(-4, 1)))
    ws = (10.0 ** rng.uniform(-4, 0, g * og)).astype(np.float32)
    ys = np.float32(10.0 ** draw(st.floats(-3, 2)))
    xz = np.array(draw(st.sampled_from([xi.min, xi.max]) | st.integers(xi.min, xi.max)), xd)
    yz = np.array(draw(st.sampled_from([xi.min, xi.max]) | st.integers(xi.min, xi.max)), xd)
    bias = rng.integers(-2**20, 2**20, g * og).astype(np.int32)
    attrs = {"group": g, "strides": list(s), "pads": list(p), "dilations": list(d)}
    return x, xs, xz, wt, ws, np.zeros(g * og, np.int8), ys, yz, bias, attrs


@given(small_qconv())
def test_qlinear_conv_property_matches_onnxruntime(case):
    x, xs, xz, wt, ws, wz, ys, yz, bias, attrs = case
    want = run_ort(qconv_model(*case), {"x": x})[0]
    got = qlinear_conv(x, xs, xz, wt, ws, wz, ys, yz, bias, accumulation=ort_accumulation(),
                       **attrs)
    assert np.array_equal(got, want)


@given(st.integers(0, 2**32 - 1), st.floats(-6, 6), st.floats(-3, 3),
       st.sampled_from(["normal", "positive", "negative", "constant"]))
def test_dynamic_quantize_linear_property_matches_onnxruntime(seed, decade, shift, kind):
    rng = np.random.default_rng(seed)
    x = (rng.normal(shift, 1.0, (3, 17)) * 10.0 ** decade).astype(np.float32)
    if kind == "positive":
        x = np.abs(x)
    elif kind == "negative":
        x = -np.abs(x)
    elif kind == "constant":
        x[...] = x[0, 0]
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    model = build([node], {"x": x}, [], [("y", TensorProto.UINT8), ("s", TensorProto.FLOAT),
                                         ("z", TensorProto.UINT8)], opset=20)
    for g, w in zip(dynamic_quantize_linear(x), run_ort(model, {"x": x})):
        assert np.array_equal(g, w)


# --- Accumulation: what this host's ONNX Runtime computes, stated and checked ----------------

def test_ort_accumulation_agrees_with_cpu_flags():
    predicted = predicted_accumulation()
    if predicted is None:
        pytest.skip(f"MLAS's uint8 x int8 kernel choice is not modelled for machine "
                    f"{platform.machine()!r} (flags {sorted(cpu_flags() or [])[:8]}...)")
    assert ort_accumulation() == predicted


def test_predicted_accumulation_follows_mlas_kernel_choice():
    avx512 = {"avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"}
    assert predicted_accumulation("x86_64", {"avx2", "fma"}) == "vpmaddubsw"  # Zen 2/3, Haswell
    assert predicted_accumulation("x86_64", {"avx2", "fma", "avx_vnni"}) == "exact"  # Alder Lake
    assert predicted_accumulation("x86_64", avx512) == "vpmaddubsw"  # Skylake-SP
    assert predicted_accumulation("x86_64", avx512 | {"avx512_vnni"}) == "exact"  # Ice Lake, Zen 4
    assert predicted_accumulation("aarch64", set()) == "exact"
    assert predicted_accumulation("x86_64", {"sse4_1"}) is None
    assert predicted_accumulation("riscv64", set()) is None


def test_vpmaddubsw_worked_example():
    # vpmaddubsw: 255*127 + 255*127 = 64770 saturates to 32767; the odd third element pairs
    # with K's zero padding: 255*127 = 32385. Zero points are subtracted after, exactly:
    # -10 * (127 + 127 + 127) = -3810.
    a = np.full((1, 3), 255, np.uint8)
    b = np.full((3, 1), 127, np.int8)
    assert matmul_int(a, b).item() == 97155
    assert matmul_int(a, b, accumulation="vpmaddubsw").item() == 32767 + 32385
    assert matmul_int(a, b, a_zero_point=np.uint8(10), accumulation="vpmaddubsw").item() == \
        32767 + 32385 - 3810
    assert matmul_int(a, -b - 1, accumulation="vpmaddubsw").item() == -32768 - 32640


def _pairwise_definition(a, b, za, zb):
    """The instruction's arithmetic written out: raw pair sums clipped to int16, summed, then
    the zero-point terms of MLAS's row/column-sum correction."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    if a.shape[1] % 2:
        a64 = np.pad(a64, ((0, 0), (0, 1)))
        b64 = np.pad(b64, ((0, 1), (0, 0)))
    pairs = a64[:, 0::2, None] * b64[None, 0::2] + a64[:, 1::2, None] * b64[None, 1::2]
    raw = np.clip(pairs, -32768, 32767).sum(axis=1)
    k = a.shape[1]
    acc = raw - zb * a64.sum(1, keepdims=True) - za * b64.sum(0) + k * za * zb
    return acc.astype(np.int32)


@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.integers(1, 40), st.integers(1, 9),
       st.integers(0, 255), st.integers(-128, 127))
def test_vpmaddubsw_matches_its_pairwise_definition(seed, m, k, n, za, zb):
    rng = np.random.default_rng(seed)
    a = rng.integers(200, 256, (m, k)).astype(np.uint8)          # large: pairs saturate often
    b = (rng.integers(100, 128, (k, n)) * rng.choice([-1, 1], (k, n))).astype(np.int8)
    got = matmul_int(a, b, a_zero_point=np.uint8(za), b_zero_point=np.int8(zb),
                     accumulation="vpmaddubsw")
    assert np.array_equal(got, _pairwise_definition(a, b, za, zb))


def test_non_saturating_inputs_are_exact_on_every_host():
    # uint8 values <= 127: every pair sum is <= 2 * 127 * 128 = 32512, so ORT is exact on
    # every host and both modes give the same result.
    rng = np.random.default_rng(29)
    total = 0
    for case in CONV_CASES:
        if case[0] != "uint8" or case[1] != "int8":
            continue
        x, xs, xz, wt, ws, wz, ys, yz, bias, attrs = conv_case(rng, case)
        x //= 2
        xz = np.array(int(xz) // 2, np.uint8)
        want = run_ort(qconv_model(x, xs, xz, wt, ws, wz, ys, yz, bias, attrs), {"x": x})[0]
        for acc in ACCUMULATIONS:
            assert np.array_equal(qlinear_conv(x, xs, xz, wt, ws, wz, ys, yz, bias,
                                               accumulation=acc, **attrs), want)
        total += want.size
    a = rng.integers(0, 128, (300, 200)).astype(np.uint8)
    b = rng.integers(-128, 128, (200, 300)).astype(np.int8)
    node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    want = run_ort(build([node], {"a": a}, [_tensor("b", b)], [("y", TensorProto.INT32)]),
                   {"a": a})[0]
    for acc in ACCUMULATIONS:
        assert np.array_equal(matmul_integer(a, b, accumulation=acc), want)
    assert_enough(total + want.size)


def test_vpmaddubsw_only_changes_uint8_times_int8():
    rng = np.random.default_rng(30)
    for ad, bd in [("int8", "int8"), ("int8", "uint8"), ("uint8", "uint8")]:
        a = rng.integers(np.iinfo(ad).min, np.iinfo(ad).max + 1, (20, 64)).astype(ad)
        b = rng.integers(np.iinfo(bd).min, np.iinfo(bd).max + 1, (64, 20)).astype(bd)
        assert np.array_equal(matmul_int(a, b, accumulation="vpmaddubsw"), matmul_int(a, b))
    # depthwise (one input and one output channel per group): ORT's kernels are exact
    x = np.full((1, 16, 6, 6), 255, np.uint8)
    w = np.full((16, 1, 3, 3), 127, np.int8)
    dw = {"groups": 16, "pads": (1, 1, 1, 1)}
    assert np.array_equal(conv2d_int(x, w, accumulation="vpmaddubsw", **dw),
                          conv2d_int(x, w, **dw))
    # a channel multiplier of 2 is a GEMM over the taps: it saturates
    w2 = np.full((32, 1, 3, 3), 127, np.int8)
    sat = conv2d_int(x, w2, accumulation="vpmaddubsw", **dw)
    assert sat[0, 0, 2, 2] == 4 * 32767 + 32385 < conv2d_int(x, w2, **dw)[0, 0, 2, 2]


def test_accumulation_is_checked():
    a = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match="accumulation must be one of"):
        matmul_int(a, a.astype(np.int8), accumulation="vnni")
    with pytest.raises(ValueError, match="accumulation must be one of"):
        conv2d_int(np.zeros((1, 1, 2, 2), np.uint8), np.zeros((1, 1, 1, 1), np.int8),
                   accumulation=None)

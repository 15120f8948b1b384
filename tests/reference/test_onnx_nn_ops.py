"""ConvTranspose (float and quantized), Resize, normalisations, MatMul/Gemm/Einsum and
LSTM/GRU against ONNX Runtime (and ``onnx.reference`` where ORT has no kernel).

Tolerances, and why:
- sums of products (ConvTranspose, MatMul, Gemm, Einsum): gilt sums in a fixed order
  without FMA, ORT's GEMMs block and fuse; both are within ``K * eps * sum|a*b|`` of the
  exact value, so the bound is ``2 (K + 2) eps sum|a*b|`` per element.
- the quantized ConvTranspose accumulator is an exact integer: compared with
  ``np.array_equal`` against ORT's float ConvTranspose of ``x - zx`` and ``w - zw``, whose
  every partial sum is an integer below 2**24 (exact in float32 in any order).
- nearest Resize is a selection: exact. linear/cubic: gilt separates the axes, ORT combines
  the weights first: ``1e-5 * max|X|`` (a few ulps of the largest input).
- normalisations: other statistics orders (ORT's LayerNorm uses E[x^2] - E[x]^2 in double):
  ``rtol 1e-5, atol 1e-5`` on outputs of unit scale.
- LSTM/GRU: ORT's MLAS logistic/tanh (absolute error ~1e-7) and GEMM order, compounded over
  the steps: ``atol 2e-6`` (measured max 5e-7 over 5 steps).
"""

import numpy as np
import pytest

from reference import conv_transpose as ct
from reference import einsum as einsum_mod
from reference import resize as resize_mod
from reference.conv_transpose import conv_transpose, conv_transpose_int, qlinear_conv_transpose
from tests.reference._onnx_node import (
    F32_EPS,
    assert_same,
    assert_within,
    check_node,
    make_model,
    onnx,
    run_both,
    run_ort,
)

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(23)


def _f(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------- ConvTranspose, float

CT_CASES = [
    dict(), dict(strides=[2, 2]), dict(strides=[2, 3], pads=[1, 0, 0, 2], dilations=[1, 2]),
    dict(strides=[2, 2], output_padding=[1, 1]), dict(strides=[2, 2], output_shape=[7, 8]),
    dict(strides=[3, 2], auto_pad="SAME_UPPER"), dict(strides=[3, 2], auto_pad="SAME_LOWER"),
    dict(strides=[2, 2], auto_pad="VALID"), dict(group=2, strides=[2, 1]),
    dict(group=4, strides=[2, 2], pads=[1, 1, 1, 1]), dict(kernel_shape=[3, 3], strides=[1, 2]),
    dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 0]),
    dict(dilations=[2, 2], output_padding=[1, 1], strides=[2, 2]),
]


def _ct_bound(x, w, b, **attrs):
    k = (x.shape[1] // attrs.get("group", 1)) * int(np.prod(w.shape[2:]))
    mag = conv_transpose(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                         **attrs)
    return 2 * (k + 2) * F32_EPS * (mag + np.abs(b).reshape(1, -1, *([1] * (x.ndim - 2))))


@pytest.mark.parametrize("attrs", CT_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_transpose_2d(attrs, with_bias):
    g = attrs.get("group", 1)
    x, w = _f(2, 4, 3, 4), _f(4, 3, 3, 3)
    b = _f(3 * g) if with_bias else np.zeros(3 * g, np.float32)
    ins = [("x", x), ("w", w)] + ([("b", b)] if with_bias else [])
    got, want = run_both("ConvTranspose", ins, opset=11, **attrs)
    assert_within(got[0], want[0], _ct_bound(x, w, b, **attrs), f"ConvTranspose {attrs}")


@pytest.mark.parametrize("attrs", [dict(), dict(strides=[3], pads=[1, 2]),
                                   dict(strides=[2], output_padding=[1], group=2)])
def test_conv_transpose_1d(attrs):
    g = attrs.get("group", 1)
    x, w, b = _f(1, 4, 7), _f(4, 2, 4), _f(2 * g)
    got, want = run_both("ConvTranspose", [("x", x), ("w", w), ("b", b)], opset=11, **attrs)
    assert_within(got[0], want[0], _ct_bound(x, w, b, **attrs), f"ConvTranspose1d {attrs}")


@pytest.mark.parametrize("attrs", [dict(), dict(strides=[2, 1, 2], pads=[0, 1, 0, 1, 0, 1])])
def test_conv_transpose_3d(attrs):
    x, w, b = _f(1, 2, 3, 3, 2), _f(2, 3, 2, 3, 2), _f(3)
    got, want = run_both("ConvTranspose", [("x", x), ("w", w), ("b", b)], opset=22, **attrs)
    assert_within(got[0], want[0], _ct_bound(x, w, b, **attrs), f"ConvTranspose3d {attrs}")


def test_conv_transpose_refusals():
    x, w = _f(1, 2, 3, 3), _f(2, 1, 2, 2)
    with pytest.raises(ValueError, match="auto_pad='SAME_UPPER' asks for spatial size 9"):
        conv_transpose(x, w, strides=[3, 3], auto_pad="SAME_UPPER")
    with pytest.raises(ValueError, match="output_shape"):
        conv_transpose(x, w, strides=[2, 2], output_shape=[9, 9])
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose(x, w, strides=[2, 2], output_padding=[2, 0])
    with pytest.raises(ValueError, match="output_padding"):  # ONNX allows, ORT rejects
        conv_transpose(x, w, dilations=[2, 2], output_padding=[1, 1])
    with pytest.raises(ValueError, match="auto_pad"):
        conv_transpose(x, w, auto_pad="SAME")


# ---------------------------------------------------------------- ConvTranspose, quantized

def _q_operands(xdt, wdt, c, m, g, k, seed):
    rng = np.random.default_rng(seed)
    lo, hi = (-128, 128) if xdt == "int8" else (0, 256)
    x = rng.integers(lo, hi, size=(2, c, 4, 5)).astype(xdt)
    wl, wh = (-128, 128) if wdt == "int8" else (0, 256)
    w = rng.integers(wl, wh, size=(c, m // g, k, k)).astype(wdt)
    zx = np.array(rng.integers(lo, hi), xdt)
    zw = rng.integers(wl, wh, size=m // g).astype(wdt)
    return x, w, zx, zw


@pytest.mark.parametrize("xdt, wdt", [("uint8", "int8"), ("int8", "int8"), ("uint8", "uint8")])
@pytest.mark.parametrize("attrs", [dict(), dict(strides=[2, 2], group=2),
                                   dict(strides=[2, 3], pads=[1, 0, 1, 1], output_padding=[1, 2]),
                                   dict(dilations=[2, 1], auto_pad="SAME_UPPER", strides=[2, 2])])
def test_conv_transpose_int_accumulator_exact(xdt, wdt, attrs):
    """The int32 accumulator equals ORT's float ConvTranspose of the centred integers, which
    is exact: every partial sum is an integer below 4 * 9 * 255 * 255 < 2**24."""
    g = attrs.get("group", 1)
    x, w, zx, zw = _q_operands(xdt, wdt, 4, 4, g, 3, seed=len(str(attrs)))
    got = conv_transpose_int(x, w, zx, zw, **attrs)
    xf = (x.astype(np.int64) - int(zx)).astype(np.float32)
    wf = (w.astype(np.int64) - zw.astype(np.int64).reshape(1, -1, 1, 1)).astype(np.float32)
    model = make_model("ConvTranspose", [("x", xf), ("w", wf)], opset=11, **attrs)
    (want,) = run_ort(model, [("x", xf), ("w", wf)])
    assert_same(got, want.astype(np.int64).astype(np.int32), f"conv_transpose_int {attrs}")


def _qdq_model(x, xs, zx, w, ws, zw, b, ys, zy, attrs):
    """DQ(x), DQ(w) (per weight axis 1), DQ(bias) -> ConvTranspose -> Q, all as ORT runs it."""
    from onnx import TensorProto, helper, numpy_helper

    bias_scale = np.float32(xs) * np.asarray(ws, np.float32)
    if bias_scale.ndim:  # per weight axis-1 channel, repeated for every group
        bias_scale = np.tile(bias_scale, attrs.get("group", 1))
    inits = [numpy_helper.from_array(a, n) for n, a in (
        ("xs", np.array(xs, np.float32)), ("zx", zx), ("w", w),
        ("ws", np.asarray(ws, np.float32)), ("zw", zw), ("b", b), ("bs", bias_scale),
        ("ys", np.array(ys, np.float32)), ("zy", zy))]
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "zx"], ["xf"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "zw"], ["wf"], axis=1),
             helper.make_node("DequantizeLinear", ["b", "bs"], ["bf"], axis=0),
             helper.make_node("ConvTranspose", ["xf", "wf", "bf"], ["yf"], **attrs),
             helper.make_node("QuantizeLinear", ["yf", "ys", "zy"], ["y"])]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(
            x.dtype), x.shape)], [helper.make_tensor_value_info("y", TensorProto.UNDEFINED,
                                                                None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return onnx.shape_inference.infer_shapes(model)


def _weight_quant(per_channel, m):
    """Weight scale and zero point: one value, or one per weight axis-1 channel."""
    if per_channel:
        scales = np.array([2.0**-7, 2.0**-8, 2.0**-6, 2.0**-7][:m], np.float32)
        return scales, np.zeros(m, np.int8)
    return np.float32(2.0**-7), np.array(0, np.int8)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("attrs", [dict(strides=[2, 2]), dict(strides=[2, 2], group=2,
                                                              pads=[1, 1, 0, 0])])
def test_qlinear_conv_transpose_matches_onnxruntime_qdq(per_channel, attrs):
    """With power-of-two scales every float step of ORT's QDQ graph is exact, so the integer
    path must agree bit for bit; ties round half to even on both sides."""
    g = attrs.get("group", 1)
    x, w, zx, _ = _q_operands("uint8", "int8", 4, 4, g, 3, seed=5)
    ws, zw = _weight_quant(per_channel, 4 // g)
    xs, ys = np.float32(2.0**-5), np.float32(2.0**-3)
    b = RNG.integers(-3000, 3000, size=4).astype(np.int32)
    zy = np.array(7, np.int8)
    model = _qdq_model(x, xs, zx, w, ws, zw, b, ys, zy, attrs)
    (want,) = run_ort(model, [("x", x)])
    got = qlinear_conv_transpose(x, xs, zx, w, ws, zw, ys, zy, b, **attrs)
    assert_same(got, want, f"QDQ ConvTranspose {attrs} per_channel={per_channel}")


def test_qlinear_conv_transpose_general_scales_within_one_step():
    """General scales: ORT's QDQ graph rounds float sums, gilt's integer path does not; they
    may differ by one quantization step on values near a rounding boundary, never more."""
    x, w, zx, _ = _q_operands("uint8", "int8", 4, 4, 1, 3, seed=9)
    xs, ws, ys = np.float32(0.0173), np.float32(0.00311), np.float32(0.0419)
    zw = np.array(0, np.int8)
    b = RNG.integers(-3000, 3000, size=4).astype(np.int32)
    zy = np.array(3, np.int8)
    model = _qdq_model(x, xs, zx, w, ws, zw, b, ys, zy, dict(strides=[2, 2]))
    (want,) = run_ort(model, [("x", x)])
    got = qlinear_conv_transpose(x, xs, zx, w, ws, zw, ys, zy, b, strides=[2, 2])
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01


# ---------------------------------------------------------------- Resize

RX = _f(1, 2, 5, 7, scale=3)
CTMS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
        "tf_half_pixel_for_nn", "tf_crop_and_resize", "half_pixel_symmetric"]
SCALES = [(1, 1, 2, 3), (1, 1, 0.5, 0.7), (1, 1, 1.7, 1.3), (1, 1, 3, 1)]
ROI = np.array([0, 0, 0.1, 0.2, 1, 1, 0.8, 0.9], np.float32)


def _roi(ctm, scales):
    if ctm != "tf_crop_and_resize":
        return None
    roi = ROI.copy()
    for a, s in enumerate(scales):
        if s == 1:
            roi[a], roi[4 + a] = 0, 1
    return roi


@pytest.mark.parametrize("ctm", CTMS)
@pytest.mark.parametrize("nearest_mode", [None, "round_prefer_ceil", "floor", "ceil"])
@pytest.mark.parametrize("scales", SCALES)
def test_resize_nearest_exact(ctm, nearest_mode, scales):
    attrs = {"coordinate_transformation_mode": ctm, "extrapolation_value": -7.0}
    if nearest_mode:
        attrs["nearest_mode"] = nearest_mode
    roi = _roi(ctm, scales)
    ins = [("x", RX), ("roi", roi if roi is not None else np.array([], np.float32)),
           ("scales", np.array(scales, np.float32))]
    check_node("Resize", ins, opset=19, **attrs)


@pytest.mark.parametrize("mode, exclude_outside", [("linear", 0), ("cubic", 0), ("cubic", 1)])
@pytest.mark.parametrize("ctm", CTMS)
@pytest.mark.parametrize("scales", SCALES)
def test_resize_linear_cubic(mode, ctm, scales, exclude_outside):
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm, "extrapolation_value": 0.5}
    if exclude_outside:
        attrs["exclude_outside"] = 1
    if mode == "cubic":
        attrs["cubic_coeff_a"] = -0.5
    roi = _roi(ctm, scales)
    ins = [("x", RX), ("roi", roi if roi is not None else np.array([], np.float32)),
           ("scales", np.array(scales, np.float32))]
    check_node("Resize", ins, opset=19, rtol=0, atol=1e-5 * 3 * 4, **attrs)


def test_resize_defaults_opset11_and_13():
    """No attributes at all: nearest, half_pixel, round_prefer_floor (ONNX's defaults)."""
    for opset in (11, 13):
        ins = [("x", RX), ("roi", np.array([], np.float32)),
               ("scales", np.array([1, 1, 1.5, 0.6], np.float32))]
        check_node("Resize", ins, opset=opset)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("sizes", [(1, 2, 9, 4), (1, 2, 2, 14), (1, 2, 5, 7)])
@pytest.mark.parametrize("policy", [None, "not_larger", "not_smaller"])
def test_resize_sizes_and_keep_aspect_ratio(mode, sizes, policy):
    attrs = {"mode": mode}
    ins = [("x", RX), ("roi", None), ("scales", None)]
    if policy:
        attrs["keep_aspect_ratio_policy"] = policy
        attrs["axes"] = [2, 3]
        ins.append(("sizes", np.array(sizes[2:], np.int64)))
    else:
        ins.append(("sizes", np.array(sizes, np.int64)))
    check_node("Resize", ins, opset=18, **({} if mode == "nearest" else
                                           {"rtol": 0, "atol": 1.2e-4}), **attrs)


@pytest.mark.parametrize("axes, scales", [([2, 3], (2.0, 0.5)), ([3], (1.5,)), ([-1, -2], (2, 3))])
def test_resize_axes(axes, scales):
    ins = [("x", RX), ("roi", None), ("scales", np.array(scales, np.float32))]
    check_node("Resize", ins, opset=18, axes=axes)
    check_node("Resize", ins, opset=18, axes=axes, mode="linear", rtol=0, atol=1.2e-4)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_other_ranks_against_onnx_reference(mode):
    """ORT's linear/cubic kernels take only 2-D/4-D (linear also 3-D/5-D) inputs; the 1-D
    case is checked against onnx.reference."""
    x = _f(9, scale=2)
    ins = [("x", x), ("roi", None), ("scales", np.array([1.7], np.float32))]
    check_node("Resize", ins, opset=19, mode=mode, oracle="onnx.reference", rtol=0, atol=1e-5)


def test_resize_refusals():
    s = np.array([1, 1, 2, 2], np.float32)
    with pytest.raises(ValueError, match="antialias"):
        resize_mod.resize(RX, None, s, None, mode="linear", antialias=1)
    with pytest.raises(ValueError, match="exactly one of scales and sizes"):
        resize_mod.resize(RX, None, s, np.array([1, 2, 3, 4], np.int64))
    roi = np.array([0, 0.2, 0, 0, 1, 0.8, 1, 1], np.float32)
    with pytest.raises(ValueError, match="roi"):
        resize_mod.resize(RX, roi, s, None, coordinate_transformation_mode="tf_crop_and_resize")
    with pytest.raises(TypeError):
        resize_mod.resize(RX.astype(np.int32), None, s, None, mode="linear")
    same_shape = np.array([1, 1, 1, 1.25], np.float32)  # width 2 * 1.25 -> 2: shape kept
    with pytest.raises(ValueError, match="output shape equals the input shape"):
        resize_mod.resize(RX[:, :, :, :2], None, same_shape, None)


def test_resize_nearest_integer_tensor_exact():
    x = RNG.integers(0, 255, size=(1, 3, 4, 6)).astype(np.uint8)
    ins = [("x", x), ("roi", None), ("scales", np.array([1, 1, 2.5, 0.5], np.float32))]
    check_node("Resize", ins, opset=13, coordinate_transformation_mode="asymmetric",
               nearest_mode="floor")


# ---------------------------------------------------------------- normalisations

NX = _f(2, 6, 3, 4, scale=2) + np.float32(1.5)


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_instance_normalization(eps):
    attrs = {} if eps is None else {"epsilon": eps}
    check_node("InstanceNormalization", [("x", NX), ("s", _f(6)), ("b", _f(6))], opset=11,
               rtol=1e-5, atol=1e-5, **attrs)


@pytest.mark.parametrize("opset", [18, 21])
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
@pytest.mark.parametrize("eps", [None, 1e-2])
def test_group_normalization(opset, groups, eps):
    n = groups if opset < 21 else 6
    attrs = {"num_groups": groups} | ({} if eps is None else {"epsilon": eps})
    check_node("GroupNormalization", [("x", NX), ("s", _f(n)), ("b", _f(n))], opset=opset,
               rtol=1e-5, atol=1e-5, **attrs)


def test_group_normalization_stash_type_float64():
    x = NX.astype(np.float64)
    check_node("GroupNormalization", [("x", x), ("s", _f(6).astype(np.float64)),
                                      ("b", _f(6).astype(np.float64))], opset=21,
               num_groups=3, stash_type=11, oracle="onnx.reference", rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("axis", [None, 1, 2, -2, 0])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("scale_shape", ["full", "broadcast"])
def test_layer_normalization(axis, with_bias, scale_shape):
    a = -1 if axis is None else axis
    norm = NX.shape[a:]
    sshape = norm if scale_shape == "full" else (1,) * (len(norm) - 1) + norm[-1:]
    ins = [("x", NX), ("s", _f(*sshape))] + ([("b", _f(*sshape))] if with_bias else [])
    attrs = {} if axis is None else {"axis": axis}
    check_node("LayerNormalization", ins, opset=17, n_outputs=3, rtol=1e-5, atol=1e-5,
               **attrs)


def test_layer_normalization_stash_type_and_epsilon():
    ins = [("x", NX), ("s", _f(4)), ("b", _f(4))]
    check_node("LayerNormalization", ins, opset=17, n_outputs=1, rtol=1e-5, atol=1e-5,
               epsilon=0.1, stash_type=1)
    with pytest.raises(ValueError, match="stash_type"):
        from reference.normalization_ext import layer_normalization
        layer_normalization(NX, _f(4), stash_type=10)


# ---------------------------------------------------------------- MatMul, Gemm, Einsum

def _mm_bound(a, b, k):
    mag = np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    return 2 * (k + 2) * F32_EPS * mag


@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)),
                                    ((3, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                                    ((1, 3, 64), (2, 64, 7))])
def test_matmul_broadcasting(sa, sb):
    a, b = _f(*sa), _f(*sb)
    got, want = run_both("MatMul", [("a", a), ("b", b)], opset=13)
    assert_within(got[0], want[0], _mm_bound(a, b, a.shape[-1]), f"MatMul {sa} {sb}")


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_matmul_integer_exact(dtype):
    a = RNG.integers(-100, 100, size=(2, 3, 4)).astype(dtype)
    b = RNG.integers(-100, 100, size=(4, 5)).astype(dtype)
    check_node("MatMul", [("a", a), ("b", b)], opset=13)


@pytest.mark.parametrize("attrs", [dict(), dict(alpha=0.5), dict(beta=2.0), dict(transA=1),
                                   dict(transB=1), dict(transA=1, transB=1, alpha=1.5,
                                                        beta=-0.5)])
@pytest.mark.parametrize("c_shape", [None, (3, 5), (5,), (1,), (3, 1), ()])
def test_gemm(attrs, c_shape):
    a = _f(4, 3) if attrs.get("transA") else _f(3, 4)
    b = _f(5, 4) if attrs.get("transB") else _f(4, 5)
    ins = [("a", a), ("b", b)] + ([] if c_shape is None else [("c", np.asarray(_f(*c_shape)))])
    got, want = run_both("Gemm", ins, opset=13, **attrs)
    am = a.T if attrs.get("transA") else a
    bm = b.T if attrs.get("transB") else b
    bound = _mm_bound(am, bm, 4) * abs(attrs.get("alpha", 1.0)) + 4 * F32_EPS * (
        0 if c_shape is None else abs(attrs.get("beta", 1.0)) * np.abs(ins[2][1]))
    assert_within(got[0], want[0], bound + 1e-7, f"Gemm {attrs} C{c_shape}")


EINSUM_CASES = [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                ("ij->ji", [(3, 4)]), ("ij->", [(3, 4)]), ("ij->i", [(3, 4)]),
                ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
                ("...ij,...jk->...ik", [(2, 1, 3, 4), (1, 5, 4, 6)]), ("i,j->ij", [(3,), (4,)]),
                ("i,i", [(7,)] * 2), ("ij,kj", [(3, 4), (5, 4)]),
                ("abc,cd->abd", [(2, 3, 4), (4, 5)]), ("ijk,ik->j", [(2, 3, 4), (2, 4)]),
                ("bnc,bnd->bcd", [(2, 6, 3), (2, 6, 4)]), ("...ij->...ji", [(2, 3, 4)])]


@pytest.mark.parametrize("equation, shapes", EINSUM_CASES)
def test_einsum(equation, shapes):
    xs = [(f"x{i}", _f(*s)) for i, s in enumerate(shapes)]
    got, want = run_both("Einsum", xs, opset=12, equation=equation)
    mag = np.einsum(equation, *[np.abs(x).astype(np.float64) for _, x in xs])
    k = max(int(np.prod(s)) for s in shapes)
    assert_within(got[0], want[0], 2 * (k + 2) * F32_EPS * mag, f"Einsum {equation}")


@pytest.mark.parametrize("equation, n", [("ii->i", 1), ("ij,jk,kl->il", 3), ("b...,b...->b", 2)])
def test_einsum_refusals_name_the_equation(equation, n):
    with pytest.raises(ValueError, match="Einsum equation"):
        einsum_mod.einsum(*[_f(3, 3)] * n, equation=equation)


# ---------------------------------------------------------------- LSTM, GRU

S, N, I, H = 5, 3, 4, 6


def _rnn_inputs(op, direction, layout, lens, peep, seed):
    rng = np.random.default_rng(seed)
    g = 4 if op == "LSTM" else 3
    d = 2 if direction == "bidirectional" else 1

    def f(*s, scale=1.0):
        return (rng.standard_normal(s) * scale).astype(np.float32)
    x = f(S, N, I) if layout == 0 else f(N, S, I)
    hshape = (d, N, H) if layout == 0 else (N, d, H)
    ins = [("x", x), ("w", f(d, g * H, I, scale=0.5)), ("r", f(d, g * H, H, scale=0.5)),
           ("b", f(d, 2 * g * H)), ("lens", np.array([5, 2, 4], np.int32) if lens else None),
           ("h0", f(*hshape))]
    if op == "LSTM":
        ins += [("c0", f(*hshape)), ("p", f(d, 3 * H) if peep else None)]
    return ins


RNN_EXTRAS = [{}, {"clip": 0.7}, {"lens": 1}, {"no_init": 1}]


RNN_CASES = [("LSTM", e) for e in RNN_EXTRAS + [{"peep": 1}, {"input_forget": 1}]] + \
    [("GRU", e) for e in RNN_EXTRAS + [{"linear_before_reset": 1}]]


@pytest.mark.parametrize("op, extra", RNN_CASES)
@pytest.mark.parametrize("direction", [None, "reverse", "bidirectional"])
def test_recurrent_layout0_against_onnxruntime(op, direction, extra):
    ins = _rnn_inputs(op, direction or "forward", 0, "lens" in extra, "peep" in extra,
                      seed=len(str(extra)) + 3 * len(direction or ""))
    if "no_init" in extra:
        ins = ins[:5]
    attrs = {k: v for k, v in extra.items() if k in ("clip", "input_forget",
                                                     "linear_before_reset")}
    attrs["hidden_size"] = H
    if direction:
        attrs["direction"] = direction
    n_out = 3 if op == "LSTM" else 2
    check_node(op, ins, opset=14, n_outputs=n_out, rtol=1e-5, atol=2e-6, **attrs)


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_recurrent_layout1_against_onnx_reference(op, direction):
    """ORT refuses layout=1 ("batchwise recurrent operations"); onnx.reference runs it."""
    ins = _rnn_inputs(op, direction, 1, False, False, seed=11)
    n_out = 3 if op == "LSTM" else 2
    check_node(op, ins, opset=14, n_outputs=n_out, rtol=1e-5, atol=2e-6, layout=1,
               hidden_size=H, direction=direction, oracle="onnx.reference")


@pytest.mark.parametrize("activations", [["Relu", "Tanh", "Tanh"], ["Sigmoid", "Relu", "Relu"]])
def test_lstm_explicit_activations(activations):
    ins = _rnn_inputs("LSTM", "forward", 0, False, False, seed=4)
    check_node("LSTM", ins, opset=14, n_outputs=3, rtol=1e-5, atol=2e-6, hidden_size=H,
               activations=activations)


def test_recurrent_refusals():
    from reference.recurrent import gru, lstm

    ins = [a for _, a in _rnn_inputs("LSTM", "forward", 0, False, False, seed=1)]
    with pytest.raises(ValueError, match="activations"):
        lstm(*ins, activations=["HardSigmoid", "Tanh", "Tanh"])
    with pytest.raises(ValueError, match="activation_alpha"):
        lstm(*ins, activation_alpha=[0.1])
    gins = [a for _, a in _rnn_inputs("GRU", "forward", 0, False, False, seed=1)]
    gins[4] = np.array([0, 5, 5], np.int32)
    with pytest.raises(ValueError, match="sequence_lens"):
        gru(*gins)


def test_geometry_helper_is_public_for_importers():
    """The importer needs output shapes before running: conv_transpose_geometry gives them."""
    st, dil, begin, out = ct.conv_transpose_geometry((1, 4, 3, 4), (4, 2, 3, 3),
                                                     strides=[2, 2], output_padding=[1, 1])
    assert out == (8, 10) and begin == (0, 0) and st == (2, 2) and dil == (1, 1)

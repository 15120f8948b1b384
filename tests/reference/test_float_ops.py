"""Float operators: against their float64 twins (documented bounds) and against onnxruntime."""

import platform

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import activations as act
from reference.conv_float import conv2d_float, conv2d_macs, linear_float, matmul_float
from reference.elementwise import add, concat, mul, upsample_nearest
from reference.normalization import batch_norm, layer_norm
from reference.pooling import avg_pool2d, global_avg_pool2d, max_pool2d
from tests.reference._ort_single import run_node

F32_EPS = np.finfo(np.float32).eps
X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def _conv_bound(x, w, **geometry):
    """|float32 - exact| <= K * eps * sum|w*x| (standard bound for a K-term sequential sum)."""
    k = w.shape[1] * w.shape[2] * w.shape[3]
    mag = conv2d_float(np.abs(x), np.abs(w), precision="float64", **geometry)
    return (k + 1) * F32_EPS * mag


conv_cases = st.tuples(
    st.integers(1, 2),  # N
    st.integers(1, 3),  # groups
    st.integers(1, 3),  # C per group
    st.integers(1, 3),  # O per group
    st.integers(1, 3), st.integers(1, 3),  # KH, KW
    st.integers(1, 2), st.integers(1, 2),  # strides
    st.integers(1, 2),  # dilation
    st.integers(0, 2),  # pad
    st.integers(0, 2**16),
)


@given(conv_cases)
def test_conv_float_vs_float64_twin_and_onnxruntime(case):
    n, g, cg, og, kh, kw, sh, sw, d, p, seed = case
    rng = np.random.default_rng(seed)
    h, w_ = 5 + p, 6
    x = rng.standard_normal((n, g * cg, h, w_)).astype(np.float32)
    w = rng.standard_normal((g * og, cg, kh, kw)).astype(np.float32)
    b = rng.standard_normal(g * og).astype(np.float32)
    kw_args = dict(strides=(sh, sw), pads=(p, p, p, p), dilations=(d, d), groups=g)
    y32 = conv2d_float(x, w, bias=b, **kw_args)
    y64 = conv2d_float(x, w, bias=b, precision="float64", **kw_args)
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    bound = _conv_bound(x, w, **kw_args) + F32_EPS * np.abs(b)[None, :, None, None] * 2
    assert np.all(np.abs(y32 - y64) <= bound)
    (ref,) = run_node("Conv", [("x", x), ("w", w), ("b", b)], strides=[sh, sw],
                      pads=[p, p, p, p], dilations=[d, d], group=g)
    assert ref.shape == y32.shape
    assert np.all(np.abs(ref - y64) <= 2 * bound)


def test_conv_depthwise_matches_per_channel_conv():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 7, 7)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    y = conv2d_float(x, w, groups=4, pads=(1, 1, 1, 1))
    for c in range(4):
        yc = conv2d_float(x[:, c:c + 1], w[c:c + 1], pads=(1, 1, 1, 1))
        assert np.array_equal(y[:, c:c + 1], yc)  # same tap order -> bit-identical


def test_conv_macs_counts_products():
    assert conv2d_macs((2, 4, 8, 8), (6, 2, 3, 3), pads=(1, 1, 1, 1), groups=2) == \
        2 * 6 * 8 * 8 * 2 * 3 * 3


def test_conv_bad_input_names_parameter():
    x = np.zeros((1, 4, 5, 5), np.float32)
    with pytest.raises(ValueError, match="groups=3"):
        conv2d_float(x, np.zeros((3, 4, 3, 3)), groups=3)
    with pytest.raises(ValueError, match=r"w.shape\[1\] must be x.shape\[1\] / groups = 4, got 2"):
        conv2d_float(x, np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="strides"):
        conv2d_float(x, np.zeros((3, 4, 3, 3)), strides=(0, 1))
    with pytest.raises(ValueError, match="kernel 7x7"):
        conv2d_float(x, np.zeros((3, 4, 7, 7)))
    with pytest.raises(ValueError, match="precision"):
        conv2d_float(x, np.zeros((3, 4, 3, 3)), precision="float16")
    with pytest.raises(TypeError, match="x has dtype"):
        conv2d_float(x.astype(str), np.zeros((3, 4, 3, 3)))


def test_matmul_and_linear_vs_onnxruntime():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 5, 7)).astype(np.float32)
    b = rng.standard_normal((7, 3)).astype(np.float32)
    y = matmul_float(a, b)
    (ref,) = run_node("MatMul", [("a", a), ("b", b)])
    bound = 8 * F32_EPS * matmul_float(np.abs(a), np.abs(b), precision="float64")
    assert np.all(np.abs(y - ref) <= bound)
    w = rng.standard_normal((4, 7)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    lin = linear_float(a, w, bias=bias)
    assert lin.shape == (2, 5, 4)
    assert np.allclose(lin, a.astype(np.float64) @ w.T.astype(np.float64) + bias, atol=1e-5)
    with pytest.raises(ValueError, match="a.shape\\[-1\\] == b.shape\\[-2\\]"):
        matmul_float(a, w)


def test_batch_norm_vs_onnxruntime():
    # ONNX Runtime folds BN to x * ns + nb (ns = scale / sqrt(var + eps), nb = bias - mean * ns)
    # in Eigen without FMA on x86-64: the order is pinned there, so the bits must agree; on a
    # host whose compiler fuses the products (aarch64) they agree within a few roundings.
    rng = np.random.default_rng(3)
    total = 0
    for _ in range(12):
        x = (rng.standard_normal((4, 16, 15, 11)) * 10.0 ** rng.uniform(-2, 2)).astype(np.float32)
        s, b, m = (rng.standard_normal(16).astype(np.float32) for _ in range(3))
        v = rng.uniform(0.001, 20, 16).astype(np.float32)
        eps = float(np.float32(10.0 ** rng.uniform(-6, -2)))
        y = batch_norm(x, s, b, m, v, epsilon=eps)
        (ref,) = run_node("BatchNormalization", [("x", x), ("s", s), ("b", b), ("m", m),
                                                 ("v", v)], opset=15, epsilon=eps)
        y64 = batch_norm(x, s, b, m, v, epsilon=eps, precision="float64")
        ns = np.abs(s.astype(np.float64)) / np.sqrt(v.astype(np.float64) + eps)
        mag = (np.abs(x) + np.abs(m)[None, :, None, None]) * ns[None, :, None, None] + \
            np.abs(b)[None, :, None, None]
        assert np.all(np.abs(y - y64) <= 4 * F32_EPS * mag)  # the float64 twin bounds it
        if X86_64:
            assert np.array_equal(y, ref)
        else:
            assert np.all(np.abs(y - ref) <= 4 * F32_EPS * mag)
        total += y.size
    assert total >= 100_000
    with pytest.raises(ValueError, match="var has shape"):
        batch_norm(x, s, b, m, v[:2])
    with pytest.raises(ValueError, match="epsilon"):
        batch_norm(x, s, b, m, v, epsilon=0)


def test_layer_norm_vs_onnxruntime():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 6, 16)) * 3 + 1).astype(np.float32)
    g = rng.standard_normal(16).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    y = layer_norm(x, g, b)
    ref = run_node("LayerNormalization", [("x", x), ("g", g), ("b", b)], opset=17,
                   n_outputs=1, axis=-1, epsilon=1e-5)[0]
    assert np.max(np.abs(y - ref)) <= 1e-5 * (1 + np.max(np.abs(ref)))
    y64 = layer_norm(x, g, b, precision="float64")
    assert np.max(np.abs(y - y64)) <= 1e-5 * (1 + np.max(np.abs(y64)))
    with pytest.raises(ValueError, match="scale has shape"):
        layer_norm(x, g[:3], b)


@pytest.mark.parametrize("name,op,attrs,opset,tol", [
    ("relu", "Relu", {}, 14, 0.0),
    ("hard_swish", "HardSwish", {}, 14, 2 * F32_EPS),
    ("sigmoid", "Sigmoid", {}, 13, 4 * F32_EPS),
    ("softmax", "Softmax", {"axis": -1}, 13, 8 * F32_EPS),
    ("gelu_none", "Gelu", {"approximate": "none"}, 20, 4 * F32_EPS),
    ("gelu_tanh", "Gelu", {"approximate": "tanh"}, 20, 16 * F32_EPS),
])
def test_activation_vs_onnxruntime(name, op, attrs, opset, tol):
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(200) * 4, [-3.0, 3.0, 0.0, -0.5, 0.5, 30.0, -30.0]])
    x = x.astype(np.float32).reshape(1, -1)
    fn = {"gelu_none": lambda v, **k: act.gelu(v, approximate="none", **k),
          "gelu_tanh": lambda v, **k: act.gelu(v, approximate="tanh", **k)}.get(
        name, getattr(act, name, None))
    y = fn(x)
    (ref,) = run_node(op, [("x", x)], opset=opset, **attrs)
    scale = np.maximum(np.abs(ref), 1.0)
    assert np.all(np.abs(y - ref) <= tol * scale + (1e-7 if tol else 0))
    y64 = fn(x, precision="float64")
    assert np.all(np.abs(y - y64) <= 8 * F32_EPS * scale)


def test_hard_sigmoid_onnx_alpha_and_relu6_silu():
    x = np.linspace(-8, 8, 161, dtype=np.float32).reshape(1, -1)
    (ref,) = run_node("HardSigmoid", [("x", x)], opset=6, alpha=0.2, beta=0.5)
    assert np.allclose(act.hard_sigmoid(x, alpha=0.2, beta=0.5), ref, atol=2 * F32_EPS)
    assert np.array_equal(act.relu6(x), np.clip(x, 0, 6))
    x64 = x.astype(np.float64)
    assert np.allclose(act.silu(x), x64 / (1 + np.exp(-x64)), rtol=4 * F32_EPS, atol=1e-7)
    assert np.all(np.isfinite(act.sigmoid(np.array([-1e4, 1e4], np.float32))))


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.integers(1, 2),
       st.integers(0, 2**16))
def test_pooling_vs_onnxruntime(k, s, p, d, seed):
    # AveragePool's summation order is pinned on every host: MLAS's kernels (opsets 7-18) add
    # columns then rows with vertical vector adds only; opset 19+ adds one window row-major.
    if p >= k:
        p = 0
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2, 7, 6)).astype(np.float32)
    pads = (p, p, p, p)
    y = max_pool2d(x, kernel_shape=(k, k), strides=(s, s), pads=pads, dilations=(d, d))
    (ref,) = run_node("MaxPool", [("x", x)], opset=12, kernel_shape=[k, k], strides=[s, s],
                      pads=list(pads), dilations=[d, d])
    assert np.array_equal(y, ref)  # max is exact
    for cip in (0, 1):
        for opset, order in ((11, "mlas"), (19, "rowmajor")):
            ya = avg_pool2d(x, kernel_shape=(k, k), strides=(s, s), pads=pads,
                            count_include_pad=bool(cip), order=order)
            (ra,) = run_node("AveragePool", [("x", x)], opset=opset, kernel_shape=[k, k],
                             strides=[s, s], pads=list(pads), count_include_pad=cip)
            assert np.array_equal(ya, ra), (opset, order)
            y64 = avg_pool2d(x, kernel_shape=(k, k), strides=(s, s), pads=pads,
                             count_include_pad=bool(cip), order=order, precision="float64")
            mag = avg_pool2d(np.abs(x), kernel_shape=(k, k), strides=(s, s), pads=pads,
                             count_include_pad=bool(cip), precision="float64")
            assert np.all(np.abs(ya - y64) <= (k * k + 1) * F32_EPS * mag)


def test_avg_pool_kernel_paths_vs_onnxruntime():
    # every MLAS path (vector kernel: width stride <= 2; generic: larger strides; global:
    # kernel == image) and the row-major opset-19 order, on enough elements to see the order
    rng = np.random.default_rng(7)
    counts = {}
    for k, st_, p in [(3, 1, 1), (3, 2, 1), (2, 2, 0), (5, 3, 2), (7, 1, 3), (3, 3, 0),
                      (2, 1, 1), (32, 1, 0), (33, 1, 0)]:
        x = (rng.standard_normal((2, 8, 40, 37)) * 100).astype(np.float32)
        for opset, order in ((11, "mlas"), (19, "rowmajor")):
            for cip in (0, 1):
                ya = avg_pool2d(x, kernel_shape=(k, k), strides=(st_, st_), pads=(p,) * 4,
                                count_include_pad=bool(cip), order=order)
                (ra,) = run_node("AveragePool", [("x", x)], opset=opset, kernel_shape=[k, k],
                                 strides=[st_, st_], pads=[p] * 4, count_include_pad=cip)
                assert np.array_equal(ya, ra), (k, st_, p, opset, cip)
                counts[order] = counts.get(order, 0) + ya.size
    print(f"AveragePool elements equal to onnxruntime: {counts}")
    assert min(counts.values()) >= 100_000


def test_global_avg_pool_vs_onnxruntime():
    # MLAS's global kernel sums 4 lanes and combines them (l0 + l2) + (l1 + l3) on x86;
    # aarch64 combines (l0 + l1) + (l2 + l3), a possible ulp apart.
    rng = np.random.default_rng(6)
    total = 0
    for shape in [(2, 3, 7, 9), (4, 64, 14, 14), (2, 40, 1, 3), (1, 960, 7, 7)]:
        x = (rng.standard_normal(shape) * 10).astype(np.float32)
        (ref,) = run_node("GlobalAveragePool", [("x", x)], opset=1)
        y = global_avg_pool2d(x)
        (ra,) = run_node("AveragePool", [("x", x)], opset=11, kernel_shape=list(shape[2:]))
        assert np.array_equal(avg_pool2d(x, kernel_shape=shape[2:], strides=(1, 1)), y)
        y64 = global_avg_pool2d(x, precision="float64")
        mag = global_avg_pool2d(np.abs(x), precision="float64")
        assert np.all(np.abs(y - y64) <= (shape[2] * shape[3]) * F32_EPS * mag)
        if X86_64:
            assert np.array_equal(y, ref) and np.array_equal(y, ra)
        else:
            assert np.all(np.abs(y - ref) <= 4 * F32_EPS * mag)
        total += y.size
    assert total >= 1000
    with pytest.raises(ValueError, match="pads="):
        max_pool2d(x, kernel_shape=(2, 2), pads=(2, 0, 0, 0))


def test_elementwise_and_movement():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.5, -2.0, 0.25], np.float32)
    assert np.array_equal(add(a, b), a + b) and np.array_equal(mul(a, b), a * b)
    with pytest.raises(ValueError, match="broadcastable"):
        add(a, np.ones(4))
    c = concat([a, a * 2], axis=0)
    assert c.shape == (4, 3) and np.array_equal(c[2:], a * 2)
    with pytest.raises(TypeError, match="one dtype"):
        concat([a, a.astype(np.int8)])
    x = np.arange(8, dtype=np.int8).reshape(1, 2, 2, 2)
    u = upsample_nearest(x, scale=2)
    (ref,) = run_node("Resize", [("x", x.astype(np.float32)),
                                 ("roi", np.zeros(0, np.float32)),
                                 ("scales", np.array([1, 1, 2, 2], np.float32))],
                      opset=13, mode="nearest")
    assert u.dtype == np.int8 and np.array_equal(u, ref.astype(np.int8))
    with pytest.raises(ValueError, match="scale must be >= 1, got 0"):
        upsample_nearest(x, scale=0)

"""conv2d_int and matmul_int against a direct loop (the module docstring's loop) in int64."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.conv_int import conv2d_int
from reference.matmul_int import exact_dot_dtype, matmul_int
from reference.packing import pack_int4


def direct_conv(x, w, xz, wz, bias, s, p, d, g):
    """Plain int64 loop over output channels and taps: the contract, written out."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.full((n, c, h + p[0] + p[2], wd + p[1] + p[3]), xz, np.int64)
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + wd] = x
    oh = (h + p[0] + p[2] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (wd + p[1] + p[3] - d[1] * (kw - 1) - 1) // s[1] + 1
    wz = np.broadcast_to(np.asarray(wz, np.int64), (o,))
    y = np.zeros((n, o, oh, ow), np.int64)
    for oc in range(o):
        gi = oc // (o // g)
        for i in range(kh):
            for j in range(kw):
                xs = xp[:, gi * cg:(gi + 1) * cg, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
                        j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]] - xz
                y[:, oc] += np.einsum("nchw,c->nhw", xs, w[oc, :, i, j].astype(np.int64) - wz[oc])
    if bias is not None:
        y += bias.astype(np.int64)[None, :, None, None]
    return ((y + 2**31) % 2**32 - 2**31).astype(np.int32)


@st.composite
def conv_cases(draw):
    g = draw(st.sampled_from([1, 2, 3]))
    cg = draw(st.integers(1, 3))
    og = draw(st.integers(1, 5))
    xdt = draw(st.sampled_from([np.int8, np.uint8]))
    wdt = draw(st.sampled_from([np.int8, np.uint8]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(d[0] * (kh - 1) + 1, 8))
    w_ = draw(st.integers(d[1] * (kw - 1) + 1, 8))
    xi, wi = np.iinfo(xdt), np.iinfo(wdt)
    extreme = draw(st.booleans())
    if extreme:  # all values at the type's ends: largest products, zero points at the ends
        x = rng.choice([xi.min, xi.max], (2, g * cg, h, w_)).astype(xdt)
        w = rng.choice([wi.min, wi.max], (g * og, cg, kh, kw)).astype(wdt)
    else:
        x = rng.integers(xi.min, xi.max + 1, (2, g * cg, h, w_)).astype(xdt)
        w = rng.integers(wi.min, wi.max + 1, (g * og, cg, kh, kw)).astype(wdt)
    xz = draw(st.sampled_from([xi.min, xi.max, 0 if xi.min < 0 else 128]))
    wz = rng.integers(wi.min, wi.max + 1, g * og).astype(wdt) if draw(st.booleans()) else 0
    bias = rng.integers(-2**31, 2**31, g * og).astype(np.int32) if draw(st.booleans()) else None
    return x, w, xz, wz, bias, s, p, d, g


@given(conv_cases())
def test_conv2d_int_matches_direct_loop(case):
    x, w, xz, wz, bias, s, p, d, g = case
    got = conv2d_int(x, w, x_zero_point=xz, w_zero_point=wz, bias=bias, strides=s, pads=p,
                     dilations=d, groups=g)
    assert got.dtype == np.int32
    assert np.array_equal(got, direct_conv(x, w, xz, wz, bias, s, p, d, g))


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_with_channel_multiplier(multiplier):
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (1, 12, 9, 9)).astype(np.int8)
    w = rng.integers(-8, 8, (12 * multiplier, 1, 3, 3)).astype(np.int8)
    got = conv2d_int(x, w, x_zero_point=-3, pads=(1, 1, 1, 1), strides=(2, 2), groups=12)
    assert np.array_equal(got, direct_conv(x, w, -3, 0, None, (2, 2), (1, 1, 1, 1), (1, 1), 12))


def test_conv_packed_int4_weights_equal_unpacked():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (1, 5, 6, 6)).astype(np.uint8)
    w = rng.integers(-8, 8, (3, 5, 3, 3)).astype(np.int8)  # 135 values: odd count
    packed = pack_int4(w)
    got = conv2d_int(x, packed, x_zero_point=7, w_int4_shape=w.shape)
    assert np.array_equal(got, conv2d_int(x, w, x_zero_point=7))
    assert np.array_equal(got, direct_conv(x, w, 7, 0, None, (1, 1), (0,) * 4, (1, 1), 1))


def test_conv_int32_wraps_like_onnx():
    # 1x1 conv over 2048 channels of 255 * 255: sum 133_171_200; bias pushes it past 2**31.
    x = np.full((1, 2048, 1, 1), 255, np.uint8)
    w = np.full((1, 2048, 1, 1), 255, np.uint8)
    bias = np.array([2**31 - 1], np.int32)
    got = conv2d_int(x, w, bias=bias)
    assert int(got[0, 0, 0, 0]) == 2048 * 255 * 255 + 2**31 - 1 - 2**32


def test_float32_bound_fallback_is_exact():
    # K * 255 * 255 > 2**24 forces float64; > 2**53 would force int64.
    assert exact_dot_dtype(258, 255, 255) == np.float32
    assert exact_dot_dtype(259, 255, 255) == np.float64
    assert exact_dot_dtype(2**38, 255, 255) == np.int64
    rng = np.random.default_rng(5)
    a = rng.choice([0, 255], (3, 4096)).astype(np.uint8)
    b = rng.choice([0, 255], (4096, 2)).astype(np.uint8)
    want = a.astype(np.int64) @ b.astype(np.int64) - 0
    assert np.array_equal(matmul_int(a, b), want.astype(np.int32))


@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 40), st.integers(1, 6),
       st.booleans(), st.booleans())
def test_matmul_int_matches_int64(seed, m, k, n, per_row, per_col):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (m, k)).astype(np.uint8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    az = rng.integers(0, 256, m).astype(np.uint8) if per_row else np.uint8(255)
    bz = rng.integers(-128, 128, n).astype(np.int8) if per_col else np.int8(-128)
    want = (a.astype(np.int64) - np.asarray(az, np.int64).reshape(-1, 1)) @ \
        (b.astype(np.int64) - np.asarray(bz, np.int64))
    assert np.array_equal(matmul_int(a, b, a_zero_point=az, b_zero_point=bz),
                          want.astype(np.int32))

"""Zero-block skipping == dense, bit for bit; bitmaps checked against a loop definition."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.conv_int import conv2d_int
from reference.matmul_int import matmul_int
from reference.zeroskip import skip_conv2d_int, skip_matmul_int, zero_block_bitmap


def _sparse(rng, shape, dtype, zp, density):
    info = np.iinfo(dtype)
    v = rng.integers(info.min, info.max + 1, shape).astype(dtype)
    # zero out random rectangles so whole blocks (and partial ones) become zero
    keep = rng.random(shape) < density
    return np.where(keep, v, np.asarray(zp, dtype)).astype(dtype)


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 4),
       st.integers(1, 4), st.integers(1, 4), st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       st.sampled_from(["int8", "uint8"]), st.integers(0, 2**16))
def test_skip_matmul_bit_identical(m, k, n, bm, bk, bn, density, dtype, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    azp = int(rng.integers(info.min, info.max + 1))
    bzp = rng.integers(-128, 128, n).astype(np.int8)
    a = _sparse(rng, (m, k), dtype, azp, density)
    b = np.where(rng.random((k, n)) < density, rng.integers(-128, 128, (k, n)),
                 bzp[None, :]).astype(np.int8)
    y, rec = skip_matmul_int(a, b, a_zero_point=azp, b_zero_point=bzp, a_block=(bm, bk),
                             b_block=(bk, bn))
    assert np.array_equal(y, matmul_int(a, b, a_zero_point=azp, b_zero_point=bzp))
    assert rec.macs_dense == m * k * n and rec.macs_done + rec.macs_skipped == rec.macs_dense
    if density == 0.0:
        assert rec.macs_done == 0 and not y.any()
    if density == 1.0 and not rec.a_bitmap.any() and not rec.b_bitmap.any():
        assert rec.macs_skipped == 0


def test_bitmap_matches_loop_definition():
    rng = np.random.default_rng(0)
    x = np.where(rng.random((5, 7)) < 0.3, 3, 2).astype(np.int8)
    x[:2, :3] = 2
    bm = zero_block_bitmap(x, (2, 3), zero_point=2)
    assert bm.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            assert bm[i, j] == bool(np.all(x[2 * i:2 * i + 2, 3 * j:3 * j + 3] == 2))
    assert bm[0, 0]
    with pytest.raises(ValueError, match="block"):
        zero_block_bitmap(x, (2, 0))
    with pytest.raises(ValueError, match="block must have 2 entries"):
        zero_block_bitmap(x, (2,))


def test_skip_matmul_hand_count():
    a = np.zeros((4, 4), np.int8)
    a[2:, 2:] = 1                       # one non-zero 2x2 block of four
    b = np.ones((4, 3), np.int8)
    y, rec = skip_matmul_int(a, b, a_block=(2, 2), b_block=(2, 3))
    assert rec.a_blocks_zero == 3 and rec.macs_done == 2 * 2 * 3 and rec.macs_dense == 48
    assert np.array_equal(y, a.astype(np.int32) @ b.astype(np.int32))
    with pytest.raises(ValueError, match="line up"):
        skip_matmul_int(a, b, a_block=(2, 2), b_block=(4, 3))
    with pytest.raises(ValueError, match="a.shape\\[1\\] == b.shape\\[0\\]"):
        skip_matmul_int(a, b[:3])


conv_case = st.tuples(
    st.integers(1, 2), st.integers(1, 2),            # groups, channel block
    st.integers(1, 3), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2),  # k, s, d, pad
    st.integers(1, 8), st.integers(1, 8),            # H, W (1x1 maps included)
    st.integers(1, 4), st.integers(1, 3),            # spatial block, weight o-block
    st.sampled_from([0.0, 0.2, 0.7, 1.0]), st.integers(0, 2**16))


@given(conv_case)
def test_skip_conv_bit_identical(case):
    g, bc, k, s, d, p, h, w, bs, bo, density, seed = case
    if h + 2 * p < d * (k - 1) + 1 or w + 2 * p < d * (k - 1) + 1:
        return
    rng = np.random.default_rng(seed)
    x = _sparse(rng, (2, 2 * g, h, w), np.uint8, 7, density)
    wt = _sparse(rng, (3 * g, 2, k, k), np.int8, 0, max(density, 0.3))
    bias = rng.integers(-500, 500, 3 * g).astype(np.int32)
    geo = dict(strides=(s, s), pads=(p, p, p, p), dilations=(d, d), groups=g)
    y, rec = skip_conv2d_int(x, wt, x_zero_point=7, bias=bias, x_block=(bc, bs, bs),
                             w_block=(bo, bc), **geo)
    assert np.array_equal(y, conv2d_int(x, wt, x_zero_point=7, bias=bias, **geo))
    assert rec.macs_done + rec.macs_skipped == rec.macs_dense
    if density == 0.0:
        assert rec.macs_done == 0 and np.array_equal(y, np.broadcast_to(
            bias[None, :, None, None], y.shape))


def test_skip_conv_all_zero_and_errors():
    x = np.zeros((1, 4, 6, 6), np.int8)
    w = np.ones((2, 4, 3, 3), np.int8)
    y, rec = skip_conv2d_int(x, w)
    assert not y.any() and rec.macs_done == 0 and rec.a_bitmap.all()
    with pytest.raises(ValueError, match="channel blocks"):
        skip_conv2d_int(x, w, x_block=(4, 2, 2), w_block=(1, 2))
    with pytest.raises(ValueError, match="x_zero_point"):
        skip_conv2d_int(x, w, x_zero_point=300)

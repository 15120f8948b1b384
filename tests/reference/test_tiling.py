"""Tiled conv == untiled conv bit for bit; access model hand checks and the C7 comparison."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.conv_float import conv2d_float
from reference.conv_int import conv2d_int
from reference.tiling import (
    AccessCounts,
    BufferSizes,
    ConvShape,
    conv_access_counts,
    network_access_counts,
    resnet50_conv_shapes,
    tiled_conv2d_float,
    tiled_conv2d_int,
)

geometry = st.tuples(
    st.integers(1, 2),                     # groups
    st.integers(1, 3), st.integers(1, 3),  # kh, kw
    st.integers(1, 3), st.integers(1, 2),  # stride h, w
    st.integers(1, 2),                     # dilation
    st.tuples(*[st.integers(0, 2)] * 4),   # pads
    st.integers(3, 11), st.integers(3, 11),  # H, W (odd sizes included)
    st.integers(1, 5), st.integers(1, 5),  # tile
    st.integers(0, 2**16),
)


@given(geometry, st.sampled_from(["int8", "uint8"]))
def test_tiled_int_conv_bit_identical(case, dtype):
    g, kh, kw, sh, sw, d, pads, h, w, th, tw, seed = case
    if h + pads[0] + pads[2] < d * (kh - 1) + 1 or w + pads[1] + pads[3] < d * (kw - 1) + 1:
        return
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max + 1, (2, 2 * g, h, w)).astype(dtype)
    wt = rng.integers(-128, 128, (3 * g, 2, kh, kw)).astype(np.int8)
    zp = int(rng.integers(info.min, info.max + 1))
    bias = rng.integers(-1000, 1000, 3 * g).astype(np.int32)
    kw_args = dict(x_zero_point=zp, bias=bias, strides=(sh, sw), pads=pads, dilations=(d, d),
                   groups=g)
    y, rec = tiled_conv2d_int(x, wt, tile=(th, tw), min_map=(1, 1), **kw_args)
    assert y.dtype == np.int32
    assert np.array_equal(y, conv2d_int(x, wt, **kw_args))
    assert rec.tiled and rec.macs_done == rec.macs_dense and rec.macs_skipped == 0
    assert rec.grid == (-(-y.shape[2] // th), -(-y.shape[3] // tw))


@given(geometry)
def test_tiled_float_conv_bit_identical(case):
    g, kh, kw, sh, sw, d, pads, h, w, th, tw, seed = case
    if h + pads[0] + pads[2] < d * (kh - 1) + 1 or w + pads[1] + pads[3] < d * (kw - 1) + 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2 * g, h, w)).astype(np.float32)
    wt = rng.standard_normal((2 * g, 2, kh, kw)).astype(np.float32)
    kw_args = dict(strides=(sh, sw), pads=pads, dilations=(d, d), groups=g)
    y, _ = tiled_conv2d_float(x, wt, tile=(th, tw), min_map=(1, 1), **kw_args)
    assert np.array_equal(y, conv2d_float(x, wt, **kw_args))


def test_threshold_tile_larger_than_map_and_1x1():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 3, 16, 16)).astype(np.int8)
    w = rng.integers(-8, 8, (4, 3, 3, 3)).astype(np.int8)
    y, rec = tiled_conv2d_int(x, w, pads=(1, 1, 1, 1))          # 16x16 >= threshold: tiled 4x4
    assert rec.tiled and rec.grid == (4, 4) and rec.tile == (4, 4)
    assert np.array_equal(y, conv2d_int(x, w, pads=(1, 1, 1, 1)))
    # halo: each 4x4 tile reads up to 6x6 in-image inputs: 4 corner 5x5, 8 edge 5x6, 4 inner 6x6
    assert rec.input_elements_read == 3 * (4 * 25 + 8 * 30 + 4 * 36)
    small, rec_small = tiled_conv2d_int(x[:, :, :15, :], w)     # 15x16 below threshold
    assert not rec_small.tiled and np.array_equal(small, conv2d_int(x[:, :, :15, :], w))
    big, rec_big = tiled_conv2d_int(x, w, tile=(64, 64))        # tile larger than the map
    assert rec_big.grid == (1, 1) and np.array_equal(big, conv2d_int(x, w))
    one = x[:, :, :1, :1]
    y1, _ = tiled_conv2d_int(one, w[:, :, :1, :1], min_map=(1, 1))
    assert np.array_equal(y1, conv2d_int(one, w[:, :, :1, :1]))
    zero = np.zeros_like(x)
    yz, _ = tiled_conv2d_int(zero, w, pads=(1, 1, 1, 1))
    assert not yz.any()


def test_tiled_bad_input():
    x = np.zeros((1, 2, 16, 16), np.int8)
    w = np.zeros((2, 2, 3, 3), np.int8)
    with pytest.raises(ValueError, match="tile"):
        tiled_conv2d_int(x, w, tile=(0, 4))
    with pytest.raises(TypeError, match="min_map"):
        tiled_conv2d_int(x, w, min_map="big")
    with pytest.raises(TypeError):
        tiled_conv2d_int(x.astype(np.float32), w)


def test_access_model_hand_example():
    # 8x8 input, 2 -> 3 channels, 3x3 pad 1, everything fits: tiled 4x4 reads every 4x4 tile's
    # 5x5 in-image window (corner tiles of an 8x8 map with pad 1): 4 tiles * 25 * 2 channels.
    layer = ConvShape("t", 2, 8, 8, 3, 3, 1, 1)
    big = BufferSizes(10**6, 10**6, 10**6)
    t = conv_access_counts(layer, big, tile=(4, 4), min_map=(1, 1))
    u = conv_access_counts(layer, big, tile=None)
    assert t == AccessCounts(4 * 25 * 2, 54, 0, 0, 8 * 8 * 3)
    assert u == AccessCounts(8 * 8 * 2, 54, 0, 0, 8 * 8 * 3)
    # accumulators for one output channel of the 8x8 map and an input buffer smaller than the
    # input: untiled re-reads the input for
    # each of the 3 output-channel blocks.
    tight = BufferSizes(64, 10**6, 64)
    assert conv_access_counts(layer, tight, tile=None).input_reads == 3 * 128
    # psum spill: 8x8 map, accumulators for 32 positions, input buffer for one channel plane.
    spill = BufferSizes(64, 10**6, 32)
    s = conv_access_counts(layer, spill, tile=None)
    assert s.psum_reads == s.psum_writes == (2 - 1) * 64 * 3


def test_resnet50_table_and_c7_comparison():
    layers = resnet50_conv_shapes()
    assert sum(la.count for la in layers) == 53
    macs = sum(la.count * la.c_in * la.c_out * la.k ** 2 * la.out_hw[0] * la.out_hw[1]
               for la in layers)
    assert 4.0e9 < macs < 4.2e9  # ResNet-50's well-known ~4.1 GMACs (convs only)
    for buffers in (BufferSizes(), BufferSizes(128 * 1024, 512 * 1024, 64 * 1024)):
        tiled = network_access_counts(layers, buffers)
        untiled = network_access_counts(layers, buffers, tile=None)
        assert tiled.output_writes == untiled.output_writes
        assert tiled.total < untiled.total


def test_tile_window_wholly_in_padding_regression():
    # Found by hypothesis: pads=(0, 0, 0, 2) on a 3x3 map with 1x1 tiles makes the last
    # output columns read only padding; their tile gets an empty input slice.
    x = np.arange(9, dtype=np.int8).reshape(1, 1, 3, 3)
    w = np.full((1, 1, 1, 1), 3, np.int8)
    kw = dict(x_zero_point=2, bias=np.int32([5]), pads=(0, 0, 0, 2))
    y, _ = tiled_conv2d_int(x, w, tile=(1, 1), min_map=(1, 1), **kw)
    assert np.array_equal(y, conv2d_int(x, w, **kw))
    assert np.array_equal(y[0, 0, :, 3:], np.full((3, 2), 5))  # padding columns: bias only


@given(st.integers(3, 20), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1),
       st.integers(1, 6))
def test_access_model_input_reads_match_executed_tiling(h, k, s, p, t):
    # With buffers large enough that nothing is re-read, the model's input reads are exactly
    # the in-image window elements the executed tiled conv slices out.
    if h + 2 * p < k:
        return
    layer = ConvShape("x", 2, h, h, 3, k, s, p)
    big = BufferSizes(10**6, 10**6, 10**6)
    model = conv_access_counts(layer, big, tile=(t, t), min_map=(1, 1))
    x = np.zeros((1, 2, h, h), np.int8)
    _, rec = tiled_conv2d_int(x, np.zeros((3, 2, k, k), np.int8), strides=(s, s),
                              pads=(p,) * 4, tile=(t, t), min_map=(1, 1))
    assert model.input_reads == rec.input_elements_read

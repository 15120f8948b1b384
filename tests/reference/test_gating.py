"""Gated conv == dense conv of the masked input; gating strategies; the seed's base module."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.conv_float import conv2d_float
from reference.conv_int import conv2d_int
from reference.gating import (
    ChannelGate,
    GatingUnit,
    SpatialGate,
    TopKChannelGate,
    apply_mask,
    base_module_float,
    base_module_int,
    gated_conv2d_float,
    gated_conv2d_int,
)
from reference.requantize import requantize

case = st.tuples(
    st.sampled_from(["channel", "spatial"]), st.integers(1, 2),      # kind, groups
    st.integers(1, 3), st.integers(1, 2), st.integers(0, 1),          # k, stride, pad
    st.integers(1, 7), st.integers(1, 7),                             # H, W
    st.sampled_from([0.0, 0.3, 0.8, 1.0]), st.integers(0, 2**16))


@given(case)
def test_gated_int_conv_equals_dense_on_masked_input(c):
    kind, g, k, s, p, h, w, keep, seed = c
    if h + 2 * p < k or w + 2 * p < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (2, 3 * g, h, w)).astype(np.int8)
    wt = rng.integers(-128, 128, (2 * g, 3, k, k)).astype(np.int8)
    bias = rng.integers(-2**20, 2**20, 2 * g).astype(np.int32)
    mshape = (2, 3 * g) if kind == "channel" else (2, h, w)
    mask = rng.random(mshape) < keep
    geo = dict(strides=(s, s), pads=(p, p, p, p), groups=g)
    y, rec = gated_conv2d_int(x, wt, mask, kind=kind, x_zero_point=-5, bias=bias, **geo)
    dense = conv2d_int(apply_mask(x, mask, kind=kind, fill=-5), wt, x_zero_point=-5, bias=bias,
                       **geo)
    assert np.array_equal(y, dense)
    assert rec.macs_done + rec.macs_skipped == rec.macs_dense
    assert np.array_equal(rec.mask, mask)
    if keep == 0.0:  # fully gated layer: bias only; nothing computed but padding taps
        assert np.array_equal(y, np.broadcast_to(bias[None, :, None, None], y.shape))
        assert rec.macs_done == 0 or (kind == "spatial" and p > 0)
    per_operand = rec.macs_dense // (2 * 3 * g)  # MACs fed by one (sample, channel) if no pad
    if kind == "channel":
        assert rec.macs_done == int(mask.sum()) * per_operand
    if kind == "spatial" and p == 0 and s == 1 and k == 1:  # 1x1: each pixel read once per o, c
        assert rec.macs_done == int(mask.sum()) * 2 * g * 3


@given(case)
def test_gated_float_conv_equals_dense_on_masked_input(c):
    kind, g, k, s, p, h, w, keep, seed = c
    if h + 2 * p < k or w + 2 * p < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3 * g, h, w)).astype(np.float32)
    wt = rng.standard_normal((2 * g, 3, k, k)).astype(np.float32)
    mask = rng.random((2, 3 * g) if kind == "channel" else (2, h, w)) < keep
    geo = dict(strides=(s, s), pads=(p, p, p, p), groups=g)
    y, rec = gated_conv2d_float(x, wt, mask, kind=kind, **geo)
    assert np.array_equal(y, conv2d_float(apply_mask(x, mask, kind=kind), wt, **geo))
    yi, reci = gated_conv2d_int(np.zeros(x.shape, np.int8), np.zeros(wt.shape, np.int8), mask,
                                kind=kind, **geo)
    assert rec.macs_done == reci.macs_done  # float and integer paths count the same work


def test_channel_gate_float_and_integer_paths():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 5)).astype(np.float32)
    wg = rng.standard_normal((4, 4)).astype(np.float32)
    bg = rng.standard_normal(4).astype(np.float32)
    gate = ChannelGate(wg, bg, threshold=0.1)
    m = gate.decide(x)
    gap = x.astype(np.float64).mean(axis=(2, 3))
    assert np.array_equal(m, gap @ wg.T.astype(np.float64) + bg > 0.1)
    # integer path on the quantized map: exact integer rule recomputed independently
    scale = 0.05
    q = np.clip(np.rint(x / scale), -128, 127).astype(np.int8)
    mi = gate.decide_int(q, scale=scale, zero_point=0)
    wscale = np.abs(wg).max() / 127
    wq = np.rint(wg / wscale).astype(np.int64)
    sums = q.astype(np.int64).sum(axis=(2, 3))
    bq = np.rint(bg.astype(np.float64) / (scale * wscale)).astype(np.int64)
    tq = int(np.rint(0.1 / (scale * wscale)))
    assert np.array_equal(mi, sums @ wq.T + 25 * bq > 25 * tq)
    assert (mi == m).mean() >= 0.9  # quantized decision agrees on nearly all channels
    with pytest.raises(ValueError, match="expects 4"):
        gate.decide(x[:, :3])


def test_topk_and_spatial_gates():
    x = np.zeros((2, 4, 2, 2), np.float32)
    x[0, 2] = 5
    x[0, 0] = 1
    x[1, 1] = 3
    x[1, 3] = 3                                # tie: lower index first
    x[1, 0] = 3
    m = TopKChannelGate(2).decide(x)
    assert m.tolist() == [[True, False, True, False], [True, True, False, False]]
    assert np.array_equal(TopKChannelGate(2).decide_int(x.astype(np.int8), scale=1.0), m)
    with pytest.raises(ValueError, match="k=5"):
        TopKChannelGate(5).decide(x)
    sg = SpatialGate(np.array([1, 0, 0, 0], np.float32), 0.0, threshold=0.5)
    assert np.array_equal(sg.decide(x), x[:, 0] > 0.5)
    assert np.array_equal(sg.decide_int(x.astype(np.int8), scale=1.0), x[:, 0] > 0.5)
    assert isinstance(sg, GatingUnit) and sg.kind == "spatial"


def test_mask_errors():
    x = np.zeros((1, 2, 3, 3), np.int8)
    w = np.zeros((2, 2, 1, 1), np.int8)
    with pytest.raises(TypeError, match="mask has dtype"):
        gated_conv2d_int(x, w, np.ones((1, 2), np.int8))
    with pytest.raises(ValueError, match="mask has shape"):
        gated_conv2d_int(x, w, np.ones((1, 3), bool))
    with pytest.raises(ValueError, match="kind="):
        gated_conv2d_int(x, w, np.ones((1, 2), bool), kind="pixel")


@pytest.mark.parametrize("gate_kind", ["channel", "topk", "spatial"])
def test_base_module_int_and_float(gate_kind):
    rng = np.random.default_rng(1)
    cin, cout = 4, 8
    x = rng.integers(-128, 128, (2, cin, 6, 6)).astype(np.int8)
    w1 = rng.integers(-8, 8, (cout // 2, cin, 3, 3)).astype(np.int8)   # int4 weights
    w2 = rng.integers(-8, 8, (cout, cout // 2, 1, 1)).astype(np.int8)
    gate = {"channel": ChannelGate(rng.standard_normal((4, 4)), rng.standard_normal(4)),
            "topk": TopKChannelGate(2),
            "spatial": SpatialGate(rng.standard_normal(4), 0.1)}[gate_kind]
    y, rec = base_module_int(x, w1, w2, gate, x_scale=0.02, w1_scale=0.1, h_scale=0.2)
    h = requantize(conv2d_int(x, w1, pads=(1, 1, 1, 1)), 0.02, 0.1, 0.2)
    mask = gate.decide_int(h, scale=0.2)
    assert np.array_equal(rec.mask, mask)
    assert np.array_equal(y, conv2d_int(apply_mask(h, mask, kind=gate.kind), w2))
    assert rec.macs_dense == 2 * 4 * 36 * 4 * 9 + 2 * 8 * 36 * 4
    assert rec.macs_skipped == rec.conv2.macs_skipped and rec.macs_done < rec.macs_dense or \
        mask.all()
    if gate_kind == "topk":
        assert rec.conv2.macs_done == rec.conv2.macs_dense // 2
    yf, recf = base_module_float(x.astype(np.float32) * 0.02, w1.astype(np.float32) * 0.1,
                                 w2.astype(np.float32), gate)
    assert yf.shape == y.shape and recf.macs_dense == rec.macs_dense
    with pytest.raises(ValueError, match="w1 has shape"):
        base_module_float(x.astype(np.float32), w2, w2, gate)


def test_spatial_gate_grouped_regression():
    # Found by hypothesis: spatial masks with groups=2 need one channel block per group.
    x = np.int8([[[[3]], [[-4]], [[5]], [[6]]]])            # 1x4x1x1
    w = np.int8([[[[2]], [[1]]], [[[1]], [[-1]]]])          # 2x2x1x1, groups=2
    for keep in (True, False):
        mask = np.array([[[keep]]])
        y, rec = gated_conv2d_int(x, w, mask, kind="spatial", groups=2)
        dense = conv2d_int(apply_mask(x, mask, kind="spatial"), w, groups=2)
        assert np.array_equal(y, dense)
        assert rec.macs_done == (4 if keep else 0) and rec.macs_dense == 4


@pytest.mark.parametrize("kind", ["channel", "spatial"])
def test_gated_uint8_with_per_channel_weight_zero_points(kind):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (2, 4, 5, 5)).astype(np.uint8)
    w = rng.integers(0, 256, (4, 2, 3, 3)).astype(np.uint8)
    wzp = np.array([3, 100, 7, 255], np.uint8)
    mask = rng.random((2, 4) if kind == "channel" else (2, 5, 5)) < 0.5
    geo = dict(x_zero_point=17, w_zero_point=wzp, groups=2, pads=(1, 1, 1, 1))
    y, _ = gated_conv2d_int(x, w, mask, kind=kind, **geo)
    assert np.array_equal(y, conv2d_int(apply_mask(x, mask, kind=kind, fill=17), w, **geo))

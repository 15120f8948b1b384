"""quantize / dequantize against the contract written independently (float64 arithmetic that
provably rounds like float32, Python's round-half-even), plus per-axis/blocked consistency."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reference.dtypes import QTYPES, qrange, storage_dtype
from reference.quantize import dequantize, quantize

DTYPES = list(QTYPES)


def expected_quantize(x, scale, zp, dtype, half_even=True):
    """fl32(x / s) via float64 (a float64 quotient of float32s rounds to the correctly rounded
    float32: 53 >= 2*24 + 2), then round, + zp, saturate; elementwise in Python."""
    lo, hi = qrange(dtype)
    out = []
    for xi, si, zi in zip(*np.broadcast_arrays(x, scale, zp)):
        v = float(np.float32(np.float64(xi) / np.float64(si)))
        if np.isinf(v):
            r = hi if v > 0 else lo
        else:
            r = round(v) if half_even else int(np.sign(v) * np.floor(abs(v) + 0.5))
            r = min(max(r + int(zi), lo), hi)
        out.append(r)
    return np.array(out, dtype=np.int64)


scales = st.floats(1e-8, 1e6, allow_subnormal=False).map(np.float32).filter(lambda s: s > 0)


@st.composite
def quant_inputs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    lo, hi = qrange(dtype)
    scale = draw(scales)
    zp = draw(st.sampled_from([lo, hi, 0 if lo < 0 else (lo + hi + 1) // 2])
              | st.integers(lo, hi))
    n = draw(st.integers(1, 40))
    ties = [float(np.float32((k + 0.5) * np.float64(scale)))
            for k in draw(st.lists(st.integers(-300, 300), min_size=n, max_size=n))]
    free = draw(arrays(np.float32, n, elements=st.floats(-2.0**100, 2.0**100, width=32, allow_nan=False)
                       | st.sampled_from([0.0, -0.0, np.inf, -np.inf])))
    x = np.where(draw(arrays(np.bool_, n)), np.array(ties, np.float32), free).astype(np.float32)
    return x, scale, zp, dtype


@given(quant_inputs())
def test_quantize_matches_contract(case):
    x, scale, zp, dtype = case
    got = quantize(x, scale, zp, dtype=dtype)
    assert got.dtype == storage_dtype(dtype)
    assert np.array_equal(got.astype(np.int64), expected_quantize(x, scale, zp, dtype))


@given(quant_inputs())
def test_quantize_half_away_matches_contract(case):
    x, scale, zp, dtype = case
    got = quantize(x, scale, zp, dtype=dtype, rounding="half_away")
    assert np.array_equal(got.astype(np.int64),
                          expected_quantize(x, scale, zp, dtype, half_even=False))


def test_exact_ties_round_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], np.float32)
    assert quantize(x, 1.0).tolist() == [0, 2, 2, 0, -2, -2]
    assert quantize(x, 1.0, rounding="half_away").tolist() == [1, 2, 3, -1, -2, -3]
    # the zero point is added after rounding: 0.5 -> 0, + 1 -> 1 (not round(1.5) = 2)
    assert quantize(np.array([0.5], np.float32), 1.0, np.uint8(1), dtype="uint8").tolist() == [1]


def test_division_not_reciprocal_multiply():
    # fl32(96.16468 / 0.6105694) = 157.5 exactly, a tie that rounds to 158; multiplying by
    # fl32(1 / 0.6105694) instead gives 157.49998 -> 157 (found by a random search).
    x, s = np.float32(96.16468), np.float32(0.6105694)
    assert np.float32(x / s) == np.float32(157.5)
    assert np.rint(x * np.float32(1 / s)) == 157
    assert quantize(np.array([x]), s, dtype="int16").tolist() == [158]


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturation_and_infinities(dtype):
    lo, hi = qrange(dtype)
    x = np.array([np.inf, -np.inf, 1e30, -1e30, 3e9, -3e9], np.float32)
    assert quantize(x, 1.0, 0 if lo < 0 else lo, dtype=dtype).tolist() == [hi, lo] * 3


def test_nan_is_rejected():
    with pytest.raises(ValueError, match="x must not contain NaN"):
        quantize(np.array([1.0, np.nan], np.float32), 1.0)


@given(st.integers(0, 2**32 - 1), st.sampled_from(DTYPES), st.integers(0, 2))
def test_per_axis_equals_per_slice(seed, dtype, axis):
    rng = np.random.default_rng(seed)
    lo, hi = qrange(dtype)
    x = (rng.normal(0, 10, (3, 4, 5)) * 10.0 ** rng.integers(-3, 3)).astype(np.float32)
    n = x.shape[axis]
    scale = (10.0 ** rng.uniform(-3, 1, n)).astype(np.float32)
    zp = rng.integers(lo, hi + 1, n).astype(storage_dtype(dtype))
    got = quantize(x, scale, zp, dtype=dtype, axis=axis)
    back = dequantize(got, scale, zp, axis=axis)
    for i in range(n):
        sl = [slice(None)] * 3
        sl[axis] = i
        assert np.array_equal(got[tuple(sl)], quantize(x[tuple(sl)], scale[i], zp[i],
                                                       dtype=dtype))
        assert np.array_equal(back[tuple(sl)], dequantize(got[tuple(sl)], scale[i], zp[i]))


@given(st.integers(0, 2**32 - 1), st.sampled_from(["int4", "uint4", "int8"]),
       st.integers(1, 9), st.integers(0, 1))
def test_blocked_equals_per_block(seed, dtype, block, axis):
    rng = np.random.default_rng(seed)
    lo, hi = qrange(dtype)
    x = rng.normal(0, 3, (7, 13)).astype(np.float32)
    nb = -(-x.shape[axis] // block)  # last block may be short
    sshape = (nb, 13) if axis == 0 else (7, nb)
    scale = (10.0 ** rng.uniform(-2, 1, sshape)).astype(np.float32)
    zp = rng.integers(lo, hi + 1, sshape).astype(storage_dtype(dtype))
    got = quantize(x, scale, zp, dtype=dtype, axis=axis, block_size=block)
    back = dequantize(got, scale, zp, axis=axis, block_size=block)
    for idx in np.ndindex(*x.shape):
        b = list(idx)
        b[axis] //= block
        b = tuple(b)
        assert got[idx] == quantize(x[idx].reshape(1), scale[b], zp[b], dtype=dtype)[0]
        assert back[idx] == np.float32((int(got[idx]) - int(zp[b])) * np.float64(scale[b]))


@given(st.sampled_from(["int8", "uint8", "int16", "uint16", "int4"]), scales,
       st.integers(0, 2**32 - 1))
def test_dequantize_is_one_float32_multiply(dtype, scale, seed):
    lo, hi = qrange(dtype)
    rng = np.random.default_rng(seed)
    q = rng.integers(lo, hi + 1, 50).astype(storage_dtype(dtype))
    zp = int(rng.integers(lo, hi + 1))
    got = dequantize(q, scale, np.array(zp, storage_dtype(dtype)))
    # (q - zp) has <= 17 bits, scale 24: the float64 product is exact, one rounding to float32
    want = ((q.astype(np.int64) - zp) * np.float64(scale)).astype(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got, want)


@given(st.sampled_from(["int8", "uint8", "int4", "uint4"]), scales, st.integers(0, 2**32 - 1))
def test_round_trip_error_is_at_most_half_a_step(dtype, scale, seed):
    lo, hi = qrange(dtype)
    rng = np.random.default_rng(seed)
    zp = int(rng.integers(lo, hi + 1))
    x = ((rng.uniform(lo - zp, hi - zp, 64)) * np.float64(scale)).astype(np.float32)
    back = dequantize(quantize(x, scale, zp, dtype=dtype), scale, zp)
    err = np.abs(back.astype(np.float64) - x.astype(np.float64))
    assert np.all(err <= 0.5 * np.float64(scale) * (1 + 1e-6) + 1e-30)


def test_all_zero_input_gives_zero_point():
    q = quantize(np.zeros((4, 4), np.float32), 0.1, np.uint8(37), dtype="uint8")
    assert np.all(q == 37)

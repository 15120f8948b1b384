"""requantize: each mode against a scalar transliteration of its runtime's C code (Python ints,
exact rationals), plus constants produced by TFLite's own converter tooling."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.dtypes import qrange
from reference.requantize import REQUANTIZE_MODES, quantize_multiplier, requantize

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def tfl_quantize_multiplier(real: float, single: bool) -> tuple[int, int]:
    """tensorflow/lite/kernels/internal/quantization_util.cc QuantizeMultiplier."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(abs(q) * 2**31 + 0.5))  # std::round, q > 0
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single and shift > 30:
        shift, q_fixed = 30, 2**31 - 1
    return q_fixed, shift


def srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def rdbpot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def scalar_requantize(acc, s_in, s_w, s_out, zp, mode, lo, hi):
    if mode in ("onnxruntime", "xnnpack"):
        # float32 ops emulated in float64: products/quotients of float32s round correctly.
        m = np.float32(np.float64(np.float32(np.float64(s_in) * np.float64(s_w)))
                       / np.float64(s_out))
        v = np.float32(np.float64(np.float32(acc)) * np.float64(m))
        r = round(float(v)) + zp
    else:
        real = float(s_in) * float(s_w) / float(s_out)
        mult, shift = tfl_quantize_multiplier(real, mode == "tflite-single")
        left, right = max(shift, 0), max(-shift, 0)
        if mode == "tflite":
            r = rdbpot(srdhm(wrap32(acc << left), mult), right) + zp
        elif mode == "tflite-single":  # round half up of the exact rational
            r = math.floor(Fraction(acc * mult, 2 ** (31 - shift)) + Fraction(1, 2)) + zp
        else:  # tflite-ruy: ruy kernel_avx2_fma.cc apply_multiplier + rounding_right_shift
            t = (wrap32(acc << left) * mult + (1 << 30)) >> 31
            nudge = (1 << (right - 1)) if right > 0 else 0
            r = (1 << (31 - right)) if t > INT32_MAX - nudge else (t + nudge) >> right
            r += zp
    return min(max(r, lo), hi)


accs = st.integers(INT32_MIN, INT32_MAX) | st.integers(-(2**20), 2**20) | st.sampled_from(
    [0, 1, -1, INT32_MIN, INT32_MAX])
f32 = st.floats(1e-6, 1e2).map(np.float32)


@pytest.mark.parametrize("mode", REQUANTIZE_MODES)
@given(data=st.data())
def test_mode_matches_scalar_transliteration(mode, data):
    dtype = data.draw(st.sampled_from(["int8", "uint8", "int16"]))
    lo, hi = qrange(dtype)
    zp = data.draw(st.sampled_from([lo, hi, 0 if lo < 0 else 128]) | st.integers(lo, hi))
    n = data.draw(st.integers(1, 8))
    acc = np.array(data.draw(st.lists(accs, min_size=n, max_size=n)), np.int32)
    s_in, s_out = data.draw(f32), data.draw(f32)
    s_w = np.array(data.draw(st.lists(f32, min_size=n, max_size=n)), np.float32)
    got = requantize(acc.reshape(1, n), s_in, s_w, s_out, zp, mode=mode, dtype=dtype, axis=1)
    want = [scalar_requantize(int(a), s_in, w, s_out, zp, mode, lo, hi)
            for a, w in zip(acc, s_w)]
    assert got.reshape(-1).tolist() == want


def test_quantize_multiplier_matches_tflite_converter_output():
    # (bias scale = input * filter, output scale, multiplier, shift) as printed by a model
    # header generated from a TFLite flatbuffer (public repository CarlYangSyna/
    # isd-pc-tp-firmware, config/nn_config.h).
    for bias_scale, out_scale, mult, shift in [
            (0.05330900102853775, 29.098173141479492, 2014348674, -9),
            (0.5612991452217102, 40.184478759765625, 1919755326, -6),
            (0.8042021989822388, 47.970394134521484, 1152051287, -5),
            (0.08600299060344696, 3.556443691253662, 1661795047, -5)]:
        real = np.float64(np.float32(bias_scale)) / np.float64(np.float32(out_scale))
        q, s = quantize_multiplier(real)
        assert (int(q), int(s)) == (mult, shift)


def test_quantize_multiplier_edge_cases():
    assert [int(v) for v in quantize_multiplier(0.5)] == [2**30, 0]
    # frac * 2**31 rounds up to 2**31: halve and bump the shift
    q, s = quantize_multiplier(1.0 - 2.0**-40)
    assert (int(q), int(s)) == (2**30, 1)
    assert [int(v) for v in quantize_multiplier(2.0**-40)] == [0, 0]  # shift < -31 flushes
    assert [int(v) for v in quantize_multiplier(2.0**40, single_rounding=True)] == \
        [2**31 - 1, 30]


def test_modes_differ_on_ties():
    # acc * M = -10 / 4 = -2.5 exactly (multiplier 2**30, shift -1, so the rounding happens in
    # the right shift): half-even -> -2, tflite's RoundingDivideByPOT (half away) -> -3,
    # single rounding and ruy (half up) -> -2.
    acc = np.array([-10], np.int32)
    out = {m: int(requantize(acc, 1.0, 1.0, 4.0, 0, mode=m)[0]) for m in REQUANTIZE_MODES}
    assert out == {"onnxruntime": -2, "xnnpack": -2, "tflite": -3, "tflite-single": -2,
                   "tflite-ruy": -2}
    acc = np.array([10], np.int32)  # +2.5: half-even 2, half away 3, half up 3
    out = {m: int(requantize(acc, 1.0, 1.0, 4.0, 0, mode=m)[0]) for m in REQUANTIZE_MODES}
    assert out == {"onnxruntime": 2, "xnnpack": 2, "tflite": 3, "tflite-single": 3,
                   "tflite-ruy": 3}


def test_tflite_high_mul_rounds_negative_halves_up():
    # With shift 0 the only rounding is SaturatingRoundingDoublingHighMul, whose nudge
    # (1 - 2**30 for negative products) sends -2.5 to -2, not -3.
    assert int(requantize(np.array([-5], np.int32), 1.0, 1.0, 2.0, mode="tflite")[0]) == -2


@pytest.mark.parametrize("mode", REQUANTIZE_MODES)
def test_clamp_saturation_and_zero(mode):
    acc = np.array([INT32_MIN, -1000, 0, 1000, INT32_MAX], np.int32)
    out = requantize(acc, 0.1, 0.1, 0.1, -5, mode=mode)
    assert out.tolist() == [-128, -105, -5, 95, 127]
    relu6 = requantize(acc, 0.1, 0.1, 0.1, -5, mode=mode, clamp=(-5, 55))
    assert relu6.tolist() == [-5, -5, -5, 55, 55]
    assert requantize(np.zeros((2, 3), np.int32), 1.0, 1.0, 1.0, np.uint8(7), mode=mode,
                      dtype="uint8").tolist() == [[7] * 3] * 2


def test_per_channel_axis():
    acc = np.full((2, 3, 4), 100, np.int32)
    ws = np.array([0.01, 0.02, 0.04], np.float32)
    out = requantize(acc, 1.0, ws, 1.0, 0, axis=1)
    assert out[:, :, 0].tolist() == [[1, 2, 4]] * 2
    out = requantize(acc.transpose(0, 2, 1), 1.0, ws, 1.0, 0, axis=-1)
    assert out[:, 0, :].tolist() == [[1, 2, 4]] * 2


def test_tflite_operator_modes_worked_examples():
    from reference.requantize import REQUANTIZE_MODES, check_requantize_args
    # "tflite-double" (LiteRT's reference FULLY_CONNECTED): round(double(acc) * M), half away
    acc = np.array([-1, 1, -3, 5], np.int32)
    assert requantize(acc, 1.0, 1.0, 2.0, mode="tflite-double").tolist() == [-1, 1, -2, 3]
    assert requantize(acc, 1.0, 1.0, 2.0, mode="tflite").tolist() == [0, 1, -1, 3]
    # "tflite-neon" (TFLite's optimized depthwise output stage): channels in full blocks of 8
    # round halves up (ruy), the last C mod 8 channels round as the reference (-0.5 -> -1)
    acc = np.full((1, 10, 1, 1), -2, np.int32)
    out = requantize(acc, 1.0, 1.0, 4.0, mode="tflite-neon", axis=1).reshape(-1).tolist()
    assert out == [0] * 8 + [-1] * 2
    assert requantize(acc[:, :7], 1.0, 1.0, 4.0, mode="tflite-neon").reshape(-1).tolist() == \
        [-1] * 7
    with pytest.raises(ValueError, match="needs acc with a channel axis"):
        requantize(np.array(-2, np.int32), 1.0, 1.0, 4.0, mode="tflite-neon")
    # the kernels' shared checker accepts only the per-element modes they implement
    assert "tflite-neon" not in REQUANTIZE_MODES
    with pytest.raises(ValueError, match="mode must be one of"):
        check_requantize_args(acc, 1.0, 1.0, 4.0, mode="tflite-neon")

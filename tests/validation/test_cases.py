"""Operator cases: names spell the shape, parameters are checked, tensors are deterministic and
agree with independent arithmetic written here (not with the code that produced them)."""

from __future__ import annotations

import numpy as np
import pytest

from reference.requantize import requantize
from validation.cases import OPERATORS, OperatorCase, load_case_file, parse_param_list


def _naive_conv(x, w, bias, x_zp, stride, pad, dil, groups):
    """Direct 7-loop int64 convolution (NCHW, OIHW), the textbook definition."""
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    xp = np.pad(x.astype(np.int64) - x_zp, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dil * (r - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dil * (s - 1) - 1) // stride + 1
    out = np.zeros((n, k, oh, ow), np.int64)
    kg = k // groups
    for b in range(n):
        for o in range(k):
            g = o // kg
            for i in range(oh):
                for j in range(ow):
                    acc = int(bias[o])
                    for ci in range(cg):
                        for u in range(r):
                            for v in range(s):
                                acc += int(xp[b, g * cg + ci, i * stride + u * dil,
                                              j * stride + v * dil]) * int(w[o, ci, u, v])
                    out[b, o, i, j] = acc
    return out


def _by_name(tensors):
    return {t.name: t for t in tensors}


@pytest.mark.parametrize("params", [
    {"c": 4, "h": 5, "w": 6, "k": 3, "wbits": 4},
    {"c": 4, "h": 7, "w": 7, "k": 4, "st": 2, "p": 0, "d": 2, "g": 2, "wbits": 8,
     "adtype": "uint8"},
    {"c": 3, "h": 4, "w": 4, "k": 3, "g": 3, "r": 3, "s": 1, "relu": "yes"},  # depthwise
    {"n": 2, "c": 6, "h": 4, "w": 5, "k": 2, "gate": 50},  # channel-gated
])
def test_conv2d_case_matches_a_naive_convolution(params):
    case = OperatorCase.parse("conv2d", params, seed=11)
    t = _by_name(case.tensors())
    p = case.params
    x, zp = t["input"].array, t["input"].quant["zero_point"]
    if p["gate"]:  # gated-off channels contribute nothing: they read as the zero point
        mask = t["gate_mask"].array.astype(bool)
        assert mask.shape == (p["n"], p["c"]) and 0 < mask.sum() < mask.size
        x = np.where(mask[:, :, None, None], x, np.int8(zp))
    acc = _naive_conv(x, t["weight"].array, t["bias"].array, zp, p["st"], p["p"], p["d"],
                      p["g"])
    assert t["accumulator"].array.dtype == np.int32
    assert np.array_equal(t["accumulator"].array, acc)
    lo, hi = (-8, 7) if p["wbits"] == 4 else (-127, 127)
    w = t["weight"].array
    assert w.min() >= lo and w.max() <= hi and {lo, hi} <= set(w.reshape(-1).tolist())
    assert t["weight"].dtype == ("int4" if p["wbits"] == 4 else "int8")
    # outputs: the real-valued result, rescaled, within one LSB of the integer output
    y = t["output"].array
    wscale = np.asarray(t["weight"].quant["scale"], np.float64).reshape(1, -1, 1, 1)
    real = acc * float(t["input"].quant["scale"]) * wscale / float(t["output"].quant["scale"])
    zp = t["output"].quant["zero_point"]
    qmin, qmax = (zp if p["relu"] else np.iinfo(y.dtype).min), np.iinfo(y.dtype).max
    assert np.abs(y.astype(np.float64) - np.clip(np.round(real) + zp, qmin, qmax)).max() <= 1
    saturated = (y == qmax) | (y == np.iinfo(y.dtype).min)
    assert 0 < np.mean(saturated) < 0.25  # saturation is exercised, but most outputs are not


def test_matmul_case_matches_int64_matmul():
    case = OperatorCase.parse("matmul", {"m": 5, "k": 17, "n": 3, "wbits": 4,
                                         "adtype": "uint8"}, seed=2)
    t = _by_name(case.tensors())
    a = t["input"].array.astype(np.int64) - t["input"].quant["zero_point"]
    assert np.array_equal(t["accumulator"].array, a @ t["weight"].array.astype(np.int64))


def test_quantize_case_has_ties_and_saturation():
    case = OperatorCase.parse("quantize", {"shape": "4x8", "scale": 0.25}, seed=0)
    t = _by_name(case.tensors())
    x, q = t["input"].array, t["output"].array
    ratio = x.astype(np.float64) / 0.25
    ties = np.abs(ratio - np.floor(ratio) - 0.5) < 1e-9
    assert ties.sum() >= 8
    # half-to-even on the ties, computed independently
    assert np.array_equal(q[ties], np.clip(np.round(ratio[ties]), -128, 127).astype(np.int8))
    assert set(q.reshape(-1).tolist()) & {-128, 127}


def test_requantize_case_uses_the_chosen_mode():
    case = OperatorCase.parse("requantize", {"shape": [2, 3, 4], "mode": "tflite"}, seed=4)
    t = _by_name(case.tensors())
    q = t["input"].quant
    again = requantize(t["input"].array, q["input_scale"], q["weight_scale"],
                       t["output"].quant["scale"], 0, mode="tflite", axis=1)
    assert np.array_equal(again, t["output"].array)
    assert case.name == "requantize_2x3x4_tflite"


def test_names_spell_the_shape_and_options():
    assert OperatorCase.parse("conv2d", {"c": 16, "h": 14, "w": 14, "k": 32}).name == (
        "conv2d_n1_c16_h14_w14_k32_r3_s3_st1_p1_d1_g1_w4a8")
    assert OperatorCase.parse("matmul", {"wbits": 8, "relu": True, "mode": "tflite-single",
                                         "odtype": "uint8"}).name == (
        "matmul_m8_k32_n8_w8a8_int8touint8_tflitesingle_relu")
    assert OperatorCase.parse("quantize", {"dtype": "int4", "rounding": "half_away"}).name == (
        "quantize_1x8x4x4_int4_half_away")


def test_same_seed_same_tensors_other_seed_other_tensors():
    a = OperatorCase.parse("conv2d", {"c": 2, "k": 2}, seed=5).tensors()
    b = OperatorCase.parse("conv2d", {"c": 2, "k": 2}, seed=5).tensors()
    c = OperatorCase.parse("conv2d", {"c": 2, "k": 2}, seed=6).tensors()
    assert all(np.array_equal(x.array, y.array) for x, y in zip(a, b))
    assert not np.array_equal(a[0].array, c[0].array)


@pytest.mark.parametrize("op,params,match", [
    ("conv3d", {}, "op='conv3d' is not a golden-vector operator"),
    ("conv2d", {"channels": 3}, r"unknown parameter\(s\) \['channels'\]"),
    ("conv2d", {"c": "many"}, "parameter c='many': expected an integer"),
    ("conv2d", {"wbits": 2}, "parameter wbits=2: expected one of"),
    ("conv2d", {"c": -1}, r"parameter c=-1: expected an integer in 1\.\.1048576"),
    ("conv2d", {"c": 0}, r"parameter c=0: expected an integer in 1\.\."),
    ("conv2d", {"r": 20}, "does not fit the 8x8 input"),
    ("conv2d", {"c": 4096, "h": 1024, "w": 1024}, "more than the 67,108,864"),
    ("quantize", {"scale": "nan"}, "expected a finite positive float32 scale"),
    ("quantize", {"scale": "inf"}, "expected a finite positive float32 scale"),
    ("matmul", {"relu": "maybe"}, "expected a boolean"),
    ("quantize", {"shape": "0x3"}, "expected a shape of 1 to 8 positive dims"),
])
def test_bad_parameters_are_named(op, params, match):
    with pytest.raises(ValueError, match=match):
        OperatorCase.parse(op, params)


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups g=3 must divide c=4"):
        OperatorCase.parse("conv2d", {"c": 4, "g": 3}).tensors()


def test_param_list_parsing():
    assert parse_param_list(["c=16,k=32", "shape=1,8,4,4", "wbits=8"]) == {
        "c": "16", "k": "32", "shape": "1,8,4,4", "wbits": "8"}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_param_list(["c16"])


def test_case_file(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text("seed: 7\ncases:\n  - op: conv2d\n    c: 4\n    k: 4\n"
                    "  - {op: matmul, m: 2, k: 8, n: 2, seed: 9}\n")
    cases = load_case_file(path)
    assert [c.op for c in cases] == ["conv2d", "matmul"] and [c.seed for c in cases] == [7, 9]
    assert [c.seed for c in load_case_file(path, seed=1)] == [1, 1]
    path.write_text("cases:\n  - op: conv2d\n    kk: 1\n")
    with pytest.raises(ValueError, match=r"case 0: op 'conv2d': unknown parameter"):
        load_case_file(path)
    path.write_text("cases:\n  - {op: matmul}\n  - {op: matmul}\n")
    with pytest.raises(ValueError, match="duplicate case"):
        load_case_file(path)
    path.write_text("case: []\n")
    with pytest.raises(ValueError, match="expected a 'cases:' list"):
        load_case_file(path)
    with pytest.raises(ValueError, match="cannot be read"):
        load_case_file(tmp_path / "missing.yaml")


def test_every_operator_generates_with_defaults():
    for op in OPERATORS:
        tensors = OperatorCase.parse(op, {}).tensors()
        assert [t.role for t in tensors][-1] == "output"

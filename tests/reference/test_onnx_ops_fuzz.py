"""Randomised geometry against ONNX Runtime (hypothesis): Slice and nearest Resize bit for
bit, ConvTranspose within its summation bound. Cases ORT itself rejects are skipped by
``assume``; cases gilt refuses must be ones ORT rejects too, or listed refusals."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reference.conv_transpose import conv_transpose
from tests.reference._onnx_node import (
    F32_EPS,
    assert_same,
    assert_within,
    make_model,
    run_gilt,
    run_ort,
)

pytestmark = pytest.mark.oracle

BIG = 2**62


@st.composite
def slice_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(0, 6)) for _ in range(rank))
    axes = draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                         unique_by=lambda a: a % rank))
    bound = st.one_of(st.integers(-9, 9), st.sampled_from([BIG, -BIG]))
    starts = [draw(bound) for _ in axes]
    ends = [draw(bound) for _ in axes]
    steps = [draw(st.sampled_from([-3, -2, -1, 1, 2, 3])) for _ in axes]
    return shape, starts, ends, axes, steps, draw(st.booleans())


@given(slice_cases(), st.integers(0, 2**16))
def test_slice_random(case, seed):
    shape, starts, ends, axes, steps, give_steps = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    i64 = lambda v: np.array(v, np.int64)  # noqa: E731
    ins = [("x", x), ("s", i64(starts)), ("e", i64(ends)), ("a", i64(axes)),
           ("p", i64(steps) if give_steps or any(s != 1 for s in steps) else None)]
    model = make_model("Slice", ins, opset=13)
    assert_same(run_gilt(model, ins)[0], run_ort(model, ins)[0], f"Slice {case}")


CTMS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
        "tf_half_pixel_for_nn", "half_pixel_symmetric"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


@given(st.integers(1, 9), st.integers(1, 9), st.floats(0.25, 4.0, width=32),
       st.floats(0.25, 4.0, width=32), st.sampled_from(CTMS), st.sampled_from(NEAREST),
       st.booleans())
def test_resize_nearest_random_scales(h, w, sh, sw, ctm, nearest, by_sizes):
    """Nearest indices come from float32 coordinate arithmetic with ties: exact equality
    checks gilt's order of operations against ORT's."""
    x = np.arange(h * w, dtype=np.float32).reshape(1, 1, h, w)
    if by_sizes:
        sizes = np.array([1, 1, max(1, round(h * sh)), max(1, round(w * sw))], np.int64)
        ins = [("x", x), ("roi", None), ("scales", None), ("sizes", sizes)]
    else:
        out = (int(np.float32(sh) * np.float32(h)), int(np.float32(sw) * np.float32(w)))
        assume(min(out) >= 1)
        # same shape with a scale != 1: ORT copies, ONNX resamples; gilt refuses (tested)
        assume(out != (h, w) or (sh == 1 and sw == 1))
        ins = [("x", x), ("roi", None), ("scales", np.array([1, 1, sh, sw], np.float32))]
    model = make_model("Resize", ins, opset=19, coordinate_transformation_mode=ctm,
                       nearest_mode=nearest)
    assert_same(run_gilt(model, ins)[0], run_ort(model, ins)[0],
                f"Resize {ctm} {nearest} {(h, w)} {(sh, sw)} sizes={by_sizes}")


@st.composite
def conv_transpose_cases(draw):
    k = draw(st.integers(1, 2))
    g = draw(st.integers(1, 2))
    c, m = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    size = [draw(st.integers(1, 4)) for _ in range(k)]
    kernel = [draw(st.integers(1, 3)) for _ in range(k)]
    strides = [draw(st.integers(1, 3)) for _ in range(k)]
    dil = [draw(st.integers(1, 2)) for _ in range(k)]
    attrs = {"strides": strides, "dilations": dil, "group": g}
    mode = draw(st.sampled_from(["pads", "output_padding", "auto_pad", "output_shape"]))
    if mode == "pads":
        attrs["pads"] = [draw(st.integers(0, 2)) for _ in range(2 * k)]
    elif mode == "output_padding":
        attrs["output_padding"] = [draw(st.integers(0, s - 1)) for s in strides]
    elif mode == "auto_pad":
        attrs["auto_pad"] = draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER", "VALID"]))
    else:
        full = [s * (n - 1) + d * (kk - 1) + 1 for s, n, d, kk in zip(strides, size, dil,
                                                                       kernel)]
        attrs["output_shape"] = [draw(st.integers(max(1, f - 2), f)) for f in full]
    return (1, c) + tuple(size), (c, m // g) + tuple(kernel), attrs


@given(conv_transpose_cases(), st.integers(0, 2**16))
def test_conv_transpose_random_geometry(case, seed):
    xshape, wshape, attrs = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xshape).astype(np.float32)
    w = rng.standard_normal(wshape).astype(np.float32)
    ins = [("x", x), ("w", w)]
    model = make_model("ConvTranspose", ins, opset=11, **attrs)
    try:
        (want,) = run_ort(model, ins)
    except Exception:  # noqa: BLE001 - ORT rejects some geometries: gilt must refuse them too
        with pytest.raises(ValueError):
            run_gilt(model, ins)
        return
    try:
        got = run_gilt(model, ins)[0]
    except ValueError as e:  # a documented refusal (negative total padding under auto_pad)
        assert "total padding" in str(e) and "auto_pad" in str(e), e
        return
    k = (xshape[1] // attrs["group"]) * int(np.prod(wshape[2:]))
    mag = conv_transpose(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), **attrs)
    assert_within(got, want, 2 * (k + 2) * F32_EPS * mag + 1e-30, f"ConvTranspose {case}")

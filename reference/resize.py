"""ONNX ``Resize`` (opsets 11-19): nearest (every coordinate transformation and nearest mode),
linear and cubic (antialias 0), from ``scales`` or ``sizes``, with ``roi``
(tf_crop_and_resize), ``axes`` and ``keep_aspect_ratio_policy``.

Numeric contract (written from ONNX Runtime's CPU kernel, which the tests check against):

- Output sizes: from ``scales``, ``floor(fl32(scale * fl32(in)))``; from ``sizes``, the sizes,
  with ``scale = fl32(out) / fl32(in)``; keep_aspect_ratio_policy ``not_larger`` /
  ``not_smaller`` replace the scale of every resized axis by their min / max and set
  ``out = round_half_away(fl32(scale * in))``.
- Source coordinate of output index ``x`` on an axis of input length ``L``, output length
  ``R`` and scale ``s``, in float32 (each operation rounded): half_pixel
  ``(x + 0.5) / s - 0.5``; pytorch_half_pixel the same if ``R > 1`` else 0; asymmetric
  ``x / s``; tf_half_pixel_for_nn ``(x + 0.5) / s``; align_corners
  ``x * (L - 1) / (R - 1)`` (0 if ``R == 1``); tf_crop_and_resize
  ``start * (L - 1) + x * (end - start) * (L - 1) / (R - 1)`` (if ``R == 1``:
  ``0.5 * (start + end) * (L - 1)`` in float64); half_pixel_symmetric
  ``offset + (x + 0.5) / s - 0.5`` in float64 with the float32 ``offset = L / 2 * (1 - R /
  (s * L))``, then rounded to float32. An axis whose scale is exactly 1 maps ``x`` to ``x``
  without the transformation (ONNX Runtime's rule). ONNX's formulas give the same except
  under tf_crop_and_resize with a roi other than [0, 1] on that axis (refused) and under
  tf_half_pixel_for_nn with a ceil-type nearest_mode, where the formula would shift every
  unresized axis (batch, channels) by one; gilt follows ONNX Runtime there
  (``onnx.reference`` does not implement tf_half_pixel_for_nn).
- nearest: round_prefer_floor (ties down, else round half away from zero), round_prefer_ceil
  (half away from zero), floor, ceil; the index is clamped to ``[0, L - 1]``. Exact
  selection: bit-exact against any runtime for the same indices.
- linear: the coordinate is clamped to ``[0, L - 1]``; ``i1 = floor``, ``i2 = min(i1 + 1,
  L - 1)``, weights ``|c - i2|`` for ``i1`` and ``|c - i1|`` for ``i2`` (0.5 each when
  ``i1 == i2``), each float32; ``y = x[i1] * w1 + x[i2] * w2``.
- cubic: ``i0 = floor(c)``, ``t = c - i0``; Keys coefficients with ``cubic_coeff_a`` in
  float32 (ONNX Runtime's expressions) for ``i0 - 1 .. i0 + 2``, indices clamped to the edge;
  ``exclude_outside=1`` zeroes the coefficients of outside taps and divides by their sum;
  ``y = sum_j coeff_j * x[idx_j]`` left to right.
- linear and cubic are applied one axis at a time in ascending axis order (separable); ONNX
  Runtime combines the axes' weights first (e.g. ``dx * dy`` products), so results differ
  by a few float32 ulps of ``max|X|``; tests use that tolerance.
- tf_crop_and_resize: an output whose source coordinate on any resized axis lies outside
  ``[0, L - 1]`` is ``extrapolation_value``.
- ``R`` above is the integer output length (ONNX's text: "the length of the resized
  tensor"), as ONNX Runtime uses it. ``onnx.reference`` (and the ONNX backend test data made
  with it) uses the fractional ``L * scale`` in align_corners and tf_crop_and_resize and
  gives -0.5 for pytorch_half_pixel with ``R == 1``: results differ from ONNX Runtime and gilt
  when ``scales`` make ``L * scale`` non-integral (test_resize_downsample_scales_*_align_corners).

Refused (ValueError naming the attribute): antialias=1, linear/cubic on integer tensors,
both or neither of scales/sizes, a non-positive scale, scales that leave the shape unchanged
while one of them is not 1 (ONNX Runtime then copies the input, ONNX resamples), and an axis
with scale exactly 1
under tf_crop_and_resize with a roi other than [0, 1] (ONNX Runtime ignores the roi there,
ONNX and ``onnx.reference`` crop).
"""

from __future__ import annotations

import math

import numpy as np

from reference._onnx_common import (
    FLOAT_DTYPES,
    float_attr,
    int_list,
    normalize_axes,
    numeric_tensor,
    unsupported,
)
from reference._validate import check_choice, check_int

__all__ = ["COORDINATE_MODES", "NEAREST_MODES", "RESIZE_MODES", "resize", "resize_geometry"]

RESIZE_MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                    "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
POLICIES = ("stretch", "not_larger", "not_smaller")
F32 = np.float32


def resize_geometry(in_shape, roi, scales, sizes, *, axes=None, keep_aspect_ratio_policy="stretch",
                    coordinate_transformation_mode="half_pixel"):
    """Per axis of the input: (output size, float32 scale, roi start, roi end).

    Numeric contract: float32 scale arithmetic as in the module contract."""
    rank = len(in_shape)
    axes = tuple(range(rank)) if axes is None else normalize_axes(
        "axes", int_list("axes", axes), rank)
    check_choice("keep_aspect_ratio_policy", keep_aspect_ratio_policy, POLICIES)
    scales = None if scales is None or np.size(scales) == 0 else scales
    sizes = None if sizes is None or np.size(sizes) == 0 else sizes
    if (scales is None) == (sizes is None):
        raise ValueError("exactly one of scales and sizes must be given (non-empty)")
    out = list(in_shape)
    scale = [F32(1)] * rank
    if scales is not None:
        s = np.asarray(scales)
        if s.dtype.kind != "f" or s.shape != (len(axes),):
            raise ValueError(f"scales must be a float tensor of {len(axes)} values, got "
                             f"{s.dtype.name} shape {s.shape}")
        for a, v in zip(axes, s.astype(F32)):
            if not v > 0 or not np.isfinite(v):
                raise unsupported("scales", s.tolist(), "every scale must be finite and > 0")
            scale[a] = v
            out[a] = int(np.floor(v * F32(in_shape[a])))
    else:
        want = int_list("sizes", sizes, length=len(axes), minimum=0)
        for a, n in zip(axes, want):
            if in_shape[a] == 0 and n != 0:
                raise ValueError(f"sizes asks {n} on axis {a} of size 0")
            scale[a] = F32(1) if in_shape[a] == 0 else F32(n) / F32(in_shape[a])
            out[a] = n
        if keep_aspect_ratio_policy != "stretch":
            pick = min if keep_aspect_ratio_policy == "not_larger" else max
            common = pick(scale[a] for a in axes)
            for a in axes:
                scale[a] = common
                out[a] = math.floor(float(common * F32(in_shape[a])) + 0.5)
    roi_pairs = _roi(roi, axes, rank, coordinate_transformation_mode)
    return [(out[a], scale[a]) + roi_pairs[a] for a in range(rank)]


def _roi(roi, axes, rank, ctm):
    pairs = [(F32(0), F32(1))] * rank
    if ctm != "tf_crop_and_resize":
        return pairs
    if roi is None or np.size(roi) == 0:
        raise ValueError("roi is required with coordinate_transformation_mode="
                         "'tf_crop_and_resize'")
    r = np.asarray(roi).astype(F32).reshape(-1)
    if r.size != 2 * len(axes):
        raise ValueError(f"roi must have 2 * {len(axes)} values (starts, ends), got {r.size}")
    for i, a in enumerate(axes):
        pairs[a] = (r[i], r[len(axes) + i])
    return pairs


def _source(ctm, x, s, L, R, start, end):
    """Source coordinates (float32) of output indices ``x`` (float32 array)."""
    half = F32(0.5)
    if ctm == "asymmetric":
        return x / s
    if ctm == "tf_half_pixel_for_nn":
        return (x + half) / s
    if ctm in ("half_pixel", "pytorch_half_pixel"):
        if ctm == "pytorch_half_pixel" and R <= 1:
            return np.zeros_like(x)
        return (x + half) / s - half
    if ctm == "align_corners":
        return np.zeros_like(x) if R == 1 else x * F32(L - 1) / F32(R - 1)
    if ctm == "tf_crop_and_resize":
        if R == 1:
            return np.full_like(x, F32(0.5 * float(start + end) * (L - 1)))
        return start * F32(L - 1) + x * (end - start) * F32(L - 1) / F32(R - 1)
    adjustment = F32(R) / (s * F32(L))  # half_pixel_symmetric
    offset = F32(L) / F32(2) * (F32(1) - adjustment)
    c = float(offset) + (x.astype(np.float64) + 0.5) / float(s) - 0.5
    return c.astype(F32)


def _nearest_index(c: np.ndarray, mode: str, L: int) -> np.ndarray:
    c64 = c.astype(np.float64)  # exact: float32 values; +-0.5 cannot round wrongly here
    away = np.where(c64 >= 0, np.floor(c64 + 0.5), np.ceil(c64 - 0.5))
    if mode == "round_prefer_floor":
        idx = np.where(c64 == np.trunc(c64) + 0.5, np.floor(c64), away)
    elif mode == "round_prefer_ceil":
        idx = away
    else:
        idx = np.floor(c64) if mode == "floor" else np.ceil(c64)
    return np.clip(idx, 0, L - 1).astype(np.int64)


def _cubic_coefficients(t: np.ndarray, a) -> list[np.ndarray]:
    """Keys coefficients for taps -1, 0, 1, 2 at fractions ``t`` (ONNX Runtime's float32
    expressions, each operation rounded)."""
    one, two, three = F32(1), F32(2), F32(3)
    five_a, eight_a, four_a = F32(5) * a, F32(8) * a, F32(4) * a
    s1, s2 = t + one, one - t
    s3 = two - t
    return [((a * s1 - five_a) * s1 + eight_a) * s1 - four_a,
            ((a + two) * t - (a + three)) * t * t + one,
            ((a + two) * s2 - (a + three)) * s2 * s2 + one,
            ((a * s3 - five_a) * s3 + eight_a) * s3 - four_a]


def _taps(mode, c, L, nearest_mode, cubic_a, exclude_outside):
    """(indices, weights) per output position: lists of arrays, one per tap."""
    if mode == "nearest":
        return [_nearest_index(c, nearest_mode, L)], None
    if mode == "linear":
        cc = np.maximum(F32(0), np.minimum(c, F32(L - 1)))
        i1 = np.minimum(cc.astype(np.int64), L - 1)
        i2 = np.minimum(i1 + 1, L - 1)
        d1, d2 = np.abs(cc - i1.astype(F32)), np.abs(cc - i2.astype(F32))
        same = i1 == i2
        d1, d2 = np.where(same, F32(0.5), d1), np.where(same, F32(0.5), d2)
        return [i1, i2], [d2, d1]
    base = np.floor(c)
    coeffs = _cubic_coefficients(c - base, cubic_a)
    raw = [base.astype(np.int64) + k for k in (-1, 0, 1, 2)]
    if exclude_outside:
        coeffs = [np.where((r >= 0) & (r < L), w, F32(0)) for r, w in zip(raw, coeffs)]
        total = coeffs[0] + coeffs[1] + coeffs[2] + coeffs[3]
        coeffs = [w / total for w in coeffs]
    return [np.clip(r, 0, L - 1) for r in raw], coeffs


def _resample_axis(x, axis, indices, weights):
    if weights is None:
        return np.take(x, indices[0], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    out = None
    for idx, w in zip(indices, weights):
        term = np.take(x, idx, axis=axis) * w.astype(x.dtype).reshape(shape)
        out = term if out is None else out + term
    return out


def resize(X, roi=None, scales=None, sizes=None, *, antialias=0, axes=None,
           coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75, exclude_outside=0,
           extrapolation_value=0.0, keep_aspect_ratio_policy="stretch", mode="nearest",
           nearest_mode="round_prefer_floor") -> np.ndarray:
    """ONNX ``Resize`` (see the module's numeric contract). ``roi``, ``scales``, ``sizes``
    are the ONNX inputs (absent: None or an empty tensor); ``axes`` is the opset-18 attribute
    (``scales``/``sizes``/``roi`` then list only those axes)."""
    check_choice("mode", mode, RESIZE_MODES)
    check_choice("coordinate_transformation_mode", coordinate_transformation_mode,
                 COORDINATE_MODES)
    check_choice("nearest_mode", nearest_mode, NEAREST_MODES)
    if check_int("antialias", antialias, minimum=0, maximum=1):
        raise unsupported("antialias", 1, "anti-aliased resampling is not implemented")
    exclude_outside = check_int("exclude_outside", exclude_outside, minimum=0, maximum=1)
    if exclude_outside and mode != "cubic":
        raise ValueError(f"exclude_outside=1 needs mode='cubic', got mode={mode!r}")
    x = numeric_tensor("X", X) if mode == "nearest" else numeric_tensor("X", X, FLOAT_DTYPES)
    if x.ndim == 0:
        raise ValueError("X must have at least 1 dimension")
    ctm = coordinate_transformation_mode
    geometry = resize_geometry(x.shape, roi, scales, sizes, axes=axes,
                               keep_aspect_ratio_policy=keep_aspect_ratio_policy,
                               coordinate_transformation_mode=ctm)
    if all(R == L for (R, *_), L in zip(geometry, x.shape)):
        if any(s != 1 for _, s, *_ in geometry):  # ORT copies the input, ONNX resamples
            raise unsupported("scales", [float(s) for _, s, *_ in geometry],
                              f"the output shape equals the input shape {x.shape} while a "
                              f"scale is not 1: ONNX Runtime returns the input unchanged, "
                              f"ONNX resamples it")
        _check_unit_scale_all(ctm, geometry)
        return x.copy()
    a = float_attr(F32, cubic_coeff_a, "cubic_coeff_a")
    outside = np.zeros((), bool)
    for axis, (R, s, start, end) in enumerate(geometry):
        L = x.shape[axis]
        if s == 1 and R == L:
            _check_unit_scale(ctm, axis, start, end)
            continue
        c = _source(ctm, np.arange(R, dtype=F32), s, L, R, start, end)
        indices, weights = _taps(mode, c, L, nearest_mode, a, exclude_outside)
        x = _resample_axis(x, axis, indices, weights)
        if ctm == "tf_crop_and_resize":
            shape = [1] * x.ndim
            shape[axis] = R
            outside = outside | ((c < 0) | (c > F32(L - 1))).reshape(shape)
    if outside.any():
        fill = float_attr(F32, extrapolation_value, "extrapolation_value")
        x = np.where(outside, np.asarray(fill).astype(x.dtype), x)
    return x


def _check_unit_scale_all(ctm, geometry):
    for axis, (_, _, start, end) in enumerate(geometry):
        _check_unit_scale(ctm, axis, start, end)


def _check_unit_scale(ctm, axis, start, end):
    """ONNX Runtime skips the coordinate transformation on an axis with scale 1; refuse the
    case where ONNX's formula (and ``onnx.reference``) would crop instead."""
    if ctm == "tf_crop_and_resize" and (start != 0 or end != 1):
        raise unsupported("roi", [float(start), float(end)], f"axis {axis} has scale 1 under "
                          f"tf_crop_and_resize: ONNX crops, ONNX Runtime does not")

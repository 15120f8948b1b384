"""ONNX InstanceNormalization, GroupNormalization (opset 18 and opset 21 forms) and
LayerNormalization (opset 17, all three outputs).

Numeric contract shared by the three (ONNX's LayerNormalization function body, which
GroupNormalization-21's body follows too):

- The values normalised together form one contiguous row of ``n`` elements (LayerNorm: the
  trailing axes from ``axis``; InstanceNorm: one (n, c) plane; GroupNorm: the channels of one
  group of one sample, channel-major).
- In the stash dtype (``stash_type`` 1 = float32, 11 = float64; InstanceNorm and opset-18
  GroupNorm use the input dtype): ``mean = sum(x) / n``; ``d = x - mean``;
  ``var = sum(d * d) / n``; ``inv_std = 1 / sqrt(var + epsilon)``; ``normalized = d * inv_std``;
  each step rounded; sums are NumPy's pairwise summation of the row (as
  :mod:`reference.reduce`). ``normalized`` is cast to the input dtype, then
  ``y = normalized * scale + bias`` (multiply, then add, each rounded).
- ``epsilon`` is a float32 attribute, rounded to the stash dtype.
- ONNX Runtime computes the statistics in another order (e.g. ``E[x^2] - E[x]^2`` in double
  for LayerNorm, Eigen reductions for InstanceNorm) and folds ``inv_std * scale``; tests
  compare with a tolerance relative to the output's scale.
"""

from __future__ import annotations

import numpy as np

from reference._onnx_common import float_attr, float_tensor, unidirectional_operand
from reference._validate import check_axis, check_int

__all__ = [
    "STASH_TYPES",
    "group_normalization",
    "group_normalization_18",
    "instance_normalization",
    "layer_normalization",
]

#: ``stash_type`` codes (ONNX TensorProto types) gilt computes statistics in.
STASH_TYPES = {1: np.dtype(np.float32), 11: np.dtype(np.float64)}


def _stash(stash_type: object) -> np.dtype:
    code = check_int("stash_type", stash_type)
    if code not in STASH_TYPES:
        raise ValueError(f"stash_type={code} is not supported: gilt computes statistics in "
                         f"float32 (1) or float64 (11)")
    return STASH_TYPES[code]


def _standardize(rows: np.ndarray, epsilon: object, dtype: np.dtype):
    """(normalized, mean, inv_std) of each row (last axis) in ``dtype`` (module contract)."""
    r = rows.astype(dtype, copy=False)
    t = dtype.type
    eps = float_attr(t, epsilon, "epsilon")
    if eps < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    n = t(r.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = np.add.reduce(r, axis=-1, keepdims=True, dtype=dtype) / n
        d = r - mean
        var = np.add.reduce(d * d, axis=-1, keepdims=True, dtype=dtype) / n
        inv_std = t(1) / np.sqrt(var + eps)
        return d * inv_std, mean, inv_std


def _per_channel(name: str, value: object, c: int, dtype: np.dtype) -> np.ndarray:
    p = float_tensor(name, value)
    if p.dtype != dtype:
        raise TypeError(f"{name} must have the input's dtype {dtype.name}, got {p.dtype.name}")
    if p.shape != (c,):
        raise ValueError(f"{name} must have shape ({c},) (one per channel), got {p.shape}")
    return p


def instance_normalization(input, scale, B, *, epsilon=1e-5) -> np.ndarray:
    """ONNX ``InstanceNormalization``: per sample and channel over the spatial axes of
    ``(N, C, D1, ...)``; ``scale`` and ``B`` have shape ``(C,)``. Statistics in the input dtype
    (module contract). Errors: ValueError for rank < 3 or parameter shapes."""
    x = float_tensor("input", input)
    if x.ndim < 3:
        raise ValueError(f"input must be (N, C, D1, ...) with rank >= 3, got shape {x.shape}")
    c = x.shape[1]
    s = _per_channel("scale", scale, c, x.dtype)
    b = _per_channel("B", B, c, x.dtype)
    rows = x.reshape(x.shape[0], c, -1)
    normalized, _, _ = _standardize(rows, epsilon, x.dtype)
    return (normalized * s[:, None] + b[:, None]).reshape(x.shape)


def group_normalization(X, scale, bias, *, num_groups, epsilon=1e-5, stash_type=1
                        ) -> np.ndarray:
    """ONNX ``GroupNormalization`` opset 21: statistics per sample and group of
    ``C / num_groups`` consecutive channels (over those channels and all spatial axes), in
    ``stash_type``; ``scale`` and ``bias`` per channel, shape ``(C,)``.
    Errors: ValueError if ``num_groups`` does not divide C, for rank < 2 or shapes.

    Numeric contract: the module's, statistics in the stash dtype."""
    x = float_tensor("X", X)
    if x.ndim < 2:
        raise ValueError(f"X must be (N, C, ...) with rank >= 2, got shape {x.shape}")
    c = x.shape[1]
    g = check_int("num_groups", num_groups, minimum=1)
    if c % g:
        raise ValueError(f"num_groups={g} must divide the channel count C={c}")
    s = _per_channel("scale", scale, c, x.dtype)
    b = _per_channel("bias", bias, c, x.dtype)
    rows = x.reshape(x.shape[0], g, -1)
    normalized, _, _ = _standardize(rows, epsilon, _stash(stash_type))
    normalized = normalized.astype(x.dtype).reshape(x.shape[0], c, -1)
    return (normalized * s[:, None] + b[:, None]).reshape(x.shape)


def group_normalization_18(X, scale, bias, *, num_groups, epsilon=1e-5) -> np.ndarray:
    """ONNX ``GroupNormalization`` opsets 18-20: as :func:`group_normalization` but ``scale``
    and ``bias`` have one value per *group*, shape ``(num_groups,)`` (the opset-21 change), and
    statistics are in the input dtype (no stash_type before opset 21).

    Numeric contract: the module's, statistics in the input dtype."""
    x = float_tensor("X", X)
    g = check_int("num_groups", num_groups, minimum=1)
    if x.ndim < 2 or x.shape[1] % g:
        raise ValueError(f"num_groups={g} must divide the channel count of X shape {x.shape}")
    per = x.shape[1] // g
    s = _per_channel("scale", scale, g, x.dtype)
    b = _per_channel("bias", bias, g, x.dtype)
    return group_normalization(x, np.repeat(s, per), np.repeat(b, per), num_groups=g,
                               epsilon=epsilon, stash_type=11 if x.dtype == np.float64 else 1)


def layer_normalization(X, Scale, B=None, *, axis=-1, epsilon=1e-5, stash_type=1
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``LayerNormalization`` (opset 17): ``(Y, Mean, InvStdDev)``.

    Normalises over axes ``axis .. rank-1``; ``Scale`` and ``B`` (optional) broadcast
    unidirectionally to X. ``Mean`` and ``InvStdDev`` have X's shape with the normalised axes
    set to 1, in the stash dtype. Numeric contract: the module's.
    """
    x = float_tensor("X", X)
    if x.ndim == 0:
        raise ValueError("X must have at least 1 dimension")
    first = check_axis("axis", axis, x.ndim)
    stat_shape = x.shape[:first] + (1,) * (x.ndim - first)
    normalized, mean, inv_std = _standardize(x.reshape(x.shape[:first] + (-1,)), epsilon,
                                             _stash(stash_type))
    y = normalized.astype(x.dtype).reshape(x.shape)
    y = y * unidirectional_operand("Scale", Scale, x.shape, x.dtype)
    if B is not None:
        y = y + unidirectional_operand("B", B, x.shape, x.dtype)
    return y, mean.reshape(stat_shape), inv_std.reshape(stat_shape)

"""Knowledge-distillation losses of the seed's three-stage recipe (C9).

total = tau**2 * KL(softmax(t / tau) || softmax(s / tau))           (soft labels, stage 1)
      + lambda * mean((f_s - f_t)**2)                                  (feature L2, stage 2)
      + gamma * KL(attention(f_t) || attention(f_s))                   (attention transfer, stage 3)
      [+ hard_weight * cross_entropy(s, labels)]                       (optional ground truth)

with the seed's defaults tau=3, lambda=0.5, gamma=0.3. The tau**2 factor (Hinton et al. 2015)
keeps the soft-label gradient, which is tau * (p_s - p_t) / N, on the same scale as the hard
cross-entropy gradient when tau changes. Attention maps follow Zagoruyko & Komodakis (2017):
A = sum_c |F_c|**p over channels, here normalized to a spatial probability distribution so that
the KL divergence the seed names is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference._validate import as_float, check_positive_float
from reference.activations import log_softmax, softmax

DEFAULT_TAU = 3.0
DEFAULT_LAMBDA = 0.5
DEFAULT_GAMMA = 0.3


def _same_shape(na, a, nb, b):
    if a.shape != b.shape:
        raise ValueError(f"{na} has shape {a.shape}, {nb} has shape {b.shape}: expected equal")


def _kl_rows(p_log_t, p_log_s):
    """sum_j p_t (log p_t - log p_s) per row (last axis); 0 * log 0 taken as 0."""
    p_t = np.exp(p_log_t)
    with np.errstate(invalid="ignore"):
        terms = p_t * (p_log_t - p_log_s)
    return np.sum(np.where(p_t > 0, terms, 0.0), axis=-1)


def soft_label_kl(student_logits, teacher_logits, *, tau=DEFAULT_TAU,
                  precision="float64") -> float:
    """tau**2 * mean over the batch of KL(softmax(teacher / tau) || softmax(student / tau)).

    Numeric contract: logits (N, classes), any real dtype, converted to ``precision``
    (default float64: a loss value, not a tensor kernel); log-softmax by max subtraction; the
    batch mean divides the summed per-row KL by N ("batchmean", as PyTorch's KLDivLoss).
    Result >= 0 (up to rounding), 0 when the logits are equal. Errors: ValueError for a shape
    mismatch, non-2-D logits or tau <= 0.
    """
    tau = check_positive_float("tau", tau)
    s = as_float("student_logits", student_logits, precision, ndim=2)
    t = as_float("teacher_logits", teacher_logits, precision, ndim=2)
    _same_shape("student_logits", s, "teacher_logits", t)
    kl = _kl_rows(log_softmax(t / tau, precision=precision),
                  log_softmax(s / tau, precision=precision))
    return float(tau * tau * np.mean(kl))


def soft_label_kl_grad(student_logits, teacher_logits, *, tau=DEFAULT_TAU,
                       precision="float64") -> np.ndarray:
    """Gradient of ``soft_label_kl`` with respect to the student logits: tau * (p_s - p_t) / N.

    Numeric contract: same dtypes and errors as ``soft_label_kl``; result (N, classes).
    """
    tau = check_positive_float("tau", tau)
    s = as_float("student_logits", student_logits, precision, ndim=2)
    t = as_float("teacher_logits", teacher_logits, precision, ndim=2)
    _same_shape("student_logits", s, "teacher_logits", t)
    p_s = softmax(s / tau, precision=precision)
    p_t = softmax(t / tau, precision=precision)
    return tau * (p_s - p_t) / s.shape[0]


def feature_l2(student_feature, teacher_feature, *, precision="float64") -> float:
    """Mean squared difference of two intermediate feature tensors (stage 2's L2 loss).

    Numeric contract: converted to ``precision``; mean((s - t)**2) over every element by NumPy's
    pairwise sum. The student feature must already be projected to the teacher's shape (an
    adapter layer is the model's business, not the loss's). Errors: ValueError on shape mismatch.
    """
    s = as_float("student_feature", student_feature, precision)
    t = as_float("teacher_feature", teacher_feature, precision)
    _same_shape("student_feature", s, "teacher_feature", t)
    d = s - t
    return float(np.mean(d * d))


def attention_map(feature, *, p=2, eps=1e-12, precision="float64") -> np.ndarray:
    """Spatial attention distribution of an NCHW feature: A = sum_c |F_c|**p, normalized.

    Numeric contract: returns (N, H*W) rows that sum to 1: a = sum over channels of |F|**p,
    then a / max(sum(a), eps). An all-zero feature gives a uniform map. Errors: ValueError for
    non-4-D input or p < 1.
    """
    f = as_float("feature", feature, precision, ndim=4)
    if p < 1:
        raise ValueError(f"p={p!r}: expected >= 1")
    a = np.sum(np.abs(f) ** p, axis=1).reshape(f.shape[0], -1)
    total = np.sum(a, axis=1, keepdims=True)
    uniform = np.full_like(a, 1.0 / a.shape[1])
    return np.where(total > eps, a / np.maximum(total, eps), uniform)


def attention_kl(student_feature, teacher_feature, *, p=2, precision="float64") -> float:
    """Batch mean of KL(attention(teacher) || attention(student)) (stage 3).

    Numeric contract: maps from ``attention_map``; the student's map is floored at 1e-12 before
    the log so a zero entry gives a large finite loss, not inf. Features may differ in channel
    count but must share N, H, W. Errors: ValueError otherwise.
    """
    fs = as_float("student_feature", student_feature, precision, ndim=4)
    ft = as_float("teacher_feature", teacher_feature, precision, ndim=4)
    if (fs.shape[0],) + fs.shape[2:] != (ft.shape[0],) + ft.shape[2:]:
        raise ValueError(f"student_feature has shape {fs.shape}, teacher_feature {ft.shape}: "
                         f"expected the same N, H, W")
    a_s = attention_map(fs, p=p, precision=precision)
    a_t = attention_map(ft, p=p, precision=precision)
    with np.errstate(divide="ignore"):
        log_t = np.log(a_t)
    return float(np.mean(_kl_rows(log_t, np.log(np.maximum(a_s, 1e-12)))))


@dataclass(frozen=True)
class DistillationLoss:
    """The parts of the distillation loss and their weighted total."""

    soft: float
    feature: float
    attention: float
    hard: float
    total: float
    tau: float
    lam: float
    gamma: float


def distillation_loss(student_logits, teacher_logits, student_features=(), teacher_features=(),
                      *, labels=None, tau=DEFAULT_TAU, lam=DEFAULT_LAMBDA, gamma=DEFAULT_GAMMA,
                      hard_weight=1.0, attention_p=2) -> DistillationLoss:
    """Total three-stage loss: soft + lam * sum(feature L2) + gamma * sum(attention KL)
    [+ hard_weight * cross-entropy(student, labels) when labels are given].

    Numeric contract: float64 throughout; features are paired lists of NCHW tensors (the L2
    term needs equal shapes, the attention term equal N, H, W); feature and attention terms are
    summed over the pairs. Defaults are the seed's tau=3, lambda=0.5, gamma=0.3.
    Errors: ValueError for unequal list lengths, bad labels or negative weights.
    """
    student_features, teacher_features = list(student_features), list(teacher_features)
    if len(student_features) != len(teacher_features):
        raise ValueError(f"student_features has {len(student_features)} entries, "
                         f"teacher_features {len(teacher_features)}: expected equal")
    lam = check_positive_float("lam", lam, allow_zero=True)
    gamma = check_positive_float("gamma", gamma, allow_zero=True)
    hard_weight = check_positive_float("hard_weight", hard_weight, allow_zero=True)
    soft = soft_label_kl(student_logits, teacher_logits, tau=tau)
    feat = sum(feature_l2(s, t) for s, t in zip(student_features, teacher_features))
    att = sum(attention_kl(s, t, p=attention_p)
              for s, t in zip(student_features, teacher_features))
    hard = 0.0
    if labels is not None:
        s = as_float("student_logits", student_logits, "float64", ndim=2)
        y = np.asarray(labels)
        if y.shape != (s.shape[0],) or y.dtype.kind not in "iu" or y.min() < 0 or \
                y.max() >= s.shape[1]:
            raise ValueError(f"labels has shape {y.shape} dtype {y.dtype}: expected "
                             f"({s.shape[0]},) ints in [0, {s.shape[1] - 1}]")
        hard = float(-np.mean(log_softmax(s, precision="float64")[np.arange(s.shape[0]), y]))
    total = soft + lam * feat + gamma * att + hard_weight * hard
    return DistillationLoss(soft=soft, feature=float(feat), attention=float(att), hard=hard,
                            total=float(total), tau=float(tau), lam=lam, gamma=gamma)

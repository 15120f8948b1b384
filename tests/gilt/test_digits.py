"""The accuracy experiments behind C3 and C9: gradients checked against the reference losses,
quantized inference checked against the float model."""

import numpy as np
import pytest

from gilt.experiments import digits
from reference.distillation import feature_l2, soft_label_kl


def _objective(params, n_layers, xb, yb, t_logits, t_feat, proj):
    model = digits.MLP(tuple(params[:n_layers]), tuple(params[n_layers:2 * n_layers]))
    logits, hidden = model.forward(xb)
    logp = logits - logits.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
    ce = -np.mean(logp[np.arange(len(yb)), yb])
    return (ce + soft_label_kl(logits, t_logits, tau=digits.TAU)
            + digits.LAMBDA_FEATURE * feature_l2(hidden[-1] @ proj, t_feat))


def test_distillation_gradients_match_finite_differences_of_reference_losses():
    rng = np.random.default_rng(1)
    sizes = (6, 5, 4, 3)
    n_layers = len(sizes) - 1
    params = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    params += [rng.normal(size=b) * 0.1 for b in sizes[1:]]
    proj = rng.normal(size=(sizes[-2], 7))
    xb = rng.normal(size=(8, sizes[0]))
    yb = rng.integers(0, sizes[-1], size=8)
    t_logits = rng.normal(size=(8, sizes[-1])) * 3
    t_feat = rng.normal(size=(8, 7))
    grads = digits.batch_gradients(params, n_layers, xb, yb, t_logits, t_feat, proj)
    every = params + [proj]
    eps = 1e-6
    for p, g in zip(every, grads):
        for idx in [tuple(rng.integers(0, s) for s in p.shape) for _ in range(4)]:
            old = p[idx]
            p[idx] = old + eps
            up = _objective(params, n_layers, xb, yb, t_logits, t_feat, proj)
            p[idx] = old - eps
            down = _objective(params, n_layers, xb, yb, t_logits, t_feat, proj)
            p[idx] = old
            assert g[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-7)


def test_w8a8_inference_stays_close_to_the_float_model():
    """8-bit weights and activations through the reference integer operators: logits within 5%
    of the float logit range, and the same class for at least 95% of the test images."""
    xtr, ytr, xte, yte = digits.load_split(0)
    model = digits.train((64, 16, 10), xtr, ytr, epochs=3, seed=0)
    q_logits = digits.quantized_forward(model, xtr, xte[:50], weight_bits=8)
    f_logits = model.forward(xte[:50])[0]
    assert q_logits.shape == f_logits.shape
    # quantization error of an 8-bit path is a small fraction of the logit range
    assert np.max(np.abs(q_logits - f_logits)) < 0.05 * np.ptp(f_logits)
    assert np.mean(np.argmax(q_logits, 1) == np.argmax(f_logits, 1)) >= 0.95


def test_split_is_seeded_and_disjoint():
    a = digits.load_split(3)
    b = digits.load_split(3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert len(a[1]) + len(a[3]) == 1797

"""The C10 experiment's pieces: augmentations are the reference operators, per-sample reward
products equal the full gradient, the policy learns to avoid label-changing flips."""

from __future__ import annotations

import numpy as np
import pytest

from gilt.experiments import dqn_augment as da
from reference import image_ops as io


def test_augmentations_are_reference_operators_on_uint8():
    (x, _), _, _ = da.load_images(0)
    img = x[0]
    assert img.dtype == np.uint8 and img.shape == (8, 8)
    rng = np.random.default_rng(0)
    assert np.array_equal(da.augment(img, da.ACTIONS.index("flip_horizontal"), rng),
                          io.flip(img, axis="horizontal"))
    for a in range(len(da.ACTIONS)):
        out = da.augment(img, a, np.random.default_rng(a))
        assert out.dtype == np.uint8 and out.shape == (8, 8)


def test_per_sample_reward_sums_to_the_batch_gradient_product():
    rng = np.random.default_rng(1)
    clf = da.Mlp((64, 16, 10), rng)
    x, y = rng.random((12, 64)), rng.integers(0, 10, 12)
    vx, vy = rng.random((20, 64)), rng.integers(0, 10, 20)
    acts = clf.forward(x)
    ds = clf.deltas(acts, y)
    r = da._reward(clf, acts, ds, (vx, vy))
    gw, gb = clf.grads(acts, ds)                      # batch mean gradient
    va = clf.forward(vx)
    vw, vb = clf.grads(va, clf.deltas(va, vy))
    full = sum((g * v).sum() for g, v in zip(gw + gb, vw + vb))
    assert r.shape == (12,) and np.isclose(r.mean(), full)


@pytest.mark.slow
def test_dqn_learns_to_avoid_flips_and_beats_random():
    rows = da.run(seeds=(0,), epochs=20, strategies=("random", "dqn"))
    s = da.summary(rows)
    share = dict(zip(da.ACTIONS, s["dqn"]["action_share"]))
    assert share["flip_horizontal"] < 1 / len(da.ACTIONS)
    assert s["dqn"]["test_acc"] > s["random"]["test_acc"]


def test_short_run_reports_every_field():
    r = da.train_run("dqn", 0, epochs=2)
    assert 0 <= r.test_acc <= 1 and r.seconds > 0
    assert np.isclose(sum(r.action_share), 1.0)
    with pytest.raises(ValueError):
        da.train_run("fixed:rotate", 0, epochs=1)

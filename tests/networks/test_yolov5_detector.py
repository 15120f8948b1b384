"""The whole YOLOv5s detector (``yolov5s``): published counts and the Detect decode checked
against ultralytics' v6.0 formula written out independently here."""

from __future__ import annotations

import numpy as np
import pytest

import networks
from networks.execute import run_float
from networks.models import build_model, sample_inputs
from networks.models.yolov5 import ANCHORS, STRIDES


def test_yolov5s_parameters_and_flops_match_ultralytics_summary():
    # ultralytics v6.0 model summary: "YOLOv5s summary: 270 layers, 7235389 parameters,
    # 16.5 GFLOPs" (its FLOPs count includes bias and BN terms; the MACs here are conv only)
    g = build_model("yolov5s", materialize=False)
    assert g.param_count() == 7_235_389
    assert g.shape(g.outputs[0]) == (1, 25200, 85)
    wl = networks.workload_for("yolov5s")
    assert 16.3e9 < 2 * wl.macs_dense < 16.6e9


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def test_detect_decode_is_ultralytics_formula():
    size = 64
    g = build_model("yolov5s", input_size=size, seed=3)
    heads = [f"model.24.m.{i}" for i in range(3)]
    kept, outs, _ = run_float(g, sample_inputs(g, seed=4), keep=heads)
    got = np.asarray(outs[g.outputs[0]])
    parts = []
    for i, name in enumerate(heads):
        p = kept[name].astype(np.float64)                      # (1, 255, ny, nx)
        _, _, ny, nx = p.shape
        p = p.reshape(1, 3, 85, ny, nx).transpose(0, 1, 3, 4, 2)
        y = _sigmoid(p)
        gy, gx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        grid = np.stack([gx, gy], -1)[None, None]
        anchor = np.array(ANCHORS[i], np.float64)[None, :, None, None, :]
        xy = (y[..., 0:2] * 2 - 0.5 + grid) * STRIDES[i]
        wh = (y[..., 2:4] * 2) ** 2 * anchor
        parts.append(np.concatenate([xy, wh, y[..., 4:]], -1).reshape(1, -1, 85))
    want = np.concatenate(parts, 1)
    assert got.shape == want.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 85)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-3)


def test_yolov5s_refuses_input_not_divisible_by_its_stride():
    with pytest.raises(ValueError, match="divisible by 32"):
        build_model("yolov5s", input_size=100, materialize=False)

"""The rtl mode of the NPU model (simulator/npu/rtl_array.py) on its own: its closed forms, what
it refuses, and how it differs from the generic fold model. (That it equals the RTL's
counters is tests/rtl/test_rtl_bench.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.workload import LayerWork
from simulator.npu import rtl_array
from simulator.npu.spec import load_npu_spec


def conv(c=16, h=8, w=8, k=16, r=3, **kw) -> LayerWork:
    return LayerWork.conv("l", batch=1, in_channels=c, in_h=h, in_w=w, out_channels=k,
                          kernel=(r, r), pads=(r // 2,) * 4, **kw)


@pytest.mark.parametrize("rows,cols", [(4, 4), (8, 8), (16, 16), (4, 8), (8, 2), (1, 1)])
@pytest.mark.parametrize("c,k", [(3, 5), (16, 16), (64, 32)])
def test_ws_dense_closed_form(rows, cols, c, k):
    layer = conv(c=c, k=k)
    p = rtl_array.predict(layer, rtl_array.array_spec(rows, cols, "ws"))
    _, m, n, kk = layer.gemm_shape()
    folds = math.ceil(n / cols) * math.ceil(kk / rows)
    assert p.cycles == folds * rows + folds * m + (folds - 1) * max(0, cols - 2) + rows + cols
    assert p.busy == m * n * kk                      # dense: every MAC once
    assert p.cycles == p.preload + p.steps + p.stall + p.scan


@pytest.mark.parametrize("rows,cols", [(4, 4), (8, 8), (16, 4), (2, 16)])
@pytest.mark.parametrize("c,h", [(1, 2), (16, 8), (64, 4)])
def test_os_dense_closed_form(rows, cols, c, h):
    layer = conv(c=c, h=h, w=h, k=24)
    p = rtl_array.predict(layer, rtl_array.array_spec(rows, cols, "os"))
    _, m, n, kk = layer.gemm_shape()
    mf, nf = math.ceil(m / rows), math.ceil(n / cols)
    tile = max(kk, max(rows, cols))                  # a tile's last step waits for the drain
    first = kk                                       # ... except the very first tile's
    expect = mf * rows + first + (mf * nf - 1) * tile + rows + cols
    if kk >= max(rows, cols):
        assert p.cycles == expect
    assert p.busy == m * n * kk
    assert p.cycles == p.preload + p.steps + p.stall + p.scan


def test_gating_shortens_k_and_costs_a_scan():
    mask = np.zeros((1, 16), bool)
    mask[0, ::4] = True
    dense = rtl_array.predict(conv(), rtl_array.array_spec(8, 8, "ws"))
    gated = rtl_array.predict(conv(gate_mask=mask), rtl_array.array_spec(8, 8, "ws"))
    assert gated.kactive == 4 * 9 and dense.kactive == 16 * 9
    assert gated.scan == 16 and gated.cycles < dense.cycles


def test_zero_skip_needs_element_bitmaps():
    layer = conv(act_zero_bitmap=np.zeros((1, 16, 2, 2), bool),
                 weight_zero_bitmap=np.zeros((16, 16, 3, 3), bool), zero_block=(1, 1, 4, 4))
    with pytest.raises(ValueError, match="element-level"):
        rtl_array.predict(layer, rtl_array.array_spec(4, 4, "ws"), zero_skip=True)
    with pytest.raises(ValueError, match="act_zero_bitmap"):
        rtl_array.predict(conv(), rtl_array.array_spec(4, 4, "ws"), zero_skip=True)


def test_zero_weight_tiles_skip_folds_but_not_the_first():
    w_zero = np.ones((16, 16, 3, 3), bool)          # every weight zero
    layer = conv(act_zero_bitmap=np.zeros((1, 16, 8, 8), bool), weight_zero_bitmap=w_zero,
                 zero_block=(1, 1, 1, 1))
    p = rtl_array.predict(layer, rtl_array.array_spec(8, 8, "ws"), zero_skip=True)
    kfolds, nfolds = math.ceil(144 / 8), 2
    assert p.skipped == (kfolds - 1) * nfolds      # the first K fold writes the bias
    assert p.busy == nfolds * 64 * 8 * 8             # those stream (zero weights still MAC)


@pytest.mark.parametrize("bad", [dict(groups=2), dict(batch=2)])
def test_refuses_what_the_array_does_not_run(bad):
    layer = LayerWork.conv("g", batch=bad.get("batch", 1), in_channels=8, in_h=4, in_w=4,
                           out_channels=8, kernel=(3, 3), groups=bad.get("groups", 1))
    with pytest.raises(ValueError, match="batch 1, groups 1"):
        rtl_array.predict(layer, rtl_array.array_spec(4, 4, "ws"))
    with pytest.raises(ValueError, match="dataflow"):
        rtl_array.predict(conv(), rtl_array.array_spec(4, 4, "is"))


def test_preset_is_a_plain_npu_spec():
    spec = load_npu_spec(rtl_array.PRESET)
    assert (spec.array_rows, spec.array_cols, spec.pe_int4_macs) == (8, 8, 1)
    assert not spec.stationary_double_buffer

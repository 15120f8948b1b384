"""C15 on the edge presets: the figures of docs/seed-claims.md come out of the models, and the
phone presets' equivalent arrays reach exactly the published peaks."""

from __future__ import annotations

import pytest

from gilt.experiments import edge_claims
from simulator.npu.spec import load_npu_spec


@pytest.mark.parametrize("preset, tops", [("apple-a14-ane", 11.0),
                                          ("qualcomm-sd888-hexagon780", 26.2)])
def test_phone_presets_reach_the_published_peak(preset, tops):
    s = load_npu_spec(preset)
    assert 2 * s.pes * s.cores * s.clock_hz / 1e12 == pytest.approx(tops, rel=0.01)


def test_c15_yolov5s_on_xavier_engines():
    y = edge_claims.c15_yolov5s()
    assert 16.3 < 2 * y["gmacs"] < 16.6
    assert y["gpu_int8_ms"] < y["gpu_fp16_ms"] < y["dla_int8_ms"]
    assert y["dla_layers_on_gpu"] > 0 and 0 < y["dla_gpu_tail_ms"] < y["dla_int8_ms"]
    # the three engines together beat the GPU alone
    assert y["both_fps"] > 1e3 / y["gpu_int8_ms"]
    # the seed's 35 FPS is below what the GPU alone delivers in this model
    assert 1e3 / y["gpu_fp16_ms"] > y["seed_fps"]


def test_c15_bert_on_phone_presets():
    b = edge_claims.c15_bert_phones()
    assert 11.0 < b["gmacs"] < 11.4
    assert 0 < b["sd888_hexagon_ms"] < b["a14_ane_ms"] < b["seed_ms"]
    assert b["apple_scaled_a14_ms"] == pytest.approx(3.47 * 2 * 15.8 / 11.0)
    lines = edge_claims.lines(edge_claims.c15_yolov5s(), b)
    assert len(lines) == 2 and "35 FPS" in lines[0] and "82 ms" in lines[1]

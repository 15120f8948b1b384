"""GPU layer model: the worked examples of NVIDIA's Matrix Multiplication Background guide
(tile and wave quantization on A100, 108 SMs), occupancy, gating/zero-skip at tile
granularity, W4A8, fused vs unfused epilogue, and properties over shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.workload import LayerWork
from simulator.gpu.model import (
    GemmProblem,
    resolve_mma_dtype,
    simulate_gemm,
    simulate_layer,
    tile_occupancy,
)
from simulator.gpu.spec import load_gpu_spec

A100 = load_gpu_spec("a100_sxm4_40gb")
V100 = load_gpu_spec("v100_sxm2")
H100 = load_gpu_spec("h100_sxm5")


def fp16_gemm(m, n, k, **kw):
    return GemmProblem(m=m, n=n, k=k, a_bits=16, w_bits=16, out_bits=16, mma_dtype="fp16", **kw)


# --------------------------------------------------------------- the guide's worked examples
def test_guide_256x128_tile_runs_one_block_per_sm_on_a100():
    # guide 3.2: "in the particular case of 256x128 thread block tiles, it can execute one
    # thread block per SM, leading to a wave size of 108 tiles"
    occ = tile_occupancy(A100, 256, 128, 8, 32, 2, 2)
    assert occ["blocks_per_sm"] == 1
    r = simulate_gemm(fp16_gemm(2304, 1536, 4096), A100, tile=(256, 128), split_k=1)
    assert r["wave_slots"] == 108


def test_guide_1792_square_output_is_98_tiles_one_partial_wave():
    r = simulate_gemm(fp16_gemm(1792, 1792, 4096), A100, tile=(256, 128), split_k=1)
    assert (r["tiles"], r["waves"], r["last_wave_tiles"]) == (98, 1, 98)
    # 10 of 108 SMs idle during the only wave
    assert r["busy_sm_cycles"] / (108 * r["compute_cycles"]) == pytest.approx(98 / 108)


def test_guide_wave_quantization_m2304_k4096():
    # guide 3.2: M=2304, K=4096, N varies; 9 tiles along M; 108 tiles (N=1536) fill one wave,
    # N=1664 needs 117 tiles = two waves, the second nearly empty
    full = simulate_gemm(fp16_gemm(2304, 1536, 4096), A100, tile=(256, 128), split_k=1)
    over = simulate_gemm(fp16_gemm(2304, 1664, 4096), A100, tile=(256, 128), split_k=1)
    assert (full["tiles"], full["waves"]) == (108, 1)
    assert (over["tiles"], over["waves"], over["last_wave_tiles"]) == (117, 2, 9)
    assert 1.8 < over["cycles"] / full["cycles"] < 2.05
    flops_full = 2 * 2304 * 1536 * 4096 / full["cycles"]
    flops_over = 2 * 2304 * 1664 * 4096 / over["cycles"]
    assert flops_over < 0.6 * flops_full


def test_guide_tile_quantization_257_columns():
    # guide 3.1: 256x256 output in 128x128 tiles = 4 blocks; 257x256 = 6 blocks, same math each
    even = simulate_gemm(fp16_gemm(256, 256, 4096), A100, tile=(128, 128), split_k=1)
    odd = simulate_gemm(fp16_gemm(257, 256, 4096), A100, tile=(128, 128), split_k=1)
    assert (even["tiles"], odd["tiles"]) == (4, 6)
    assert odd["macs_issued"] / even["macs_issued"] == pytest.approx(1.5)


def test_cublas_like_choice_prefers_big_tiles_for_big_gemms():
    r = simulate_gemm(fp16_gemm(8192, 8192, 8192), A100)
    assert r["tile"][0] * r["tile"][1] >= 128 * 128
    small = simulate_gemm(fp16_gemm(128, 128, 8192), A100)
    assert small["split_k"] > 1 or small["tile"][0] * small["tile"][1] < 128 * 128


def test_forced_tile_errors():
    with pytest.raises(ValueError, match="tile must be one of"):
        simulate_gemm(fp16_gemm(64, 64, 64), A100, tile=(100, 100))
    with pytest.raises(ValueError, match="split_k"):
        simulate_gemm(fp16_gemm(64, 64, 64), A100, split_k=0)
    with pytest.raises(ValueError, match="no 'int8' Tensor Core path"):
        simulate_gemm(GemmProblem(m=64, n=64, k=64, mma_dtype="int8"), V100)
    with pytest.raises(ValueError, match="GemmProblem.m"):
        GemmProblem(m=0, n=1, k=1)


# --------------------------------------------------------------- properties
@given(m=st.integers(1, 4096), n=st.integers(1, 4096), k=st.integers(1, 4096),
       dtype=st.sampled_from(["fp16", "int8", "tf32"]), gpu=st.sampled_from([A100, H100, V100]))
def test_counters_are_consistent(m, n, k, dtype, gpu):
    if not gpu.has_mma(dtype):
        dtype = "fp16"
    bits = {"fp16": 16, "int8": 8, "tf32": 32}[dtype]
    r = simulate_gemm(GemmProblem(m=m, n=n, k=k, a_bits=bits, w_bits=bits, out_bits=bits,
                                  mma_dtype=dtype), gpu)
    bm, bn, _ = r["tile"]
    assert r["tiles"] == -(-m // bm) * -(-n // bn) * r["split_k"]
    assert r["waves"] == -(-r["tiles"] // r["wave_slots"])
    assert 0 < r["busy_sm_cycles"] <= gpu.sm_count * r["compute_cycles"] * (1 + 1e-9)
    assert r["macs_issued"] >= m * n * k - 1e-6
    assert r["cycles"] >= r["dram_cycles"] and r["cycles"] >= r["compute_cycles"]
    assert r["dram_bytes"] >= (m * k + k * n + m * n) * bits / 8 - 1e-6


@given(m=st.integers(1, 3000), n=st.integers(1, 3000), k=st.integers(1, 3000),
       extra=st.integers(1, 3000))
def test_more_work_never_takes_less_time(m, n, k, extra):
    # for one tile (a library's heuristic may pick a better tile for a bigger GEMM, so the
    # monotonicity holds per kernel, not across the heuristic's choices)
    for grow in ({"k": k + extra}, {"m": m + extra}, {"n": n + extra}):
        base = simulate_gemm(fp16_gemm(m, n, k), A100, tile=(128, 128))
        dims = {"m": m, "n": n, "k": k, **grow}
        bigger = simulate_gemm(fp16_gemm(**dims), A100, tile=(128, 128))
        assert bigger["cycles"] >= base["cycles"] * (1 - 1e-9)


@given(m=st.integers(64, 4096), k=st.integers(64, 4096))
def test_int8_not_slower_than_fp16_on_a100(m, k):
    fp16 = simulate_gemm(fp16_gemm(m, 1024, k), A100)
    int8 = simulate_gemm(GemmProblem(m=m, n=1024, k=k, a_bits=8, w_bits=8, out_bits=8,
                                     mma_dtype="int8"), A100)
    assert int8["cycles"] <= fp16["cycles"] * (1 + 1e-9)


# --------------------------------------------------------------- layers
def conv(name="c", **kw):
    args = dict(batch=8, in_channels=128, in_h=28, in_w=28, out_channels=128, kernel=(3, 3),
                pads=(1, 1, 1, 1))
    args.update(kw)
    return LayerWork.conv(name, **args)


def test_layer_result_fields():
    r = simulate_layer(conv(), A100)
    d = r.details
    assert r.target == "gpu" and r.time_s == pytest.approx(r.cycles / A100.clock_hz)
    assert 0 < r.utilization <= 1 and 0 < d["sm_utilization"] <= 1
    assert 0 < d["tc_pipe_utilization"] <= 1 and r.utilization <= d["tc_pipe_utilization"] + 1e-12
    assert d["mma_dtype"] == "int8" and r.bound in ("compute", "memory", "overhead")
    assert d["achieved_tflops"] <= d["peak_tflops"]
    assert d["achieved_gbps"] <= d["peak_gbps"]


def test_dtype_resolution():
    assert resolve_mma_dtype(conv(), A100) == "int8"
    assert resolve_mma_dtype(conv(), V100) == "fp16"      # Volta: no INT8 Tensor Cores
    fp = conv(weight_bits=16, act_bits=16, out_bits=16)
    assert resolve_mma_dtype(fp, H100) == "fp16"
    f32 = conv(weight_bits=32, act_bits=32, out_bits=32)
    assert resolve_mma_dtype(f32, A100) == "tf32" and resolve_mma_dtype(f32, V100) == "fp32"
    with pytest.raises(ValueError, match="not available on V100"):
        resolve_mma_dtype(conv(), V100, "int8")


def test_depthwise_runs_on_cuda_cores():
    dw = LayerWork.conv("dw", batch=8, in_channels=256, in_h=28, in_w=28, out_channels=256,
                        kernel=(3, 3), pads=(1, 1, 1, 1), groups=256)
    r = simulate_layer(dw, A100)
    assert r.details["tc_pipe_utilization"] == 0 and "simt" in r.details["mma_dtype"]
    assert r.cycles > 0


def test_elementwise_is_a_memory_pass():
    ew = LayerWork.elementwise("add", shape=(8, 256, 56, 56), inputs=2)
    r = simulate_layer(ew, A100)
    nbytes = 8 * 256 * 56 * 56 * 3
    assert r.dram_bytes == nbytes
    assert r.time_s >= nbytes / (A100.hbm_bw_gb_per_s * 1e9)
    assert r.utilization == 0


def test_unfused_epilogue_costs_two_passes():
    fused = conv(fused=("bn", "relu"))
    a = simulate_layer(fused, A100, epilogue="fused")
    b = simulate_layer(fused, A100, epilogue="unfused")
    elems = 8 * 128 * 28 * 28
    # int8 MMA: GEMM writes int32, BN pass reads/writes int32, ReLU reads int32, writes int8
    gemm_extra = elems * (32 - 8) / 8
    passes = elems * (32 + 32) / 8 + elems * (32 + 8) / 8
    assert b.dram_bytes - a.dram_bytes == pytest.approx(gemm_extra + passes, rel=1e-9)
    assert b.cycles > a.cycles
    assert [p["op"] for p in b.details["epilogue_passes"]] == ["bn", "relu"]
    with pytest.raises(ValueError, match="epilogue"):
        simulate_layer(fused, A100, epilogue="sometimes")


def test_w4a8_halves_weight_traffic_of_a_weight_bound_layer():
    w8 = LayerWork.matmul("fc", m=1, n=4096, k=4096, weight_bits=8)
    w4 = LayerWork.matmul("fc", m=1, n=4096, k=4096, weight_bits=4)
    r8, r4 = simulate_layer(w8, A100), simulate_layer(w4, A100)
    assert r4.details["w4_dequant"] and not r8.details["w4_dequant"]
    assert r4.dram_bytes < 0.6 * r8.dram_bytes
    assert r4.cycles < r8.cycles
    # compute-bound: the unpacking hides under the MMA
    big8 = simulate_layer(LayerWork.matmul("g", m=8192, n=4096, k=4096, weight_bits=8), A100)
    big4 = simulate_layer(LayerWork.matmul("g", m=8192, n=4096, k=4096, weight_bits=4), A100)
    assert big4.cycles <= big8.cycles * 1.02


# --------------------------------------------------------------- gating and zero skip
def test_channel_gate_skips_whole_k_steps_only():
    base = conv(batch=4, in_channels=256, in_h=14, in_w=14, kernel=(1, 1), pads=(0, 0, 0, 0))
    all_on = np.ones((4, 256), dtype=bool)
    half_blocked = all_on.copy()
    half_blocked[:, 128:] = False            # whole 64-channel int8 K steps off
    scattered = all_on.copy()
    scattered[:, 1::2] = False               # same count, every step partly on
    dense = simulate_layer(base, A100)
    on = simulate_layer(_with(base, all_on), A100)
    blocked = simulate_layer(_with(base, half_blocked), A100)
    scatter = simulate_layer(_with(base, scattered), A100)
    assert on.cycles == pytest.approx(dense.cycles)
    assert blocked.details["k_iters_effective"] == pytest.approx(blocked.details["k_iters"] / 2)
    assert blocked.cycles < dense.cycles
    assert scatter.details["k_iters_effective"] == scatter.details["k_iters"]
    assert scatter.cycles == pytest.approx(dense.cycles)


def test_channel_gate_needs_every_sample_of_the_tile_off():
    # 2x2 output pixels per sample: a 64-row M-tile spans 16 samples
    base = conv(batch=32, in_channels=128, in_h=2, in_w=2, kernel=(1, 1), pads=(0, 0, 0, 0))
    mask = np.ones((32, 128), dtype=bool)
    mask[0, 64:] = False                     # one sample only: no tile can skip
    r = simulate_layer(_with(base, mask), A100)
    assert r.details["k_iters_effective"] == r.details["k_iters"]


def test_spatial_gate_skips_m_tiles():
    base = conv(batch=8, in_channels=64, in_h=32, in_w=32, out_channels=1024)
    mask = np.zeros((8, 32, 32), dtype=bool)
    mask[:4] = True                           # last four images entirely gated off
    gated = simulate_layer(_with(base, mask), A100, tile=(256, 128), split_k=1)
    dense = simulate_layer(base, A100, tile=(256, 128), split_k=1)
    assert (dense.details["tiles"], gated.details["tiles"]) == (256, 128)
    assert (dense.details["waves"], gated.details["waves"]) == (3, 2)
    assert gated.cycles < dense.cycles
    assert simulate_layer(_with(base, mask), A100).cycles <= simulate_layer(base, A100).cycles
    with pytest.raises(ValueError, match="gate_mask shape"):
        simulate_layer(_with(base, np.ones((3, 3), dtype=bool)), A100)


def test_zero_block_bitmap_skip_probability():
    base = conv(batch=8, in_channels=256, kernel=(1, 1), pads=(0, 0, 0, 0))
    blocks = (4, 4)
    nothing = np.zeros((64, 64), dtype=bool)
    everything = np.ones((64, 64), dtype=bool)
    dense = simulate_layer(base, A100)
    none_zero = simulate_layer(_with(base, None, weight_zero_bitmap=nothing, zero_block=blocks),
                               A100)
    all_zero = simulate_layer(_with(base, None, weight_zero_bitmap=everything,
                                    zero_block=blocks), A100)
    assert none_zero.cycles == pytest.approx(dense.cycles)
    assert all_zero.details["k_iters_effective"] == 0
    assert all_zero.cycles < dense.cycles
    sparse = np.random.default_rng(0).random((64, 64)) < 0.5   # 50% zero blocks, scattered
    half = simulate_layer(_with(base, None, weight_zero_bitmap=sparse, zero_block=blocks), A100)
    # a 64-deep step of a >=32-wide tile covers >=128 blocks: 0.5**128 ~ nothing skippable
    assert half.cycles == pytest.approx(dense.cycles, rel=1e-6)


def _with(layer, mask, **activity):
    import dataclasses
    return dataclasses.replace(layer, gate_mask=mask, **activity)

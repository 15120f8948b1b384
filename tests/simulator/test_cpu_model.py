"""CPU model arithmetic, checked against hand-computed values (see the model docstring)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.workload import LayerWork, Workload
from simulator.cpu.model import (
    KernelChoice,
    choose_block,
    gemm_compute,
    iteration_cycles,
    register_limit,
    resolve_path,
    simulate_layer,
    simulate_network,
)
from simulator.cpu.presets import load_cpu_spec
from simulator.results import LayerResult, NetworkResult

ZEN5 = load_cpu_spec("zen5-epyc")


def _path(spec, isa, dtype, **kw):
    return resolve_path(spec, KernelChoice(isa=isa, **kw), dtype)


def test_iteration_cycles_port_pressure_and_latency():
    p512 = _path(ZEN5, "avx512", "fp32")
    # 14x2 block: 28 FMAs on 2 pipes = 14 cycles; loads 2 zmm (2/cycle) and 14 broadcasts
    # on 4 ports = 4 cycles; FMA chain 3 cycles -> 14
    assert iteration_cycles(ZEN5, p512, 14, 2) == 14
    # 1x1 block: one FMA per iteration, but the accumulator chain waits 3 cycles
    assert iteration_cycles(ZEN5, p512, 1, 1) == 3
    # OpenBLAS Haswell kernel on Zen 5: 4 broadcasts x 2 ymm: 8 FMAs / 2 = 4 cycles
    assert iteration_cycles(ZEN5, _path(ZEN5, "avx2", "fp32"), 4, 2) == 4


def test_madd_needs_two_multiplies_and_an_add_per_iteration():
    skx = load_cpu_spec("skylake-sp")
    madd = _path(skx, "avx512", "int8")
    assert madd.kind == "madd" and madd.k_step == 4
    # 4x2 block: 16 multiplier ops on 2 pipes = 8 cycles; 8 vpaddd on 2 zmm ALU slots = 4
    assert iteration_cycles(skx, madd, 4, 2) == 8
    icx = load_cpu_spec("icelake-sp")
    vnni = _path(icx, "avx512", "int8")
    assert vnni.kind == "vnni"
    assert iteration_cycles(icx, vnni, 4, 2) == 5  # 8 vpdpbusd / 2 = 4, latency 5 binds


def test_register_limit_and_block_choice():
    p = _path(ZEN5, "avx512", "fp32")
    assert register_limit(p, 14, 2)          # 28 acc + 2 B + 1 broadcast = 31 <= 32
    assert not register_limit(p, 15, 2)      # 33
    avx2 = _path(ZEN5, "avx2", "fp32")         # 16 ymm registers
    assert register_limit(avx2, 4, 3)          # 12 + 3 + 1 = 16
    assert not register_limit(avx2, 5, 3)      # 15 + 3 + 1 = 19
    mr, nr = choose_block(ZEN5, p)
    assert register_limit(p, mr, nr)
    assert iteration_cycles(ZEN5, p, mr, nr) / (mr * nr) == pytest.approx(0.5)  # FMA-bound


def test_gemm_compute_tails_by_hand():
    p = _path(ZEN5, "avx512", "fp32")
    # M=7, N=40, K=8 with a 4x2 block (32 columns): tiles 4x2, 4x1 (8-col masked tail),
    # 3x2 and 3x1 (row tail). Cycles per iteration: 4, 3 (latency), 3, 3; 8 iterations each,
    # plus a store epilogue of rows*vectors: 40 + 28 + 30 + 27
    g = gemm_compute(ZEN5, p, 7, 40, 8, mr=4, nr=2)
    assert g.cycles == 125
    assert g.tiles == 4
    # MAC slots: 8 iterations x rows x vectors x 16 lanes
    assert g.mac_slots == 8 * 16 * (8 + 4 + 6 + 3)
    assert g.instructions["fma"] == 8 * (8 + 4 + 6 + 3)


def test_vnni_pads_k_to_groups_of_four():
    icx = load_cpu_spec("icelake-sp")
    p = _path(icx, "avx512", "int8")
    g6 = gemm_compute(icx, p, 4, 16, 6, mr=4, nr=1)
    g8 = gemm_compute(icx, p, 4, 16, 8, mr=4, nr=1)
    assert g6.cycles == g8.cycles and g6.mac_slots == 4 * 16 * 8
    layer = LayerWork.matmul("mm", m=64, n=64, k=6)
    r = simulate_layer(layer, icx, KernelChoice(warm=True))
    assert r.details["k_utilization"] == pytest.approx(6 / 8)


def test_misaligned_channels_waste_lanes():
    layer = LayerWork.matmul("mm", m=60, n=17, k=64)   # 17 columns: two 16-lane vectors
    r = simulate_layer(layer, ZEN5, KernelChoice(isa="avx512", threads=1, warm=True))
    assert r.details["n_lane_utilization"] == pytest.approx(17 / 32)
    assert r.details["lane_utilization"] <= 17 / 32 + 1e-9


def test_layer_time_utilization_and_threads():
    layer = LayerWork.matmul("mm", m=1024, n=1024, k=1024, act_bits=32, weight_bits=32,
                             out_bits=32)
    one = simulate_layer(layer, ZEN5, KernelChoice(threads=1, warm=True))
    two = simulate_layer(layer, ZEN5, KernelChoice(threads=2, warm=True))
    assert isinstance(one, LayerResult) and one.target == "cpu"
    assert one.time_s == pytest.approx(one.cycles / 3.7e9)
    # big GEMM: compute-bound at the FMA peak, about twice as fast on two cores
    assert one.bound == "compute" and one.utilization > 0.95
    assert one.time_s / two.time_s == pytest.approx(2, rel=0.02)
    assert two.details["achieved_vs_peak"] == pytest.approx(two.utilization)


def test_int8_vnni_vs_madd_vs_fp32():
    icx = load_cpu_spec("icelake-sp")
    i8 = LayerWork.matmul("mm", m=512, n=512, k=512)
    f32 = LayerWork.matmul("mmf", m=512, n=512, k=512, act_bits=32, weight_bits=32, out_bits=32)
    kw = dict(threads=1, warm=True)
    t_vnni = simulate_layer(i8, icx, KernelChoice(**kw)).details["compute_cycles"]
    t_madd = simulate_layer(i8, icx, KernelChoice(int8_path="madd", **kw)).details[
        "compute_cycles"]
    t_f32 = simulate_layer(f32, icx, KernelChoice(**kw)).details["compute_cycles"]
    assert t_madd / t_vnni == pytest.approx(2, rel=0.1)   # 64 vs 128 MACs per cycle
    assert t_f32 / t_vnni == pytest.approx(4, rel=0.1)    # 32 vs 128


def test_gated_input_channels_im2col_compacts_direct_skips_groups():
    mask = np.zeros((1, 16), dtype=bool)
    mask[0, [0, 4, 8, 12]] = True      # one active channel in each group of four
    dense = 1 * 16 * 8 * 8 * 16 * 9
    done = 4 * 16 * 8 * 8 * 9
    layer = LayerWork.conv("c", batch=1, in_channels=16, in_h=8, in_w=8, out_channels=16,
                           kernel=(3, 3), pads=(1, 1, 1, 1), macs_skipped_gate=dense - done,
                           gate_mask=mask)
    icx = load_cpu_spec("icelake-sp")
    im2col = simulate_layer(layer, icx, KernelChoice(threads=1, warm=True),
                            gating="compaction")
    direct = simulate_layer(layer, icx, KernelChoice(threads=1, warm=True),
                            gating="tile-skip")
    dense = simulate_layer(layer, icx, KernelChoice(threads=1, warm=True), gating="dense")
    auto = simulate_layer(layer, icx, KernelChoice(threads=1, warm=True))
    assert [r.details["gating_mode"] for r in (im2col, direct, dense)] == \
        ["compaction", "tile-skip", "dense"]
    assert auto.cycles == min(r.cycles for r in (im2col, direct, dense))
    assert dense.details["gemm"]["k_effective"] == 16 * 9 and dense.macs_done == done
    assert im2col.details["gemm"]["k_effective"] == 4 * 9        # active channels x taps
    assert direct.details["gemm"]["k_effective"] == 16 * 9       # no group of 4 fully gated
    ungated = LayerWork.conv("c", batch=1, in_channels=16, in_h=8, in_w=8, out_channels=16,
                             kernel=(3, 3), pads=(1, 1, 1, 1))
    plain = simulate_layer(ungated, icx, KernelChoice(threads=1, warm=True))
    assert im2col.details["compute_cycles"] < plain.details["compute_cycles"]
    assert im2col.macs_done == done


def test_depthwise_lanes_and_elementwise_memory_bound():
    dw = LayerWork.conv("dw", batch=1, in_channels=24, in_h=28, in_w=28, out_channels=24,
                        kernel=(3, 3), pads=(1, 1, 1, 1), groups=24)
    r = simulate_layer(dw, ZEN5, KernelChoice(threads=1))
    assert r.details["n_lane_utilization"] == pytest.approx(24 / 32)
    ew = LayerWork.elementwise("add", shape=(1, 256, 256, 256), inputs=2)
    e = simulate_layer(ew, ZEN5, KernelChoice(threads=1))
    assert e.bound == "memory" and e.details["home_level"] == "L3"   # 48 MiB < 512 MiB L3
    small_l3 = simulate_layer(ew, "avx2-desktop", KernelChoice(threads=1))
    assert small_l3.details["home_level"] == "DRAM" and small_l3.dram_bytes == 3 * 256 ** 3


def test_cold_weights_stream_from_dram_at_stored_bits():
    w4 = LayerWork.matmul("fc", m=1, n=4096, k=4096, weight_bits=4)
    r = simulate_layer(w4, ZEN5, KernelChoice(threads=4))
    assert r.dram_bytes == 4096 * 4096 // 2
    assert r.bound in ("memory", "overhead")
    assert r.memory_cycles > r.compute_cycles


def test_tiny_call_is_overhead_bound():
    r = simulate_layer(LayerWork.matmul("t", m=4, n=4, k=4), ZEN5,
                       KernelChoice(threads=1, call_overhead_us=10.0))
    assert r.bound == "overhead"
    assert r.overhead_cycles >= 10e-6 * r.details["clock_hz"]
    assert r.time_s >= 10e-6


def test_network_totals_and_isa_ordering():
    layers = (LayerWork.conv("c1", batch=1, in_channels=64, in_h=28, in_w=28, out_channels=64,
                             kernel=(3, 3), pads=(1, 1, 1, 1)),
              LayerWork.elementwise("relu", shape=(1, 64, 28, 28)),
              LayerWork.matmul("fc", m=1, n=1000, k=2048))
    wl = Workload("toy", layers)
    spec = load_cpu_spec("skylake-sp")
    res = {isa: simulate_network(wl, spec, KernelChoice(isa=isa, threads=1))
           for isa in ("scalar", "avx2", "avx512")}
    for r in res.values():
        assert isinstance(r, NetworkResult) and r.target == "cpu"
        assert r.time_s == pytest.approx(sum(lr.time_s for lr in r.layers))
        assert sum(r.details["time_by_bound_s"].values()) == pytest.approx(r.time_s)
    assert res["scalar"].time_s > res["avx2"].time_s > res["avx512"].time_s


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="isa must be one of"):
        KernelChoice(isa="neon")
    with pytest.raises(ValueError, match="conv_method"):
        KernelChoice(conv_method="winograd")
    with pytest.raises(ValueError, match="mr must be a positive int"):
        KernelChoice(mr=0)
    with pytest.raises(ValueError, match="call_overhead_us"):
        KernelChoice(call_overhead_us=-1)
    with pytest.raises(TypeError, match="layer must be a LayerWork"):
        simulate_layer("conv", ZEN5)
    with pytest.raises(TypeError, match="workload must be a Workload"):
        simulate_network([], ZEN5)
    with pytest.raises(ValueError, match="register block"):
        simulate_layer(LayerWork.matmul("m", m=8, n=8, k=8), ZEN5, KernelChoice(mr=16,
                                                                               nr_vectors=4))
    with pytest.raises(ValueError, match="vector_bits=256"):
        simulate_layer(LayerWork.matmul("m", m=8, n=8, k=8), "avx2-desktop",
                       KernelChoice(isa="avx512"))


@given(m=st.integers(1, 300), n=st.integers(1, 300), k=st.integers(1, 300),
       preset=st.sampled_from(["avx2-desktop", "skylake-sp", "zen4-epyc", "zen5-epyc"]),
       fp32=st.booleans(), threads=st.integers(1, 4))
def test_never_faster_than_peak_and_lanes_bounded(m, n, k, preset, fp32, threads):
    bits = 32 if fp32 else 8
    layer = LayerWork.matmul("mm", m=m, n=n, k=k, act_bits=bits, weight_bits=bits)
    spec = load_cpu_spec(preset)
    r = simulate_layer(layer, spec, KernelChoice(threads=threads, warm=True))
    d = r.details
    assert 0 < d["lane_utilization"] <= 1 + 1e-12
    assert 0 <= r.utilization <= 1
    # dense MACs can never finish faster than the path's peak on the threads used
    assert r.cycles >= layer.macs_dense / d["peak_macs_per_cycle"] - 1e-9
    assert r.time_s == pytest.approx(r.cycles / d["clock_hz"])


def test_spatial_gate_mask_shrinks_rows_not_k():
    mask = np.zeros((1, 8, 8), dtype=bool)
    mask[0, :4] = True                      # half of the output pixels active
    layer = LayerWork.conv("c", batch=1, in_channels=64, in_h=8, in_w=8, out_channels=64,
                           kernel=(3, 3), pads=(1, 1, 1, 1), macs_skipped_gate=64 * 64 * 9 * 32,
                           gate_mask=mask)
    r = simulate_layer(layer, "icelake-sp", KernelChoice(threads=1, warm=True))
    assert r.details["gemm"]["m_effective"] == 32
    assert r.details["gemm"]["k_effective"] == 64 * 9


def test_depthwise_gated_channels_free_lanes_only_when_compacted():
    mask = np.zeros((1, 32), dtype=bool)
    mask[0, ::2] = True                     # every other channel gated: 16 of 32 active
    layer = LayerWork.conv("d", batch=1, in_channels=32, in_h=16, in_w=16, out_channels=32,
                           kernel=(3, 3), pads=(1, 1, 1, 1), groups=32,
                           macs_skipped_gate=16 * 256 * 9, gate_mask=mask)
    kw = dict(threads=1, warm=True)
    packed = simulate_layer(layer, "icelake-sp", KernelChoice(conv_method="im2col", **kw))
    strided = simulate_layer(layer, "icelake-sp", KernelChoice(conv_method="direct", **kw))
    # 16 active channels fit one 16-lane vector once gathered; in place they still span two
    assert packed.details["vectors_per_pixel"] == 1
    assert strided.details["vectors_per_pixel"] == 2
    assert strided.details["compute_cycles"] == 2 * packed.details["compute_cycles"]

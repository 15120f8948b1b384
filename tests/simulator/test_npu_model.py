"""gilt's NPU model (default mode): mapping, cycles, traffic, gating and zero-skip, sub-byte
operands, cores, energy, timeline. Checked against independent brute-force enumerations of the
fold schedule and against properties the equations must satisfy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.workload import LayerWork, Workload
from simulator.npu.mapping import Mapping, compute_cycles, fold_cycles, mapping_for
from simulator.npu.model import MappingChoice, simulate_layer, simulate_network, timeline_points
from simulator.npu.skip import expand_bitmap
from simulator.npu.spec import load_npu_spec

SPEC = load_npu_spec("npu-32x32")


def small_spec(rows=4, cols=4, **kw):
    return SPEC.replace(array_rows=rows, array_cols=cols, **kw)


def conv(name="l", *, batch=1, c=8, h=6, w=6, m=8, k=3, stride=1, pads=(0, 0, 0, 0),
         dilation=1, groups=1, **kw):
    return LayerWork.conv(name, batch=batch, in_channels=c, in_h=h, in_w=w, out_channels=m,
                          kernel=(k, k), stride=(stride, stride), pads=pads,
                          dilation=(dilation, dilation), groups=groups, **kw)


layers = st.builds(
    lambda c, h, m, k, s, p, b: conv(c=c, h=h, w=h + 1, m=m, k=k, stride=s, pads=(p, p, p, p),
                                     batch=b),
    st.integers(1, 20), st.integers(3, 12), st.integers(1, 40), st.integers(1, 3),
    st.integers(1, 2), st.integers(0, 1), st.integers(1, 2))
arrays = st.tuples(st.integers(2, 9), st.integers(2, 9))
dataflows = st.sampled_from(["ws", "os", "is"])


def brute_force_compute_cycles(mp: Mapping) -> int:
    """Enumerate every (group pass, chunk, row fold, col fold) and add its fold length."""
    total = 0
    for _ in range(mp.group_passes):
        for t0 in range(0, mp.t, mp.t_tile):
            t_len = min(mp.t_tile, mp.t - t0)
            for _ in range(mp.row_folds):
                for _ in range(mp.col_folds):
                    total += mp.rows + t_len + mp.rows + mp.cols - 2
    return total


@given(layers, arrays, dataflows, st.integers(1, 4))
def test_compute_cycles_match_fold_enumeration(layer, array, dataflow, chunks):
    rows, cols = array
    mp = mapping_for(layer, dataflow=dataflow, rows=rows, cols=cols)
    mp = mapping_for(layer, dataflow=dataflow, rows=rows, cols=cols,
                     t_tile=max(1, math.ceil(mp.t / chunks)))
    assert compute_cycles(mp) == brute_force_compute_cycles(mp)
    # the mapped PE slots are the GEMM's spatial extent, never more than the array offers
    assert mp.used_pe_slots == mp.sr * mp.sc * mp.groups
    assert 0 < mp.mapping_efficiency <= 1


@given(layers, arrays, dataflows)
def test_utilization_bounds_and_definitions(layer, array, dataflow):
    spec = small_spec(*array, dataflow=dataflow)
    res = simulate_layer(layer, spec)
    d = res.details
    peak = spec.pes
    assert res.cycles >= layer.macs_dense / peak
    assert 0 < res.utilization <= 1
    assert res.utilization == pytest.approx(layer.macs_done / (peak * res.cycles))
    assert d["compute_utilization"] == pytest.approx(
        layer.macs_done / (peak * d["compute_cycles"]))
    assert res.stall_cycles >= 0
    assert res.cycles == pytest.approx(d["compute_cycles"] + res.stall_cycles)
    assert res.energy_j > 0


@given(layers, arrays, dataflows)
def test_timeline_accounts_for_every_cycle_and_mac(layer, array, dataflow):
    spec = small_spec(*array, dataflow=dataflow)
    res = simulate_layer(layer, spec)
    runs = res.details["timeline"]
    assert sum(n * length for n, length, _ in runs) == res.details["compute_cycles"]
    pe_cycles = sum(n * length * util for n, length, util in runs) * spec.pes
    assert pe_cycles == pytest.approx(layer.macs_dense)
    starts, utils = timeline_points(runs)
    assert starts[-1] == res.details["compute_cycles"] and utils[-1] == 0.0


@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 30), arrays)
def test_ws_and_is_are_transposes(m, n, k, array):
    """IS puts M where WS puts N: a GEMM and its transpose take the same compute cycles."""
    a = LayerWork.matmul("a", m=m, n=n, k=k)
    b = LayerWork.matmul("b", m=n, n=m, k=k)
    rows, cols = array
    ws = mapping_for(a, dataflow="ws", rows=rows, cols=cols)
    is_ = mapping_for(b, dataflow="is", rows=rows, cols=cols)
    assert compute_cycles(ws) == compute_cycles(is_)


def test_os_pays_the_drain_scalesim_forgets():
    layer = LayerWork.matmul("g", m=8, n=8, k=20)
    mp = mapping_for(layer, dataflow="os", rows=8, cols=8)
    # load skew 8 + 8 - 2, stream 20, drain 8 rows: SCALE-Sim's T + R + C - 2 plus R
    assert fold_cycles(mp, 20) == 20 + 8 + 8 - 2 + 8
    assert compute_cycles(mp) == 42


def test_padding_equals_prepadded_input_and_stride_dilation_shrink_m():
    padded = conv(h=6, w=6, pads=(1, 1, 1, 1))
    prepadded = conv(h=8, w=8)
    for df in ("ws", "os", "is"):
        spec = small_spec(dataflow=df)
        assert (simulate_layer(padded, spec).details["compute_cycles"]
                == simulate_layer(prepadded, spec).details["compute_cycles"])
    assert conv(h=9, w=9, stride=2).gemm_shape()[1] == 16
    assert conv(h=9, w=9, dilation=2).gemm_shape()[1] == 25


def test_batch_streams_longer_in_ws():
    one = simulate_layer(conv(batch=1), small_spec())
    two = simulate_layer(conv(batch=2), small_spec())
    assert two.details["t"] == 2 * one.details["t"]
    assert two.macs_dense == 2 * one.macs_dense


def test_depthwise_groups_pack_block_diagonally():
    dw = conv(c=32, m=32, groups=32, h=10, w=10)
    spec = SPEC.replace(dataflow="ws")
    packed = simulate_layer(dw, spec)
    unpacked = simulate_layer(dw, spec, MappingChoice(group_pack=False))
    assert packed.details["group_pack"] == 3       # 32 // 9 kernels side by side
    assert unpacked.details["folds"] == 32
    assert packed.details["folds"] == 11           # ceil(32 / 3)
    assert packed.cycles < unpacked.cycles
    assert packed.utilization > unpacked.utilization


def test_int4_weights_packed_and_dual_mac_pes():
    w8 = conv(c=16, m=8, k=3)                       # K = 144 > 32 rows
    w4 = conv(c=16, m=8, k=3, weight_bits=4)
    packed = simulate_layer(w4, SPEC)
    base = simulate_layer(w8, SPEC)
    # two int4 weights per 8-bit SRAM word: half the filter words, half the DRAM bytes
    assert packed.details["sram_filter_reads"] == math.ceil(base.details["sram_filter_reads"] / 2)
    assert packed.details["dram_filter_bytes"] == base.details["dram_filter_bytes"] / 2
    assert packed.details["compute_cycles"] == base.details["compute_cycles"]
    dual = simulate_layer(w4, SPEC.replace(pe_int4_macs=2))
    assert dual.details["k_per_pe"] == 2
    assert dual.details["sr"] == 72                 # K / 2 on the rows
    assert dual.details["compute_cycles"] < packed.details["compute_cycles"]
    # an int8 layer does not use the dual-MAC mode
    assert simulate_layer(w8, SPEC.replace(pe_int4_macs=2)).details["k_per_pe"] == 1


def test_channel_gating_compacts_k():
    mask = np.zeros((1, 16), dtype=bool)
    mask[0, :8] = True
    dense = conv(c=16, m=8)
    gated = conv(c=16, m=8, macs_skipped_gate=dense.macs_dense // 2, gate_mask=mask)
    res = simulate_layer(gated, SPEC.replace(array_rows=8))
    assert res.details["gemm_k_active"] == 8 * 9
    assert res.details["sr"] == 72
    assert res.details["compute_cycles"] < simulate_layer(
        dense, SPEC.replace(array_rows=8)).details["compute_cycles"]
    with pytest.raises(ValueError, match="gate_mask"):
        simulate_layer(conv(c=16, m=8, gate_mask=np.ones((2, 16), bool)), SPEC)


def test_spatial_gating_compacts_m_in_every_dataflow():
    mask = np.zeros((1, 4, 4), dtype=bool)
    mask[0, :2] = True
    dense = conv(c=4, m=4, h=6, w=6)
    gated = conv(c=4, m=4, h=6, w=6, macs_skipped_gate=dense.macs_dense // 2, gate_mask=mask)
    for df in ("ws", "os", "is"):
        spec = small_spec(dataflow=df)
        assert simulate_layer(gated, spec).details["gemm_m_active"] == 8
        assert (simulate_layer(gated, spec).details["compute_cycles"]
                <= simulate_layer(dense, spec).details["compute_cycles"])


def _direct_zero(layer, za, n, oh, ow, c, i, j):
    """Whether the input feeding output pixel (n, oh, ow) at (c, i, j) is zero (or padding)."""
    top, left = layer.pads[0], layer.pads[1]
    y = oh * layer.stride[0] + i * layer.dilation[0] - top
    x = ow * layer.stride[1] + j * layer.dilation[1] - left
    if not (0 <= y < layer.in_h and 0 <= x < layer.in_w):
        return True
    return bool(za[n, c, y, x])


def brute_force_ws_skipped_steps(layer, za, rows):
    """WS: a stream step (pixel) of a row fold is skipped when all its K inputs are zero."""
    ks = [(c, i, j) for c in range(layer.in_channels) for i in range(layer.kernel_h)
          for j in range(layer.kernel_w)]
    pixels = [(n, oh, ow) for n in range(layer.batch) for oh in range(layer.out_h)
              for ow in range(layer.out_w)]
    col_folds = math.ceil(layer.out_channels / 4)
    steps = 0
    for r0 in range(0, len(ks), rows):
        block = ks[r0:r0 + rows]
        steps += sum(all(_direct_zero(layer, za, *p, *k) for k in block) for p in pixels)
    return steps * col_folds


@given(st.integers(0, 2**16 - 1), st.integers(1, 2), st.integers(0, 1))
def test_ws_zero_skip_matches_direct_enumeration(bits, stride, pad):
    layer = conv(c=4, h=8, w=8, m=6, stride=stride, pads=(pad,) * 4)
    bitmap = np.array([(bits >> i) & 1 for i in range(16)], dtype=bool).reshape(1, 4, 2, 2)
    with_bitmap = conv(c=4, h=8, w=8, m=6, stride=stride, pads=(pad,) * 4,
                       act_zero_bitmap=bitmap, zero_block=(1, 1, 4, 4))
    za = expand_bitmap(bitmap, (1, 4, 8, 8), "act")
    res = simulate_layer(with_bitmap, small_spec(rows=8, cols=4))
    expected = brute_force_ws_skipped_steps(layer, za, 8)
    assert res.details["skipped_steps"] == expected
    dense = simulate_layer(layer, small_spec(rows=8, cols=4))
    assert res.details["compute_cycles"] == dense.details["compute_cycles"] - expected


def test_zero_weight_tiles_skip_whole_folds():
    zero_w = np.ones((8, 8, 1, 1), dtype=bool)      # every weight block zero
    layer = conv(c=8, m=8, k=1, weight_zero_bitmap=zero_w, zero_block=(1, 1, 1, 1))
    ws = simulate_layer(layer, small_spec(dataflow="ws"))
    assert ws.details["skipped_folds"] == ws.details["folds"]
    assert ws.details["compute_cycles"] == 0
    os_ = simulate_layer(layer, small_spec(dataflow="os"))
    assert os_.details["skipped_folds"] == 0          # os keeps outputs: it skips steps only
    assert os_.details["skipped_steps"] > 0


def test_bitmap_that_does_not_tile_is_an_error():
    with pytest.raises(ValueError, match="bitmap"):
        expand_bitmap(np.ones((1, 4, 5, 5), bool), (1, 4, 8, 8), "act")


def test_sram_reads_per_dataflow_follow_the_reuse_equations():
    layer = LayerWork.matmul("g", m=10, n=12, k=9)   # I 10x9, F 9x12, O 10x12
    spec = small_spec(rows=4, cols=5)
    ws = simulate_layer(layer, spec.replace(dataflow="ws")).details
    assert ws["sram_ifmap_reads"] == 90 * 3          # streamed once per column fold (12/5)
    assert ws["sram_filter_reads"] == 108            # stationary: read once
    assert ws["sram_ofmap_writes"] == 120 * 3        # once per row fold (9/4)
    assert ws["sram_ofmap_reads"] == 120 * 2         # partial sums read back
    os_ = simulate_layer(layer, spec.replace(dataflow="os")).details
    assert (os_["sram_ifmap_reads"], os_["sram_filter_reads"]) == (90 * 3, 108 * 3)
    assert (os_["sram_ofmap_writes"], os_["sram_ofmap_reads"]) == (120, 0)


def test_bandwidth_and_double_buffering_set_the_stalls():
    layer = conv(c=32, m=32, h=16, w=16)
    fast = simulate_layer(layer, SPEC.replace(dram_bw_bytes_per_cycle=1e9))
    assert fast.stall_cycles < 1 and fast.bound != "memory"
    slow = simulate_layer(layer, SPEC.replace(dram_bw_bytes_per_cycle=0.05))
    assert slow.bound == "memory"
    assert slow.cycles == pytest.approx(slow.dram_bytes / 0.05)
    serial = simulate_layer(layer, SPEC.replace(double_buffered=False))
    assert serial.stall_cycles == pytest.approx(serial.dram_bytes / SPEC.dram_bw_bytes_per_cycle)


def test_more_cores_fewer_cycles():
    layer = conv(c=64, m=128, h=16, w=16)
    one = simulate_layer(layer, SPEC)
    four = simulate_layer(layer, SPEC.replace(cores=4, dram_bw_bytes_per_cycle=1e6))
    assert four.details["cores_active"] == 4
    assert four.details["compute_cycles"] < one.details["compute_cycles"]
    assert four.macs_done == one.macs_done


def test_elementwise_layers_are_memory_passes_and_network_sums():
    add = LayerWork.elementwise("add", shape=(1, 8, 4, 4), inputs=2)
    res = simulate_layer(add, SPEC)
    assert res.macs_done == 0 and res.details["ops"] == 128
    assert res.cycles == pytest.approx(max(128 / 32, (256 + 128) / 16))
    net = simulate_network(Workload("n", (conv(), add)), SPEC)
    assert net.cycles == pytest.approx(sum(lr.cycles for lr in net.layers))
    assert net.macs_done == conv().macs_done


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="LayerWork"):
        simulate_layer("conv", SPEC)
    with pytest.raises(ValueError, match="mode"):
        simulate_layer(conv(), SPEC, mode="fast")
    with pytest.raises(ValueError, match="t_tile"):
        mapping_for(conv(), dataflow="ws", rows=4, cols=4, t_tile=10**6)
    with pytest.raises(ValueError, match="dataflow"):
        mapping_for(conv(), dataflow="rs", rows=4, cols=4)
    with pytest.raises(ValueError, match="core_split"):
        MappingChoice(core_split="k")
    with pytest.raises(TypeError, match="Workload"):
        simulate_network([conv()], SPEC)


def test_bitmap_block_shape_from_zero_block_when_inference_is_ambiguous():
    """9 values in blocks of 4 give 3 blocks, as do blocks of 3: zero_block decides."""
    bitmap = np.array([[True, False, True]])
    assert expand_bitmap(bitmap, (1, 9), "act", (1, 4)).tolist() == [
        [True] * 4 + [False] * 4 + [True]]
    assert expand_bitmap(bitmap, (1, 9), "act").tolist() == [
        [True] * 3 + [False] * 3 + [True] * 3]


@given(st.integers(1, 12), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1),
       st.integers(1, 5))
def test_fm_tile_fetches_every_tiles_window(size, k, stride, pad, tile):
    """The feature-map tiling schedule fetches, per output tile, the bounding box (inside the
    tensor) of the input positions its windows read, as a DMA would: counted here by
    enumerating the windows' coordinates."""
    from simulator.npu.memory import fm_tile_ifmap_factor

    if size + 2 * pad < k:
        return
    layer = conv(c=2, h=size, w=size, k=k, stride=stride, pads=(pad,) * 4)
    fetched = 0
    for th0 in range(0, layer.out_h, tile):
        for tw0 in range(0, layer.out_w, tile):
            ys = [oh * stride - pad + i for oh in range(th0, min(th0 + tile, layer.out_h))
                  for i in range(k)]
            xs = [ow * stride - pad + j for ow in range(tw0, min(tw0 + tile, layer.out_w))
                  for j in range(k)]
            box_h = max(0, min(size - 1, max(ys)) - max(0, min(ys)) + 1)
            box_w = max(0, min(size - 1, max(xs)) - max(0, min(xs)) + 1)
            fetched += box_h * box_w
    assert fm_tile_ifmap_factor(layer, (tile, tile)) == pytest.approx(fetched / size**2)


def test_4x4_tiling_schedule_changes_ifmap_traffic_only():
    layer = conv(c=16, m=16, h=16, w=16, pads=(1, 1, 1, 1))
    plain = simulate_layer(layer, SPEC)
    tiled = simulate_layer(layer, SPEC, MappingChoice(fm_tile=(4, 4)))
    assert tiled.details["fm_tile"] == "4x4"
    assert tiled.details["dram_ifmap_bytes"] > plain.details["dram_ifmap_bytes"]  # halos
    assert tiled.details["compute_cycles"] == plain.details["compute_cycles"]
    assert tiled.details["sram_ifmap_reads"] == plain.details["sram_ifmap_reads"]


def test_matmul_act_bitmap_in_golden_run_layout():
    """networks.execute writes a matmul's bitmap over A[m, k] in 4x4 blocks (trailing dims)."""
    bitmap = np.zeros((2, 3), dtype=bool)            # m = 8, k = 12 -> 2 x 3 blocks
    bitmap[1, :] = True                               # rows 4..7 of A are zero
    layer = LayerWork.matmul("mm", m=8, n=4, k=12, act_zero_bitmap=bitmap, zero_block=(4, 4))
    res = simulate_layer(layer, small_spec(rows=4, cols=4, dataflow="ws"))
    # ws streams the 8 rows of A over 3 row folds of K; 4 of them are zero in every fold
    assert res.details["skipped_steps"] == 4 * 3
    assert res.details["zero_skip"].startswith("ws")


def test_golden_run_activity_is_costed():
    """End to end with the golden run's real gate masks and zero bitmaps (networks package)."""
    networks = pytest.importorskip("networks")
    if not all(hasattr(networks, n) for n in ("build", "quantize", "golden_run")) or \
            "gated_net" not in getattr(networks, "MODELS", {}):
        pytest.skip("networks golden run API not available")
    graph = networks.quantize(networks.build("gated_net"), precision="w4a8", zero_skip=True)
    workload = networks.golden_run(graph).workload()
    gated = [la for la in workload.compute_layers if la.gate_mask is not None]
    assert gated
    for dataflow in ("ws", "os", "is"):
        net = simulate_network(workload, SPEC.replace(dataflow=dataflow))
        by_name = {lr.name: lr for lr in net.layers}
        for layer in gated:
            d = by_name[layer.name].details
            assert d["gemm_k_active"] < d["gemm_k"]
        assert net.macs_done == workload.macs_done
        assert 0 < net.utilization <= 1

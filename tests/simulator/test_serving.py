"""simulator/serving: step-cost tables, the three schedulers on costs whose answer is known in
closed form, the paged KV cache's memory limit, MLPerf-style scenarios, traces and the
sharded-loading planner."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from simulator.serving import (
    ContinuousBatching,
    DynamicBatching,
    LengthDist,
    Slo,
    StaticBatching,
    StepCost,
    Table1D,
    Table2D,
    Trace,
    device_presets,
    load_device,
    max_rate,
    offline_trace,
    plan_shards,
    poisson_trace,
    read_trace_csv,
    simulate,
)
from simulator.serving.sharding import PRESETS_DIR

GRID = 2.0 ** np.arange(0, 15)


def constant_cost(c=0.01, capacity=10**6, per_token=0.0, per_kv=0.0) -> StepCost:
    """Every step costs ``c`` (+ ``per_token`` per token, + ``per_kv`` per cached position)."""
    return StepCost(dense=Table1D(GRID, c + per_token * GRID), head=Table1D(GRID, 0 * GRID),
                    decode_attention=Table2D(GRID, GRID, per_kv * np.outer(GRID, GRID)),
                    prefill_attention=Table2D(GRID, GRID, 0 * np.outer(GRID, GRID)),
                    kv_bytes_per_token=100.0, kv_capacity_tokens=capacity)


def fixed(n, prompt, output, arrival=None):
    a = np.zeros(n) if arrival is None else np.asarray(arrival, float)
    return Trace(a, np.full(n, prompt), np.full(n, output))


def test_tables_interpolate_linearly_and_extrapolate():
    t = Table1D([1, 2, 4], [1.0, 2.0, 6.0])
    assert t(2) == 2.0 and t(3) == 4.0 and t(0.5) == 1.0 and t(8) == 14.0 and t(0) == 0.0
    z = Table2D([1, 2], [1, 4], [[1.0, 4.0], [2.0, 8.0]])
    assert z(1.5, 2.5) == pytest.approx(3.75) and z(4, 8) == pytest.approx(4 * 8.0)
    with pytest.raises(ValueError, match="increasing"):
        Table1D([2, 1], [0, 0])
    with pytest.raises(ValueError, match="kv_capacity_tokens"):
        dataclasses.replace(constant_cost(), kv_capacity_tokens=0)


def test_static_batching_closed_form():
    c, out = 0.01, 7
    res = simulate(fixed(8, 100, out), constant_cost(c), StaticBatching(4))
    # two batches of four: prefill c then out - 1 decode steps of c each
    assert np.allclose(res.first_token_s, [c] * 4 + [out * c + c] * 4)
    assert np.allclose(res.finish_s, [out * c] * 4 + [2 * out * c] * 4)
    assert res.steps == 2 * out
    assert res.summary()["output_tokens_per_s"] == pytest.approx(8 * out / (2 * out * c))


def test_static_batch_waits_until_full():
    res = simulate(fixed(2, 10, 3, arrival=[0.0, 1.0]), constant_cost(0.01), StaticBatching(2))
    assert np.allclose(res.start_s, [1.0, 1.0])


def test_dynamic_batching_delay_and_buckets():
    sched = DynamicBatching(max_batch_size=8, max_queue_delay_s=0.2, bucket_edges=(128, 512))
    trace = Trace(np.array([0.0, 0.0, 5.0]), np.array([100, 1000, 100]), np.array([3, 3, 3]))
    res = simulate(trace, constant_cost(0.01), sched)
    # nobody fills a batch: each waits its queue delay; different buckets never share a batch
    assert res.start_s[0] == pytest.approx(0.2) and res.start_s[2] == pytest.approx(5.2)
    assert res.start_s[1] != res.start_s[0] or res.first_token_s[1] != res.first_token_s[0]
    full = simulate(fixed(8, 100, 3), constant_cost(0.01), sched)
    assert np.allclose(full.start_s, 0.0)         # a full bucket goes at once


@pytest.mark.parametrize("chunked", [False, True])
def test_continuous_single_request_closed_form(chunked):
    c, out = 0.02, 9
    res = simulate(fixed(1, 500, out), constant_cost(c), ContinuousBatching(
        max_batched_tokens=8192, chunked_prefill=chunked))
    assert res.ttft_s[0] == pytest.approx(c) and res.e2e_s[0] == pytest.approx(out * c)
    assert res.tpot_s[0] == pytest.approx(c)


def test_chunked_prefill_splits_a_long_prompt():
    c = 0.01
    res = simulate(fixed(1, 1000, 2), constant_cost(c), ContinuousBatching(max_batched_tokens=256))
    assert res.ttft_s[0] == pytest.approx(4 * c)  # ceil(1000 / 256) steps


def test_continuous_batches_decodes_together():
    c, out = 0.01, 50
    res = simulate(fixed(16, 64, out), constant_cost(c), ContinuousBatching(chunked_prefill=False))
    # one prefill step for all 16, then out - 1 shared decode steps
    assert np.allclose(res.finish_s, out * c)
    assert res.steps == out


@pytest.mark.parametrize("chunked", [False, True])
def test_paged_kv_memory_limit_preempts_and_never_overflows(chunked):
    trace = poisson_trace(300, 500.0, prompt=LengthDist("uniform", 300, 0, 100, 500),
                          output=LengthDist("uniform", 300, 0, 100, 500), seed=1)
    cost = constant_cost(0.005, capacity=4000, per_kv=1e-7)
    res = simulate(trace, cost, ContinuousBatching(chunked_prefill=chunked))
    s = res.summary()
    assert s["preemptions"] > 0 and s["peak_kv_tokens"] <= s["kv_capacity_tokens"]
    assert np.all(res.finish_s >= res.first_token_s) and np.all(res.ttft_s > 0)
    full = simulate(trace, cost, ContinuousBatching(chunked_prefill=chunked, reserve="full"))
    assert full.summary()["preemptions"] == 0
    assert full.summary()["peak_kv_tokens"] <= full.kv_capacity_tokens


def test_request_larger_than_cache_is_refused():
    with pytest.raises(ValueError, match="request 0 needs 1100 KV tokens"):
        simulate(fixed(1, 1000, 100), constant_cost(capacity=1024), ContinuousBatching())


def test_kv_capacity_limits_throughput():
    """A cost whose decode grows with the cached tokens: more cache, more concurrent
    sequences, more tokens per second (until the step cost dominates)."""
    trace = offline_trace(400, prompt=LengthDist("fixed", 200), output=LengthDist("fixed", 200))
    rates = [simulate(trace, constant_cost(0.01, capacity=cap), ContinuousBatching())
             .summary()["output_tokens_per_s"] for cap in (2000, 8000, 32000)]
    assert rates[0] < rates[1] < rates[2]


def test_max_rate_meets_the_slo_and_the_next_probe_fails():
    cost = constant_cost(0.004, per_token=2e-6, per_kv=2e-8)
    slo = Slo(ttft_s=0.02, tpot_s=0.01)
    found = max_rate(cost, ContinuousBatching(), slo, n=500,
                     prompt=LengthDist("fixed", 256), output=LengthDist("fixed", 64))
    assert found.rate_per_s > 0 and slo.met(found.result)
    failing = [rate for rate, ok in found.probes if not ok]
    assert failing and min(failing) > found.rate_per_s
    with pytest.raises(ValueError, match="tpot_s"):
        Slo(tpot_s=0)


def test_trace_csv_round_trip_and_errors(tmp_path):
    trace = poisson_trace(50, 10.0, prompt=LengthDist.parse("lognormal:200:100"),
                          output=LengthDist.parse("uniform:5:50"), seed=3)
    path = tmp_path / "t.csv"
    path.write_text(trace.to_csv())
    back = read_trace_csv(path)
    assert np.array_equal(back.prompt_tokens, trace.prompt_tokens)
    assert np.allclose(back.arrival_s, trace.arrival_s)
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,prompt_tokens,output_tokens\n0,ten,5\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        read_trace_csv(bad)
    with pytest.raises(ValueError, match="sorted"):
        Trace(np.array([1.0, 0.0]), np.array([1, 1]), np.array([1, 1]))
    with pytest.raises(ValueError, match="length distribution"):
        LengthDist.parse("gamma:1")


def test_poisson_rate():
    trace = poisson_trace(20000, 50.0, seed=0)
    assert len(trace) / trace.arrival_s[-1] == pytest.approx(50.0, rel=0.03)


def test_presets_cite_every_figure():
    assert {"phone-sd8gen3-12gb", "jetson-agx-orin-64gb"} <= set(device_presets())
    for name in device_presets():
        data = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
        numbers = {k for k, v in data.items() if isinstance(v, (int, float))}
        assert numbers <= set(data["sources"]), name
        load_device(name)


def test_shard_plan_fits_and_streams():
    layers = [("embed", 1e9)] + [(f"L{i}", 0.25e9) for i in range(40)] + [("head", 1e9)]
    dev = {"name": "d", "ram_gib": 16.0, "app_memory_gib": 14.0, "dram_bw_gb_per_s": 50.0,
           "storage_read_gb_per_s": 2.0}
    fits = plan_shards(layers, dev)
    assert fits.fits and fits.resident_bytes == pytest.approx(11e9)
    assert fits.pass_s == pytest.approx(11e9 / 50e9)     # DRAM roofline, nothing streams
    small = dict(dev, app_memory_gib=4.0)
    plan = plan_shards(layers, small, kv_bytes=0.5 * 2**30, shard_bytes=0.5e9)
    assert not plan.fits
    assert plan.resident_bytes + plan.streamed_bytes_per_pass == pytest.approx(11e9)
    assert plan.peak_memory_bytes <= 4.0 * 2**30
    assert plan.stream_s_per_pass == pytest.approx(plan.streamed_bytes_per_pass / 2e9)
    # the pipeline fill: one load of the largest streamed shard (the 1 GB head)
    assert plan.pass_s == pytest.approx(plan.stream_s_per_pass + 1e9 / 2e9)
    with pytest.raises(ValueError, match="smaller shards"):
        plan_shards(layers, dict(dev, app_memory_gib=1.0), shard_bytes=4e9)
    with pytest.raises(ValueError, match="no memory"):
        plan_shards(layers, small, kv_bytes=5 * 2**30)

"""networks/llm.py: configurations against published parameter counts, the golden decoder's
KV-cache behaviour, and the prefill/decode workloads (MACs and bytes by formula)."""

from __future__ import annotations

import numpy as np
import pytest

from networks.llm import (
    CONFIGS,
    Decoder,
    KVCache,
    decode_workload,
    get_config,
    init_weights,
    model_bytes,
    prefill_workload,
    with_layers,
)

#: parameter counts as the model cards state them (rounded as published)
PUBLISHED_PARAMS_B = {"llama-3.2-1b": 1.24, "llama-3-8b": 8.03, "llama-3.1-8b": 8.03,
                      "llama-2-7b": 6.74, "llama-2-13b": 13.0, "llama-2-70b": 69.0,
                      "gpt-j-6b": 6.05, "seed-12.8b": 12.8, "seed-8.0b": 8.0}


@pytest.mark.parametrize("name,billions", sorted(PUBLISHED_PARAMS_B.items()))
def test_param_counts_match_published(name, billions):
    digits = len(str(billions).split(".")[1])
    assert round(CONFIGS[name].param_count() / 1e9, digits) == billions


def test_seed_models_are_37_percent_apart():
    big, small = CONFIGS["seed-12.8b"].param_count(), CONFIGS["seed-8.0b"].param_count()
    assert round(1 - small / big, 2) == 0.37       # C1: "37% fewer parameters"


def test_model_bytes_by_precision():
    cfg = CONFIGS["llama-3-8b"]
    linear = cfg.layers * (sum(cfg.layer_params().values()) - cfg.layer_params()["norms"])
    rest = cfg.param_count() - linear
    assert model_bytes(cfg, "fp16") == 2 * cfg.param_count()
    assert model_bytes(cfg, "w4a8") == pytest.approx(linear * (0.5 + 2 / 128) + 2 * rest)


@pytest.mark.parametrize("precision,kv_bits", [("fp32", None), ("w4", 8), ("w4a8", 8),
                                               ("w4a8", 4)])
def test_prefill_then_decode_equals_one_prefill(precision, kv_bits):
    dec = Decoder("tiny", precision=precision, kv_bits=kv_bits)
    ids = np.random.default_rng(0).integers(0, 256, (2, 7))
    whole, cache_w = dec.prefill(ids)
    part, cache = dec.prefill(ids[:, :4])
    steps = [part]
    for t in range(4, 7):
        logits, cache = dec.decode(ids[:, t:t + 1], cache)
        steps.append(logits)
    joined = np.concatenate(steps, axis=1)
    # the same integer codes and float64 sums; rows computed in other GEMM shapes may round
    # differently in the last float64 bit, hence a tolerance far below float32 noise
    np.testing.assert_allclose(joined, whole, rtol=1e-6, atol=1e-6)
    for a, b in zip(cache.keys, cache_w.keys):
        assert a.dtype == b.dtype and a.shape == b.shape
        if kv_bits:
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_cache_sizes_and_errors():
    dec = Decoder("tiny", precision="w4a8", kv_bits=4)
    _, cache = dec.prefill(np.zeros((1, 5), np.int64))
    cfg = dec.config
    assert cache.length == 5 and cache.keys[0].dtype == np.int8
    codes = 2 * cfg.layers * cfg.kv_heads * 5 * cfg.head_dim
    assert cache.nbytes() == codes // 2 + 2 * cfg.layers * cfg.kv_heads * 5 * 4
    assert np.abs(cache.keys[0]).max() <= 7
    with pytest.raises(ValueError, match="token ids"):
        dec.prefill(np.full((1, 2), 256))
    with pytest.raises(ValueError, match="max_positions"):
        dec.prefill(np.zeros((1, cfg.max_positions + 1), np.int64))
    with pytest.raises(ValueError, match="cache"):
        Decoder("tiny", precision="w4a8", kv_bits=8).decode(np.zeros((1, 1), np.int64), cache)
    with pytest.raises(ValueError, match="materialized"):
        init_weights("llama-3-8b")
    with pytest.raises(ValueError, match="per_token"):
        Decoder("tiny", precision="fp32", act_quant="per_token")
    assert KVCache.empty(cfg, 2, None).length == 0


def test_generate_is_deterministic_and_in_vocab():
    dec = Decoder("tiny", precision="w4a8", kv_bits=8, seed=3)
    prompt = np.random.default_rng(3).integers(0, 256, (2, 6))
    a, b = dec.generate(prompt, 5), dec.generate(prompt, 5)
    assert np.array_equal(a, b) and a.shape == (2, 5) and a.max() < 256


def _linear_params(cfg):
    return sum(v for k, v in cfg.layer_params().items() if k != "norms")


@pytest.mark.parametrize("attention", ["flash", "unfused"])
def test_prefill_workload_macs_and_bytes(attention):
    cfg = with_layers(get_config("llama-3-8b"), 2)
    b, t = 2, 96
    wl = prefill_workload(cfg, precision="w4a8", batch=b, prompt_len=t, attention=attention)
    names = {layer.name.split(".")[-1]: layer for layer in wl.layers if layer.name.startswith("L0.")}
    linear = sum(names[n].macs_dense for n in ("qkv", "o_proj", "gate_up", "down"))
    assert linear == b * t * _linear_params(cfg)
    seen = -(-(t + 1) // 2) if attention == "flash" else t         # causal: half the prompt
    attn = names["attn_qk"].macs_dense + names["attn_pv"].macs_dense
    assert attn == 2 * b * cfg.heads * t * seen * cfg.head_dim
    assert ("softmax" in names) == (attention == "unfused")
    assert names["qkv"].weight_bytes == cfg.hidden * (
        cfg.heads + 2 * cfg.kv_heads) * cfg.head_dim // 2          # int4: two per byte
    lm = wl.layers[-1]
    assert lm.name == "lm_head" and lm.macs_dense == b * cfg.hidden * cfg.vocab_size
    assert wl.meta["batch"] == b and wl.batch == b


def test_decode_workload_reads_the_whole_kv_cache():
    cfg = with_layers(get_config("llama-3-8b"), 1)
    b, ctx = 8, 1000
    for kv in (16, 8, 4):
        wl = decode_workload(cfg, precision="w4a8", batch=b, context_len=ctx, kv_bits=kv)
        qk = next(layer for layer in wl.layers if layer.name.endswith("attn_qk"))
        pv = next(layer for layer in wl.layers if layer.name.endswith("attn_pv"))
        # one K (and one V) matrix per sequence and K/V head, at the cache's width
        per_matrix = b * cfg.kv_heads * ctx * cfg.head_dim * kv // 8
        assert qk.weight_bytes == per_matrix and pv.weight_bytes == per_matrix
        assert qk.gemm_shape() == (b * cfg.kv_heads, cfg.group, ctx, cfg.head_dim)
    with pytest.raises(ValueError, match="kv_bits"):
        decode_workload(cfg, kv_bits=2)
    with pytest.raises(ValueError, match="precision"):
        decode_workload(cfg, precision="w2a2")

"""reference/llm_ops.py: the contracts that need no external runtime (ranges, exact
identities, argument errors). ONNX Runtime and onnx.reference comparisons are in
test_llm_ops_oracle.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.activations import silu
from reference.llm_ops import (
    apply_rope,
    dequantize_blockwise_4bit,
    dequantize_kv,
    grouped_query_attention,
    matmul_float,
    matmul_nbits_int8,
    quantize_activation_blocks,
    quantize_blockwise_4bit,
    quantize_kv,
    rms_norm,
    rope_cache,
    swiglu,
)
from reference.onnx_ops import matmul_nbits


def _rng(seed=0):
    return np.random.default_rng(seed)


@given(k=st.integers(1, 200), n=st.integers(1, 9), bs=st.sampled_from([16, 32, 64, 128]),
       symmetric=st.booleans(), seed=st.integers(0, 2**16))
def test_blockwise_4bit_codes_and_reconstruction(k, n, bs, symmetric, seed):
    w = (_rng(seed).standard_normal((k, n)) * 3).astype(np.float32)
    B, scales, zp = quantize_blockwise_4bit(w, block_size=bs, symmetric=symmetric)
    nblk = -(-k // bs)
    assert B.shape == (n, nblk, bs // 2) and B.dtype == np.uint8
    assert scales.shape == (n * nblk,) and (zp is None) == symmetric
    wq = dequantize_blockwise_4bit(B, scales, zp, K=k, N=n, block_size=bs)
    # each weight lands within half a step of its block (plus float32 rounding of the steps);
    # symmetric blocks reach 8 steps on the larger side but only 7 on the other, which clips
    # there by up to one step
    step = np.repeat(np.abs(scales.reshape(n, nblk)), bs, axis=1)[:, :k].T
    reach = 1.0 if symmetric else 0.5
    assert np.all(np.abs(wq - w) <= reach * step * (1 + 1e-5) + 1e-6)
    # padding nibbles past K are 0
    codes = np.stack([B & 0xF, B >> 4], -1).reshape(n, nblk * bs)
    assert not codes[:, k:].any()


def test_blockwise_4bit_symmetric_scale_sign_and_zero_block():
    w = np.zeros((64, 2), np.float32)
    w[:32, 0] = np.linspace(-1, 3, 32)          # larger side positive: scale = -3/8
    B, scales, _ = quantize_blockwise_4bit(w, block_size=32, symmetric=True)
    assert scales[0] == np.float32(-3) / np.float32(8)
    assert scales[1] == 0 and scales[2] == 0      # all-zero blocks: scale 0, codes 8
    codes = np.stack([B & 0xF, B >> 4], -1).reshape(2, 64)
    assert (codes[1] == 8).all() and codes[0, 31] == 0


def test_matmul_nbits_int8_is_exact_integer_sum():
    """Integer inputs with power-of-two scales: every product and sum is exact, so the result
    is the integer dot product scaled, whatever the order."""
    rng = _rng(1)
    k, n, bs = 96, 5, 32
    q = rng.integers(0, 16, (n, k)).astype(np.uint8)
    zp = rng.integers(0, 16, (n, k // bs)).astype(np.uint8)
    B = (q[:, 0::2] | (q[:, 1::2] << 4)).reshape(n, k // bs, bs // 2)
    zpb = np.concatenate([zp, np.zeros((n, 1), np.uint8)], 1)
    Z = (zpb[:, 0::2] | (zpb[:, 1::2] << 4)).reshape(-1)
    S = np.full(n * k // bs, 0.25, np.float32)
    a = rng.integers(-127, 128, (3, k)).astype(np.float32)
    a[:, ::bs] = 127                              # amax 127 in every block: scale 1, exact codes
    y = matmul_nbits_int8(a, B, S, Z, K=k, N=n, block_size=bs)
    expect = (a.astype(np.int64) @ (q.astype(np.int64) - np.repeat(zp, bs, 1)).T) * 0.25
    assert np.array_equal(y, expect.astype(np.float32))
    # per-token activations give the same result here (one block of amax 127 per row)
    y_tok = matmul_nbits_int8(a, B, S, Z, K=k, N=n, block_size=bs, act_block_size=None)
    assert np.array_equal(y_tok, y)


def test_matmul_nbits_int8_close_to_float_path():
    rng = _rng(2)
    w = rng.standard_normal((256, 16)).astype(np.float32)
    B, S, Z = quantize_blockwise_4bit(w, block_size=64)
    a = rng.standard_normal((4, 256)).astype(np.float32)
    y8 = matmul_nbits_int8(a, B, S, Z, K=256, N=16, block_size=64)
    yf = matmul_nbits(a, B, S, Z, K=256, N=16, block_size=64)
    # activation rounding: each code off by <= 1/2 step of amax/127 per block
    assert np.abs(y8 - yf).max() <= 0.02 * np.abs(yf).max()
    assert not np.array_equal(y8, yf)


@given(rows=st.integers(1, 4), k=st.integers(1, 100), bs=st.sampled_from([16, 32, None]),
       seed=st.integers(0, 2**16))
def test_activation_blocks_codes(rows, k, bs, seed):
    a = (_rng(seed).standard_normal((rows, k)) * 10).astype(np.float32)
    q, s = quantize_activation_blocks(a, block_size=bs)
    size = k if bs is None else bs
    nblk = -(-k // size)
    assert q.shape == (rows, nblk * size) and s.shape == (rows, nblk)
    assert q.dtype == np.int8 and np.abs(q).max() <= 127
    recon = q[:, :k].astype(np.float64) * np.repeat(s, size, axis=1)[:, :k]
    assert np.all(np.abs(recon - a) <= 0.5 * np.repeat(s, size, axis=1)[:, :k] * (1 + 1e-5))


def test_activation_blocks_zero_block_and_nan():
    q, s = quantize_activation_blocks(np.zeros((1, 32), np.float32), block_size=32)
    assert not q.any() and s[0, 0] == 0
    with pytest.raises(ValueError, match="finite"):
        quantize_activation_blocks(np.array([[np.nan] * 16], np.float32), block_size=16)


@pytest.mark.parametrize("bits,qmax", [(8, 127), (4, 7)])
def test_kv_codes(bits, qmax):
    x = (_rng(3).standard_normal((2, 3, 5, 16)) * 4).astype(np.float32)
    x[0, 0, 0] = 0
    codes, scales = quantize_kv(x, bits=bits)
    assert codes.dtype == np.int8 and np.abs(codes).max() == qmax
    assert scales.shape == (2, 3, 5, 1) and scales[0, 0, 0, 0] == 1 and not codes[0, 0, 0].any()
    back = dequantize_kv(codes, scales)
    assert np.all(np.abs(back - x) <= 0.5 * scales * (1 + 1e-6))
    # exact: the codes are rint(x / scale) with a true float32 division
    assert np.array_equal(codes, np.rint(x / scales).astype(np.int8))


def test_kv_errors():
    with pytest.raises(ValueError, match="bits"):
        quantize_kv(np.zeros((1, 4), np.float32), bits=2)
    with pytest.raises(ValueError, match="scales"):
        dequantize_kv(np.zeros((1, 4), np.int8), np.zeros((2, 1), np.float32))


def test_rope_position_zero_is_identity_and_rotation_keeps_norm():
    cos, sin = rope_cache(16, 32)
    assert cos[0].tolist() == [1.0] * 8 and sin[0].tolist() == [0.0] * 8
    x = _rng(4).standard_normal((2, 3, 5, 16)).astype(np.float32)
    y = apply_rope(x, cos, sin, np.arange(5))
    assert np.array_equal(y[..., 0, :], x[..., 0, :])
    norm = np.linalg.norm(x.astype(np.float64), axis=-1)
    assert np.allclose(np.linalg.norm(y.astype(np.float64), axis=-1), norm, rtol=1e-5)
    with pytest.raises(ValueError, match="positions"):
        apply_rope(x, cos, sin, np.arange(30, 35))
    with pytest.raises(ValueError, match="even"):
        rope_cache(15, 4)


def test_attention_gqa_equals_mha_with_repeated_heads_and_is_causal():
    rng = _rng(5)
    q = rng.standard_normal((2, 4, 3, 8)).astype(np.float32)
    k = rng.standard_normal((2, 2, 6, 8)).astype(np.float32)
    v = rng.standard_normal((2, 2, 6, 8)).astype(np.float32)
    gqa = grouped_query_attention(q, k, v)
    mha = grouped_query_attention(q, np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1))
    assert np.array_equal(gqa, mha)
    k2, v2 = k.copy(), v.copy()
    k2[:, :, 5], v2[:, :, 5] = 9.0, 9.0         # the last key is seen only by the last query
    other = grouped_query_attention(q, k2, v2)
    assert np.array_equal(other[:, :, :2], gqa[:, :, :2])
    assert not np.array_equal(other[:, :, 2], gqa[:, :, 2])
    with pytest.raises(ValueError, match="multiple"):
        grouped_query_attention(q[:, :3], k, v)


def test_rms_norm_swiglu_and_matmul_float_contracts():
    x = _rng(6).standard_normal((3, 8)).astype(np.float32)
    w = np.full(8, 2.0, np.float32)
    y = rms_norm(x, w)
    r = np.sqrt(np.sum(x * x, axis=-1, keepdims=True) / np.float32(8) + np.float32(1e-5))
    assert np.array_equal(y, (x / r) * w)
    with pytest.raises(ValueError, match="weight"):
        rms_norm(x, np.ones(7, np.float32))
    g, u = x, x[::-1].copy()
    assert np.array_equal(swiglu(g, u), silu(g) * u)
    assert np.allclose(swiglu(g, u), g / (1 + np.exp(-g.astype(np.float64))) * u, rtol=1e-6)
    a = x
    m = _rng(7).standard_normal((8, 5)).astype(np.float32)
    assert np.array_equal(matmul_float(a, m),
                          (a.astype(np.float64) @ m.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("bad", [
    dict(block_size=24), dict(block_size=8), dict(K=100), dict(N=3)])
def test_nbits_argument_errors(bad):
    w = _rng(8).standard_normal((64, 4)).astype(np.float32)
    B, S, Z = quantize_blockwise_4bit(w, block_size=32)
    kw = dict(K=64, N=4, block_size=32) | bad
    with pytest.raises(ValueError):
        matmul_nbits_int8(np.zeros((1, kw["K"]), np.float32), B, S, Z, **kw)


def test_blockwise_rejects_non_float32_and_nan():
    with pytest.raises(TypeError):
        quantize_blockwise_4bit(np.zeros((4, 4)), block_size=16)
    with pytest.raises(ValueError, match="finite"):
        quantize_blockwise_4bit(np.full((16, 1), np.inf, np.float32), block_size=16)

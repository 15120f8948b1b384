"""Operators of a Llama-style decoder: RMSNorm, RoPE, grouped-query attention with a KV cache,
SwiGLU, per-group int4 weights in the com.microsoft ``MatMulNBits`` layout, dynamic int8
activations (per group or per token), ``MatMulNBits`` with int8 compute (``accuracy_level=4``)
and int8 / int4 KV-cache quantization.

The integer steps (weight and activation quantization, the per-block integer dot products, the
KV-cache codes) are bit-exact with ONNX Runtime's MLAS kernels on x86-64 (tested in
tests/reference/test_llm_ops_oracle.py). The float steps follow the order written in each
docstring; ONNX Runtime sums in other orders, so it agrees within the tolerance that order
implies, never bit for bit.

Layouts (ONNX ``MatMulNBits``, 4 bits): a weight ``W`` of the MatMul ``Y = A @ W`` has shape
``(K, N)``; it is stored transposed, row ``n`` of ``W.T`` in ``ceil(K / block_size)`` blocks of
``block_size`` unsigned 4-bit values packed two per byte (element ``2i`` in the low nibble),
``B.shape == (N, n_blocks, block_size // 2)``; ``scales`` float32 ``(N * n_blocks,)`` row-major
``[n, block]``; ``zero_points`` uint8 ``(N * ceil(n_blocks / 2),)``, two 4-bit zero points per
byte per row, or ``None`` for the symmetric default 8.
"""

from __future__ import annotations

import numpy as np

from reference._nbits import nbits_operands
from reference._validate import as_float, check_array, check_int, check_positive_float
from reference.activations import silu, softmax
from reference.quantize import round_float

__all__ = [
    "KV_BITS",
    "apply_rope",
    "dequantize_blockwise_4bit",
    "dequantize_kv",
    "grouped_query_attention",
    "matmul_float",
    "matmul_nbits_int8",
    "matmul_nbits_int8_bound",
    "quantize_activation_blocks",
    "quantize_blockwise_4bit",
    "quantize_kv",
    "rms_norm",
    "rope_cache",
    "swiglu",
]

#: KV-cache code widths and their symmetric code range (-qmax .. qmax; -2**(bits-1) unused)
KV_BITS = {8: 127, 4: 7}
_F32 = np.float32


# --------------------------------------------------------------------------- float operators
def rms_norm(x, weight, *, epsilon=1e-5, precision="float32") -> np.ndarray:
    """``x / sqrt(mean(x**2) + epsilon) * weight`` over the last axis (Llama RMSNorm, ONNX
    RMSNormalization-23 with ``axis=-1``, ``stash_type`` = ``precision``).

    Numeric contract
    ----------------
    - ``x`` any shape ``(..., D)``; ``weight`` shape ``(D,)``; both converted to ``precision``.
    - ``s = x * x`` rounded; ``ms = sum(s) / D`` with NumPy's pairwise summation in
      ``precision`` (deterministic for a shape); ``r = sqrt(ms + epsilon)``, each step rounded;
      ``y = (x / r) * weight``, two rounded operations.
    - Errors: ``ValueError`` for a weight of the wrong shape or ``epsilon <= 0``.
    """
    x = as_float("x", x, precision)
    weight = as_float("weight", weight, precision, ndim=1)
    if x.ndim < 1 or weight.shape[0] != x.shape[-1]:
        raise ValueError(f"weight has shape {weight.shape}: expected ({x.shape[-1]},) to match "
                         f"the last axis of x {x.shape}")
    t = x.dtype.type
    eps = t(check_positive_float("epsilon", epsilon))
    ms = np.sum(x * x, axis=-1, keepdims=True) / t(x.shape[-1])
    return (x / np.sqrt(ms + eps)) * weight


def matmul_float(a, w) -> np.ndarray:
    """``a @ w`` of float32 operands (a float linear layer: ``a (..., K)``, ``w (K, N)``).

    Numeric contract: each dot product in float64 (products exact, float64 sum), rounded once
    to float32. Errors: ``TypeError`` for non-float32 operands, ``ValueError`` for a K mismatch.
    """
    a = check_array("a", a, ("float32",))
    w = check_array("w", w, ("float32",), ndim=2)
    if a.ndim < 1 or a.shape[-1] != w.shape[0]:
        raise ValueError(f"a.shape[-1] must equal w.shape[0] = {w.shape[0]}, got {a.shape}")
    return np.matmul(a.astype(np.float64), w.astype(np.float64)).astype(_F32)


def rope_cache(head_dim: int, max_positions: int, *, theta: float = 10000.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin tables of rotary position embedding, float32 ``(max_positions, head_dim/2)``.

    Numeric contract: ``inv_freq[i] = theta ** (-2i / head_dim)``, ``angle = p * inv_freq[i]``,
    ``cos(angle)`` and ``sin(angle)`` all in float64, each rounded once to float32 (the tables
    are model constants: the ONNX export stores exactly these).
    """
    hd = check_int("head_dim", head_dim, minimum=2)
    if hd % 2:
        raise ValueError(f"head_dim must be even for rotary embedding, got {hd}")
    n = check_int("max_positions", max_positions, minimum=1)
    theta = check_positive_float("theta", theta)
    inv_freq = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    angle = np.arange(n, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angle).astype(_F32), np.sin(angle).astype(_F32)


def apply_rope(x, cos, sin, positions) -> np.ndarray:
    """Rotary embedding, Llama / GPT-NeoX layout (halves, not interleaved pairs).

    Numeric contract
    ----------------
    - ``x`` float32 ``(..., T, head_dim)``; ``cos``/``sin`` float32 tables from
      :func:`rope_cache`; ``positions`` int ``(T,)``, row of the tables for each token.
    - With ``x1 = x[..., :h]``, ``x2 = x[..., h:]`` (``h = head_dim / 2``), ``c``, ``s`` the
      table rows: ``y1 = x1*c - x2*s`` and ``y2 = x2*c + x1*s``, each product and the sum rounded
      to float32 separately (no FMA): bit-exact with the same ONNX Mul/Sub/Add sequence.
    - Errors: ``TypeError`` for non-float32 arrays; ``ValueError`` for shape mismatches or
      positions outside the tables.
    """
    x = check_array("x", x, ("float32",))
    cos = check_array("cos", cos, ("float32",), ndim=2)
    sin = check_array("sin", sin, ("float32",), ndim=2)
    positions = np.asarray(positions)
    if positions.dtype.kind not in "iu" or positions.ndim != 1:
        raise TypeError(f"positions must be a 1-D integer array, got {positions.dtype} "
                        f"shape {positions.shape}")
    half = cos.shape[1]
    if x.ndim < 2 or x.shape[-1] != 2 * half or x.shape[-2] != positions.shape[0]:
        raise ValueError(f"x must have shape (..., T={positions.shape[0]}, head_dim={2 * half}), "
                         f"got {x.shape}")
    if sin.shape != cos.shape:
        raise ValueError(f"sin shape {sin.shape} differs from cos shape {cos.shape}")
    if positions.size and (positions.min() < 0 or positions.max() >= cos.shape[0]):
        raise ValueError(f"positions must be in [0, {cos.shape[0] - 1}] (the table length), "
                         f"got {positions.min()}..{positions.max()}")
    c, s = cos[positions], sin[positions]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def swiglu(gate, up) -> np.ndarray:
    """``silu(gate) * up`` (Llama MLP).

    Numeric contract: float32; ``silu(g) = g * sigmoid(g)`` as :func:`reference.activations.silu`
    (overflow-free sigmoid, each step rounded), then one rounded multiply by ``up``.
    """
    gate = check_array("gate", gate, ("float32",))
    up = check_array("up", up, ("float32",))
    if gate.shape != up.shape:
        raise ValueError(f"gate shape {gate.shape} differs from up shape {up.shape}")
    return silu(gate) * up


def grouped_query_attention(q, k, v, *, query_positions=None, scale=None) -> np.ndarray:
    """Causal scaled-dot-product attention with grouped K/V heads (GQA; MHA when the head
    counts are equal, MQA with one K/V head).

    Numeric contract
    ----------------
    - ``q`` float32 ``(B, H, T, D)``; ``k``, ``v`` float32 ``(B, H_kv, S, D)`` (the whole
      cache, past and new); ``H % H_kv == 0`` and query head ``h`` reads K/V head
      ``h // (H / H_kv)``.
    - ``query_positions`` int ``(T,)``: absolute position of each query; key ``j`` (position
      ``j``) is visible to query ``t`` when ``j <= query_positions[t]``. Default
      ``S - T .. S - 1`` (the new tokens are the last ``T`` of the cache).
    - ``scores = fl32(q . k)`` (each dot product in float64, rounded once), ``* scale``
      (float32, default ``fl32(1 / sqrt(D))``), masked entries ``-inf``; softmax as
      :func:`reference.activations.softmax` (max subtracted, float32 exp, pairwise sum, divide);
      ``out = fl32(p . v)`` (float64 dots rounded once). Result ``(B, H, T, D)``.
    - Errors: ``ValueError`` for inconsistent shapes, a query that sees no key, or
      ``query_positions`` outside ``[0, S)``.
    """
    q = check_array("q", q, ("float32",), ndim=4)
    k = check_array("k", k, ("float32",), ndim=4)
    v = check_array("v", v, ("float32",), ndim=4)
    b, h, t, d = q.shape
    if k.shape != v.shape or k.shape[0] != b or k.shape[3] != d:
        raise ValueError(f"k {k.shape} and v {v.shape} must be (B={b}, H_kv, S, D={d})")
    h_kv, s = k.shape[1], k.shape[2]
    if h % h_kv:
        raise ValueError(f"query heads {h} must be a multiple of K/V heads {h_kv}")
    pos = np.arange(s - t, s) if query_positions is None else np.asarray(query_positions)
    if pos.dtype.kind not in "iu" or pos.shape != (t,):
        raise ValueError(f"query_positions must be {t} integers, got {pos.dtype} {pos.shape}")
    if pos.size and (pos.min() < 0 or pos.max() >= s):
        raise ValueError(f"query_positions must lie in [0, {s - 1}], got {pos.min()}..{pos.max()}")
    scale = _F32(1.0 / np.sqrt(d)) if scale is None else _F32(check_positive_float("scale", scale))
    group = h // h_kv
    kk = np.repeat(k, group, axis=1).astype(np.float64)
    vv = np.repeat(v, group, axis=1).astype(np.float64)
    scores = np.matmul(q.astype(np.float64), kk.transpose(0, 1, 3, 2)).astype(_F32) * scale
    visible = np.arange(s)[None, :] <= pos[:, None]              # (T, S)
    scores = np.where(visible, scores, _F32(-np.inf))
    p = softmax(scores, axis=-1)
    return np.matmul(p.astype(np.float64), vv).astype(_F32)


# --------------------------------------------------------------------------- int4 weights
def _blocks(k: int, block_size: int) -> int:
    return -(-k // block_size)


def _check_block_size(block_size: object) -> int:
    bs = check_int("block_size", block_size, minimum=16)
    if bs & (bs - 1):
        raise ValueError(f"block_size must be a power of two >= 16, got {bs}")
    return bs


def quantize_blockwise_4bit(w, *, block_size: int, symmetric: bool = False
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-group 4-bit quantization of a MatMul weight into ``MatMulNBits`` tensors.

    Numeric contract (that of ONNX Runtime's ``quantize_matmul_4bits``, MLAS
    ``BlockwiseQuantizer``; bit-exact on x86-64)
    ----------------------------------------------------------------------------------
    - ``w`` float32 ``(K, N)``; block ``j`` of column ``n`` is ``w[j*bs:(j+1)*bs, n]`` (the
      last block may be short; its missing values are not part of min/max and their nibbles
      are 0).
    - ``mn``, ``mx``: float32 min and max of the block's values.
    - asymmetric: ``mn = min(mn, 0)``, ``mx = max(mx, 0)``; ``scale = fl32(fl32(mx - mn) / 15)``;
      ``zp_f = fl32(0 - fl32(mn / scale))`` (``mn`` when ``scale == 0``); ``zp`` = 0 below 0,
      15 above 15, else ``roundf(zp_f)`` (ties away from zero).
    - symmetric: ``m = mx if |mx| > |mn| else mn``; ``scale = fl32(-m / 8)`` (it may be
      negative: the larger side maps to code 0); ``zp = 8``, ``zero_points`` returned None.
    - codes: ``r = fl32(1 / scale)`` (0 when ``scale == 0``);
      ``q = clamp(roundf(fl32(fl32(v * r) + zp)), 0, 15)`` (two rounded steps, no FMA; an
      aarch64 build of ONNX Runtime may fuse them, which can move a code by one at a tie).
    - Returns ``(B, scales, zero_points)`` in the layout of the module docstring (an odd
      block count pads each row's last zero-point byte with the nibble 8).
    - Errors: ``TypeError`` for a non-float32 ``w``; ``ValueError`` for a non-2-D ``w``,
      NaN/inf, or a bad ``block_size``.
    """
    w = check_array("w", w, ("float32",), ndim=2)
    bs = _check_block_size(block_size)
    if not np.isfinite(w).all():
        raise ValueError("w must be finite to quantize, got NaN or inf")
    k, n = w.shape
    nblk = _blocks(k, bs)
    cols = np.zeros((n, nblk * bs), _F32)
    cols[:, :k] = w.T
    valid = (np.arange(nblk * bs) < k).reshape(nblk, bs)
    blocks = cols.reshape(n, nblk, bs)
    mn = np.where(valid, blocks, _F32(np.inf)).min(axis=2)
    mx = np.where(valid, blocks, _F32(-np.inf)).max(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if symmetric:
            m = np.where(np.abs(mx) > np.abs(mn), mx, mn)
            scale = (-m / _F32(8)).astype(_F32)
            zp = np.full((n, nblk), 8, np.uint8)
        else:
            mn0, mx0 = np.minimum(mn, _F32(0)), np.maximum(mx, _F32(0))
            scale = ((mx0 - mn0) / _F32(15)).astype(_F32)
            zp_f = np.where(scale != 0, _F32(0) - mn0 / scale, mn0).astype(_F32)
            zp = np.clip(round_float(zp_f, "half_away"), 0, 15).astype(np.uint8)
        recip = np.where(scale != 0, _F32(1) / scale, _F32(0)).astype(_F32)
    t = (blocks * recip[:, :, None]).astype(_F32) + zp[:, :, None].astype(_F32)
    q = np.clip(round_float(t.astype(_F32), "half_away"), 0, 15).astype(np.uint8)
    q = np.where(valid[None], q, np.uint8(0))
    packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)
    zero_points = None if symmetric else _pack_zero_points(zp)
    return packed, scale.reshape(-1).astype(_F32), zero_points


def _pack_zero_points(zp: np.ndarray) -> np.ndarray:
    """Two zero points per byte per row; an odd block count pads the last high nibble with 8
    (the symmetric default, as ONNX Runtime's quantizer writes it; MatMulNBits ignores it)."""
    n, nblk = zp.shape
    padded = np.full((n, nblk + nblk % 2), 8, np.uint8)
    padded[:, :nblk] = zp
    return (padded[:, 0::2] | (padded[:, 1::2] << 4)).reshape(-1).astype(np.uint8)


def dequantize_blockwise_4bit(B, scales, zero_points=None, *, K: int, N: int,
                              block_size: int) -> np.ndarray:
    """The float32 weight ``W`` ``(K, N)`` that ``MatMulNBits`` tensors stand for.

    Numeric contract: ``W[k, n] = fl32(float32(q - zp) * scale[n, k // block_size])``: the
    difference is an exact integer, one rounded multiply. Padding codes past ``K`` are dropped.
    """
    bs = _check_block_size(block_size)
    k = check_int("K", K, minimum=1)
    n = check_int("N", N, minimum=1)
    codes, zp, sc = nbits_operands(B, scales, zero_points, k, n, bs)
    diff = (codes - np.repeat(zp, bs, axis=1)).astype(_F32)
    w = diff * np.repeat(sc, bs, axis=1)
    return np.ascontiguousarray(w[:, :k].T)


# --------------------------------------------------------------------------- int8 activations
def quantize_activation_blocks(a, *, block_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic symmetric int8 quantization of activations in blocks along the last axis.

    Numeric contract (MLAS ``QuantizeARow_CompInt8`` on x86-64, the activation side of
    ``MatMulNBits`` with ``accuracy_level=4``; bit-exact)
    ----------------------------------------------------------------------------------
    - ``a`` float32 ``(..., K)``; ``block_size=None`` quantizes each row (token) as one block
      (dynamic per-token int8), else blocks of ``block_size`` along K (the last may be short).
    - ``amax`` = float32 max of ``|a|`` over the block; ``scale = fl32(amax / 127)``;
      ``inv = fl32(127 / amax)`` (0 when ``amax == 0``); ``q = saturate_int8(rint(fl32(a *
      inv)))`` with ties to even.
    - Returns ``(q, scales)``: ``q`` int8 ``(..., n_blocks * block)`` (zero-padded past K),
      ``scales`` float32 ``(..., n_blocks)``.
    - Errors: ``TypeError`` for non-float32 input; ``ValueError`` for NaN or inf.
    """
    a = check_array("a", a, ("float32",))
    if a.ndim < 1:
        raise ValueError("a must have at least one dimension (..., K)")
    if not np.isfinite(a).all():
        raise ValueError("a must be finite to quantize, got NaN or inf")
    k = a.shape[-1]
    bs = max(k, 1) if block_size is None else _check_block_size(block_size)
    nblk = _blocks(k, bs)
    padded = np.zeros(a.shape[:-1] + (nblk * bs,), _F32)
    padded[..., :k] = a
    blocks = padded.reshape(a.shape[:-1] + (nblk, bs))
    amax = np.abs(blocks).max(axis=-1)
    scale = (amax / _F32(127)).astype(_F32)
    with np.errstate(divide="ignore"):
        inv = np.where(amax != 0, _F32(127) / amax, _F32(0)).astype(_F32)
    q = np.clip(np.rint((blocks * inv[..., None]).astype(_F32)), -128, 127).astype(np.int8)
    return q.reshape(padded.shape), scale


def matmul_nbits_int8(A, B, scales, zero_points=None, bias=None, *, K: int, N: int,
                      block_size: int, act_block_size: int | None = 0) -> np.ndarray:
    """com.microsoft ``MatMulNBits`` (4-bit) with ``accuracy_level=4``: int8 activations times
    int4 weights, integer dot products per block, float32 result ``(..., N)``.

    Numeric contract
    ----------------
    - Weights: the tensors of the module docstring (codes ``q``, zero points ``zp``,
      ``scale_w``). Activations: :func:`quantize_activation_blocks` with ``act_block_size``
      (``0``, the default, means ``block_size``: ONNX Runtime's int8 path; ``None`` means per
      token, TensorRT-LLM-style W4A8; otherwise a multiple of ``block_size``).
    - ``dot[m, n, j] = sum_k a_q[m, k] * (q[n, k] - zp[n, j])`` over block ``j``: exact integers
      (``|dot| < 2**20``; computed in float64, exact below ``2**53``).
    - ``Y[m, n] = sum_j fl32(scale_a[m, j'] * scale_w[n, j]) * dot[m, n, j]`` with ``j'`` the
      activation block holding weight block ``j``: every product exact in float64, the sum over
      blocks in float64, rounded once to float32; then ``+ bias`` (one float32 add).
    - ONNX Runtime (x86-64 AVX2/AVX-512) gets the same integers and combined scales, and sums
      ``fl32(scale_a * scale_w) * dot`` in float32 with FMA, the zero-point term
      ``(-scale_w * zp) * (scale_a * sum(a_q))`` apart; it agrees within
      :func:`matmul_nbits_int8_bound`.
    - Errors: ``ValueError`` for bad shapes, block sizes, or an ``act_block_size`` that is not a
      multiple of ``block_size``; ``TypeError`` for wrong dtypes.
    """
    bs = _check_block_size(block_size)
    k = check_int("K", K, minimum=1)
    n = check_int("N", N, minimum=1)
    A = check_array("A", A, ("float32",))
    if A.ndim < 1 or A.shape[-1] != k:
        raise ValueError(f"A.shape[-1] must be K = {k}, got shape {A.shape}")
    codes, zp, sc_w = nbits_operands(B, scales, zero_points, k, n, bs)
    nblk = _blocks(k, bs)
    if act_block_size == 0:
        abs_ = bs
    elif act_block_size is None:
        abs_ = nblk * bs
    else:
        abs_ = _check_block_size(act_block_size)
        if abs_ % bs:
            raise ValueError(f"act_block_size {abs_} must be a multiple of block_size {bs}")
    lead = A.shape[:-1]
    a2 = A.reshape(-1, k)
    if act_block_size is None:
        a_pad = np.zeros((a2.shape[0], nblk * bs), _F32)
        a_pad[:, :k] = a2
        a_q, sc_a = quantize_activation_blocks(a_pad, block_size=None)
    else:
        a_q, sc_a = quantize_activation_blocks(a2, block_size=abs_)
        a_q = a_q[:, :nblk * bs]           # ceil(K/abs_)*abs_ >= ceil(K/bs)*bs: only padding
    per_act = abs_ // bs
    w_int = (codes - np.repeat(zp, bs, axis=1)).astype(np.float64)       # (N, nblk*bs)
    aq3 = a_q.astype(np.float64).reshape(-1, nblk, bs)
    wq3 = w_int.reshape(n, nblk, bs)
    dot = np.einsum("mjb,njb->mnj", aq3, wq3)                          # exact integers
    sa = sc_a[:, np.arange(nblk) // per_act]                           # (M, nblk)
    combined = (sa[:, None, :] * sc_w[None, :, :]).astype(_F32)        # fl32(scale_a*scale_w)
    y = np.sum(combined.astype(np.float64) * dot, axis=2).astype(_F32)
    if bias is not None:
        bias = check_array("bias", bias, ("float32",), ndim=1)
        if bias.shape[0] != n:
            raise ValueError(f"bias must have N = {n} entries, got {bias.shape[0]}")
        y = y + bias
    return y.reshape(lead + (n,))


def matmul_nbits_int8_bound(A, B, scales, zero_points=None, *, K: int, N: int,
                            block_size: int) -> np.ndarray:
    """Largest ``|Y_runtime - Y|`` a float32 evaluation of :func:`matmul_nbits_int8`
    (``act_block_size=0``) in another order may show, per output element ``(..., N)``.

    Numeric contract: with ``u = 2**-24``, ``n`` blocks and the terms of ONNX Runtime's
    evaluation (per block ``fl32(s_a s_w) * sum(a_q q)`` with unsigned codes ``q``, split
    across SIMD lanes whose partial sums are added at the end, and the zero-point term
    ``(s_w zp) * (s_a sum(a_q))``), the bound is ``(n + 4) * 4u * T`` with
    ``T = sum_j |s_a s_w| (sum |a_q| q + zp |sum a_q|)`` (absolute products: a lane's partial
    sum can exceed the block's total); each term is rounded a few times and each partial sum
    once per added term (FMA or not). Computed in float64.
    """
    bs = _check_block_size(block_size)
    k = check_int("K", K, minimum=1)
    n = check_int("N", N, minimum=1)
    A = check_array("A", A, ("float32",))
    codes, zp, sc_w = nbits_operands(B, scales, zero_points, k, n, bs)
    nblk = _blocks(k, bs)
    a_q, sc_a = quantize_activation_blocks(A.reshape(-1, k), block_size=bs)
    aq3 = a_q.astype(np.float64).reshape(-1, nblk, bs)
    unsigned = np.einsum("mjb,njb->mnj", np.abs(aq3), codes.astype(np.float64).reshape(
        n, nblk, bs))
    sums = np.abs(aq3.sum(axis=2))                                     # (M, nblk)
    terms = np.abs(sc_a[:, None, :].astype(np.float64) * sc_w[None].astype(np.float64)) * (
        unsigned + zp[None].astype(np.float64) * sums[:, None, :])
    bound = (nblk + 4) * 4 * 2.0**-24 * terms.sum(axis=2)
    return bound.reshape(A.shape[:-1] + (n,))


# --------------------------------------------------------------------------- KV cache
def quantize_kv(x, *, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 / int4 KV-cache codes, one scale per vector (per token and head).

    Numeric contract
    ----------------
    - ``x`` float32 ``(..., D)`` (one key or value vector per row); ``qmax`` = 127 (8 bits) or
      7 (4 bits; code -8 unused).
    - ``scale = fl32(amax / qmax)`` with ``amax`` the float32 max of ``|x|`` over ``D``;
      ``scale = 1`` when ``amax == 0``; ``codes = clip(rint(fl32(x / scale)), -qmax, qmax)``
      (true division, ties to even): the ONNX ReduceMax/Div/Round/Clip sequence, bit-exact.
    - Returns ``(codes, scales)``: codes int8 ``(..., D)`` (4-bit codes stored one per byte,
      as :mod:`reference.dtypes`), scales float32 ``(..., 1)``.
    - Errors: ``ValueError`` for ``bits`` not in (8, 4) or non-finite ``x``.
    """
    x = check_array("x", x, ("float32",))
    if bits not in KV_BITS:
        raise ValueError(f"bits must be one of {sorted(KV_BITS)}, got {bits!r}")
    if not np.isfinite(x).all():
        raise ValueError("x must be finite to quantize, got NaN or inf")
    qmax = _F32(KV_BITS[bits])
    amax = np.abs(x).max(axis=-1, keepdims=True) if x.shape[-1] else np.zeros(
        x.shape[:-1] + (1,), _F32)
    scale = (amax / qmax).astype(_F32)
    scale = np.where(scale == 0, _F32(1), scale).astype(_F32)
    codes = np.clip(np.rint((x / scale).astype(_F32)), -qmax, qmax).astype(np.int8)
    return codes, scale


def dequantize_kv(codes, scales) -> np.ndarray:
    """``fl32(float32(codes) * scales)``: exact conversion, one rounded multiply."""
    codes = check_array("codes", codes, ("int8",))
    scales = check_array("scales", scales, ("float32",))
    if scales.shape != codes.shape[:-1] + (1,):
        raise ValueError(f"scales must have shape {codes.shape[:-1] + (1,)}, got {scales.shape}")
    return codes.astype(_F32) * scales

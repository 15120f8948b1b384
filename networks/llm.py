"""A Llama-style decoder: configurations, the golden model (prefill and decode with a KV cache)
and its prefill / decode workloads.

Architecture (Llama 2/3): token embedding; per layer ``x += o_proj(attention(rope(q), rope(k),
v))`` on ``rms_norm(x)`` with grouped K/V heads, then ``x += down(silu(gate(h)) * up(h))`` on
``rms_norm(x)``; a final RMSNorm and the LM head. Operators come from
:mod:`reference.llm_ops`.

Golden precisions (``Decoder(precision=...)``):

* ``fp32``: float32 weights and activations (the float reference);
* ``w4``: int4 per-group weights (``MatMulNBits`` layout), float activations (ONNX Runtime's
  ``accuracy_level`` 0);
* ``w4a8``: int4 per-group weights and dynamic int8 activations, integer dot products
  (``MatMulNBits`` with ``accuracy_level=4``; ``act_quant="per_token"`` quantizes each token
  as one block instead, as TensorRT-LLM's W4A8 does).

The KV cache holds float32 vectors, or int8 / int4 codes with one float32 scale per token and
head (``kv_bits``). Weights are seeded, never downloaded, and only small configurations are
materialized (``tiny`` for tests); the 1B-13B geometries exist for the workloads.

Workloads (for the simulators, :class:`common.workload.Workload`): prefill runs ``T`` prompt
tokens per sequence (GEMMs with ``M = batch * T``); decode runs one token per sequence (GEMV-like
GEMMs with ``M = batch``) and reads the whole KV cache in attention, expressed as grouped
matmuls whose "weights" are the cached keys and values (``groups = batch * kv_heads``, one
K/V matrix per group, ``M`` = the query heads sharing it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from common.workload import LayerWork, Workload
from reference.llm_ops import (
    KV_BITS,
    apply_rope,
    dequantize_kv,
    grouped_query_attention,
    matmul_float,
    matmul_nbits_int8,
    quantize_blockwise_4bit,
    quantize_kv,
    rms_norm,
    rope_cache,
    swiglu,
)
from reference.onnx_ops import matmul_nbits

__all__ = ["ATTENTION_LAYERS", "ATTENTION_MODES", "CONFIGS", "GOLDEN_PRECISIONS",
           "SIM_PRECISIONS", "Decoder", "DecoderWeights", "KVCache", "LlmConfig",
           "block_workload", "decode_workload", "default_kv_bits", "get_config",
           "head_workload", "init_weights",
           "model_bytes", "prefill_workload", "with_layers"]

#: golden-model precisions
GOLDEN_PRECISIONS = ("fp32", "w4", "w4a8")
#: simulated precisions: (weight bits, GEMM input activation bits); ``fp8`` and ``w8a8`` have
#: the same widths (the GPU model runs 8-bit operands on INT8 Tensor Cores, whose rate equals
#: FP8's on H100). Embedding, LM head and the
#: residual stream stay 16-bit (TensorRT-LLM quantizes neither the embedding nor the LM head by
#: default); int4 scales (one fp16 per 128 weights, +3%) are not counted as traffic.
SIM_PRECISIONS = {"fp16": (16, 16), "fp8": (8, 8), "w8a8": (8, 8), "w4a8": (4, 8),
                  "w4a16": (4, 16)}
#: largest configuration whose weights may be materialized (tests use ``tiny``)
MAX_MATERIALIZED_PARAMS = 50_000_000


@dataclass(frozen=True)
class LlmConfig:
    """Decoder geometry. ``head_dim = hidden / heads``; ``kv_heads`` divides ``heads``."""

    name: str
    vocab_size: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    max_positions: int
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    tied_embeddings: bool = False
    source: str = field(default="", compare=False)

    def __post_init__(self):
        for key in ("vocab_size", "hidden", "layers", "heads", "kv_heads", "intermediate",
                    "max_positions"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LlmConfig.{key} must be a positive int, got {value!r}")
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise ValueError(f"hidden {self.hidden} must split into {self.heads} heads of even "
                             f"size")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} must be a multiple of kv_heads {self.kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def group(self) -> int:
        """Query heads per K/V head."""
        return self.heads // self.kv_heads

    def layer_params(self) -> dict[str, int]:
        d, hd, i = self.hidden, self.head_dim, self.intermediate
        return {"q": d * self.heads * hd, "k": d * self.kv_heads * hd,
                "v": d * self.kv_heads * hd, "o": self.heads * hd * d,
                "gate": d * i, "up": d * i, "down": i * d, "norms": 2 * d}

    def param_count(self) -> int:
        """All parameters: embedding, layers (norms included), final norm, LM head."""
        embed = self.vocab_size * self.hidden
        head = 0 if self.tied_embeddings else embed
        return embed + head + self.hidden + self.layers * sum(self.layer_params().values())

    def kv_bytes_per_token(self, kv_bits: int = 16) -> float:
        """Bytes of K and V of one token over all layers (int codes plus, for 8/4 bits, one
        fp16 scale per token and head)."""
        values = 2 * self.layers * self.kv_heads * self.head_dim * kv_bits / 8
        scales = 2 * self.layers * self.kv_heads * 2 if kv_bits < 16 else 0
        return values + scales


_HF = "Hugging Face config.json of "
CONFIGS: dict[str, LlmConfig] = {c.name: c for c in (
    LlmConfig("tiny", 256, 64, 2, 4, 2, 128, 128,
              source="gilt test geometry (GQA 4/2, head_dim 16)"),
    LlmConfig("llama-3.2-1b", 128256, 2048, 16, 32, 8, 8192, 131072, rope_theta=500000.0,
              tied_embeddings=True, source=_HF + "meta-llama/Llama-3.2-1B (1.24 B parameters)"),
    LlmConfig("llama-3-8b", 128256, 4096, 32, 32, 8, 14336, 8192, rope_theta=500000.0,
              source=_HF + "meta-llama/Meta-Llama-3-8B (8.03 B parameters)"),
    LlmConfig("llama-3.1-8b", 128256, 4096, 32, 32, 8, 14336, 131072, rope_theta=500000.0,
              source=_HF + "meta-llama/Llama-3.1-8B (8.03 B parameters, 128k context)"),
    LlmConfig("llama-2-7b", 32000, 4096, 32, 32, 32, 11008, 4096,
              source=_HF + "meta-llama/Llama-2-7b-hf (6.74 B parameters)"),
    LlmConfig("llama-2-13b", 32000, 5120, 40, 40, 40, 13824, 4096,
              source=_HF + "meta-llama/Llama-2-13b-hf (13.0 B parameters)"),
    LlmConfig("llama-2-70b", 32000, 8192, 80, 64, 8, 28672, 4096,
              source=_HF + "meta-llama/Llama-2-70b-hf (69.0 B parameters)"),
    LlmConfig("gpt-j-6b", 50400, 4096, 28, 16, 16, 10923, 2048,
              source="GPT-J 6B (EleutherAI, 6.05 B parameters): 28 x 4096, 16 heads; its GELU "
                     "MLP (two 4096 x 16384 matrices) is modelled as a gated MLP of the same "
                     "size and MACs (three 4096 x 10923 matrices)"),
    LlmConfig("seed-12.8b", 128256, 5120, 40, 40, 8, 14592, 8192, rope_theta=500000.0,
              source="the seed's 12.8 B model (C1; the article gives only the count): "
                     "Llama-3 tokenizer, 40 x 5120, GQA 40/8, FFN 14592 -> 12.79 B"),
    LlmConfig("seed-8.0b", 128256, 4096, 32, 32, 8, 14336, 8192, rope_theta=500000.0,
              source="the seed's 8.0 B model (C1): the Llama-3-8B geometry, 8.03 B"),
)}


def get_config(name: str | LlmConfig) -> LlmConfig:
    """A configuration by name (one of ``CONFIGS``) or as given."""
    if isinstance(name, LlmConfig):
        return name
    if name not in CONFIGS:
        raise ValueError(f"model must be one of {sorted(CONFIGS)}, got {name!r}")
    return CONFIGS[name]


def model_bytes(config: LlmConfig, precision: str, *, group_size: int = 128) -> float:
    """Stored size of the weights at a simulated precision: linear layers at the weight bits
    (int4 plus one fp16 scale per ``group_size`` weights; int8 plus one fp16 scale per output
    channel), embedding, LM head and norms at 16 bits."""
    wbits, _ = _sim_bits(precision)
    lp = config.layer_params()
    linear = config.layers * (sum(lp.values()) - lp["norms"])
    per_weight = {16: 2.0, 8: 1.0, 4: 0.5 + 2.0 / group_size}[wbits]
    out_channels = config.layers * (config.heads * config.head_dim + 2 * config.kv_heads *
                                    config.head_dim + config.hidden * 2 + 2 * config.intermediate)
    channel_scales = 2.0 * out_channels if wbits == 8 else 0.0
    rest = config.param_count() - linear
    return linear * per_weight + channel_scales + 2.0 * rest


# --------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class DecoderWeights:
    """Float32 weights. Linear weights are stored ``(in, out)`` (``y = x @ w``)."""

    embed: np.ndarray
    layers: tuple[dict[str, np.ndarray], ...]
    final_norm: np.ndarray
    lm_head: np.ndarray


def init_weights(config: LlmConfig | str, *, seed: int = 0) -> DecoderWeights:
    """Seeded float32 weights (normal, std ``1/sqrt(fan_in)``; norm weights ``1 + N(0, 0.1)``).
    Only configurations up to ``MAX_MATERIALIZED_PARAMS`` parameters: the large geometries are
    for simulation."""
    cfg = get_config(config)
    if cfg.param_count() > MAX_MATERIALIZED_PARAMS:
        raise ValueError(f"model {cfg.name!r} has {cfg.param_count():,} parameters; weights are "
                         f"materialized only up to {MAX_MATERIALIZED_PARAMS:,} (use it for "
                         f"workloads and simulation, or the 'tiny' configuration)")
    rng = np.random.default_rng(seed)

    def linear(k: int, n: int) -> np.ndarray:
        return (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)

    def norm() -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(cfg.hidden)).astype(np.float32)

    d, hd = cfg.hidden, cfg.head_dim
    embed = rng.standard_normal((cfg.vocab_size, d)).astype(np.float32)
    layers = tuple({"attn_norm": norm(), "q": linear(d, cfg.heads * hd),
                    "k": linear(d, cfg.kv_heads * hd), "v": linear(d, cfg.kv_heads * hd),
                    "o": linear(cfg.heads * hd, d), "mlp_norm": norm(),
                    "gate": linear(d, cfg.intermediate), "up": linear(d, cfg.intermediate),
                    "down": linear(cfg.intermediate, d)} for _ in range(cfg.layers))
    final = norm()
    head = np.ascontiguousarray(embed.T) if cfg.tied_embeddings else linear(d, cfg.vocab_size)
    return DecoderWeights(embed, layers, final, head)


# --------------------------------------------------------------------------- golden model
@dataclass(frozen=True)
class KVCache:
    """Per layer: keys and values ``(B, kv_heads, length, head_dim)`` (float32, or int8 codes
    with float32 ``(B, kv_heads, length, 1)`` scales when ``kv_bits`` is 8 or 4)."""

    keys: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    key_scales: tuple[np.ndarray, ...] | None
    value_scales: tuple[np.ndarray, ...] | None
    kv_bits: int | None

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[2]) if self.keys else 0

    @property
    def batch(self) -> int:
        return int(self.keys[0].shape[0]) if self.keys else 0

    @classmethod
    def empty(cls, config: LlmConfig, batch: int, kv_bits: int | None) -> KVCache:
        shape = (batch, config.kv_heads, 0, config.head_dim)
        dtype = np.float32 if kv_bits is None else np.int8
        arrays = tuple(np.zeros(shape, dtype) for _ in range(config.layers))
        scales = None if kv_bits is None else tuple(
            np.zeros(shape[:3] + (1,), np.float32) for _ in range(config.layers))
        return cls(arrays, arrays, scales, scales, kv_bits)

    def nbytes(self) -> int:
        """Bytes at the stored width (4-bit codes counted packed)."""
        if self.kv_bits is None:
            return sum(a.nbytes for a in self.keys + self.values)
        codes = sum(a.size for a in self.keys + self.values) * self.kv_bits // 8
        return codes + sum(a.nbytes for a in self.key_scales + self.value_scales)


class _Linear:
    """One linear layer at a golden precision (weights quantized once)."""

    def __init__(self, w: np.ndarray, precision: str, block_size: int, symmetric: bool,
                 act_quant: str):
        self.k, self.n = w.shape
        self.precision, self.block_size, self.act_quant = precision, block_size, act_quant
        self.w = w
        if precision != "fp32":
            self.B, self.scales, self.zero_points = quantize_blockwise_4bit(
                w, block_size=block_size, symmetric=symmetric)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.precision == "fp32":
            return matmul_float(x, self.w)
        args = (x, self.B, self.scales, self.zero_points)
        kw = {"K": self.k, "N": self.n, "block_size": self.block_size}
        if self.precision == "w4":
            return matmul_nbits(*args, **kw)
        return matmul_nbits_int8(*args, **kw,
                                 act_block_size=None if self.act_quant == "per_token" else 0)


class Decoder:
    """The golden decoder. ``forward(ids, cache)`` appends ``ids`` (``(B, T)`` int token ids)
    after the ``cache.length`` cached positions and returns ``(logits (B, T, vocab), cache)``;
    ``prefill`` is ``forward`` from an empty cache, ``decode`` one token per sequence."""

    def __init__(self, config: LlmConfig | str, weights: DecoderWeights | None = None, *,
                 precision: str = "w4a8", kv_bits: int | None = 8, block_size: int = 32,
                 symmetric: bool = False, act_quant: str = "per_group", seed: int = 0):
        self.config = get_config(config)
        if precision not in GOLDEN_PRECISIONS:
            raise ValueError(f"precision must be one of {GOLDEN_PRECISIONS}, got {precision!r}")
        if kv_bits is not None and kv_bits not in KV_BITS:
            raise ValueError(f"kv_bits must be None (float32), 8 or 4, got {kv_bits!r}")
        if act_quant not in ("per_group", "per_token"):
            raise ValueError(f"act_quant must be 'per_group' or 'per_token', got {act_quant!r}")
        if act_quant == "per_token" and precision != "w4a8":
            raise ValueError("act_quant='per_token' applies to precision 'w4a8' only")
        self.weights = weights if weights is not None else init_weights(self.config, seed=seed)
        self.precision, self.kv_bits, self.block_size = precision, kv_bits, block_size
        self.symmetric, self.act_quant = symmetric, act_quant

        def lin(w):
            return _Linear(w, precision, block_size, symmetric, act_quant)

        self.layers = tuple({name: (lin(w) if w.ndim == 2 else w) for name, w in layer.items()}
                            for layer in self.weights.layers)
        self.lm_head = lin(self.weights.lm_head)
        self.cos, self.sin = rope_cache(self.config.head_dim, self.config.max_positions,
                                        theta=self.config.rope_theta)

    # ------------------------------------------------------------------ forward
    def forward(self, ids, cache: KVCache | None = None) -> tuple[np.ndarray, KVCache]:
        ids = np.asarray(ids)
        cfg = self.config
        if ids.dtype.kind not in "iu" or ids.ndim != 2 or ids.shape[1] < 1:
            raise ValueError(f"ids must be a (batch, tokens) integer array, got {ids.dtype} "
                             f"{ids.shape}")
        if ids.min() < 0 or ids.max() >= cfg.vocab_size:
            raise ValueError(f"token ids must be in [0, {cfg.vocab_size - 1}]")
        b, t = ids.shape
        cache = cache if cache is not None else KVCache.empty(cfg, b, self.kv_bits)
        if cache.kv_bits != self.kv_bits or (cache.length and cache.batch != b):
            raise ValueError(f"cache (kv_bits={cache.kv_bits}, batch={cache.batch}) does not "
                             f"match this decoder (kv_bits={self.kv_bits}, batch={b})")
        past = cache.length
        if past + t > cfg.max_positions:
            raise ValueError(f"{past} cached + {t} new tokens exceed max_positions "
                             f"{cfg.max_positions}")
        pos = np.arange(past, past + t)
        x = self.weights.embed[ids]
        new = ([], [], [], [])
        for i, layer in enumerate(self.layers):
            x, entry = self._layer(x, layer, i, cache, pos)
            for store, item in zip(new, entry):
                store.append(item)
        x = rms_norm(x, self.weights.final_norm, epsilon=cfg.rms_eps)
        logits = self.lm_head(x)
        keys, values, kscales, vscales = (tuple(s) for s in new)
        quantized = self.kv_bits is not None
        return logits, KVCache(keys, values, kscales if quantized else None,
                               vscales if quantized else None, self.kv_bits)

    def prefill(self, ids) -> tuple[np.ndarray, KVCache]:
        return self.forward(ids, None)

    def decode(self, ids, cache: KVCache) -> tuple[np.ndarray, KVCache]:
        return self.forward(ids, cache)

    def generate(self, prompt, steps: int) -> np.ndarray:
        """Greedy decoding: ``steps`` new tokens per sequence after ``prompt`` ``(B, T)``."""
        logits, cache = self.prefill(prompt)
        out = []
        for _ in range(steps):
            nxt = np.argmax(logits[:, -1], axis=-1)[:, None]
            out.append(nxt)
            logits, cache = self.decode(nxt, cache)
        return np.concatenate(out, axis=1)

    def _heads(self, y: np.ndarray, heads: int) -> np.ndarray:
        b, t, _ = y.shape
        return np.ascontiguousarray(y.reshape(b, t, heads, self.config.head_dim)
                                    .transpose(0, 2, 1, 3))

    def _cache_append(self, past: np.ndarray, past_scale, new: np.ndarray):
        """(stored, stored scales, float view of the whole cache)."""
        if self.kv_bits is None:
            stored = np.concatenate([past, new], axis=2)
            return stored, None, stored
        codes, scales = quantize_kv(new, bits=self.kv_bits)
        stored = np.concatenate([past, codes], axis=2)
        stored_scales = np.concatenate([past_scale, scales], axis=2)
        return stored, stored_scales, dequantize_kv(stored, stored_scales)

    def _layer(self, x, layer, i, cache: KVCache, pos):
        cfg = self.config
        h = rms_norm(x, layer["attn_norm"], epsilon=cfg.rms_eps)
        q = apply_rope(self._heads(layer["q"](h), cfg.heads), self.cos, self.sin, pos)
        k = apply_rope(self._heads(layer["k"](h), cfg.kv_heads), self.cos, self.sin, pos)
        v = self._heads(layer["v"](h), cfg.kv_heads)
        ks = cache.key_scales[i] if cache.key_scales is not None else None
        vs = cache.value_scales[i] if cache.value_scales is not None else None
        k_store, k_sc, k_all = self._cache_append(cache.keys[i], ks, k)
        v_store, v_sc, v_all = self._cache_append(cache.values[i], vs, v)
        attn = grouped_query_attention(q, k_all, v_all, query_positions=pos)
        b, _, t, _ = attn.shape
        attn = attn.transpose(0, 2, 1, 3).reshape(b, t, cfg.hidden)
        x = x + layer["o"](attn)
        h = rms_norm(x, layer["mlp_norm"], epsilon=cfg.rms_eps)
        x = x + layer["down"](swiglu(layer["gate"](h), layer["up"](h)))
        return x, (k_store, v_store, k_sc, v_sc)


# --------------------------------------------------------------------------- workloads
def _sim_bits(precision: str) -> tuple[int, int]:
    if precision not in SIM_PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(SIM_PRECISIONS)}, got {precision!r}")
    return SIM_PRECISIONS[precision]


def default_kv_bits(precision: str, kv_bits: int | None) -> int:
    """The KV-cache width: ``kv_bits`` checked, or 16 for 16-bit activations and 8 else."""
    if kv_bits is None:
        return 16 if _sim_bits(precision)[1] == 16 else 8
    if kv_bits not in (16, 8, 4):
        raise ValueError(f"kv_bits must be 16, 8 or 4, got {kv_bits!r}")
    return kv_bits


def _grouped_matmul(name: str, *, groups: int, m: int, n: int, k: int, weight_bits: int,
                    act_bits: int, out_bits: int) -> LayerWork:
    """``groups`` independent GEMMs ``[m x k] . [k x n]`` each with its own "weight" (a
    sequence's cached keys or values for one K/V head)."""
    macs = groups * m * n * k
    return LayerWork(name=name, op="matmul", batch=1, in_channels=groups * k, in_h=m, in_w=1,
                     out_channels=groups * n, out_h=m, out_w=1, groups=groups,
                     weight_bits=weight_bits, act_bits=act_bits, out_bits=out_bits,
                     macs_dense=macs, macs_done=macs)


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


#: how attention runs: ``flash`` keeps scores on chip (FlashAttention / fused MHA kernels of
#: GPU serving stacks; causal: a prompt token sees on average half the prompt), ``unfused``
#: writes fp16 scores, runs softmax as a pass and reads them back (full context)
ATTENTION_MODES = ("flash", "unfused")


def block_workload(config: LlmConfig | str, *, precision: str, batch: int, tokens: int,
                   context: int, kv_bits: int | None = None, index: int = 0,
                   attention: str = "flash") -> list[LayerWork]:
    """The layers of decoder block ``index`` for ``batch`` sequences running ``tokens`` new
    tokens each against ``context`` cached-plus-new positions (prefill: ``tokens == context``;
    decode: ``tokens == 1``), as serving stacks fuse them: the residual add rides in the next
    RMSNorm pass (which reads and writes the residual and the branch), RoPE and the KV-cache
    write are one pass, SwiGLU is one pass, norms quantize their output for int8 GEMMs.

    Attention is two grouped matmuls (``groups = batch * kv_heads``; ``M`` = the query heads
    sharing a K/V head times ``tokens``) whose "weights" are the cached keys and values at
    ``kv_bits``. With ``attention="flash"`` each query sees ``context - tokens + ceil((tokens
    + 1) / 2)`` keys on average (causal) and the score matrix is declared 1 bit wide: the
    workload contract's way to say it stays on chip (its DRAM bytes become negligible; its
    MACs are all counted); ``"unfused"`` sees the full context and adds a softmax pass over
    fp16 scores."""
    cfg = get_config(config)
    wb, ab = _sim_bits(precision)
    kvb = default_kv_bits(precision, kv_bits)
    if attention not in ATTENTION_MODES:
        raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
    b, t, c = _positive("batch", batch), _positive("tokens", tokens), _positive("context", context)
    if t > c:
        raise ValueError(f"tokens ({t}) cannot exceed context ({c})")
    m, d, hd, i = b * t, cfg.hidden, cfg.head_dim, cfg.intermediate
    p = f"L{index}."
    qkv = (cfg.heads + 2 * cfg.kv_heads) * hd
    g, rows = b * cfg.kv_heads, cfg.group * t
    flash = attention == "flash"
    seen = c - t + -(-(t + 1) // 2) if flash else c
    score_bits = 1 if flash else 16

    def norm(name):   # reads residual + branch, writes residual (16 bits) + GEMM input (ab)
        return LayerWork.elementwise(p + name, shape=(b, 2 * d, t, 1), ops_per_element=3,
                                     act_bits=16, out_bits=16 if ab == 16 else 12)

    layers = [
        norm("add_attn_norm"),
        LayerWork.matmul(p + "qkv", m=m, n=qkv, k=d, weight_bits=wb, act_bits=ab, out_bits=16),
        LayerWork.elementwise(p + "rope_kv_write", shape=(b, qkv, t, 1), ops_per_element=3,
                              act_bits=16, out_bits=16),
        _grouped_matmul(p + "attn_qk", groups=g, m=rows, n=seen, k=hd, weight_bits=kvb,
                        act_bits=16, out_bits=score_bits),
    ]
    if not flash:
        layers.append(LayerWork.elementwise(p + "softmax", shape=(b, cfg.heads * c, t, 1),
                                            ops_per_element=5, act_bits=16, out_bits=16))
    layers += [
        _grouped_matmul(p + "attn_pv", groups=g, m=rows, n=hd, k=seen, weight_bits=kvb,
                        act_bits=score_bits, out_bits=ab),
        LayerWork.matmul(p + "o_proj", m=m, n=d, k=cfg.heads * hd, weight_bits=wb, act_bits=ab,
                         out_bits=16),
        norm("add_mlp_norm"),
        LayerWork.matmul(p + "gate_up", m=m, n=2 * i, k=d, weight_bits=wb, act_bits=ab,
                         out_bits=16),
        LayerWork.elementwise(p + "swiglu", shape=(b, i, t, 1), ops_per_element=5, inputs=2,
                              act_bits=16, out_bits=ab),
        LayerWork.matmul(p + "down", m=m, n=d, k=i, weight_bits=wb, act_bits=ab, out_bits=16),
    ]
    return layers


#: layer-name suffixes of the attention proper (the rest of a block is per-token work)
ATTENTION_LAYERS = ("attn_qk", "softmax", "attn_pv")


def head_workload(config: LlmConfig | str, *, batch: int, tokens: int) -> list[LayerWork]:
    """Embedding lookup of ``batch * tokens`` tokens, final norm and LM head on the last token
    of each sequence (16-bit: not quantized)."""
    cfg = get_config(config)
    b, t = _positive("batch", batch), _positive("tokens", tokens)
    return [
        LayerWork.elementwise("embed", shape=(b, cfg.hidden, t, 1), act_bits=16, out_bits=16),
        LayerWork.elementwise("final_norm", shape=(b, cfg.hidden, 1, 1), ops_per_element=4,
                              act_bits=16, out_bits=16),
        LayerWork.matmul("lm_head", m=b, n=cfg.vocab_size, k=cfg.hidden, weight_bits=16,
                         act_bits=16, out_bits=16),
    ]


def _workload(cfg: LlmConfig, phase: str, precision: str, batch: int, tokens: int,
              context: int, kv_bits: int | None, attention: str) -> Workload:
    head = head_workload(cfg, batch=batch, tokens=tokens)
    layers = [head[0]]
    for index in range(cfg.layers):
        layers += block_workload(cfg, precision=precision, batch=batch, tokens=tokens,
                                 context=context, kv_bits=kv_bits, index=index,
                                 attention=attention)
    layers += head[1:]
    meta = {"batch": batch, "model": cfg.name, "phase": phase, "tokens": tokens,
            "context": context, "kv_bits": default_kv_bits(precision, kv_bits),
            "params": cfg.param_count(), "model_bytes": model_bytes(cfg, precision),
            "layers_per_block": len(layers[1:-2]) // cfg.layers, "blocks": cfg.layers,
            "attention": attention}
    return Workload(f"{cfg.name}-{phase}", tuple(layers), precision=precision, meta=meta)


def prefill_workload(config: LlmConfig | str, *, precision: str = "w4a8", batch: int = 1,
                     prompt_len: int = 128, kv_bits: int | None = None,
                     attention: str = "flash") -> Workload:
    """Prefill of ``batch`` prompts of ``prompt_len`` tokens, LM head on the last token of
    each (see :func:`block_workload` for the layers and ``attention``)."""
    cfg = get_config(config)
    return _workload(cfg, "prefill", precision, batch, prompt_len, prompt_len, kv_bits,
                     attention)


def decode_workload(config: LlmConfig | str, *, precision: str = "w4a8", batch: int = 1,
                    context_len: int = 128, kv_bits: int | None = None,
                    attention: str = "flash") -> Workload:
    """One decode step of ``batch`` sequences, each attending to ``context_len`` positions
    (the KV cache, the new token included)."""
    cfg = get_config(config)
    return _workload(cfg, "decode", precision, batch, 1, context_len, kv_bits, attention)


def with_layers(config: LlmConfig, layers: int) -> LlmConfig:
    """The same geometry with another layer count (a cheap config for tests)."""
    return dataclasses.replace(config, layers=_positive("layers", layers))

"""LLM inference on the hardware models: prefill and decode times of a decoder
(:mod:`networks.llm`) on a GPU, CPU or NPU model, the engine-step cost tables a serving
simulation runs on (:mod:`simulator.serving`), and the KV-cache capacity a device leaves.

All decoder blocks are identical, so one block is simulated and multiplied by the layer count;
the embedding, final norm and LM head are simulated once. Step-cost tables sample the hardware
model on powers of two (:class:`simulator.serving.cost.StepCost`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from common.workload import LayerWork, Workload
from gilt import targets
from networks.llm import (
    ATTENTION_LAYERS,
    block_workload,
    default_kv_bits,
    get_config,
    head_workload,
    model_bytes,
)
from simulator.serving import ShardPlan, StepCost, Table1D, Table2D, plan_shards

__all__ = ["DEFAULT_PRESETS", "Deployment", "decode_step_s", "kv_capacity_tokens",
           "layer_bytes", "phase_parts", "prefill_s", "shard_plan", "step_cost"]

#: hardware each target uses when none is named
DEFAULT_PRESETS = {"gpu": "h100-sxm5", "cpu": "sapphire-rapids", "npu": "npu-128x128"}
#: how each target runs attention (GPU serving stacks: FlashAttention-style fused kernels;
#: CPU runtimes such as ONNX Runtime materialize the scores)
DEFAULT_ATTENTION = {"gpu": "flash", "cpu": "unfused", "npu": "flash"}
#: device memory for weights and KV cache where the spec has none (GPU: its HBM size)
DEFAULT_MEMORY_GIB = {"cpu": 256.0, "npu": 32.0}


@dataclass(frozen=True)
class Deployment:
    """A model at a precision on one device. ``memory_fraction`` of the device memory holds
    the weights and the KV cache (vLLM's ``gpu_memory_utilization``, 0.9 by default)."""

    model: str
    precision: str = "w4a8"
    target: str = "gpu"
    hardware: str | None = None
    kv_bits: int | None = None
    attention: str | None = None
    memory_gib: float | None = None
    memory_fraction: float = 0.9

    def __post_init__(self):
        get_config(self.model)
        if self.target not in targets.TARGETS:
            raise ValueError(f"target must be one of {targets.TARGETS}, got {self.target!r}")
        if not 0 < self.memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1], got {self.memory_fraction!r}")
        if self.memory_gib is not None and not self.memory_gib > 0:
            raise ValueError(f"memory_gib must be > 0, got {self.memory_gib!r}")

    @property
    def hw(self) -> str:
        return self.hardware or DEFAULT_PRESETS[self.target]

    @property
    def attn(self) -> str:
        return self.attention or DEFAULT_ATTENTION[self.target]

    @property
    def config(self):
        return get_config(self.model)

    def spec(self):
        return _spec(self.target, self.hw)

    def memory_bytes(self) -> float:
        if self.memory_gib is not None:
            return self.memory_gib * 2**30
        spec = self.spec()
        if self.target == "gpu":
            return spec.hbm_size_gib * 2**30
        return DEFAULT_MEMORY_GIB[self.target] * 2**30

    def weight_bytes(self) -> float:
        return model_bytes(self.config, self.precision)

    def kv_bits_resolved(self) -> int:
        return default_kv_bits(self.precision, self.kv_bits)

    def kv_bytes_per_token(self) -> float:
        return self.config.kv_bytes_per_token(self.kv_bits_resolved())

    def label(self) -> str:
        return (f"{self.model} {self.precision} kv{self.kv_bits_resolved()} on {self.target}:"
                f"{self.spec().name}")


@lru_cache(maxsize=16)
def _spec(target: str, hw: str):
    return targets.load_hardware(target, hw)


def kv_capacity_tokens(dep: Deployment) -> int:
    """KV-cache tokens that fit beside the weights in ``memory_fraction`` of the memory (0
    when the weights alone do not fit)."""
    free = dep.memory_bytes() * dep.memory_fraction - dep.weight_bytes()
    return max(0, int(free // dep.kv_bytes_per_token()))


def _time(dep: Deployment, layers: list[LayerWork], batch: int) -> float:
    if not layers:
        return 0.0
    wl = Workload("part", tuple(layers), precision=dep.precision, meta={"batch": batch})
    return targets.simulate(dep.target, wl, dep.spec()).time_s


def _split(layers: list[LayerWork]) -> tuple[list[LayerWork], list[LayerWork]]:
    attn = [layer for layer in layers if layer.name.split(".")[-1] in ATTENTION_LAYERS]
    return [layer for layer in layers if layer not in attn], attn


@lru_cache(maxsize=4096)
def phase_parts(dep: Deployment, *, batch: int, tokens: int, context: int) -> dict:
    """Seconds of one forward pass of ``batch`` sequences running ``tokens`` new tokens each
    against ``context`` positions: ``dense`` (all per-token work of every layer, embedding
    included), ``attention``, ``head`` (final norm + LM head, one row per sequence) and
    ``total``."""
    cfg = dep.config
    block = block_workload(cfg, precision=dep.precision, batch=batch, tokens=tokens,
                           context=context, kv_bits=dep.kv_bits, attention=dep.attn)
    dense, attn = _split(block)
    head = head_workload(cfg, batch=batch, tokens=tokens)
    parts = {"dense": cfg.layers * _time(dep, dense, batch) + _time(dep, head[:1], batch),
             "attention": cfg.layers * _time(dep, attn, batch),
             "head": _time(dep, head[1:], batch)}
    parts["total"] = sum(parts.values())
    return parts


def prefill_s(dep: Deployment, *, batch: int = 1, prompt: int = 128) -> float:
    """Time to first token of a batch of equal prompts (one prefill pass)."""
    return phase_parts(dep, batch=batch, tokens=prompt, context=prompt)["total"]


def decode_step_s(dep: Deployment, *, batch: int = 1, context: int = 128) -> float:
    """One decode step of ``batch`` sequences at ``context`` positions each."""
    return phase_parts(dep, batch=batch, tokens=1, context=context)["total"]


def _grid(top: int, step: int = 1) -> np.ndarray:
    return 2.0 ** np.arange(0, int(math.log2(top)) + 1, step)


@lru_cache(maxsize=64)
def step_cost(dep: Deployment, *, max_tokens: int = 16384, max_batch: int = 1024,
              max_context: int = 131072, coarse: bool = False) -> StepCost:
    """The engine-step cost tables of ``dep`` (see :mod:`simulator.serving.cost`), sampled on
    powers of two (``coarse``: powers of four, for tests)."""
    cfg = dep.config
    step = 2 if coarse else 1
    tok = _grid(max_tokens, step)
    bat = _grid(max_batch, step)
    ctx = _grid(max_context, step)[4 // step:]            # from 16 positions
    def dense(m: int) -> float:
        block = block_workload(cfg, precision=dep.precision, batch=m, tokens=1, context=1,
                               kv_bits=dep.kv_bits, attention=dep.attn)
        emb = head_workload(cfg, batch=m, tokens=1)[:1]
        return cfg.layers * _time(dep, _split(block)[0], m) + _time(dep, emb, m)

    def heads(s: int) -> float:
        return _time(dep, head_workload(cfg, batch=s, tokens=1)[1:], s)

    def attention(b: int, t: int, c: int) -> float:
        block = block_workload(cfg, precision=dep.precision, batch=b, tokens=t,
                               context=max(c, t), kv_bits=dep.kv_bits, attention=dep.attn)
        return cfg.layers * _time(dep, _split(block)[1], b)

    dense_t = Table1D(tok, [dense(int(m)) for m in tok])
    head_t = Table1D(bat, [heads(int(s)) for s in bat])
    dec = Table2D(bat, ctx, [[attention(int(b), 1, int(c)) for c in ctx] for b in bat])
    pre = Table2D(tok, ctx, [[attention(1, int(t), int(c)) for c in ctx] for t in tok])
    return StepCost(dense=dense_t, head=head_t, decode_attention=dec, prefill_attention=pre,
                    kv_bytes_per_token=dep.kv_bytes_per_token(),
                    kv_capacity_tokens=max(1, kv_capacity_tokens(dep)), name=dep.label())


def layer_bytes(model: str, precision: str) -> list[tuple[str, float]]:
    """Stored bytes of the embedding, each block and the head (final norm + LM head), in
    execution order, at a simulated precision (as :func:`networks.llm.model_bytes`)."""
    cfg = get_config(model)
    total = model_bytes(cfg, precision)
    table = 2.0 * cfg.vocab_size * cfg.hidden
    head = 2.0 * cfg.hidden + table             # the LM head needs its whole matrix
    embed = 0.0 if cfg.tied_embeddings else table   # tied: the head's matrix, read by row
    block = (total - embed - head) / cfg.layers
    return [("embed", embed)] + [(f"L{i}", block) for i in range(cfg.layers)] + [("head", head)]


def shard_plan(model: str, precision: str, device, *, context: int = 2048,
               kv_bits: int | None = None, shard_mib: float = 512.0) -> ShardPlan:
    """Sharded loading of ``model`` on a phone / edge ``device`` preset with room for one
    sequence of ``context`` tokens of KV cache (compute: the DRAM roofline of the planner)."""
    cfg = get_config(model)
    dep = Deployment(model, precision, kv_bits=kv_bits)
    kv = context * cfg.kv_bytes_per_token(dep.kv_bits_resolved())
    activations = 4.0 * cfg.hidden * 2 + 2.0 * cfg.vocab_size * 4     # one token, fp16/fp32
    return plan_shards(layer_bytes(model, precision), device, kv_bytes=kv,
                       activation_bytes=activations, shard_bytes=shard_mib * 2**20)

"""BERT-base encoder (Devlin et al. 2019): 12 layers, hidden 768, 12 heads, FFN 3072, GELU,
post-LayerNorm. Input: embedded hidden states ``(batch, seq_len, 768)`` (the embedding tables,
23.8 M parameters, and the pooler are not part of the encoder). 85,054,464 parameters."""

from __future__ import annotations

import math

import numpy as np

from networks.models._builder import Builder


def _attention(b: Builder, x: str, heads: int, name: str) -> str:
    n, s, d = b.shape(x)
    dh = d // heads

    def split(t: str, tag: str, perm) -> str:
        t = b.node("reshape", [t], f"{name}.{tag}.split", {"shape": (n, s, heads, dh)})
        return b.node("transpose", [t], f"{name}.{tag}.heads", {"perm": perm})

    q = split(b.linear(x, d, name=f"{name}.self.query"), "q", (0, 2, 1, 3))
    k = split(b.linear(x, d, name=f"{name}.self.key"), "k", (0, 2, 3, 1))
    v = split(b.linear(x, d, name=f"{name}.self.value"), "v", (0, 2, 1, 3))
    scores = b.node("matmul", [q, k], f"{name}.self.scores")
    scale = b.const(f"{name}.self.inv_sqrt_dh", (),
                    lambda s: np.full(s, 1.0 / math.sqrt(dh)))
    scores = b.node("mul", [scores, scale], f"{name}.self.scale")
    probs = b.node("softmax", [scores], f"{name}.self.softmax", {"axis": -1})
    ctx = b.node("matmul", [probs, v], f"{name}.self.context")
    ctx = b.node("transpose", [ctx], f"{name}.self.merge", {"perm": (0, 2, 1, 3)})
    ctx = b.node("reshape", [ctx], f"{name}.self.merge_heads", {"shape": (n, s, d)})
    out = b.linear(ctx, d, name=f"{name}.output.dense")
    out = b.node("add", [out, x], f"{name}.output.add")
    return b.layernorm(out, name=f"{name}.output.LayerNorm")


def bert_base(*, batch: int = 1, seq_len: int = 128, layers: int = 12, hidden: int = 768,
              heads: int = 12, ffn: int = 3072, seed: int = 0, materialize: bool = True):
    b = Builder("bert_base", seed=seed, materialize=materialize)
    x = b.input("hidden_states", (batch, seq_len, hidden))
    for i in range(layers):
        name = f"encoder.layer.{i}"
        a = _attention(b, x, heads, f"{name}.attention")
        h = b.linear(a, ffn, name=f"{name}.intermediate.dense")
        h = b.node("gelu", [h], f"{name}.intermediate.gelu")
        h = b.linear(h, hidden, name=f"{name}.output.dense")
        h = b.node("add", [h, a], f"{name}.output.add")
        x = b.layernorm(h, name=f"{name}.output.LayerNorm")
    return b.finish([x], family="transformer")

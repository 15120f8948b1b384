"""ONNX export of the golden decoder (:class:`networks.llm.Decoder`), for running it in ONNX
Runtime.

One graph does prefill and decode: it takes ``input_ids`` ``(B, T)`` and, per layer, the past
keys and values ``(B, kv_heads, P, head_dim)`` (``P = 0`` for prefill; int8 codes plus float32
``(B, kv_heads, P, 1)`` scales when the decoder quantizes its cache), and returns ``logits``
``(B, T, vocab)`` and the present caches (``P + T`` positions). Positions ``P .. P+T-1`` come
from the cache length. Operators: ONNX opset 23 (``RMSNormalization``, ``RotaryEmbedding``,
``Attention`` with a boolean causal mask) and com.microsoft ``MatMulNBits`` (``accuracy_level``
0 for ``w4``, 4 for ``w4a8``); the KV-cache codes are the ReduceMax / Div / Round / Clip / Cast
sequence of :func:`reference.llm_ops.quantize_kv`.
"""

from __future__ import annotations

import numpy as np

from networks.llm import Decoder

__all__ = ["cache_feeds", "export_decoder", "io_names"]

OPSET = 23


def io_names(decoder: Decoder) -> tuple[list[str], list[str]]:
    """(cache input names, cache output names) in graph order."""
    kinds = ["key", "value"] + (["key_scale", "value_scale"] if decoder.kv_bits else [])
    inputs = [f"past_{kind}.{i}" for i in range(decoder.config.layers) for kind in kinds]
    return inputs, [name.replace("past_", "present_") for name in inputs]


def cache_feeds(decoder: Decoder, cache) -> dict[str, np.ndarray]:
    """Feed dict of a :class:`networks.llm.KVCache` (or None: an empty cache of batch 1...
    pass an empty cache of the right batch instead) for the exported graph."""
    names, _ = io_names(decoder)
    feeds = {}
    for i in range(decoder.config.layers):
        arrays = {"key": cache.keys[i], "value": cache.values[i]}
        if decoder.kv_bits:
            arrays.update(key_scale=cache.key_scales[i], value_scale=cache.value_scales[i])
        for kind, array in arrays.items():
            feeds[f"past_{kind}.{i}"] = array
    assert set(feeds) == set(names)
    return feeds


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, *, domain: str = "",
           outputs: int = 1, **attrs) -> str | list[str]:
        self.count += 1
        outs = [f"{name}" if outputs == 1 else f"{name}:{j}" for j in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, name=f"n{self.count}_"
                                                f"{name}", domain=domain, **attrs))
        return outs[0] if outputs == 1 else outs


def _linear(g: _Graph, dec: Decoder, x: str, lin, name: str) -> str:
    if dec.precision == "fp32":
        return g.op("MatMul", [x, g.const(name + ".w", lin.w)], name)
    ins = [x, g.const(name + ".B", lin.B), g.const(name + ".scales", lin.scales)]
    if lin.zero_points is not None:
        ins.append(g.const(name + ".zero_points", lin.zero_points))
    return g.op("MatMulNBits", ins, name, domain="com.microsoft", K=lin.k, N=lin.n, bits=4,
                block_size=lin.block_size, accuracy_level=4 if dec.precision == "w4a8" else 0)


def _heads(g: _Graph, x: str, heads: int, hd: int, name: str) -> str:
    shape = g.const(name + ".shape", np.array([0, 0, heads, hd], np.int64))
    return g.op("Transpose", [g.op("Reshape", [x, shape], name + ".split")], name,
                perm=[0, 2, 1, 3])


def _cache(g: _Graph, dec: Decoder, new: str, kind: str, i: int, consts: dict) -> str:
    """Append ``new`` to the past cache; return the float view of the whole cache."""
    past, present = f"past_{kind}.{i}", f"present_{kind}.{i}"
    if not dec.kv_bits:
        g.op("Concat", [past, new], present, axis=2)
        return present
    amax = g.op("ReduceMax", [g.op("Abs", [new], f"{kind}{i}.abs"), consts["last_axis"]],
                f"{kind}{i}.amax", keepdims=1)
    scale = g.op("Div", [amax, consts["qmax"]], f"{kind}{i}.scale_raw")
    is_zero = g.op("Equal", [scale, consts["zero"]], f"{kind}{i}.scale_is_zero")
    scale = g.op("Where", [is_zero, consts["one"], scale], f"{kind}{i}.scale")
    codes = g.op("Round", [g.op("Div", [new, scale], f"{kind}{i}.ratio")], f"{kind}{i}.round")
    codes = g.op("Clip", [codes, consts["neg_qmax"], consts["qmax"]], f"{kind}{i}.clip")
    codes = g.op("Cast", [codes], f"{kind}{i}.codes", to=3)  # INT8
    g.op("Concat", [past, codes], present, axis=2)
    g.op("Concat", [f"past_{kind}_scale.{i}", scale], f"present_{kind}_scale.{i}", axis=2)
    return g.op("Mul", [g.op("Cast", [present], f"{kind}{i}.codes_f", to=1),
                        f"present_{kind}_scale.{i}"], f"{kind}{i}.dequant")


def _positions(g: _Graph) -> tuple[str, str]:
    """(position_ids (B, T) for RotaryEmbedding, causal mask (T, S) for Attention) from the
    past length P and the new token count T."""
    c = {n: g.const(f"pos.{n}", np.array(v, np.int64)) for n, v in
         (("two", [2]), ("one", [1]), ("zero_ax", [0]), ("one_ax", [1]), ("step", 1))}
    p = g.op("Gather", [g.op("Shape", ["past_key.0"], "pos.past_shape"), c["two"]], "pos.P")
    t = g.op("Gather", [g.op("Shape", ["input_ids"], "pos.ids_shape"), c["one"]], "pos.T")
    b = g.op("Gather", [g.op("Shape", ["input_ids"], "pos.ids_shape2"), c["zero_ax"]], "pos.B")
    s = g.op("Add", [p, t], "pos.S")
    squeeze = g.const("pos.axes0", np.array([0], np.int64))
    p0, s0 = (g.op("Squeeze", [v, squeeze], f"pos.{n}0") for v, n in ((p, "P"), (s, "S")))
    q_pos = g.op("Range", [p0, s0, c["step"]], "pos.q")                       # (T,)
    zero = g.const("pos.zero", np.array(0, np.int64))
    k_pos = g.op("Range", [zero, s0, c["step"]], "pos.k")                     # (S,)
    mask = g.op("LessOrEqual", [g.op("Unsqueeze", [k_pos, c["zero_ax"]], "pos.k_row"),
                                g.op("Unsqueeze", [q_pos, c["one_ax"]], "pos.q_col")], "pos.mask")
    bt = g.op("Concat", [b, t], "pos.bt", axis=0)
    ids = g.op("Expand", [g.op("Unsqueeze", [q_pos, c["zero_ax"]], "pos.q_row"), bt], "pos.ids")
    return ids, mask


def _decoder_layer(g, dec: Decoder, layer: dict, p: str, x: str, rope_and_mask, cache):
    """One decoder layer's nodes (names prefixed ``p``): RMSNorm, q/k/v, RoPE, the KV cache
    (``cache(tensor, "key"|"value")``), attention, residual, RMSNorm, SwiGLU MLP, residual."""
    cfg, hd = dec.config, dec.config.head_dim
    cos, sin, pos_ids, mask = rope_and_mask
    h = g.op("RMSNormalization", [x, g.const(p + "attn_norm", layer["attn_norm"])],
             p + "attn_norm.y", axis=-1, epsilon=cfg.rms_eps)
    q = _heads(g, _linear(g, dec, h, layer["q"], p + "q"), cfg.heads, hd, p + "q.heads")
    k = _heads(g, _linear(g, dec, h, layer["k"], p + "k"), cfg.kv_heads, hd, p + "k.heads")
    v = _heads(g, _linear(g, dec, h, layer["v"], p + "v"), cfg.kv_heads, hd, p + "v.heads")
    q = g.op("RotaryEmbedding", [q, cos, sin, pos_ids], p + "q.rope")
    k = g.op("RotaryEmbedding", [k, cos, sin, pos_ids], p + "k.rope")
    k_all = cache(k, "key")
    v_all = cache(v, "value")
    attn = g.op("Attention", [q, k_all, v_all, mask], p + "attn")
    attn = g.op("Transpose", [attn], p + "attn.merge", perm=[0, 2, 1, 3])
    attn = g.op("Reshape", [attn, g.const(p + "attn.shape",
                                          np.array([0, 0, cfg.hidden], np.int64))],
                p + "attn.flat")
    x = g.op("Add", [x, _linear(g, dec, attn, layer["o"], p + "o")], p + "residual_attn")
    h = g.op("RMSNormalization", [x, g.const(p + "mlp_norm", layer["mlp_norm"])],
             p + "mlp_norm.y", axis=-1, epsilon=cfg.rms_eps)
    gate = _linear(g, dec, h, layer["gate"], p + "gate")
    up = _linear(g, dec, h, layer["up"], p + "up")
    silu = g.op("Mul", [gate, g.op("Sigmoid", [gate], p + "gate.sigmoid")], p + "silu")
    act = g.op("Mul", [silu, up], p + "swiglu")
    x = g.op("Add", [x, _linear(g, dec, act, layer["down"], p + "down")], p + "residual_mlp")
    return x


def _io_value_infos(dec: Decoder):
    """Graph inputs (token ids, past KV) and outputs (logits, present KV) as value infos."""
    from onnx import TensorProto, helper

    cfg, hd = dec.config, dec.config.head_dim
    cache_type = TensorProto.INT8 if dec.kv_bits else TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                             ["B", "T", cfg.vocab_size])]
    past, present = io_names(dec)
    for name in past:
        kind = TensorProto.FLOAT if "scale" in name else cache_type
        last = 1 if "scale" in name else hd
        inputs.append(helper.make_tensor_value_info(name, kind, ["B", cfg.kv_heads, "P", last]))
    for name in present:
        kind = TensorProto.FLOAT if "scale" in name else cache_type
        last = 1 if "scale" in name else hd
        outputs.append(helper.make_tensor_value_info(name, kind,
                                                     ["B", cfg.kv_heads, "S", last]))
    return inputs, outputs


def export_decoder(decoder: Decoder):
    """The decoder as an ``onnx.ModelProto`` (weights and quantized tensors as initializers,
    exactly those the golden model uses). Raises ValueError for what the graph cannot express
    (``act_quant='per_token'``: ``MatMulNBits`` quantizes activations per block)."""
    import onnx
    from onnx import helper

    if decoder.act_quant != "per_group":
        raise ValueError("act_quant='per_token' has no MatMulNBits form (ONNX Runtime "
                         "quantizes activations per block); export a per_group decoder")
    cfg, dec, g = decoder.config, decoder, _Graph()
    consts = {}
    if dec.kv_bits:
        qmax = {8: 127, 4: 7}[dec.kv_bits]
        consts.update(last_axis=g.const("c.last_axis", np.array([-1], np.int64)),
                      zero=g.const("c.zero", np.array(0, np.float32)),
                      one=g.const("c.one", np.array(1, np.float32)),
                      qmax=g.const("c.qmax", np.array(qmax, np.float32)),
                      neg_qmax=g.const("c.neg_qmax", np.array(-qmax, np.float32)))
    cos, sin = g.const("rope.cos", dec.cos), g.const("rope.sin", dec.sin)
    pos_ids, mask = _positions(g)
    x = g.op("Gather", [g.const("embed.table", dec.weights.embed), "input_ids"], "embed",
             axis=0)
    for i, layer in enumerate(dec.layers):
        x = _decoder_layer(g, dec, layer, f"L{i}.", x, (cos, sin, pos_ids, mask),
                           lambda t, kind, i=i: _cache(g, dec, t, kind, i, consts))
    x = g.op("RMSNormalization", [x, g.const("final_norm", dec.weights.final_norm)],
             "final_norm.y", axis=-1, epsilon=cfg.rms_eps)
    g.op("Identity", [_linear(g, dec, x, dec.lm_head, "lm_head")], "logits")

    inputs, outputs = _io_value_infos(dec)
    graph = helper.make_graph(g.nodes, f"{cfg.name}-{dec.precision}", inputs, outputs,
                              initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="gilt")
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model

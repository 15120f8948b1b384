"""Golden cases of every ``reference/`` operator: one :class:`TensorCase` per function.

A case names the reference function, the shape of its main input, how every input is drawn
(seeded, from ``numpy.random.Generator``; integer inputs over their full range with the edge
values first), the keyword arguments (exposed as case parameters when they are plain numbers,
strings or int tuples) and the names of its outputs. The expected outputs are whatever the
function returns: tensors come from ``reference/`` only. ``validation.cases`` turns each row into
a named operator case (``gilt golden --op activations.relu --param shape=2x8``).

:data:`EXEMPT` lists the public functions of ``reference/`` that are not tensor operators
(argument checkers, dtype tables, geometry helpers behind an operator that has its own case,
analytic models without tensors) or whose bits are not portable (BLAS order), each with the
reason; ``tests/validation/test_op_cases.py`` checks that every other function has a case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from reference import (
    activation_ops,
    activations,
    blocked,
    calibration,
    cast,
    conv_float,
    conv_transpose,
    distillation,
    einsum,
    elementwise,
    fake_quant,
    fusion,
    gating,
    image_ops,
    linalg,
    llm_ops,
    math_ops,
    matmul_int,
    normalization,
    normalization_ext,
    onnx_ops,
    packing,
    pooling,
    ptq,
    qlinear_ops,
    quantize,
    quantized_ops,
    recurrent,
    reduce,
    requantize,
    resize,
    shape_ops,
    tiling,
    zeroskip,
)

_RANGES = {"i4": (-8, 7, np.int8), "u4": (0, 15, np.uint8), "i8": (-128, 127, np.int8),
           "u8": (0, 255, np.uint8), "i16": (-32768, 32767, np.int16),
           "i32": (-(1 << 20), 1 << 20, np.int32), "i64": (-10, 10, np.int64),
           "acc": (-(2**31), 2**31 - 1, np.int32)}


@dataclass(frozen=True)
class In:
    """One input: ``kind`` (f32, f64, pos (0.5..2), i4, u4, i8, u8, i16, i32, i64, acc (full
    int32), bool, scale (one float32 in 0.01..0.1)) over ``shape`` (None: the case's shape; a
    tuple; or shape -> tuple), or a fixed ``value`` (or shape -> value). ``role`` as
    ``validation.manifest``."""

    name: str
    kind: str = "f32"
    shape: object = None
    value: object = None
    role: str = "input"


@dataclass(frozen=True)
class TensorCase:
    """A reference function with its inputs, keyword arguments and output names."""

    fn: Callable
    shape: tuple[int, ...]
    inputs: tuple[In, ...] = (In("x"),)
    attrs: Mapping[str, object] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("output",)
    pick: Callable | None = None        # result -> tuple of arrays (records, objects)
    as_list: bool = False                # pass the tensor inputs as one list argument
    doc: str = ""

    def tensors(self, shape: tuple[int, ...], attrs: dict, rng: np.random.Generator
                ) -> tuple[list[tuple[str, object, str]], list[tuple[str, np.ndarray]]]:
        """Inputs ``(name, value, role)`` and outputs ``(name, array)`` of one draw."""
        ins = [(i.name, _draw(i, shape, rng), i.role) for i in self.inputs]
        args = [v for _, v, _ in ins]
        with np.errstate(all="ignore"):
            result = self.fn(args, **attrs) if self.as_list else self.fn(*args, **attrs)
        if self.pick is not None:
            result = self.pick(result)
        results = result if isinstance(result, tuple) else (result,)
        if len(results) != len(self.outputs):
            raise ValueError(f"{self.fn.__qualname__} returned {len(results)} values for "
                             f"outputs {self.outputs}")
        return ins, list(zip(self.outputs, (np.asarray(r) for r in results)))


def _draw(spec: In, shape, rng: np.random.Generator):
    if spec.value is not None:
        return spec.value(shape) if callable(spec.value) else spec.value
    s = spec.shape(shape) if callable(spec.shape) else (shape if spec.shape is None
                                                        else spec.shape)
    kind = spec.kind
    if kind == "f32":
        return rng.standard_normal(s).astype(np.float32)
    if kind == "f64":
        return rng.standard_normal(s)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, s).astype(np.float32)
    if kind == "bool":
        return rng.random(s) < 0.5
    if kind == "scale":
        return np.float32(rng.uniform(0.01, 0.1))
    lo, hi, dt = _RANGES[kind]
    v = rng.integers(lo, hi, size=s, endpoint=True, dtype=np.int64)
    flat = v.reshape(-1)
    edges = [e for e in (lo, hi, 0) if lo <= e <= hi][:flat.size]
    flat[:len(edges)] = edges
    return v.astype(dt)


def _c(shape):  # channels of an NCHW shape
    return (shape[1],)


def _first(result):
    return result[0]


def _record(*fields: str):
    """Pick ``(array, record)`` results apart: the array, then the record's fields."""
    def pick(result):
        out, rec = result
        return (out, *(np.asarray(getattr(rec, f)) for f in fields))
    return pick


F, I8, U8 = np.float32, np.int8, np.uint8
S = In("scale", "scale")
NCHW = (1, 4, 6, 6)
CONV_W = In("w", shape=(6, 4, 3, 3), role="weight")
CONV_WQ = In("w", "i8", shape=(6, 4, 3, 3), role="weight")
POS_C = (In("gamma", "pos", _c), In("beta", shape=_c), In("mean", shape=_c),
         In("var", "pos", _c))
PAIR = (In("A"), In("B"))


def _unary_float(fn, shape=(2, 3, 4), **attrs) -> TensorCase:
    return TensorCase(fn, shape, attrs=attrs)


CASES: dict[str, TensorCase] = {}


def _add(module, cases: dict[str, TensorCase]) -> None:
    for name, case in cases.items():
        CASES[f"{module.__name__.split('.')[-1]}.{name.rstrip('_')}"] = case


_add(activation_ops, {
    "clip": TensorCase(activation_ops.clip, (2, 8), (In("input"), In("min", value=F(-0.5)),
                                                      In("max", value=F(0.7)))),
    "elu": _unary_float(activation_ops.elu, alpha=1.0),
    "hard_sigmoid": _unary_float(activation_ops.hard_sigmoid, alpha=0.2, beta=0.5),
    "leaky_relu": _unary_float(activation_ops.leaky_relu, alpha=0.01),
    "log_softmax": _unary_float(activation_ops.log_softmax, axis=-1),
    "prelu": TensorCase(activation_ops.prelu, NCHW, (In("X"), In("slope", shape=(4, 1, 1)))),
    "relu": _unary_float(activation_ops.relu),
    "selu": _unary_float(activation_ops.selu),
    "sigmoid": _unary_float(activation_ops.sigmoid),
    "softmax": _unary_float(activation_ops.softmax, axis=-1),
})
_add(activations, {
    "clip": _unary_float(activations.clip, min=-0.5, max=0.7),
    "erf": _unary_float(activations.erf),
    "gelu": _unary_float(activations.gelu, approximate="none"),
    "hard_sigmoid": _unary_float(activations.hard_sigmoid),
    "hard_swish": _unary_float(activations.hard_swish),
    "log_softmax": _unary_float(activations.log_softmax, axis=-1),
    "relu": _unary_float(activations.relu),
    "relu6": TensorCase(activations.relu6, (2, 3, 4), (In("x", value=lambda s: np.linspace(
        -8, 8, int(np.prod(s)), dtype=F).reshape(s)),)),
    "sigmoid": _unary_float(activations.sigmoid),
    "silu": _unary_float(activations.silu),
    "softmax": _unary_float(activations.softmax, axis=-1),
})
_add(blocked, {
    "blocked_conv2d_requantize": TensorCase(
        blocked.blocked_conv2d_requantize, (1, 20, 5, 5),
        (In("x", "i8"), In("w", "i4", (6, 20, 3, 3), role="weight"),
         In("w_scale", "pos", (6, 3), role="weight"), In("bias", "i32", (6,), role="bias")),
        attrs={"x_scale": 0.02, "y_scale": 2.0, "block_size": 8, "pads": (1, 1, 1, 1)}),
})
_add(calibration, {
    "calibrate": TensorCase(calibration.calibrate, (8, 16), attrs={
        "method": "minmax", "dtype": "int8", "symmetric": False}, outputs=("scale",
                                                                           "zero_point")),
    "mse_optimal_scale": TensorCase(calibration.mse_optimal_scale, (4, 32),
                                    attrs={"dtype": "int4", "axis": 0, "grid": 20},
                                    outputs=("scale",)),
    "range_to_qparams": TensorCase(calibration.range_to_qparams, (4,), (
        In("rmin", value=np.array([-1.0, -0.1, 0.0, -3.0])), In("rmax", value=np.array(
            [1.0, 2.0, 0.0, 0.5]))), attrs={"dtype": "int8", "symmetric": False},
        outputs=("scale", "zero_point")),
})
_add(cast, {
    "cast": TensorCase(cast.cast, (2, 8), (In("input", "i32"),), attrs={"to": 3}),
})
_add(conv_float, {
    "conv2d_float": TensorCase(conv_float.conv2d_float, NCHW, (In("x"), CONV_W),
                               attrs={"strides": (1, 1), "pads": (1, 1, 1, 1), "groups": 1}),
    "linear_float": TensorCase(conv_float.linear_float, (3, 16), (
        In("x"), In("w", shape=(8, 16), role="weight"))),
    "matmul_float": TensorCase(conv_float.matmul_float, (3, 16), (
        In("a"), In("b", shape=(16, 5)))),
    "conv2d_macs": TensorCase(conv_float.conv2d_macs, (1, 4, 8, 8), (
        In("x_shape", value=lambda s: s), In("w_shape", value=(6, 4, 3, 3))),
        attrs={"pads": (1, 1, 1, 1)}, outputs=("macs",)),
})
_add(conv_transpose, {
    "conv_transpose": TensorCase(conv_transpose.conv_transpose, (1, 4, 5, 5), (
        In("X"), In("W", shape=(4, 3, 3, 3), role="weight"), In("B", shape=(3,), role="bias")),
        attrs={"strides": (2, 2)}),
    "conv_transpose_int": TensorCase(conv_transpose.conv_transpose_int, (1, 4, 5, 5), (
        In("x", "i8"), In("w", "i8", (4, 3, 3, 3), role="weight"),
        In("x_zero_point", value=I8(3)), In("w_zero_point", value=I8(0))),
        attrs={"strides": (2, 2)}),
    "qlinear_conv_transpose": TensorCase(conv_transpose.qlinear_conv_transpose, (1, 4, 5, 5), (
        In("x", "u8"), In("x_scale", value=F(0.02)), In("x_zero_point", value=U8(128)),
        In("w", "i8", (4, 3, 3, 3), role="weight"), In("w_scale", value=F(0.01)),
        In("w_zero_point", value=I8(0)), In("y_scale", value=F(0.5)),
        In("y_zero_point", value=U8(120))), attrs={"strides": (2, 2)}),
})
_FEAT = (In("student_feature", "f64"), In("teacher_feature", "f64"))
_LOGITS = (In("student_logits", "f64"), In("teacher_logits", "f64"))
_add(distillation, {
    "attention_kl": TensorCase(distillation.attention_kl, (2, 4, 5, 5), _FEAT,
                               outputs=("loss",)),
    "attention_map": TensorCase(distillation.attention_map, (2, 4, 5, 5), (In("feature",
                                                                              "f64"),)),
    "feature_l2": TensorCase(distillation.feature_l2, (2, 4, 5, 5), _FEAT, outputs=("loss",)),
    "soft_label_kl": TensorCase(distillation.soft_label_kl, (4, 10), _LOGITS,
                                attrs={"tau": 3.0}, outputs=("loss",)),
    "soft_label_kl_grad": TensorCase(distillation.soft_label_kl_grad, (4, 10), _LOGITS,
                                     attrs={"tau": 3.0}, outputs=("grad",)),
    "distillation_loss": TensorCase(
        distillation.distillation_loss, (4, 10), _LOGITS, attrs={"tau": 3.0, "lam": 0.5},
        outputs=("soft", "total"), pick=lambda r: (np.asarray(r.soft), np.asarray(r.total))),
})
_add(einsum, {
    "einsum": TensorCase(einsum.einsum, (2, 3, 4), (In("a"), In("b", shape=(2, 4, 5))),
                         attrs={"equation": "bij,bjk->bik"}),
})
_add(elementwise, {
    "add": TensorCase(elementwise.add, (2, 3, 4), (In("a"), In("b", shape=(3, 4)))),
    "sub": TensorCase(elementwise.sub, (2, 3, 4), (In("a"), In("b", shape=(3, 4)))),
    "mul": TensorCase(elementwise.mul, (2, 3, 4), (In("a"), In("b", shape=(3, 4)))),
    "div": TensorCase(elementwise.div, (2, 3, 4), (In("a"), In("b", "pos", (3, 4)))),
    "concat": TensorCase(elementwise.concat, (1, 2, 4, 4), (In("a"), In("b")),
                         attrs={"axis": 1}, as_list=True),
    "resize_nearest": TensorCase(elementwise.resize_nearest, (1, 2, 3, 3),
                                 attrs={"scales": (1, 1, 2, 3)}),
    "upsample_nearest": TensorCase(elementwise.upsample_nearest, (1, 2, 3, 3),
                                   attrs={"scale": 2}),
})
_add(fake_quant, {
    "fake_quant": TensorCase(fake_quant.fake_quant, (2, 16), (In("x"), In("scale", value=F(
        0.02)), In("zero_point", value=3)), attrs={"dtype": "int8"}),
    "fake_quant_grad": TensorCase(fake_quant.fake_quant_grad, (2, 16), (
        In("x", value=lambda s: np.linspace(-4, 4, int(np.prod(s)), dtype=F).reshape(s)),
        In("grad_output"), In("scale", value=F(0.02)), In("zero_point", value=3)),
        attrs={"dtype": "int8"}),
})
_add(fusion, {
    "activation_clamp": TensorCase(fusion.activation_clamp, (), (
        In("activation", value="relu6"), In("out_scale", value=F(0.05)),
        In("out_zero_point", value=-128)), outputs=("clamp",),
        pick=lambda r: (np.asarray(r, np.int64),)),
    "clip_clamp": TensorCase(fusion.clip_clamp, (), (
        In("clip_min", value=-1.0), In("clip_max", value=3.0), In("out_scale", value=F(0.05)),
        In("out_zero_point", value=-20)), outputs=("clamp",),
        pick=lambda r: (np.asarray(r, np.int64),)),
    "conv_bn_relu_float": TensorCase(fusion.conv_bn_relu_float, NCHW, (
        In("x"), CONV_W, In("b", shape=(6,), role="bias"), *(In(i.name, i.kind, (6,))
                                                            for i in POS_C)),
        attrs={"pads": (1, 1, 1, 1)}),
    "conv_bn_relu_int": TensorCase(fusion.conv_bn_relu_int, NCHW, (
        In("x", "i8"), CONV_WQ, In("bias", "i32", (6,), role="bias")),
        attrs={"x_scale": 0.02, "out_scale": 1.5, "pads": (1, 1, 1, 1),
               "w_scale": np.full(6, 0.01, F)}),
    "fold_bn_float": TensorCase(fusion.fold_bn_float, (6, 4, 3, 3), (
        In("w", role="weight"), In("b", shape=(6,), role="bias"),
        *(In(i.name, i.kind, (6,)) for i in POS_C)), outputs=("w_folded", "b_folded")),
    "fold_bn_quantize": TensorCase(fusion.fold_bn_quantize, (6, 4, 3, 3), (
        In("w", role="weight"), In("b", shape=(6,), role="bias"),
        *(In(i.name, i.kind, (6,)) for i in POS_C)), attrs={"x_scale": 0.02},
        outputs=("w_q", "w_scale", "bias")),
    "fold_bn_into_quantized": TensorCase(fusion.fold_bn_into_quantized, (6, 4, 3, 3), (
        In("w_q", "i8", role="weight"), In("w_scale", "pos", (6,)),
        In("bias", "i32", (6,), role="bias"), *(In(i.name, i.kind, (6,)) for i in POS_C)),
        attrs={"x_scale": 0.02}, outputs=("w_q_folded", "w_scale_folded", "bias_folded")),
})
_MASK = In("mask", "bool", lambda s: s[:2])
_add(gating, {
    "apply_mask": TensorCase(gating.apply_mask, NCHW, (In("x", "i8"), _MASK),
                             attrs={"fill": 3}),
    "gated_conv2d_float": TensorCase(gating.gated_conv2d_float, NCHW, (In("x"), CONV_W, _MASK),
                                     attrs={"pads": (1, 1, 1, 1)},
                                     outputs=("output", "macs_skipped"),
                                     pick=_record("macs_skipped")),
    "gated_conv2d_int": TensorCase(gating.gated_conv2d_int, NCHW, (In("x", "i8"), CONV_WQ,
                                                                   _MASK),
                                   attrs={"pads": (1, 1, 1, 1)},
                                   outputs=("accumulator", "macs_skipped"),
                                   pick=_record("macs_skipped")),
    "gate_macs": TensorCase(gating.gate_macs, NCHW, (_MASK, In("kind", value="channel"),
                                                     In("x_shape", value=lambda s: s),
                                                     In("w_shape", value=(6, 4, 3, 3))),
                            attrs={"strides": (1, 1), "pads": (1, 1, 1, 1),
                                   "dilations": (1, 1), "groups": 1, "out_hw": (6, 6)},
                            outputs=("macs_dense", "macs_skipped")),
    "threshold_channel_mask": TensorCase(gating.threshold_channel_mask, NCHW, (
        In("x"), In("threshold", value=0.05))),
    "threshold_channel_mask_int": TensorCase(gating.threshold_channel_mask_int, NCHW, (
        In("q", "i8"), In("threshold", value=0.05)), attrs={"scale": 0.02, "zero_point": -3}),
    "topk_keep_count": TensorCase(gating.topk_keep_count, (), (
        In("keep", value=0.45), In("channels", value=10)), outputs=("k",)),
    "base_module_float": TensorCase(
        gating.base_module_float, NCHW, (In("x"), In("w1", shape=(4, 4, 3, 3)),
                                         In("w2", shape=(8, 4, 1, 1)),
                                         In("gate", value=gating.TopKChannelGate(2))),
        outputs=("output", "mask"), pick=_record("mask")),
    "base_module_int": TensorCase(
        gating.base_module_int, NCHW, (In("x", "i8"), In("w1", "i8", (4, 4, 3, 3)),
                                       In("w2", "i8", (8, 4, 1, 1)),
                                       In("gate", value=gating.TopKChannelGate(2))),
        attrs={"x_scale": 0.02, "w1_scale": 0.01, "h_scale": 0.5},
        outputs=("accumulator", "mask"), pick=_record("mask")),
})
_add(linalg, {
    "gemm": TensorCase(linalg.gemm, (3, 5), (In("A"), In("B", shape=(3, 4)),
                                             In("C", shape=(4,))),
                       attrs={"alpha": 0.5, "beta": 2.0, "transA": 1}),
    "matmul": TensorCase(linalg.matmul, (2, 3, 5), (In("A"), In("B", shape=(5, 4)))),
})


def _nbits(shape, rng=None):
    """MatMulNBits tensors of a (K, N) = ``shape`` weight (reference.llm_ops quantizer)."""
    w = np.random.default_rng(11).standard_normal(shape).astype(F)
    return llm_ops.quantize_blockwise_4bit(w, block_size=16)


_NBITS = (In("A", shape=lambda s: (2, s[0])), In("B", value=lambda s: _nbits(s)[0]),
          In("scales", value=lambda s: _nbits(s)[1]),
          In("zero_points", value=lambda s: _nbits(s)[2]))
_add(llm_ops, {
    "rms_norm": TensorCase(llm_ops.rms_norm, (2, 3, 8), (In("x"), In("weight", shape=(8,))),
                           attrs={"epsilon": 1e-5}),
    "matmul_float": TensorCase(llm_ops.matmul_float, (3, 16), (In("a"), In("w", shape=(16, 4)))),
    "rope_cache": TensorCase(llm_ops.rope_cache, (), (In("head_dim", value=8),
                                                      In("max_positions", value=6)),
                             outputs=("cos", "sin")),
    "apply_rope": TensorCase(llm_ops.apply_rope, (1, 2, 4, 8), (
        In("x"), In("cos", value=llm_ops.rope_cache(8, 6)[0]),
        In("sin", value=llm_ops.rope_cache(8, 6)[1]), In("positions", value=np.arange(4)))),
    "swiglu": TensorCase(llm_ops.swiglu, (2, 8), (In("gate"), In("up"))),
    "grouped_query_attention": TensorCase(llm_ops.grouped_query_attention, (1, 4, 3, 8), (
        In("q"), In("k", shape=(1, 2, 3, 8)), In("v", shape=(1, 2, 3, 8)))),
    "quantize_blockwise_4bit": TensorCase(llm_ops.quantize_blockwise_4bit, (40, 3),
                                          (In("w"),), attrs={"block_size": 16},
                                          outputs=("B", "scales", "zero_points")),
    "dequantize_blockwise_4bit": TensorCase(llm_ops.dequantize_blockwise_4bit, (40, 3),
                                            _NBITS[1:], attrs={"K": 40, "N": 3,
                                                               "block_size": 16}),
    "matmul_nbits_int8": TensorCase(llm_ops.matmul_nbits_int8, (40, 3), _NBITS,
                                    attrs={"K": 40, "N": 3, "block_size": 16}),
    "matmul_nbits_int8_bound": TensorCase(llm_ops.matmul_nbits_int8_bound, (40, 3), _NBITS,
                                          attrs={"K": 40, "N": 3, "block_size": 16}),
    "quantize_activation_blocks": TensorCase(llm_ops.quantize_activation_blocks, (2, 40),
                                             attrs={"block_size": 16},
                                             outputs=("q", "scales")),
    "quantize_kv": TensorCase(llm_ops.quantize_kv, (2, 3, 8), attrs={"bits": 8},
                              outputs=("codes", "scales")),
    "dequantize_kv": TensorCase(llm_ops.dequantize_kv, (2, 3, 8), (
        In("codes", "i8"), In("scales", "pos", lambda s: (*s[:-1], 1)))),
})
_POS = In("X", "pos")
_add(math_ops, {
    **{n: TensorCase(getattr(math_ops, n), (2, 3, 4), PAIR)
       for n in ("add", "sub", "mul", "equal", "greater", "less")},
    "div": TensorCase(math_ops.div, (2, 3, 4), (In("A"), In("B", "pos"))),
    "pow_": TensorCase(math_ops.pow_, (2, 3, 4), (_POS, In("Y"))),
    **{n: TensorCase(getattr(math_ops, n), (2, 3, 4)) for n in (
        "abs_", "ceil", "floor", "neg", "erf", "exp", "tanh")},
    **{n: TensorCase(getattr(math_ops, n), (2, 3, 4), (_POS,)) for n in (
        "log", "sqrt", "reciprocal")},
    "not_": TensorCase(math_ops.not_, (2, 3, 4), (In("X", "bool"),)),
    **{n: TensorCase(getattr(math_ops, n), (2, 3, 4), (In("data_0"), In("data_1", shape=(4,)),
                                                       In("data_2", shape=(3, 1))))
       for n in ("max_", "min_", "mean", "sum_")},
})
_add(matmul_int, {
    "add_bias_int32": TensorCase(matmul_int.add_bias_int32, (3, 4), (In("acc", "acc"),
                                                                     In("bias", "acc", (4,)))),
    "exact_matmul": TensorCase(matmul_int.exact_matmul, (3, 16), (
        In("a", "i8", value=None), In("b", "i8", (16, 5))), outputs=("accumulator",)),
    "wrap_int32": TensorCase(matmul_int.wrap_int32, (6,), (In("v", value=np.array(
        [2**31, -(2**31) - 1, 5, 2**40 + 7, -1, 0], np.int64)),)),
})
_add(normalization, {
    "batch_norm": TensorCase(normalization.batch_norm, NCHW, (
        In("x"), In("scale", "pos", _c), In("bias", shape=_c), In("mean", shape=_c),
        In("var", "pos", _c)), attrs={"epsilon": 1e-5}),
    "layer_norm": TensorCase(normalization.layer_norm, (2, 3, 8), (
        In("x"), In("scale", shape=(8,)), In("bias", shape=(8,))), attrs={"axis": -1}),
})
_add(normalization_ext, {
    "group_normalization": TensorCase(normalization_ext.group_normalization, NCHW, (
        In("X"), In("scale", shape=_c), In("bias", shape=_c)), attrs={"num_groups": 2}),
    "group_normalization_18": TensorCase(normalization_ext.group_normalization_18, NCHW, (
        In("X"), In("scale", shape=(2,)), In("bias", shape=(2,))), attrs={"num_groups": 2}),
    "instance_normalization": TensorCase(normalization_ext.instance_normalization, NCHW, (
        In("input"), In("scale", shape=_c), In("B", shape=_c))),
    "layer_normalization": TensorCase(normalization_ext.layer_normalization, (2, 3, 8), (
        In("X"), In("Scale", shape=(8,)), In("B", shape=(8,))), attrs={"axis": -1},
        outputs=("Y", "Mean", "InvStdDev")),
})
_add(onnx_ops, {
    "quantize_linear": TensorCase(onnx_ops.quantize_linear, (2, 3, 4), (
        In("x"), In("y_scale", value=F(0.02)), In("y_zero_point", value=U8(128)))),
    "dequantize_linear": TensorCase(onnx_ops.dequantize_linear, (2, 3, 4), (
        In("x", "i8"), In("x_scale", value=np.array([0.1, 0.2, 0.3], F)),
        In("x_zero_point", value=np.array([0, -3, 5], I8))), attrs={"axis": 1}),
    "dynamic_quantize_linear": TensorCase(onnx_ops.dynamic_quantize_linear, (2, 8),
                                          outputs=("y", "y_scale", "y_zero_point")),
    "conv_integer": TensorCase(onnx_ops.conv_integer, NCHW, (
        In("x", "u8"), CONV_WQ, In("x_zero_point", value=U8(128))),
        attrs={"pads": (1, 1, 1, 1)}),
    "matmul_integer": TensorCase(onnx_ops.matmul_integer, (3, 16), (
        In("A", "u8"), In("B", "i8", (16, 4)), In("a_zero_point", value=U8(7)))),
    "qlinear_conv": TensorCase(onnx_ops.qlinear_conv, NCHW, (
        In("x", "u8"), In("x_scale", value=F(0.02)), In("x_zero_point", value=U8(128)),
        CONV_WQ, In("w_scale", value=np.full(6, 0.01, F)), In("w_zero_point", value=I8(0)),
        In("y_scale", value=F(0.3)), In("y_zero_point", value=U8(100)),
        In("B", "i32", (6,), role="bias")), attrs={"pads": (1, 1, 1, 1)}),
    "qlinear_matmul": TensorCase(onnx_ops.qlinear_matmul, (3, 16), (
        In("a", "i8"), In("a_scale", value=F(0.02)), In("a_zero_point", value=I8(2)),
        In("b", "i8", (16, 4)), In("b_scale", value=F(0.01)), In("b_zero_point", value=I8(0)),
        In("y_scale", value=F(0.1)), In("y_zero_point", value=I8(-5)))),
    "matmul_nbits": TensorCase(onnx_ops.matmul_nbits, (40, 3), (
        In("A", shape=(2, 40)), In("B", value=lambda s: _nbits((40, 3))[0]),
        In("scales", value=lambda s: _nbits((40, 3))[1]),
        In("zero_points", value=lambda s: _nbits((40, 3))[2])),
        attrs={"K": 40, "N": 3, "block_size": 16}),
})
_add(packing, {
    "pack_int4": TensorCase(packing.pack_int4, (3, 5), (In("values", "i4"),),
                            outputs=("packed",)),
    "unpack_int4": TensorCase(packing.unpack_int4, (8,), (In("packed", "u8"),
                                                          In("count", value=15)),
                              outputs=("values",)),
})
_POOL = {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}
_add(pooling, {
    "avg_pool2d": TensorCase(pooling.avg_pool2d, (1, 2, 7, 7), attrs=_POOL),
    "max_pool2d": TensorCase(pooling.max_pool2d, (1, 2, 7, 7), attrs=_POOL),
    "global_avg_pool2d": TensorCase(pooling.global_avg_pool2d, (1, 2, 7, 7)),
})
_add(ptq, {
    "activation_qparams": TensorCase(ptq.activation_qparams, (), (
        In("lo", value=-1.3), In("hi", value=4.2)), outputs=("scale", "zero_point")),
    "quantize_weights": TensorCase(ptq.quantize_weights, (6, 4, 3, 3), (In("w"),),
                                   attrs={"bits": 4, "axis": 0}, outputs=("q", "scale")),
    "quantize_bias": TensorCase(ptq.quantize_bias, (6,), (
        In("bias"), In("x_scale", value=F(0.02)), In("w_scale", "pos")), outputs=("bias_q",)),
})
_add(quantize, {
    "dequantize": TensorCase(quantize.dequantize, (2, 8), (
        In("q", "i8"), In("scale", value=F(0.05)), In("zero_point", value=-3))),
    "round_float": TensorCase(quantize.round_float, (8,), (
        In("v", value=np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -3.2], F)),
        In("rounding", value="half_away"))),
})
_Q8 = {"in_scale": 0.05, "in_zero_point": -3, "out_scale": 0.02, "out_zero_point": 5}
_QAB = {"a_scale": 0.05, "a_zero_point": 3, "b_scale": 0.02, "b_zero_point": -2,
        "out_scale": 0.1, "out_zero_point": 1}
_add(quantized_ops, {
    "quantized_add": TensorCase(quantized_ops.quantized_add, (2, 16), (In("a", "i8"),
                                                                       In("b", "i8")),
                                attrs={**_QAB, "mode": "tflite"}),
    "quantized_mul": TensorCase(quantized_ops.quantized_mul, (2, 16), (In("a", "i8"),
                                                                       In("b", "i8")),
                                attrs={**_QAB, "mode": "tflite"}),
    "build_lut": TensorCase(quantized_ops.build_lut, (), (In("function", value="sigmoid"),),
                            attrs=_Q8, outputs=("table",)),
    "dequantize_op_quantize_table": TensorCase(
        quantized_ops.dequantize_op_quantize_table, (), (In("fn", value=lambda s: activations.sigmoid),),
        attrs={**_Q8, "in_dtype": "int8", "out_dtype": "int8"}, outputs=("table",)),
    "lut_apply": TensorCase(quantized_ops.lut_apply, (2, 16), (In("q", "i8"), In(
        "table", "i8", (256,)))),
    "quantized_sigmoid": TensorCase(quantized_ops.quantized_sigmoid, (2, 16), (In("q", "i8"),),
                                    attrs={"in_scale": 0.05, "in_zero_point": -3}),
    "quantized_hard_swish": TensorCase(quantized_ops.quantized_hard_swish, (2, 16),
                                       (In("q", "i8"),), attrs=_Q8),
    "quantized_max_pool2d": TensorCase(quantized_ops.quantized_max_pool2d, (1, 2, 7, 7),
                                       (In("q", "i8"),), attrs=_POOL),
    "quantized_avg_pool2d": TensorCase(quantized_ops.quantized_avg_pool2d, (1, 2, 7, 7),
                                       (In("q", "i8"),), attrs=_POOL),
})
_QL1 = (In("x", "u8"), In("x_scale", value=F(0.05)), In("x_zero_point", value=U8(120)),
        In("y_scale", value=F(0.02)), In("y_zero_point", value=U8(128)))
_QL2 = (In("a", "u8"), In("a_scale", value=F(0.05)), In("a_zero_point", value=U8(120)),
        In("b", "u8"), In("b_scale", value=F(0.03)), In("b_zero_point", value=U8(130)),
        In("c_scale", value=F(0.07)), In("c_zero_point", value=U8(128)))
_add(qlinear_ops, {
    "qlinear_add": TensorCase(qlinear_ops.qlinear_add, (2, 16), _QL2),
    "qlinear_mul": TensorCase(qlinear_ops.qlinear_mul, (2, 16), _QL2),
    "qlinear_sigmoid": TensorCase(qlinear_ops.qlinear_sigmoid, (2, 16), _QL1),
    "qlinear_leaky_relu": TensorCase(qlinear_ops.qlinear_leaky_relu, (2, 16), _QL1,
                                     attrs={"alpha": 0.1}),
    "qlinear_softmax": TensorCase(qlinear_ops.qlinear_softmax, (2, 16), _QL1,
                                  attrs={"opset": 13, "axis": -1}),
    "qlinear_global_average_pool": TensorCase(qlinear_ops.qlinear_global_average_pool,
                                              (1, 4, 5, 5), _QL1),
    "qlinear_average_pool": TensorCase(qlinear_ops.qlinear_average_pool, (1, 2, 7, 7), _QL1,
                                       attrs=_POOL),
    "qlinear_concat": TensorCase(qlinear_ops.qlinear_concat, (1, 2, 3, 3), (
        In("y_scale", value=F(0.05)), In("y_zero_point", value=U8(128)),
        In("a", "u8"), In("a_scale", value=F(0.05)), In("a_zero_point", value=U8(128)),
        In("b", "u8"), In("b_scale", value=F(0.02)), In("b_zero_point", value=U8(100))),
        attrs={"axis": 1}),
    "qlinear_lookup_table": TensorCase(qlinear_ops.qlinear_lookup_table, (), (
        In("function", value=lambda s: qlinear_ops.mlas_logistic),
        *_QL1[1:], In("dtype", value="uint8")), outputs=("table",)),
    "mlas_logistic": TensorCase(qlinear_ops.mlas_logistic, (2, 16), (In("x"),)),
    "qgemm": TensorCase(qlinear_ops.qgemm, (3, 16), (
        In("a", "u8"), In("a_scale", value=F(0.05)), In("a_zero_point", value=U8(120)),
        In("b", "i8", (16, 4), role="weight"), In("b_scale", value=F(0.01)),
        In("b_zero_point", value=I8(0)), In("c", "i32", (4,), role="bias"),
        In("y_scale", value=F(0.2)), In("y_zero_point", value=U8(128)))),
})
_add(matmul_int, {
    "int16_pair_overflow": TensorCase(matmul_int.int16_pair_overflow, (3, 9), (
        In("a", "u8"), In("b", "i8", (9, 4))), outputs=("overflow",)),
})
_SEQ = (4, 2, 3)   # (sequence, batch, input)
_add(recurrent, {
    "gru": TensorCase(recurrent.gru, _SEQ, (
        In("X"), In("W", shape=(1, 15, 3), role="weight"), In("R", shape=(1, 15, 5),
                                                             role="weight"),
        In("B", shape=(1, 30), role="bias")), attrs={"hidden_size": 5},
        outputs=("Y", "Y_h")),
    "lstm": TensorCase(recurrent.lstm, _SEQ, (
        In("X"), In("W", shape=(1, 20, 3), role="weight"), In("R", shape=(1, 20, 5),
                                                             role="weight"),
        In("B", shape=(1, 40), role="bias")), attrs={"hidden_size": 5},
        outputs=("Y", "Y_h", "Y_c")),
})
_add(reduce, {n: TensorCase(getattr(reduce, n), (2, 3, 4), (
    In("data"), In("axes", value=np.array([1], np.int64))), attrs={"keepdims": 1},
    outputs=("reduced",)) for n in ("reduce_l1", "reduce_l2", "reduce_max", "reduce_mean",
                                    "reduce_min", "reduce_prod", "reduce_sum",
                                    "reduce_sum_square")})
_MULT = (In("x", "i32"), In("multiplier", value=np.array(1518500250, np.int64)),
         In("shift", value=np.array(-3, np.int64)))
_add(requantize, {
    "quantize_multiplier": TensorCase(requantize.quantize_multiplier, (5,), (
        In("real_multiplier", value=np.array([0.0004, 0.3, 0.5, 0.999999999, 3.7])),),
        outputs=("multiplier", "shift")),
    "multiply_by_quantized_multiplier": TensorCase(
        requantize.multiply_by_quantized_multiplier, (4, 8), _MULT),
    "ruy_multiply_by_quantized_multiplier": TensorCase(
        requantize.ruy_multiply_by_quantized_multiplier, (4, 8), _MULT),
    "saturating_rounding_doubling_high_mul": TensorCase(
        requantize.saturating_rounding_doubling_high_mul, (4, 8), (
            In("a", "acc"), In("b", value=np.array(1518500250, np.int64)))),
    "rounding_divide_by_pot": TensorCase(requantize.rounding_divide_by_pot, (4, 8), (
        In("x", "i32"), In("exponent", value=np.array(5, np.int64)))),
})
_add(resize, {
    "resize": TensorCase(resize.resize, (1, 2, 4, 4), (
        In("X"), In("roi", value=None), In("scales", value=np.array([1, 1, 1.5, 0.75], F))),
        attrs={"mode": "linear", "coordinate_transformation_mode": "half_pixel"}),
})
_I64 = np.int64
_add(shape_ops, {
    "concat": TensorCase(shape_ops.concat, (2, 3), (In("a"), In("b", shape=(2, 2))),
                         attrs={"axis": 1}),
    "constant_of_shape": TensorCase(shape_ops.constant_of_shape, (3,), (
        In("input", value=np.array([2, 3, 4], _I64)),), attrs={"value": np.array([1.5], F)}),
    "dropout": TensorCase(shape_ops.dropout, (2, 8), outputs=("output", "mask")),
    "expand": TensorCase(shape_ops.expand, (3, 1), (In("input"), In("shape", value=np.array(
        [2, 3, 4], _I64)))),
    "flatten": TensorCase(shape_ops.flatten, (2, 3, 4, 5), (In("input"),), attrs={"axis": 2}),
    "gather": TensorCase(shape_ops.gather, (5, 4), (In("data"), In("indices", value=np.array(
        [[0, 4], [-1, 2]], _I64))), attrs={"axis": 0}),
    "gather_elements": TensorCase(shape_ops.gather_elements, (3, 4), (
        In("data"), In("indices", value=np.array([[0, 2, 1, 0], [2, 2, 0, 1]], _I64))),
        attrs={"axis": 0}),
    "identity": TensorCase(shape_ops.identity, (2, 3), (In("input"),)),
    "pad": TensorCase(shape_ops.pad, (2, 3), (In("data"), In("pads", value=np.array(
        [0, 1, 1, 2], _I64))), attrs={"mode": "reflect"}),
    "range_": TensorCase(shape_ops.range_, (), (In("start", value=np.array(1.5, F)),
                                                In("limit", value=np.array(7.0, F)),
                                                In("delta", value=np.array(1.25, F)))),
    "reshape": TensorCase(shape_ops.reshape, (2, 3, 4), (In("data"), In("shape", value=np.array(
        [0, -1], _I64)))),
    "shape": TensorCase(shape_ops.shape, (2, 3, 4), (In("data"),), attrs={"start": 1}),
    "size": TensorCase(shape_ops.size, (2, 3, 4), (In("data"),)),
    "slice_": TensorCase(shape_ops.slice_, (6, 5), (
        In("data"), In("starts", value=np.array([5, 1], _I64)),
        In("ends", value=np.array([0, 4], _I64)), In("axes", value=np.array([0, 1], _I64)),
        In("steps", value=np.array([-2, 2], _I64)))),
    "split": TensorCase(shape_ops.split, (6, 2), (In("input"), In("split", value=np.array(
        [1, 2, 3], _I64))), attrs={"axis": 0}, outputs=("output0", "output1", "output2")),
    "squeeze": TensorCase(shape_ops.squeeze, (2, 1, 3), (In("data"), In("axes", value=np.array(
        [1], _I64)))),
    "unsqueeze": TensorCase(shape_ops.unsqueeze, (2, 3), (In("data"), In("axes", value=np.array(
        [0, 3], _I64)))),
    "tile": TensorCase(shape_ops.tile, (2, 3), (In("input"), In("repeats", value=np.array(
        [2, 1], _I64)))),
    "transpose": TensorCase(shape_ops.transpose, (2, 3, 4), (In("data"),),
                            attrs={"perm": (2, 0, 1)}),
    "where": TensorCase(shape_ops.where, (2, 3), (In("condition", "bool"), In("X"), In("Y"))),
})
_add(tiling, {
    "tiled_conv2d_float": TensorCase(tiling.tiled_conv2d_float, (1, 4, 9, 9), (In("x"), CONV_W),
                                     attrs={"pads": (1, 1, 1, 1), "min_map": (4, 4)},
                                     pick=_first),
    "tiled_conv2d_int": TensorCase(tiling.tiled_conv2d_int, (1, 4, 9, 9), (In("x", "i8"),
                                                                           CONV_WQ),
                                   attrs={"pads": (1, 1, 1, 1), "min_map": (4, 4)},
                                   outputs=("accumulator",), pick=_first),
})


def _sparse(shape):
    """int8 activations with about half of the 4x4 blocks at zero."""
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=shape).astype(I8)
    blocks = rng.random((shape[0], shape[1], -(-shape[2] // 4), -(-shape[3] // 4))) < 0.5
    mask = np.kron(blocks, np.ones((1, 1, 4, 4), bool))[..., :shape[2], :shape[3]]
    x[mask] = 0
    return x


_add(zeroskip, {
    "zero_block_bitmap": TensorCase(zeroskip.zero_block_bitmap, NCHW, (In("x", value=_sparse),),
                                    attrs={"block": (1, 1, 4, 4)}, outputs=("bitmap",)),
    "skip_conv2d_int": TensorCase(zeroskip.skip_conv2d_int, (1, 4, 8, 8), (
        In("x", value=_sparse), CONV_WQ), attrs={"pads": (1, 1, 1, 1)},
        outputs=("accumulator", "macs_skipped"), pick=_record("macs_skipped")),
    "skip_matmul_int": TensorCase(zeroskip.skip_matmul_int, (8, 16), (
        In("a", value=lambda s: _sparse((1, 1, *s))[0, 0]), In("b", "i8", (16, 4))),
        outputs=("accumulator", "macs_skipped"), pick=_record("macs_skipped")),
    "finish_int32": TensorCase(zeroskip.finish_int32, (1, 3, 2, 2), (
        In("acc", value=lambda s: np.full(s, 2**31 - 2, np.int64)),
        In("bias", value=np.array([1, 2, -5], np.int64)))),
    "tap_coverage": TensorCase(zeroskip.tap_coverage, (), (
        In("size", value=7), In("kernel", value=3), In("stride", value=2),
        In("pad_begin", value=1), In("dilation", value=1), In("out", value=4)),
        outputs=("uses",)),
    "conv_zero_skip_macs": TensorCase(
        zeroskip.conv_zero_skip_macs, (1, 4, 8, 8), (
            In("bitmap", value=lambda s: zeroskip.zero_block_bitmap(_sparse(s), (1, 1, 4, 4))),
            In("block", value=(1, 1, 4, 4)), In("x_shape", value=lambda s: s),
            In("w_shape", value=(6, 4, 3, 3))),
        attrs={"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "groups": 1,
               "out_hw": (8, 8)}, outputs=("macs_skipped",)),
    "matmul_zero_skip_macs": TensorCase(
        zeroskip.matmul_zero_skip_macs, (8, 16), (
            In("bitmap", value=lambda s: zeroskip.zero_block_bitmap(
                _sparse((1, 1, *s))[0, 0], (4, 4))),
            In("block", value=(4, 4)), In("a_shape", value=lambda s: s),
            In("out_shape", value=(8, 4))), outputs=("macs_skipped",)),
})

#: images are (H, W, C) uint8 (gray: (H, W)); mean/std as an ImageNet input stage
IMG = (6, 8, 3)
_IMG = (In("img", "u8"),)
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_add(image_ops, {
    "flip": TensorCase(image_ops.flip, IMG, _IMG, attrs={"axis": "horizontal"}),
    "crop": TensorCase(image_ops.crop, IMG, _IMG,
                       attrs={"top": 1, "left": 2, "height": 4, "width": 5}),
    "resize_nearest": TensorCase(image_ops.resize_nearest, IMG, _IMG,
                                 attrs={"width": 5, "height": 9}),
    "resize_bilinear": TensorCase(image_ops.resize_bilinear, IMG, _IMG,
                                  attrs={"width": 5, "height": 9}),
    "swap_rb": TensorCase(image_ops.swap_rb, IMG, _IMG),
    "rgb_to_gray": TensorCase(image_ops.rgb_to_gray, IMG, _IMG),
    "rgb_to_ycrcb": TensorCase(image_ops.rgb_to_ycrcb, IMG, _IMG),
    "convert_scale": TensorCase(image_ops.convert_scale, IMG, _IMG,
                                attrs={"alpha_q": 300, "beta_q": -2000, "frac_bits": 8}),
    "adjust_brightness_contrast": TensorCase(
        image_ops.adjust_brightness_contrast, IMG, _IMG,
        attrs={"contrast_q": 320, "brightness": -10, "frac_bits": 8, "pivot": 128}),
    "normalization_lut": TensorCase(
        image_ops.normalization_lut, (3, 256),
        (In("mean", value=_MEAN), In("std", value=_STD)),
        attrs={"scale": 0.0187, "zero_point": -14, "channels": 3, "dtype": "int8"}),
    "normalize_to_int8": TensorCase(
        image_ops.normalize_to_int8, IMG,
        (In("img", "u8"), In("mean", value=_MEAN), In("std", value=_STD)),
        attrs={"scale": 0.0187, "zero_point": -14, "dtype": "int8"}),
})

#: public functions of reference/ without a case, and why
EXEMPT: dict[str, str] = {
    "cast.onnx_dtype": "a type-code table, no tensors",
    "conv_float.conv2d_float_blas": "BLAS summation order: bits differ across machines; "
                                    "conv2d_float is the portable contract",
    "conv_float.matmul_float_blas": "BLAS summation order (as conv2d_float_blas)",
    "conv_transpose.conv_transpose_geometry": "the geometry of conv_transpose (which has a "
                                              "case)",
    "einsum.parse_einsum": "the equation parser of einsum (which has a case)",
    "matmul_int.exact_dot_dtype": "chooses the exact dtype of matmul_int's dot products",
    "matmul_int.unpack_weight": "argument helper of matmul_int",
    "matmul_int.zero_point_vector": "argument checker",
    "matmul_int.pairs_saturate": "a predicate on the accumulation option and dtypes",
    "matmul_int.matmul_int": "the matmul case (conv2d / matmul cases of validation.cases)",
    "conv_int.conv2d_int": "the conv2d case of validation.cases",
    "pooling.pool_windows": "the window view behind the pooling operators",
    "quantize.broadcast_quant_param": "layout helper of quantize / dequantize",
    "quantize.quantize": "the quantize case of validation.cases",
    "quantized_ops.qrange_storage": "a dtype table",
    "requantize.check_requantize_args": "argument checker",
    "requantize.requantize": "the requantize case of validation.cases",
    "resize.resize_geometry": "the geometry of resize (which has a case)",
    "tiling.conv_access_counts": "an analytic memory-access model, no tensors",
    "tiling.network_access_counts": "an analytic memory-access model, no tensors",
    "tiling.resnet50_conv_shapes": "a table of layer shapes",
    "zeroskip.centred_conv_operands": "argument helper of the skipping conv",
    "zeroskip.skip_matmul_operands": "argument helper of skip_matmul_int",
    "zeroskip.sparse_conv_accumulate": "the engine of skip_conv2d_int and gated_conv2d_int "
                                       "(which have cases)",
    "onnx_ops_table.keyword_names": "introspection helper",
    "onnx_ops_table.run_onnx_op": "dispatches to the table's functions (each has a case)",
}
#: modules of reference/ that hold no tensor operators
EXEMPT_MODULES: dict[str, str] = {
    "checkpoint": "activation-checkpoint planning (segment choices, byte counts)",
    "dtypes": "the integer type table",
}

"""The ONNX importer's table: one :class:`Rule` per operator, registered with :func:`rule`.

A rule names the attributes it honours (with the values it accepts; absent ones take their ONNX
default before the check) and a builder that turns one ONNX node into graph nodes through the
importer (``networks.onnx_import._Importer``). A builder refuses what it cannot honour by raising
:class:`Refused` with the input, attribute or value named; the importer lists every refusal of
the model in one ValueError. This module holds the float and data-movement operators and the
rows of ``networks.onnx_functions``; ``networks.onnx_qrules`` the quantized ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from networks.graph import DTYPES, Node, TensorInfo
from networks.onnx_functions import (
    FUNCTIONS,
    MS_FUNCTIONS,
    const_input_positions,
    run_function,
)

MS = "com.microsoft"
#: model metadata key holding explicit weight bit widths (JSON: initializer -> bits)
WEIGHT_BITS_KEY = "gilt.weight_bits"
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


class Refused(ValueError):
    """One unsupported aspect of one node; the importer collects them and lists them all."""


@dataclass
class OnnxNode:
    """An ONNX node as a rule sees it: ``attrs`` with every ONNX default filled in,
    ``given`` the attribute names the model wrote, ``version`` the schema's since_version."""

    name: str
    op: str
    domain: str
    version: int
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    given: set[str] = field(default_factory=set)
    opset: int = 0  # the model's opset of the node's domain

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] != ""

    def input(self, i: int) -> str:
        return self.inputs[i] if self.has(i) else ""

    @property
    def out(self) -> str:
        return self.outputs[0]


@dataclass(frozen=True)
class Rule:
    """How one ONNX operator imports: ``attrs`` maps each honoured attribute to the values
    accepted (None: any; a collection; or a function returning a problem text or None);
    ``outputs`` is how many outputs the builder produces; ``defaults`` stands in for the schema
    of operators ONNX has none for (com.microsoft)."""

    build: Callable
    attrs: Mapping[str, object] = field(default_factory=dict)
    domain: str = ""
    min_version: int = 1
    outputs: int = 1
    defaults: Mapping[str, object] = field(default_factory=dict)


#: (domain, op_type) -> Rule
RULES: dict[tuple[str, str], Rule] = {}


def rule(op: str, *, domain: str = "", **kw):
    """Register the decorated builder as the rule of ``op`` in ``domain``."""
    def register(fn):
        RULES[(domain, op)] = Rule(fn, domain=domain, **kw)
        return fn
    return register


def all_ones(name: str):
    """An attribute check: every entry 1 (or absent)."""
    def check(value):
        if value and any(v != 1 for v in value):
            return f"only {name} of 1 are supported"
        return None
    return check


# ---------------------------------------------------------------------- window geometry
def _same_pads(size: int, k: int, s: int, d: int, mode: str) -> tuple[int, int]:
    out = -(-size // s)
    total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
    small, big = total // 2, total - total // 2
    return (small, big) if mode == "SAME_UPPER" else (big, small)


def window(n: OnnxNode, x_shape, kernel) -> dict:
    """strides, pads (top, left, bottom, right) and dilations of a 2-D conv or pool node,
    with ``auto_pad`` resolved on the static input shape."""
    if len(x_shape) != 4 or len(kernel) != 2:
        raise Refused(f"{len(x_shape) - 2}-D windows (input shape {tuple(x_shape)}): only 2-D "
                      f"(4-D NCHW input) is supported")
    a = n.attrs
    strides = tuple(a.get("strides") or (1, 1))
    dilations = tuple(a.get("dilations") or (1, 1))
    pads = tuple(a["pads"]) if a.get("pads") else None
    for key, v, size in (("strides", strides, 2), ("dilations", dilations, 2),
                         ("pads", pads, 4)):
        if v is not None and (len(v) != size or any(int(e) < (0 if key == "pads" else 1)
                                                    for e in v)):
            raise Refused(f"{key}={v!r}: expected {size} values, each >= "
                          f"{0 if key == 'pads' else 1} (negative pads are not supported)")
    mode = a.get("auto_pad", "NOTSET")
    if mode == "NOTSET":
        pads = pads or (0, 0, 0, 0)
    elif pads is not None and any(pads):
        raise Refused(f"pads={pads!r} given together with auto_pad={mode!r}")
    elif mode == "VALID":
        pads = (0, 0, 0, 0)
    else:
        (t, b), (left, r) = (_same_pads(x_shape[2 + i], kernel[i], strides[i], dilations[i],
                                        mode) for i in range(2))
        pads = (t, left, b, r)
    return {"strides": strides, "pads": tuple(int(p) for p in pads), "dilations": dilations}


def ceil_pads(x_shape, kernel, geo: dict) -> tuple[tuple[int, ...], bool]:
    """End pads that make floor-mode output sizes equal ONNX's ceil_mode=1 sizes (the last
    window must start inside the input or its begin padding), and whether any was added."""
    pads = list(geo["pads"])
    added = False
    for i in range(2):
        size, k, s, d = x_shape[2 + i], kernel[i], geo["strides"][i], geo["dilations"][i]
        span = d * (k - 1) + 1
        padded = size + pads[i] + pads[i + 2]
        out = -(-(padded - span) // s) + 1
        if (out - 1) * s >= size + pads[i]:
            out -= 1
        extra = (out - 1) * s + span - padded
        if extra > 0:
            pads[i + 2] += extra
            added = True
    return tuple(pads), added


# ---------------------------------------------------------------------- float operators
def _conv_attrs(n: OnnxNode, x_shape, w_shape) -> dict:
    if len(w_shape) != 4:
        raise Refused(f"weights of shape {tuple(w_shape)}: only 2-D convolution (4-D OIHW "
                      f"weights) is supported")
    ks = n.attrs.get("kernel_shape")
    if ks and tuple(ks) != tuple(w_shape[2:]):
        raise Refused(f"kernel_shape={tuple(ks)} does not match the weights {tuple(w_shape)}")
    return {**window(n, x_shape, w_shape[2:]), "group": int(n.attrs.get("group", 1))}


_CONV_ATTRS = {"auto_pad": AUTO_PADS, "dilations": None, "group": None, "kernel_shape": None,
               "pads": None, "strides": None}


@rule("Conv", attrs=_CONV_ATTRS)
def _conv(imp, n: OnnxNode):
    x, w = imp.float_input(n, 0), imp.float_input(n, 1)
    attrs = _conv_attrs(n, imp.shape(x), imp.shape(w))
    b = [imp.float_input(n, 2)] if n.has(2) else []
    imp.emit("conv", [x, w, *b], n.out, n.name, attrs)


def _transposed(imp, n: OnnxNode, t: str, what: str) -> str:
    """``t`` transposed (2-D): a transposed constant, or a Transpose node."""
    if imp.is_const(t):
        name = f"{t}.T"
        imp.consts[name] = np.ascontiguousarray(imp.consts[t].T)
        return imp.register_const(name)
    out = imp.tmp(n, what)
    imp.emit("transpose", [t], out, out, {"perm": (1, 0)})
    return out


@rule("Gemm", min_version=7, attrs={"alpha": {1.0}, "beta": None, "transA": {0, 1},
                                     "transB": {0, 1}})
def _gemm(imp, n: OnnxNode):
    a, b = imp.float_input(n, 0), imp.float_input(n, 1)
    if len(imp.shape(a)) != 2 or len(imp.shape(b)) != 2:
        raise Refused(f"A {imp.shape(a)} and B {imp.shape(b)} must be 2-D")
    if n.has(2) and n.attrs.get("beta", 1.0) != 1.0:
        raise Refused(f"unsupported beta={n.attrs['beta']!r} with a C input (supported: 1.0)")
    if n.attrs.get("transA"):
        a = _transposed(imp, n, a, "A_T")
    if n.attrs.get("transB"):
        b = _transposed(imp, n, b, "B_T")
    c = [imp.float_input(n, 2)] if n.has(2) else []
    imp.emit("matmul", [a, b, *c], n.out, n.name)


@rule("MatMul")
def _matmul(imp, n: OnnxNode):
    imp.emit("matmul", [imp.float_input(n, 0), imp.float_input(n, 1)], n.out, n.name)


@rule("BatchNormalization", min_version=7, attrs={"epsilon": None, "momentum": None,
                                                   "training_mode": {0}, "spatial": {1}})
def _batchnorm(imp, n: OnnxNode):
    x = imp.float_input(n, 0)
    params = [imp.float_input(n, i) for i in range(1, 5)]
    c = imp.shape(x)[1] if len(imp.shape(x)) > 1 else None
    for i, t in enumerate(params, 1):
        if imp.shape(t) != (c,):
            raise Refused(f"input {i} ({t!r}) has shape {imp.shape(t)}, expected ({c},)")
    imp.emit("batchnorm", [x, *params], n.out, n.name, {"epsilon": float(n.attrs["epsilon"])})


@rule("LayerNormalization", min_version=17, attrs={"axis": None, "epsilon": None,
                                                    "stash_type": {1}})
def _layernorm(imp, n: OnnxNode):
    x = imp.float_input(n, 0)
    ins = [x] + [imp.float_input(n, i) for i in (1, 2) if n.has(i)]
    shape = imp.shape(x)
    axis = int(n.attrs["axis"])
    if not -len(shape) <= axis < len(shape):
        raise Refused(f"axis={axis} out of range for input shape {shape}")
    norm = shape[axis % len(shape):]
    for t in ins[1:]:
        if imp.shape(t) != norm:
            raise Refused(f"{t!r} has shape {imp.shape(t)}: scale and bias must have the "
                          f"normalized shape {norm} (broadcast ones are not supported)")
    imp.emit("layernorm", ins, n.out, n.name, {"axis": axis,
                                                "epsilon": float(n.attrs["epsilon"])})


def _unary(op: str, *attr_names: str):
    def build(imp, n: OnnxNode):
        attrs = {k: n.attrs[k] for k in attr_names}
        imp.emit(op, [imp.float_input(n, 0)], n.out, n.name, attrs)
    return build


for _op, _graph_op, _attrs in (("Relu", "relu", {}), ("Sigmoid", "sigmoid", {}),
                               ("HardSwish", "hardswish", {}), ("Erf", "erf", {}),
                               ("HardSigmoid", "hardsigmoid", {"alpha": None, "beta": None}),
                               ("Gelu", "gelu", {"approximate": {"none", "tanh"}})):
    RULES[("", _op)] = Rule(_unary(_graph_op, *_attrs), attrs=_attrs,
                            min_version=6 if _op in ("Relu", "Sigmoid", "HardSigmoid") else 1)


def _binary(op: str):
    def build(imp, n: OnnxNode):
        imp.emit(op, [imp.float_input(n, 0), imp.float_input(n, 1)], n.out, n.name)
    return build


for _op in ("Add", "Sub", "Mul", "Div"):
    RULES[("", _op)] = Rule(_binary(_op.lower()), min_version=7)


def _scalar_bound(imp, n: OnnxNode, i: int, default: float) -> float:
    if not n.has(i):
        return default
    v = imp.c(n, i, "a bound")
    if v.dtype != np.float32 or v.size != 1:
        raise Refused(f"input {i} ({n.input(i)!r}) must be one float32 value, got dtype "
                      f"{v.dtype} and shape {v.shape}")
    return float(v.reshape(()))


@rule("Clip", min_version=6, attrs={"min": None, "max": None})
def _clip(imp, n: OnnxNode):
    f32 = np.finfo(np.float32)
    if n.version < 11:
        lo, hi = float(n.attrs["min"]), float(n.attrs["max"])
    else:  # ONNX default bounds: numeric_limits<float>::lowest() / max()
        lo, hi = _scalar_bound(imp, n, 1, float(f32.min)), _scalar_bound(imp, n, 2, float(f32.max))
    imp.emit("clip", [imp.float_input(n, 0)], n.out, n.name, {"min": lo, "max": hi})


@rule("Concat", min_version=4, attrs={"axis": None})
def _concat(imp, n: OnnxNode):
    ins = [imp.any_input(n, i) for i in range(len(n.inputs)) if n.has(i)]
    dtypes = {imp.dtype(t) for t in ins}
    if len(dtypes) != 1:
        raise Refused(f"inputs have different dtypes {sorted(dtypes)}")
    qps = [imp.g.tensors[t].quant for t in ins]
    same = qps[0] is not None and all(
        p is not None and p.per_tensor and float(p.scale) == float(qps[0].scale)
        and p.zero_point == qps[0].zero_point and p.bits == qps[0].bits for p in qps)
    rank = len(imp.shape(ins[0]))
    axis = int(n.attrs["axis"])
    if not -rank <= axis < rank:
        raise Refused(f"axis={axis} out of range for rank {rank}")
    imp.emit("concat", ins, n.out, n.name, {"axis": axis}, dtypes.pop(),
             qps[0] if same else None)


@rule("GlobalAveragePool")
def _global_avg_pool(imp, n: OnnxNode):
    x = imp.float_input(n, 0)
    if len(imp.shape(x)) != 4:
        raise Refused(f"input shape {imp.shape(x)}: only 4-D NCHW input is supported")
    imp.emit("global_avg_pool", [x], n.out, n.name)


_POOL_ATTRS = {"auto_pad": AUTO_PADS, "ceil_mode": {0, 1}, "kernel_shape": None, "pads": None,
               "strides": None}


def _pool_geometry(n: OnnxNode, x_shape) -> dict:
    kernel = tuple(n.attrs["kernel_shape"])
    geo = window(n, x_shape, kernel)
    geo["kernel_shape"] = kernel
    if n.attrs.get("ceil_mode"):
        geo["pads"], added = ceil_pads(x_shape, kernel, geo)
        if added and n.op == "AveragePool" and n.attrs.get("count_include_pad"):
            raise Refused("ceil_mode=1 with count_include_pad=1 where the last window runs "
                          "past the padding is not supported")
    return geo


@rule("MaxPool", attrs={**_POOL_ATTRS, "dilations": None, "storage_order": None})
def _max_pool(imp, n: OnnxNode):
    x = n.input(0)
    dtype = imp.dtype(x)
    if "kernel_shape" not in n.attrs:
        raise Refused("kernel_shape is required")
    geo = _pool_geometry(n, imp.shape(x))
    if dtype == "float32":
        imp.emit("max_pool", [imp.float_input(n, 0)], n.out, n.name, geo)
    elif dtype in ("int8", "uint8"):
        imp.emit_like("qmax_pool", n, imp.any_input(n, 0), geo)
    else:
        raise Refused(f"input has dtype {dtype}; MaxPool runs on float32, int8 and uint8")


@rule("AveragePool", attrs={**_POOL_ATTRS, "count_include_pad": {0, 1},
                            "dilations": all_ones("dilations")})
def _avg_pool(imp, n: OnnxNode):
    x = imp.float_input(n, 0)
    if "kernel_shape" not in n.attrs:
        raise Refused("kernel_shape is required")
    geo = _pool_geometry(n, imp.shape(x))
    geo.pop("dilations")
    geo["count_include_pad"] = int(n.attrs["count_include_pad"])
    imp.emit("avg_pool", [x], n.out, n.name, geo)


@rule("Flatten", attrs={"axis": None})
def _flatten(imp, n: OnnxNode):
    x = imp.any_input(n, 0)
    rank = len(imp.shape(x))
    axis = int(n.attrs["axis"])
    if not -rank <= axis <= rank:
        raise Refused(f"axis={axis} out of range for rank {rank}")
    imp.emit_like("flatten", n, x, {"axis": axis})


@rule("Reshape", min_version=5, attrs={"allowzero": {0, 1}})
def _reshape(imp, n: OnnxNode):
    shape = imp.c(n, 1, "the target shape")
    target = tuple(int(v) for v in shape.reshape(-1))
    if n.attrs.get("allowzero") and 0 in target:
        raise Refused(f"allowzero=1 with a 0 in shape {target} (a zero-size dim) is not "
                      f"supported")
    imp.emit_like("reshape", n, imp.any_input(n, 0), {"shape": target})


@rule("Transpose", attrs={"perm": None})
def _transpose(imp, n: OnnxNode):
    x = imp.any_input(n, 0)
    rank = len(imp.shape(x))
    perm = tuple(n.attrs.get("perm") or reversed(range(rank)))
    if sorted(perm) != list(range(rank)):
        raise Refused(f"perm={perm} is not a permutation of {rank} axes")
    imp.emit_like("transpose", n, x, {"perm": perm})


@rule("Identity")
def _identity(imp, n: OnnxNode):
    imp.emit_like("identity", n, imp.any_input(n, 0))


@rule("Dropout", min_version=7, attrs={"ratio": None, "seed": None})
def _dropout(imp, n: OnnxNode):
    if n.has(2):  # training_mode (opset 12+): inference only
        mode = imp.c(n, 2, "training_mode")
        if mode.size != 1 or bool(mode.reshape(-1)[0]):
            raise Refused(f"training_mode={mode.tolist()!r}: only inference (False) is "
                          f"supported")
    imp.emit_like("identity", n, imp.any_input(n, 0))


@rule("Softmax", attrs={"axis": None})
def _softmax(imp, n: OnnxNode):
    x = imp.float_input(n, 0)
    shape = imp.shape(x)
    axis = int(n.attrs["axis"])
    if not -len(shape) <= axis < len(shape):
        raise Refused(f"axis={axis} out of range for input shape {shape}")
    axis %= len(shape)
    if n.version >= 13 or axis == len(shape) - 1:
        imp.emit("softmax", [x], n.out, n.name, {"axis": axis})
        return
    # opset < 13: the input is coerced to 2-D at axis and normalized over the flattened tail
    flat = (math.prod(shape[:axis]), math.prod(shape[axis:]))
    a, b = imp.tmp(n, "2d"), imp.tmp(n, "softmax")
    imp.emit("reshape", [x], a, a, {"shape": flat})
    imp.emit("softmax", [a], b, b, {"axis": 1})
    imp.emit("reshape", [b], n.out, n.name, {"shape": shape})


@rule("Resize", min_version=11, attrs={
    "mode": {"nearest"}, "coordinate_transformation_mode": {"asymmetric"},
    "nearest_mode": {"floor"}, "cubic_coeff_a": None, "exclude_outside": {0},
    "extrapolation_value": None, "antialias": {0}, "keep_aspect_ratio_policy": {"stretch"}})
def _resize(imp, n: OnnxNode):
    x = imp.any_input(n, 0)
    shape = imp.shape(x)
    scales = imp.c(n, 2, "scales") if n.has(2) else np.zeros(0, np.float32)
    if scales.size:
        scales = tuple(float(s) for s in scales.reshape(-1))
    elif n.has(3):
        sizes = imp.c(n, 3, "sizes").reshape(-1)
        scales = tuple(float(np.float32(s) / np.float32(d)) for s, d in zip(sizes, shape))
    else:
        raise Refused("needs scales or sizes")
    if len(scales) != len(shape):
        raise Refused(f"{len(scales)} scales for an input of rank {len(shape)}")
    bad = [s for s in scales if s < 1 or s != int(s)]
    if bad:
        raise Refused(f"scales {scales}: only integer upsampling factors are supported "
                      f"(got {bad})")
    imp.emit_like("resize_nearest", n, x, {"scales": scales})


_CONSTANT_ATTRS = {"value": None, "value_float": None, "value_floats": None,
                   "value_int": None, "value_ints": None}


@rule("Constant", attrs=_CONSTANT_ATTRS)
def _constant(imp, n: OnnxNode):
    given = [k for k in n.given if k in _CONSTANT_ATTRS]
    if len(given) != 1:
        raise Refused(f"needs exactly one value attribute, got {sorted(n.given)}")
    key, v = given[0], n.attrs[given[0]]
    if key == "value":
        value = imp.tensor_value(v, n.out)
    else:
        value = np.asarray(v, np.float32 if "float" in key else np.int64)
    imp.consts[n.out] = value


# ---------------------------------------------------------------------- ONNX functions
def _example_args(imp, n: OnnxNode, spec) -> list:
    """Inputs to evaluate a function on at import: constants' values, else ones (zeros for
    index inputs, which stay in range) with the tensor's shape and dtype."""
    args = []
    for i, t in enumerate(n.inputs):
        if not t:
            args.append(None)
            continue
        ex = imp.example(t)
        name = spec.inputs[min(i, len(spec.inputs) - 1)]
        if not imp.is_const(t) and "indices" in name:
            ex = np.zeros_like(ex)
        args.append(ex)
    return args


def build_function(imp, n: OnnxNode) -> None:
    """Any operator of ``networks.onnx_functions``: constants where the output shape needs
    them, the function evaluated once on example inputs for the output shapes and dtypes."""
    spec = FUNCTIONS[n.op]
    for i in const_input_positions(n.op):
        if n.has(i):
            imp.c(n, i, spec.inputs[i])
    attributes = {k: imp.attribute_array(n.attrs[k], f"{n.name}.{k}") for k in n.given}
    outs = run_function(n.op, _example_args(imp, n, spec), attributes, opset=n.opset,
                        n_outputs=len(n.outputs))
    names = [o or f"{n.name}.unused{i}" for i, o in enumerate(n.outputs)]
    infos = []
    for name, r in zip(names, outs):
        r = np.asarray(r)
        dtype = "float32" if r.dtype == np.float32 else r.dtype.name
        if dtype not in DTYPES:
            raise Refused(f"output {name!r} would have dtype {r.dtype.name}")
        infos.append(TensorInfo(name, r.shape, dtype))
    ins = [imp.any_input(n, i) if n.has(i) else "" for i in range(len(n.inputs))]
    for info in infos:
        imp.g.tensors[info.name] = info
    imp.g.nodes.append(Node(n.name, n.op, ins, names, {"attributes": attributes,
                                                        "opset": n.opset}))


#: op_type -> the generic rule of an ONNX function (also the fallback of a specific rule)
FUNCTION_RULES: dict[str, Rule] = {op: Rule(build_function, attrs=None, outputs=64)
                                   for op in FUNCTIONS if op not in MS_FUNCTIONS}
for _op, _r in FUNCTION_RULES.items():
    RULES.setdefault(("", _op), _r)
for _op in MS_FUNCTIONS:
    RULES[(MS, _op)] = Rule(build_function, attrs=None, domain=MS, outputs=1)

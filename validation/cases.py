"""Named operator cases: parameters in, reference tensors out, the shape in the name.

A case is an operator of ``reference/`` plus its parameters and a seed. Its name spells the
parameters (``conv2d_n1_c16_h8_w8_k32_r3_s3_st1_p1_d1_g1_w4a8``), so a directory of vectors says
what it holds. Inputs are drawn from ``numpy.random.default_rng(seed)`` over the full range of
their dtypes (edge values included), so the same case and seed always give the same tensors.
The expected outputs come only from ``reference/``.

Cases come from the command line (``gilt golden --op conv2d --param c=16 --param k=32``) or from
a YAML case file::

    seed: 7                 # optional default seed of every case
    cases:
      - op: conv2d
        c: 16
        k: 32
        wbits: 4
      - {op: matmul, m: 8, k: 64, n: 16}

Unknown operators or parameter names are errors that list what is accepted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from reference import conv_int, gating, matmul_int, quantize, requantize
from reference.dtypes import qrange, storage_dtype
from validation import op_cases
from validation.manifest import GoldenTensor

#: requantize modes of reference.requantize that a case may choose
REQUANT_MODES = tuple(requantize.REQUANTIZE_MODES)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    text = str(value).strip()
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


#: Largest tensor (or im2col patch matrix) a case may ask for, in elements: a sanity limit far
#: above test-bench sizes, checked before anything is allocated.
MAX_ELEMENTS = 2**26


def _size(lo: int, hi: int = 2**20) -> Callable[[Any], int]:
    """A parser of an integer size in ``[lo, hi]``."""
    def parse(value: Any) -> int:
        number = _int(value)
        if not lo <= number <= hi:
            raise ValueError(f"expected an integer in {lo}..{hi}, got {value!r}")
        return number
    return parse


def _scale(value: Any) -> float:
    """A quantization scale: a finite, positive, normal float32."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    tiny, big = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    if not (math.isfinite(number) and tiny <= number <= big):
        raise ValueError(f"expected a finite positive float32 scale in [{tiny:g}, {big:g}], "
                         f"got {value!r}")
    return number


def _percent(value: Any) -> int:
    number = _int(value)
    if not 0 <= number <= 100:
        raise ValueError(f"expected a percentage 0..100, got {value!r}")
    return number


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, list | tuple):
        dims = tuple(_int(v) for v in value)
    else:
        dims = tuple(_int(v) for v in str(value).replace("x", ",").split(",") if v.strip())
    if not dims or any(d < 1 for d in dims) or len(dims) > 8:
        raise ValueError(f"expected a shape of 1 to 8 positive dims like 1x8x4x4, got {value!r}")
    return dims


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if str(value) not in options:
            raise ValueError(f"expected one of {list(options)}, got {value!r}")
        return str(value)
    return parse


@dataclass(frozen=True)
class _OpSpec:
    params: dict[str, tuple[Callable[[Any], Any], Any]]  # name -> (parser, default)
    name: Callable[[dict], str]
    generate: Callable[[dict, np.random.Generator], list[GoldenTensor]]
    doc: str


def _edge_ints(rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int,
               dtype) -> np.ndarray:
    """Uniform integers in [lo, hi] with the first elements forced to lo, hi, 0 (edge values)."""
    values = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)
    flat = values.reshape(-1)
    edges = [v for v in (lo, hi, 0) if lo <= v <= hi][: flat.size]
    flat[: len(edges)] = edges
    return values.astype(dtype)


def _out_scale(real_max: float, qmax: int) -> np.float32:
    """An output scale at which the largest 1 % of |real| values (at least the largest one)
    saturate, so saturation is exercised while most outputs span the range."""
    return np.float32(max(real_max, 1e-6) / qmax)


def _act(params: dict) -> str:
    return params["adtype"]


def _quant_tail(params: dict, acc: np.ndarray, x_scale: np.float32, w_scale: np.ndarray,
                axis: int) -> tuple[np.ndarray, np.float32, int]:
    """Requantize ``acc`` to the output dtype with a data-derived output scale."""
    out_dtype = params["odtype"]
    qmin, qmax = qrange(out_dtype)
    y_zero_point = 0 if qmin < 0 else (qmax + 1) // 2
    shape = [1] * acc.ndim
    shape[axis] = -1
    real = acc.astype(np.float64) * float(x_scale) * w_scale.astype(np.float64).reshape(shape)
    # with a fused ReLU only positive values are representable: size the scale on those
    magnitude = real[real > 0] if params["relu"] else np.abs(real)
    y_scale = _out_scale(float(np.percentile(magnitude, 99, method="lower"))
                         if magnitude.size else 1.0, qmax - y_zero_point)
    clamp = (y_zero_point, qmax) if params["relu"] else None
    y = requantize.requantize(acc, x_scale, w_scale, y_scale, y_zero_point,
                              mode=params["mode"], dtype=out_dtype, axis=axis, clamp=clamp)
    return y, y_scale, y_zero_point


def _weights(params: dict, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    lo, hi = (-8, 7) if params["wbits"] == 4 else (-127, 127)
    return _edge_ints(rng, shape, lo, hi, np.int8)


def _w_scales(rng: np.random.Generator, channels: int, wbits: int) -> np.ndarray:
    return (rng.uniform(0.5, 2.0, size=channels) / (7 if wbits == 4 else 127)).astype(np.float32)


def _input(params: dict, rng: np.random.Generator, shape) -> tuple[np.ndarray, int]:
    dtype = _act(params)
    lo, hi = qrange(dtype)
    zero_point = 0 if dtype == "int8" else 128
    return _edge_ints(rng, shape, lo, hi, storage_dtype(dtype)), zero_point


def _generate_conv2d(p: dict, rng: np.random.Generator) -> list[GoldenTensor]:
    if p["c"] % p["g"] or p["k"] % p["g"]:
        raise ValueError(f"groups g={p['g']} must divide c={p['c']} and k={p['k']}")
    x, x_zero_point = _input(p, rng, (p["n"], p["c"], p["h"], p["w"]))
    w = _weights(p, rng, (p["k"], p["c"] // p["g"], p["r"], p["s"]))
    bias = rng.integers(-(1 << 12), 1 << 12, size=p["k"], endpoint=True).astype(np.int32)
    x_scale = np.float32(rng.uniform(0.01, 0.05))
    w_scale = _w_scales(rng, p["k"], p["wbits"])
    geometry = {"strides": (p["st"],) * 2, "pads": (p["p"],) * 4, "dilations": (p["d"],) * 2,
                "groups": p["g"]}
    gate_mask = []
    if p["gate"]:  # channel gating: about gate % of input channels per sample switched off
        mask = rng.random((p["n"], p["c"])) >= p["gate"] / 100
        acc, _ = gating.gated_conv2d_int(x, w, mask, kind="channel", x_zero_point=x_zero_point,
                                         bias=bias, **geometry)
        gate_mask = [GoldenTensor("gate_mask", mask.astype(np.uint8), "uint8", "input", "NC")]
    else:
        acc = conv_int.conv2d_int(x, w, x_zero_point=x_zero_point, bias=bias, **geometry)
    y, y_scale, y_zero_point = _quant_tail(p, acc, x_scale, w_scale, axis=1)
    wdtype = "int4" if p["wbits"] == 4 else "int8"
    return [
        GoldenTensor("input", x, _act(p), "input", "NCHW",
                     {"scale": x_scale, "zero_point": x_zero_point}),
        GoldenTensor("weight", w, wdtype, "weight", "OIHW",
                     {"scale": w_scale, "zero_point": 0, "axis": 0}),
        GoldenTensor("bias", bias, "int32", "bias", "O",
                     {"scale": (x_scale * w_scale).astype(np.float32), "zero_point": 0,
                      "axis": 0}),
        *gate_mask,
        GoldenTensor("accumulator", acc, "int32", "intermediate", "NCHW"),
        GoldenTensor("output", y, p["odtype"], "output", "NCHW",
                     {"scale": y_scale, "zero_point": y_zero_point}),
    ]


def _generate_matmul(p: dict, rng: np.random.Generator) -> list[GoldenTensor]:
    a, a_zero_point = _input(p, rng, (p["m"], p["k"]))
    if p["zblocks"]:  # zero-skip workloads: whole 4x4 blocks of activations at the zero point
        blocks = rng.random((-(-p["m"] // 4), -(-p["k"] // 4))) < p["zblocks"] / 100
        mask = np.kron(blocks, np.ones((4, 4), bool))[: p["m"], : p["k"]]
        a[mask] = a_zero_point
    b = _weights(p, rng, (p["k"], p["n"]))
    a_scale = np.float32(rng.uniform(0.01, 0.05))
    b_scale = _w_scales(rng, p["n"], p["wbits"])
    acc = matmul_int.matmul_int(a, b, a_zero_point=a_zero_point, b_zero_point=0)
    y, y_scale, y_zero_point = _quant_tail(p, acc, a_scale, b_scale, axis=1)
    wdtype = "int4" if p["wbits"] == 4 else "int8"
    return [
        GoldenTensor("input", a, _act(p), "input", "MK",
                     {"scale": a_scale, "zero_point": a_zero_point}),
        GoldenTensor("weight", b, wdtype, "weight", "KN",
                     {"scale": b_scale, "zero_point": 0, "axis": 1}),
        GoldenTensor("accumulator", acc, "int32", "intermediate", "MN"),
        GoldenTensor("output", y, p["odtype"], "output", "MN",
                     {"scale": y_scale, "zero_point": y_zero_point}),
    ]


def _generate_quantize(p: dict, rng: np.random.Generator) -> list[GoldenTensor]:
    qmin, qmax = qrange(p["dtype"])
    scale = np.float32(p["scale"])
    zero_point = 0 if qmin < 0 else (qmax + 1) // 2
    span = (qmax - qmin + 4) * float(scale) / 2  # a little beyond the range: saturation
    x = rng.uniform(-span, span, size=p["shape"]).astype(np.float32)
    flat = x.reshape(-1)
    ties = (np.arange(flat.size) % 4 == 1)  # every 4th element on an exact .5 tie
    flat[ties] = ((rng.integers(-qmax, qmax, size=int(ties.sum())) + 0.5) * scale).astype(
        np.float32)
    q = quantize.quantize(x, scale, zero_point, dtype=p["dtype"], rounding=p["rounding"])
    quant = {"scale": scale, "zero_point": zero_point}
    return [GoldenTensor("input", x, "float32", "input", None),
            GoldenTensor("output", q, p["dtype"], "output", None, quant)]


def _generate_requantize(p: dict, rng: np.random.Generator) -> list[GoldenTensor]:
    shape = p["shape"]
    if len(shape) < 2:
        raise ValueError(f"shape={list(shape)} needs a channel axis (at least 2 dims)")
    acc = rng.integers(-(1 << 16), 1 << 16, size=shape, endpoint=True).astype(np.int32)
    acc.reshape(-1)[:2] = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    x_scale = np.float32(rng.uniform(0.01, 0.05))
    w_scale = _w_scales(rng, shape[1], 8)
    y, y_scale, y_zero_point = _quant_tail(p, acc, x_scale, w_scale, axis=1)
    return [
        GoldenTensor("input", acc, "int32", "input", None,
                     {"scale": (x_scale * w_scale).astype(np.float32), "zero_point": 0,
                      "axis": 1, "input_scale": x_scale, "weight_scale": w_scale}),
        GoldenTensor("output", y, p["odtype"], "output", None,
                     {"scale": y_scale, "zero_point": y_zero_point}),
    ]


_QUANT_TAIL = {
    "adtype": (_choice("int8", "uint8"), "int8"),
    "odtype": (_choice("int8", "uint8"), "int8"),
    "mode": (_choice(*REQUANT_MODES), "onnxruntime"),
    "relu": (_bool, False),
}


def _tail_name(p: dict) -> str:
    parts = []
    if p["adtype"] != "int8" or p["odtype"] != "int8":
        parts.append(f"{p['adtype']}to{p['odtype']}")
    if p["mode"] != "onnxruntime":
        parts.append(p["mode"].replace("-", ""))
    if p["relu"]:
        parts.append("relu")
    return "".join(f"_{x}" for x in parts)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


OPERATORS: dict[str, _OpSpec] = {
    "conv2d": _OpSpec(
        params={"n": (_size(1), 1), "c": (_size(1), 8), "h": (_size(1), 8), "w": (_size(1), 8),
                "k": (_size(1), 8), "r": (_size(1), 3), "s": (_size(1), 3), "st": (_size(1), 1),
                "p": (_size(0), 1), "d": (_size(1), 1), "g": (_size(1), 1),
                "wbits": (_choice("4", "8"), "4"), "gate": (_percent, 0),
                **_QUANT_TAIL},
        name=lambda p: (f"conv2d_n{p['n']}_c{p['c']}_h{p['h']}_w{p['w']}_k{p['k']}_r{p['r']}"
                        f"_s{p['s']}_st{p['st']}_p{p['p']}_d{p['d']}_g{p['g']}_w{p['wbits']}a8"
                        + _tail_name(p) + (f"_gate{p['gate']}" if p["gate"] else "")),
        generate=_generate_conv2d,
        doc="quantized conv: conv2d_int (NCHW x, OIHW w, int32 bias) then requantize; "
            "n,c,h,w input; k out channels; r,s kernel; st stride; p pad; d dilation; g groups; "
            "gate: percent of input channels gated off per sample (gated_conv2d_int, "
            "writes gate_mask)",
    ),
    "matmul": _OpSpec(
        params={"m": (_size(1), 8), "k": (_size(1), 32), "n": (_size(1), 8),
                "wbits": (_choice("4", "8"), "4"), "zblocks": (_percent, 0), **_QUANT_TAIL},
        name=lambda p: (f"matmul_m{p['m']}_k{p['k']}_n{p['n']}_w{p['wbits']}a8" + _tail_name(p)
                        + (f"_zb{p['zblocks']}" if p["zblocks"] else "")),
        generate=_generate_matmul,
        doc="quantized matmul: matmul_int (M x K activations, K x N weights) then requantize; "
            "zblocks: percent of 4x4 activation blocks set to the zero point (zero-skip)",
    ),
    "quantize": _OpSpec(
        params={"shape": (_shape, (1, 8, 4, 4)), "scale": (_scale, 0.05),
                "dtype": (_choice("int8", "uint8", "int4", "uint4", "int16", "uint16"), "int8"),
                "rounding": (_choice("half_even", "half_away"), "half_even")},
        name=lambda p: (f"quantize_{_dims(p['shape'])}_{p['dtype']}_{p['rounding']}"
                        .replace("_half_even", "")),
        generate=_generate_quantize,
        doc="float32 -> integer quantization with ties at .5 and saturation",
    ),
    "requantize": _OpSpec(
        params={"shape": (_shape, (1, 8, 4, 4)), "odtype": _QUANT_TAIL["odtype"],
                "mode": _QUANT_TAIL["mode"], "relu": _QUANT_TAIL["relu"]},
        name=lambda p: (f"requantize_{_dims(p['shape'])}"
                        + _tail_name({"adtype": "int8", **p})),
        generate=_generate_requantize,
        doc="int32 accumulators -> int8/uint8 with per-channel scales (axis 1)",
    ),
}


def _conv_out(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def check_case_size(op: str, p: Mapping[str, Any]) -> None:
    """Geometry that has an output, and tensors within :data:`MAX_ELEMENTS`, checked before
    anything is allocated (ValueError naming the parameters)."""
    sizes: dict[str, int] = {}
    if op == "conv2d":
        oh = _conv_out(p["h"], p["r"], p["st"], p["p"], p["d"])
        ow = _conv_out(p["w"], p["s"], p["st"], p["p"], p["d"])
        if oh < 1 or ow < 1:
            raise ValueError(f"op 'conv2d': kernel {p['r']}x{p['s']} (dilation {p['d']}) does "
                             f"not fit the {p['h']}x{p['w']} input with pad {p['p']}: the "
                             f"output would be {oh}x{ow}")
        if p["c"] % p["g"] or p["k"] % p["g"]:
            raise ValueError(f"op 'conv2d': groups g={p['g']} must divide c={p['c']} and "
                             f"k={p['k']}")
        sizes = {"input": p["n"] * p["c"] * p["h"] * p["w"],
                 "weight": p["k"] * p["c"] // p["g"] * p["r"] * p["s"],
                 "output": p["n"] * p["k"] * oh * ow,
                 "im2col patches": p["n"] * oh * ow * p["c"] * p["r"] * p["s"]}
    elif op == "matmul":
        sizes = {"input": p["m"] * p["k"], "weight": p["k"] * p["n"], "output": p["m"] * p["n"]}
    elif "shape" in p:
        sizes = {"tensor": math.prod(p["shape"])}
    big = {name: n for name, n in sizes.items() if n > MAX_ELEMENTS}
    if big:
        name, n = max(big.items(), key=lambda item: item[1])
        raise ValueError(f"op {op!r}: the {name} would have {n:,} elements, more than the "
                         f"{MAX_ELEMENTS:,} a golden-vector case may hold")


def _ints(value: Any) -> tuple[int, ...]:
    if isinstance(value, list | tuple):
        return tuple(_int(v) for v in value)
    return tuple(_int(v) for v in str(value).replace("x", ",").split(",") if v.strip())


def _parser(default: Any) -> Callable[[Any], Any] | None:
    """The parameter parser of a keyword argument's default (None: not a parameter)."""
    if isinstance(default, bool):
        return _bool
    if isinstance(default, int):
        return _int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str
    if isinstance(default, tuple) and all(isinstance(v, int) for v in default):
        return _ints
    return None


def _value_name(value: Any) -> str:
    text = _dims(value) if isinstance(value, tuple) else str(value)
    return text.replace("-", "m").replace(".", "p")


def _logical(array: np.ndarray, kind: str | None) -> tuple[np.ndarray, str]:
    if kind in ("i4", "u4"):
        return array, "int4" if kind == "i4" else "uint4"
    if array.dtype == np.bool_:
        return array.astype(np.uint8), "uint8"
    return array, array.dtype.name


def _tensor_spec(op: str, case: op_cases.TensorCase) -> _OpSpec:
    """A row of ``validation.op_cases`` as an operator case: ``shape`` and the plain keyword
    arguments are its parameters; tensors are what the reference function takes and returns."""
    params: dict[str, tuple[Callable[[Any], Any], Any]] = {}
    if case.shape:
        params["shape"] = (_shape, case.shape)
    for key, default in case.attrs.items():
        parser = _parser(default)
        if parser is not None:
            params[key] = (parser, default)

    def name(p: dict) -> str:
        parts = [_dims(p["shape"])] if "shape" in p else []
        parts += [f"{k}{_value_name(v)}" for k, v in p.items()
                  if k != "shape" and v != case.attrs[k]]
        return "_".join([op, *parts])

    def generate(p: dict, rng: np.random.Generator) -> list[GoldenTensor]:
        attrs = {**case.attrs, **{k: v for k, v in p.items() if k != "shape"}}
        ins, outs = case.tensors(p.get("shape", case.shape), attrs, rng)
        kinds = {i.name: i.kind for i in case.inputs if i.value is None}
        tensors = []
        for tname, value, role in ins:
            if isinstance(value, np.ndarray | np.generic):
                array, dtype = _logical(np.asarray(value), kinds.get(tname))
                tensors.append(GoldenTensor(tname, array, dtype, role))
        for tname, value in outs:
            array, dtype = _logical(value, None)
            tensors.append(GoldenTensor(tname, array, dtype, "output"))
        return tensors

    doc = case.doc or (case.fn.__doc__ or "").strip().splitlines()[0]
    return _OpSpec(params=params, name=name, generate=generate,
                   doc=f"reference.{op}: {doc}")


OPERATORS.update({op: _tensor_spec(op, case) for op, case in op_cases.CASES.items()})


@dataclass(frozen=True)
class OperatorCase:
    """One operator with parsed parameters and a seed. ``name`` spells the parameters."""

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    @staticmethod
    def parse(op: str, raw: Mapping[str, Any], seed: int = 0) -> OperatorCase:
        """Parse raw (string or YAML-typed) parameters, filling defaults; errors name the key."""
        if op not in OPERATORS:
            raise ValueError(f"op={op!r} is not a golden-vector operator; expected one of "
                             f"{sorted(OPERATORS)}")
        spec = OPERATORS[op]
        unknown = sorted(set(raw) - set(spec.params))
        if unknown:
            raise ValueError(f"op {op!r}: unknown parameter(s) {unknown}; accepted: "
                             f"{sorted(spec.params)}")
        params = {}
        for key, (parse, default) in spec.params.items():
            if key in raw:
                try:
                    params[key] = parse(raw[key])
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"op {op!r}: parameter {key}={raw[key]!r}: {exc}") from None
            else:
                params[key] = default
        if "wbits" in params:
            params["wbits"] = int(params["wbits"])
        check_case_size(op, params)
        seed = _int(seed)
        if not 0 <= seed < 2**32:
            raise ValueError(f"op {op!r}: seed={seed} must be in 0..{2**32 - 1}")
        return OperatorCase(op, params, seed)

    @property
    def name(self) -> str:
        return OPERATORS[self.op].name(dict(self.params))

    def tensors(self) -> list[GoldenTensor]:
        """The case's tensors (inputs, weights, intermediates, outputs) from reference/."""
        rng = np.random.default_rng(self.seed)
        return OPERATORS[self.op].generate(dict(self.params), rng)

    def describe(self) -> dict[str, Any]:
        """The manifest's case fields."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return {"name": self.name, "kind": "operator", "op": self.op, "params": params,
                "seed": self.seed}


def parse_param_list(items: list[str] | None) -> dict[str, str]:
    """``["c=16", "k=32,wbits=4"]`` -> ``{"c": "16", "k": "32", "wbits": "4"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in _split_params(item):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--param {part!r}: expected KEY=VALUE")
            if key.strip() in out:
                raise ValueError(f"--param {key.strip()} is given twice ({out[key.strip()]!r} "
                                 f"and {value.strip()!r}); give each parameter once")
            out[key.strip()] = value.strip()
    return out


def _split_params(item: str) -> list[str]:
    """Split on commas that start a new KEY=, so ``shape=1,8,4,4`` stays one item."""
    parts: list[str] = []
    for chunk in item.split(","):
        if "=" in chunk or not parts:
            parts.append(chunk)
        else:
            parts[-1] += "," + chunk
    return [p for p in parts if p.strip()]


def load_case_file(path: str | os.PathLike, *, seed: int | None = None) -> list[OperatorCase]:
    """Cases of a YAML case file (see the module docstring); ``seed`` overrides the file's."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise ValueError(f"case file {str(path)!r} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"case file {str(path)!r} is not valid YAML: {exc}") from exc
    if isinstance(data, list):
        data = {"cases": data}
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValueError(f"case file {str(path)!r}: expected a 'cases:' list of mappings")
    unknown = sorted(set(data) - {"cases", "seed"})
    if unknown:
        raise ValueError(f"case file {str(path)!r}: unknown top-level key(s) {unknown}; "
                         "accepted: ['cases', 'seed']")
    default_seed = seed if seed is not None else data.get("seed", 0)
    cases = []
    for i, item in enumerate(data["cases"]):
        if not isinstance(item, dict) or "op" not in item:
            raise ValueError(f"case file {str(path)!r}: case {i} must be a mapping with 'op'")
        raw = {k: v for k, v in item.items() if k not in ("op", "seed")}
        case_seed = seed if seed is not None else item.get("seed", default_seed)
        try:
            cases.append(OperatorCase.parse(str(item["op"]), raw, case_seed))
        except ValueError as exc:
            raise ValueError(f"case file {str(path)!r}: case {i}: {exc}") from None
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"case file {str(path)!r}: duplicate case(s) {dupes} would write the "
                         "same directory")
    return cases


# ------------------------------------------------------------- image preprocessing (issue 21)
# Self-contained block: uint8 images (H, W, C) through reference.image_ops, the preprocessing an
# ISP or a camera pipeline runs before the network's quantized input.
def _generate_image_preprocess(p: dict, rng: np.random.Generator) -> list[GoldenTensor]:
    from reference import image_ops

    img = rng.integers(0, 256, size=(p["h"], p["w"], 3), dtype=np.uint8)
    img.reshape(-1)[:3] = (0, 255, 128)
    resize = {"bilinear": image_ops.resize_bilinear,
              "nearest": image_ops.resize_nearest}[p["resize"]]
    resized = resize(img, width=p["ow"], height=p["oh"])
    adjusted = image_ops.adjust_brightness_contrast(resized, contrast_q=p["contrast_q"],
                                                    brightness=p["brightness"])
    scale = np.float32(p["scale"])
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)       # ImageNet statistics
    q = image_ops.normalize_to_int8(adjusted, mean, std, scale=scale, zero_point=0)
    lut = image_ops.normalization_lut(mean, std, scale=scale, zero_point=0)
    return [GoldenTensor("input", img, "uint8", "input", "HWC"),
            GoldenTensor("resized", resized, "uint8", "intermediate", "HWC"),
            GoldenTensor("adjusted", adjusted, "uint8", "intermediate", "HWC"),
            GoldenTensor("lut", lut, "int8", "intermediate", "C256"),
            GoldenTensor("output", q, "int8", "output", "HWC",
                         {"scale": scale, "zero_point": 0})]


def _generate_image_color(p: dict, rng: np.random.Generator) -> list[GoldenTensor]:
    from reference import image_ops

    img = rng.integers(0, 256, size=(p["h"], p["w"], 3), dtype=np.uint8)
    img.reshape(-1)[:6] = (0, 0, 0, 255, 255, 255)
    return [GoldenTensor("input", img, "uint8", "input", "HWC"),
            GoldenTensor("gray", image_ops.rgb_to_gray(img), "uint8", "output", "HW"),
            GoldenTensor("ycrcb", image_ops.rgb_to_ycrcb(img), "uint8", "output", "HWC")]


OPERATORS.update({
    "image_preprocess": _OpSpec(
        params={"h": (_int, 37), "w": (_int, 53), "oh": (_int, 32), "ow": (_int, 32),
                "resize": (_choice("bilinear", "nearest"), "bilinear"),
                "contrast_q": (_int, 288), "brightness": (_int, 8), "scale": (float, 0.0186)},
        name=lambda p: (f"image_preprocess_h{p['h']}_w{p['w']}_to{p['oh']}x{p['ow']}_"
                        f"{p['resize']}_c{p['contrast_q']}_b{p['brightness']}"),
        generate=_generate_image_preprocess,
        doc="uint8 RGB image -> resize (OpenCV's integer bilinear or nearest) -> fixed-point "
            "contrast (contrast_q / 256 about 128) and brightness -> int8 network input "
            "(ImageNet mean/std, scale) through a 256-entry table per channel",
    ),
    "image_color": _OpSpec(
        params={"h": (_int, 16), "w": (_int, 16)},
        name=lambda p: f"image_color_h{p['h']}_w{p['w']}",
        generate=_generate_image_color,
        doc="uint8 RGB image -> gray and YCrCb in OpenCV's fixed point",
    ),
})

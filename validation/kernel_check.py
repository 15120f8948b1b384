"""Run registered kernels (``kernels.registry``) on golden vectors and compare bit for bit.

A kernel is checked on a *golden case*: the tensors of a directory written by ``gilt golden``
(read back verified) or a fresh in-memory case. An adapter per reference operator (the one the
registry says the kernel must equal) turns the case into reference-style arguments and names the
golden tensor the kernel must reproduce:

===================================  ==========================  =========================
reference operator                   golden cases it accepts     compared with
===================================  ==========================  =========================
conv_int:conv2d_int                  conv2d, network qconv       ``accumulator``
tiling:tiled_conv2d_int              conv2d, network qconv       ``accumulator`` + record
gating:gated_conv2d_int              conv2d (gate=), qconv       ``accumulator`` + record
fusion:conv_bn_relu_int              conv2d                      ``output``
matmul_int:matmul_int                matmul                      ``accumulator``
zeroskip:skip_matmul_int             matmul (zblocks=)           ``accumulator`` + record
requantize:requantize                conv2d, matmul, requantize  ``output``
quantize:quantize                    quantize                    ``output``
quantize:dequantize                  quantize                    the reference's result
===================================  ==========================  =========================

Before a kernel is trusted the reference itself must still reproduce the stored tensor (else
the vectors are stale: the numeric contract changed). Operators that return ``(output, record)`` also have their record compared with the
reference's (``KernelSpec.compare``). ``check_all_kernels`` runs every registered kernel on a
fresh small case (odd sizes; a zero-block matmul for zero-skip; a 16x16 map so tiling
engages; half the channels gated) and prints one line per kernel. A registered kernel whose
reference has no adapter is reported as a failure naming it, never skipped silently.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from validation.cases import OperatorCase
from validation.check import Comparison, compare, failed_comparison
from validation.manifest import load_manifest, load_tensor, verify_files


@dataclass(frozen=True)
class GoldenCase:
    """What an adapter sees: case fields, arrays by tensor name, quant params by tensor name."""

    case: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]
    quant: Mapping[str, Mapping[str, Any]]

    @staticmethod
    def from_dir(directory: str | Path) -> GoldenCase:
        manifest = load_manifest(directory)
        verify_files(directory, manifest)
        arrays, quant = {}, {}
        for entry in manifest["tensors"]:
            fmt = next(f for f in ("npy", "bin", "hex") if f in entry["files"])
            arrays[entry["name"]] = load_tensor(directory, entry["name"], fmt=fmt,
                                                manifest=manifest)
            quant[entry["name"]] = entry.get("quant") or {}
        return GoldenCase(manifest, arrays, quant)

    @staticmethod
    def from_case(case: OperatorCase) -> GoldenCase:
        tensors = case.tensors()
        return GoldenCase(case.describe(), {t.name: t.array for t in tensors},
                          {t.name: dict(t.quant or {}) for t in tensors})

    @property
    def op(self) -> str:
        return str(self.case.get("op"))

    def q(self, tensor: str, key: str, default: Any = None) -> Any:
        value = self.quant.get(tensor, {}).get(key, default)
        return np.asarray(value, np.float32) if key == "scale" else value


def _conv_geometry(g: GoldenCase) -> dict:
    if g.case.get("kind") == "network_layer":
        a = g.case["attrs"]
        return {"strides": tuple(a["strides"]), "pads": tuple(a["pads"]),
                "dilations": tuple(a["dilations"]), "groups": a.get("group", 1)}
    p = g.case["params"]
    return {"strides": (p["st"],) * 2, "pads": (p["p"],) * 4, "dilations": (p["d"],) * 2,
            "groups": p["g"]}


def _conv_args(g: GoldenCase):
    zp = g.q("input", "zero_point", 0)
    x = g.arrays["input"]
    if "gate_mask" in g.arrays:  # a gated network layer: masked channels read as zero point
        from validation.network import gate_input
        x = gate_input(x, g.arrays["gate_mask"], zp)
    return ((x, g.arrays["weight"]),
            {"x_zero_point": zp, "bias": g.arrays.get("bias"), **_conv_geometry(g)})


def _matmul_args(g: GoldenCase):
    return ((g.arrays["input"], g.arrays["weight"]),
            {"a_zero_point": g.q("input", "zero_point", 0)})


def _requantize_args(g: GoldenCase):
    y_zp = int(g.q("output", "zero_point", 0))
    if g.op == "requantize":
        in_scale, w_scale = g.q("input", "input_scale"), g.q("input", "weight_scale")
        acc = g.arrays["input"]
    else:
        in_scale, w_scale = g.q("input", "scale"), g.q("weight", "scale")
        acc = g.arrays["accumulator"]
    params = g.case.get("params", {})
    dtype = str(g.arrays["output"].dtype)
    hi = int(np.iinfo(g.arrays["output"].dtype).max)
    return ((np.asarray(acc), np.float32(in_scale), np.asarray(w_scale, np.float32),
             np.float32(g.q("output", "scale")), y_zp),
            {"mode": params.get("mode", g.case.get("requantize_mode", "onnxruntime")),
             "dtype": dtype, "axis": 1, "clamp": (y_zp, hi) if params.get("relu") else None})


def _quantize_args(g: GoldenCase):
    p = g.case["params"]
    return ((g.arrays["input"], np.float32(g.q("output", "scale")),
             int(g.q("output", "zero_point", 0))),
            {"dtype": p["dtype"], "rounding": p["rounding"]})


def _dequantize_args(g: GoldenCase):
    return ((g.arrays["output"], np.float32(g.q("output", "scale")),
             int(g.q("output", "zero_point", 0))), {})


def _gated_conv_args(g: GoldenCase):
    x = g.arrays["input"]
    mask = g.arrays.get("gate_mask")
    mask = np.ones(x.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    return ((x, g.arrays["weight"], mask),
            {"kind": "channel", "x_zero_point": g.q("input", "zero_point", 0),
             "bias": g.arrays.get("bias"), **_conv_geometry(g)})


def _conv_bn_relu_args(g: GoldenCase):
    relu = bool(g.case.get("params", {}).get("relu")) or \
        g.case.get("attrs", {}).get("activation") == "relu"
    params = g.case.get("params", {})
    return ((g.arrays["input"], g.arrays["weight"], g.arrays.get("bias")),
            {"x_scale": np.float32(g.q("input", "scale")),
             "w_scale": np.asarray(g.q("weight", "scale"), np.float32),
             "out_scale": np.float32(g.q("output", "scale")),
             "x_zero_point": g.q("input", "zero_point", 0),
             "out_zero_point": int(g.q("output", "zero_point", 0)),
             "activation": "relu" if relu else None,
             "mode": params.get("mode", g.case.get("requantize_mode", "onnxruntime")),
             "dtype": str(g.arrays["output"].dtype), **_conv_geometry(g)})


@dataclass(frozen=True)
class Adapter:
    cases: tuple[str, ...]  # golden case ops it accepts
    build: Callable[[GoldenCase], tuple[tuple, dict]]
    expected: str | None  # golden tensor to reproduce; None: the reference on the same args
    fresh: tuple[str, dict]  # (op, params) of the fresh case for --all-kernels


_CONV_CASES = ("conv2d", "qconv")
#: reference operator ("module:function", as kernels.registry names it) -> adapter. Keyed by
#: the reference, not the kernel's name, so a kernel is checked however it is called.
ADAPTERS: dict[str, Adapter] = {
    "reference.conv_int:conv2d_int": Adapter(
        _CONV_CASES, _conv_args, "accumulator",
        ("conv2d", {"c": 3, "h": 7, "w": 5, "k": 5, "wbits": 4})),
    "reference.tiling:tiled_conv2d_int": Adapter(
        _CONV_CASES, _conv_args, "accumulator",
        ("conv2d", {"c": 2, "h": 17, "w": 16, "k": 3, "wbits": 4})),
    "reference.gating:gated_conv2d_int": Adapter(
        _CONV_CASES, _gated_conv_args, "accumulator",
        ("conv2d", {"n": 2, "c": 6, "h": 5, "w": 5, "k": 3, "gate": 50})),
    "reference.fusion:conv_bn_relu_int": Adapter(
        ("conv2d",), _conv_bn_relu_args, "output",
        ("conv2d", {"c": 3, "h": 6, "w": 5, "k": 4, "relu": True})),
    "reference.matmul_int:matmul_int": Adapter(
        ("matmul",), _matmul_args, "accumulator",
        ("matmul", {"m": 5, "k": 19, "n": 6, "wbits": 4})),
    "reference.zeroskip:skip_matmul_int": Adapter(
        ("matmul",), _matmul_args, "accumulator",
        ("matmul", {"m": 9, "k": 21, "n": 6, "zblocks": 50})),
    "reference.requantize:requantize": Adapter(
        ("conv2d", "matmul", "requantize"), _requantize_args, "output",
        ("requantize", {"shape": "2x5x3x3", "mode": "tflite", "relu": True})),
    "reference.quantize:quantize": Adapter(
        ("quantize",), _quantize_args, "output", ("quantize", {"shape": "3x5x7", "dtype": "int4"})),
    "reference.quantize:dequantize": Adapter(
        ("quantize",), _dequantize_args, None, ("quantize", {"shape": "3x5x7", "dtype": "uint8"})),
}


def _registry():
    try:
        from kernels import registry
    except ImportError as exc:
        raise LookupError(f"the kernel registry (kernels/registry.py) cannot be imported: "
                          f"{exc}") from exc
    return registry


def list_kernels() -> str:
    lines = []
    for spec in _registry().KERNELS:
        adapter = ADAPTERS.get(spec.reference)
        accepts = ", ".join(adapter.cases) if adapter else "no golden-vector adapter"
        lines.append(f"{spec.name:<24} = {spec.reference:<40} golden cases: {accepts}")
    return "\n".join(lines)


def check_kernel(spec, golden: GoldenCase, *, label: str | None = None,
                 first_n: int = 10) -> Comparison:
    """Run kernel ``spec`` on ``golden``; compare with the golden tensor (and record)."""
    label = label or spec.name
    adapter = ADAPTERS.get(spec.reference)
    if adapter is None:
        return failed_comparison(label, f"no golden-vector adapter for {spec.reference!r} "
                                        f"(adapters: {sorted(ADAPTERS)})")
    if golden.op not in adapter.cases:
        return failed_comparison(label, f"kernel {spec.name} checks golden cases of "
                                        f"{list(adapter.cases)}, not {golden.op!r}")
    args, kwargs = adapter.build(golden)
    empty = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.size == 0]
    if empty:  # kernels take non-empty operands (a zero batch once divided by zero in one)
        return failed_comparison(label, f"operand {empty[0]} of {spec.name} is empty (shape "
                                        f"{list(args[empty[0]].shape)}); kernels are checked "
                                        "on non-empty tensors")
    try:
        reference = spec.load_reference()(*args, **kwargs)
        # the first call compiles (Numba JIT) and runs; the second only runs
        first_start = time.perf_counter()
        got = spec.run(*args, **kwargs)
        second_start = time.perf_counter()
        again = spec.run(*args, **kwargs)
        seconds = time.perf_counter() - second_start
    except Exception as exc:  # a kernel that crashes or is not there yet is a failed check
        first_line = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
        return failed_comparison(label, f"{type(exc).__name__}: {first_line}")
    compile_seconds = max(0.0, (second_start - first_start) - seconds)
    if not _same_output(got, again):
        return failed_comparison(label, "a second call on the same inputs gave another "
                                        "result (non-deterministic kernel)")
    record_problems = []
    if spec.returns_record:
        record_problems = [p for p in spec.compare(got, reference) if p.startswith("record.")]
        got, reference = got[0], reference[0]
    expected = golden.arrays[adapter.expected] if adapter.expected else reference
    if adapter.expected and not np.array_equal(reference, expected):
        return failed_comparison(label, f"the reference {spec.reference} no longer reproduces "
                                        f"golden tensor {adapter.expected!r}: regenerate the "
                                        "vectors (numeric contract changed?)")
    result = compare(np.asarray(got), expected, name=label, first_n=first_n)
    if record_problems:
        result = replace(result, error="; ".join(record_problems))
    return replace(result, seconds=seconds, compile_seconds=compile_seconds)


def _same_output(a, b) -> bool:
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same_output(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    try:
        return bool(a == b)
    except Exception:  # records without equality: not checked
        return True


def check_kernel_on_dir(name: str, directory: str | Path, *, first_n: int = 10
                        ) -> list[Comparison]:
    """``gilt check DIR --kernel NAME``."""
    spec = _registry().get(name)
    golden = GoldenCase.from_dir(directory)
    return [check_kernel(spec, golden, label=f"{name} on {golden.case.get('name')}",
                         first_n=first_n)]


def use_cuda_simulator_without_gpu() -> bool:
    """Select Numba's CUDA simulator when no NVIDIA device is present, so CUDA kernels can be
    checked on any machine; must run before numba is imported. Returns whether it is on."""
    if "numba" not in sys.modules and not Path("/dev/nvidiactl").exists():
        os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def check_all_kernels(*, seed: int = 0, first_n: int = 10, specs=None, backend: str | None = None,
                      out: TextIO | None = sys.stdout) -> list[Comparison]:
    """Every registered kernel (of ``backend``, if given) on fresh golden vectors; one line per
    kernel to ``out``."""
    results = []
    cache: dict[tuple, GoldenCase] = {}
    specs = specs if specs is not None else _registry().KERNELS
    for spec in specs:
        if backend is not None and spec.backend != backend:
            continue
        adapter = ADAPTERS.get(spec.reference)
        if adapter is None:
            c = failed_comparison(spec.name, f"no golden-vector adapter for {spec.reference!r}")
        else:
            op, params = adapter.fresh
            key = (op, tuple(sorted(params.items())))
            if key not in cache:
                cache[key] = GoldenCase.from_case(OperatorCase.parse(op, params, seed))
            c = check_kernel(spec, cache[key], first_n=first_n)
        results.append(c)
        if out is not None:
            case = adapter.fresh[0] if adapter else "-"
            detail = (c.error if c.error else f"{c.mismatches}/{c.total} mismatches")
            timing = ("" if c.compile_seconds is None else
                      f"  (compile {c.compile_seconds:.2f} s, run {c.seconds * 1e3:.2f} ms)")
            out.write(f"{'PASS' if c.passed else 'FAIL'}  {spec.name:<22} vs {spec.reference:<38}"
                      f" {case:<10} {list(c.shape)!s:<16} {detail}{timing}\n")
            out.flush()
    return results

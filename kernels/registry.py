"""The kernel registry: every kernel, the reference operator it must equal, what it supports.

Kept as data (`KERNELS`, a tuple of `KernelSpec`) so that `validation/` and the tests can
enumerate every kernel without importing Numba-CUDA until one is run. Entries are paired
across backends by `op`: `cpu.matmul_int` and `cuda.matmul_int` both claim to equal
`reference.matmul_int:matmul_int` on the same arguments.

    from kernels.registry import KERNELS, get
    spec = get("cpu.matmul_int")
    out = spec.run(a, b, a_zero_point=3)                  # the kernel
    ref = spec.load_reference()(a, b, a_zero_point=3)     # the golden model
    assert np.array_equal(out, ref)

`spec.compare(out, ref)` knows how to compare results of operators that return
`(output, record)` (the record's counts and bitmaps must match too).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

import numpy as np

__all__ = ["BACKENDS", "KERNELS", "KernelSpec", "by_op", "get", "ops"]

BACKENDS = ("cpu", "cuda")


def _import(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class KernelSpec:
    """One kernel entry point.

    name: "<backend>.<op>"; op: the operator (pairs backends); kernel / reference:
    "module:function" of the kernel and of the reference operator it equals (same signature);
    dtypes: supported input dtypes; shapes: supported shapes/attributes in words;
    returns_record: the operator returns (output, record) and records are compared too.
    """

    name: str
    op: str
    backend: str
    kernel: str
    reference: str
    dtypes: tuple[str, ...]
    shapes: str
    returns_record: bool = False

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.name != f"{self.backend}.{self.op}":
            raise ValueError(f"name must be '<backend>.<op>' = {self.backend}.{self.op}, "
                             f"got {self.name!r}")

    def load(self):
        """The kernel's host function (imports its module; CUDA modules import numba.cuda)."""
        return _import(self.kernel)

    def load_reference(self):
        """The reference operator this kernel must equal."""
        return _import(self.reference)

    def run(self, *args, **kwargs):
        """Run the kernel on reference-style arguments."""
        return self.load()(*args, **kwargs)

    def compare(self, out, ref) -> list[str]:
        """Differences between a kernel result and the reference's (empty list: equal).

        Integer outputs are compared with np.array_equal (float32 outputs too: the kernels
        are bit-exact, so equality, NaN-free by contract, is the test); records field by field.
        """
        problems = []
        if self.returns_record:
            (out, rec), (ref, ref_rec) = out, ref
            for field in dataclasses.fields(ref_rec):
                a, b = getattr(rec, field.name), getattr(ref_rec, field.name)
                same = np.array_equal(a, b) if isinstance(b, np.ndarray) else a == b
                if not same:
                    problems.append(f"record.{field.name}: kernel {a!r} != reference {b!r}")
        if out.dtype != ref.dtype or out.shape != ref.shape:
            problems.append(f"output dtype/shape {out.dtype}{out.shape} != reference "
                            f"{ref.dtype}{ref.shape}")
        elif not np.array_equal(out, ref):
            bad = np.argwhere(out != ref)
            first = tuple(int(i) for i in bad[0])
            problems.append(f"{len(bad)} of {ref.size} elements differ; first at {first}: "
                            f"kernel {out[first]!r} != reference {ref[first]!r}")
        return problems


_I8 = ("int8", "uint8")
_GEMM_SHAPES = ("a (M, K), b (K, N), 2-D only; zero points scalar or per row (a) / per column "
                "(b); int4 weights as int8 -8..7 or packed with b_int4_shape=(K, N)")
_CONV_SHAPES = ("NCHW x, OIHW w, any strides/pads/dilations/groups (depthwise: direct kernel); "
                "w_zero_point scalar or per output channel; int4 weights via w_int4_shape")
_QUANT_SHAPES = "any shape; per tensor, per axis or blocked (block_size along axis)"
_REQUANT_SHAPES = "any shape; weight_scale scalar or per channel along axis; clamp"

_TABLE = (
    # op, kernel module, reference "module:function", dtypes, shapes, returns_record
    ("quantize", "quantize", "reference.quantize:quantize", ("float16", "float32", "float64"),
     _QUANT_SHAPES + "; int4/uint4/int8/uint8/int16/uint16 outputs", False),
    ("dequantize", "quantize", "reference.quantize:dequantize",
     ("int8", "uint8", "int16", "uint16", "int32"), _QUANT_SHAPES, False),
    ("requantize", "requantize", "reference.requantize:requantize", ("int32",),
     _REQUANT_SHAPES + "; modes onnxruntime, tflite, tflite-single, tflite-ruy, xnnpack", False),
    ("matmul_int", "matmul_int", "reference.matmul_int:matmul_int", _I8, _GEMM_SHAPES, False),
    ("conv2d_int", "conv_int", "reference.conv_int:conv2d_int", _I8, _CONV_SHAPES, False),
    ("tiled_conv2d_int", "tiling", "reference.tiling:tiled_conv2d_int", _I8,
     _CONV_SHAPES + "; output tiles `tile` (default 4x4) when H, W >= min_map", True),
    ("skip_matmul_int", "zeroskip", "reference.zeroskip:skip_matmul_int", _I8,
     "a (M, K), b (K, N); a_zero_point scalar, b_zero_point scalar or per column; "
     "a_block (bm, bk), b_block (bk, bn)", True),
    ("conv_bn_relu_int", "fusion", "reference.fusion:conv_bn_relu_int", _I8,
     "NCHW x, OIHW BN-folded int8/int4-valued w (symmetric), int32 bias, per-channel w_scale; "
     "activation None/relu/relu6; every requantize mode; int8/uint8 outputs", False),
    ("gated_conv2d_int", "gating", "reference.gating:gated_conv2d_int", _I8,
     _CONV_SHAPES + "; mask (N, C) for kind='channel' or (N, H, W) for kind='spatial'", True),
)


def _build() -> tuple[KernelSpec, ...]:
    specs = []
    for backend in BACKENDS:
        for op, module, reference, dtypes, shapes, record in _TABLE:
            specs.append(KernelSpec(name=f"{backend}.{op}", op=op, backend=backend,
                                    kernel=f"kernels.{backend}.{module}:{op}",
                                    reference=reference, dtypes=dtypes, shapes=shapes,
                                    returns_record=record))
    return tuple(specs)


#: Every kernel, CPU and CUDA, in a stable order.
KERNELS: tuple[KernelSpec, ...] = _build()


def get(name: str) -> KernelSpec:
    """The spec called `name` ("cpu.matmul_int"); KeyError lists the known names."""
    for spec in KERNELS:
        if spec.name == name:
            return spec
    raise KeyError(f"no kernel named {name!r}; known: {[s.name for s in KERNELS]}")


def by_op(op: str) -> tuple[KernelSpec, ...]:
    """Every backend's kernel for operator `op`."""
    return tuple(s for s in KERNELS if s.op == op)


def ops() -> tuple[str, ...]:
    """Operator names, in table order."""
    return tuple(dict.fromkeys(s.op for s in KERNELS))

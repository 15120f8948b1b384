"""The workload: what a network asks of hardware, layer by layer.

This is the one place the workload is defined. The golden run (``networks.golden``) produces it
from real tensors; the GPU, CPU and NPU models (``simulator.gpu``, ``simulator.cpu``,
``simulator.npu``) consume it. A workload can also be built by hand or from a SCALE-Sim topology
CSV, in which case the activity fields keep their dense defaults (nothing gated, nothing skipped).

Every compute layer is described by its convolution geometry (a matmul is a 1x1 conv on a
1 x rows "image", see :meth:`LayerWork.matmul`) plus what the golden run observed:

* ``macs_dense``    multiply-accumulates of the dense layer (no gating, no skipping); 0 for
  element-wise and pooling layers, whose operations are counted in ``ops`` instead;
* ``macs_done``     multiply-accumulates actually performed by the golden model;
* ``macs_skipped_gate`` and ``macs_skipped_zero``: the difference, split by cause
  (``macs_dense == macs_done + macs_skipped_gate + macs_skipped_zero``, checked);
* ``gate_mask``     bool array, active input channels per sample ``(N, C_in)``, or active output
  pixels ``(N, H_out, W_out)`` for spatial gating; ``None`` when the layer is not gated;
* ``act_zero_bitmap`` / ``weight_zero_bitmap``: bool arrays, True where a block of the operand is
  all zero, with the block shape in ``zero_block``; ``None`` when not measured.

Bytes are counted at the stored bit width (int4 weights: two per byte, rounded up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.geometry import conv_output_size, storage_bytes

#: Operator kinds a simulator must handle. ``conv`` covers grouped conv; ``depthwise`` is a
#: conv with groups == in_channels == out_channels / multiplier; ``matmul`` is a GEMM;
#: ``elementwise`` and ``pool`` are memory-bound passes: no MACs, their operations in ``ops``.
OP_KINDS = ("conv", "depthwise", "matmul", "elementwise", "pool")


def _pos_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _nonneg_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class LayerWork:
    """One layer of a workload. Build with :meth:`conv`, :meth:`matmul` or :meth:`elementwise`.

    Geometry is NCHW: input ``(batch, in_channels, in_h, in_w)``, weights
    ``(out_channels, in_channels // groups, kernel_h, kernel_w)``, output
    ``(batch, out_channels, out_h, out_w)``. ``pads`` is ONNX order (top, left, bottom, right).
    """

    name: str
    op: str
    batch: int
    in_channels: int
    in_h: int
    in_w: int
    out_channels: int
    out_h: int
    out_w: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    weight_bits: int = 8
    act_bits: int = 8
    out_bits: int = 8
    acc_bits: int = 32
    macs_dense: int = 0
    macs_done: int = 0
    macs_skipped_gate: int = 0
    macs_skipped_zero: int = 0
    ops: int = 0
    gate_mask: np.ndarray | None = field(default=None, compare=False, repr=False)
    act_zero_bitmap: np.ndarray | None = field(default=None, compare=False, repr=False)
    weight_zero_bitmap: np.ndarray | None = field(default=None, compare=False, repr=False)
    zero_block: tuple[int, ...] | None = None
    fused: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        if self.op not in OP_KINDS:
            raise ValueError(f"op must be one of {OP_KINDS}, got {self.op!r}")
        for key in ("batch", "in_channels", "in_h", "in_w", "out_channels", "out_h", "out_w",
                    "kernel_h", "kernel_w", "groups", "weight_bits", "act_bits", "out_bits",
                    "acc_bits"):
            _pos_int(key, getattr(self, key))
        for key in ("macs_dense", "macs_done", "macs_skipped_gate", "macs_skipped_zero", "ops"):
            _nonneg_int(key, getattr(self, key))
        if not self.is_compute and self.macs_dense:
            raise ValueError(f"layer {self.name!r}: a {self.op!r} layer has no MACs "
                             f"(macs_dense={self.macs_dense}); count its operations in ops")
        if self.op in ("conv", "depthwise", "matmul"):
            if self.in_channels % self.groups or self.out_channels % self.groups:
                raise ValueError(
                    f"groups={self.groups} must divide in_channels={self.in_channels} and "
                    f"out_channels={self.out_channels}")
        total = self.macs_done + self.macs_skipped_gate + self.macs_skipped_zero
        if total != self.macs_dense:
            raise ValueError(
                f"layer {self.name!r}: macs_done + skipped ({total}) must equal macs_dense "
                f"({self.macs_dense})")

    # ----------------------------------------------------------------- constructors
    @classmethod
    def conv(cls, name: str, *, batch: int, in_channels: int, in_h: int, in_w: int,
             out_channels: int, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
             pads: tuple[int, int, int, int] = (0, 0, 0, 0), dilation: tuple[int, int] = (1, 1),
             groups: int = 1, weight_bits: int = 8, act_bits: int = 8, out_bits: int = 8,
             macs_done: int | None = None, macs_skipped_gate: int = 0,
             macs_skipped_zero: int = 0, **activity) -> LayerWork:
        """A convolution; output size and dense MACs are derived. ``op`` is ``depthwise`` when
        ``groups == in_channels`` and ``groups > 1``, else ``conv``."""
        kh, kw = kernel
        out_h = conv_output_size(in_h, kh, stride[0], pads[0], pads[2], dilation[0])
        out_w = conv_output_size(in_w, kw, stride[1], pads[1], pads[3], dilation[1])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"layer {name!r}: output size {out_h}x{out_w} is empty")
        dense = batch * out_channels * out_h * out_w * (in_channels // groups) * kh * kw
        if macs_done is None:
            macs_done = dense - macs_skipped_gate - macs_skipped_zero
        op = "depthwise" if groups > 1 and groups == in_channels else "conv"
        return cls(name=name, op=op, batch=batch, in_channels=in_channels, in_h=in_h, in_w=in_w,
                   out_channels=out_channels, out_h=out_h, out_w=out_w, kernel_h=kh, kernel_w=kw,
                   stride=tuple(stride), pads=tuple(pads), dilation=tuple(dilation),
                   groups=groups, weight_bits=weight_bits, act_bits=act_bits,
                   out_bits=out_bits, macs_dense=dense, macs_done=macs_done,
                   macs_skipped_gate=macs_skipped_gate, macs_skipped_zero=macs_skipped_zero,
                   **activity)

    @classmethod
    def matmul(cls, name: str, *, m: int, n: int, k: int, batch: int = 1, weight_bits: int = 8,
               act_bits: int = 8, out_bits: int = 8, macs_done: int | None = None,
               macs_skipped_gate: int = 0, macs_skipped_zero: int = 0, **activity) -> LayerWork:
        """``Y[batch, m, n] = X[batch, m, k] @ W[k, n]``, stored as a 1x1 conv over an
        ``m x 1`` image with ``k`` input and ``n`` output channels."""
        dense = batch * m * n * k
        if macs_done is None:
            macs_done = dense - macs_skipped_gate - macs_skipped_zero
        return cls(name=name, op="matmul", batch=batch, in_channels=k, in_h=m, in_w=1,
                   out_channels=n, out_h=m, out_w=1, weight_bits=weight_bits, act_bits=act_bits,
                   out_bits=out_bits, macs_dense=dense, macs_done=macs_done,
                   macs_skipped_gate=macs_skipped_gate, macs_skipped_zero=macs_skipped_zero,
                   **activity)

    @classmethod
    def elementwise(cls, name: str, *, shape: tuple[int, int, int, int], op: str = "elementwise",
                    ops_per_element: int = 1, inputs: int = 1, act_bits: int = 8,
                    out_bits: int = 8) -> LayerWork:
        """A memory-bound pass over an NCHW tensor (add, activation, pooling output size equal
        to ``shape``); ``ops`` counts ``ops_per_element`` per output element (no MACs) and
        ``in_channels`` carries ``inputs * C`` so input bytes come out right."""
        n, c, h, w = shape
        ops = n * c * h * w * ops_per_element
        return cls(name=name, op=op, batch=n, in_channels=c * inputs, in_h=h, in_w=w,
                   out_channels=c, out_h=h, out_w=w, act_bits=act_bits, out_bits=out_bits,
                   weight_bits=8, ops=ops)

    # ----------------------------------------------------------------- derived views
    @property
    def is_compute(self) -> bool:
        return self.op in ("conv", "depthwise", "matmul")

    def gemm_shape(self) -> tuple[int, int, int, int]:
        """``(groups, M, N, K)``: the layer as ``groups`` independent GEMMs
        ``O[M x N] = I[M x K] . F[K x N]`` with M = batch*out_h*out_w output pixels,
        N = out_channels/groups filters and K = (in_channels/groups)*kernel_h*kernel_w."""
        g = self.groups
        return (g, self.batch * self.out_h * self.out_w, self.out_channels // g,
                (self.in_channels // g) * self.kernel_h * self.kernel_w)

    @property
    def weight_count(self) -> int:
        if not self.is_compute:
            return 0
        return self.out_channels * (self.in_channels // self.groups) * self.kernel_h * self.kernel_w

    @property
    def weight_bytes(self) -> int:
        return storage_bytes(self.weight_count, self.weight_bits)

    @property
    def act_in_bytes(self) -> int:
        return storage_bytes(self.batch * self.in_channels * self.in_h * self.in_w, self.act_bits)

    @property
    def act_out_bytes(self) -> int:
        return storage_bytes(self.batch * self.out_channels * self.out_h * self.out_w,
                             self.out_bits)

    @property
    def skip_fraction(self) -> float:
        return 0.0 if self.macs_dense == 0 else 1.0 - self.macs_done / self.macs_dense


@dataclass(frozen=True)
class Workload:
    """A network's layers in execution order, with where they came from."""

    name: str
    layers: tuple[LayerWork, ...]
    precision: str = "w8a8"
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        names = [layer.name for layer in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"workload {self.name!r}: duplicate layer names {dup}")

    @property
    def batch(self) -> int:
        """Inputs (images, sequences) per run: ``meta["batch"]`` when the producer recorded it,
        else the first layer's batch. Not the largest layer batch: attention matmuls carry
        batch x heads."""
        if self.meta.get("batch"):
            return int(self.meta["batch"])
        return self.layers[0].batch if self.layers else 1

    @property
    def compute_layers(self) -> tuple[LayerWork, ...]:
        return tuple(layer for layer in self.layers if layer.is_compute)

    @property
    def macs_dense(self) -> int:
        return sum(layer.macs_dense for layer in self.compute_layers)

    @property
    def macs_done(self) -> int:
        return sum(layer.macs_done for layer in self.compute_layers)

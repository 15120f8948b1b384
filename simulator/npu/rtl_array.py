"""The NPU model of gilt's own systolic array (``rtl/gilt_sa.v``): exact cycles, PE-busy and stall
counts from a layer's geometry (and, for zero-skip and gating, its masks).

This is a model *mode* for one microarchitecture, derived from the RTL's schedule (see
docs/rtl.md for the derivation); the RTL's performance counters must equal it on every layer.
With an R x C array, the layer's GEMM ``O[M x N] = I[M x K] . F[K x N]`` (batch 1, groups 1),
``K' = active channels * kh * kw`` (all channels without gating) and ``scan = C_in`` cycles when
the gate mask is scanned (0 otherwise):

**WS** (K on rows, N on columns, M streamed; column folds outer, K folds inner): every fold
preloads R rows (R cycles); a streamed fold issues M steps; after a streamed fold that is not the
last, the controller waits ``max(0, C - 2)`` cycles (the next preload follows the last
wavefront down the rows); the run ends ``R + C`` cycles after the last fold (flush)::

    cycles = scan + F*R + S*M + (S - [last fold streamed]) * max(0, C - 2) + R + C

with F = ceil(N/C) * max(1, ceil(K'/R)) folds and S of them streamed (all, unless zero-skip
skips a fold whose weight tile is zero, never the first K fold of a column fold).

**OS** (M on rows, N on columns, K' streamed; pixel folds outer, column folds inner): each
pixel fold first sets up its R row addresses (R cycles); a tile issues ``T = max(K', 1)``
steps, but its last step waits until ``max(R, C)`` cycles after the previous tile's last step
(drain port and result registers); the run ends ``R + C`` cycles after the last step.

PE-busy = sum over issued, non-gated steps of used rows x used columns. Zero-skip gates a step
whose streamed operand block is zero (WS: the fold's activations of the pixel; OS: the fold's
activations or weights at that k), which changes PE-busy, not cycles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from common.workload import LayerWork
from simulator.npu.skip import expand_bitmap, gating_compaction, im2col_zero
from simulator.npu.spec import NpuSpec, load_npu_spec

PRESET = "gilt-sa-8x8"


@dataclass(frozen=True)
class RtlPrediction:
    """What the RTL's counters will read for one layer."""

    cycles: int
    busy: int        # PE-cycles that did a MAC
    stall: int       # cycles the controller waits on the array
    steps: int       # stream steps issued
    preload: int     # WS preload / OS row-setup cycles
    scan: int        # gate-mask scan cycles
    gated: int       # zero-gated steps
    folds: int       # folds preloaded (WS) or streamed (OS)
    skipped: int     # WS folds skipped (zero weight tile)
    kactive: int     # K after channel gating

    def as_dict(self) -> dict:
        return asdict(self)


def array_spec(rows: int, cols: int, dataflow: str) -> NpuSpec:
    """The ``gilt-sa`` preset resized to ``rows x cols`` with ``dataflow``."""
    spec = load_npu_spec(PRESET)
    return spec.replace(name=f"gilt-sa-{rows}x{cols}", array_rows=rows, array_cols=cols,
                        dataflow=dataflow)


def _zero_matrices(layer: LayerWork, zero_skip: bool) -> tuple[np.ndarray, np.ndarray]:
    """``Za[M, K]`` (activation feeding GEMM entry is zero; padding is zero) and ``Zw[K, N]``
    from element-level bitmaps; all False when zero-skip is off."""
    _, m, n, k = layer.gemm_shape()
    if not zero_skip:
        return np.zeros((m, k), bool), np.zeros((k, n), bool)
    if layer.act_zero_bitmap is None or layer.weight_zero_bitmap is None:
        raise ValueError(f"layer {layer.name!r}: the rtl mode predicts zero-skip from "
                         "element-level act_zero_bitmap and weight_zero_bitmap; give both "
                         "or turn zero-skip off")
    if layer.zero_block is not None and any(b != 1 for b in layer.zero_block):
        raise ValueError(f"layer {layer.name!r}: zero_block {layer.zero_block} is coarser than "
                         "one element; the RTL tests every element, so the rtl mode needs "
                         "element-level bitmaps")
    if layer.op == "matmul":
        za = np.asarray(layer.act_zero_bitmap, bool).reshape(m, k)
    else:
        shape = (layer.batch, layer.in_channels, layer.in_h, layer.in_w)
        za = im2col_zero(layer, expand_bitmap(layer.act_zero_bitmap, shape, "act"))
    wshape = (layer.out_channels, layer.in_channels // layer.groups, layer.kernel_h,
              layer.kernel_w)
    zw = expand_bitmap(layer.weight_zero_bitmap, wshape, "weight").reshape(n, k).T
    return za, zw


def _check(layer: LayerWork, spec: NpuSpec) -> None:
    if not layer.is_compute:
        raise ValueError(f"layer {layer.name!r}: op {layer.op!r} does not run on the array")
    if layer.batch != 1 or layer.groups != 1:
        raise ValueError(f"layer {layer.name!r}: the RTL array runs batch 1, groups 1 "
                         f"(got batch {layer.batch}, groups {layer.groups})")
    if spec.dataflow not in ("ws", "os"):
        raise ValueError(f"dataflow {spec.dataflow!r}: the RTL array has 'ws' and 'os'")


def predict(layer: LayerWork, spec: NpuSpec | str, *, zero_skip: bool = False,
            gating: bool | None = None) -> RtlPrediction:
    """The RTL's counters for ``layer`` on ``spec``'s array (see module docstring).
    ``gating`` defaults to whether the layer has a channel gate mask."""
    spec = load_npu_spec(spec)
    _check(layer, spec)
    gating = layer.gate_mask is not None if gating is None else gating
    r, c = spec.array_rows, spec.array_cols
    _, m, n, _ = layer.gemm_shape()
    za, zw = _zero_matrices(layer, zero_skip)
    scan = 0
    if gating:
        if layer.gate_mask is None or np.asarray(layer.gate_mask).ndim != 2:
            raise ValueError(f"layer {layer.name!r}: gating needs a channel gate_mask (1, C)")
        keep = gating_compaction(layer).keep_k
        za, zw = za[:, keep], zw[keep]
        scan = layer.in_channels
    kact = za.shape[1]
    fn = _ws if spec.dataflow == "ws" else _os
    return fn(r, c, m, n, kact, za, zw, scan, zero_skip)


def _ws(r, c, m, n, kact, za, zw, scan, zero_skip) -> RtlPrediction:
    kfolds, nfolds = max(1, math.ceil(kact / r)), math.ceil(n / c)
    streamed = skipped = gated = busy = 0
    last_streamed = False
    for nf in range(nfolds):
        cols = min(c, n - nf * c)
        for kf in range(kfolds):
            k0, k1 = kf * r, min(kact, kf * r + r)
            tile_zero = bool(zw[k0:k1, nf * c: nf * c + cols].all())
            if zero_skip and kf > 0 and tile_zero:
                skipped += 1
                last_streamed = False
                continue
            streamed += 1
            last_streamed = True
            g = int(za[:, k0:k1].all(axis=1).sum()) if zero_skip else 0
            gated += g
            busy += (m - g) * (k1 - k0) * cols
    folds = kfolds * nfolds
    waits = (streamed - int(last_streamed)) * max(0, c - 2)
    stall = waits + r + c
    cycles = scan + folds * r + streamed * m + stall
    return RtlPrediction(cycles=cycles, busy=busy, stall=stall, steps=streamed * m,
                         preload=folds * r, scan=scan, gated=gated, folds=folds,
                         skipped=skipped, kactive=kact)


def _os(r, c, m, n, kact, za, zw, scan, zero_skip) -> RtlPrediction:
    steps = max(kact, 1)
    mfolds, nfolds = math.ceil(m / r), math.ceil(n / c)
    guard = max(r, c)
    t = scan            # next free cycle
    last_issue = None
    stall = gated = busy = 0
    for mf in range(mfolds):
        t += r          # row setup
        rows = min(r, m - mf * r)
        a_nz = (~za[mf * r: mf * r + rows]).any(axis=0) if kact else np.zeros(0, bool)
        for nf in range(nfolds):
            cols = min(c, n - nf * c)
            end = t + steps - 1
            if last_issue is not None and end < last_issue + guard:
                stall += last_issue + guard - end
                end = last_issue + guard
            last_issue = end
            t = end + 1
            if zero_skip:
                w_nz = (~zw[:, nf * c: nf * c + cols]).any(axis=1) if kact else np.zeros(0, bool)
                g = steps - int((a_nz & w_nz).sum())
            else:
                g = 0
            gated += g
            busy += (steps - g) * rows * cols if kact else 0
    cycles = last_issue + r + c + 1
    return RtlPrediction(cycles=cycles, busy=busy, stall=stall + r + c,
                         steps=steps * mfolds * nfolds, preload=mfolds * r, scan=scan,
                         gated=gated, folds=mfolds * nfolds, skipped=0, kactive=kact)

"""Layer -> GEMM -> systolic-array mapping, per dataflow. No memory model here (see memory.py).

A compute layer is ``groups`` independent GEMMs ``O[M x N] = I[M x K] . F[K x N]``
(:meth:`common.workload.LayerWork.gemm_shape`: M = batch*out_h*out_w output pixels,
N = filters per group, K = (in_channels/groups)*kernel_h*kernel_w). Padding, stride and dilation
only change M (through the output size) and which input words feed each row: the array sees the
GEMM. A dataflow keeps two GEMM dimensions on the array (Sr on the R rows, Sc on the C columns)
and streams the third in time (T):

==========  ===========  ===========  ==========  ==============================
dataflow     Sr (rows)    Sc (cols)    T (time)    stays in the PEs
==========  ===========  ===========  ==========  ==============================
``ws``       K            N            M           weights
``os``       M            N            K           outputs (partial sums)
``is``       K            M            N           inputs
==========  ===========  ===========  ==========  ==============================

Folds: ``ceil(Sr/R) * ceil(Sc/C)`` tiles of the array per temporal chunk, times
``ceil(T / t_tile)`` chunks, times the group passes. Small groups (depthwise: Sr = kh*kw,
Sc = 1) are packed block-diagonally, ``min(R // Sr, C // Sc)`` groups per fold, when
``group_pack`` is on. A PE with ``pe_int4_macs = 2`` does two MACs along K per cycle for 4-bit
weights: K is halved on the array (ws/is rows, os time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.workload import LayerWork

DATAFLOWS = ("ws", "os", "is")
LOOP_ORDERS = ("cols-outer", "rows-outer")
#: Which GEMM dimension sits on rows, columns and time, per dataflow.
ROLES = {"ws": ("k", "n", "m"), "os": ("m", "n", "k"), "is": ("k", "m", "n")}


@dataclass(frozen=True)
class Mapping:
    """A layer's placement on one core's array. All sizes are per group (after compaction)."""

    dataflow: str
    rows: int            # array rows R
    cols: int            # array cols C
    m: int               # output pixels (batch included) mapped
    n: int               # filters per group
    k: int               # reduction length on the array (after dual-MAC packing)
    groups: int
    group_pack: int      # groups side by side in one fold (block-diagonal), >= 1
    t_tile: int          # temporal chunk length, 1 <= t_tile <= t
    loop_order: str      # which fold loop is outer: "cols-outer" or "rows-outer"
    k_per_pe: int = 1    # MACs per PE per cycle along K (dual int4)

    @property
    def sr(self) -> int:
        return getattr(self, ROLES[self.dataflow][0])

    @property
    def sc(self) -> int:
        return getattr(self, ROLES[self.dataflow][1])

    @property
    def t(self) -> int:
        return getattr(self, ROLES[self.dataflow][2])

    @property
    def row_folds(self) -> int:
        return 1 if self.group_pack > 1 else math.ceil(self.sr / self.rows)

    @property
    def col_folds(self) -> int:
        return 1 if self.group_pack > 1 else math.ceil(self.sc / self.cols)

    @property
    def t_folds(self) -> int:
        return math.ceil(self.t / self.t_tile)

    @property
    def group_passes(self) -> int:
        return math.ceil(self.groups / self.group_pack)

    @property
    def spatial_folds(self) -> int:
        """Array tiles per temporal chunk, all group passes included."""
        return self.row_folds * self.col_folds * self.group_passes

    @property
    def folds(self) -> int:
        return self.spatial_folds * self.t_folds

    @property
    def used_pe_slots(self) -> int:
        """Sum over spatial folds of the PEs holding mapped work (= Sr*Sc*groups)."""
        return self.sr * self.sc * self.groups

    @property
    def mapping_efficiency(self) -> float:
        """Fraction of PE slots of all folds that hold work: Sr*Sc*G / (spatial folds * R*C)."""
        return self.used_pe_slots / (self.spatial_folds * self.rows * self.cols)


def mapping_for(layer: LayerWork, *, dataflow: str, rows: int, cols: int, k_per_pe: int = 1,
                group_pack: bool = True, t_tile: int | None = None,
                loop_order: str = "cols-outer", m: int | None = None, n: int | None = None,
                k_active: int | None = None) -> Mapping:
    """Map ``layer`` onto an ``rows x cols`` array. ``m``, ``n``, ``k_active`` override the
    GEMM sizes (core split, gating compaction). ValueError for non-compute layers, unknown
    dataflow or loop order, and ``t_tile`` outside ``1..T``."""
    if not layer.is_compute:
        raise ValueError(f"layer {layer.name!r}: op {layer.op!r} has no GEMM to map")
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    if loop_order not in LOOP_ORDERS:
        raise ValueError(f"loop_order must be one of {LOOP_ORDERS}, got {loop_order!r}")
    groups, gm, gn, gk = layer.gemm_shape()
    gm = gm if m is None else m
    gn = gn if n is None else n
    gk = gk if k_active is None else k_active
    k_arr = math.ceil(gk / k_per_pe)
    base = Mapping(dataflow=dataflow, rows=rows, cols=cols, m=gm, n=gn, k=k_arr, groups=groups,
                   group_pack=1, t_tile=1, loop_order=loop_order, k_per_pe=k_per_pe)
    pack = 1
    if group_pack and groups > 1 and base.sr <= rows and base.sc <= cols:
        pack = min(rows // base.sr, cols // base.sc, groups)
    t = base.t
    tile = t if t_tile is None else t_tile
    if isinstance(tile, bool) or not isinstance(tile, int) or not 1 <= tile <= t:
        raise ValueError(f"t_tile must be an int in 1..{t} (T of {dataflow}), got {t_tile!r}")
    return Mapping(dataflow=dataflow, rows=rows, cols=cols, m=gm, n=gn, k=k_arr, groups=groups,
                   group_pack=pack, t_tile=tile, loop_order=loop_order, k_per_pe=k_per_pe)


def fold_cycles(mapping: Mapping, t_len: int, *, preload_hidden: bool = False) -> int:
    """Cycles of one fold that streams ``t_len`` steps (gilt's default, quirks fixed):

    ``L = P + t_len + R + C - 2`` where ``R + C - 2`` is the skew (fill of the wavefront across
    the rows and columns) and ``P = R`` is the stationary operand's turnaround: weights (ws) or
    inputs (is) shifted in row by row before streaming, outputs (os) shifted out row by row after
    it. ``P = 0`` when the PEs double-buffer the stationary operand and the load hides behind
    the previous fold (``preload_hidden``; at most ``t_len`` cycles of it can hide).

    A 4x4 weight-stationary array streaming 10 rows: ``4 + 10 + 4 + 4 - 2 = 20`` cycles, which
    is SCALE-Sim's ``2R + C + T - 2``; with the weight load hidden, ``16``:

    >>> m = Mapping("ws", rows=4, cols=4, m=10, n=4, k=4, groups=1, group_pack=1, t_tile=10,
    ...             loop_order="cols-outer")
    >>> fold_cycles(m, 10), fold_cycles(m, 10, preload_hidden=True), compute_cycles(m)
    (20, 16, 20)
    """
    r, c = mapping.rows, mapping.cols
    preload = max(0, r - t_len) if preload_hidden else r
    return preload + t_len + r + c - 2


def compute_cycles(mapping: Mapping, *, stationary_double_buffer: bool = False,
                   skipped_steps: int = 0, skipped_folds: int = 0) -> int:
    """Cycles of all folds, no stalls:
    ``sum over spatial folds and chunks of fold_cycles`` minus skipped work, with
    ``skipped_steps`` streaming steps and ``skipped_folds`` whole spatial folds (one full T each)
    that zero-skip or gating removes. With a stationary double buffer only the first fold pays
    its preload in full."""
    spatial = mapping.spatial_folds - skipped_folds
    if spatial <= 0:
        return 0
    full, last = divmod(mapping.t, mapping.t_tile)
    hidden = stationary_double_buffer
    per_chunk = full * fold_cycles(mapping, mapping.t_tile, preload_hidden=hidden)
    if last:
        per_chunk += fold_cycles(mapping, last, preload_hidden=hidden)
    total = spatial * per_chunk - skipped_steps
    if hidden:
        total += mapping.rows - max(0, mapping.rows - mapping.t_tile)  # first fold's load
    return max(total, 0)

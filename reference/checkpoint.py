"""Gradient-checkpoint planner for a chain of layers (seed C6: O(n) -> O(sqrt n) activations,
"-43% GPU memory when training BERT-base").

Memory model (bytes; one training step of a chain of n layers, segments chosen by the plan):
  - ``saved_bytes[i]``: everything layer i's backward needs (its input included);
    ``input_bytes[i]``: the tensor entering layer i (what a checkpoint stores);
    ``forward_flops[i]``: the cost of running layer i forward once.
  - A plan splits the chain into consecutive segments [s_0=0, s_1), [s_1, s_2), ..., [s_{K-1}, n).
    The forward pass keeps only each segment's input (the checkpoint) and, for the last segment,
    all its saved tensors. The backward pass walks the segments from last to first, recomputing
    segment k from its checkpoint (all but the last segment), holding its saved tensors plus the
    checkpoints of the segments before it:
        peak = max_k ( sum_{j<k} input_bytes[s_j] + sum_{i in segment k} saved_bytes[i] )
        recompute = sum of forward_flops over every segment but the last (one extra forward of
        at most the whole chain).
    K = 1 is no checkpointing: peak = sum(saved_bytes), recompute = 0. Gradient buffers (one
    activation-sized tensor in flight) and framework workspace are outside the model, as are the
    ``static_bytes`` (weights, gradients, optimizer state) that the report adds on top.
  - ``sqrt_plan``: K = round(sqrt(n)) segments of near-equal layer count (Chen et al. 2016).
  - ``optimal_plan``: exact minimum of ``peak`` over all 2**(n-1) segmentations (ties broken by
    the smaller recompute), or, given ``memory_budget``, the minimum recompute whose peak fits;
    a dynamic program over segment boundaries keeping the Pareto front of
    (checkpoint bytes so far, peak so far, recompute so far).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference._validate import check_int


@dataclass(frozen=True)
class ChainLayer:
    """One layer of the chain: sizes in bytes, cost in FLOPs."""

    name: str
    input_bytes: int
    saved_bytes: int
    forward_flops: int

    def __post_init__(self):
        for field in ("input_bytes", "saved_bytes", "forward_flops"):
            v = getattr(self, field)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{field}={v!r} in layer {self.name!r}: expected an int >= 0")
        if self.input_bytes > self.saved_bytes:
            raise ValueError(f"input_bytes={self.input_bytes} > saved_bytes={self.saved_bytes} in "
                             f"layer {self.name!r}: saved tensors include the layer's input")


@dataclass(frozen=True)
class CheckpointPlan:
    """A segmentation of the chain and what it costs (bytes, FLOPs)."""

    segment_starts: tuple[int, ...]
    peak_bytes: int
    recompute_flops: int
    baseline_peak_bytes: int
    forward_flops: int

    @property
    def n_segments(self) -> int:
        return len(self.segment_starts)

    @property
    def memory_saving(self) -> float:
        """1 - peak / baseline_peak (activation memory only)."""
        return 1.0 - self.peak_bytes / self.baseline_peak_bytes

    @property
    def recompute_fraction(self) -> float:
        """Recomputed FLOPs as a fraction of one forward pass."""
        return self.recompute_flops / self.forward_flops if self.forward_flops else 0.0


def _check_layers(layers) -> list[ChainLayer]:
    layers = list(layers)
    if not layers:
        raise ValueError("layers=[]: expected at least one ChainLayer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, ChainLayer):
            raise TypeError(f"layers[{i}] is {type(layer).__name__}: expected ChainLayer")
    return layers


def evaluate_plan(layers, segment_starts) -> CheckpointPlan:
    """Peak activation memory and recompute cost of one segmentation (model in module doc).

    Numeric contract: exact Python ints. ``segment_starts`` must start at 0 and increase
    strictly, all < n. Errors: ValueError naming ``segment_starts`` otherwise.
    """
    layers = _check_layers(layers)
    n = len(layers)
    starts = tuple(int(s) for s in segment_starts)
    if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])) \
            or starts[-1] >= n:
        raise ValueError(f"segment_starts={segment_starts!r}: expected strictly increasing "
                         f"ints starting at 0, all < {n}")
    bounds = list(starts) + [n]
    peak = ckpt = recompute = 0
    for k in range(len(starts)):
        seg = layers[bounds[k]:bounds[k + 1]]
        peak = max(peak, ckpt + sum(layer.saved_bytes for layer in seg))
        ckpt += layers[bounds[k]].input_bytes
        if k < len(starts) - 1:
            recompute += sum(layer.forward_flops for layer in seg)
    return CheckpointPlan(starts, peak, recompute, sum(la.saved_bytes for la in layers),
                          sum(la.forward_flops for la in layers))


def sqrt_plan(layers) -> CheckpointPlan:
    """round(sqrt(n)) segments of near-equal layer count (the O(sqrt n) rule of seed C6).

    Numeric contract: segment starts floor(i * n / k) for i < k = max(1, round(sqrt(n)));
    costs as ``evaluate_plan`` (exact ints). Errors: ValueError for an empty chain.
    """
    layers = _check_layers(layers)
    n = len(layers)
    k = max(1, round(math.sqrt(n)))
    starts = sorted({(i * n) // k for i in range(k)})
    return evaluate_plan(layers, starts)


def optimal_plan(layers, *, memory_budget=None) -> CheckpointPlan:
    """Exact optimum over all segmentations by dynamic programming.

    Without ``memory_budget``: minimum peak, ties to minimum recompute. With it: minimum
    recompute among plans whose peak <= memory_budget (ties to minimum peak).
    Numeric contract: exact ints; O(n**2 * front) time, front = Pareto set size.
    Errors: ValueError if no plan fits ``memory_budget`` (the message gives the minimum peak).
    """
    layers = _check_layers(layers)
    n = len(layers)
    saved_prefix = [0]
    flops_prefix = [0]
    for layer in layers:
        saved_prefix.append(saved_prefix[-1] + layer.saved_bytes)
        flops_prefix.append(flops_prefix[-1] + layer.forward_flops)
    # fronts[j]: Pareto set of (ckpt, peak, recompute, starts) for plans whose next segment
    # starts at layer j.
    fronts: list[list[tuple]] = [[] for _ in range(n + 1)]
    fronts[0] = [(0, 0, 0, ())]
    for j in range(n):
        for ckpt, peak, rec, starts in fronts[j]:
            new_ckpt = ckpt + layers[j].input_bytes
            for e in range(j + 1, n + 1):
                new_peak = max(peak, ckpt + saved_prefix[e] - saved_prefix[j])
                if memory_budget is not None and new_peak > memory_budget:
                    break  # longer segments only grow
                new_rec = rec + (flops_prefix[e] - flops_prefix[j] if e < n else 0)
                _pareto_insert(fronts[e], (new_ckpt, new_peak, new_rec, starts + (j,)),
                               final=e == n)
    if not fronts[n]:
        best = optimal_plan(layers)
        raise ValueError(f"memory_budget={memory_budget}: no plan fits; the minimum peak is "
                         f"{best.peak_bytes} bytes")
    key = (lambda t: (t[1], t[2])) if memory_budget is None else (lambda t: (t[2], t[1]))
    return evaluate_plan(layers, min(fronts[n], key=key)[3])


def _pareto_insert(front, cand, *, final):
    # At the end of the chain the checkpoint total no longer matters.
    dims = (1, 2) if final else (0, 1, 2)
    for other in front:
        if all(other[d] <= cand[d] for d in dims):
            return
    front[:] = [o for o in front if not all(cand[d] <= o[d] for d in dims)]
    front.append(cand)


def bert_base_layers(*, batch=32, seq_len=128, hidden=768, heads=12, n_layers=12,
                     bytes_per_element=4, mask_bytes=1) -> list[ChainLayer]:
    """The 12 encoder layers of BERT-base as a chain, activation sizes per layer from
    Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models",
    eq. 2: s*b*h*(34 + 5*a*s/h) bytes in 16-bit), re-derived per tensor so the element width
    is a parameter:

      elements (``bytes_per_element`` each): QKV input sbh, Q and K 2sbh, softmax output as^2b,
      attention-dropout output as^2b, V sbh, output-projection input sbh, MLP input sbh,
      GELU input 4sbh, second MLP input 4sbh, two LayerNorm inputs 2sbh  -> 16sbh + 2as^2b;
      dropout masks (``mask_bytes`` each): attention as^2b, two hidden sbh -> 2sbh + as^2b.

    With 2-byte elements this is the paper's 34sbh + 5as^2b. input_bytes = sbh elements (the
    hidden state a checkpoint keeps); forward FLOPs = 24bsh^2 + 4bs^2h (same paper).
    Numeric contract: exact ints. Errors: ValueError for non-positive sizes.
    """
    b = check_int("batch", batch, minimum=1)
    s = check_int("seq_len", seq_len, minimum=1)
    h = check_int("hidden", hidden, minimum=1)
    a = check_int("heads", heads, minimum=1)
    n = check_int("n_layers", n_layers, minimum=1)
    e = check_int("bytes_per_element", bytes_per_element, minimum=1)
    m = check_int("mask_bytes", mask_bytes, minimum=1)
    sbh, as2b = s * b * h, a * s * s * b
    saved = e * (16 * sbh + 2 * as2b) + m * (2 * sbh + as2b)
    flops = 24 * b * s * h * h + 4 * b * s * s * h
    return [ChainLayer(f"encoder{i}", e * sbh, saved, flops) for i in range(n)]


def bert_base_static_bytes(*, params=110_000_000, bytes_per_param=16) -> int:
    """Memory that checkpointing cannot reduce: weights + gradients + Adam moments, fp32
    (4 + 4 + 8 = 16 bytes per parameter; BERT-base has about 110 M parameters).

    Numeric contract: exact int params * bytes_per_param; ValueError for values < 1.
    """
    return (check_int("params", params, minimum=1)
            * check_int("bytes_per_param", bytes_per_param, minimum=1))

"""What one engine step costs: tables of seconds produced by a hardware model, interpolated.

A serving engine runs *steps*: each step pushes some tokens through every layer (the prompt
tokens of the sequences being prefilled and one token of each sequence being decoded), reads
the KV cache in attention and emits one token per sequence that finished its prompt or is
decoding. :class:`StepCost` splits a step into parts whose cost depends on few numbers:

* ``dense(tokens)``: every layer's work that is per token (linear layers, norms, residuals,
  RoPE, embedding), for ``tokens`` tokens in the step;
* ``head(sequences)``: the LM head for the sequences that emit a token;
* ``decode_attention(batch, kv_tokens)``: attention of ``batch`` decoding sequences that
  together hold ``kv_tokens`` cached positions (evaluated at their mean context);
* ``prefill_attention(tokens, context)``: attention of one sequence's ``tokens`` new prompt
  tokens against ``context`` positions (a whole prompt: ``tokens == context``; a chunk of a
  longer prompt: ``context`` includes the chunks before it);
* ``step_overhead_s``: fixed cost per step (scheduling, launch).

Tables are sampled on powers of two and interpolated linearly between samples (bilinearly
where there are two axes: work is close to linear in tokens, batch and context between two
samples); outside the grid they extrapolate in proportion to the work. The hardware model runs once per grid point (see ``gilt.llm``), never per
step, so a trace of 10,000 requests simulates in seconds.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

__all__ = ["StepCost", "Table1D", "Table2D"]


def _axis(name: str, values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size < 1 or not np.isfinite(a).all() or a.min() <= 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of positive numbers")
    if a.size > 1 and np.any(np.diff(a) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return a


def _locate(axis: list[float], x: float) -> tuple[int, float]:
    """Segment index and weight for linear interpolation on a sorted axis (plain Python
    floats: this runs for every simulated step)."""
    if len(axis) == 1:
        return 0, 0.0
    i = min(max(bisect.bisect_left(axis, x) - 1, 0), len(axis) - 2)
    return i, (x - axis[i]) / (axis[i + 1] - axis[i])


@dataclass(frozen=True)
class Table1D:
    """``y(x)`` sampled at ``x`` (positive, increasing), linear between samples; values below
    the grid are clamped at the first point, above it extrapolated linearly from the last
    segment."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        x = _axis("Table1D.x", self.x)
        y = np.asarray(self.y, dtype=np.float64)
        if y.shape != x.shape or not np.isfinite(y).all() or y.min() < 0:
            raise ValueError("Table1D.y must be finite, >= 0 and match x")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "_px", [float(v) for v in x])
        object.__setattr__(self, "_py", [float(v) for v in y])
        object.__setattr__(self, "_memo", {})

    def __call__(self, x: float) -> float:
        memo = self._memo
        if x in memo:               # steps ask for the same batch and token counts again
            return memo[x]
        y = self._eval(x)
        if len(memo) < 65536:
            memo[x] = y
        return y

    def _eval(self, x: float) -> float:
        px, py = self._px, self._py
        if x <= 0:
            return 0.0
        if x <= px[0]:
            return py[0]
        if x >= px[-1]:
            if len(px) == 1:
                return py[0] * x / px[0]
            slope = (py[-1] - py[-2]) / (px[-1] - px[-2])
            return py[-1] + max(slope, 0.0) * (x - px[-1])
        i, w = _locate(self._px, x)
        return py[i] + w * (py[i + 1] - py[i])


@dataclass(frozen=True)
class Table2D:
    """``z(a, b)`` on the grid ``a x b``, bilinear inside, clamped below, extrapolated in
    proportion to ``a`` and ``b`` above (more work of the same shape)."""

    a: np.ndarray
    b: np.ndarray
    z: np.ndarray

    def __post_init__(self):
        a, b = _axis("Table2D.a", self.a), _axis("Table2D.b", self.b)
        z = np.asarray(self.z, dtype=np.float64)
        if z.shape != (a.size, b.size) or not np.isfinite(z).all() or z.min() < 0:
            raise ValueError(f"Table2D.z must be finite, >= 0, shape {(a.size, b.size)}")
        for key, v in (("a", a), ("b", b), ("z", z), ("_la", [float(v) for v in a]),
                       ("_lb", [float(v) for v in b]), ("_z", z.tolist()),
                       ("_amin", float(a[0])), ("_amax", float(a[-1])),
                       ("_bmin", float(b[0])), ("_bmax", float(b[-1]))):
            object.__setattr__(self, key, v)

    def __call__(self, a: float, b: float) -> float:
        if a <= 0 or b <= 0:
            return 0.0
        scale = 1.0
        if a > self._amax:
            scale *= a / self._amax
            a = self._amax
        if b > self._bmax:
            scale *= b / self._bmax
            b = self._bmax
        a, b = max(a, self._amin), max(b, self._bmin)
        i, wi = _locate(self._la, a)
        j, wj = _locate(self._lb, b)
        z = self._z
        i1, j1 = min(i + 1, len(z) - 1), min(j + 1, len(z[0]) - 1)
        top = z[i][j] + wj * (z[i][j1] - z[i][j])
        bottom = z[i1][j] + wj * (z[i1][j1] - z[i1][j])
        return scale * (top + wi * (bottom - top))


@dataclass(frozen=True)
class StepCost:
    """Seconds of engine steps on one device for one model (see the module docstring).

    ``kv_bytes_per_token`` and ``kv_capacity_tokens`` describe the KV cache (bytes of one
    token over all layers; how many tokens fit beside the weights), ``name`` says what was
    modelled (model, precision, hardware)."""

    dense: Table1D
    head: Table1D
    decode_attention: Table2D
    prefill_attention: Table2D
    kv_bytes_per_token: float
    kv_capacity_tokens: int
    step_overhead_s: float = 0.0
    name: str = ""

    def __post_init__(self):
        if not (np.isfinite(self.kv_bytes_per_token) and self.kv_bytes_per_token > 0):
            raise ValueError(f"kv_bytes_per_token must be > 0, got {self.kv_bytes_per_token!r}")
        if isinstance(self.kv_capacity_tokens, bool) or not isinstance(
                self.kv_capacity_tokens, (int, np.integer)) or self.kv_capacity_tokens < 1:
            raise ValueError(f"kv_capacity_tokens must be a positive int (the model leaves no "
                             f"room for a KV cache otherwise), got {self.kv_capacity_tokens!r}")
        if not (np.isfinite(self.step_overhead_s) and self.step_overhead_s >= 0):
            raise ValueError(f"step_overhead_s must be >= 0, got {self.step_overhead_s!r}")

    def decode_step(self, batch: int, kv_tokens: float) -> float:
        """One decode step of ``batch`` sequences holding ``kv_tokens`` positions in all."""
        if batch <= 0:
            return 0.0
        return (self.dense(batch) + self.head(batch)
                + self.decode_attention(batch, kv_tokens / batch) + self.step_overhead_s)

    def prefill(self, prompts) -> float:
        """One step prefilling whole prompts (lengths ``prompts``), each emitting its first
        token."""
        prompts = [int(p) for p in prompts]
        if not prompts:
            return 0.0
        attn = sum(self.prefill_attention(p, p) for p in prompts)
        return self.dense(sum(prompts)) + self.head(len(prompts)) + attn + self.step_overhead_s

    def mixed_step(self, decode_batch: int, kv_tokens: float, chunks, emitting: int) -> float:
        """A step with ``decode_batch`` decoding sequences and prompt ``chunks`` (pairs
        ``(tokens, context)``); ``emitting`` sequences produce a token (decodes plus prompts
        whose last chunk this is)."""
        tokens = decode_batch + sum(t for t, _ in chunks)
        if tokens == 0:
            return 0.0
        attn = sum(self.prefill_attention(t, c) for t, c in chunks)
        if decode_batch:
            attn += self.decode_attention(decode_batch, kv_tokens / decode_batch)
        return self.dense(tokens) + self.head(emitting) + attn + self.step_overhead_s

"""Request traces: when requests arrive and how many prompt and output tokens each has.

A :class:`Trace` is three equal-length arrays sorted by arrival time. Traces come from a CSV
file (``arrival_s,prompt_tokens,output_tokens``), from :func:`poisson_trace` (exponential
inter-arrival times at a given rate, lengths from a :class:`LengthDist`), or from
:func:`offline_trace` (everything at t = 0, MLPerf's Offline scenario).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["LengthDist", "Trace", "offline_trace", "poisson_trace", "read_trace_csv"]

DISTRIBUTIONS = ("fixed", "uniform", "lognormal", "normal")


@dataclass(frozen=True)
class LengthDist:
    """Token-length distribution: ``fixed`` (``mean``), ``uniform`` (``low``..``high``),
    ``lognormal`` (``mean`` and ``std`` of the lengths themselves) or ``normal``; samples are
    rounded and clipped to ``[low, high]``."""

    kind: str = "fixed"
    mean: float = 128.0
    std: float = 0.0
    low: int = 1
    high: int = 1 << 20

    def __post_init__(self):
        if self.kind not in DISTRIBUTIONS:
            raise ValueError(f"LengthDist.kind must be one of {DISTRIBUTIONS}, got {self.kind!r}")
        if not (np.isfinite(self.mean) and self.mean >= 1):
            raise ValueError(f"LengthDist.mean must be >= 1, got {self.mean!r}")
        if not (np.isfinite(self.std) and self.std >= 0):
            raise ValueError(f"LengthDist.std must be >= 0, got {self.std!r}")
        if not (isinstance(self.low, int) and isinstance(self.high, int)
                and 1 <= self.low <= self.high):
            raise ValueError(f"LengthDist needs integers 1 <= low <= high, got "
                             f"{self.low!r}, {self.high!r}")

    @classmethod
    def parse(cls, text: str) -> LengthDist:
        """``"128"`` (fixed), ``"uniform:32:512"``, ``"lognormal:300:200"`` (mean:std) or
        ``"normal:300:50"``. ValueError naming the text otherwise."""
        parts = str(text).split(":")
        try:
            if len(parts) == 1:
                return cls("fixed", float(parts[0]))
            kind, a, b = parts
            if kind == "uniform":
                return cls("uniform", (int(a) + int(b)) / 2, 0.0, int(a), int(b))
            return cls(kind, float(a), float(b))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"length distribution {text!r}: expected N, uniform:LOW:HIGH, "
                             f"lognormal:MEAN:STD or normal:MEAN:STD ({exc})") from None

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "fixed":
            values = np.full(n, self.mean)
        elif self.kind == "uniform":
            return rng.integers(self.low, self.high + 1, n).astype(np.int64)
        elif self.kind == "normal":
            values = rng.normal(self.mean, self.std, n)
        else:
            sigma2 = np.log1p((self.std / self.mean) ** 2)
            values = rng.lognormal(np.log(self.mean) - sigma2 / 2, np.sqrt(sigma2), n)
        return np.clip(np.rint(values), self.low, self.high).astype(np.int64)


@dataclass(frozen=True)
class Trace:
    """Requests sorted by arrival: ``arrival_s`` float64, ``prompt_tokens`` and
    ``output_tokens`` int64 (each >= 1)."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    def __post_init__(self):
        arr = np.asarray(self.arrival_s, dtype=np.float64)
        prompt = np.asarray(self.prompt_tokens)
        out = np.asarray(self.output_tokens)
        if not (arr.ndim == prompt.ndim == out.ndim == 1) or not (
                arr.size == prompt.size == out.size):
            raise ValueError(f"trace arrays must be 1-D of one length, got {arr.shape}, "
                             f"{prompt.shape}, {out.shape}")
        for name, a in (("prompt_tokens", prompt), ("output_tokens", out)):
            if a.size and (a.dtype.kind not in "iu" or a.min() < 1):
                raise ValueError(f"{name} must be integers >= 1")
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0):
            raise ValueError("arrival_s must be finite and >= 0")
        if arr.size > 1 and np.any(np.diff(arr) < 0):
            raise ValueError("arrival_s must be sorted (non-decreasing)")
        object.__setattr__(self, "arrival_s", arr)
        object.__setattr__(self, "prompt_tokens", prompt.astype(np.int64))
        object.__setattr__(self, "output_tokens", out.astype(np.int64))

    def __len__(self) -> int:
        return int(self.arrival_s.size)

    def to_csv(self) -> str:
        buf = io.StringIO()
        buf.write("arrival_s,prompt_tokens,output_tokens\n")
        for a, p, o in zip(self.arrival_s, self.prompt_tokens, self.output_tokens):
            buf.write(f"{a:.9g},{p},{o}\n")
        return buf.getvalue()


def poisson_trace(n: int, rate_per_s: float, *, prompt: LengthDist = LengthDist(),
                  output: LengthDist = LengthDist(), seed: int = 0) -> Trace:
    """``n`` requests with exponential inter-arrival times at ``rate_per_s`` (a Poisson
    process, MLPerf's Server scenario), lengths drawn from ``prompt`` and ``output``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not (np.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s!r}")
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1.0 / rate_per_s, n))
    return Trace(arrival, prompt.sample(n, rng), output.sample(n, rng))


def offline_trace(n: int, *, prompt: LengthDist = LengthDist(),
                  output: LengthDist = LengthDist(), seed: int = 0) -> Trace:
    """``n`` requests all present at t = 0 (MLPerf Offline)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rng = np.random.default_rng(seed)
    return Trace(np.zeros(n), prompt.sample(n, rng), output.sample(n, rng))


def read_trace_csv(path: str | os.PathLike) -> Trace:
    """A trace from a CSV with columns ``arrival_s,prompt_tokens,output_tokens`` (header
    required; rows sorted here by arrival). ValueError naming the file, line and column."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"trace file {path!r} does not exist")
    cols = ("arrival_s", "prompt_tokens", "output_tokens")
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or any(c not in reader.fieldnames for c in cols):
            raise ValueError(f"{path}: header must contain {', '.join(cols)}, got "
                             f"{reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                rows.append((float(row["arrival_s"]), int(row["prompt_tokens"]),
                             int(row["output_tokens"])))
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: expected a number in each of {cols}, got "
                                 f"{row}") from None
    if not rows:
        raise ValueError(f"{path}: no requests")
    rows.sort(key=lambda r: r[0])
    a, p, o = (np.array(c) for c in zip(*rows))
    return Trace(a, p, o)

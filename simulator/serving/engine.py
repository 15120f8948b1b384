"""Serving schedulers on a :class:`~simulator.serving.cost.StepCost`: static batching, dynamic
batching by input size (Triton-style), and continuous batching with a paged KV cache
(vLLM / TensorRT-LLM in-flight batching).

All three are discrete-event simulations that advance time by whole engine steps. Decode
steps between two events (a completion, an arrival that could be admitted, a KV block the
cache cannot hold) are taken together: ``k`` steps of ``batch`` sequences cost
``k * decode_step(batch, K + (k - 1) * batch / 2)`` with ``K`` the cached tokens at the first
of them, the mid-point rule, exact where the attention cost is linear in the context. This is
what lets 10,000 requests simulate in seconds.

Per request the result records the time its first token is out (end of the step that ran the
last of its prompt), the time its last token is out, and how many times it was preempted.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from simulator.serving.cost import StepCost
from simulator.serving.trace import Trace

__all__ = ["ContinuousBatching", "DynamicBatching", "SCHEDULERS", "ServingResult",
           "StaticBatching", "simulate"]


def _pos_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class StaticBatching:
    """Fixed batches of ``batch_size`` requests in arrival order; a batch starts when it is
    full (or the trace has no more requests) and runs until its longest output is done,
    every prompt padded to the longest in the batch."""

    batch_size: int = 8

    def __post_init__(self):
        _pos_int("batch_size", self.batch_size)


@dataclass(frozen=True)
class DynamicBatching:
    """Triton-style dynamic batching by input size: requests wait in buckets of prompt length
    (``bucket_edges``: upper bounds, the last bucket open-ended); a bucket is dispatched when
    it holds ``max_batch_size`` requests or its oldest has waited ``max_queue_delay_s``. A
    batch is padded to its longest prompt and runs until its longest output is done."""

    max_batch_size: int = 32
    max_queue_delay_s: float = 0.05
    bucket_edges: tuple[int, ...] = (128, 256, 512, 1024, 2048)

    def __post_init__(self):
        _pos_int("max_batch_size", self.max_batch_size)
        if not (np.isfinite(self.max_queue_delay_s) and self.max_queue_delay_s >= 0):
            raise ValueError(f"max_queue_delay_s must be >= 0, got {self.max_queue_delay_s!r}")
        edges = tuple(self.bucket_edges)
        if any(_pos_int("bucket_edges entry", e) <= 0 for e in edges) or list(edges) != sorted(
                set(edges)):
            raise ValueError(f"bucket_edges must be increasing positive ints, got {edges!r}")


@dataclass(frozen=True)
class ContinuousBatching:
    """Iteration-level scheduling over a paged KV cache.

    * ``max_seqs``: most sequences running at once; ``max_batched_tokens``: token budget of a
      step (prompt tokens plus one per decoding sequence);
    * ``chunked_prefill``: prompts are cut into chunks that share steps with decodes (vLLM
      with chunked prefill, TensorRT-LLM in-flight batching); otherwise a step is either a
      prefill of whole prompts or a decode step, prefills first (vLLM's default);
    * ``block_tokens``: KV page size; the cache holds ``StepCost.kv_capacity_tokens`` tokens
      rounded down to whole blocks;
    * ``reserve``: ``"prompt"`` allocates blocks as a sequence grows and, when the cache is
      full, preempts the latest admitted sequence (freed, recomputed later: vLLM);
      ``"full"`` reserves prompt plus output blocks at admission, so nothing is ever
      preempted (TensorRT-LLM's GUARANTEED_NO_EVICT).
    """

    max_seqs: int = 256
    max_batched_tokens: int = 8192
    chunked_prefill: bool = True
    block_tokens: int = 16
    reserve: str = "prompt"

    def __post_init__(self):
        for key in ("max_seqs", "max_batched_tokens", "block_tokens"):
            _pos_int(key, getattr(self, key))
        if self.reserve not in ("prompt", "full"):
            raise ValueError(f"reserve must be 'prompt' or 'full', got {self.reserve!r}")


SCHEDULERS = {"static": StaticBatching, "dynamic": DynamicBatching,
              "continuous": ContinuousBatching}


@dataclass(frozen=True)
class ServingResult:
    """Per request (trace order): ``start_s`` (first scheduled), ``first_token_s``,
    ``finish_s``, ``preemptions``; the ``timeline`` of (time_s, running sequences, KV tokens
    held) at every event; ``steps`` engine steps simulated."""

    trace: Trace
    scheduler: str
    start_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    preemptions: np.ndarray
    timeline: np.ndarray
    steps: int
    kv_capacity_tokens: int
    details: dict = field(default_factory=dict, compare=False)

    @property
    def ttft_s(self) -> np.ndarray:
        return self.first_token_s - self.trace.arrival_s

    @property
    def e2e_s(self) -> np.ndarray:
        return self.finish_s - self.trace.arrival_s

    @property
    def tpot_s(self) -> np.ndarray:
        """Mean time per output token after the first; NaN for one-token outputs."""
        n = self.trace.output_tokens - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (self.finish_s - self.first_token_s) / np.maximum(n, 1),
                            np.nan)

    @property
    def makespan_s(self) -> float:
        return float(self.finish_s.max() - self.trace.arrival_s.min()) if len(self.trace) else 0.0

    def summary(self) -> dict:
        """Throughputs and latency percentiles (seconds)."""
        span = self.makespan_s
        out = int(self.trace.output_tokens.sum())
        tokens = out + int(self.trace.prompt_tokens.sum())
        res = {"requests": len(self.trace), "scheduler": self.scheduler, "steps": self.steps,
               "makespan_s": span,
               "output_tokens_per_s": out / span if span else 0.0,
               "total_tokens_per_s": tokens / span if span else 0.0,
               "requests_per_s": len(self.trace) / span if span else 0.0,
               "preemptions": int(self.preemptions.sum()),
               "peak_kv_tokens": int(self.timeline[:, 2].max()) if self.timeline.size else 0,
               "kv_capacity_tokens": self.kv_capacity_tokens}
        tpot = self.tpot_s[~np.isnan(self.tpot_s)]
        for name, values in (("ttft", self.ttft_s), ("tpot", tpot), ("e2e", self.e2e_s)):
            for q in (50, 90, 99):
                res[f"{name}_p{q}_s"] = float(np.percentile(values, q)) if values.size else 0.0
            res[f"{name}_mean_s"] = float(values.mean()) if values.size else 0.0
        return res


def simulate(trace: Trace, cost: StepCost, scheduler) -> ServingResult:
    """Run ``trace`` through ``scheduler`` (a StaticBatching, DynamicBatching or
    ContinuousBatching) on ``cost``. Raises ValueError for a request whose prompt plus output
    can never fit the KV cache."""
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, got {type(trace).__name__}")
    if not isinstance(cost, StepCost):
        raise TypeError(f"cost must be a StepCost, got {type(cost).__name__}")
    need = trace.prompt_tokens + trace.output_tokens
    if len(trace) and need.max() > cost.kv_capacity_tokens:
        i = int(np.argmax(need))
        raise ValueError(f"request {i} needs {int(need[i])} KV tokens (prompt + output) but the "
                         f"cache holds {cost.kv_capacity_tokens}")
    if isinstance(scheduler, StaticBatching):
        return _batched(trace, cost, scheduler, "static")
    if isinstance(scheduler, DynamicBatching):
        return _batched(trace, cost, scheduler, "dynamic")
    if isinstance(scheduler, ContinuousBatching):
        return _Continuous(trace, cost, scheduler).run()
    raise TypeError(f"scheduler must be one of {[c.__name__ for c in SCHEDULERS.values()]}, "
                    f"got {type(scheduler).__name__}")


# --------------------------------------------------------------------------- batch schedulers
def _decode_span(cost: StepCost, batch: int, context: int, steps: int) -> float:
    """``steps`` decode steps of ``batch`` sequences at padded ``context`` each (mid-point)."""
    if steps <= 0:
        return 0.0
    mid = context + (steps - 1) / 2.0
    return steps * cost.decode_step(batch, batch * mid)


def _run_batch(cost: StepCost, ids: list[int], trace: Trace, t0: float, res: dict) -> float:
    """Run one padded batch from ``t0``; fill first/finish times; return its end time."""
    prompts = trace.prompt_tokens[ids]
    outs = trace.output_tokens[ids]
    b, p = len(ids), int(prompts.max())
    t = t0 + cost.prefill([p] * b)
    for i in ids:
        res["start"][i] = t0
        res["first"][i] = t
    done = 1                    # tokens out per sequence (the prefill emits the first)
    for target in sorted(set(int(o) for o in outs)):
        t += _decode_span(cost, b, p + done, target - done)
        done = target
        for i, o in zip(ids, outs):
            if o == target:
                res["finish"][i] = t
    res["timeline"].append((t0, b, b * p))
    res["timeline"].append((t, b, b * (p + done)))
    res["steps"] += int(outs.max())
    return t


def _fits(trace: Trace, ids: list[int], capacity: int) -> bool:
    """A padded batch holds every sequence at the longest prompt plus the longest output."""
    if not ids:
        return True
    p = int(trace.prompt_tokens[ids].max())
    o = int(trace.output_tokens[ids].max())
    return len(ids) * (p + o) <= capacity


def _batched(trace: Trace, cost: StepCost, sched, kind: str) -> ServingResult:
    n = len(trace)
    res = {"start": np.zeros(n), "first": np.zeros(n), "finish": np.zeros(n), "timeline": [],
           "steps": 0}
    t, nxt = 0.0, 0
    queues: list[deque] = []
    edges = getattr(sched, "bucket_edges", ())
    queues = [deque() for _ in range(len(edges) + 1)] if kind == "dynamic" else [deque()]
    limit = sched.batch_size if kind == "static" else sched.max_batch_size
    served = 0
    while served < n:
        while nxt < n and trace.arrival_s[nxt] <= t:
            q = int(np.searchsorted(edges, trace.prompt_tokens[nxt])) if kind == "dynamic" else 0
            queues[q].append(nxt)
            nxt += 1
        ready = _pick_batch(queues, trace, t, limit, sched, kind, nxt >= n)
        if ready is None:
            t = _next_wake(queues, trace, t, sched, kind, nxt)
            continue
        batch = []
        while ready and len(batch) < limit and _fits(trace, batch + [ready[0]],
                                                     cost.kv_capacity_tokens):
            batch.append(ready.popleft())
        t = _run_batch(cost, batch, trace, t, res)
        served += len(batch)
    return ServingResult(trace, kind, res["start"], res["first"], res["finish"],
                         np.zeros(n, np.int64), np.array(res["timeline"], dtype=np.float64),
                         res["steps"], cost.kv_capacity_tokens)


def _pick_batch(queues, trace, t, limit, sched, kind, no_more):
    """The queue to dispatch now, or None to wait."""
    if kind == "static":
        q = queues[0]
        return q if q and (len(q) >= limit or no_more) else None
    full = [q for q in queues if len(q) >= limit]
    if full:
        return min(full, key=lambda q: trace.arrival_s[q[0]])
    due = [q for q in queues if q and t - trace.arrival_s[q[0]] >= sched.max_queue_delay_s]
    return min(due, key=lambda q: trace.arrival_s[q[0]]) if due else None


def _next_wake(queues, trace, t, sched, kind, nxt):
    times = [trace.arrival_s[nxt]] if nxt < len(trace) else []
    if kind == "dynamic":
        times += [trace.arrival_s[q[0]] + sched.max_queue_delay_s for q in queues if q]
    later = [x for x in times if x > t]
    return min(later) if later else t + 1e-9


# --------------------------------------------------------------------------- continuous
class _Continuous:
    """State of a continuous-batching run. Per request: ``target`` tokens to prefill (the
    prompt; after a preemption also the tokens it had produced), ``prefilled`` of them in the
    cache, ``emitted`` output tokens, ``held`` KV blocks, ``base`` the outputs it had when its
    prefill ended. It caches ``prefilled + emitted - base`` tokens (a token is written into
    the cache by the step after the one that produced it). ``kv`` is the running total."""

    def __init__(self, trace: Trace, cost: StepCost, sched: ContinuousBatching):
        self.trace, self.cost, self.s = trace, cost, sched
        n = len(trace)
        self.blocks_total = cost.kv_capacity_tokens // sched.block_tokens
        if self.blocks_total < 1:
            raise ValueError(f"the KV cache ({cost.kv_capacity_tokens} tokens) holds no "
                             f"{sched.block_tokens}-token block")
        self.out = trace.output_tokens
        self.start, self.first = np.full(n, np.nan), np.full(n, np.nan)
        self.finish, self.preempt = np.full(n, np.nan), np.zeros(n, np.int64)
        self.emitted = np.zeros(n, np.int64)
        self.prefilled = np.zeros(n, np.int64)
        self.target = trace.prompt_tokens.copy()
        self.held = np.zeros(n, np.int64)
        self.base = np.zeros(n, np.int64)
        self.waiting: deque[int] = deque()
        self.running: list[int] = []             # admission order
        self.blocks_used = self.kv = self.n_prefilling = 0
        self.t, self.nxt, self.done, self.steps = 0.0, 0, 0, 0
        self.timeline: list[tuple[float, int, int]] = []

    # -- bookkeeping ------------------------------------------------------------
    def _blocks(self, tokens: int) -> int:
        return -(-int(tokens) // self.s.block_tokens)

    def _cached(self, i: int) -> int:
        return int(self.prefilled[i] + self.emitted[i] - self.base[i])

    def _set_held(self, i: int, blocks: int) -> None:
        self.blocks_used += blocks - int(self.held[i])
        self.held[i] = blocks

    def _arrivals(self) -> None:
        tr = self.trace
        while self.nxt < len(tr) and tr.arrival_s[self.nxt] <= self.t:
            self.waiting.append(self.nxt)
            self.nxt += 1

    def _leave(self, i: int) -> None:
        """Take ``i`` out of the running set, freeing its blocks."""
        self.kv -= self._cached(i)
        if self.prefilled[i] < self.target[i]:
            self.n_prefilling -= 1
        self._set_held(i, 0)
        self.running.remove(i)

    def _finish(self, i: int) -> None:
        self.finish[i] = self.t
        self._leave(i)
        self.done += 1

    # -- main loop --------------------------------------------------------------
    def run(self) -> ServingResult:
        n = len(self.trace)
        while self.done < n:
            self._arrivals()
            if not self.running and not self.waiting:
                self.t = max(self.t, float(self.trace.arrival_s[self.nxt]))
                continue
            self._admit()
            if not self.running:         # the head of the queue cannot fit an empty cache
                raise ValueError(f"request {self.waiting[0]} cannot be admitted into an "
                                 f"empty KV cache of {self.blocks_total} blocks")
            if self.n_prefilling:
                self._prefill_step()
            else:
                self._decode_jump()
            self.timeline.append((self.t, len(self.running), self.kv))
        return ServingResult(self.trace, "continuous", self.start, self.first, self.finish,
                             self.preempt, np.array(self.timeline, dtype=np.float64),
                             self.steps, self.blocks_total * self.s.block_tokens,
                             details={"block_tokens": self.s.block_tokens,
                                      "chunked_prefill": self.s.chunked_prefill,
                                      "reserve": self.s.reserve})

    def _admit(self) -> None:
        """Admit queue heads while sequences, token budget and blocks allow (FIFO)."""
        s = self.s
        budget = s.max_batched_tokens if s.chunked_prefill else max(
            s.max_batched_tokens, int(self.trace.prompt_tokens.max()))
        pending = sum(int(self.target[i] - self.prefilled[i]) for i in self.running) \
            if self.n_prefilling and not s.chunked_prefill else 0
        while self.waiting and len(self.running) < s.max_seqs:
            i = self.waiting[0]
            left = int(self.target[i])
            if not s.chunked_prefill and pending + left > budget:
                break
            need = self._blocks(left + (int(self.out[i] - self.emitted[i])
                                        if s.reserve == "full" else 0))
            if self.blocks_used + need > self.blocks_total:
                break
            self.waiting.popleft()
            self.running.append(i)
            self._set_held(i, need)
            self.n_prefilling += 1
            pending += left
            if np.isnan(self.start[i]):
                self.start[i] = self.t

    def _running(self) -> np.ndarray:
        return np.fromiter(self.running, dtype=np.int64, count=len(self.running))

    def _make_room(self, growing: np.ndarray) -> np.ndarray:
        """Preempt (latest admitted first) until every sequence in ``growing`` can write one
        more token; return those still running (a preempted sequence holds no block)."""
        if self.s.reserve != "prompt" or not growing.size:
            return growing
        if self.blocks_total - self.blocks_used >= growing.size:
            return growing              # at most one new block each
        bt = self.s.block_tokens
        while True:
            g = growing[self.held[growing] > 0]
            cached = self.prefilled[g] + self.emitted[g] - self.base[g]
            extra = int(np.maximum(-(-(cached + 1) // bt) - self.held[g], 0).sum())
            if self.blocks_used + extra <= self.blocks_total:
                return g
            self._preempt()

    def _prefill_step(self) -> None:
        """One step: whole prompts only (no chunking), or decodes plus prompt chunks."""
        s = self.s
        run = self._running()
        prefilling = self.prefilled[run] < self.target[run]
        decoding = run[~prefilling] if s.chunked_prefill else run[:0]
        decoding = self._make_room(decoding)
        budget = s.max_batched_tokens - decoding.size
        chunks, owners = [], []
        for i in run[prefilling]:
            if self.held[i] == 0:       # preempted by _make_room
                continue
            left = int(self.target[i] - self.prefilled[i])
            take = left if not s.chunked_prefill else min(left, budget)
            if take <= 0:
                break
            chunks.append((take, int(self.prefilled[i]) + take))
            owners.append(int(i))
            budget -= take
        kv = int((self.prefilled[decoding] + self.emitted[decoding] - self.base[decoding]).sum())
        emitting = decoding.size + sum(1 for (_, ctx), i in zip(chunks, owners)
                                       if ctx >= self.target[i])
        self.t += self.cost.mixed_step(decoding.size, kv, chunks, emitting)
        self.steps += 1
        for (take, _), i in zip(chunks, owners):
            self.prefilled[i] += take
            self.kv += take
            if self.prefilled[i] >= self.target[i]:
                self.n_prefilling -= 1
                if np.isnan(self.first[i]):
                    self.first[i] = self.t
                self.emitted[i] += 1
                self.base[i] = self.emitted[i]
        if decoding.size:
            self._grow(decoding, 1)
        done = np.concatenate([decoding, np.array(owners, dtype=np.int64)])
        done = done[(self.emitted[done] >= self.out[done])
                    & (self.prefilled[done] >= self.target[done])]
        for i in done:
            self._finish(int(i))

    def _grow(self, run: np.ndarray, k: int) -> None:
        """Each sequence in ``run`` (all decoding) emits ``k`` more tokens."""
        self.emitted[run] += k
        self.kv += k * run.size
        if self.s.reserve == "prompt":
            cached = self.prefilled[run] + self.emitted[run] - self.base[run]
            new = np.maximum(self.held[run], -(-(cached + 1) // self.s.block_tokens))
            self.blocks_used += int((new - self.held[run]).sum())
            self.held[run] = new

    def _decode_jump(self) -> None:
        """Decode steps until the next event: a completion, an arrival that could be
        admitted, or a KV block the cache lacks (then preempt)."""
        run = self._make_room(self._running())
        b = run.size
        k = int((self.out[run] - self.emitted[run]).min())
        kv = self.kv
        if self.nxt < len(self.trace) and not self.waiting and b < self.s.max_seqs:
            step = self.cost.decode_step(b, kv)
            wait = float(self.trace.arrival_s[self.nxt]) - self.t
            k = min(k, max(1, math.ceil(wait / step)) if step > 0 else 1)
        if self.s.reserve == "prompt":
            k = max(1, min(k, self._steps_that_fit(run, k)))
        self.t += k * self.cost.decode_step(b, kv + (k - 1) * b / 2.0)
        self.steps += k
        self._grow(run, k)
        for i in run[self.emitted[run] >= self.out[run]]:
            self._finish(int(i))

    def _steps_that_fit(self, run: np.ndarray, k: int) -> int:
        """Most decode steps (<= k, >= 1 after _make_room) whose new blocks fit."""
        free = self.blocks_total - self.blocks_used
        bt = self.s.block_tokens
        if free >= run.size * (-(-k // bt) + 1):
            return k                    # enough blocks for k tokens per sequence
        cached = self.prefilled[run] + self.emitted[run] - self.base[run]
        held = self.held[run]

        def need(j: int) -> int:      # more blocks to write j more tokens per sequence
            return int(np.maximum(-(-(cached + j) // bt) - held, 0).sum())

        lo, hi = 1, k
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if need(mid) <= free:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _preempt(self) -> None:
        """Free the latest admitted sequence; it goes back to the queue head and later
        recomputes its prompt plus the tokens it had produced as one prompt (vLLM's
        recompute), then emits its next token."""
        if len(self.running) <= 1:
            raise ValueError(f"request {self.running[0] if self.running else '?'} alone "
                             f"overflows the KV cache ({self.blocks_total} blocks)")
        i = self.running[-1]
        self._leave(i)
        self.preempt[i] += 1
        self.target[i] = self.trace.prompt_tokens[i] + self.emitted[i]
        self.prefilled[i] = 0
        self.base[i] = self.emitted[i]
        self.waiting.appendleft(i)

"""Sharded loading (seed C16): a model larger than the memory a device grants it, split into
shards by layer and streamed from storage.

Given the bytes of each layer in execution order and a :class:`DeviceMemory`, the planner
groups consecutive layers into shards of at most ``shard_bytes``, keeps as many leading shards
resident as the budget allows beside two streaming buffers (one shard computes while the next
loads), and streams the rest from storage on every forward pass. Numbers it gives::

    budget      = app_memory - kv_cache - activations
    resident    = leading shards while resident + 2 * largest streamed shard <= budget
    peak memory = resident + 2 * largest streamed shard + kv_cache + activations
    first load  = resident / storage bandwidth          (before the first token)
    stream/pass = (total - resident) / storage bandwidth
    pass time   = max(compute, stream/pass) + one shard's load (the pipeline fill)

``compute`` is the hardware model's time for the pass when given, else the DRAM roofline
``(weights read per pass) / dram bandwidth``. A decode step is one pass; a whole prompt is
one pass too (all its tokens go through each shard while it is loaded). Layers named in
``row_lookup`` (the embedding) are read a row per token from storage and neither held nor
streamed. When the whole model fits, it is loaded once, shard by shard (peak memory = the
model: no second copy), and nothing streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulator.spec import list_presets, load_spec

__all__ = ["DeviceMemory", "Shard", "ShardPlan", "device_presets", "load_device",
           "plan_shards"]

PRESETS_DIR = Path(__file__).with_name("presets")
GIB = 2**30


@dataclass(frozen=True)
class DeviceMemory:
    """Memory side of a phone or edge device: RAM, the share an app may use, DRAM and
    storage read bandwidth (sequential)."""

    name: str
    ram_gib: float
    app_memory_gib: float
    dram_bw_gb_per_s: float
    storage_read_gb_per_s: float
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        for key in ("ram_gib", "app_memory_gib", "dram_bw_gb_per_s", "storage_read_gb_per_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"DeviceMemory.{key} must be a positive number, got {value!r}")
        if self.app_memory_gib > self.ram_gib:
            raise ValueError(f"DeviceMemory.app_memory_gib ({self.app_memory_gib}) exceeds "
                             f"ram_gib ({self.ram_gib})")


def load_device(source) -> DeviceMemory:
    """A preset name, a YAML path, a dict or a DeviceMemory."""
    if isinstance(source, DeviceMemory):
        return source
    return load_spec(DeviceMemory, source, presets_dir=PRESETS_DIR)


def device_presets() -> list[str]:
    return list_presets(PRESETS_DIR)


@dataclass(frozen=True)
class Shard:
    """Consecutive layers ``layers`` (names) of ``nbytes`` bytes; ``resident`` shards stay in
    memory, the others stream every pass."""

    index: int
    layers: tuple[str, ...]
    nbytes: float
    resident: bool


@dataclass(frozen=True)
class ShardPlan:
    """See the module docstring. Times in seconds, sizes in bytes."""

    device: DeviceMemory
    shards: tuple[Shard, ...]
    model_bytes: float
    budget_bytes: float
    resident_bytes: float
    streamed_bytes_per_pass: float
    buffer_bytes: float
    peak_memory_bytes: float
    first_load_s: float
    stream_s_per_pass: float
    compute_s_per_pass: float
    pass_s: float

    @property
    def fits(self) -> bool:
        """The whole model stays resident (nothing streams)."""
        return self.streamed_bytes_per_pass == 0

    @property
    def tokens_per_s(self) -> float:
        """Decode speed at batch 1 (one pass per token)."""
        return 1.0 / self.pass_s if self.pass_s > 0 else float("inf")

    def rows(self) -> list[dict]:
        return [{"shard": s.index, "first": s.layers[0], "last": s.layers[-1],
                 "layers": len(s.layers), "MiB": s.nbytes / 2**20,
                 "resident": s.resident} for s in self.shards]


def _group(layers: Sequence[tuple[str, float]], shard_bytes: float) -> list[list]:
    groups: list[list] = []
    size = 0.0
    for name, nbytes in layers:
        if groups and size + nbytes <= shard_bytes:
            groups[-1].append((name, nbytes))
            size += nbytes
        else:
            groups.append([(name, nbytes)])
            size = nbytes
    return groups


def plan_shards(layer_bytes: Sequence[tuple[str, float]], device, *, kv_bytes: float = 0.0,
                activation_bytes: float = 0.0, shard_bytes: float = 512 * 2**20,
                compute_s_per_pass: float | None = None,
                row_lookup: Sequence[str] = ("embed",)) -> ShardPlan:
    """Plan the shards of a model (``layer_bytes``: ``(name, bytes)`` in execution order) on
    ``device`` (preset name, YAML path, dict or DeviceMemory). ValueError when the budget
    cannot hold two streaming buffers (or is not positive)."""
    dev = load_device(device)
    if not layer_bytes:
        raise ValueError("layer_bytes is empty")
    for name, nbytes in layer_bytes:
        if not isinstance(name, str) or not (nbytes >= 0):
            raise ValueError(f"layer_bytes entries must be (name, bytes >= 0), got "
                             f"{(name, nbytes)!r}")
    if not shard_bytes > 0:
        raise ValueError(f"shard_bytes must be > 0, got {shard_bytes!r}")
    budget = dev.app_memory_gib * GIB - kv_bytes - activation_bytes
    if budget <= 0:
        raise ValueError(f"{dev.name}: the KV cache and activations "
                         f"({(kv_bytes + activation_bytes) / GIB:.2f} GiB) leave no memory for "
                         f"weights in {dev.app_memory_gib} GiB")
    weights = [(n, b) for n, b in layer_bytes if n not in row_lookup]
    total = sum(b for _, b in weights)
    model = total + sum(b for n, b in layer_bytes if n in row_lookup)
    groups = _group(weights, shard_bytes)
    sizes = [sum(b for _, b in g) for g in groups]
    storage = dev.storage_read_gb_per_s * 1e9
    if total <= budget:
        resident_count, buffer = len(groups), 0.0
    else:   # the most leading shards that fit beside two buffers of the largest streamed one
        feasible = [r for r in range(len(sizes))
                    if sum(sizes[:r]) + 2 * max(sizes[r:]) <= budget]
        if not feasible:
            raise ValueError(f"{dev.name}: two streaming buffers of the largest shard "
                             f"({max(sizes) / GIB:.2f} GiB) do not fit the "
                             f"{budget / GIB:.2f} GiB budget; use smaller shards")
        resident_count = max(feasible)
        buffer = 2 * max(sizes[resident_count:])
    resident = sum(sizes[:resident_count])
    streamed = total - resident
    shards = tuple(Shard(i, tuple(n for n, _ in g), s, i < resident_count)
                   for i, (g, s) in enumerate(zip(groups, sizes)))
    stream_s = streamed / storage
    compute = compute_s_per_pass if compute_s_per_pass is not None else \
        total / (dev.dram_bw_gb_per_s * 1e9)
    fill = max(sizes[resident_count:], default=0.0) / storage
    return ShardPlan(dev, shards, model, budget, resident, streamed, buffer,
                     resident + buffer + kv_bytes + activation_bytes, resident / storage,
                     stream_s, compute, max(compute, stream_s) + (fill if streamed else 0.0))

"""Result types shared by the GPU, CPU and NPU models.

Every model returns one :class:`LayerResult` per layer and a :class:`NetworkResult` for the whole
workload, so reports, sweeps and plots treat the three targets alike. Target-specific figures
(folds, waves, lane utilization, ...) go in ``details``; the common fields below mean the same
thing on every target:

* ``cycles``          cycles of the target's clock for the layer, everything included;
* ``compute_cycles``  cycles the compute units need for the work as mapped (pipeline fill and
  drain of the array or the GEMM's waves included), memory taken as free;
* ``memory_cycles``   cycles the bottleneck memory level needs for the layer's traffic, compute
  taken as free;
* ``overhead_cycles`` fixed costs that are neither: kernel launches, serial sections, latency
  that no work hides;
* ``stall_cycles``    cycles in which compute waited for memory in the modelled schedule
  (SCALE-Sim's "Stall Cycles"), so that ``cycles == compute_cycles + stall_cycles +
  overhead_cycles`` and ``memory_cycles <= cycles`` (both checked);
* ``bound``           derived here, once: the largest of compute, memory and overhead cycles
  (``"compute"``, ``"memory"`` or ``"overhead"``);
* ``time_s``          ``cycles / clock_hz``;
* ``macs_dense`` / ``macs_done``: multiply-accumulates of the dense layer and those performed
  (0 for layers without MACs); ``ops``: other operations (element-wise, pooling);
* ``utilization``     useful MACs / (peak MACs per cycle x cycles), in [0, 1]: the fraction of
  the hardware's multiply-accumulate capacity that did work the dense layer needed
  (skipped MACs are not useful work; see ``macs_done``); 0 for layers without MACs;
* ``dram_bytes`` / ``onchip_bytes``: traffic at the stored bit widths;
* ``energy_j``        when the target's spec gives energies, else ``None``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

BOUNDS = ("compute", "memory", "overhead")


@dataclass(frozen=True)
class LayerResult:
    name: str
    target: str
    cycles: float
    time_s: float
    macs_dense: int
    macs_done: int
    utilization: float
    compute_cycles: float = 0.0
    memory_cycles: float = 0.0
    overhead_cycles: float = 0.0
    stall_cycles: float = 0.0
    ops: int = 0
    dram_bytes: float = 0.0
    onchip_bytes: float = 0.0
    energy_j: float | None = None
    details: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for key in ("cycles", "compute_cycles", "memory_cycles", "overhead_cycles",
                    "stall_cycles", "time_s"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"layer {self.name!r}: {key} must be a finite number >= 0, "
                                 f"got {value!r}")
        split = self.compute_cycles + self.stall_cycles + self.overhead_cycles
        if not math.isclose(self.cycles, split, rel_tol=1e-9, abs_tol=1e-6):
            raise ValueError(f"layer {self.name!r}: cycles ({self.cycles}) must equal compute + "
                             f"stall + overhead cycles ({split})")
        if self.memory_cycles > self.cycles * (1 + 1e-9) + 1e-6:
            raise ValueError(f"layer {self.name!r}: memory_cycles ({self.memory_cycles}) cannot "
                             f"exceed cycles ({self.cycles})")
        if not 0.0 <= self.utilization <= 1.0 + 1e-9:
            raise ValueError(f"layer {self.name!r}: utilization must be in [0, 1], "
                             f"got {self.utilization!r}")

    @property
    def bound(self) -> str:
        """What limits the layer: the largest of compute, memory and overhead cycles (ties go
        to the first of ``BOUNDS``)."""
        parts = (self.compute_cycles, self.memory_cycles, self.overhead_cycles)
        return BOUNDS[parts.index(max(parts))]

    def as_row(self) -> dict:
        row = asdict(self)
        details = row.pop("details")
        row["bound"] = self.bound
        row.update({f"{k}": v for k, v in details.items()
                    if not isinstance(v, (list, dict)) and k not in row})
        return row


@dataclass(frozen=True)
class NetworkResult:
    network: str
    target: str
    hardware: str
    layers: tuple[LayerResult, ...]
    batch: int = 1
    details: dict = field(default_factory=dict, compare=False)

    @property
    def cycles(self) -> float:
        return sum(layer.cycles for layer in self.layers)

    @property
    def time_s(self) -> float:
        return sum(layer.time_s for layer in self.layers)

    @property
    def macs_done(self) -> int:
        return sum(layer.macs_done for layer in self.layers)

    @property
    def macs_dense(self) -> int:
        return sum(layer.macs_dense for layer in self.layers)

    @property
    def ops(self) -> int:
        return sum(layer.ops for layer in self.layers)

    @property
    def utilization(self) -> float:
        """MAC-weighted over compute layers: their useful MACs over the MAC capacity of the
        cycles they took. Layers with zero utilization (element-wise passes, pooling) do not
        enter it; a target's whole-run figure, idle time included, goes in ``details``."""
        cap = sum(layer.macs_done / layer.utilization for layer in self.layers
                  if layer.utilization > 0)
        return 0.0 if cap == 0 else self.macs_done / cap

    @property
    def throughput_per_s(self) -> float:
        """Inputs (images, sequences) per second at this batch size."""
        return 0.0 if self.time_s == 0 else self.batch / self.time_s

    def rows(self) -> list[dict]:
        return [layer.as_row() for layer in self.layers]

"""Result types shared by the GPU, CPU and NPU models.

Every model returns one :class:`LayerResult` per layer and a :class:`NetworkResult` for the whole
workload, so reports, sweeps and plots treat the three targets alike. Target-specific figures
(folds, waves, lane utilization, ...) go in ``details``; the common fields below always mean the
same thing:

* ``cycles``        cycles of the target's clock for the layer, stalls included;
* ``time_s``        ``cycles / clock_hz``;
* ``utilization``   useful MACs / (peak MACs per cycle x cycles), in [0, 1]: the fraction of
  the hardware's multiply-accumulate capacity that did work the dense layer needed
  (skipped MACs are not useful work; see ``macs_done``);
* ``stall_cycles``  cycles in which compute waited for memory;
* ``bound``         ``"compute"``, ``"memory"`` or ``"latency"``;
* ``dram_bytes`` / ``onchip_bytes``: traffic at the stored bit widths;
* ``energy_j``      when the target's spec gives energies, else ``None``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class LayerResult:
    name: str
    target: str
    cycles: float
    time_s: float
    macs_dense: int
    macs_done: int
    utilization: float
    stall_cycles: float = 0.0
    bound: str = "compute"
    dram_bytes: float = 0.0
    onchip_bytes: float = 0.0
    energy_j: float | None = None
    details: dict = field(default_factory=dict, compare=False)

    def as_row(self) -> dict:
        row = asdict(self)
        details = row.pop("details")
        row.update({f"{k}": v for k, v in details.items() if not isinstance(v, (list, dict))})
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

"""Mapping search: for each layer, the dataflow, loop order and temporal tile (within the SRAMs)
that give the fewest cycles, next to the fixed mapping (the spec's dataflow, column folds
outside, the longest tile that fits), and why a layer cannot do better.

This is how a "68% -> 89% PE utilization" claim (the seed article's C12: a redesigned
convolution dataflow) can be checked: :func:`search_network` reports the network's
utilization with the fixed mapping and with the best mapping per layer, and for every layer
still far from peak it names the limit left:

* ``mapping``: the layer's dimensions do not fill the array (K or N or M smaller than, or just
  over a multiple of, R or C), whatever dataflow;
* ``fill/drain``: the streamed dimension is short next to the array's fill and drain
  (``T`` against ``2R + C``): late ResNet layers with 7x7 maps on large arrays;
* ``memory``: DRAM bandwidth: the layer moves more bytes than the cycles can hide.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.workload import LayerWork, Workload
from simulator.npu.mapping import DATAFLOWS, LOOP_ORDERS
from simulator.npu.model import MappingChoice, simulate_layer
from simulator.npu.spec import NpuSpec, load_npu_spec
from simulator.results import LayerResult, NetworkResult

NEAR_PEAK = 0.85


@dataclass(frozen=True)
class LayerSearch:
    name: str
    fixed: LayerResult
    best: LayerResult
    best_choice: MappingChoice
    candidates: int
    limit: str      # what keeps the best mapping from peak ("near peak" when >= NEAR_PEAK)

    @property
    def gain(self) -> float:
        """Cycles of the fixed mapping over the best one."""
        return self.fixed.cycles / self.best.cycles if self.best.cycles else 1.0


@dataclass(frozen=True)
class SearchReport:
    network: str
    hardware: str
    layers: tuple[LayerSearch, ...]
    fixed: NetworkResult
    best: NetworkResult

    def summary(self) -> str:
        lines = [f"{self.network} on {self.hardware}: PE utilization fixed mapping "
                 f"{self.fixed.utilization:.1%} -> best mapping {self.best.utilization:.1%} "
                 f"({self.fixed.cycles / self.best.cycles:.2f}x fewer cycles)"]
        limits: dict[str, int] = {}
        for item in self.layers:
            limits[item.limit] = limits.get(item.limit, 0) + 1
        lines.append("layers by what limits their best mapping: "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(limits.items())))
        return "\n".join(lines)


def _t_tiles(layer: LayerWork, spec: NpuSpec, dataflow: str) -> list[int | None]:
    _, m, n, k = layer.gemm_shape()
    t = {"ws": m, "os": k, "is": n}[dataflow]
    tiles: list[int | None] = [None, t]
    tile = t
    while tile > 16:
        tile = -(-tile // 2)
        tiles.append(tile)
    return tiles


def limit_of(result: LayerResult) -> str:
    """The largest loss of a gilt-mode result: mapping, fill/drain or memory."""
    if result.utilization >= NEAR_PEAK:
        return "near peak"
    d = result.details
    if "mapping_efficiency" not in d:
        return "not on the array"
    losses = {"mapping": 1 - d["mapping_efficiency"],
              "fill/drain": 1 - d["temporal_efficiency"],
              "memory": result.stall_cycles / result.cycles if result.cycles else 0.0}
    return max(losses, key=losses.get)


def search_layer(layer: LayerWork, spec: NpuSpec | str, *,
                 dataflows: tuple[str, ...] = DATAFLOWS,
                 loop_orders: tuple[str, ...] = LOOP_ORDERS) -> LayerSearch:
    """Try every dataflow x loop order x temporal tile; keep the fewest cycles (then the least
    energy). Non-compute layers have one mapping."""
    spec = load_npu_spec(spec)
    fixed_choice = MappingChoice()
    fixed = simulate_layer(layer, spec, fixed_choice)
    if not layer.is_compute:
        return LayerSearch(layer.name, fixed, fixed, fixed_choice, 1, "not on the array")
    best, best_choice, count = fixed, fixed_choice, 1
    for dataflow in dataflows:
        for order in loop_orders:
            for tile in _t_tiles(layer, spec, dataflow):
                choice = MappingChoice(dataflow=dataflow, loop_order=order, t_tile=tile)
                res = simulate_layer(layer, spec, choice)
                count += 1
                if (res.cycles, res.energy_j or 0.0) < (best.cycles, best.energy_j or 0.0):
                    best, best_choice = res, choice
    return LayerSearch(layer.name, fixed, best, best_choice, count, limit_of(best))


def search_network(workload: Workload, spec: NpuSpec | str, **kwargs) -> SearchReport:
    """:func:`search_layer` on every layer; NetworkResults of the fixed and best mappings."""
    spec = load_npu_spec(spec)
    found = tuple(search_layer(layer, spec, **kwargs) for layer in workload.layers)
    batch = workload.batch

    def net(which: str) -> NetworkResult:
        return NetworkResult(network=workload.name, target="npu", hardware=spec.name,
                             layers=tuple(getattr(f, which) for f in found), batch=batch,
                             details={"mapping": which})

    return SearchReport(workload.name, spec.name, found, net("fixed"), net("best"))

"""The whole chain for one network: build -> quantize -> golden run -> workload -> simulators.

:func:`run_network` is what ``gilt demo`` and ``gilt report`` run for each network. It keeps the
golden run's activity (what gating and zero-skip really skipped), the dense twin of the same
network (no gating, no skipping) so every saving is measured against the same hardware, and
the two analytical savings that need no golden data: the 4x4 tiling access model
(``reference.tiling``) and fused vs unfused Conv+BN+ReLU epilogues on the GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from common.workload import Workload
from gilt import targets
from simulator.results import NetworkResult


@dataclass
class TilingSaving:
    layer: str
    untiled_accesses: int
    tiled_accesses: int

    @property
    def saving(self) -> float:
        return 1.0 - self.tiled_accesses / self.untiled_accesses if self.untiled_accesses else 0.0


@dataclass
class NetworkRun:
    network: str
    precision: str
    gating: str | None
    zero_skip: bool
    input_size: int | None
    workload: Workload
    dense_workload: Workload
    results: dict[str, NetworkResult]
    dense_results: dict[str, NetworkResult]
    hardware: dict[str, str]
    tiling: list[TilingSaving] = field(default_factory=list)
    gpu_unfused: NetworkResult | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    golden_table: str = ""


def tiling_savings(workload: Workload, *, tile=(4, 4), min_map=(16, 16)) -> list[TilingSaving]:
    """On-chip access counts of every ungrouped square-kernel conv, untiled vs T x T tiles,
    from ``reference.tiling.conv_access_counts`` with its default buffer sizes."""
    from reference.tiling import ConvShape, conv_access_counts

    out = []
    for layer in workload.compute_layers:
        if (layer.op != "conv" or layer.groups != 1 or layer.kernel_h != layer.kernel_w
                or layer.stride[0] != layer.stride[1] or len(set(layer.pads)) != 1
                or layer.dilation != (1, 1) or layer.batch != 1):
            continue
        shape = ConvShape(layer.name, layer.in_channels, layer.in_h, layer.in_w,
                          layer.out_channels, layer.kernel_h, layer.stride[0], layer.pads[0])
        untiled = conv_access_counts(shape, tile=None).total
        tiled = conv_access_counts(shape, tile=tile, min_map=min_map).total
        out.append(TilingSaving(layer.name, untiled, tiled))
    return out


def check_arguments(network, *, precision, gating, zero_skip, input_size, seed,
                    hardware) -> dict[str, str]:
    """:func:`run_network`'s arguments, checked before any work (ValueError/TypeError naming
    the argument); returns the hardware choice with defaults filled in."""
    from networks.quantize import PRECISIONS, parse_gating

    if not isinstance(network, str) or not network:
        raise TypeError(f"network must be a model name or an ONNX path, got {network!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    parse_gating(gating)
    if not isinstance(zero_skip, bool):
        raise TypeError(f"zero_skip must be True or False, got {zero_skip!r}")
    if input_size is not None and (isinstance(input_size, bool)
                                   or not isinstance(input_size, int) or input_size < 1):
        raise ValueError(f"input_size must be a positive int or None, got {input_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in 0..{2**32 - 1}, got {seed!r}")
    hardware = dict(targets.DEFAULT_PRESETS if hardware is None else hardware)
    unknown = sorted(set(hardware) - set(targets.TARGETS))
    if unknown or not hardware:
        raise ValueError(f"hardware must map some of {targets.TARGETS} to presets, got "
                         f"{sorted(hardware)}")
    return hardware


def run_network(network: str, *, precision: str = "w4a8", gating: str | None = "topk:0.5",
                zero_skip: bool = True, input_size: int | None = None, seed: int = 0,
                hardware: dict[str, str] | None = None, progress=None) -> NetworkRun:
    """Build, quantize, golden-run and simulate ``network`` on every target in ``hardware``
    (target -> preset or YAML path; default :data:`gilt.targets.DEFAULT_PRESETS`).

    ``progress`` is an optional callable ``progress(step_name)`` called after each step."""
    import networks

    hardware = check_arguments(network, precision=precision, gating=gating,
                               zero_skip=zero_skip, input_size=input_size, seed=seed,
                               hardware=hardware)
    seconds: dict[str, float] = {}
    tick = time.perf_counter()

    def step(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        seconds[name] = now - tick
        tick = now
        if progress is not None:
            progress(f"{network}: {name}")

    graph = networks.load(network, input_size=input_size, seed=seed)
    step("build")
    qgraph = networks.quantize(graph, precision=precision, gating=gating, zero_skip=zero_skip,
                               seed=seed)
    step("quantize")
    golden = networks.golden_run(qgraph, keep=(), seed=seed)
    workload = golden.workload()
    table = golden.table()
    step("golden run")
    # the dense twin: the same quantized network without gates or zero-skip, from shapes alone
    from networks.golden import graph_workload

    dense = graph_workload(networks.quantize(graph, precision=precision, gating=None,
                                             zero_skip=False, seed=seed), source="shapes")
    specs = {t: targets.load_hardware(t, hw) for t, hw in hardware.items()}
    results = {t: targets.simulate(t, workload, s) for t, s in specs.items()}
    dense_results = {t: targets.simulate(t, dense, s) for t, s in specs.items()}
    gpu_unfused = None
    if "gpu" in specs:
        from simulator.gpu.network import simulate_network

        gpu_unfused = simulate_network(workload, specs["gpu"], epilogue="unfused")
    step("simulate")
    tiling = tiling_savings(workload)
    step("tiling model")
    return NetworkRun(network=network, precision=precision, gating=gating, zero_skip=zero_skip,
                      input_size=input_size, workload=workload, dense_workload=dense,
                      results=results, dense_results=dense_results, hardware=hardware,
                      tiling=tiling, gpu_unfused=gpu_unfused, seconds=seconds,
                      golden_table=table)

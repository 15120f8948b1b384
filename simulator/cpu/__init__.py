"""CPU performance model: SIMD lanes, VNNI and caches (see docs/sim-cpu.md).

* :mod:`simulator.cpu.spec`  hardware as data (:class:`CpuSpec`, YAML presets);
* :mod:`simulator.cpu.host`  the machine this runs on, detected from ``/proc/cpuinfo``;
* :mod:`simulator.cpu.model` per-layer and per-network cycle model.
"""

from simulator.cpu.model import KernelChoice, simulate_layer, simulate_network
from simulator.cpu.presets import cpu_presets, load_cpu_spec
from simulator.cpu.spec import CpuSpec

__all__ = ["CpuSpec", "KernelChoice", "cpu_presets", "load_cpu_spec", "simulate_layer",
           "simulate_network"]

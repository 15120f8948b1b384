"""GPU performance model: SMs and Tensor Cores (V100, A100, H100 presets).

    from simulator.gpu import load_gpu_spec, simulate_layer, simulate_network
    spec = load_gpu_spec("a100-sxm4-80gb")
    result = simulate_network(workload, spec)       # simulator.results.NetworkResult

See docs/sim-gpu.md for the equations and the published-data validation.
"""

from simulator.gpu.model import TILE_SHAPES, GemmProblem, simulate_gemm, simulate_layer
from simulator.gpu.network import rebatch, simulate_network
from simulator.gpu.spec import GpuSpec, gpu_presets, load_gpu_spec

__all__ = ["GpuSpec", "GemmProblem", "TILE_SHAPES", "gpu_presets", "load_gpu_spec", "rebatch",
           "simulate_gemm", "simulate_layer", "simulate_network"]

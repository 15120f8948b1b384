"""NVDLA (NVIDIA Deep Learning Accelerator) model: the convolution core's atomic-C x atomic-K
MAC grid, the convolution buffer, the SDP/PDP pipeline and DMA, after NVDLA's public hardware
documentation. See ``docs/edge.md``; presets in ``presets/`` (Jetson AGX Xavier's DLA and the
open-source ``nv_full`` configuration)."""

from simulator.npu.nvdla.model import simulate_network
from simulator.npu.nvdla.spec import NvdlaSpec, is_nvdla_preset, load_nvdla_spec, nvdla_presets

__all__ = ["NvdlaSpec", "is_nvdla_preset", "load_nvdla_spec", "nvdla_presets",
           "simulate_network"]

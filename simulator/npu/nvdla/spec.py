"""NVDLA hardware as data: :class:`NvdlaSpec`, loaded from YAML presets with units in the names.

The fields are NVDLA's own scalability parameters (``hw/spec/defs/*.spec`` of the open-source
release and the "Scalability parameters" table of its documentation): the MAC array is
``atomic_c x atomic_k`` 8-bit multipliers (``MAC_ATOMIC_C_SIZE``, ``MAC_ATOMIC_K_SIZE``; 16-bit
operands use half the kernels), the convolution buffer is ``cbuf_banks`` banks of
``cbuf_bank_kib`` KiB shared by weights and features, SDP/PDP throughputs are elements per
cycle. A preset cites every hardware figure in ``sources:`` and gives the calibration constants
of the cycle model under ``model:`` as ``{value, source}`` (the GPU presets' form).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from simulator.gpu.spec import load_cited_spec
from simulator.spec import list_presets

PRESETS_DIR = Path(__file__).parent / "presets"


def _positive(cls: str, obj, keys, kind=(int, float)) -> None:
    for key in keys:
        value = getattr(obj, key)
        if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
            raise ValueError(f"{cls}.{key} must be a positive {kind_name(kind)}, got {value!r}")


def kind_name(kind) -> str:
    return "int" if kind is int else "number"


@dataclass(frozen=True)
class NvdlaModel:
    """Calibration constants of :mod:`simulator.npu.nvdla.model`.

    * ``conv_efficiency``: fraction of the documented atomic-operation rate the convolution
      core sustains in compiled networks (sequencer gaps between stripes and channel
      operations, buffer bank conflicts, the compiler's tiling: what the documented cycle rules
      leave out); 1.0 is NVDLA's performance estimator's "optimal performance";
    * ``dram_efficiency``: fraction of the DLA's memory bandwidth its DMA engines sustain;
    * ``layer_fixed_cycles``: cycles every hardware layer pays that no work hides (the first
      DMA round trip before the convolution pipeline fills, and its drain);
    * ``layer_overhead_us``: software cost per hardware layer (the firmware programming the
      next layer's registers where double-buffered registers cannot hide it);
    * ``task_overhead_us``: fixed cost per submitted inference (runtime submission, sync);
    * ``gpu_handoff_us``: cost of each DLA <-> GPU hand-off when layers fall back to the GPU.
    """

    conv_efficiency: float
    dram_efficiency: float
    layer_fixed_cycles: int
    layer_overhead_us: float
    task_overhead_us: float
    gpu_handoff_us: float

    def __post_init__(self):
        for key in ("conv_efficiency", "dram_efficiency"):
            e = getattr(self, key)
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e <= 1:
                raise ValueError(f"NvdlaModel.{key} must be in (0, 1], got {e!r}")
        if isinstance(self.layer_fixed_cycles, bool) or not isinstance(
                self.layer_fixed_cycles, int) or self.layer_fixed_cycles < 0:
            raise ValueError("NvdlaModel.layer_fixed_cycles must be an int >= 0, got "
                             f"{self.layer_fixed_cycles!r}")
        for key in ("layer_overhead_us", "task_overhead_us", "gpu_handoff_us"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"NvdlaModel.{key} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class NvdlaSpec:
    """One NVDLA engine. Every field is required in a preset (no silent defaults).

    * ``atomic_c`` x ``atomic_k``: 8-bit MAC grid (input channels per atomic operation x
      kernels per kernel group); 16-bit data uses ``atomic_k // 2`` kernels;
    * ``cbuf_banks`` x ``cbuf_bank_kib``: the convolution buffer, allocated to weights and
      features by whole banks;
    * ``memory_atomic_bytes``: data cubes are stored in 1x1x``memory_atomic_bytes`` atoms
      (channels padded to it in memory);
    * ``stripe_min_atomics`` / ``stripe_max_atomics``: atomic operations per stripe (the
      weights of the next stripe load in ``stripe_min_atomics`` cycles, so a shorter stripe
      still costs that many; the accumulator holds ``stripe_max_atomics`` outputs);
    * ``image_stripe_atomics``: stripe length in image-input mode;
    * ``sdp_throughput`` / ``sdp_lut_throughput``: elements per cycle of the SDP's
      bias/BN/ReLU/element-wise stages and of its LUT (sigmoid, tanh) stage;
    * ``pdp_throughput``: pooling elements per cycle;
    * ``dbb_bytes_per_cycle``: width of the primary memory interface;
    * ``dram_bw_gb_per_s``: the memory system's peak (shared with the rest of the SoC);
    * ``winograd``: 3x3 stride-1 convolutions run Winograd F(2x2, 3x3) (2.25x fewer MACs);
    * ``image_input``: a first layer on a <= 4-channel image uses image-input mode (channel
      pre-extension over the kernel width, post-extension over 2 or 4 lines);
    * ``max_batch``: multi-batch limit of the convolution pipeline.
    """

    name: str
    atomic_c: int
    atomic_k: int
    cbuf_banks: int
    cbuf_bank_kib: int
    memory_atomic_bytes: int
    stripe_min_atomics: int
    stripe_max_atomics: int
    image_stripe_atomics: int
    sdp_throughput: int
    sdp_lut_throughput: int
    pdp_throughput: int
    clock_mhz: float
    dbb_bytes_per_cycle: int
    dram_bw_gb_per_s: float
    winograd: bool
    image_input: bool
    max_batch: int
    model: NvdlaModel = field(default=None)
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"NvdlaSpec.name must be a non-empty str, got {self.name!r}")
        _positive("NvdlaSpec", self, ("atomic_c", "atomic_k", "cbuf_banks", "cbuf_bank_kib",
                                      "memory_atomic_bytes", "stripe_min_atomics",
                                      "stripe_max_atomics", "image_stripe_atomics",
                                      "sdp_throughput", "sdp_lut_throughput",
                                      "pdp_throughput", "dbb_bytes_per_cycle", "max_batch"),
                  int)
        _positive("NvdlaSpec", self, ("clock_mhz", "dram_bw_gb_per_s"))
        if self.atomic_k % 2:
            raise ValueError(f"NvdlaSpec.atomic_k must be even (16-bit data uses half the "
                             f"kernels), got {self.atomic_k}")
        if self.stripe_min_atomics > self.stripe_max_atomics:
            raise ValueError(f"NvdlaSpec.stripe_min_atomics ({self.stripe_min_atomics}) exceeds "
                             f"stripe_max_atomics ({self.stripe_max_atomics})")
        for key in ("winograd", "image_input"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"NvdlaSpec.{key} must be true/false, got "
                                 f"{getattr(self, key)!r}")
        if not isinstance(self.model, NvdlaModel):
            raise ValueError("NvdlaSpec.model must be an NvdlaModel (the preset's 'model:' "
                             f"section), got {type(self.model).__name__}")

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def cbuf_bank_bytes(self) -> int:
        return self.cbuf_bank_kib * 1024

    @property
    def cbuf_bytes(self) -> int:
        return self.cbuf_banks * self.cbuf_bank_bytes

    def macs_per_cycle(self, bits: int = 8) -> int:
        """Peak MACs per cycle for operands of ``bits`` (8: the full grid; 16: half)."""
        return self.atomic_c * self.kernels_per_group(bits)

    def kernels_per_group(self, bits: int = 8) -> int:
        return self.atomic_k if bits <= 8 else self.atomic_k // 2

    @property
    def dram_bytes_per_cycle(self) -> float:
        """Sustained DRAM bytes per DLA cycle: the interface or the memory system, whichever
        is narrower, at ``model.dram_efficiency``."""
        system = self.dram_bw_gb_per_s * 1e9 / self.clock_hz
        return min(float(self.dbb_bytes_per_cycle), system) * self.model.dram_efficiency

    def replace(self, **changes) -> NvdlaSpec:
        return dataclasses.replace(self, **changes)


def load_nvdla_spec(source) -> NvdlaSpec:
    """An :class:`NvdlaSpec` from a preset name, a YAML path, a dict or an NvdlaSpec. Unknown
    or missing keys raise ValueError naming them; ``model:`` entries are ``{value, source}``."""
    return load_cited_spec(NvdlaSpec, NvdlaModel, source, presets_dir=PRESETS_DIR)


def nvdla_presets() -> list[str]:
    return list_presets(PRESETS_DIR)


def is_nvdla_preset(name) -> bool:
    """True when ``name`` names an NVDLA preset or a YAML file with NVDLA keys."""
    if isinstance(name, NvdlaSpec):
        return True
    if not isinstance(name, str):
        return False
    if name in nvdla_presets():
        return True
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            return False
        return isinstance(data, dict) and "atomic_c" in data
    return False

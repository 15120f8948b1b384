"""NPU hardware as data: a systolic PE array described in YAML, loaded into :class:`NpuSpec`.

Presets ship in ``simulator/npu/presets/*.yaml`` (``npu-32x32``, ``npu-128x128``,
``tpuv1-like``, ``eyeriss-like``); any other YAML file with the same keys works. Unknown or
missing keys are errors naming the key (:func:`simulator.spec.load_spec`); bad values raise
ValueError naming the key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from simulator.spec import list_presets, load_spec

PRESETS_DIR = Path(__file__).with_name("presets")
DATAFLOWS = ("ws", "os", "is")


@dataclass(frozen=True)
class NpuSpec:
    """A systolic-array NPU. Units are in the key names.

    * ``array_rows`` x ``array_cols`` PEs per core, ``cores`` identical cores sharing DRAM;
    * ``dataflow``: which operand stays in the PEs: ``ws`` weights, ``os`` outputs, ``is`` inputs;
    * ``ifmap_sram_kib`` / ``filter_sram_kib`` / ``ofmap_sram_kib``: on-chip buffers per core;
      with ``double_buffered`` half of each holds the working tile while the other half fills;
    * ``act_word_bits`` / ``weight_word_bits`` / ``out_word_bits``: SRAM word width per operand;
      narrower values are packed (int4 weights in 8-bit words: two per word);
    * ``pe_int4_macs``: MACs a PE does per cycle when weights are 4-bit or narrower (2: a PE that
      splits its multiplier into two 8x4 MACs along the reduction dimension);
    * ``stationary_double_buffer``: PEs hold a second stationary register, so the next fold's
      stationary operand loads while the current fold streams;
    * ``dram_bw_bytes_per_cycle``: DRAM bandwidth shared by all cores;
    * ``vector_ops_per_cycle``: post-processing unit for elementwise/pool layers;
    * ``clock_mhz``; energies in pJ: per 8x8-bit MAC (scaled by operand bits), per SRAM byte read
      or written, per DRAM byte, per idle PE-cycle (clock and leakage).
    """

    name: str
    array_rows: int
    array_cols: int
    dataflow: str
    ifmap_sram_kib: float
    filter_sram_kib: float
    ofmap_sram_kib: float
    dram_bw_bytes_per_cycle: float
    clock_mhz: float
    cores: int = 1
    act_word_bits: int = 8
    weight_word_bits: int = 8
    out_word_bits: int = 8
    pe_int4_macs: int = 1
    double_buffered: bool = True
    stationary_double_buffer: bool = False
    vector_ops_per_cycle: int = 32
    energy_mac_pj: float = 0.2
    energy_sram_pj_per_byte: float = 1.0
    energy_dram_pj_per_byte: float = 20.0
    energy_idle_pe_pj_per_cycle: float = 0.01

    def __post_init__(self):
        for key in ("array_rows", "array_cols", "cores", "act_word_bits", "weight_word_bits",
                    "out_word_bits", "pe_int4_macs", "vector_ops_per_cycle"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"NpuSpec.{key} must be a positive int, got {value!r}")
        for key in ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib",
                    "dram_bw_bytes_per_cycle", "clock_mhz"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"NpuSpec.{key} must be a positive number, got {value!r}")
        for key in ("energy_mac_pj", "energy_sram_pj_per_byte", "energy_dram_pj_per_byte",
                    "energy_idle_pe_pj_per_cycle"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"NpuSpec.{key} must be a number >= 0, got {value!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"NpuSpec.dataflow must be one of {DATAFLOWS}, got {self.dataflow!r}")
        for key in ("act_word_bits", "weight_word_bits", "out_word_bits"):
            if getattr(self, key) not in (4, 8, 16, 32):
                raise ValueError(f"NpuSpec.{key} must be 4, 8, 16 or 32, "
                                 f"got {getattr(self, key)!r}")
        if self.pe_int4_macs not in (1, 2):
            raise ValueError(f"NpuSpec.pe_int4_macs must be 1 or 2, got {self.pe_int4_macs!r}")

    @property
    def pes(self) -> int:
        """PEs of one core."""
        return self.array_rows * self.array_cols

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    def sram_bytes(self, operand: str) -> int:
        """Capacity of one core's ``ifmap`` / ``filter`` / ``ofmap`` SRAM in bytes."""
        kib = {"ifmap": self.ifmap_sram_kib, "filter": self.filter_sram_kib,
               "ofmap": self.ofmap_sram_kib}[operand]
        return int(kib * 1024)

    def with_dataflow(self, dataflow: str) -> NpuSpec:
        """The same hardware with another dataflow (ValueError if unknown)."""
        return dataclasses.replace(self, dataflow=dataflow)

    def replace(self, **changes) -> NpuSpec:
        return dataclasses.replace(self, **changes)


def load_npu_spec(source) -> NpuSpec:
    """An :class:`NpuSpec` from a preset name, a YAML path or a dict (see module docstring)."""
    if isinstance(source, NpuSpec):
        return source
    return load_spec(NpuSpec, source, presets_dir=PRESETS_DIR)


def npu_presets() -> list[str]:
    return list_presets(PRESETS_DIR)

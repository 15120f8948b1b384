"""CPU hardware as data: a multi-core SIMD processor described in YAML, loaded into :class:`CpuSpec`.

Presets ship in ``simulator/cpu/presets/*.yaml`` (``avx2-desktop``, ``skylake-sp``,
``icelake-sp``, ``sapphire-rapids``, ``zen4-epyc``, ``zen5-epyc``), each with a ``sources:``
mapping that cites every figure; ``host`` is detected from this machine
(:mod:`simulator.cpu.host`; both resolved by :func:`simulator.cpu.presets.load_cpu_spec`). Unknown or missing keys are errors naming the key
(:func:`simulator.spec.load_spec`); bad values raise ValueError naming key, value and expectation.

Execution resources are given as *units* and *datapath bits per cycle* per instruction class, so
one rule covers full-width, double-pumped (Zen 4 runs a 512-bit op as two 256-bit halves) and
fused-port (Intel fuses ports 0+1 for 512-bit ops) designs::

    instructions per cycle of width w bits = min(units, bits_per_cycle / w)

Peak throughput per core and cycle then follows per data type (:meth:`CpuSpec.macs_per_cycle`):

* fp32 FMA:         ``ipc_fma(w) * w/32`` MACs;
* int8 VNNI:        ``ipc_int_mul(w) * w/8`` MACs (``vpdpbusd``: 4 u8 x s8 products per 32-bit
  lane, summed into the lane);
* int8 without VNNI: ``vpmaddubsw`` (u8 x s8 -> s16 pairs) + ``vpmaddwd`` by ones (s16 pairs
  -> s32) + ``vpaddd``: 4 MACs per 32-bit lane for two multiplier-unit instructions and one
  ALU instruction, so at most ``ipc_int_mul(w)/2 * w/8`` MACs;
* scalar:           one lane per instruction (``w = 32``): fp32 scalar FMA on the FMA pipes,
  int8 as ``imul`` + ``add`` with one scalar multiplier (1 MAC per cycle).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

PRESETS_DIR = Path(__file__).with_name("presets")

#: Instruction-set widths a kernel can be compiled for: name -> vector bits.
ISA_BITS = {"scalar": 32, "avx2": 256, "avx512": 512}


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


@dataclass(frozen=True)
class CpuSpec:
    """A multi-core x86 CPU. Units are in the key names.

    * ``cores``; ``clock_mhz`` sustained all-core clock for 256-bit code,
      ``avx512_clock_mhz`` the clock while 512-bit instructions run (Intel's AVX-512 frequency
      licence; equal to ``clock_mhz`` where there is none);
    * ``vector_bits``: widest vector ISA (256: AVX2, 512: AVX-512); ``vnni_bits``: widest
      ``vpdpbusd`` (0: no VNNI, 256: AVX-VNNI / AVX512-VNNI on ymm, 512);
      ``vector_registers``: architectural vector registers (16 for AVX2, 32 for AVX-512);
    * ``fma_units`` / ``fma_bits_per_cycle``: floating-point FMA pipes and their summed datapath;
      ``fma_latency_cycles``;
    * ``int_mul_units`` / ``int_mul_bits_per_cycle``: pipes running ``vpmaddwd``,
      ``vpmaddubsw`` and ``vpdpbusd``; ``int_dot_latency_cycles`` (of ``vpdpbusd``);
    * ``vector_alu_units`` / ``vector_alu_bits_per_cycle``: pipes for vector integer adds,
      logic, compares and converts;
    * ``load_units`` / ``l1_load_bytes_per_cycle``: L1D load ports and their bandwidth;
    * ``l1d_kib`` / ``l2_kib`` per core, ``l3_mib`` shared; ``l2_bw_bytes_per_cycle`` and
      ``l3_bw_bytes_per_cycle`` sustained per core; ``dram_bw_gb_per_s`` the socket's sustained
      DRAM bandwidth (shared by all cores);
    * ``parallel_overhead_us``: cost of waking and joining a thread team for one parallel region.
    """

    name: str
    cores: int
    clock_mhz: float
    vector_bits: int
    vnni_bits: int
    vector_registers: int
    fma_units: int
    fma_bits_per_cycle: int
    fma_latency_cycles: int
    int_mul_units: int
    int_mul_bits_per_cycle: int
    int_dot_latency_cycles: int
    vector_alu_units: int
    vector_alu_bits_per_cycle: int
    load_units: int
    l1_load_bytes_per_cycle: int
    l1d_kib: float
    l2_kib: float
    l3_mib: float
    l2_bw_bytes_per_cycle: float
    l3_bw_bytes_per_cycle: float
    dram_bw_gb_per_s: float
    avx512_clock_mhz: float | None = None
    parallel_overhead_us: float = 5.0
    #: measured on a host (:mod:`simulator.cpu.calibrate`): the fraction of the modelled
    #: instruction-level rate a library GEMM reaches on it (1.0 in the presets: the ideal
    #: register-blocked kernel)
    fp32_kernel_efficiency: float = 1.0
    int8_kernel_efficiency: float = 1.0

    def __post_init__(self):
        for key in ("cores", "vector_registers", "fma_units", "fma_bits_per_cycle",
                    "fma_latency_cycles", "int_mul_units", "int_mul_bits_per_cycle",
                    "int_dot_latency_cycles", "vector_alu_units", "vector_alu_bits_per_cycle",
                    "load_units", "l1_load_bytes_per_cycle"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CpuSpec.{key} must be a positive int, got {value!r}")
        for key in ("clock_mhz", "l1d_kib", "l2_kib", "l3_mib", "l2_bw_bytes_per_cycle",
                    "l3_bw_bytes_per_cycle", "dram_bw_gb_per_s"):
            value = getattr(self, key)
            if not _is_number(value) or not value > 0:
                raise ValueError(f"CpuSpec.{key} must be a positive number, got {value!r}")
        if not _is_number(self.parallel_overhead_us) or self.parallel_overhead_us < 0:
            raise ValueError("CpuSpec.parallel_overhead_us must be a number >= 0, "
                             f"got {self.parallel_overhead_us!r}")
        for key in ("fp32_kernel_efficiency", "int8_kernel_efficiency"):
            value = getattr(self, key)
            if not _is_number(value) or not 0 < value <= 1.5:
                raise ValueError(f"CpuSpec.{key} must be in (0, 1.5], got {value!r}")
        if self.avx512_clock_mhz is not None and (not _is_number(self.avx512_clock_mhz)
                                                  or not self.avx512_clock_mhz > 0):
            raise ValueError("CpuSpec.avx512_clock_mhz must be a positive number or null, "
                             f"got {self.avx512_clock_mhz!r}")
        if self.vector_bits not in (256, 512):
            raise ValueError(f"CpuSpec.vector_bits must be 256 (AVX2) or 512 (AVX-512), "
                             f"got {self.vector_bits!r}")
        if self.vnni_bits not in (0, 256, 512) or self.vnni_bits > self.vector_bits:
            raise ValueError(f"CpuSpec.vnni_bits must be 0, 256 or 512 and at most vector_bits="
                             f"{self.vector_bits}, got {self.vnni_bits!r}")
        if self.vector_registers not in (16, 32):
            raise ValueError(f"CpuSpec.vector_registers must be 16 or 32, "
                             f"got {self.vector_registers!r}")
        if self.vector_bits == 512 and self.avx512_clock_mhz is None:
            object.__setattr__(self, "avx512_clock_mhz", float(self.clock_mhz))
        for key in ("fma_bits_per_cycle", "int_mul_bits_per_cycle", "vector_alu_bits_per_cycle"):
            if getattr(self, key) % 128:
                raise ValueError(f"CpuSpec.{key} must be a multiple of 128 bits, "
                                 f"got {getattr(self, key)!r}")

    # ----------------------------------------------------------------- derived figures
    def best_isa(self) -> str:
        """The widest vector ISA this CPU has (``avx512`` or ``avx2``): what ``isa="best"``
        resolves to (the one place that rule lives)."""
        return "avx512" if self.vector_bits >= 512 else "avx2"

    def kernel_efficiency(self, dtype: str) -> float:
        """Measured library efficiency for ``fp32`` or ``int8`` GEMMs (1.0 unless calibrated)."""
        return self.fp32_kernel_efficiency if dtype == "fp32" else self.int8_kernel_efficiency

    def isa_bits(self, isa: str) -> int:
        """Vector width of ``isa`` (``scalar``, ``avx2``, ``avx512``); ValueError if this CPU
        lacks it."""
        if isa not in ISA_BITS:
            raise ValueError(f"isa must be one of {sorted(ISA_BITS)}, got {isa!r}")
        bits = ISA_BITS[isa]
        if bits > self.vector_bits:
            raise ValueError(f"isa {isa!r} needs {bits}-bit vectors; {self.name} has "
                             f"vector_bits={self.vector_bits}")
        return bits

    def clock_hz_for(self, isa: str) -> float:
        """Sustained clock while code of ``isa`` runs (AVX-512 licence on Intel parts)."""
        mhz = self.avx512_clock_mhz if self.isa_bits(isa) == 512 else self.clock_mhz
        return mhz * 1e6

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @staticmethod
    def _ipc(units: int, bits_per_cycle: int, width: int) -> float:
        """Instructions of ``width`` bits issued per cycle on one class of pipes."""
        return float(min(units, bits_per_cycle / width)) if width > 32 else float(units)

    def _scalar_int_mul_ipc(self) -> float:
        return 1.0  # one scalar imul per cycle (a single integer multiplier port)

    def ipc(self, unit: str, width: int) -> float:
        """Instructions per cycle of ``width`` bits on ``fma``, ``int_mul``, ``alu`` or ``load``
        pipes (``load``: limited by ports and by L1 bytes per cycle)."""
        if unit == "fma":
            return self._ipc(self.fma_units, self.fma_bits_per_cycle, width)
        if unit == "int_mul":
            return self._ipc(self.int_mul_units, self.int_mul_bits_per_cycle, width)
        if unit == "alu":
            return self._ipc(self.vector_alu_units, self.vector_alu_bits_per_cycle, width)
        if unit == "load":
            return float(min(self.load_units, self.l1_load_bytes_per_cycle * 8 / width))
        raise ValueError(f"unit must be fma, int_mul, alu or load, got {unit!r}")

    def has_vnni(self, isa: str) -> bool:
        bits = self.isa_bits(isa)
        return bits > 32 and self.vnni_bits >= bits

    def macs_per_cycle(self, dtype: str, isa: str, *, int8_path: str | None = None) -> float:
        """Peak MACs per cycle per core for ``dtype`` (``fp32`` or ``int8``) with ``isa``.

        ``int8_path``: ``vnni`` (``vpdpbusd``), ``madd`` (``vpmaddubsw`` + ``vpmaddwd`` +
        ``vpaddd``) or None for the best this CPU has at that width. See the module docstring
        for the formulas."""
        width = self.isa_bits(isa)
        lanes32 = width // 32
        if dtype == "fp32":
            return self.ipc("fma", width) * lanes32
        if dtype != "int8":
            raise ValueError(f"dtype must be 'fp32' or 'int8', got {dtype!r}")
        if width == 32:
            return self._scalar_int_mul_ipc()  # scalar imul: one MAC per instruction
        path = int8_path or ("vnni" if self.has_vnni(isa) else "madd")
        if path == "vnni":
            if not self.has_vnni(isa):
                raise ValueError(f"int8_path 'vnni' needs vpdpbusd at {width} bits; {self.name} "
                                 f"has vnni_bits={self.vnni_bits}")
            return self.ipc("int_mul", width) * lanes32 * 4
        if path == "madd":
            return min(self.ipc("int_mul", width) / 2, self.ipc("alu", width)) * lanes32 * 4
        raise ValueError(f"int8_path must be 'vnni', 'madd' or None, got {int8_path!r}")

    def replace(self, **changes) -> CpuSpec:
        return dataclasses.replace(self, **changes)

"""GPU hardware as data: :class:`GpuSpec`, loaded from YAML presets with units in the key names.

A preset names every figure the model uses (SM count, boost clock, Tensor Core MACs per clock per
SM per dtype, CUDA-core lanes, register file, shared memory, L2, HBM, latencies, launch
overhead) and cites where each comes from in a ``sources:`` mapping (``load_spec`` drops it).
Derived peaks, used everywhere in the model::

    peak_tc_macs_per_s[dtype] = tc_macs_per_clock_per_sm[dtype] * sm_count * boost_clock_mhz * 1e6
    peak FLOP/s               = 2 * peak MACs/s
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simulator.spec import list_presets, load_spec

PRESETS_DIR = Path(__file__).parent / "presets"

#: Tensor Core input dtypes the model knows, with their operand width in bits.
MMA_DTYPE_BITS = {"fp16": 16, "bf16": 16, "tf32": 32, "int8": 8, "int4": 4, "fp8": 8}


@dataclass(frozen=True)
class GpuSpec:
    """One GPU. Every field is required in a preset (no silent defaults); see presets/*.yaml."""

    name: str
    sm_count: int
    boost_clock_mhz: float
    #: dense Tensor Core multiply-accumulates per clock per SM, by input dtype
    tc_macs_per_clock_per_sm: dict
    #: FP32 FMA lanes per SM (CUDA cores); depthwise conv and SIMT GEMM run here
    fp32_lanes_per_sm: int
    #: INT32 ALU lanes per SM (W4 unpacking, epilogue integer ops)
    int32_lanes_per_sm: int
    tensor_cores_per_sm: int
    sub_partitions_per_sm: int
    registers_per_sm: int
    max_registers_per_thread: int
    max_threads_per_sm: int
    max_blocks_per_sm: int
    shared_mem_per_sm_kib: int
    max_shared_mem_per_block_kib: int
    l2_size_mib: float
    l2_bw_bytes_per_clock: float
    hbm_size_gib: float
    hbm_bw_gb_per_s: float
    #: fraction of HBM bandwidth a streaming kernel reaches (copy benchmarks)
    hbm_efficiency: float
    dram_latency_cycles: int
    kernel_launch_overhead_us: float
    #: cp.async / TMA multistage pipeline depth the GEMM kernels use on this part
    pipeline_stages: int
    #: steady-state fraction of the Tensor Core peak the MMA issue loop reaches
    mma_issue_efficiency: float
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"GpuSpec.name must be a non-empty str, got {self.name!r}")
        positive_ints = ("sm_count", "fp32_lanes_per_sm", "int32_lanes_per_sm",
                         "tensor_cores_per_sm", "sub_partitions_per_sm", "registers_per_sm",
                         "max_registers_per_thread", "max_threads_per_sm", "max_blocks_per_sm",
                         "shared_mem_per_sm_kib", "max_shared_mem_per_block_kib",
                         "dram_latency_cycles", "pipeline_stages")
        for key in positive_ints:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GpuSpec.{key} must be a positive int, got {value!r}")
        for key in ("boost_clock_mhz", "l2_size_mib", "l2_bw_bytes_per_clock", "hbm_size_gib",
                    "hbm_bw_gb_per_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"GpuSpec.{key} must be a positive number, got {value!r}")
        if not isinstance(self.kernel_launch_overhead_us, (int, float)) \
                or self.kernel_launch_overhead_us < 0:
            raise ValueError("GpuSpec.kernel_launch_overhead_us must be >= 0, got "
                             f"{self.kernel_launch_overhead_us!r}")
        for key in ("hbm_efficiency", "mma_issue_efficiency"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ValueError(f"GpuSpec.{key} must be in (0, 1], got {value!r}")
        if self.max_shared_mem_per_block_kib > self.shared_mem_per_sm_kib:
            raise ValueError(
                f"GpuSpec.max_shared_mem_per_block_kib ({self.max_shared_mem_per_block_kib}) "
                f"exceeds shared_mem_per_sm_kib ({self.shared_mem_per_sm_kib})")
        if not isinstance(self.tc_macs_per_clock_per_sm, dict) or not self.tc_macs_per_clock_per_sm:
            raise ValueError("GpuSpec.tc_macs_per_clock_per_sm must be a non-empty mapping of "
                             f"dtype -> MACs, got {self.tc_macs_per_clock_per_sm!r}")
        for dtype, rate in self.tc_macs_per_clock_per_sm.items():
            if dtype not in MMA_DTYPE_BITS:
                raise ValueError(f"GpuSpec.tc_macs_per_clock_per_sm: unknown dtype {dtype!r}; "
                                 f"known: {sorted(MMA_DTYPE_BITS)}")
            if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
                raise ValueError(f"GpuSpec.tc_macs_per_clock_per_sm[{dtype!r}] must be a "
                                 f"positive int, got {rate!r}")

    # ----------------------------------------------------------------- derived figures
    @property
    def clock_hz(self) -> float:
        return self.boost_clock_mhz * 1e6

    @property
    def hbm_bw_bytes_per_s(self) -> float:
        return self.hbm_bw_gb_per_s * 1e9

    @property
    def l2_size_bytes(self) -> float:
        return self.l2_size_mib * 2**20

    def has_mma(self, dtype: str) -> bool:
        return dtype in self.tc_macs_per_clock_per_sm

    def peak_macs_per_clock(self, dtype: str) -> int:
        """Whole-GPU dense Tensor Core MACs per clock for ``dtype``."""
        if dtype == "fp32":
            return self.fp32_lanes_per_sm * self.sm_count
        if dtype not in self.tc_macs_per_clock_per_sm:
            raise ValueError(f"{self.name} has no Tensor Core path for dtype {dtype!r}; "
                             f"it has {sorted(self.tc_macs_per_clock_per_sm)} (and 'fp32' SIMT)")
        return self.tc_macs_per_clock_per_sm[dtype] * self.sm_count

    def peak_flops(self, dtype: str) -> float:
        """Dense peak FLOP/s (2 per MAC) for ``dtype`` ('fp32' = CUDA cores)."""
        return 2.0 * self.peak_macs_per_clock(dtype) * self.clock_hz


def load_gpu_spec(source) -> GpuSpec:
    """A :class:`GpuSpec` from a preset name (``a100_sxm4_40gb``), a YAML path, a dict, or a
    GpuSpec (returned as is). Unknown or missing keys raise ValueError naming them."""
    if isinstance(source, GpuSpec):
        return source
    return load_spec(GpuSpec, source, presets_dir=PRESETS_DIR)


def gpu_presets() -> list[str]:
    return list_presets(PRESETS_DIR)

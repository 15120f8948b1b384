"""GPU hardware as data: :class:`GpuSpec`, loaded from YAML presets with units in the key names.

A preset names every figure the model uses (SM count, boost clock, Tensor Core MACs per clock per
SM per dtype, CUDA-core lanes, register file, shared memory, L2, HBM, latencies, launch
overhead) and cites where each comes from in a ``sources:`` mapping (``load_spec`` drops it).
Derived peaks, used everywhere in the model::

    peak_tc_macs_per_s[dtype] = tc_macs_per_clock_per_sm[dtype] * sm_count * boost_clock_mhz * 1e6
    peak FLOP/s               = 2 * peak MACs/s
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from simulator.spec import list_presets, read_spec_data, spec_from_dict

PRESETS_DIR = Path(__file__).parent / "presets"

#: Tensor Core input dtypes the model knows, with their operand width in bits.
MMA_DTYPE_BITS = {"fp16": 16, "bf16": 16, "tf32": 32, "int8": 8, "int4": 4, "fp8": 8}


#: Every calibration constant of the GPU cycle model, with what it means. A preset gives each
#: as ``{value: ..., source: "..."}`` under ``model:`` (Timeloop-style: the citation travels
#: with the number); :func:`load_gpu_spec` checks that no source is missing or empty.
@dataclass(frozen=True)
class GpuModel:
    """Calibration constants of :mod:`simulator.gpu.model` for one GPU generation.

    * ``mma_efficiency``: fraction of the Tensor Core peak a large-tile main loop issues in the
      steady state (MMA issue slots lost to address arithmetic, barriers, shared-memory bank
      conflicts); ``simt_efficiency`` the same for an FP32 CUDA-core GEMM;
    * ``hbm_efficiency``: fraction of the HBM peak a streaming kernel reaches;
    * ``dram_latency_cycles``: global-memory load latency, paid once per kernel (pipeline fill)
      and exposed per K step when ``pipeline_stages - 1`` steps of MMA cannot cover it;
    * ``pipeline_stages``: shared-memory stages of the GEMM main loop (2 on Volta, cp.async
      multistage on Ampere, TMA on Hopper);
    * ``launch_overhead_us``: gap between back-to-back kernels launched on a stream;
      ``graph_launch_overhead_us`` the gap inside a CUDA Graph / TensorRT engine;
    * ``kernel_fixed_us``: per-kernel cost that no work hides (grid ramp-up, last-wave drain,
      epilogue flush, the dependent kernel's first loads);
    * ``memory_overlap``: fraction of the shorter of compute and DRAM time hidden under the
      longer (1: perfect overlap, ``max``; 0: serial, ``sum``);
    * ``reg_overhead_per_thread``: registers per thread beyond the accumulators;
    * ``l2_resident_fraction``: fraction of L2 operands may occupy and be read from DRAM once;
    * ``epilogue_ops_fused`` / ``epilogue_ops_plain``: CUDA-core ops per output element of a
      fused (scale, bias/BN, activation, residual, convert) and a plain (convert) epilogue;
    * ``w4_dequant_ops``: INT32 ops to unpack one 4-bit weight to the MMA operand type;
    * ``depthwise_fma_efficiency``: fraction of CUDA-core FMA peak a depthwise kernel reaches;
    * ``channel_align_bytes``: Tensor Core implicit-GEMM kernels need the input channels of a
      convolution padded to this many bytes (``small_channel_pad`` channels for C <= that:
      the C=4 first-layer kernels of cuDNN/TensorRT);
    * ``gather_bytes_per_clock_per_sm``: A-operand bytes per clock an SM gathers when a pixel's
      channel run is narrower than one 16-byte vector load (im2col of a 3/4-channel image).
    """

    mma_efficiency: float
    simt_efficiency: float
    hbm_efficiency: float
    dram_latency_cycles: int
    pipeline_stages: int
    launch_overhead_us: float
    graph_launch_overhead_us: float
    kernel_fixed_us: float
    memory_overlap: float
    reg_overhead_per_thread: int
    l2_resident_fraction: float
    epilogue_ops_fused: int
    epilogue_ops_plain: int
    w4_dequant_ops: int
    depthwise_fma_efficiency: float
    channel_align_bytes: int
    small_channel_pad: int
    gather_bytes_per_clock_per_sm: float

    def __post_init__(self):
        for key in ("mma_efficiency", "simt_efficiency", "hbm_efficiency",
                    "l2_resident_fraction", "depthwise_fma_efficiency"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value <= 1:
                raise ValueError(f"GpuModel.{key} must be in (0, 1], got {value!r}")
        if isinstance(self.memory_overlap, bool) or not isinstance(
                self.memory_overlap, (int, float)) or not 0 <= self.memory_overlap <= 1:
            raise ValueError(f"GpuModel.memory_overlap must be in [0, 1], "
                             f"got {self.memory_overlap!r}")
        for key in ("dram_latency_cycles", "pipeline_stages", "reg_overhead_per_thread",
                    "epilogue_ops_fused", "epilogue_ops_plain", "w4_dequant_ops",
                    "channel_align_bytes", "small_channel_pad"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GpuModel.{key} must be a positive int, got {value!r}")
        if self.pipeline_stages < 2:
            raise ValueError(f"GpuModel.pipeline_stages must be >= 2 (a main loop overlaps at "
                             f"least one load with one MMA step), got {self.pipeline_stages!r}")
        for key in ("launch_overhead_us", "graph_launch_overhead_us", "kernel_fixed_us",
                    "gather_bytes_per_clock_per_sm"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"GpuModel.{key} must be a number >= 0, got {value!r}")
        if self.gather_bytes_per_clock_per_sm <= 0:
            raise ValueError("GpuModel.gather_bytes_per_clock_per_sm must be > 0, got "
                             f"{self.gather_bytes_per_clock_per_sm!r}")


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
    #: calibration constants of the cycle model (:class:`GpuModel`), each cited in the preset
    model: GpuModel = field(default=None)
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"GpuSpec.name must be a non-empty str, got {self.name!r}")
        positive_ints = ("sm_count", "fp32_lanes_per_sm", "int32_lanes_per_sm",
                         "tensor_cores_per_sm", "sub_partitions_per_sm", "registers_per_sm",
                         "max_registers_per_thread", "max_threads_per_sm", "max_blocks_per_sm",
                         "shared_mem_per_sm_kib", "max_shared_mem_per_block_kib")
        for key in positive_ints:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GpuSpec.{key} must be a positive int, got {value!r}")
        for key in ("boost_clock_mhz", "l2_size_mib", "l2_bw_bytes_per_clock", "hbm_size_gib",
                    "hbm_bw_gb_per_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"GpuSpec.{key} must be a positive number, got {value!r}")
        if not isinstance(self.model, GpuModel):
            raise ValueError(f"GpuSpec.model must be a GpuModel (the preset's 'model:' section), "
                             f"got {type(self.model).__name__}")
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


def cited_values(section: dict, where: str) -> dict:
    """``{key: value}`` from a ``{key: {value: ..., source: "..."}}`` mapping; ValueError naming
    any entry without a non-empty ``source`` (every calibration constant is cited)."""
    if not isinstance(section, dict):
        raise TypeError(f"{where} must be a mapping of key -> {{value, source}}, "
                        f"got {type(section).__name__}")
    values = {}
    for key, entry in section.items():
        if not isinstance(entry, dict) or set(entry) != {"value", "source"}:
            raise ValueError(f"{where}.{key} must be {{value: ..., source: '...'}} (every "
                             f"calibration constant carries its citation), got {entry!r}")
        if not isinstance(entry["source"], str) or not entry["source"].strip():
            raise ValueError(f"{where}.{key}: the source must be a non-empty string")
        values[key] = entry["value"]
    return values


def load_cited_spec(cls, model_cls, source, *, presets_dir: Path):
    """``cls`` from a preset name in ``presets_dir``, a YAML path, a dict or a ``cls`` instance
    (returned as is), its ``model:`` section (a ``model_cls``) given as cited ``{value,
    source}`` pairs (:func:`cited_values`). Unknown or missing keys raise ValueError naming
    them. Shared by the GPU and NVDLA specs."""
    if isinstance(source, cls):
        return source
    name = cls.__name__
    if isinstance(source, dict):
        data, where = dict(source), name
    else:
        data, where = read_spec_data(source, presets_dir=presets_dir)
        where = f"{name} ({where})"
    data.pop("sources", None)
    if "model" not in data:
        raise ValueError(f"{where}: missing required key(s) ['model'] (the cited calibration "
                         "constants of the cycle model)")
    if isinstance(data["model"], model_cls):
        data["model"] = dataclasses.asdict(data["model"])
    else:
        data["model"] = cited_values(data["model"], "model")
    return spec_from_dict(cls, data, where=where)


def load_gpu_spec(source) -> GpuSpec:
    """A :class:`GpuSpec` from a preset name (``a100-sxm4-40gb``), a YAML path, a dict, or a
    GpuSpec (returned as is). Unknown or missing keys raise ValueError naming them; the
    ``model:`` section's entries are ``{value, source}`` pairs (:func:`cited_values`)."""
    return load_cited_spec(GpuSpec, GpuModel, source, presets_dir=PRESETS_DIR)


def gpu_presets() -> list[str]:
    return list_presets(PRESETS_DIR)

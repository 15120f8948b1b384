"""Per-host calibration of the CPU model: short microbenchmarks, run once, cached as YAML.

``load_cpu_spec("host")`` detects the machine (:mod:`simulator.cpu.host`) and then, the first
time on a given machine, measures (about 5-10 s, one thread unless noted):

* the core clock: a dependent chain of 1-cycle integer ops (``x = (x >> 1) ^ (x << 1)``: two
  cycles per iteration on any x86 core with move elimination);
* the FP32 GEMM rate the BLAS reaches (OpenBLAS through numpy, a cache-resident 256^3 SGEMM) and
  the INT8 rate of ONNX Runtime's MLAS (``MatMulInteger`` u8 x s8, 256^3) when onnxruntime is
  installed; the time at this host's peak MAC rate (``CpuSpec.macs_per_cycle``, one core) over
  the measured time gives ``fp32_kernel_efficiency`` / ``int8_kernel_efficiency``;
* bandwidth of L2, L3 and DRAM (``numpy.copyto`` between two arrays filling a quarter of L2,
  half of L3, and twice L3: read + write bytes), in bytes per cycle per core (DRAM: GB/s);
* the fixed cost of one library call (numpy's 8x16x16 matmul, ORT's smallest run).

Results go to ``$GILT_CACHE_DIR`` (default ``~/.cache/gilt``) as ``host-<key>.yaml``, keyed by the
CPU model name, ISA flags and logical CPU count: the spec fields, a ``measured:`` section with
the raw figures and the machine load while measuring, and ``sources:`` saying where each came
from. Set ``GILT_HOST_CALIBRATION=0`` to skip it (the detected preset values are used).
Measurements under load are inflated: the minimum of repeated runs is kept, and the 1-minute
load average is recorded beside the figures.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import yaml

from simulator.cpu.spec import CpuSpec

CHAIN_CYCLES_PER_ITER = 2
GEMM_SIDE = 256


def cache_dir() -> Path:
    return Path(os.environ.get("GILT_CACHE_DIR", Path.home() / ".cache" / "gilt"))


def host_key(cpuinfo_text: str) -> str:
    """A short key for this kind of machine: model name, ISA flags and CPU count."""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo_text.splitlines()
                  if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].strip() for line in cpuinfo_text.splitlines()
                  if line.startswith("flags")), "")
    count = sum(1 for line in cpuinfo_text.splitlines() if line.startswith("processor"))
    return hashlib.sha256(f"{model}|{flags}|{count}".encode()).hexdigest()[:12]


def best_time(fn, *, min_time: float = 0.2, max_reps: int = 200, min_reps: int = 5) -> float:
    """Fastest of repeated calls (interference only adds time, so the minimum is the least
    disturbed estimate, as ``timeit`` advises)."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_time
                                    and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(min(times))


def measure_clock_mhz(n: int = 1_000_000) -> float:
    """Core clock from a dependent integer chain (module docstring): the fastest of many
    sub-millisecond runs, so that a run the scheduler did not interrupt is among them."""
    from numba import njit

    @njit(cache=False)
    def chain(count, seed):
        x = seed
        for _ in range(count):
            x = (x >> 1) ^ (x << 1)
        return x

    chain(1000, 3)
    best = best_time(lambda: chain(n, 3), min_reps=50, min_time=0.3, max_reps=400)
    return n * CHAIN_CYCLES_PER_ITER / best / 1e6


def _read_bandwidth(nbytes: int) -> float:
    """Bytes per second moved by ``numpy.copyto`` (memcpy: read + write) between two arrays of
    ``nbytes / 2`` each (one thread), so both fit the level being measured."""
    src = np.ones(max(1, nbytes // 2), dtype=np.uint8)
    dst = np.empty_like(src)
    reps = max(1, int(1e6 // max(nbytes, 1)))

    def run():
        for _ in range(reps):
            np.copyto(dst, src)
    return reps * 2 * src.nbytes / best_time(run, min_time=0.3, min_reps=20, max_reps=400)


def _ort_matmulinteger(k: int, n: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    b = np.random.default_rng(0).integers(-128, 128, size=(k, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "mmi",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [None, k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [None, n])],
        initializer=[numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def _gemm_rates() -> dict:
    """Seconds of a 256^3 fp32 numpy GEMM and (if available) an ORT int8 one, one thread,
    plus each library's tiny-call time."""
    import threadpoolctl

    rng = np.random.default_rng(0)
    s = GEMM_SIDE
    out = {}
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        a = rng.standard_normal((s, s), dtype=np.float32)
        b = rng.standard_normal((s, s), dtype=np.float32)
        out["fp32_gemm_s"] = best_time(lambda: a @ b)
        ta, tb = a[:8, :16].copy(), b[:16, :16].copy()
        out["call_overhead_us_numpy"] = best_time(lambda: ta @ tb) * 1e6
    try:
        sess = _ort_matmulinteger(s, s)
        tiny = _ort_matmulinteger(16, 16)
    except Exception as exc:  # noqa: BLE001 - onnxruntime is optional here
        out["int8_unavailable"] = f"{type(exc).__name__}: {exc}"
        return out
    x = rng.integers(0, 256, size=(s, s), dtype=np.uint8)
    out["int8_gemm_s"] = best_time(lambda: sess.run(None, {"A": x}))
    xt = np.zeros((8, 16), dtype=np.uint8)
    out["call_overhead_us_ort"] = best_time(lambda: tiny.run(None, {"A": xt})) * 1e6
    return out


def _peak_gemm_s(spec: CpuSpec, dtype: str) -> float:
    """Seconds of the 256^3 GEMM at this host's peak MAC rate for ``dtype`` on one core (its
    widest ISA; what the model's register-blocked kernel runs at on a cache-resident GEMM)."""
    macs = GEMM_SIDE ** 3
    return macs / (spec.macs_per_cycle(dtype, spec.best_isa()) * spec.clock_hz)


def measure(spec: CpuSpec) -> tuple[dict, dict]:
    """``(spec field changes, raw measured figures)`` for the detected ``spec``."""
    load = os.getloadavg()[0]
    clock = measure_clock_mhz()
    hz = clock * 1e6
    raw: dict = {"clock_mhz": clock, "load_average_1min": load}
    bw = {"l2": _read_bandwidth(int(spec.l2_kib * 1024 / 4)),
          "l3": _read_bandwidth(int(spec.l3_mib * 2**20 / 2)),
          "dram": _read_bandwidth(int(2 * spec.l3_mib * 2**20))}
    raw.update({f"{k}_copy_gb_per_s": v / 1e9 for k, v in bw.items()})
    raw.update(_gemm_rates())
    changes = {"clock_mhz": round(clock, 1),
               "l2_bw_bytes_per_cycle": round(bw["l2"] / hz, 2),
               "l3_bw_bytes_per_cycle": round(bw["l3"] / hz, 2),
               "dram_bw_gb_per_s": round(max(bw["dram"], 1e8) / 1e9, 2)}
    calibrated = spec.replace(clock_mhz=changes["clock_mhz"])
    for dtype, key in (("fp32", "fp32_gemm_s"), ("int8", "int8_gemm_s")):
        if key in raw:
            eff = _peak_gemm_s(calibrated, dtype) / raw[key]
            changes[f"{dtype}_kernel_efficiency"] = round(min(1.5, max(0.05, eff)), 3)
    return changes, raw


def calibrated_host_spec(detected: CpuSpec, cpuinfo_text: str, *, force: bool = False
                         ) -> CpuSpec:
    """``detected`` with the measured figures of this host (cached; measured on first use)."""
    if os.environ.get("GILT_HOST_CALIBRATION", "1") == "0":
        return detected
    path = cache_dir() / f"host-{host_key(cpuinfo_text)}.yaml"
    if path.exists() and not force:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        fields = {k: v for k, v in data.items() if k not in ("sources", "measured")}
        try:
            return CpuSpec(**fields)
        except (TypeError, ValueError):
            pass   # a stale or hand-broken cache: measure again
    changes, raw = measure(detected)
    spec = detected.replace(**changes)
    write_host_yaml(path, spec, raw, sorted(changes))
    return spec


def write_host_yaml(path: Path, spec: CpuSpec, raw: dict, measured_keys: list) -> Path:
    import dataclasses

    from common.files import write_text_atomic

    data = dataclasses.asdict(spec)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data["measured"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in raw.items()}
    data["sources"] = {k: (f"measured on this host by simulator.cpu.calibrate, {stamp}, "
                           f"1-min load {raw['load_average_1min']:.2f}"
                           if k in measured_keys else "detected preset / OS (simulator.cpu.host)")
                       for k in dataclasses.asdict(spec)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))
    return path

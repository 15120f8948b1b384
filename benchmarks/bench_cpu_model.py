"""Validate the CPU model (simulator.cpu) against measurements on THIS machine.

Contenders, each timed in its own block (never alternating call by call: on 2 cores the idle
thread pools of one library slow the other):

* numpy float32 matmul (OpenBLAS; threadpoolctl reports which kernel family runs: with
  OPENBLAS_CORETYPE=Haswell it is the AVX2 ``sgemm_kernel_16x4_haswell``: 16 columns (2 ymm)
  x 4 broadcast rows, modelled as isa=avx2, mr=4, nr_vectors=2);
* onnxruntime MatMulInteger, uint8 x int8 with B an initializer (MLAS U8S8 AVX512-VNNI kernel:
  6 rows x 48 columns = 3 zmm, A copied and packed per call: isa=avx512, mr=6, nr_vectors=3,
  pack_a);
* onnxruntime QLinearConv (NCHW uint8 x int8): MLAS im2col + the same U8S8 kernel;
* gilt's Numba ``kernels.cpu.matmul_int`` with B packed once, when importable: its core
  ``_gemm_vnni`` (6 x 64 vpdpbusd block over M and N padded to 6 and 64) is what is modelled;
  the whole call (A packed per call, int64 row sums, zero-point epilogue) is printed beside it
  so the wrapper's share shows.

Model inputs measured here and not fitted to the sweep: the host calibration of
``simulator.cpu.calibrate`` (core clock, cache/DRAM bandwidth, and the FP32/INT8 efficiency of
one cache-resident 256^3 single-thread GEMM per library, run once and cached as a host YAML)
and each contender's fixed per-call cost (the best time of a tiny call, 8x16x16, that has
almost no arithmetic). On an AVX2 host without VNNI, ORT's MLAS runs its AVX2 U8S8 kernel
(``madd`` path), and the gilt VNNI contender is skipped.

Also measured for the seed check (C13): OpenBLAS SkylakeX (AVX-512) sgemm in a subprocess with
OPENBLAS_CORETYPE=SkylakeX next to the Haswell (AVX2) one, and a scalar float32 Numba loop.

Writes benchmarks/data/cpu_validation.csv (atomically; a column names the host) and prints
measured vs predicted with the median and worst error. Goal: median |error| <= 5%, worst <= 25%.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common.workload import LayerWork
from simulator.cpu.calibrate import best_time as _calib_best_time
from simulator.cpu.host import host_preset_name
from simulator.cpu.model import KernelChoice, simulate_layer
from simulator.cpu.presets import load_cpu_spec

#: threads per contender; GILT_BENCH_THREADS=1 on a machine others load (a descheduled second
#: thread stalls the whole GEMM, so 2-thread timings under load measure the scheduler)
THREADS = int(os.environ.get("GILT_BENCH_THREADS", "2"))
DATA = Path(__file__).with_name("data") / "cpu_validation.csv"
GEMM_SHAPES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (3136, 64, 576),
               (784, 128, 1152), (196, 256, 2304), (128, 768, 768), (128, 3072, 768),
               (1000, 1000, 1000), (200, 100, 300), (49, 2048, 512)]
# (C_in, H, W, C_out, kernel, stride, pad)
CONV_SHAPES = [(64, 56, 56, 64, 3, 1, 1), (128, 28, 28, 128, 3, 1, 1), (256, 14, 14, 256, 3, 1, 1),
               (256, 56, 56, 64, 1, 1, 0), (3, 224, 224, 64, 7, 2, 3), (512, 7, 7, 512, 3, 1, 1)]
TINY = (8, 16, 16)


def _best_time(fn, *, min_time=0.3, max_reps=80, min_reps=9) -> float:
    """Fastest of the repetitions (:func:`simulator.cpu.calibrate.best_time`)."""
    return _calib_best_time(fn, min_time=min_time, max_reps=max_reps, min_reps=min_reps)


def _cpu_model_name() -> str:
    from simulator.cpu.host import CPUINFO

    return next((line.split(":", 1)[1].strip() for line in CPUINFO.read_text().splitlines()
                 if line.startswith("model name")), "unknown CPU")


# --------------------------------------------------------------------------- contenders
def _ort_session(model, threads=THREADS):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def _matmulinteger_model(k, n, rng):
    from onnx import TensorProto, helper, numpy_helper

    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "mmi",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [None, k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [None, n])],
        initializer=[numpy_helper.from_array(b, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _qlinearconv_model(cin, cout, kernel, stride, pad, rng):
    from onnx import TensorProto, helper, numpy_helper

    w = rng.integers(-127, 128, size=(cout, cin, kernel, kernel), dtype=np.int8)
    inits = [numpy_helper.from_array(w, "W"),
             numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
             numpy_helper.from_array(np.array(128, np.uint8), "xz"),
             numpy_helper.from_array(np.array(0.01, np.float32), "ws"),
             numpy_helper.from_array(np.array(0, np.int8), "wz"),
             numpy_helper.from_array(np.array(0.05, np.float32), "ys"),
             numpy_helper.from_array(np.array(128, np.uint8), "yz")]
    node = helper.make_node("QLinearConv", ["X", "xs", "xz", "W", "ws", "wz", "ys", "yz"], ["Y"],
                            kernel_shape=[kernel, kernel], strides=[stride, stride],
                            pads=[pad] * 4)
    graph = helper.make_graph([node], "qconv",
                              [helper.make_tensor_value_info("X", TensorProto.UINT8,
                                                             [1, cin, None, None])],
                              [helper.make_tensor_value_info("Y", TensorProto.UINT8, None)],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def time_numpy(shapes, rng):
    out = {}
    for m, n, k in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out[(m, n, k)] = _best_time(lambda a=a, b=b: a @ b)
    return out


def time_mmi(shapes, rng):
    out = {}
    for m, n, k in shapes:
        sess = _ort_session(_matmulinteger_model(k, n, rng))
        a = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
        out[(m, n, k)] = _best_time(lambda s=sess, a=a: s.run(None, {"A": a}))
    return out


def time_qconv(shapes, rng):
    out = {}
    for cin, h, w, cout, kern, stride, pad in shapes:
        sess = _ort_session(_qlinearconv_model(cin, cout, kern, stride, pad, rng))
        x = rng.integers(0, 256, size=(1, cin, h, w), dtype=np.uint8)
        out[(cin, h, w, cout, kern, stride, pad)] = _best_time(
            lambda s=sess, x=x: s.run(None, {"X": x}))
    return out


def time_gilt(shapes, rng):
    try:
        from kernels.cpu import matmul_int as gk
    except Exception as exc:  # noqa: BLE001 - optional contender
        print(f"  gilt kernels.cpu.matmul_int unavailable ({exc}); skipped")
        return {}
    if not gk.HAS_AVX512_VNNI:
        print("  gilt VNNI kernel unavailable on this CPU; skipped")
        return {}
    import numba

    numba.set_num_threads(THREADS)
    out = {}
    for m, n, k in shapes:
        a = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
        packed = gk.pack_b(rng.integers(-128, 128, size=(k, n), dtype=np.int8))
        k_groups, n_blocks, m_blocks = -(-k // 4), -(-n // gk.NR), -(-m // gk.MR)
        try:  # private API of another area: skip the contender if it has changed
            a_u = gk._pack_a_u(a, False, m_blocks * gk.MR, k_groups * 4)
            a_u = (a_u[0] if isinstance(a_u, tuple) else a_u).view(np.int32)
        except (AttributeError, TypeError, ValueError) as exc:
            print(f"  gilt core GEMM not reachable ({exc}); skipped")
            return {}
        c = np.empty(m_blocks * gk.MR * n_blocks * gk.NR, dtype=np.int32)
        core = _best_time(lambda a_u=a_u, p=packed, kg=k_groups, mb=m_blocks, nb=n_blocks,
                            c=c: gk._gemm_vnni(a_u, p.data, kg, mb, nb, c))
        full = _best_time(lambda a=a, p=packed: gk.matmul_int(a, p))
        GILT_FULL_CALL[(m, n, k)] = full
        out[(m, n, k)] = core
    return out


#: gilt's whole matmul_int call (core GEMM + per-call A packing, row sums, epilogue), by shape
GILT_FULL_CALL: dict = {}


# --------------------------------------------------------------------------- model side
def _gemm_layer(m, n, k, fp32):
    bits = 32 if fp32 else 8
    return LayerWork.matmul(f"gemm{m}x{n}x{k}", m=m, n=n, k=k, act_bits=bits, weight_bits=bits,
                            out_bits=32)


def _conv_layer(cin, h, w, cout, kern, stride, pad):
    return LayerWork.conv(f"conv{cin}x{h}x{w}-{cout}k{kern}s{stride}", batch=1, in_channels=cin,
                          in_h=h, in_w=w, out_channels=cout, kernel=(kern, kern),
                          stride=(stride, stride), pads=(pad,) * 4)


#: MLAS's U8S8 kernel on an AVX2 host without VNNI: vpmaddubsw + vpmaddwd (the ``madd`` path);
#: its register block is taken as 4 rows x 2 ymm (an estimate; the host's measured int8
#: efficiency absorbs the difference)
AVX2_INT8 = dict(isa="avx2", dtype="int8", int8_path="madd", mr=4, nr_vectors=2, pack_a=True)

KERNELS = {
    "numpy-f32-openblas-haswell": dict(isa="avx2", dtype="fp32", mr=4, nr_vectors=2),
    "numpy-f32-openblas-skylakex": dict(isa="avx512", dtype="fp32", mr=4, nr_vectors=4),
    "ort-matmulinteger-u8s8": dict(isa="avx512", dtype="int8", int8_path="vnni", mr=6,
                                   nr_vectors=3, pack_a=True),
    "ort-qlinearconv-u8s8": dict(isa="avx512", dtype="int8", int8_path="vnni", mr=6,
                                 nr_vectors=3, pack_a=True),
    "gilt-numba-vnni-core": dict(isa="avx512", dtype="int8", int8_path="vnni", mr=6,
                                 nr_vectors=4),
}


def kernel_args(spec, contender) -> dict:
    """The contender's kernel on this host: MLAS runs its AVX2 (madd) kernel where the CPU
    has no AVX512-VNNI."""
    args = KERNELS[contender]
    if contender.startswith("ort-") and spec.vnni_bits < 512:
        return AVX2_INT8
    return args


def predict(spec, contender, layer, overhead_us) -> float:
    kernel = KernelChoice(threads=THREADS, warm=True, call_overhead_us=overhead_us,
                          **kernel_args(spec, contender))
    return simulate_layer(layer, spec, kernel).time_s


# --------------------------------------------------------------------------- seed check (C13)
_SKX_SCRIPT = """
import json, time, numpy as np, threadpoolctl
info = threadpoolctl.threadpool_info()
a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
b = a.copy(); a @ b; a @ b
ts = []
for _ in range(7):
    t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
print(json.dumps({"arch": [i.get("architecture") for i in info], "t": float(np.median(ts))}))
"""


def measure_openblas_coretype(coretype: str) -> dict | None:
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype, OPENBLAS_NUM_THREADS=str(THREADS))
    try:
        proc = subprocess.run([sys.executable, "-c", _SKX_SCRIPT], env=env, capture_output=True,
                              text=True, timeout=60, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        print(f"  OPENBLAS_CORETYPE={coretype} run failed: {exc}")
        return None


def measure_scalar_f32(m=96, n=96, k=96) -> float:
    """A float32 dot-product loop Numba cannot vectorize (strict FP order of the k reduction):
    one dependent add chain per output."""
    from numba import njit

    @njit(cache=False)
    def gemm(a, b, c):
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                acc = np.float32(0.0)
                for kk in range(a.shape[1]):
                    acc += a[i, kk] * b[kk, j]
                c[i, j] = acc

    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = np.ascontiguousarray(rng.standard_normal((k, n), dtype=np.float32))
    c = np.empty((m, n), np.float32)
    return _best_time(lambda: gemm(a, b, c))


# --------------------------------------------------------------------------- main
def main() -> int:
    import threadpoolctl

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    if load_start > 1.0:
        print(f"WARNING: 1-minute load average {load_start:.2f} on a 2-core machine: other jobs "
              "are running, timings will be inflated (a descheduled thread costs a 4 ms tick)")
    rng = np.random.default_rng(0)
    blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    arch = blas[0].get("architecture", "?") if blas else "?"
    print(f"OpenBLAS kernel family (threadpoolctl): {arch}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    numpy_contender = ("numpy-f32-openblas-skylakex" if str(arch).lower().startswith("skylakex")
                       else "numpy-f32-openblas-haswell")
    if not str(arch).lower().startswith(("haswell", "skylakex", "zen")):
        print(f"  note: OpenBLAS {arch} is modelled as the Haswell kernel")
    spec = load_cpu_spec("host")          # detected + calibrated (cached after the first run)
    clock = spec.clock_mhz
    host = f"{host_preset_name()} ({_cpu_model_name()}, {spec.cores} CPUs)"
    print(f"host: preset {host} -> measured clock {clock:.0f} MHz, L2 {spec.l2_kib:.0f} KiB, "
          f"L3 {spec.l3_mib:.0f} MiB, fp32/int8 kernel efficiency "
          f"{spec.fp32_kernel_efficiency}/{spec.int8_kernel_efficiency}")

    rows = []
    blocks = [("numpy", numpy_contender, time_numpy, GEMM_SHAPES, True),("ort-mmi", "ort-matmulinteger-u8s8", time_mmi, GEMM_SHAPES, False),
               ("ort-qconv", "ort-qlinearconv-u8s8", time_qconv, CONV_SHAPES, None),
               ("gilt", "gilt-numba-vnni-core", time_gilt, GEMM_SHAPES, False)]
    for label, contender, timer, shapes, fp32 in blocks:
        print(f"-- {label}: timing {len(shapes)} shapes", flush=True)
        with threadpoolctl.threadpool_limits(limits=THREADS, user_api="blas"):
            tiny_shapes = [TINY] if fp32 is not None else [(8, 1, 1, 16, 1, 1, 0)]
            tiny = timer(tiny_shapes, rng)
            measured = timer(shapes, rng)
        if not measured:
            continue
        overhead_us = next(iter(tiny.values())) * 1e6
        for shape, t_meas in measured.items():
            if fp32 is None:
                layer = _conv_layer(*shape)
            elif contender.startswith("gilt"):  # the core runs on M, N padded to 6 and 64
                m, n, k = shape
                layer = _gemm_layer(-(-m // 6) * 6, -(-n // 64) * 64, k, False)
            else:
                layer = _gemm_layer(*shape, fp32)
            t_pred = predict(spec, contender, layer, overhead_us)
            result = simulate_layer(layer, spec, KernelChoice(
                threads=THREADS, warm=True, call_overhead_us=overhead_us,
                **kernel_args(spec, contender)))
            rows.append({"contender": contender, "shape": "x".join(map(str, shape)),
                         "macs": layer.macs_dense, "measured_us": t_meas * 1e6,
                         "predicted_us": t_pred * 1e6,
                         "error_pct": 100 * (t_pred - t_meas) / t_meas,
                         "measured_gops": 2 * layer.macs_dense / t_meas / 1e9,
                         "bound": result.bound, "lane_util": result.details["lane_utilization"],
                         "call_overhead_us": overhead_us, "host": host})
    errors = np.abs([r["error_pct"] for r in rows])
    print(f"\n{'contender':<30}{'shape':<22}{'meas us':>10}{'pred us':>10}{'err%':>8}"
          f"{'GOP/s':>8}  bound")
    for r in rows:
        print(f"{r['contender']:<30}{r['shape']:<22}{r['measured_us']:>10.1f}"
              f"{r['predicted_us']:>10.1f}{r['error_pct']:>8.1f}{r['measured_gops']:>8.0f}"
              f"  {r['bound']}")
    if GILT_FULL_CALL:
        print("\n  gilt matmul_int whole call vs its core GEMM (wrapper share: per-call A packing, "
              "int64 row sums, epilogue; not modelled):")
        for r in rows:
            if r["contender"].startswith("gilt"):
                shape = tuple(int(v) for v in r["shape"].split("x"))
                full = GILT_FULL_CALL[shape] * 1e6
                print(f"    {r['shape']:<18} core {r['measured_us']:8.1f} us, whole call "
                      f"{full:8.1f} us ({100 * (1 - r['measured_us'] / full):.0f}% wrapper)")
    summary = {"median_abs_error_pct": float(np.median(errors)),
               "worst_abs_error_pct": float(errors.max())}
    for contender in dict.fromkeys(r["contender"] for r in rows):
        errs = np.abs([r["error_pct"] for r in rows if r["contender"] == contender])
        print(f"  {contender:<30} median |err| {np.median(errs):5.1f}%  worst {errs.max():5.1f}%")
    print(f"ALL: median |error| {summary['median_abs_error_pct']:.1f}%, worst "
          f"{summary['worst_abs_error_pct']:.1f}% over {len(rows)} cases (goal: median <= 5%, "
          f"worst <= 25%) on {host}")

    # ---- seed check C13: AVX-512 vs AVX2 vs scalar, measured here and modelled
    print("\n-- seed check C13 (fp32 GEMM 1024^3 and int8 vs fp32)")
    seed = {}
    for coretype in ("Haswell", "SkylakeX"):
        got = measure_openblas_coretype(coretype)
        if got:
            seed[f"openblas_{coretype.lower()}_s"] = got["t"]
            print(f"  measured OpenBLAS {got['arch']}: {got['t'] * 1e3:.2f} ms")
    scalar_t = measure_scalar_f32()
    seed["scalar_numba_96cube_s"] = scalar_t
    mod = {isa: simulate_layer(_gemm_layer(1024, 1024, 1024, True), spec, KernelChoice(
        isa=isa, dtype="fp32", threads=THREADS, warm=True)).time_s
        for isa in ("scalar", "avx2", "avx512") if isa != "avx512" or spec.vector_bits >= 512}
    scalar_model = simulate_layer(_gemm_layer(96, 96, 96, True), spec, KernelChoice(
        isa="scalar", dtype="fp32", threads=1, warm=True, mr=1, nr_vectors=1)).time_s
    cyc_per_mac = scalar_t * clock * 1e6 / 96 ** 3
    seed["scalar_numba_cycles_per_mac"] = cyc_per_mac
    print(f"  Numba float32 loop 96^3, strict FP order (1 thread): measured {scalar_t * 1e6:.0f} us"
          f" = {cyc_per_mac:.2f} cycles/MAC; model of a scalar 1x1 chain {scalar_model * 1e6:.0f}"
          f" us. Below the FP-add latency per MAC, so LLVM overlapped several output chains:"
          f" not a clean scalar baseline (the model's 'scalar' ISA is a register-blocked one)")
    if "openblas_haswell_s" in seed and "openblas_skylakex_s" in seed and "avx512" in mod:
        print(f"  AVX-512 / AVX2 sgemm speed-up: measured "
              f"{seed['openblas_haswell_s'] / seed['openblas_skylakex_s']:.2f}x, model "
              f"{mod['avx2'] / mod['avx512']:.2f}x (seed C13 claims 3.2x on Xeon)")
    print("  model, host: " + ", ".join(f"{isa} {t * 1e3:.2f} ms" for isa, t in mod.items()))
    mmi = {r["shape"]: r["measured_us"] for r in rows if r["contender"].startswith("ort-mat")}
    f32 = {r["shape"]: r["measured_us"] for r in rows if r["contender"].startswith("numpy")}
    common = [s for s in mmi if s in f32]
    if common:
        ratios = [f32[s] / mmi[s] for s in common]
        print(f"  int8 (ORT MatMulInteger) vs fp32 (numpy {arch}) speed-up, measured: median "
              f"{np.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f})")
        seed["int8_vs_fp32_measured_median"] = float(np.median(ratios))
    summary["load_average_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    print(f"load average at start / end: {summary['load_average_start_end']}")
    target = DATA if load_start <= 1.0 else DATA.with_name("cpu_validation.contended.csv")
    _write_rows(target, rows, summary, seed, arch, clock)
    print(f"wrote {target} ({time.perf_counter() - t_start:.0f} s total; the machine is shared, "
          "timings are noisy)")
    return 0


def _write_rows(path, rows, summary, seed, arch, clock):
    """The table as CSV (atomically); a run started under load goes to a separate file so it
    never replaces the stored quiet-machine table."""
    from common.files import write_text_atomic

    buf = io.StringIO()
    buf.write(f"# measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this machine;"
              f" OpenBLAS {arch}; clock {clock:.0f} MHz; {THREADS} threads; "
              f"{json.dumps(summary)}; seed {json.dumps(seed)}\n")
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text_atomic(path, buf.getvalue())


if __name__ == "__main__":
    raise SystemExit(main())

"""Numba CPU int8 GEMM and conv kernels against onnxruntime, measured in the same run.

``python -m benchmarks kernels``:

1. GEMM: `kernels.cpu.matmul_int.matmul_int` (uint8 x int8, B packed once in the VNNI layout)
   vs onnxruntime MatMulInteger (uint8 x int8, B an initializer). Target: >= 50% of
   onnxruntime's GOP/s. Results are checked equal first.
2. Conv: `kernels.cpu.fusion.conv_bn_relu_int` without activation (conv + requantize, mode
   "onnxruntime") vs onnxruntime QLinearConv on ResNet-50-like layers; outputs must be equal.
   onnxruntime packs the weight initializer once at session creation, so the Numba side gets
   its weights packed once too (`pack_conv_weights`, outside the timed loop): that is the
   compared figure. The time with raw weights (packed again on every call) is shown beside it.
3. Whether `vpdpbusd` appears in the GEMM kernel's assembly (`inspect_asm`), and how long a
   fresh process takes to load the cached kernels (`cache=True`).

Each contender is timed in its own block (alternating call by call on 2 cores slows both:
both thread pools spin after a call). GOP/s = 2*M*N*K / median time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

REPEATS = 15
GEMM_SHAPES = ((512, 512, 512), (1024, 1024, 1024), (3136, 576, 64))
# (C, H, W, O, K, stride, pad): ResNet-50 stage-1/2 3x3 convs and a 1x1
CONV_LAYERS = ((64, 56, 56, 64, 3, 1, 1), (128, 28, 28, 128, 3, 1, 1), (256, 14, 14, 1024, 1, 1, 0))


def _median_time(fn, repeats=REPEATS):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


THREADS = [1]  # set by main(): threads for both contenders


def _ort_session(model):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS[0]
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def _matmul_integer_model(b):
    from onnx import TensorProto, helper, numpy_helper
    k, n = b.shape
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "mm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["M", n])],
        [numpy_helper.from_array(b, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _qlinear_conv_model(w, x_scale, x_zp, w_scale, y_scale, y_zp, stride, pad):
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.array(x_scale, np.float32), "xs"),
             numpy_helper.from_array(np.array(x_zp, np.uint8), "xz"),
             numpy_helper.from_array(w, "W"),
             numpy_helper.from_array(w_scale.astype(np.float32), "ws"),
             numpy_helper.from_array(np.zeros(w.shape[0], np.int8), "wz"),
             numpy_helper.from_array(np.array(y_scale, np.float32), "ys"),
             numpy_helper.from_array(np.array(y_zp, np.uint8), "yz")]
    node = helper.make_node("QLinearConv", ["X", "xs", "xz", "W", "ws", "wz", "ys", "yz"], ["Y"],
                            strides=[stride, stride], pads=[pad] * 4)
    graph = helper.make_graph([node], "qconv",
                              [helper.make_tensor_value_info("X", TensorProto.UINT8, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.UINT8, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def bench_gemm(rng):
    from kernels.cpu.matmul_int import matmul_int, pack_b
    ratios = []
    cases = []
    for m, k, n in GEMM_SHAPES:
        a = rng.integers(0, 256, (m, k), dtype=np.uint8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        cases.append((a, b, pack_b(b)))
    # Numba block first, then onnxruntime (whose thread pool spins after each call).
    t_numbas = [_median_time(lambda: matmul_int(a, packed)) for a, _, packed in cases]  # noqa: B023
    t_orts, equals = [], []
    for a, b, packed in cases:
        sess = _ort_session(_matmul_integer_model(b))
        equals.append(np.array_equal(matmul_int(a, packed), sess.run(None, {"A": a})[0]))
        t_orts.append(_median_time(lambda: sess.run(None, {"A": a})))  # noqa: B023

    print(f"{'GEMM M x K x N':>20} {'numba GOP/s':>12} {'ort GOP/s':>10} {'ratio':>6}  equal")
    for (m, k, n), t_numba, t_ort, equal in zip(GEMM_SHAPES, t_numbas, t_orts, equals):
        ops = 2 * m * n * k
        ratio = t_ort / t_numba
        ratios.append(ratio)
        print(f"{f'{m} x {k} x {n}':>20} {ops / t_numba / 1e9:12.0f} {ops / t_ort / 1e9:10.0f} "
              f"{ratio:6.2f}  {equal}")
    return ratios, all(equals)


def bench_conv(rng):
    from kernels.cpu.conv_int import pack_conv_weights
    from kernels.cpu.fusion import conv_bn_relu_int
    ratios, equals = [], []
    print("conv: Numba weights pre-packed once (pack_conv_weights, outside the timed loop), as "
          "onnxruntime packs its initializer at session creation; 'raw w' = packed every call")
    print(f"{'QLinearConv C x H x W -> O':>28} {'numba GOP/s':>12} {'ort GOP/s':>10} {'ratio':>6} "
          f"{'raw w GOP/s':>12} {'raw ratio':>9}  equal")
    for c, h, w_, o, kk, stride, pad in CONV_LAYERS:
        x = rng.integers(0, 256, (1, c, h, w_), dtype=np.uint8)
        w = rng.integers(-127, 128, (o, c, kk, kk), dtype=np.int8)
        x_scale, x_zp, y_scale, y_zp = 0.02, 128, 0.5, 120
        w_scale = rng.uniform(0.001, 0.01, o).astype(np.float32)
        sess = _ort_session(_qlinear_conv_model(w, x_scale, x_zp, w_scale, y_scale, y_zp,
                                                stride, pad))
        kw = dict(x_scale=np.float32(x_scale), w_scale=w_scale, out_scale=np.float32(y_scale),
                  x_zero_point=np.uint8(x_zp), out_zero_point=np.uint8(y_zp), activation=None,
                  mode="onnxruntime", dtype="uint8", strides=(stride, stride), pads=(pad,) * 4)
        packed = pack_conv_weights(w)  # once, like an initializer: not timed
        t_raw = _median_time(lambda: conv_bn_relu_int(x, w, None, **kw))  # noqa: B023
        t_numba = _median_time(lambda: conv_bn_relu_int(x, packed, None, **kw))  # noqa: B023
        ours = conv_bn_relu_int(x, packed, None, **kw)
        equal = (np.array_equal(ours, sess.run(None, {"X": x})[0])
                 and np.array_equal(ours, conv_bn_relu_int(x, w, None, **kw)))
        equals.append(equal)
        t_ort = _median_time(lambda: sess.run(None, {"X": x}))  # noqa: B023

        oh = (h + 2 * pad - kk) // stride + 1
        ops = 2 * oh * oh * o * c * kk * kk
        ratio = t_ort / t_numba
        ratios.append(ratio)
        name = f"{c}x{h}x{w_} -> {o}, {kk}x{kk}/{stride}"
        print(f"{name:>28} {ops / t_numba / 1e9:12.0f} {ops / t_ort / 1e9:10.0f} {ratio:6.2f} "
              f"{ops / t_raw / 1e9:12.0f} {t_ort / t_raw:9.2f}  {equal}")
    return ratios, all(equals)


def vpdpbusd_in_asm() -> bool:
    """Compile the GEMM kernel without the cache (inspect_asm is disabled for cached code)."""
    from numba import njit

    from kernels.cpu import matmul_int as mi
    fresh = njit(parallel=True)(mi._gemm_vnni.py_func)
    a32 = np.zeros((mi.MR, 1), np.int32)
    bp = np.zeros(256, np.uint8)
    fresh(a32, bp, 1, 1, 1, np.zeros(mi.MR * mi.NR, np.int32))
    return any("vpdpbusd" in asm for asm in fresh.inspect_asm().values())


def cached_start_seconds() -> float:
    """Wall time of a fresh process's first kernel call (import excluded), cache warm."""
    code = ("import time, numpy as np; from kernels.cpu.matmul_int import matmul_int; "
            "a = np.ones((7, 9), np.uint8); b = np.ones((9, 5), np.int8); "
            "t = time.perf_counter(); matmul_int(a, b); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    import numba

    from kernels.cpu._vnni import HAS_AVX512_VNNI
    print(f"host AVX512-VNNI: {HAS_AVX512_VNNI}; cores: {os.cpu_count()}; load average "
          f"{os.getloadavg()[0]:.1f} (other jobs on these cores slow the multi-threaded "
          f"runs: a parallel region waits for its slowest thread)")
    ok = True
    for threads in sorted({1, os.cpu_count() or 1}):
        THREADS[0] = threads
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        print(f"\n--- {threads} thread(s), Numba and onnxruntime alike ---")
        rng = np.random.default_rng(0)
        gemm_ratios, gemm_equal = bench_gemm(rng)
        conv_ratios, conv_equal = bench_conv(rng)
        ok = ok and gemm_equal and conv_equal
        g = float(np.exp(np.mean(np.log(gemm_ratios))))
        c = float(np.exp(np.mean(np.log(conv_ratios))))
        print(f"geometric-mean speed ratio vs onnxruntime, {threads} thread(s): GEMM {g:.2f}, "
              f"conv {c:.2f} (weights pre-packed; target >= 0.50)")
    if HAS_AVX512_VNNI:
        print(f"vpdpbusd in the GEMM kernel's assembly: {vpdpbusd_in_asm()}")
    print(f"fresh process, first cached GEMM call: {cached_start_seconds() * 1e3:.1f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""reference/ quantized integer ops vs ONNX Runtime and onnx.reference, in the same run.

``python -m benchmarks reference_int``: ``qlinear_conv`` on the three convolution shapes of
issue 2 and ``qlinear_matmul`` at 512^3, each with per-channel int8 weights (uint8 activations),
timed against ONNX Runtime (CPU, 2 threads, weights as initializers) and onnx.reference.
Every result is also checked bit for bit against ONNX Runtime, in the accumulation that
reproduces this host's (``exact``, or ``vpmaddubsw`` on x86 without VNNI, where ORT's uint8 x
int8 kernels saturate pair sums; the timings are of ``exact``). Targets (2-core machine):
>= 30x faster than onnx.reference, within 10x of ONNX Runtime.
"""

from __future__ import annotations

import os
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from reference import qlinear_conv, qlinear_matmul
from reference.matmul_int import ACCUMULATIONS

REF_TARGET = 30.0  # at least this many times faster than onnx.reference
ORT_TARGET = 10.0  # at most this many times slower than ONNX Runtime

# name, (N, C, H, W), (O, KH, KW), stride, pad
CONVS = [
    ("conv 1x64x56x56 3x3 64->64 pad 1", (1, 64, 56, 56), (64, 3, 3), 1, 1),
    ("conv 1x256x14x14 1x1 256->1024", (1, 256, 14, 14), (1024, 1, 1), 1, 0),
    ("conv 1x3x224x224 7x7 s2 3->64 pad 3", (1, 3, 224, 224), (64, 7, 7), 2, 3),
]
MATMUL = ("matmul 512x512x512", 512, 512, 512)


def _time(fn, repeats: int, budget_s: float = 20.0) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs (fewer if the budget runs out).

    The minimum, not the median: the 2 cores are shared, and the least disturbed run is the
    fairest measure of each contender (all three are timed the same way)."""
    fn()  # warm-up (thread pools, caches)
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return min(times)


def _session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _model(op, inputs, inits, attrs=None):
    node = helper.make_node(op, [n for n, _ in inputs], ["y"], **(attrs or {}))
    feeds = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
             for n, a in inputs if n not in inits]
    graph = helper.make_graph(
        [node], "bench", feeds, [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
        initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in inputs if n in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model


def _qparams(rng, channels):
    return (np.float32(0.02), np.uint8(rng.integers(0, 256)),
            (10.0 ** rng.uniform(-3, -2, channels)).astype(np.float32), np.zeros(channels, np.int8),
            np.float32(0.5), np.uint8(rng.integers(0, 256)))


def conv_case(rng, x_shape, w_shape, stride, pad):
    x = rng.integers(0, 256, x_shape).astype(np.uint8)
    o, kh, kw = w_shape
    w = rng.integers(-8, 8, (o, x_shape[1], kh, kw)).astype(np.int8)  # W4 values
    xs, xz, ws, wz, ys, yz = _qparams(rng, o)
    bias = rng.integers(-1000, 1000, o).astype(np.int32)
    attrs = {"pads": [pad] * 4, "strides": [stride] * 2}
    inputs = [("x", x), ("xs", xs), ("xz", xz), ("w", w), ("ws", ws), ("wz", wz), ("ys", ys),
              ("yz", yz), ("b", bias)]
    model = _model("QLinearConv", inputs, {n for n, _ in inputs} - {"x"}, attrs)

    def ours(accumulation="exact"):
        return qlinear_conv(x, xs, xz, w, ws, wz, ys, yz, bias, pads=(pad,) * 4,
                            strides=(stride, stride), accumulation=accumulation)
    return model, {"x": x}, ours


def matmul_case(rng, m, k, n):
    a = rng.integers(0, 256, (m, k)).astype(np.uint8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    xs, xz, ws, wz, ys, yz = _qparams(rng, n)
    ys = np.float32(20.0)
    inputs = [("a", a), ("as", xs), ("az", xz), ("b", b), ("bs", ws), ("bz", wz), ("ys", ys),
              ("yz", yz)]
    model = _model("QLinearMatMul", inputs, {n_ for n_, _ in inputs} - {"a"})

    def ours(accumulation="exact"):
        return qlinear_matmul(a, xs, xz, b, ws, wz, ys, yz, accumulation=accumulation)
    return model, {"a": a}, ours


def main() -> int:
    load = os.getloadavg()
    rng = np.random.default_rng(0)
    cases = [(name, *conv_case(rng, *shape)) for name, *shape in CONVS]
    cases.append((MATMUL[0], *matmul_case(rng, *MATMUL[1:])))
    print(f"{'case':38s} {'gilt ms':>9s} {'ORT ms':>8s} {'onnx.ref ms':>12s} "
          f"{'vs ref':>8s} {'/ ORT':>7s}  bit-exact in")
    misses = 0
    for name, model, feeds, ours in cases:
        sess = _session(model)
        # ORT's uint8 x int8 kernels saturate pair sums on x86 without VNNI: name the
        # accumulation that reproduces this host's result (timings use "exact")
        want = sess.run(None, feeds)[0]
        matched = [acc for acc in ACCUMULATIONS if np.array_equal(ours(acc), want)]
        exact = bool(matched)
        # Each contender timed in its own block: alternating thread pools slow both.
        t_ours = _time(ours, 30)
        t_ort = _time(lambda s=sess, f=feeds: s.run(None, f), 30)
        evaluator = ReferenceEvaluator(model)
        t_ref = _time(lambda e=evaluator, f=feeds: e.run(None, f), 5, budget_s=60.0)
        vs_ref, vs_ort = t_ref / t_ours, t_ours / t_ort
        ok = vs_ref >= REF_TARGET and vs_ort <= ORT_TARGET and exact
        misses += not ok
        print(f"{name:38s} {t_ours * 1e3:9.2f} {t_ort * 1e3:8.2f} {t_ref * 1e3:12.1f} "
              f"{vs_ref:7.1f}x {vs_ort:6.1f}x  {'/'.join(matched) or 'NO'}"
              f"{'' if ok else '  (target missed)'}")
    print(f"load average before/after: {load[0]:.2f} / {os.getloadavg()[0]:.2f} (2 cores "
          f"shared: a busy machine slows the 2-thread BLAS most)")
    print(f"targets: >= {REF_TARGET:.0f}x faster than onnx.reference, <= {ORT_TARGET:.0f}x the "
          f"time of ONNX Runtime, bit-exact; {len(cases) - misses}/{len(cases)} cases meet them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

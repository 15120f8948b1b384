"""Run every CUDA kernel on a real GPU against the reference, and time GEMM/conv next to torch.

``python -m benchmarks.gpu_kernels_check`` (under 5 minutes on one GPU). Without a GPU it
prints why and exits 0 (CI never depends on one). With one:

1. every `cuda.*` kernel of `kernels.registry` on a few deterministic cases (odd shapes,
   every requantize mode, int4 weights, gating/zero-skip/tiling records), compared with the
   reference by `KernelSpec.compare` (np.array_equal, records field by field);
2. int8 GEMM (1024^3 and 4096^3) against `torch._int_mm` (cuBLAS int8) and a ResNet-50 3x3
   conv against cuDNN (float16), device time only (inputs already on the GPU), when torch
   with CUDA is installed.

Exit status 1 when any kernel differs from the reference.
"""

from __future__ import annotations

import os
import sys
import time

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"  # real GPU; must precede the first numba import

import numpy as np  # noqa: E402


def _cases(rng):
    """{op: [(args, kwargs), ...]} deterministic cases, odd shapes."""
    from reference.packing import pack_int4
    from reference.requantize import REQUANTIZE_MODES

    def i8(shape, dtype=np.int8):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)

    a, b = i8((67, 131)), i8((131, 45), np.uint8)
    b4 = rng.integers(-8, 8, (131, 45)).astype(np.int8)
    x, w = i8((2, 6, 19, 17), np.uint8), i8((8, 3, 3, 3))
    conv_kw = dict(x_zero_point=np.uint8(7), w_zero_point=np.int8(-3),
                   bias=i8((8,), np.int32), strides=(2, 1), pads=(1, 2, 0, 1), groups=2)
    dw = i8((6, 1, 3, 3))
    acc = i8((2, 8, 33), np.int32) >> 12
    sparse_a = np.where(rng.random((40, 36)) < 0.3, a[:40, :36], 0).astype(np.int8)
    return {
        "matmul_int": [((a, b), {"a_zero_point": 3, "b_zero_point": 250}),
                       ((a, pack_int4(b4)), {"b_int4_shape": (131, 45), "b_zero_point": 1})],
        "conv2d_int": [((x, w), conv_kw),
                       ((x, dw), {"groups": 6, "pads": (1, 1, 1, 1), "x_zero_point": 128})],
        "quantize": [((rng.standard_normal((5, 7, 9)).astype(np.float32) * 50,
                       np.float32(0.37), np.int8(3)), {"rounding": r})
                     for r in ("half_even", "half_away")],
        "dequantize": [((i8((5, 7, 9)), np.float32(0.05), np.int8(-2)), {})],
        "requantize": [((acc, np.float32(0.02), rng.uniform(1e-3, 0.1, 8).astype(np.float32),
                         np.float32(0.3), np.int8(5)), {"mode": m}) for m in REQUANTIZE_MODES],
        "skip_matmul_int": [((sparse_a, i8((36, 29))), {"a_block": (4, 4), "b_block": (4, 5)})],
        "tiled_conv2d_int": [((i8((1, 4, 21, 18), np.uint8), i8((5, 4, 3, 3))),
                              {"pads": (1, 1, 1, 1), "x_zero_point": 100})],
        "gated_conv2d_int": [((x, w, rng.random((2, 6)) < 0.5), dict(conv_kw, kind="channel")),
                             ((x, w, rng.random((2, 19, 17)) < 0.5),
                              dict(conv_kw, kind="spatial"))],
        "conv_bn_relu_int": [((x, w, conv_kw["bias"]),
                              {"x_scale": np.float32(0.02), "w_scale": np.float32(0.004),
                               "out_scale": np.float32(0.25), "x_zero_point": np.uint8(7),
                               "activation": act, "mode": m, "strides": (2, 1),
                               "pads": (1, 2, 0, 1), "groups": 2})
                             for act, m in (("relu", "onnxruntime"), ("relu6", "tflite"),
                                            (None, "tflite-ruy"))],
    }


def check_all(rng) -> int:
    from kernels.registry import KERNELS
    cases = _cases(rng)
    failures = 0
    for spec in (s for s in KERNELS if s.backend == "cuda"):
        for args, kwargs in cases.get(spec.op, []):
            t0 = time.perf_counter()
            problems = spec.compare(spec.run(*args, **kwargs),
                                    spec.load_reference()(*args, **kwargs))
            status = "ok" if not problems else f"DIFFERS: {problems}"
            failures += bool(problems)
            print(f"{spec.name:<24} {status}  ({time.perf_counter() - t0:.2f} s incl. JIT)")
    return failures


def _device_time(fn, sync, repeats=20):
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def time_against_torch(rng):
    from numba import cuda

    from kernels.cuda import conv_int as kconv
    from kernels.cuda import matmul_int as kmm
    try:
        import torch
    except ImportError:
        torch = None
    for n in (1024, 4096):
        a = rng.integers(-128, 128, (n, n)).astype(np.int8)
        b = rng.integers(-128, 128, (n, n)).astype(np.int8)
        d_a, d_b = cuda.to_device(a), cuda.to_device(b)
        zp = cuda.to_device(np.zeros(n, np.int32))
        out = cuda.device_array((n, n), np.int32)
        grid, block = kmm._grid(n, n)
        t = _device_time(lambda: kmm.gemm_kernel[grid, block](d_a, d_b, zp, zp, out),  # noqa: B023
                         cuda.synchronize)
        line = f"int8 GEMM {n}^3: numba-cuda {2 * n**3 / t / 1e12:.2f} TOP/s"
        if torch is not None and torch.cuda.is_available():
            ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
            tt = _device_time(lambda: torch._int_mm(ta, tb), torch.cuda.synchronize)  # noqa: B023
            line += f", torch._int_mm {2 * n**3 / tt / 1e12:.2f} TOP/s, ratio {tt / t:.3f}"
        print(line)
    x = rng.integers(0, 256, (8, 64, 56, 56)).astype(np.uint8)
    w = rng.integers(-128, 128, (64, 64, 3, 3)).astype(np.int8)
    d_x, d_w = cuda.to_device(x), cuda.to_device(w)
    zeros = cuda.to_device(np.zeros(64, np.int32))
    y = cuda.device_array((8, 64, 56, 56), np.int32)
    grid = (4, (8 * 56 * 56 + kconv.TILE - 1) // kconv.TILE, 1)
    t = _device_time(lambda: kconv.conv_implicit_gemm_kernel[grid, (kconv.TILE, kconv.TILE)](
        d_x, d_w, 128, zeros, zeros, 1, 1, 1, 1, 1, 1, 56, 56, y), cuda.synchronize)
    ops = 2 * 8 * 64 * 56 * 56 * 64 * 9
    line = f"conv 8x64x56x56, 3x3 -> 64: numba-cuda int8 {ops / t / 1e12:.2f} TOP/s"
    if torch is not None and torch.cuda.is_available():
        tx = torch.from_numpy(x.astype(np.float16)).cuda()
        tw = torch.from_numpy(w.astype(np.float16)).cuda()
        tt = _device_time(lambda: torch.nn.functional.conv2d(tx, tw, padding=1),
                          torch.cuda.synchronize)
        line += f", cuDNN fp16 {ops / tt / 1e12:.2f} TFLOP/s, ratio {tt / t:.3f}"
    print(line)


def main() -> int:
    from numba import cuda
    if not cuda.is_available():
        print("gpu_kernels_check: skipped, no CUDA GPU/driver available here "
              "(the CUDA kernels are tested on Numba's simulator in tests/kernels)")
        return 0
    print(f"GPU: {cuda.get_current_device().name}")
    rng = np.random.default_rng(0)
    failures = check_all(rng)
    time_against_torch(rng)
    print(f"{failures} kernel case(s) differ from the reference")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Compile every CUDA kernel of kernels/cuda to PTX without a GPU (numba-cuda `compile_ptx`).

Run as `NUMBA_ENABLE_CUDASIM=0 python -m kernels.cuda.ptx [--cc 8.0]`: prints one JSON line
per kernel ({"kernel", "ok", "lines" or "error"}) and exits 0 when all compiled, 1 when one
failed, 2 when the NVVM/NVRTC libraries are missing (a line {"skip": reason}). Needs the
simulator off: under NUMBA_ENABLE_CUDASIM=1 there is no compiler. `SIGNATURES` names one
argument signature per kernel; `main` also checks that no kernel of the modules is left out.
"""

import argparse
import importlib
import json
import os
import sys

CUDA_MODULES = ("matmul_int", "conv_int", "quantize", "requantize", "zeroskip", "tiling",
                "gating", "fusion")


def signatures():
    """{"module:kernel": argument types} with representative dtypes (int8 data, C order)."""
    from numba import types as t
    i8_2, u8_1 = t.int8[:, ::1], t.uint8[::1]
    i8_4, i32_1, i32_2, i32_4 = t.int8[:, :, :, ::1], t.int32[::1], t.int32[:, ::1], \
        t.int32[:, :, :, ::1]
    i16_2, i64_1, f32_1 = t.int16[:, ::1], t.int64[::1], t.float32[::1]
    i, b = t.int64, t.boolean
    geo = (i,) * 6
    return {
        "matmul_int:gemm_kernel": (i8_2, i8_2, i32_1, i32_1, i32_2),
        "matmul_int:gemm_int4_kernel": (i8_2, u8_1, i, i32_1, i32_1, i32_2),
        "conv_int:conv_implicit_gemm_kernel": (i8_4, i8_4, i, i32_1, i32_1) + geo + (i, i, i32_4),
        "conv_int:depthwise_kernel": (i8_4, i8_4, i, i32_1, i32_1) + geo + (i32_4,),
        "quantize:quantize_kernel": (t.float32[:, :, ::1], t.float32[:, :, ::1],
                                     t.int64[:, :, ::1], i, i, b, t.int8[:, :, ::1]),
        "quantize:dequantize_kernel": (t.int8[:, :, ::1], t.float32[:, :, ::1],
                                       t.int64[:, :, ::1], t.float32[:, :, ::1]),
        "requantize:requantize_kernel": (t.int32[:, :, ::1], b, f32_1, i64_1, i64_1, i, i, i, i,
                                         t.int8[:, :, ::1]),
        "zeroskip:zero_bitmap_kernel": (i16_2, i, i, i8_2),
        "zeroskip:skip_gemm_kernel": (i16_2, i16_2, i8_2, i8_2, i, i, i, i32_2, i64_1),
        "tiling:tiled_conv_kernel": (i8_4, i8_4, i, i32_1, i32_1) + geo + (i, i32_4, i64_1),
        "gating:gated_conv_kernel": (i8_4, i8_4, t.int8[:, :, ::1], i, i, i32_1, i32_1) + geo +
        (i32_4, i64_1),
        "fusion:fused_conv_kernel": (i8_4, i8_4, i, i32_1) + geo + (b, f32_1, i64_1, i64_1, i, i,
                                                                    i, i, i8_4),
    }


def _kernels_in(module):
    from numba.cuda.dispatcher import CUDADispatcher
    for name, obj in vars(module).items():
        if isinstance(obj, CUDADispatcher) and not obj.targetoptions.get("device", False):
            yield name, obj


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cc", default="8.0", help="compute capability, e.g. 8.0 or 9.0")
    args = parser.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        print(json.dumps({"skip": "NUMBA_ENABLE_CUDASIM is set: no PTX compiler in the "
                                  "simulator; run with NUMBA_ENABLE_CUDASIM=0"}))
        return 2
    from numba import cuda
    cc = tuple(int(v) for v in args.cc.split("."))
    sigs = signatures()
    failed = 0
    for mod_name in CUDA_MODULES:
        module = importlib.import_module(f"kernels.cuda.{mod_name}")
        for name, disp in _kernels_in(module):
            key = f"{mod_name}:{name}"
            if key not in sigs:
                print(json.dumps({"kernel": key, "ok": False,
                                  "error": "no signature in kernels.cuda.ptx.signatures()"}))
                failed += 1
                continue
            try:
                ptx, _ = cuda.compile_ptx(disp.py_func, sigs[key], cc=cc)
            except Exception as exc:  # noqa: BLE001 - report every failure, keep going
                text = f"{type(exc).__name__}: {exc}"
                if any(s in text for s in ("libnvvm", "libnvrtc", "NVVM", "DynamicLibNotFound")):
                    print(json.dumps({"skip": f"NVVM/NVRTC not available: {text[:300]}"}))
                    return 2
                print(json.dumps({"kernel": key, "ok": False, "error": text[:500]}))
                failed += 1
                continue
            print(json.dumps({"kernel": key, "ok": True, "lines": ptx.count("\n")}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

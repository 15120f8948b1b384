"""Which integer accumulation ONNX Runtime uses on this host, probed and predicted.

ONNX Runtime's uint8 x int8 GEMM kernels (MLAS) differ by CPU: on x86 without VNNI (AVX2, or
AVX-512 without VNNI) they sum raw byte products in pairs with int16 saturation
(``vpmaddubsw``); with AVX512-VNNI or AVX-VNNI (``vpdpbusd``), and on aarch64, they are exact.
Oracle tests must state that dependence instead of failing on one kind of machine:
:func:`ort_accumulation` asks the installed onnxruntime once (a MatMulInteger whose exact result
does not fit a saturated pair), :func:`predicted_accumulation` reads the CPU's flags the way
MLAS's ``platform.cpp`` chooses its kernel, and the tests assert that both agree, then compare
with gilt's matching ``accumulation=`` mode.
"""

from __future__ import annotations

import functools
import platform

import numpy as np

#: a = [255, 255], b = [127, -128]^T per column: exact 64770 and -65280, saturated 32767, -32768
PROBE_A = np.array([[255, 255]], np.uint8)
PROBE_B = np.array([[127, -128], [127, -128]], np.int8)
PROBE_RESULTS = {(64770, -65280): "exact", (32767, -32768): "vpmaddubsw"}
AVX512_CORE = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}


def cpu_flags() -> set[str] | None:
    """The ``flags`` of the first processor in /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def predicted_accumulation(machine: str | None = None, flags: set[str] | None = None
                           ) -> str | None:
    """The accumulation MLAS's kernel choice implies, or None where this is not modelled.

    x86-64: with AVX-512 F/BW/DQ/VL, the AVX512-VNNI kernel if ``avx512_vnni`` (exact; AMX
    likewise), else the AVX512-Core kernel (``vpmaddubsw``); otherwise with AVX2, the AVX-VNNI
    kernel if ``avx_vnni`` (exact), else the AVX2 kernel (``vpmaddubsw``). aarch64: exact
    (widening multiplies, or SDOT/UDOT/I8MM). Anything else, or x86 without AVX2: None.
    """
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64"):
        return "exact"
    if machine not in ("x86_64", "amd64"):
        return None
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return None
    if AVX512_CORE <= flags:
        exact = "avx512_vnni" in flags or {"amx_tile", "amx_int8"} <= flags
        return "exact" if exact else "vpmaddubsw"
    if "avx2" in flags:
        return "exact" if "avx_vnni" in flags else "vpmaddubsw"
    return None


@functools.lru_cache(maxsize=1)
def ort_accumulation() -> str:
    """Ask onnxruntime once which accumulation its uint8 x int8 kernels use here."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    graph = helper.make_graph(
        [node], "probe", [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        initializer=[numpy_helper.from_array(PROBE_B, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    got = tuple(int(v) for v in sess.run(None, {"a": PROBE_A})[0].reshape(-1))
    if got not in PROBE_RESULTS:
        raise AssertionError(f"onnxruntime's MatMulInteger gave {got} for [255, 255] x "
                             f"[[127, -128], [127, -128]]: neither exact (64770, -65280) nor "
                             f"int16-saturated pairs (32767, -32768); gilt models neither")
    return PROBE_RESULTS[got]


def x86_fma3() -> bool:
    """True on x86-64 with AVX2 and FMA3: the kernels ``reference.qlinear_ops`` reproduces."""
    return platform.machine().lower() in ("x86_64", "amd64") and \
        {"avx2", "fma"} <= (cpu_flags() or set())

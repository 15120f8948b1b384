"""The RTL array under Verilator: simulated cycles per second on a ResNet-50-sized layer.

``python -m benchmarks rtl``: a 16x16 weight-stationary array runs the 56x56x64 -> 64 3x3
convolution (pad 1, int4 weights) from golden vectors under Verilator + cocotb (target: under a
minute of simulation on 2 cores), bit-exact, with every counter equal to the NPU model's rtl mode.
Peers measured in the same run: the reference conv2d_int on the same tensors (NumPy) and the
model's prediction. The Verilator build is cached (build/rtl/); its time is printed apart.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

LAYER = {"c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "p": 1}
ROWS = COLS = 16
TARGET_S = 60.0


def main() -> int:
    from reference.conv_int import conv2d_int
    from simulator.npu import rtl_array
    from validation.cases import OperatorCase
    from validation.manifest import WriteOptions, golden_files, write_tree_atomic
    from validation.rtl.build import ArrayParams, ToolMissingError, build, choose_simulator
    from validation.rtl.driver import load_layer, run_layer

    try:
        sim = choose_simulator("verilator")
    except ToolMissingError as exc:
        print(f"skipped: {exc}")
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    params = ArrayParams(ROWS, COLS, "ws")
    t0 = time.perf_counter()
    build(params, sim)
    print(f"Verilator model {ROWS}x{COLS} ws: ready in {time.perf_counter() - t0:.1f} s "
          "(cached after the first build)")
    case = OperatorCase.parse("conv2d", LAYER, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        _, files = golden_files(case.describe(), case.tensors(),
                                WriteOptions(formats=("npy", "hex"), word_bits=32))
        layer = load_layer(write_tree_atomic(Path(tmp) / case.name, files))
        run = run_layer(layer, params, sim, workdir=tmp)
    t0 = time.perf_counter()
    conv2d_int(layer.x, layer.weight, x_zero_point=layer.x_zero_point,
               pads=layer.pads, strides=layer.stride)
    ref_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rtl_array.predict(layer.workload(), rtl_array.array_spec(ROWS, COLS, "ws"), zero_skip=True)
    model_s = time.perf_counter() - t0
    cycles = run.counters["cycles"]
    rate = cycles / run.sim_seconds
    print(f"{case.name} on {ROWS}x{COLS} ws: {cycles} cycles in {run.sim_seconds:.2f} s "
          f"simulated = {rate:,.0f} cycles/s ({run.wall_seconds:.1f} s wall with start-up)")
    print(f"bit-exact: {run.passed}; model = RTL on every counter: {run.model_matches}; "
          f"utilization {run.utilization:.1%}; SCALE-Sim-mode cycles {run.scalesim_cycles}")
    print(f"peers: reference conv2d_int {ref_s:.2f} s (RTL sim / reference = "
          f"{run.sim_seconds / ref_s:.1f}x); rtl-mode model {model_s:.3f} s (RTL sim / model = "
          f"{run.sim_seconds / model_s:.0f}x)")
    print(f"target (under {TARGET_S:.0f} s of simulation): "
          f"{'met' if run.sim_seconds < TARGET_S else 'MISSED'}")
    return 0 if run.passed and run.model_matches else 1


if __name__ == "__main__":
    sys.exit(main())

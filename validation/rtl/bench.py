"""The cocotb test bench of the gilt systolic array (imported by cocotb inside the simulator).

It reads the job the driver wrote (``GILT_RTL_JOB``: configuration registers, result path), drives
the clock, writes the configuration ports, pulses ``start``, waits for ``done``, reads every
performance counter and writes them, with the wall time, to the job's results file. The buffers
were loaded by the RTL itself from the golden-vector hex files (plusargs), and the accumulator
buffer is dumped with ``$writememh`` when ``done`` rises; the driver compares it.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

RESET_CYCLES = 140  # > ROWS + COLS for every size the build accepts (1..64)
COUNTERS = ("cycles", "busy", "stall", "steps", "preload", "scan", "gated", "folds",
            "skipped", "kactive")


@cocotb.test()
async def run_layer(dut):
    """Configure, start, wait for done, read the counters."""
    with open(os.environ["GILT_RTL_JOB"]) as fh:
        job = json.load(fh)
    # the sources set no timescale: 2 steps a cycle. Under Verilator the simulation main
    # toggles clk itself (+gilt_native_clock); elsewhere cocotb's clock runs in C (GPI).
    if not job.get("native_clock"):
        Clock(dut.clk, 2, unit="step", impl="gpi").start()
    dut.rst.value = 1
    dut.start.value = 0
    for name, value in job["config"].items():
        getattr(dut, f"cfg_{name}").value = int(value)
    await ClockCycles(dut.clk, RESET_CYCLES)  # flushes the skew and deskew registers
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    t0 = time.perf_counter()
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    await RisingEdge(dut.done)
    seconds = time.perf_counter() - t0
    await ClockCycles(dut.clk, 2)  # the accumulator dump happens on the edge after done
    counters = {name: int(getattr(dut, f"cnt_{name}").value) for name in COUNTERS}
    with open(job["results"], "w") as fh:
        json.dump({"counters": counters, "sim_seconds": seconds}, fh)

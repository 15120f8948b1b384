"""The RTL loop: gilt's systolic array (``rtl/``) driven by golden vectors under cocotb.

``build.py`` compiles the array per parameter set (Verilator by default, Icarus Verilog as the
fallback) into a cached build folder; ``bench.py`` is the cocotb test that configures the array,
runs it and reads its counters; ``driver.py`` turns a golden-vector directory into a job, runs
it, compares the int32 accumulators bit for bit and requantizes them in Python (the RTL stops
at int32: requantization is in the bench), and puts the NPU model's predictions beside the
measured counters.
"""

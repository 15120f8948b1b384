"""Simulators: GPU SMs, CPU SIMD and NPU PE arrays, fed by a Workload (common.workload)."""

"""NPU (systolic PE array) performance model. See docs/sim-npu.md."""

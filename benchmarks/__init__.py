"""Benchmarks: speed and memory targets, each printed as a ratio against a peer measured in the
same run. ``python -m benchmarks`` runs them all; ``python -m benchmarks NAME ...`` runs the
modules ``benchmarks/bench_NAME.py`` given. Each module exposes ``main() -> int``."""

"""gilt: golden model, kernels and hardware simulators for a W4A8 inference stack."""

__version__ = "0.1.0"

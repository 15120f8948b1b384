"""gilt: golden model, kernels and hardware simulators for a W4A8 inference stack."""

from common.version import __version__

__all__ = ["__version__"]

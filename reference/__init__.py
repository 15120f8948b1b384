"""gilt golden model: bit-exact NumPy operators with written numeric contracts.

The ONNX-compatible entry points (ONNX argument order, attributes as keyword arguments:
``quantize_linear``, ``dequantize_linear``, ``dynamic_quantize_linear``, ``qlinear_conv``,
``qlinear_matmul``, ``conv_integer``, ``matmul_integer``, ``matmul_nbits``) are importable from
here; the operator families live in their own modules (dtypes, packing, quantize, calibration,
requantize, conv_int, matmul_int, ...).
"""

from reference.onnx_ops import *  # noqa: F403
from reference.onnx_ops import __all__  # noqa: F401

#: Version of the numeric contracts written in this package's docstrings. Golden-vector
#: manifests record it; bump it whenever any operator's contract (rounding, saturation,
#: accumulation, layout) changes, so stale vectors are recognised.
CONTRACT_VERSION = "1"

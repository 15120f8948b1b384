"""gilt golden model: bit-exact NumPy operators with written numeric contracts.

The ONNX-compatible entry points (ONNX argument order, attributes as keyword arguments) are
importable from here; the operator families live in their own modules (quantize, packing,
requantize, conv_int, matmul_int, calibration, ...).
"""

from reference.onnx_ops import (
    conv_integer,
    dequantize_linear,
    dynamic_quantize_linear,
    matmul_integer,
    matmul_nbits,
    qlinear_conv,
    qlinear_matmul,
    quantize_linear,
)

__all__ = [
    "conv_integer",
    "dequantize_linear",
    "dynamic_quantize_linear",
    "matmul_integer",
    "matmul_nbits",
    "qlinear_conv",
    "qlinear_matmul",
    "quantize_linear",
]

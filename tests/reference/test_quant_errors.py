"""Bad input: every public entry point raises TypeError/ValueError naming the argument, the
value given and what was expected."""

import numpy as np
import pytest

from reference import matmul_nbits, qlinear_conv, quantize_linear
from reference.conv_int import conv2d_int
from reference.dtypes import qrange
from reference.matmul_int import matmul_int
from reference.quantize import dequantize, quantize
from reference.requantize import requantize

X = np.ones((2, 6), np.float32)
Q = np.ones((2, 6), np.int8)
ACC = np.ones((1, 2, 3, 3), np.int32)
XI = np.ones((1, 4, 5, 5), np.uint8)
WI = np.ones((6, 4, 3, 3), np.int8)

CASES = [
    # quantize
    (lambda: quantize(np.ones(3, np.int32), 1.0), TypeError,
     r"x must have dtype in \['float16', 'float32', 'float64'\], got dtype int32"),
    (lambda: quantize([1.0], 1.0), TypeError, "x must be a numpy.ndarray, got list"),
    (lambda: quantize(X, 0.0), ValueError, r"scale must be finite and > 0 .*got 0.0"),
    (lambda: quantize(X, -2.0), ValueError, r"scale must be finite and > 0 .*got -2.0"),
    (lambda: quantize(X, float("nan")), ValueError, r"scale must be finite and > 0 .*got nan"),
    (lambda: quantize(X, float("inf")), ValueError, r"scale must be finite and > 0 .*got inf"),
    (lambda: quantize(X, 1e-50), ValueError, r"scale must be finite and > 0 \(as float32\)"),
    (lambda: quantize(X, "1"), TypeError, "scale must be a positive finite float"),
    (lambda: quantize(X, 1.0, 200), ValueError, r"zero_point must be in \[-128, 127\] for int8, "
                                                r"got 200"),
    (lambda: quantize(X, 1.0, 8, dtype="int4"), ValueError,
     r"zero_point must be in \[-8, 7\] for int4, got 8"),
    (lambda: quantize(X, 1.0, 0.5), TypeError, "zero_point must be an int or integer array, "
                                               "got float"),
    (lambda: quantize(X, 1.0, np.array(3, np.uint8)), TypeError,
     "zero_point dtype uint8 does not match dtype int8"),
    (lambda: quantize(X, 1.0, dtype="int3"), ValueError,
     r"dtype must be one of \['int4', 'uint4', 'int8', 'uint8', 'int16', 'uint16'\], got "
     r"'int3'"),
    (lambda: quantize(X, 1.0, dtype=np.float32), ValueError, r"dtype must be one of .*float32"),
    (lambda: quantize(X, 1.0, rounding="nearest"), ValueError,
     r"rounding must be one of \['half_even', 'half_away'\], got 'nearest'"),
    (lambda: quantize(X, np.ones(6, np.float32)), ValueError,
     r"scale must hold one value when axis is None .*got shape \(6,\)"),
    (lambda: quantize(X, np.ones(5, np.float32), np.zeros(5, np.int8), axis=1), ValueError,
     r"scale must be 1-D with x.shape\[1\] = 6 entries .*got shape \(5,\)"),
    (lambda: quantize(X, np.ones(6, np.float32), axis=2), ValueError,
     r"axis must be in \[-2, 1\] for a 2-d array, got 2"),
    (lambda: quantize(X, np.ones((2, 2), np.float32), axis=1, block_size=0), ValueError,
     "block_size must be >= 1, got 0"),
    (lambda: quantize(X, np.ones((2, 3), np.float32), axis=1, block_size=4), ValueError,
     r"scale must have shape \(2, 2\) for block_size=4 along axis 1 .*got shape \(2, 3\)"),
    (lambda: quantize(X, 1.0, block_size=2), ValueError, "block_size=2 needs an axis"),
    # dequantize
    (lambda: dequantize(X, 1.0), TypeError, r"q must have dtype in .*got dtype float32"),
    (lambda: dequantize(Q, np.float32(-1)), ValueError, r"scale must be finite and > 0"),
    (lambda: dequantize(np.ones(2, np.uint8), 1.0, 300), ValueError,
     r"zero_point must be in \[0, 255\] for uint8, got 300"),
    # requantize
    (lambda: requantize(ACC.astype(np.int64), 1.0, 1.0, 1.0), TypeError,
     r"acc must have dtype in \['int32'\], got dtype int64"),
    (lambda: requantize(ACC, 1.0, 1.0, 1.0, mode="tflite2"), ValueError,
     r"mode must be one of \['onnxruntime', 'tflite', 'tflite-single', 'tflite-ruy', "
     r"'xnnpack', 'tflite-double', 'tflite-neon'\], got 'tflite2'"),
    (lambda: requantize(ACC, 1.0, np.ones(3, np.float32), 1.0), ValueError,
     r"weight_scale must be a single value or 1-D with acc.shape\[1\] = 2 entries, got shape "
     r"\(3,\)"),
    (lambda: requantize(ACC, 1.0, 1.0, 0.0), ValueError, "output_scale must be finite and > 0"),
    (lambda: requantize(ACC, np.ones(2, np.float32), 1.0, 1.0), ValueError,
     r"input_scale must be a single value, got shape \(2,\)"),
    (lambda: requantize(ACC, 1.0, 1.0, 1.0, 128), ValueError,
     r"output_zero_point must be in \[-128, 127\] for int8, got 128"),
    (lambda: requantize(ACC, 1.0, 1.0, 1.0, clamp=(5, 1)), ValueError,
     r"clamp must be \(low, high\) with low <= high, got \(5, 1\)"),
    (lambda: requantize(ACC, 1.0, 1.0, 1.0, clamp=(200, 300)), ValueError,
     r"clamp \(200, 300\) does not intersect the int8 range"),
    (lambda: requantize(ACC, 1.0, 1.0, 1.0, dtype="int32"), ValueError, "dtype must be one of"),
    # conv2d_int
    (lambda: conv2d_int(XI.astype(np.float32), WI), TypeError,
     r"x must have dtype in \['int8', 'uint8'\], got dtype float32"),
    (lambda: conv2d_int(XI[0], WI), ValueError, r"x must have 4 dimensions, got shape "
                                                r"\(4, 5, 5\)"),
    (lambda: conv2d_int(XI, WI[:, :3]), ValueError,
     r"w.shape\[1\] must be x.shape\[1\] / groups = 4, got 3"),
    (lambda: conv2d_int(XI, WI[:, :1], groups=3), ValueError,
     r"groups=3 must divide the input channels x.shape\[1\]=4"),
    (lambda: conv2d_int(XI, WI[:5, :1], groups=4), ValueError,
     r"groups=4 must divide the output channels w.shape\[0\]=5"),
    (lambda: conv2d_int(XI, WI, strides=(0, 1)), ValueError,
     r"strides entries must be >= 1, got \(0, 1\)"),
    (lambda: conv2d_int(XI, WI, pads=(1, 1, 1)), ValueError, "pads must have 4 entries, got 3"),
    (lambda: conv2d_int(XI, WI, pads=(-1, 0, 0, 0)), ValueError, "pads entries must be >= 0"),
    (lambda: conv2d_int(XI, WI, dilations=(3, 3)), ValueError, r"output would be empty"),
    (lambda: conv2d_int(XI, WI, bias=np.ones(6, np.int64)), TypeError,
     r"bias must have dtype in \['int32'\], got dtype int64"),
    (lambda: conv2d_int(XI, WI, bias=np.ones(5, np.int32)), ValueError,
     "bias must have w.shape\\[0\\] = 6 entries, got 5"),
    (lambda: conv2d_int(XI, WI, w_zero_point=np.zeros(5, np.int8)), ValueError,
     r"w_zero_point must be a scalar or 1-D with 6 entries \(one per output channel\), got "
     r"shape \(5,\)"),
    (lambda: conv2d_int(XI, WI, x_zero_point=-1), ValueError,
     r"x_zero_point must be in \[0, 255\] for uint8, got -1"),
    (lambda: conv2d_int(XI, WI, groups=0), ValueError, "groups must be >= 1, got 0"),
    (lambda: conv2d_int(XI, np.zeros(10, np.uint8), w_int4_shape=6), TypeError,
     r"w_int4_shape must be a tuple of ints \(the unpacked shape\), got int \(6\)"),
    (lambda: conv2d_int(XI, np.zeros(10, np.uint8), w_int4_shape=(6, 4, 3, 3)), ValueError,
     r"packed must hold ceil\(count / 2\) = 108 bytes for count=216, got 10"),
    # matmul_int
    (lambda: matmul_int(np.ones((2, 3), np.uint8), np.ones((4, 2), np.int8)), ValueError,
     r"a.shape\[-1\] \(3\) must equal the inner dimension of b \(4\)"),
    (lambda: matmul_int(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int16)), TypeError,
     r"b must have dtype in \['int8', 'uint8'\], got dtype int16"),
    (lambda: matmul_int(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int8),
                        b_zero_point=np.zeros(3, np.int8)), ValueError,
     r"b_zero_point must be a scalar or 1-D with 2 entries \(one per column of b\)"),
    # ONNX entry points
    (lambda: qlinear_conv(XI, 1.0, np.uint8(0), WI, 1.0, np.int8(0), 1.0, 0), TypeError,
     "y_zero_point must be a numpy int8/uint8 scalar or array"),
    (lambda: qlinear_conv(XI, 1.0, np.uint8(0), WI, 1.0, np.int8(0), 1.0, np.uint8(0),
                          auto_pad="SAME"), ValueError,
     r"auto_pad must be one of \['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'\], got 'SAME'"),
    (lambda: quantize_linear(X, 1.0, block_size=-1), ValueError, "block_size must be >= 0"),
    (lambda: matmul_nbits(X, np.zeros((4, 1, 8), np.uint8), np.ones(4, np.float32), K=6, N=4,
                          bits=8, block_size=16), ValueError, "bits must be <= 4, got 8"),
    (lambda: matmul_nbits(X, np.zeros((4, 1, 4), np.uint8), np.ones(4, np.float32), K=6, N=4,
                          block_size=8), ValueError, "block_size must be >= 16, got 8"),
    (lambda: matmul_nbits(X, np.zeros((4, 1, 8), np.uint8), np.ones(4, np.float32), K=5, N=4,
                          block_size=16), ValueError, r"A.shape\[-1\] must be K = 5, got shape "
                                                      r"\(2, 6\)"),
]


@pytest.mark.parametrize("call, exc, match", CASES,
                         ids=[f"{i:02d}-{c[2][:30]}" for i, c in enumerate(CASES)])
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_qrange_rejects_unknown_bit_width():
    with pytest.raises(ValueError, match=r"dtype must be one of .*got 'int2'"):
        qrange("int2")

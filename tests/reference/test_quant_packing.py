"""int4 packing: ONNX nibble order, checked against onnx.helper's own INT4/UINT4 packing."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from onnx import TensorProto, helper

from reference.packing import pack_int4, unpack_int4


def onnx_packed(values: np.ndarray, signed: bool) -> np.ndarray:
    t = helper.make_tensor("v", TensorProto.INT4 if signed else TensorProto.UINT4,
                           [values.size], values.reshape(-1).tolist())
    return np.array(t.int32_data, np.int64).astype(np.uint8)


def test_worked_example_from_the_docs():
    # 1 -> 0x1, -2 -> 0xE: byte 0xE1; 7 -> 0x7, -8 -> 0x8: byte 0x87; 3 and padding: 0x03.
    packed = pack_int4(np.array([1, -2, 7, -8, 3], np.int8))
    assert packed.tolist() == [0xE1, 0x87, 0x03]
    assert unpack_int4(packed, 5).tolist() == [1, -2, 7, -8, 3]


@given(arrays(np.int8, st.integers(0, 67), elements=st.integers(-8, 7)))
def test_signed_matches_onnx_and_round_trips(values):
    packed = pack_int4(values)
    assert packed.dtype == np.uint8 and packed.size == (values.size + 1) // 2
    assert np.array_equal(packed, onnx_packed(values, True))
    out = unpack_int4(packed, values.size)
    assert out.dtype == np.int8 and np.array_equal(out, values)


@given(arrays(np.uint8, st.integers(0, 67), elements=st.integers(0, 15)))
def test_unsigned_matches_onnx_and_round_trips(values):
    packed = pack_int4(values, signed=False)
    assert np.array_equal(packed, onnx_packed(values, False))
    out = unpack_int4(packed, values.size, signed=False)
    assert out.dtype == np.uint8 and np.array_equal(out, values)


def test_multidimensional_input_is_flattened_in_c_order():
    v = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    assert np.array_equal(pack_int4(v), pack_int4(v.reshape(-1)))
    assert np.array_equal(pack_int4(v.T), pack_int4(np.ascontiguousarray(v.T).reshape(-1)))


@pytest.mark.parametrize("values, signed, match", [
    (np.array([8], np.int8), True, r"values must be in \[-8, 7\].*got 8"),
    (np.array([-9], np.int8), True, r"got -9"),
    (np.array([16], np.uint8), False, r"values must be in \[0, 15\].*got 16"),
    (np.array([-1], np.int8), False, r"got -1"),
])
def test_out_of_range_values_are_rejected(values, signed, match):
    with pytest.raises(ValueError, match=match):
        pack_int4(values, signed=signed)


def test_bad_types_and_counts():
    with pytest.raises(TypeError, match=r"values must have dtype in \['int8'\], got dtype "
                                        r"float32"):
        pack_int4(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="values must be a numpy.ndarray, got list"):
        pack_int4([1, 2])
    with pytest.raises(TypeError, match=r"packed must have dtype in \['uint8'\], got dtype int8"):
        unpack_int4(np.zeros(2, np.int8), 4)
    with pytest.raises(ValueError, match=r"ceil\(count / 2\) = 3 bytes for count=5, got 2"):
        unpack_int4(np.zeros(2, np.uint8), 5)
    with pytest.raises(ValueError, match="count must be >= 0, got -1"):
        unpack_int4(np.zeros(0, np.uint8), -1)

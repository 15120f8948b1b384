"""Pre-packed conv weights (`kernels.cpu.conv_int.pack_conv_weights`): same bits as the reference.

The packed path must equal the reference operator exactly (np.array_equal) for every case the
raw-array kernels are tested on (dense, grouped, depthwise, int4, all requantize modes), and
packed weights that do not fit the call must raise a ValueError naming what is wrong.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels.cpu.conv_int import PackedConvWeights, conv2d_int, pack_conv_weights
from kernels.cpu.fusion import conv_bn_relu_int
from reference.conv_int import conv2d_int as ref_conv2d_int
from reference.fusion import conv_bn_relu_int as ref_conv_bn_relu_int
from tests.kernels.cases import conv2d_int as conv_cases
from tests.kernels.cases import conv_bn_relu_int as fused_cases


@given(data=st.data())
def test_packed_conv_equals_reference(data):
    (x, w), kwargs = data.draw(conv_cases(small=False), label="case")
    expected = ref_conv2d_int(x, w, **kwargs)
    int4_shape = kwargs.pop("w_int4_shape", None)
    packed = pack_conv_weights(w, groups=kwargs["groups"], w_int4_shape=int4_shape)
    out = conv2d_int(x, packed, **kwargs)
    assert out.dtype == expected.dtype and np.array_equal(out, expected)
    # reusable: a second call with the same packed weights gives the same bits
    assert np.array_equal(conv2d_int(x, packed, **kwargs), expected)


@given(data=st.data())
def test_packed_fused_conv_equals_reference(data):
    (x, w, bias), kwargs = data.draw(fused_cases(small=False), label="case")
    expected = ref_conv_bn_relu_int(x, w, bias, **kwargs)
    out = conv_bn_relu_int(x, pack_conv_weights(w, groups=kwargs["groups"]), bias, **kwargs)
    assert out.dtype == expected.dtype and np.array_equal(out, expected)


def test_packed_weights_are_a_frozen_copy():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (1, 4, 5, 5), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 4, 3, 3), dtype=np.int8)
    packed = pack_conv_weights(w)
    expected = ref_conv2d_int(x, w)
    w[:] = 0  # editing the caller's array afterwards does not change the packed weights
    assert np.array_equal(conv2d_int(x, packed), expected)
    assert isinstance(packed, PackedConvWeights) and packed.shape == (6, 4, 3, 3)
    assert not packed.weights.flags.writeable
    with pytest.raises(AttributeError):
        packed.groups = 2


def _grouped():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (1, 4, 6, 6), dtype=np.uint8)
    w = rng.integers(-128, 128, (4, 2, 3, 3), dtype=np.int8)  # groups=2: C/groups = 2
    return x, w


def _run(kernel, x, packed, groups):
    if kernel == "conv2d_int":
        return conv2d_int(x, packed, groups=groups)
    return conv_bn_relu_int(x, packed, None, x_scale=0.1, w_scale=0.01, out_scale=0.2,
                            groups=groups)


@pytest.mark.parametrize("kernel", ["conv2d_int", "conv_bn_relu_int"])
def test_packed_weights_with_other_groups_raise(kernel):
    x, w = _grouped()
    packed = pack_conv_weights(w, groups=2)
    with pytest.raises(ValueError, match=r"groups=1 does not match the groups=2"):
        _run(kernel, x, packed, 1)


@pytest.mark.parametrize("kernel", ["conv2d_int", "conv_bn_relu_int"])
def test_packed_weights_with_other_input_channels_raise(kernel):
    x, w = _grouped()
    packed = pack_conv_weights(w, groups=2)
    with pytest.raises(ValueError, match=r"x has 6 channels but the packed w expects 4"):
        _run(kernel, np.zeros((1, 6, 6, 6), x.dtype), packed, 2)


def test_packed_weights_reject_int4_shape_at_call():
    x, w = _grouped()
    with pytest.raises(ValueError, match="w_int4_shape must be None"):
        conv2d_int(x, pack_conv_weights(w, groups=2), groups=2, w_int4_shape=(4, 2, 3, 3))


@pytest.mark.parametrize("groups", [3, 0, True, 1.5])
def test_pack_rejects_groups_that_do_not_fit(groups):
    _, w = _grouped()  # 4 output channels: groups=3 does not divide them
    with pytest.raises(ValueError, match="groups"):
        pack_conv_weights(w, groups=groups)


def test_pack_rejects_bad_weights():
    with pytest.raises(TypeError, match="w must have dtype"):
        pack_conv_weights(np.zeros((2, 2, 1, 1), np.int32))
    with pytest.raises(ValueError, match="w must be 4-D"):
        pack_conv_weights(np.zeros((2, 2), np.int8))
    with pytest.raises(ValueError, match="packed bytes"):
        pack_conv_weights(np.zeros(3, np.uint8), w_int4_shape=(2, 2, 2, 2))

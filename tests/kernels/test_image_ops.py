"""kernels.cpu.image_ops against the reference, np.array_equal."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.cpu import image_ops as cpu
from reference import image_ops as ref


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), oh=st.integers(1, 60),
       ow=st.integers(1, 60), c=st.sampled_from([0, 1, 3, 4]), seed=st.integers(0, 2**16))
def test_resize_bilinear_kernel_equals_reference(h, w, oh, ow, c, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w) if c == 0 else (h, w, c), dtype=np.uint8)
    assert np.array_equal(cpu.resize_bilinear(img, width=ow, height=oh),
                          ref.resize_bilinear(img, width=ow, height=oh))


def test_resize_bilinear_kernel_on_a_camera_frame():
    img = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert np.array_equal(cpu.resize_bilinear(img, width=224, height=224),
                          ref.resize_bilinear(img, width=224, height=224))

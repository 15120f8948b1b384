"""The registry's table, the VNNI/portable paths, wrap-around, and bad-input errors."""

import numpy as np
import pytest

from kernels import registry
from kernels.cpu import matmul_int as cpu_mm
from kernels.cpu._vnni import HAS_AVX512_VNNI
from reference.conv_int import conv2d_int as ref_conv
from reference.matmul_int import matmul_int as ref_mm


def test_every_op_has_both_backends_and_importable_functions():
    for op in registry.ops():
        specs = registry.by_op(op)
        assert {s.backend for s in specs} == set(registry.BACKENDS), op
        assert len({s.reference for s in specs}) == 1, op
        ref = specs[0].load_reference()
        for spec in specs:
            if spec.backend == "cpu":  # CUDA modules import numba.cuda: checked by the PTX test
                assert callable(spec.load())
            assert spec.shapes and spec.dtypes
        assert callable(ref)


def test_registry_lookup_errors_name_the_known_kernels():
    assert registry.get("cpu.matmul_int").op == "matmul_int"
    with pytest.raises(KeyError, match="cpu.matmul_int"):
        registry.get("cpu.nope")
    with pytest.raises(ValueError, match="backend"):
        registry.KernelSpec("tpu.x", "x", "tpu", "a:b", "c:d", ("int8",), "any")


def test_compare_reports_the_first_difference():
    spec = registry.get("cpu.matmul_int")
    a = np.zeros((2, 3), np.int32)
    b = a.copy()
    b[1, 2] = 5
    assert spec.compare(a, a) == []
    (problem,) = spec.compare(a, b)
    assert "(1, 2)" in problem


@pytest.mark.parametrize("use_vnni", [False] + ([True] if HAS_AVX512_VNNI else []))
def test_gemm_extremes_wrap_like_the_reference(use_vnni):
    # K large enough that sum (a - za)(b - zb) leaves int32: both must wrap the same way.
    k = 40000
    a = np.full((7, k), -128, np.int8)
    b = np.full((k, 3), 127, np.uint8)
    b[:, 1] = 0
    out = cpu_mm.matmul_int(a, b, a_zero_point=127, b_zero_point=np.array([0, 255, 128], np.uint8),
                            use_vnni=use_vnni)
    ref = ref_mm(a, b, a_zero_point=127, b_zero_point=np.array([0, 255, 128], np.uint8))
    assert np.array_equal(out, ref)
    assert np.int64(255) * 255 * k > 2**31  # the case really wraps


@pytest.mark.skipif(not HAS_AVX512_VNNI, reason="host CPU lacks AVX512-VNNI")
def test_vnni_and_portable_paths_agree_and_packed_b_is_reusable():
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (13, 37), dtype=np.int8)
    b = rng.integers(0, 256, (37, 70), dtype=np.uint8)
    packed = cpu_mm.pack_b(b)
    portable = cpu_mm.matmul_int(a, b, a_zero_point=-5, b_zero_point=200, use_vnni=False)
    for _ in range(2):
        assert np.array_equal(cpu_mm.matmul_int(a, packed, a_zero_point=-5, b_zero_point=200),
                              portable)


def test_use_vnni_true_without_the_instruction_raises(monkeypatch):
    monkeypatch.setattr(cpu_mm, "HAS_AVX512_VNNI", False)
    a = np.zeros((2, 2), np.uint8)
    with pytest.raises(RuntimeError, match="AVX512-VNNI"):
        cpu_mm.matmul_int(a, a.view(np.int8), use_vnni=True)
    # and the default falls back to the portable kernel
    assert np.array_equal(cpu_mm.matmul_int(a, a.view(np.int8)), np.zeros((2, 2), np.int32))


def test_conv_int32_wraps_with_bias_like_the_reference():
    from kernels.cpu.conv_int import conv2d_int
    x = np.full((1, 64, 5, 5), -128, np.int8)
    w = np.full((2, 64, 3, 3), -128, np.int8)
    bias = np.array([2**31 - 1, -(2**31)], np.int32)
    kw = dict(x_zero_point=127, w_zero_point=np.array([127, -128], np.int8), bias=bias,
              pads=(1, 1, 1, 1))
    assert np.array_equal(conv2d_int(x, w, **kw), ref_conv(x, w, **kw))


@pytest.mark.parametrize("call, exc, words", [
    (lambda: cpu_mm.matmul_int(np.zeros((2, 2), np.int16), np.zeros((2, 2), np.int8)),
     TypeError, "a must have dtype"),
    (lambda: cpu_mm.matmul_int(np.zeros((2, 3), np.int8), np.zeros((2, 2), np.int8)),
     ValueError, "K=3"),
    (lambda: cpu_mm.matmul_int(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8),
                               a_zero_point=300), ValueError, "a_zero_point"),
    (lambda: cpu_mm.matmul_int(np.zeros((2, 2), np.int8), np.zeros(3, np.uint8),
                               b_int4_shape=(2, 2)), ValueError, "b_packed"),
])
def test_bad_gemm_input_names_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"groups": 3}, ValueError, "groups=3"),
    ({"pads": (1, 1)}, ValueError, "pads"),
    ({"strides": (0, 1)}, ValueError, "strides"),
    ({"bias": np.zeros(4, np.int64)}, TypeError, "bias"),
    ({"w_zero_point": np.zeros(3, np.int8)}, ValueError, "w_zero_point"),
])
def test_bad_conv_input_names_the_argument(kwargs, exc, words):
    from kernels.cpu.conv_int import conv2d_int
    with pytest.raises(exc, match=words):
        conv2d_int(np.zeros((1, 2, 5, 5), np.int8), np.zeros((4, 2, 3, 3), np.int8), **kwargs)


def test_bad_requantize_and_quantize_input_raise_like_the_reference():
    from kernels.cpu.quantize import quantize
    from kernels.cpu.requantize import requantize
    with pytest.raises(ValueError, match="mode"):
        requantize(np.zeros(3, np.int32), 0.1, 0.1, 0.1, mode="tensorrt")
    with pytest.raises(TypeError, match="acc"):
        requantize(np.zeros(3, np.int64), 0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.array([np.nan], np.float32), np.float32(0.1))


def test_edge_tile_window_is_clipped_to_the_output_like_the_reference():
    # Found by hypothesis: a tile wider than the output's last column must read only the
    # window of the columns it has (the reference's input_elements_read).
    from kernels.cpu.tiling import tiled_conv2d_int
    from reference.tiling import tiled_conv2d_int as ref_tiled
    x = np.array([[[[89, 35]]]], np.int8)
    w = np.array([[[[-4]]]], np.int8)
    kw = dict(x_zero_point=np.int8(-59), strides=(1, 2), min_map=(1, 1), tile=(1, 2))
    out, rec = tiled_conv2d_int(x, w, **kw)
    ref, ref_rec = ref_tiled(x, w, **kw)
    assert np.array_equal(out, ref)
    assert rec == ref_rec and rec.input_elements_read == 1

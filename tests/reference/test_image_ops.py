"""reference.image_ops against OpenCV's integer paths (opencv-python-headless) and ONNX Runtime.

Every comparison is np.array_equal; the oracle is the library, never the code under test."""

from __future__ import annotations

import numpy as np
import pytest

from reference import image_ops as io

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (the test extra) is the oracle")
pytestmark = pytest.mark.oracle


def _images(seed: int, count: int, *, max_side: int = 40, channels=(1, 2, 3, 4)):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(1, max_side, 2))
        c = int(rng.choice(channels))
        shape = (h, w) if c == 1 and rng.random() < 0.5 else (h, w, c)
        yield rng, rng.integers(0, 256, shape, dtype=np.uint8)


def _cv_resize(img, width, height, mode):
    out = cv2.resize(img, (width, height), interpolation=mode)
    return out.reshape(height, width, *img.shape[2:])


def test_resize_bilinear_matches_opencv_on_random_sizes():
    for rng, img in _images(0, 600, max_side=45):
        height, width = (int(v) for v in rng.integers(1, 70, 2))
        if img.ndim == 3 and img.shape[2] == 2 and img.shape[:2] == (2 * height, 2 * width):
            continue
        got = io.resize_bilinear(img, width=width, height=height)
        assert np.array_equal(got, _cv_resize(img, width, height, cv2.INTER_LINEAR)), \
            (img.shape, height, width)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_resize_bilinear_exact_2x_downscale_is_opencvs_area_path(channels):
    rng = np.random.default_rng(channels)
    for h, w in ((1, 1), (3, 5), (16, 16), (33, 7)):
        img = rng.integers(0, 256, (2 * h, 2 * w, channels), dtype=np.uint8)
        assert np.array_equal(io.resize_bilinear(img, width=w, height=h),
                              _cv_resize(img, w, h, cv2.INTER_LINEAR))


def test_resize_bilinear_refuses_the_2channel_area_path_by_name():
    img = np.zeros((8, 8, 2), np.uint8)
    with pytest.raises(ValueError, match="2-channel"):
        io.resize_bilinear(img, width=4, height=4)


def test_resize_nearest_matches_opencv():
    for rng, img in _images(1, 400):
        height, width = (int(v) for v in rng.integers(1, 80, 2))
        assert np.array_equal(io.resize_nearest(img, width=width, height=height),
                              _cv_resize(img, width, height, cv2.INTER_NEAREST))


def test_flip_and_crop_match_opencv_and_slicing():
    for rng, img in _images(2, 50):
        for axis, code in (("horizontal", 1), ("vertical", 0), ("both", -1)):
            assert np.array_equal(io.flip(img, axis=axis),
                                  cv2.flip(img, code).reshape(img.shape))
        h, w = img.shape[:2]
        top, left = int(rng.integers(0, h)), int(rng.integers(0, w))
        hh, ww = int(rng.integers(1, h - top + 1)), int(rng.integers(1, w - left + 1))
        assert np.array_equal(io.crop(img, top=top, left=left, height=hh, width=ww),
                              img[top:top + hh, left:left + ww])


def _colours(exhaustive: bool) -> np.ndarray:
    """Every 24-bit colour, or (default run) a seeded 2**20 of them plus every gray and every
    colour with channels in {0, 1, 127, 128, 254, 255}."""
    if exhaustive:
        c = np.arange(1 << 24, dtype=np.uint32)
    else:
        edge = np.array([0, 1, 127, 128, 254, 255], np.uint32)
        grid = (edge[:, None, None] << 16) | (edge[None, :, None] << 8) | edge[None, None, :]
        grays = np.arange(256, dtype=np.uint32) * 0x010101
        rand = np.random.default_rng(7).integers(0, 1 << 24, 1 << 20, dtype=np.uint32)
        c = np.concatenate([grid.ravel(), grays, rand])
    rgb = np.stack([(c >> 16) & 255, (c >> 8) & 255, c & 255], -1).astype(np.uint8)
    return rgb.reshape(1, -1, 3) if not exhaustive else rgb.reshape(4096, 4096, 3)


@pytest.mark.parametrize("exhaustive", [
    False, pytest.param(True, marks=pytest.mark.slow, id="all-2**24-colours")])
def test_colour_conversions_match_opencv(exhaustive):
    rgb = _colours(exhaustive)
    assert np.array_equal(io.rgb_to_gray(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    assert np.array_equal(io.rgb_to_ycrcb(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb))
    small = rgb[:, :4096]
    assert np.array_equal(io.swap_rb(small), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))


def test_convert_scale_matches_opencv_convert_to():
    rng = np.random.default_rng(3)
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for frac_bits in (0, 4, 8, 12, 15):
        for _ in range(30):
            alpha_q = int(rng.integers(0, 4 << frac_bits))
            beta_q = int(rng.integers(-300 << frac_bits, 300 << frac_bits))
            alpha, beta = alpha_q / 2 ** frac_bits, beta_q / 2 ** frac_bits
            want = cv2.addWeighted(img, alpha, np.zeros_like(img), 0.0, beta)
            got = io.convert_scale(img, alpha_q=alpha_q, beta_q=beta_q, frac_bits=frac_bits)
            assert np.array_equal(got, np.asarray(want)), (frac_bits, alpha_q, beta_q)


def test_brightness_contrast_is_convert_scale_about_the_pivot():
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    same = io.adjust_brightness_contrast(img, contrast_q=256, brightness=0)
    assert np.array_equal(same, img)
    # contrast 1.5 about 128, brightness +10: OpenCV with alpha 1.5, beta = 138 - 192
    want = cv2.addWeighted(img, 1.5, np.zeros_like(img), 0.0, 128 + 10 - 128 * 1.5)
    assert np.array_equal(io.adjust_brightness_contrast(img, contrast_q=384, brightness=10),
                          want)


def test_normalize_to_int8_matches_onnxruntime_float_pipeline():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle")
    from onnx import TensorProto, helper

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    scale, zp = 0.0187, -3
    nodes = [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
             helper.make_node("Div", ["xf", "k255"], ["a"]),
             helper.make_node("Sub", ["a", "mean"], ["b"]),
             helper.make_node("Div", ["b", "std"], ["c"]),
             helper.make_node("QuantizeLinear", ["c", "scale", "zp"], ["y"])]
    inits = [helper.make_tensor("k255", TensorProto.FLOAT, [], [255.0]),
             helper.make_tensor("mean", TensorProto.FLOAT, [3], list(mean)),
             helper.make_tensor("std", TensorProto.FLOAT, [3], list(std)),
             helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
             helper.make_tensor("zp", TensorProto.INT8, [], [zp])]
    graph = helper.make_graph(nodes, "norm", [helper.make_tensor_value_info(
        "x", TensorProto.UINT8, [None, None, 3])], [helper.make_tensor_value_info(
            "y", TensorProto.INT8, [None, None, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    img = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), -1)
    img = np.concatenate([img, img[..., :1]], -1).astype(np.uint8)   # every value per channel
    want = sess.run(None, {"x": img})[0]
    got = io.normalize_to_int8(img, mean, std, scale=scale, zero_point=zp)
    assert got.dtype == np.int8 and np.array_equal(got, want)


@pytest.mark.parametrize("call, match", [
    (lambda: io.flip(np.zeros((2, 2), np.float32)), "uint8"),
    (lambda: io.flip(np.zeros((2, 2, 5), np.uint8)), "1 to 4 channels"),
    (lambda: io.flip(np.zeros((2, 2), np.uint8), axis="diag"), "axis"),
    (lambda: io.crop(np.zeros((4, 4), np.uint8), top=2, left=0, height=3, width=1), "height"),
    (lambda: io.resize_bilinear(np.zeros((4, 4), np.uint8), width=0, height=2), "width"),
    (lambda: io.rgb_to_gray(np.zeros((4, 4, 4), np.uint8)), "RGB"),
    (lambda: io.convert_scale(np.zeros((2, 2), np.uint8), alpha_q=1, beta_q=0, frac_bits=16),
     "frac_bits"),
    (lambda: io.normalize_to_int8(np.zeros((2, 2, 3), np.uint8), 0.5, (1, 0, 1), scale=0.1),
     "std"),
    (lambda: io.normalize_to_int8(np.zeros((2, 2, 3), np.uint8), (0, 0), 1, scale=0.1),
     "mean"),
])
def test_bad_input_is_refused_by_name(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()

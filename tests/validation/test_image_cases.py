"""Golden cases of the image preprocessing operators: written, read back, and equal to OpenCV
where OpenCV defines the operation."""

from __future__ import annotations

import numpy as np
import pytest

from validation.cases import OperatorCase

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (the test extra) is the oracle")


def test_image_preprocess_case_matches_opencv_and_is_seeded():
    case = OperatorCase.parse("image_preprocess", {"h": "37", "w": "53"}, seed=3)
    assert case.name == "image_preprocess_h37_w53_to32x32_bilinear_c288_b8"
    t = {x.name: x for x in case.tensors()}
    want = cv2.resize(t["input"].array, (32, 32), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(t["resized"].array, want)
    lut = t["lut"].array
    q = t["output"].array
    adj = t["adjusted"].array
    assert np.array_equal(q, np.stack([lut[c][adj[..., c]] for c in range(3)], -1))
    again = {x.name: x for x in OperatorCase.parse("image_preprocess", {"h": "37", "w": "53"},
                                                    seed=3).tensors()}
    assert all(np.array_equal(t[k].array, again[k].array) for k in t)


def test_image_color_case_matches_opencv():
    t = {x.name: x for x in OperatorCase.parse("image_color", {}).tensors()}
    assert np.array_equal(t["gray"].array, cv2.cvtColor(t["input"].array, cv2.COLOR_RGB2GRAY))
    assert np.array_equal(t["ycrcb"].array,
                          cv2.cvtColor(t["input"].array, cv2.COLOR_RGB2YCrCb))


def test_image_cases_write_through_the_cli(tmp_path):
    from gilt.cli import main

    out = tmp_path / "vec"
    assert main(["golden", "--op", "image_preprocess", "--out", str(out)]) == 0
    assert any(p.name.endswith(".npy") for p in out.rglob("*"))

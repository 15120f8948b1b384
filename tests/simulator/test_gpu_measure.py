"""benchmarks/gpu_measure.py without a GPU: clean skip, preset choice, table format."""

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).parents[2] / "benchmarks" / "gpu_measure.py"


@pytest.fixture(scope="module")
def gpu_measure():
    spec = importlib.util.spec_from_file_location("gpu_measure", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_skips_cleanly_without_torch_or_gpu(gpu_measure, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)      # import torch -> ImportError
    assert gpu_measure.main([]) == 0
    assert "skipped: torch is not installed" in capsys.readouterr().out


def test_preset_choice(gpu_measure):
    assert gpu_measure.pick_preset("Tesla V100-SXM2-16GB", 16, 80)[0] == "v100-sxm2"
    assert gpu_measure.pick_preset("NVIDIA A100-SXM4-80GB", 80, 108)[0] == "a100-sxm4-80gb"
    assert gpu_measure.pick_preset("NVIDIA A100-SXM4-40GB", 40, 108)[0] == "a100-sxm4-40gb"
    assert gpu_measure.pick_preset("NVIDIA H200", 141, 132)[0] == "h100-sxm5"
    preset, why = gpu_measure.pick_preset("Tesla T4", 15, 40)
    assert preset == "v100-sxm2" and "closest SM count" in why


def test_error_table(gpu_measure):
    rows = [{"case": "matmul 64x64x64", "dtype": "fp16", "measured_us": 10.0, "model_us": 12.0,
             "error": 0.2, "measured_tflops": 0.05, "model_tile": "64x64x32", "model_waves": 1},
            {"case": "conv int8", "dtype": "int8", "skipped": "not measured"}]
    text = gpu_measure.format_rows(rows)
    assert "20.0%" in text and "skipped: not measured" in text and "mean |error| 20.0%" in text


def test_measured_rows_extend_the_validation_csv(gpu_measure, tmp_path):
    from gilt.experiments import gpu_validation

    rows = [{"case": "matmul 2048x2048x2048", "dtype": "fp16", "measured_us": 80.0,
             "model_us": 70.0, "error": -0.12, "measured_tflops": 214.7, "model_tile": "x",
             "model_waves": 1},
            {"case": "conv b32 64x56x56 -> 64 k3s1", "dtype": "fp16", "measured_us": 90.0,
             "model_us": 80.0, "error": -0.1, "measured_tflops": 82.2, "model_tile": "x",
             "model_waves": 1, "conv": "32,64,56,56,64,3,3,1,1"},
            {"case": "conv int8", "dtype": "int8", "skipped": "not measured"}]
    out = gpu_measure.validation_rows(rows, "NVIDIA A100-SXM4-80GB", "a100_sxm4_80gb",
                                      "torch x", 0)
    assert [r["kind"] for r in out] == ["gemm", "conv"]
    path = tmp_path / "k.csv"
    gpu_measure.append_csv(path, out)
    read = gpu_validation._read(path)
    assert [r["id"] for r in read] == ["m0000", "m0001"]
    for r in read:   # the validation can price both rows
        assert gpu_validation.predict_kernel(r) > 0

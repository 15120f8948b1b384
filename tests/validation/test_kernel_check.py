"""Registered kernels against golden vectors: from directories, from fresh cases, and a
deliberately broken kernel that must be caught."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gilt.cli import main
from validation.cases import OperatorCase
from validation.kernel_check import ADAPTERS, GoldenCase, check_all_kernels, check_kernel

registry = pytest.importorskip("kernels.registry", reason="kernels.registry not present")


def _off_by_one_matmul(a, b, **kwargs):
    """A 'kernel' with a classic bug: one accumulator off by one."""
    from reference.matmul_int import matmul_int

    out = matmul_int(a, b, **kwargs)
    out[-1, 0] += 1
    return out


def _spec(name: str, **changes):
    from dataclasses import replace

    return replace(registry.get(name), **changes)


def test_adapters_name_real_reference_operators():
    import importlib

    for target in ADAPTERS:
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target
    # every kernel registered when this was written has an adapter
    known = {"reference.quantize:quantize", "reference.quantize:dequantize",
             "reference.requantize:requantize", "reference.matmul_int:matmul_int",
             "reference.conv_int:conv2d_int", "reference.tiling:tiled_conv2d_int",
             "reference.zeroskip:skip_matmul_int"}
    assert known <= set(ADAPTERS)


def test_a_kernel_without_adapter_is_a_named_failure():
    spec = _spec("cpu.matmul_int", reference="reference.matmul_int:exact_matmul")
    out = io.StringIO()
    [result] = check_all_kernels(specs=[spec], out=out)
    assert not result.passed and "no golden-vector adapter for 'reference.matmul_int:exact" \
        in result.error
    assert out.getvalue().startswith("FAIL  cpu.matmul_int")


@pytest.mark.parametrize("target", ["reference.gating:gated_conv2d_int",
                                    "reference.fusion:conv_bn_relu_int",
                                    "reference.tiling:tiled_conv2d_int",
                                    "reference.zeroskip:skip_matmul_int"])
def test_stack_operator_adapters_reproduce_their_golden_tensor(target):
    """The reference called with the adapter's arguments reproduces the stored tensor, so a
    kernel registered for it later is checked against the right numbers (the reference stands in
    for the kernel here)."""
    spec = _spec("cpu.conv2d_int", reference=target, kernel=target,
                 returns_record=target.split(":")[1] != "conv_bn_relu_int")
    [result] = check_all_kernels(specs=[spec], out=None)
    assert result.passed, result.error
    assert result.total > 0


@pytest.mark.parametrize("name", ["cpu.quantize", "cpu.dequantize", "cpu.requantize",
                                  "cpu.matmul_int", "cpu.conv2d_int", "cuda.matmul_int"])
def test_existing_kernels_pass_on_fresh_vectors(name):
    out = io.StringIO()
    [result] = check_all_kernels(specs=[registry.get(name)], out=out)
    assert result.passed, out.getvalue()
    assert result.total > 0
    line = out.getvalue()
    assert line.startswith(f"PASS  {name}") and line.count("\n") == 1


def test_a_broken_kernel_is_reported_with_the_mismatch():
    spec = _spec("cpu.matmul_int",
                 kernel="tests.validation.test_kernel_check:_off_by_one_matmul")
    out = io.StringIO()
    [result] = check_all_kernels(specs=[spec], out=out)
    assert not result.passed and result.mismatches == 1
    assert result.first[0].index == (4, 0) and result.first[0].got == result.first[0].expected + 1
    assert out.getvalue().startswith("FAIL  cpu.matmul_int") and "1/30 mismatches" in out.getvalue()


def test_a_missing_kernel_module_is_a_failure_not_a_crash():
    spec = _spec("cpu.matmul_int", kernel="kernels.cpu.no_such_module:matmul_int")
    [result] = check_all_kernels(specs=[spec], out=None)
    assert not result.passed and "ModuleNotFoundError" in result.error


def test_kernel_on_the_wrong_kind_of_case_is_refused():
    golden = GoldenCase.from_case(OperatorCase.parse("quantize", {}))
    result = check_kernel(registry.get("cpu.matmul_int"), golden)
    assert not result.passed and "checks golden cases of ['matmul'], not 'quantize'" in result.error


def test_stale_golden_vectors_are_detected():
    golden = GoldenCase.from_case(OperatorCase.parse("matmul", {"m": 3, "k": 5, "n": 2}))
    stale = dict(golden.arrays)
    stale["accumulator"] = stale["accumulator"] + 1
    result = check_kernel(registry.get("cpu.matmul_int"),
                          GoldenCase(golden.case, stale, golden.quant))
    assert not result.passed and "no longer reproduces golden tensor 'accumulator'" in result.error


def test_gilt_check_kernel_on_golden_directories(tmp_path, capsys):
    for op, params in (("matmul", "m=3,k=11,n=5,wbits=8,adtype=uint8"),
                       ("conv2d", "c=2,h=5,w=4,k=3,st=2,relu=1")):
        assert main(["golden", "--op", op, "--param", params, "--out", str(tmp_path),
                     "--formats", "hex"]) == 0  # hex only: read back through the hex reader
    capsys.readouterr()
    matmul_dir = next(tmp_path.glob("matmul_*"))
    conv_dir = next(tmp_path.glob("conv2d_*"))
    for kernel, directory in (("cpu.matmul_int", matmul_dir), ("cpu.requantize", matmul_dir),
                              ("cpu.conv2d_int", conv_dir), ("cpu.requantize", conv_dir)):
        code = main(["check", str(directory), "--kernel", kernel])
        out = capsys.readouterr().out
        assert code == 0, out
        assert f"PASS  {kernel} on {directory.name}" in out
    assert main(["check", str(conv_dir), "--kernel", "cpu.matmul_int"]) == 1
    assert "not 'conv2d'" in capsys.readouterr().out
    assert main(["check", str(conv_dir), "--kernel", "cpu.nope"]) == 2
    assert "no kernel named" in capsys.readouterr().err


def test_list_kernels(capsys):
    assert main(["check", "--list-kernels"]) == 0
    out = capsys.readouterr().out
    assert all(spec.name in out for spec in registry.KERNELS)


def test_junit_of_all_kernels_has_one_case_per_kernel(tmp_path, monkeypatch, capsys):
    import xml.etree.ElementTree as ET

    subset = tuple(s for s in registry.KERNELS if s.name in ("cpu.requantize", "cpu.quantize"))
    monkeypatch.setattr(registry, "KERNELS", subset)
    assert main(["check", "--all-kernels", "--junit", str(tmp_path / "k.xml")]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("PASS  cpu.")]
    assert len(lines) == 2
    root = ET.parse(tmp_path / "k.xml").getroot()
    assert root.attrib["tests"] == "2" and root.attrib["failures"] == "0"
    assert np.array_equal(sorted(c.attrib["name"] for c in root.iter("testcase")),
                          ["cpu.quantize", "cpu.requantize"])


def test_missing_registry_is_a_clean_error(monkeypatch, capsys):
    import sys

    import kernels

    monkeypatch.setitem(sys.modules, "kernels.registry", None)  # import now raises ImportError
    monkeypatch.delattr(kernels, "registry", raising=False)
    assert main(["check", "--all-kernels"]) == 2
    assert "kernel registry (kernels/registry.py) cannot be imported" in capsys.readouterr().err

"""Manifest and directory writing: byte-identical reruns, atomic replacement, verified reads that
reject corrupt, truncated and mismatched files with named errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import gilt
from common.files import MARKER
from validation import formats, manifest
from validation.cases import OperatorCase
from validation.manifest import (
    ChecksumError,
    DtypeMismatchError,
    GoldenTensor,
    ManifestError,
    ShapeMismatchError,
    TruncatedFileError,
    WriteOptions,
    load_manifest,
    load_tensor,
    verify_files,
    write_golden,
)

ALL = WriteOptions(formats=formats.FORMATS)


def _case(seed: int = 0) -> OperatorCase:
    return OperatorCase.parse("conv2d", {"c": 4, "h": 5, "w": 6, "k": 3, "wbits": 4}, seed)


def _write(out: Path, seed: int = 0, options: WriteOptions = ALL) -> dict:
    case = _case(seed)
    return write_golden(out, case.describe(), case.tensors(), options)


def _tree(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_reruns_are_byte_identical(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / "b")
    first = _tree(tmp_path / "a")
    assert first == _tree(tmp_path / "b")
    _write(tmp_path / "a")  # rewrite in place
    assert first == _tree(tmp_path / "a")
    assert sorted(first) == sorted(
        [MARKER, "SHA256SUMS", "manifest.json", "manifest.yaml", f"{_case().name}.h",
         f"{_case().name}.npz"] + [f"{t}.{f}" for t in ("input", "weight", "bias", "accumulator",
                                                        "output") for f in ("npy", "hex", "bin")])
    _write(tmp_path / "c", seed=1)
    assert _tree(tmp_path / "c")["input.npy"] != first["input.npy"]


def test_manifest_records_everything_and_json_equals_yaml(tmp_path):
    m = _write(tmp_path / "v")
    on_disk_json = json.loads((tmp_path / "v" / "manifest.json").read_text())
    on_disk_yaml = yaml.safe_load((tmp_path / "v" / "manifest.yaml").read_text())
    assert on_disk_json == on_disk_yaml == m
    assert m["gilt_version"] == gilt.__version__
    assert m["contract_version"] == manifest.CONTRACT_VERSION
    assert m["seed"] == 0 and m["op"] == "conv2d" and m["params"]["wbits"] == 4
    weight = next(t for t in m["tensors"] if t["name"] == "weight")
    assert weight["dtype"] == "int4" and weight["layout"] == "OIHW"
    assert weight["shape"] == [3, 4, 3, 3] and weight["quant"]["axis"] == 0
    assert len(weight["quant"]["scale"]) == 3
    assert weight["files"]["hex"]["elements_per_word"] == 8
    for entry in m["tensors"]:
        for record in entry["files"].values():
            data = (tmp_path / "v" / record["path"]).read_bytes()
            assert record["sha256"] == hashlib.sha256(data).hexdigest()
            assert record["bytes"] == len(data)
    assert verify_files(tmp_path / "v") == 5 * 3 + 2


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum not installed")
def test_sha256sums_file_is_checked_by_coreutils(tmp_path):
    _write(tmp_path / "v")
    run = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=tmp_path / "v",
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": OK") == 19


def test_load_tensor_reads_every_format_identically(tmp_path):
    case = _case()
    _write(tmp_path / "v")
    for tensor in case.tensors():
        for fmt in ("npy", "hex", "bin"):
            got = load_tensor(tmp_path / "v", tensor.name, fmt=fmt)
            assert got.dtype == tensor.array.dtype and np.array_equal(got, tensor.array)


def test_int32_tensor_in_narrow_hex_words_gets_one_element_per_word(tmp_path):
    m = _write(tmp_path / "v", options=WriteOptions(formats=("hex",), word_bits=8))
    widths = {t["name"]: t["files"]["hex"]["word_bits"] for t in m["tensors"]}
    assert widths == {"input": 8, "weight": 8, "bias": 32, "accumulator": 32, "output": 8}


def _flip_byte(path: Path, offset: int = -2) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_corrupted_file_is_a_checksum_error(tmp_path):
    _write(tmp_path / "v")
    _flip_byte(tmp_path / "v" / "output.bin")
    with pytest.raises(ChecksumError, match="output.bin: SHA-256"):
        load_tensor(tmp_path / "v", "output", fmt="bin")
    with pytest.raises(ChecksumError):
        verify_files(tmp_path / "v")
    assert load_tensor(tmp_path / "v", "output", fmt="npy").shape == (1, 3, 5, 6)


def test_truncated_and_missing_files_are_named(tmp_path):
    _write(tmp_path / "v")
    path = tmp_path / "v" / "weight.hex"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(TruncatedFileError, match="weight.hex"):
        load_tensor(tmp_path / "v", "weight", fmt="hex")
    (tmp_path / "v" / "bias.npy").unlink()
    with pytest.raises(ManifestError, match="bias.npy: file named by the manifest is missing"):
        load_tensor(tmp_path / "v", "bias")
    with pytest.raises(ManifestError, match="tensor 'nope' is not in the manifest"):
        load_tensor(tmp_path / "v", "nope")


def _replace_with_resealed(directory: Path, name: str, array: np.ndarray) -> None:
    """Swap a tensor's .npy and fix the manifest's hash, so only shape/dtype checks can catch it
    (a hand-edited or wrongly regenerated directory)."""
    data = formats.npy_bytes(array)
    (directory / f"{name}.npy").write_bytes(data)
    m = json.loads((directory / "manifest.json").read_text())
    rec = next(t for t in m["tensors"] if t["name"] == name)["files"]["npy"]
    rec.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (directory / "manifest.json").write_text(json.dumps(m))


def test_wrong_shape_and_wrong_dtype_are_rejected_even_with_matching_hashes(tmp_path):
    _write(tmp_path / "v")
    out = np.load(tmp_path / "v" / "output.npy")
    _replace_with_resealed(tmp_path / "v", "output", out.reshape(1, 3, 6, 5))
    with pytest.raises(ShapeMismatchError, match=r"shape \[1, 3, 6, 5\], manifest says "
                                                 r"\[1, 3, 5, 6\]"):
        load_tensor(tmp_path / "v", "output")
    _replace_with_resealed(tmp_path / "v", "output", out.astype(np.int16))
    with pytest.raises(DtypeMismatchError, match="dtype int16, manifest says int8"):
        load_tensor(tmp_path / "v", "output")
    w = np.load(tmp_path / "v" / "weight.npy").copy()
    w.reshape(-1)[0] = 9  # not an int4 value
    _replace_with_resealed(tmp_path / "v", "weight", w)
    with pytest.raises(DtypeMismatchError, match="outside int4 range"):
        load_tensor(tmp_path / "v", "weight")


def test_manifest_errors(tmp_path):
    with pytest.raises(ManifestError, match="no manifest.json or manifest.yaml"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON/YAML"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ManifestError, match="schema is 'other'"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"schema": manifest.SCHEMA, "manifest_version": 99, "tensors": []}))
    with pytest.raises(ManifestError, match="manifest_version=99"):
        load_manifest(tmp_path)


def test_failed_write_leaves_the_old_directory_whole(tmp_path, monkeypatch):
    _write(tmp_path / "v")
    before = _tree(tmp_path / "v")
    calls = {"n": 0}
    real = Path.write_bytes

    def failing(self, data):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full (simulated)")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path / "v", seed=5)
    monkeypatch.undo()
    assert _tree(tmp_path / "v") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]  # no staging folder left behind


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("precious")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        _write(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "precious"


def test_golden_tensor_and_options_validate_arguments():
    with pytest.raises(ValueError, match="role='activation'"):
        GoldenTensor("x", np.zeros(2, np.int8), "int8", "activation")
    with pytest.raises(ValueError, match="name='../x'"):
        GoldenTensor("../x", np.zeros(2, np.int8), "int8", "input")
    with pytest.raises(DtypeMismatchError):
        GoldenTensor("x", np.zeros(2, np.float32), "int8", "input")
    with pytest.raises(ValueError, match="formats=\\['pdf'\\]"):
        WriteOptions(formats=("pdf",))
    with pytest.raises(ValueError, match="word_bits=6"):
        WriteOptions(word_bits=6)
    with pytest.raises(ValueError, match="tensor names must be unique"):
        manifest.build_golden({"name": "c", "kind": "operator"},
                              [GoldenTensor("x", np.zeros(1, np.int8), "int8", "input")] * 2,
                              WriteOptions())


@settings(max_examples=15)
@given(op=st.sampled_from(["conv2d", "matmul", "quantize", "requantize"]),
       size=st.integers(1, 6), wbits=st.sampled_from([4, 8]),
       adtype=st.sampled_from(["int8", "uint8"]), word_bits=st.sampled_from([8, 16, 24, 32, 64]),
       endianness=st.sampled_from(["little", "big"]), seed=st.integers(0, 2**16))
def test_every_tensor_reads_back_from_every_format(tmp_path_factory, op, size, wbits, adtype,
                                                   word_bits, endianness, seed):
    params = {"conv2d": {"c": size, "h": size + 2, "w": 3, "k": 2, "wbits": wbits,
                         "adtype": adtype},
              "matmul": {"m": size, "k": 2 * size + 1, "n": 3, "wbits": wbits, "adtype": adtype},
              "quantize": {"shape": f"{size}x3", "dtype": "int4" if wbits == 4 else adtype},
              "requantize": {"shape": f"2x{size}", "odtype": adtype}}[op]
    case = OperatorCase.parse(op, params, seed)
    out = tmp_path_factory.mktemp("rt") / case.name
    tensors = case.tensors()
    m = write_golden(out, case.describe(), tensors,
                     WriteOptions(formats=("npy", "hex", "bin"), word_bits=word_bits,
                                  endianness=endianness))
    assert verify_files(out, m) == 3 * len(tensors)
    for tensor in tensors:
        for fmt in ("npy", "hex", "bin"):
            got = load_tensor(out, tensor.name, fmt=fmt, manifest=m)
            assert got.dtype == tensor.array.dtype
            assert np.array_equal(got.view(np.uint8), tensor.array.view(np.uint8)), (tensor.name,
                                                                                   fmt)

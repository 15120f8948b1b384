"""Real consumers of golden vectors: Icarus Verilog reads the $readmemh images, gcc compiles the
C header. Each test skips, naming the tool, when iverilog/vvp or gcc is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from validation.cases import OperatorCase
from validation.manifest import WriteOptions, load_manifest, write_golden
from validation.testbench import iverilog_flags, iverilog_params

HERE = Path(__file__).parent
TB = HERE / "tb_read_vectors.v"
C_CHECK = HERE / "check_header.c"

needs_iverilog = pytest.mark.skipif(
    shutil.which("iverilog") is None or shutil.which("vvp") is None,
    reason="iverilog/vvp (Icarus Verilog) not installed: apt-get install -y iverilog")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def _write(tmp_path: Path, op: str, params: dict, **options) -> tuple[Path, dict, list]:
    case = OperatorCase.parse(op, params, seed=3)
    out = tmp_path / case.name
    tensors = case.tensors()
    manifest = write_golden(out, case.describe(), tensors, WriteOptions(**options))
    return out, manifest, tensors


def _run_testbench(tmp_path: Path, directory: Path, entry: dict,
                   dump: Path | None = None) -> np.ndarray:
    """Compile tb_read_vectors.v for one tensor's hex file and return what it printed."""
    hex_rec = entry["files"]["hex"]
    binary = tmp_path / f"tb_{entry['name']}_{hex_rec['word_bits']}"
    cmd = ["iverilog", "-g2005", "-o", str(binary)]
    cmd += iverilog_flags(directory, entry["name"]) + [str(TB)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    run = subprocess.run(["vvp", "-n", str(binary), f"+vectors={directory / hex_rec['path']}",
                          *([f"+dump={dump}"] if dump else [])],
                         check=True, capture_output=True, text=True, timeout=60)
    lines = [ln for ln in run.stdout.splitlines() if ln.strip() and not ln.startswith("VCD")]
    assert not any("ERROR" in ln or "WARNING" in ln for ln in lines), run.stdout
    return np.array([int(v) for v in lines], dtype=np.int64)


@needs_iverilog
@pytest.mark.parametrize("word_bits,endianness", [(32, "little"), (8, "big"), (64, "big")])
def test_verilog_readmemh_reads_every_tensor_of_a_w4a8_conv(tmp_path, word_bits, endianness):
    out, manifest, tensors = _write(
        tmp_path, "conv2d", {"c": 4, "h": 5, "w": 5, "k": 3, "wbits": 4},
        formats=("npy", "hex"), word_bits=word_bits, endianness=endianness)
    assert [t["name"] for t in manifest["tensors"]] == ["input", "weight", "bias",
                                                        "accumulator", "output"]
    for entry in manifest["tensors"]:
        printed = _run_testbench(tmp_path, out, entry)
        expected = np.load(out / entry["files"]["npy"]["path"]).reshape(-1).astype(np.int64)
        assert np.array_equal(printed, expected), entry["name"]


@needs_iverilog
def test_verilog_reads_uint8_and_16_bit_elements(tmp_path):
    out, manifest, _ = _write(tmp_path, "quantize", {"shape": "3x7", "dtype": "uint16"},
                              formats=("npy", "hex"), word_bits=48)
    entry = manifest["tensors"][1]
    printed = _run_testbench(tmp_path, out, entry)
    assert np.array_equal(printed, np.load(out / "output.npy").reshape(-1).astype(np.int64))
    out, manifest, _ = _write(tmp_path, "matmul", {"m": 3, "k": 5, "n": 2, "adtype": "uint8",
                                                   "odtype": "uint8"},
                              formats=("npy", "hex"), word_bits=16)
    for entry in manifest["tensors"]:
        printed = _run_testbench(tmp_path, out, entry)
        expected = np.load(out / entry["files"]["npy"]["path"]).reshape(-1).astype(np.int64)
        assert np.array_equal(printed, expected), entry["name"]


def _compile_and_run(tmp_path: Path, header: Path) -> subprocess.CompletedProcess:
    binary = tmp_path / f"check_{header.stem[:40]}"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1",
                    f'-DGILT_HEADER="{header}"', str(C_CHECK), "-o", str(binary)],
                   check=True, capture_output=True, text=True, timeout=120)
    return subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)


@needs_gcc
@pytest.mark.parametrize("op,params", [
    ("conv2d", {"c": 6, "h": 5, "w": 7, "k": 5, "wbits": 4, "relu": "true"}),
    ("matmul", {"m": 4, "k": 9, "n": 3, "wbits": 8, "adtype": "uint8", "odtype": "uint8"}),
    ("quantize", {"shape": "2x3x5", "dtype": "int4"}),
])
def test_c_header_compiles_and_checksums_match(tmp_path, op, params):
    out, manifest, tensors = _write(tmp_path, op, params, formats=("npy", "h", "bin"))
    header = out / manifest["files"][0]["path"]
    run = _compile_and_run(tmp_path, header)
    assert run.returncode == 0, run.stdout + run.stderr
    checks = [ln for ln in run.stdout.splitlines() if "crc32" in ln]
    assert len(checks) == len(tensors) + (1 if any(t.dtype == "int4" and t.role == "weight"
                                                   for t in tensors) else 0)
    assert all(ln.endswith(" ok") for ln in checks), run.stdout
    values = [int(ln) for ln in run.stdout.splitlines() if not ln.startswith("#")]
    assert np.array_equal(np.array(values), np.load(out / "output.npy").reshape(-1))
    # the header's packed int4 CRC is the CRC of the .bin file a loader would DMA
    if op == "conv2d":
        import zlib
        text = header.read_text()
        crc = int(text.split("#define WEIGHT_PACKED_CRC32 0x")[1][:8], 16)
        assert crc == zlib.crc32((out / "weight.bin").read_bytes())


@needs_gcc
def test_c_program_detects_a_corrupted_array(tmp_path):
    out, manifest, _ = _write(tmp_path, "conv2d", {"c": 2, "h": 3, "w": 3, "k": 2},
                              formats=("h",))
    header = out / manifest["files"][0]["path"]
    text = header.read_text()
    marker = "static const int32_t bias_data[2] = {\n    "
    assert marker in text
    start = text.index(marker) + len(marker)
    end = text.index(",", start)
    corrupted = text[:start] + str(int(text[start:end]) + 1) + text[end:]
    bad_header = tmp_path / "corrupted.h"
    bad_header.write_text(corrupted)
    run = _compile_and_run(tmp_path, bad_header)
    assert run.returncode == 1
    assert "# bias crc32" in run.stdout and "MISMATCH" in run.stdout
    assert load_manifest(out)["files"][0]["format"] == "h"


def test_testbench_parameters_from_the_manifest(tmp_path, capsys):
    from validation.testbench import main

    out, manifest, _ = _write(tmp_path, "conv2d", {"c": 3, "k": 2}, formats=("hex",),
                              word_bits=16, endianness="big")
    weight = next(t for t in manifest["tensors"] if t["name"] == "weight")
    assert iverilog_params(weight) == {"WORD_BITS": 16, "ELEM_BITS": 4, "WORDS": 14,
                                       "COUNT": 54, "SIGNED": 1, "BIG_ENDIAN": 1}
    assert main([str(out), "bias"]) == 0
    assert capsys.readouterr().out.split() == [
        "-Ptb_read_vectors.WORD_BITS=32", "-Ptb_read_vectors.ELEM_BITS=32",
        "-Ptb_read_vectors.WORDS=2", "-Ptb_read_vectors.COUNT=2", "-Ptb_read_vectors.SIGNED=1",
        "-Ptb_read_vectors.BIG_ENDIAN=1"]
    assert main([str(out), "nope"]) == 2


@needs_iverilog
def test_writememh_dump_of_the_test_bench_passes_gilt_check(tmp_path, capsys):
    """The bench writes its memory back with $writememh (as an RTL output dump); gilt check reads
    that file, comments and all; one changed word makes it fail at the right index."""
    from gilt.cli import main

    out, manifest, _ = _write(tmp_path, "conv2d", {"c": 3, "h": 4, "w": 4, "k": 2},
                              formats=("npy", "hex"))
    entry = next(t for t in manifest["tensors"] if t["name"] == "output")
    dump = tmp_path / "dump.hex"
    _run_testbench(tmp_path, out, entry, dump=dump)
    assert dump.read_text().startswith("// 0x")  # Icarus' address comment
    assert main(["check", str(out), "--result", f"output={dump}"]) == 0
    words = dump.read_text().splitlines()
    words[3] = f"{int(words[3], 16) ^ 0x100:08x}"  # byte 1 of word 2 -> element 5
    dump.write_text("\n".join(words) + "\n")
    assert main(["check", str(out), "--result", f"output={dump}"]) == 1
    assert "1/32 mismatches" in capsys.readouterr().out

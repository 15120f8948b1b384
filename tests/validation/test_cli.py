"""`gilt golden` and `gilt check` end to end: write vectors, check an implementation's files in
every format, fail loudly on wrong results and on corrupt golden files, write JUnit XML."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from gilt.cli import main
from validation import formats

CONV = ["--op", "conv2d", "--param", "c=4,h=5,w=5,k=3,wbits=4"]
CONV_NAME = "conv2d_n1_c4_h5_w5_k3_r3_s3_st1_p1_d1_g1_w4a8"
ROOT = Path(__file__).resolve().parents[2]


def _golden(tmp_path: Path, *extra: str) -> Path:
    assert main(["golden", *CONV, "--out", str(tmp_path / "g"), *extra]) == 0
    return tmp_path / "g" / CONV_NAME


def test_golden_then_check_passes_for_files_in_every_format(tmp_path, capsys):
    golden = _golden(tmp_path, "--formats", "all", "--word-bits", "16", "--endianness", "big")
    out = capsys.readouterr().out
    assert f"wrote {golden}" in out
    for fmt in ("npy", "hex", "bin"):
        results = tmp_path / f"rtl_{fmt}"
        results.mkdir()
        shutil.copy(golden / f"output.{fmt}", results)
        assert main(["check", str(golden), "--results", str(results)]) == 0
        report = capsys.readouterr().out
        assert "PASS  output: int8 [1, 3, 5, 5]  0/75 mismatches (exact)" in report
        assert report.splitlines()[-2].startswith("PASS")


def test_wrong_result_fails_with_location_and_junit(tmp_path, capsys):
    golden = _golden(tmp_path)
    expected = np.load(golden / "output.npy")
    got = expected.copy()
    got[0, 2, 4, 1] = np.int8(min(int(got[0, 2, 4, 1]) + 1, 127) if got[0, 2, 4, 1] < 127
                              else 126)
    results = tmp_path / "impl"
    results.mkdir()
    # an RTL simulation dump in 8-bit words instead of the golden's 32-bit ones
    (results / "output.hex").write_text(formats.hex_text(got, "int8", word_bits=8))
    junit = tmp_path / "report.xml"
    code = main(["check", str(golden), "--results", str(results), "--word-bits", "8",
                 "--junit", str(junit)])
    report = capsys.readouterr().out
    assert code == 1
    assert "1/75 mismatches" in report and "[0, 2, 4, 1]:" in report
    assert report.splitlines()[-2] == "FAIL: 1 of 1 comparison(s) failed"
    root = ET.parse(junit).getroot()
    assert root.attrib["failures"] == "1" and root.find("testcase/failure") is not None


def test_result_of_wrong_shape_or_size_is_a_named_failure(tmp_path, capsys):
    golden = _golden(tmp_path)
    bad = tmp_path / "out.npy"
    np.save(bad, np.load(golden / "output.npy").reshape(3, 25))
    assert main(["check", str(golden), "--result", f"output={bad}"]) == 1
    assert "ShapeMismatchError" in capsys.readouterr().out
    short = tmp_path / "out.bin"
    short.write_bytes((golden / "output.bin").read_bytes()[:-1])
    assert main(["check", str(golden), "--result", f"output={short}"]) == 1
    assert "TruncatedFileError" in capsys.readouterr().out
    empty = tmp_path / "none"
    empty.mkdir()
    assert main(["check", str(golden), "--results", str(empty)]) == 1
    assert "no result file" in capsys.readouterr().out


def test_corrupt_golden_stops_the_check(tmp_path, capsys):
    golden = _golden(tmp_path)
    results = tmp_path / "r"
    results.mkdir()
    shutil.copy(golden / "output.npy", results)
    data = bytearray((golden / "input.bin").read_bytes())
    data[0] ^= 0xFF
    (golden / "input.bin").write_bytes(bytes(data))
    assert main(["check", str(golden), "--results", str(results)]) == 2
    assert "ChecksumError" in capsys.readouterr().err


def test_check_every_tensor_and_a_tree_of_cases(tmp_path, capsys):
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - {op: matmul, m: 2, k: 8, n: 3}\n"
                     "  - {op: quantize, shape: 2x5, dtype: uint4}\n")
    assert main(["golden", "--case-file", str(cases), "--out", str(tmp_path / "g"),
                 "--formats", "npy"]) == 0
    capsys.readouterr()
    # the golden tree checked against itself: every case folder, every named tensor
    assert main(["check", str(tmp_path / "g"), "--results", str(tmp_path / "g")]) == 0
    report = capsys.readouterr().out
    assert "matmul_m2_k8_n3_w4a8/output" in report and "quantize_2x5_uint4/output" in report
    assert main(["check", str(tmp_path / "g" / "matmul_m2_k8_n3_w4a8"), "--results",
                 str(tmp_path / "g" / "matmul_m2_k8_n3_w4a8"), "--tensor", "accumulator",
                 "--tensor", "input", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("PASS: 2 tensor(s)")


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["golden", "--op", "conv2d", "--param", "q=1", "--out", str(tmp_path)]) == 2
    assert "unknown parameter" in capsys.readouterr().err
    assert main(["golden", "--out", str(tmp_path)]) == 2
    assert main(["golden", "--op", "conv2d", "--formats", "pdf", "--out", str(tmp_path)]) == 2
    assert "formats=['pdf']" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing"), "--results", str(tmp_path)]) == 2
    assert "no such golden-vector directory" in capsys.readouterr().err
    golden = _golden(tmp_path)
    assert main(["check", str(golden)]) == 2
    assert main(["golden", "--list-ops"]) == 0
    assert "conv2d:" in capsys.readouterr().out


def test_gilt_golden_as_a_process_is_byte_identical(tmp_path):
    """Two separate processes (fresh hash seeds, fresh imports) write the same bytes."""
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        subprocess.run([sys.executable, "-m", "gilt", "golden", *CONV, "--out", str(out),
                        "--formats", "all"], check=True, capture_output=True, timeout=120,
                       env={"PYTHONHASHSEED": str(i), "PATH": "/usr/bin:/bin"}, cwd=ROOT)
        outs.append({p.name: p.read_bytes() for p in (out / CONV_NAME).iterdir()})
    assert outs[0] == outs[1] and len(outs[0]) == 21  # 20 files and gilt's folder marker


@pytest.mark.parametrize("roles,expected", [("output", ["output"]),
                                            ("input,weight", ["input", "weight"])])
def test_roles_select_tensors(tmp_path, roles, expected):
    golden = _golden(tmp_path, "--roles", roles, "--formats", "npy")
    assert sorted(p.stem for p in golden.glob("*.npy")) == expected

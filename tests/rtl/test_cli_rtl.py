"""`gilt rtl`: per-layer lines, JUnit, and one-line errors with exit 2."""

from __future__ import annotations

import pytest

from gilt.cli import main
from tests.rtl.conftest import need


@pytest.mark.parametrize("argv,message", [
    (["rtl"], "choose exactly one of --op, --network, --vectors"),
    (["rtl", "--op", "conv2d", "--network", "resnet50"], "choose exactly one"),
    (["rtl", "--op", "conv2d", "--rows", "0"], "argument --rows: expected a PE count in 1..256"),
    (["rtl", "--op", "conv2d", "--param", "c=oops"], "c='oops'"),
    (["rtl", "--vectors", "/nonexistent/folder"], "no manifest.json"),
    (["rtl", "--op", "conv2d", "--param", "g=2,c=4,k=4"], "groups=2"),
    (["rtl", "--network", "nonet"], "nonet"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.oracle
def test_runs_a_layer_and_writes_junit(tmp_path, capsys):
    need("icarus")
    junit = tmp_path / "rtl.xml"
    code = main(["rtl", "--rows", "4", "--cols", "4", "--dataflow", "os", "--simulator",
                 "icarus", "--op", "matmul", "--param", "m=5,k=9,n=6", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS  matmul_m5_k9_n6_w4a8" in out and "1/1 with model = RTL" in out
    assert 'failures="0"' in junit.read_text() and 'tests="3"' in junit.read_text()

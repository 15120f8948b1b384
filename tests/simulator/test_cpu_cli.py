"""``gilt cpu``: runs a built-in network, writes JSON/CSV atomically, rejects bad hardware."""

import json

import pytest

from gilt.cli import main


def test_gilt_cpu_writes_totals_and_layers(tmp_path, capsys):
    pytest.importorskip("networks")
    out = tmp_path / "r.json"
    table = tmp_path / "r.csv"
    rc = main(["cpu", "--hw", "skylake-sp", "--net", "resnet50", "--precision", "float32",
               "--compare-isa", "--json", str(out), "--csv", str(table), "--quiet"])
    assert rc == 0
    data = json.loads(out.read_text())
    totals = data["totals"]
    assert totals["hardware"] == "skylake-sp" and totals["layers"] == len(data["layers"])
    assert totals["time_s"] == pytest.approx(sum(row["time_s"] for row in data["layers"]))
    by_isa = totals["time_by_isa_s"]
    assert by_isa["scalar"] > by_isa["avx2"] > by_isa["avx512"]
    assert table.read_text().startswith("name,")
    assert "resnet50 on skylake-sp" in capsys.readouterr().out


def test_gilt_cpu_bad_hardware_is_a_clear_error(capsys):
    rc = main(["cpu", "--hw", "no-such-cpu", "--net", "resnet50"])
    assert rc == 2
    assert "no-such-cpu" in capsys.readouterr().err

"""One consistent command line (docs/cli.md): help on every option with its default, the same
defaults and the same options for the three targets, one preset-naming rule with aliases, one
table printer with full names and units, commands in the docs that parse."""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import pytest

import networks
from common.table import Column, csv_text, render
from gilt import options
from gilt.cli import DESCRIPTION, SUBCOMMANDS, build_parser, main
from simulator.spec import PRESET_NAME, check_preset_name, preset_key

ROOT = Path(__file__).resolve().parents[2]
PRESET_DIRS = sorted(ROOT.glob("simulator/*/presets"))


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _options(name: str) -> dict[str, argparse.Action]:
    return {a.dest: a for a in _subparser(name)._actions
            if a.option_strings and a.dest not in ("help",)}


def _nested(label: str, parser: argparse.ArgumentParser):
    """``parser`` and the parsers of its own subcommands (``gilt llm run``, ...)."""
    yield label, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _nested(f"{label} {sub_name}", sub)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_option_has_help_that_gives_its_default(name):
    for label, parser in _nested(f"gilt {name}", _subparser(name)):
        _check_help(label, parser)


def _check_help(name: str, parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{name} {action.option_strings or action.dest}: no help"
        rendered = parser._get_formatter()._expand_help(action) if action.help else ""
        if action.option_strings and action.default is not None and action.default is not False \
                and action.default is not argparse.SUPPRESS:
            assert "default" in rendered, f"{name} {action.option_strings}: {rendered!r}"
        if action.option_strings and action.default is None and action.nargs != 0 \
                and action.const is None:
            assert "default" in rendered, \
                f"{name} {action.option_strings}: say what happens without it"
    assert "(default: (default" not in text


def test_top_level_help_is_whole_sentences_without_markup(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert DESCRIPTION in " ".join(out.split()) or DESCRIPTION.split(":")[0] in out
    assert DESCRIPTION.endswith(".") and "``" not in out and ":func:" not in out
    for name in SUBCOMMANDS:
        assert name in out


def test_the_three_targets_take_the_same_options_with_the_same_defaults():
    common = ("hw", "net", "precision", "batch", "input_size", "csv", "json", "quiet")
    by_target = {t: _options(t) for t in ("npu", "gpu", "cpu")}
    for target, opts in by_target.items():
        for dest in common:
            assert dest in opts, f"gilt {target} lacks --{dest}"
            assert not opts[dest].required, f"gilt {target} --{dest} is required"
        assert opts["precision"].default == options.DEFAULT_PRECISION
        assert opts["batch"].default == 1 and opts["input_size"].default is None
        assert options.DEFAULT_HW[target] in opts["hw"].help
        assert options.DEFAULT_NETWORK in opts["net"].help


@pytest.mark.parametrize("name", ["net", "report", "demo", "golden", "sweep", "npu"])
def test_precision_and_gating_defaults_are_the_shared_ones(name):
    opts = _options(name)
    if "precision" in opts:
        assert opts["precision"].default == options.DEFAULT_PRECISION
    if "gating" in opts:
        assert opts["gating"].default == options.DEFAULT_GATING
        assert opts["zero_skip"].default is True


def test_demo_has_the_report_options_and_defaults():
    report, demo = _options("report"), _options("demo")
    assert set(report) == set(demo)
    for dest, action in report.items():
        assert demo[dest].default == action.default, dest


@pytest.mark.parametrize("directory", PRESET_DIRS, ids=lambda p: p.parent.name)
def test_every_preset_file_follows_the_naming_rule(directory):
    names = [p.stem for p in directory.glob("*.yaml")]
    assert names
    for name in names:
        assert PRESET_NAME.match(name) and check_preset_name(name) == name
        assert preset_key(name) == name


@pytest.mark.parametrize("target, alias, canonical", [
    ("gpu", "a100_sxm4_40gb", "a100-sxm4-40gb"), ("gpu", "H100_SXM5", "h100-sxm5"),
    ("gpu", "v100_sxm2", "v100-sxm2"), ("npu", "npu_32x32", "npu-32x32"),
    ("cpu", "ZEN5_EPYC", "zen5-epyc"),
])
def test_old_and_other_spellings_are_aliases(target, alias, canonical):
    from gilt import targets

    assert targets.load_hardware(target, alias) == targets.load_hardware(target, canonical)
    assert preset_key(alias) == canonical


def test_preset_rule_refuses_other_names():
    for bad in ("a100_sxm4_40gb", "NPU-32x32", "npu--32", "-npu", "npu 32"):
        with pytest.raises(ValueError, match="kebab-case"):
            check_preset_name(bad)


def test_table_printer_keeps_full_names_and_units():
    long = "encoder.layer.0.attention.self.query_key_value_projection"
    rows = [{"name": long, "time_s": 1.5e-6, "util": 0.5}, {"name": "fc", "time_s": None}]
    text = render([Column("name", "layer"), Column("time_s", "time (us)", ".2f", 1e6),
                   Column("util", "util (%)", ".1f", 100)], rows)
    lines = text.splitlines()
    assert long in text and lines[0].startswith("layer") and "time (us)" in lines[0]
    assert lines[2].split()[1:] == ["1.50", "50.0"] and lines[3].split()[1:] == ["-", "-"]
    assert csv_text(rows).splitlines()[0] == "name,time_s,util"


def test_cli_tables_never_cut_layer_names(capsys):
    """bert_base has long layer names; every target's table prints them whole."""
    wl = networks.workload_for("bert_base", precision="w4a8", input_size=16)
    longest = max((layer.name for layer in wl.layers), key=len)
    assert len(longest) > 21
    for target in ("npu", "gpu", "cpu"):
        assert main([target, "--net", "bert_base", "--input-size", "16"]) == 0
        out = capsys.readouterr().out
        assert longest in out, target
        header = out.splitlines()[0]
        for column in ("layer", "op", "cycles", "time (us)", "MAC util (%)", "DRAM (KiB)",
                       "bound"):
            assert column in header, (target, column)


@pytest.mark.parametrize("network", sorted(networks.MODELS))
def test_npu_csv_and_json_on_every_built_in_network(network, tmp_path, capsys):
    """`gilt npu --net NAME --csv F` once failed on every built-in network (rows with
    different keys); the CSV now holds one row per layer with every key."""
    out_csv, out_json = tmp_path / "l.csv", tmp_path / "r.json"
    args = ["npu", "--net", network, "--csv", str(out_csv), "--json", str(out_json), "--quiet"]
    if network == "bert_base":
        args += ["--input-size", "32"]
    assert main(args) == 0
    rows = list(csv.DictReader(out_csv.open()))
    data = json.loads(out_json.read_text())
    assert len(rows) == len(data["layers"]) == data["totals"]["layers"] > 0
    assert {"name", "op", "cycles", "time_s", "dram_bytes"} <= set(rows[0])


def _command_lines(path: Path) -> list[list[str]]:
    text = path.read_text()
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("gilt ") and "..." not in line:
                lines.append(line.split()[1:])
    return lines


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md"])
def test_command_lines_in_the_docs_parse(doc):
    lines = _command_lines(ROOT / doc)
    assert lines
    for argv in lines:
        parser = build_parser(argv[0])
        parser.parse_args(argv)  # a usage error raises SystemExit and fails the test


def test_readme_sweep_file_exists():
    readme = (ROOT / "README.md").read_text()
    files = re.findall(r"gilt sweep (\S+\.yaml)", readme)
    assert files and all((ROOT / f).is_file() for f in files)


def test_check_all_kernels_reports_compile_and_run_time_separately(capsys):
    pytest.importorskip("kernels.registry")
    from kernels import registry

    spec = next(s for s in registry.KERNELS if s.name == "cpu.matmul_int")
    import io

    from validation.kernel_check import check_all_kernels
    out = io.StringIO()
    (c,) = check_all_kernels(specs=[spec], out=out)
    assert c.passed and c.compile_seconds is not None and c.compile_seconds >= 0
    assert c.seconds >= 0 and "compile " in out.getvalue() and " ms)" in out.getvalue()

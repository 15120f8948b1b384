"""Bad input at the command line: every probe must end in one line on stderr naming what is
wrong, exit status 2, no traceback, and no file left behind.

``test_probes`` runs a table of hand-written bad inputs through ``gilt.cli.main`` in this
process and counts, over all of them: tracebacks (an exception escaping ``main``, an internal
error, or "Traceback" in the output), silent acceptances (exit 0), partial outputs (any file
or folder created), answers that are not one line, other exit statuses, and messages that do
not name what is wrong. All counts must be 0; the counts are printed (``pytest -s``).
``test_probes_as_processes`` runs a sample as real processes. The hypothesis tests throw random
values at every bounded option and at the functions where values enter from files.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gilt.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
NPU_PRESET = ROOT / "simulator" / "npu" / "presets" / "npu-32x32.yaml"
CPU_PRESET = ROOT / "simulator" / "cpu" / "presets" / "zen5-epyc.yaml"


def _spec_file(path: Path, preset: Path, **changes) -> None:
    data = yaml.safe_load(preset.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


def _scalesim_cfg(folder: Path, name: str, bandwidth: str) -> None:
    """A SCALE-Sim config in USER bandwidth mode with the given Bandwidth line."""
    from simulator.npu import scalesim_compat as sc

    path = sc.write_cfg(sc.ScaleSimConfig(interface_bandwidth="USER"), folder / name)
    path.write_text("\n".join(f"Bandwidth : {bandwidth}" if line.startswith("Bandwidth")
                              else line for line in path.read_text().splitlines()) + "\n")


TOPOLOGY_HEAD = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                 "Num Filter, Strides,\n")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder of bad inputs (the probes run with it as the working directory)."""
    d = tmp_path_factory.mktemp("bad-inputs")
    (d / "bad.yaml").write_text("not: [valid\n")
    (d / "list.yaml").write_text("- a\n- b\n")
    (d / "empty.yaml").write_text("")
    (d / "empty.onnx").write_bytes(b"")
    (d / "rand.onnx").write_bytes(np.random.default_rng(0).integers(0, 256, 300, np.uint8)
                                  .tobytes())
    (d / "folder.onnx").mkdir()
    (d / "afile").write_text("precious\n")
    (d / "mydir").mkdir()
    (d / "mydir" / "notes.txt").write_text("mine\n")
    _spec_file(d / "npu-huge.yaml", NPU_PRESET, array_rows=10**30)
    _spec_file(d / "npu-nan.yaml", NPU_PRESET, clock_mhz=float("nan"))
    _spec_file(d / "npu-inf.yaml", NPU_PRESET, dram_bw_bytes_per_cycle=float("inf"))
    _spec_file(d / "npu-typo.yaml", NPU_PRESET, array_rowz=32)
    _spec_file(d / "cpu-cores.yaml", CPU_PRESET, cores=10**9)
    _scalesim_cfg(d, "user0.cfg", "0")
    _scalesim_cfg(d, "userneg.cfg", "-5")
    (d / "bad.cfg").write_text("[general\nxx\n")
    (d / "huge_dp.csv").write_text(TOPOLOGY_HEAD + "DP1, 8, 8, 3, 3, 1000000000, 1, 1,\n")
    (d / "many_dp.csv").write_text(TOPOLOGY_HEAD + "DP1, 8, 8, 3, 3, 200000, 1, 1,\n")
    (d / "word.csv").write_text(TOPOLOGY_HEAD + "C1, 8, eight, 3, 3, 4, 4, 1,\n")
    (d / "empty_topo.csv").write_text(TOPOLOGY_HEAD)
    sweeps = {
        "sw-badkey.yaml": {"networks": ["gated_net"], "netwroks": [],
                           "targets": {"npu": {"presets": ["npu-32x32"]}}},
        "sw-preset.yaml": {"networks": ["gated_net"], "targets": {"npu": {"presets": ["nope"]}}},
        "sw-field.yaml": {"networks": ["gated_net"],
                          "targets": {"npu": {"presets": ["npu-32x32"],
                                              "vary": {"array_rowz": [16]}}}},
        "sw-nan.yaml": {"networks": ["gated_net"],
                        "targets": {"npu": {"presets": ["npu-32x32"],
                                            "vary": {"clock_mhz": [float("nan")]}}}},
        "sw-huge.yaml": {"networks": ["gated_net"],
                         "targets": {"npu": {"presets": ["npu-32x32"],
                                             "vary": {"array_rows": [10**12]}}}},
        "sw-zero.yaml": {"networks": ["gated_net"],
                         "targets": {"npu": {"presets": ["npu-32x32"],
                                             "vary": {"dram_bw_bytes_per_cycle": [0]}}}},
        "sw-net.yaml": {"networks": ["nosuch"], "targets": {"gpu": {"presets": ["h100-sxm5"]}}},
        "sw-prec.yaml": {"networks": ["gated_net"], "precisions": ["w3a8"],
                         "targets": {"gpu": {"presets": ["h100-sxm5"]}}},
        "sw-batch.yaml": {"networks": ["gated_net"], "batch": [0],
                          "targets": {"gpu": {"presets": ["h100-sxm5"]}}},
        "sw-target.yaml": {"networks": ["gated_net"], "targets": {"tpu": {"presets": ["x"]}}},
        "sw-vary.yaml": {"networks": ["gated_net"],
                         "targets": {"npu": {"presets": ["npu-32x32"], "vary": [1, 2]}}},
    }
    for name, spec in sweeps.items():
        (d / name).write_text(yaml.safe_dump(spec))
    (d / "cases-bad.yaml").write_text("cases: [op: conv2d\n")
    (d / "cases-dup.yaml").write_text(yaml.safe_dump(
        {"cases": [{"op": "matmul", "m": 2}, {"op": "matmul", "m": 2}]}))
    (d / "cases-c0.yaml").write_text(yaml.safe_dump({"cases": [{"op": "conv2d", "c": 0}]}))
    return d


#: (argv, a phrase the one-line error must contain). Run in the ``inputs`` folder.
PROBES: list[tuple[list[str], str]] = [
    # report / demo
    (["report", "--net", "nosuch"], "'nosuch'"),
    (["report", "--gpu", "nosuch"], "'nosuch' not found"),
    (["report", "--npu", "npu-huge.yaml"], "array_rows"),
    (["report", "--gating", "topk:1.5"], "keep must be a fraction"),
    (["report", "--gating", "topk:-1"], "keep must be a fraction"),
    (["report", "--gating", "topk:0"], "keep must be a fraction"),
    (["report", "--gating", "threshold:nan"], "finite"),
    (["report", "--gating", "threshold:inf"], "finite"),
    (["report", "--gating", "bogus"], "--gating"),
    (["report", "--gating", "topk:"], "--gating"),
    (["report", "--input-size", "0"], "--input-size"),
    (["report", "--input-size", "-3"], "--input-size"),
    (["report", "--net", "empty.onnx"], "empty file"),
    (["report", "--net", "folder.onnx"], "is a folder"),
    (["report", "--net", "rand.onnx"], "rand.onnx"),
    (["report", "--net", "gated_net", "--out", "afile"], "not a folder"),
    (["report", "--net", "gated_net", "--out", "mydir"], "did not write"),
    (["report", "--net", "gated_net", "--net", "gated_net"], "twice"),
    (["report", "--seed", "-1"], "--seed"),
    (["report", "--precision", "float32"], "--precision"),
    (["report", "--gpu", "bad.yaml"], "not valid YAML at line 2"),
    (["report", "--gpu", "-", "--cpu", "-", "--npu", "-"], "every target was skipped"),
    (["demo", "--gating", "topk:-1"], "keep must be a fraction"),
    (["demo", "--cpu", "nosuch"], "'nosuch' not found"),
    (["demo", "--out", "afile"], "not a folder"),
    (["demo", "--no-such-option"], "unrecognized arguments"),
    # sweep
    (["sweep", "nosuch.yaml"], "does not exist"),
    (["sweep", "bad.yaml"], "not valid YAML at line 2"),
    (["sweep", "list.yaml"], "must hold a mapping"),
    (["sweep", "empty.yaml"], "must hold a mapping"),
    (["sweep", "mydir"], "is a folder"),
    (["sweep", "sw-badkey.yaml"], "unknown key"),
    (["sweep", "sw-preset.yaml"], "'nope' not found"),
    (["sweep", "sw-field.yaml"], "array_rowz"),
    (["sweep", "sw-nan.yaml"], "finite"),
    (["sweep", "sw-huge.yaml"], "sane limit"),
    (["sweep", "sw-zero.yaml"], "dram_bw_bytes_per_cycle"),
    (["sweep", "sw-net.yaml"], "'nosuch'"),
    (["sweep", "sw-prec.yaml"], "'w3a8'"),
    (["sweep", "sw-batch.yaml"], "batch"),
    (["sweep", "sw-target.yaml"], "'tpu'"),
    (["sweep", "sw-vary.yaml"], "vary"),
    (["sweep", "sw-badkey.yaml", "--workers", "0"], "--workers"),
    (["sweep", "sw-badkey.yaml", "--workers", "many"], "--workers"),
    # net
    (["net", "nosuch"], "'nosuch'"),
    (["net", "resnet50", "--input-size", "0"], "--input-size"),
    (["net", "resnet50", "--input-size", "100000"], "--input-size"),
    (["net", "gated_net", "--gating", "threshold:nan"], "finite"),
    (["net", "gated_net", "--batch", "0"], "--batch"),
    (["net", "gated_net", "--seed", "-5"], "--seed"),
    (["net", "empty.onnx"], "empty file"),
    (["net", "rand.onnx", "--precision", "float32"], "rand.onnx"),
    # npu
    (["npu", "--hw", "bad.yaml"], "not valid YAML at line 2"),
    (["npu", "--hw", "nosuch"], "'nosuch' not found"),
    (["npu", "--hw", "npu-huge.yaml"], "sane limit"),
    (["npu", "--hw", "npu-nan.yaml"], "finite"),
    (["npu", "--hw", "npu-inf.yaml"], "finite"),
    (["npu", "--hw", "npu-typo.yaml"], "array_rowz"),
    (["npu", "--hw", "mydir"], "is a folder"),
    (["npu", "--batch", "100000000000"], "--batch"),
    (["npu", "--batch", "1e3"], "--batch"),
    (["npu", "--fm-tile", "0x4"], "--fm-tile"),
    (["npu", "--fm-tile", "4by4"], "--fm-tile"),
    (["npu", "--timeline", "t.txt"], ".csv or a .png"),
    (["npu", "--compute-report", "c.csv"], "scalesim mode"),
    (["npu", "--report-dir", "reports"], "need --scalesim-config"),
    (["npu", "--scalesim-config", "user0.cfg"], "needs --topology"),
    (["npu", "--scalesim-config", "user0.cfg", "--topology", "word.csv", "--report-dir",
      "afile"], "is a file"),
    (["npu", "--scalesim-config", "bad.cfg", "--topology", "word.csv"], "not a valid INI"),
    (["npu", "--scalesim-config", "user0.cfg", "--topology", "many_dp.csv"], "Bandwidth: positive"),
    (["npu", "--scalesim-config", "userneg.cfg", "--topology", "many_dp.csv"], "bandwidth"),
    (["npu", "--topology", "huge_dp.csv"], "Channels"),
    (["npu", "--topology", "many_dp.csv"], "expands into"),
    (["npu", "--topology", "word.csv"], "IFMAP Width"),
    (["npu", "--topology", "empty_topo.csv"], "no layers"),
    (["npu", "--net", "gated_net", "--topology", "word.csv"], "--net or --topology"),
    (["npu", "--gemm"], "--gemm"),
    (["npu", "--csv", "mydir"], "is a folder"),
    (["npu", "--json", "afile/x.json"], "is a file, not a folder"),
    (["npu", "--csv", "same.out", "--json", "same.out"], "the same file"),
    (["npu", "--net", "empty.onnx"], "empty file"),
    # gpu
    (["gpu", "--hw", "bad.yaml"], "not valid YAML at line 2"),
    (["gpu", "--plot", "roof.txt"], ".png"),
    (["gpu", "--precision", "int3"], "--precision"),
    (["gpu", "--hw", "v100-sxm2", "--mma", "int8"], "int8"),
    (["gpu", "--net", "resnet50-ref", "--input-size", "64"], "--input-size"),
    (["gpu", "--json", "mydir"], "is a folder"),
    # cpu
    (["cpu", "--threads", "100000"], "--threads"),
    (["cpu", "--threads", "1000"], "has 128 cores"),
    (["cpu", "--threads", "0"], "--threads"),
    (["cpu", "--batch", "0"], "--batch"),
    (["cpu", "--hw", "cpu-cores.yaml"], "sane limit"),
    (["cpu", "--isa", "avx1024"], "--isa"),
    # golden
    (["golden", "--network", "resnet50", "--input-size", "0"], "--input-size"),
    (["golden", "--network", "nosuch"], "'nosuch'"),
    (["golden", "--op", "conv2d", "--param", "c=0"], "parameter c="),
    (["golden", "--op", "conv2d", "--param", "c=-4"], "parameter c="),
    (["golden", "--op", "conv2d", "--param", "c=4", "--param", "c=8"], "given twice"),
    (["golden", "--op", "conv2d", "--param", "c=4,c=8"], "given twice"),
    (["golden", "--op", "conv2d", "--word-bits", "100000"], "--word-bits"),
    (["golden", "--op", "conv2d", "--word-bits", "12"], "word_bits=12"),
    (["golden", "--op", "conv2d", "--param", "n=0"], "parameter n="),
    (["golden", "--op", "conv2d", "--param", "c=100000,h=100000,w=100000"], "elements"),
    (["golden", "--op", "conv2d", "--param", "r=20"], "does not fit"),
    (["golden", "--op", "conv2d", "--param", "g=3"], "groups"),
    (["golden", "--op", "quantize", "--param", "scale=nan"], "scale"),
    (["golden", "--op", "quantize", "--param", "scale=inf"], "scale"),
    (["golden", "--op", "quantize", "--param", "scale=-1"], "scale"),
    (["golden", "--op", "quantize", "--param", "shape=0x3"], "shape"),
    (["golden", "--op", "quantize", "--param", "shape=100000x100000"], "elements"),
    (["golden", "--op", "conv2d", "--param", "q=1"], "unknown parameter"),
    (["golden", "--op", "conv9d"], "conv9d"),
    (["golden", "--op", "conv2d", "--formats", "pdf"], "pdf"),
    (["golden", "--op", "conv2d", "--roles", "bogus"], "bogus"),
    (["golden", "--op", "conv2d", "--out", "afile"], "is a file"),
    (["golden", "--op", "conv2d", "--seed", "-1"], "--seed"),
    (["golden"], "choose exactly one"),
    (["golden", "--op", "conv2d", "--network", "resnet50"], "choose exactly one"),
    (["golden", "--case-file", "cases-bad.yaml"], "not valid YAML"),
    (["golden", "--case-file", "cases-dup.yaml"], "duplicate"),
    (["golden", "--case-file", "cases-c0.yaml"], "parameter c="),
    (["golden", "--case-file", "nosuch.yaml"], "cannot be read"),
    (["golden", "--case-file", "cases-dup.yaml", "--param", "c=1"], "--param applies"),
    # check
    (["check", "nosuch", "--results", "mydir"], "no such golden-vector directory"),
    (["check", "mydir", "--results", "mydir"], "no manifest.json"),
    (["check", "mydir", "--word-bits", "100000", "--results", "mydir"], "--word-bits"),
    (["check", "mydir", "--rtol", "nan", "--results", "mydir"], "--rtol"),
    (["check", "mydir", "--atol", "-1", "--results", "mydir"], "--atol"),
    (["check", "mydir", "--first", "-1", "--results", "mydir"], "--first"),
    (["check", "mydir", "--junit", "mydir", "--results", "mydir"], "is a folder"),
    (["check", "mydir", "--result", "output", "--results", "mydir"], "TENSOR=PATH"),
    (["check"], "give a golden-vector directory"),
    (["check", "--kernel", "cpu.nope"], "needs a golden-vector directory"),
    # llm
    (["llm", "run", "--batch", "0"], "--batch"),
    (["llm", "run", "--prompt", "-5"], "--prompt"),
    (["llm", "serve", "--rate", "nan"], "--rate"),
    (["llm", "serve", "--requests", "0"], "--requests"),
    (["llm", "shard", "--shard-mib", "-1"], "--shard-mib"),
    (["llm", "run", "--hw", "bad.yaml"], "not valid YAML"),
    (["llm", "golden", "--steps", "-1"], "--steps"),
    (["llm"], "required"),
    # rtl
    (["rtl", "--op", "conv2d", "--rows", "0"], "--rows"),
    (["rtl", "--op", "conv2d", "--cols", "100000"], "--cols"),
    (["rtl", "--op", "conv2d", "--param", "c=0"], "parameter c="),
    (["rtl", "--vectors", "mydir"], "no manifest.json"),
    (["rtl", "--network", "gated_net", "--input-size", "0"], "--input-size"),
    (["rtl"], "choose exactly one"),
    # the command line itself
    (["nosuchcommand"], "invalid choice"),
    (["npu", "--batch"], "expected one argument"),
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_probe(argv: list[str], folder: Path) -> tuple[int | None, str, str, set[str], str]:
    """(exit status or None if an exception escaped, stdout, stderr, paths created, escaped
    exception) of ``gilt ARGV`` run in ``folder``."""
    before = _tree(folder)
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    escaped = ""
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(argv))
    except BaseException as exc:  # noqa: BLE001 - that is what the probe looks for
        rc, escaped = None, f"{type(exc).__name__}: {exc}"
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue(), _tree(folder) - before, escaped


def classify(rc, stdout: str, stderr: str, created: set[str], escaped: str,
             mention: str) -> list[str]:
    """Every rule a probe broke (empty when it behaved)."""
    broken = []
    if escaped or rc == 70 or "Traceback" in stdout + stderr:
        broken.append("traceback")
    elif rc == 0:
        broken.append("silent acceptance")
    elif rc != 2:
        broken.append("other exit status")
    if created:
        broken.append("partial output")
    lines = [line for line in stderr.splitlines() if line.strip()]
    if len(lines) != 1 and "traceback" not in broken:
        broken.append("not one line")
    if mention not in stderr and not broken:
        broken.append("does not name it")
    return broken


def test_probes(inputs):
    counts: Counter = Counter()
    failures = []
    for argv, mention in PROBES:
        rc, out, err, created, escaped = run_probe(argv, inputs)
        broken = classify(rc, out, err, created, escaped, mention)
        counts.update(broken)
        if broken:
            failures.append(f"gilt {' '.join(argv)}: {broken}: rc={rc} {escaped} "
                            f"{err.strip()[-300:]!r} created={sorted(created)[:3]}")
    summary = {k: counts.get(k, 0) for k in ("traceback", "silent acceptance", "partial output",
                                             "not one line", "other exit status",
                                             "does not name it")}
    print(f"\ngilt CLI probes: {len(PROBES)} bad inputs; " +
          ", ".join(f"{k}: {v}" for k, v in summary.items()))
    assert not failures, "\n".join(failures)


SUBPROCESS_PROBES = [
    ["report", "--gating", "topk:1.5"],
    ["report", "--net", "rand.onnx"],
    ["sweep", "bad.yaml"],
    ["npu", "--hw", "bad.yaml"],
    ["gpu", "--json", "afile/x.json"],
    ["cpu", "--threads", "100000"],
    ["golden", "--op", "conv2d", "--param", "c=100000,h=100000,w=100000"],
    ["net", "empty.onnx"],
]


def gilt_process(argv, cwd, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    env.pop("GILT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "gilt", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.parametrize("argv", SUBPROCESS_PROBES, ids=lambda a: " ".join(a[:3]))
def test_probes_as_processes(inputs, argv):
    before = _tree(inputs)
    proc = gilt_process(argv, inputs)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"gilt {argv[0]}: error: ")
    assert _tree(inputs) == before


# ------------------------------------------------------------------ random values (hypothesis)
#: (command, option, check of an accepted value, other arguments)
BOUNDED = [
    ("npu", "--batch", lambda v: 1 <= v <= 65536),
    ("gpu", "--input-size", lambda v: 1 <= v <= 4096),
    ("cpu", "--threads", lambda v: 1 <= v <= 65536),
    ("golden", "--word-bits", lambda v: 4 <= v <= 1024),
    ("golden", "--seed", lambda v: 0 <= v < 2**32),
    ("sweep", "--workers", lambda v: 1 <= v <= 1024),
    ("check", "--first", lambda v: 0 <= v),
    ("check", "--rtol", lambda v: math.isfinite(v) and v >= 0),
    ("net", "--gating", lambda v: v is None or isinstance(v, str)),
    ("npu", "--fm-tile", lambda v: all(1 <= s <= 4096 for s in v)),
]
VALUES = st.one_of(st.integers(-2**70, 2**70).map(str), st.floats().map(repr),
                   st.text(max_size=12), st.sampled_from(["nan", "inf", "-inf", "0x10", "1e3",
                                                          "topk:1.5", "topk:0.5", "4x4", ""]))


@pytest.mark.parametrize("command, option, ok", BOUNDED,
                         ids=[f"{c} {o}" for c, o, _ in BOUNDED])
@settings(max_examples=60)
@given(value=VALUES)
def test_random_option_values_are_checked_or_refused(command, option, ok, value):
    parser = build_parser(command)
    argv = [command, *(["spec.yaml"] if command == "sweep" else []), f"{option}={value}"]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2 and len(err.getvalue().strip().splitlines()) == 1
        return
    accepted = getattr(args, option.lstrip("-").replace("-", "_"))
    assert ok(accepted), f"{command} {option}={value!r} accepted as {accepted!r}"


@settings(max_examples=200)
@given(text=st.one_of(st.text(max_size=20), st.builds(
    lambda s, x: f"{s}:{x}", st.sampled_from(["topk", "threshold", "none", "unit", ""]),
    st.one_of(st.floats().map(repr), st.text(max_size=6)))))
def test_gating_strings_are_valid_or_refused(text):
    from networks.quantize import parse_gating

    try:
        cfg = parse_gating(text)
    except ValueError:
        return
    keep, threshold = cfg.get("keep"), cfg.get("threshold")
    assert keep is None or 0 < keep <= 1
    assert threshold is None or math.isfinite(threshold)


@settings(max_examples=100)
@given(params=st.dictionaries(
    st.sampled_from(["n", "c", "h", "w", "k", "r", "s", "st", "p", "d", "g", "gate"]),
    st.one_of(st.integers(-3, 2**40), st.text(max_size=4), st.floats()), max_size=5))
def test_operator_parameters_are_valid_or_refused(params):
    from validation.cases import MAX_ELEMENTS, OperatorCase

    try:
        case = OperatorCase.parse("conv2d", params)
    except ValueError:
        return
    p = case.params
    assert min(p[k] for k in ("n", "c", "h", "w", "k", "r", "s", "st", "d", "g")) >= 1
    assert p["n"] * p["c"] * p["h"] * p["w"] <= MAX_ELEMENTS


@settings(max_examples=100)
@given(key=st.sampled_from(["array_rows", "clock_mhz", "ifmap_sram_kib", "energy_mac_pj",
                            "dram_bw_bytes_per_cycle", "act_word_bits"]),
       value=st.one_of(st.integers(-2**80, 2**80), st.floats(allow_nan=True,
                                                              allow_infinity=True)))
def test_spec_overrides_are_valid_or_refused(key, value):
    from gilt import targets

    try:
        spec = targets.load_hardware("npu", "npu-32x32", {key: value})
    except (ValueError, TypeError):
        return
    got = getattr(spec, key)
    assert math.isfinite(got) and 0 <= got <= 2**40


@pytest.mark.parametrize("argv", [
    ["net", "resnet50", "--input-size", "2048"],
    ["net", "gated_net", "--batch", "65536", "--run"],
    ["report", "--net", "resnet50", "--input-size", "4096"],
    ["golden", "--network", "resnet50", "--input-size", "4096"],
], ids=lambda a: " ".join(a[:2]))
def test_too_large_for_memory_is_refused_before_allocating(monkeypatch, tmp_path, argv):
    """The golden run's memory is estimated from shapes alone and compared with what the
    system has (here: 1 GiB) before anything large is allocated."""
    from gilt import options

    monkeypatch.setattr(options, "available_memory_bytes", lambda: 2**30)
    rc, out, err, created, escaped = run_probe(argv, tmp_path)
    assert not escaped and rc == 2 and not created
    assert "needs at least" in err and "GiB is available" in err and len(err.splitlines()) == 1

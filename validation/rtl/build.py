"""Compile the array for one parameter set and run the cocotb bench on it.

A build is cached in ``build/rtl/<simulator>-<key>/`` (git-ignored) where the key hashes the
parameters and the Verilog sources, so a Verilator model (tens of seconds to compile) is built
once per array size and dataflow. Verilator is the default; Icarus Verilog is the fallback when
Verilator is missing (``simulator="auto"``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = ROOT / "rtl"
SOURCES = ("gilt_sa_delay.v", "gilt_sa_pe.v", "gilt_sa_array.v", "gilt_sa.v")
CONTROL_FILE = "gilt_sa.vlt"
TOPLEVEL = "gilt_sa"
SIMULATORS = ("verilator", "icarus")
BUILD_ROOT = ROOT / "build" / "rtl"
#: the bench module cocotb imports inside the simulator
TEST_MODULE = "validation.rtl.bench"
#: our own simulation main for Verilator 5.0xx (see the file's header)
MAIN_CPP = str(RTL_DIR / "tb" / "verilator_main.cpp")


class ToolMissingError(RuntimeError):
    """The simulator (or cocotb) this run needs is not installed; the message names it."""


def tool_status() -> dict[str, str | None]:
    """Path of each tool the RTL loop can use, or None when missing."""
    status = {"verilator": shutil.which("verilator"), "icarus": shutil.which("iverilog"),
              "yosys": shutil.which("yosys")}
    try:
        import cocotb  # noqa: F401
        status["cocotb"] = cocotb.__version__
    except ImportError:
        status["cocotb"] = None
    return status


def choose_simulator(simulator: str = "auto") -> str:
    """``verilator`` or ``icarus``; ``auto`` prefers Verilator. ToolMissingError names what is
    missing."""
    status = tool_status()
    if status["cocotb"] is None:
        raise ToolMissingError("cocotb is not installed (pip install cocotb)")
    if simulator == "auto":
        if status["verilator"]:
            return "verilator"
        if status["icarus"]:
            return "icarus"
        raise ToolMissingError("neither verilator nor iverilog (Icarus Verilog) is installed")
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator={simulator!r}; expected 'auto' or one of {SIMULATORS}")
    if not status[simulator]:
        raise ToolMissingError(f"{'iverilog (Icarus Verilog)' if simulator == 'icarus' else simulator}"
                               " is not installed")
    return simulator


@dataclass(frozen=True)
class ArrayParams:
    """Verilog parameters of one build of ``gilt_sa``."""

    rows: int
    cols: int
    dataflow: str = "ws"
    zero_skip: bool = True
    gating: bool = True
    #: buffer depths in 32-bit words (accumulator: int32 entries) and the gate-list size; the
    #: defaults hold every ResNet-50 layer at 224x224; Icarus runs size them per layer
    #: (:meth:`fitted`), Verilator keeps one cached model per array size
    if_words: int = 1 << 20
    w_words: int = 1 << 20
    acc_depth: int = 1 << 21
    bias_depth: int = 1 << 13
    max_ch: int = 1 << 13

    def fitted(self, *, if_words: int, w_words: int, acc_depth: int, bias_depth: int,
               max_ch: int) -> ArrayParams:
        """The same array with buffers of the next power of two >= each need (>= 1024)."""
        def p2(n: int) -> int:
            return max(1024, 1 << max(0, int(n) - 1).bit_length())
        return dataclasses.replace(self, if_words=p2(if_words), w_words=p2(w_words),
                                   acc_depth=p2(acc_depth), bias_depth=p2(bias_depth),
                                   max_ch=p2(max_ch))

    def __post_init__(self):
        for key in ("rows", "cols"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
                raise ValueError(f"{key}={value!r}; expected an integer 1..64")
        if self.dataflow not in ("ws", "os"):
            raise ValueError(f"dataflow={self.dataflow!r}; the RTL array has 'ws' and 'os'")

    def verilog(self) -> dict[str, int]:
        return {"ROWS": self.rows, "COLS": self.cols,
                "DATAFLOW": 0 if self.dataflow == "ws" else 1,
                "ZERO_SKIP": int(self.zero_skip), "GATING": int(self.gating),
                "IF_WORDS": self.if_words, "W_WORDS": self.w_words,
                "ACC_DEPTH": self.acc_depth, "BIAS_DEPTH": self.bias_depth,
                "GATE_WORDS": max(1, self.max_ch // 4), "MAX_CH": self.max_ch}


def _sources_digest() -> str:
    h = hashlib.sha256()
    for path in [*(RTL_DIR / s for s in (*SOURCES, CONTROL_FILE)), Path(MAIN_CPP)]:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def build_dir(params: ArrayParams, simulator: str, *, waves: bool = False) -> Path:
    extra = hashlib.sha256((RTL_DIR / "tb" / "gilt_sa_vcd.v").read_bytes()).hexdigest()[:12] \
        if waves else ""
    key = json.dumps({**params.verilog(), "waves": waves, "src": _sources_digest() + extra},
                     sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    name = f"{simulator}-{params.rows}x{params.cols}-{params.dataflow}-{digest}"
    return BUILD_ROOT / name


def _runner(simulator: str, *, vcd: bool = False):
    from cocotb_tools.runner import Icarus, Verilator

    if simulator == "icarus":
        class _Icarus(Icarus):
            """cocotb's Icarus runner; with ``vcd`` the vvp flag that silences $dumpvars
            (``-none``) becomes ``-vcd`` so gilt_sa_vcd writes plain VCD."""

            def _test_command(self):
                cmds = super()._test_command()
                if vcd:
                    cmds = [[("-vcd" if c == "-none" else c) for c in cmd] for cmd in cmds]
                return cmds

        return _Icarus()

    class _Verilator(Verilator):
        """cocotb's Verilator runner without --public-flat-rw (every signal public makes the
        model several times slower); the control file makes the top-level ports public."""

        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [MAIN_CPP if c.endswith("verilator.cpp") else c for c in cmds[0]
                       if c != "--public-flat-rw"]
            return cmds

    return _Verilator()


def build(params: ArrayParams, simulator: str, *, waves: bool = False,
          quiet: bool = True) -> Path:
    """Build (or reuse) the simulation model; return its build folder."""
    out = build_dir(params, simulator, waves=waves)
    stamp = out / ".built"
    if stamp.exists():
        return out
    runner = _runner(simulator)
    sources = [RTL_DIR / s for s in SOURCES]
    args: list[str] = []
    if simulator == "verilator":
        sources.append(RTL_DIR / CONTROL_FILE)
        args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O3", "--x-assign", "fast",
                "--x-initial", "fast", "-CFLAGS", "-O2"]
    else:
        args = ["-g2005"]
        if waves:  # our own VCD root (cocotb's Icarus waves are FST)
            sources.append(RTL_DIR / "tb" / "gilt_sa_vcd.v")
            args += ["-s", "gilt_sa_vcd"]
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        runner.build(sources=sources, hdl_toplevel=TOPLEVEL, build_dir=out,
                     parameters=params.verilog(), build_args=args,
                     waves=waves and simulator == "verilator",
                     always=True, log_file=str(log) if quiet else None)
    except (SystemExit, subprocess.CalledProcessError, RuntimeError) as exc:
        raise RuntimeError(f"{simulator} build of {TOPLEVEL} {params} failed ({exc}); see "
                           f"{log}") from None
    stamp.write_text("ok\n")
    return out


def run_test(params: ArrayParams, simulator: str, job_path: Path, *, waves: bool = False,
             timeout_s: float | None = None) -> Path:
    """Run the cocotb bench on ``job_path`` (JSON written by the driver); return the results
    file the bench wrote."""
    out = build(params, simulator, waves=waves)
    runner = _runner(simulator, vcd=waves)
    job = json.loads(Path(job_path).read_text())
    plusargs = [f"+{k}={v}" for k, v in job["plusargs"].items()]
    if job.get("native_clock"):
        plusargs.append("+gilt_native_clock")
    env = {"GILT_RTL_JOB": str(job_path), "COCOTB_TRUST_INERTIAL_WRITES": "0", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    results = Path(job["results"])
    log = Path(job_path).parent / "sim.log"
    runner.test(test_module=TEST_MODULE, hdl_toplevel=TOPLEVEL, build_dir=out,
                hdl_toplevel_lang="verilog",
                test_dir=str(Path(job_path).parent), plusargs=plusargs, extra_env=env,
                waves=waves and simulator == "verilator",
                results_xml=str(Path(job_path).parent / "cocotb_results.xml"),
                parameters=params.verilog() if simulator == "icarus" else {},
                timescale=None, log_file=str(log))
    if not results.exists():
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        raise RuntimeError(f"the cocotb bench wrote no results ({results}); simulator log "
                           f"{log}: " + " | ".join(line.strip() for line in tail))
    return results


if __name__ == "__main__":  # python -m validation.rtl.build ROWS COLS DATAFLOW [SIM]
    p = ArrayParams(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
    print(build(p, choose_simulator(sys.argv[4] if len(sys.argv) > 4 else "auto")))

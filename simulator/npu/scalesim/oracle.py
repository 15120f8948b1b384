"""Run SCALE-Sim 3.0.0 itself (the oracle) in its own interpreter and read its report rows.

SCALE-Sim lives in ``.venv-scalesim`` (it needs numpy < 2.3); ``_scalesim_runner.py`` runs it
layer by layer in a subprocess and prints one JSON line per layer (or per core) with each
report's items as the strings SCALE-Sim writes. The timeout is enforced while the rows are
read: a run that stops printing is killed."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from simulator.npu.scalesim.io import ScaleSimConfig, write_cfg

ROOT = Path(__file__).resolve().parents[3]
ORACLE_PYTHON = ROOT / ".venv-scalesim" / "bin" / "python"
RUNNER = Path(__file__).resolve().parents[1] / "_scalesim_runner.py"


def oracle_available() -> tuple[bool, str]:
    """Whether SCALE-Sim 3.0.0 can be run here, and why not."""
    if not ORACLE_PYTHON.exists():
        return False, (f"SCALE-Sim oracle env missing: {ORACLE_PYTHON} (build it with "
                       "`make .venv-scalesim/.installed`)")
    probe = subprocess.run([str(ORACLE_PYTHON), "-I", "-c",
                            "import importlib.metadata as m; print(m.version('scalesim'))"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0 or probe.stdout.strip() != "3.0.0":
        return False, f"SCALE-Sim 3.0.0 not importable in {ORACLE_PYTHON}: {probe.stderr[-300:]}"
    return True, ""


def run_oracle(config: ScaleSimConfig | str | os.PathLike, topology: str | os.PathLike, *,
               layout: str | os.PathLike | None = None, layers: list[int] | None = None,
               gemm: bool = False, cores: tuple[int, int] | None = None,
               timeout_s: float = 3600, stream_to: str | os.PathLike | None = None,
               nice: int = 0, ramulator_dir: str | os.PathLike | None = None) -> list[dict]:
    """Run SCALE-Sim 3.0.0 on ``topology``. ``config`` is a :class:`ScaleSimConfig` or a
    ``.cfg`` path (copied as it is, so every section reaches SCALE-Sim); ``layout`` a layout CSV
    (default: header only); ``cores=(I, F)`` the multi-core split. Returns one dict per layer
    (per core) with ``compute``, ``bandwidth``, ``detail`` (and ``sparse``) string lists and
    ``wall_s``; ``stream_to`` appends each JSON line to a file as it arrives;
    ``ramulator_dir`` is linked as ``results/`` in SCALE-Sim's working directory, where its
    Ramulator hook reads the latency files."""
    ok, why = oracle_available()
    if not ok:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory(prefix="gilt-scalesim-") as tmp:
        cfg = Path(tmp) / "gilt.cfg"
        if isinstance(config, ScaleSimConfig):
            write_cfg(config, cfg)
        else:
            shutil.copyfile(config, cfg)
        if ramulator_dir is not None:
            os.symlink(Path(ramulator_dir).resolve(), Path(tmp) / "results")
        cmd = ([] if not nice else ["nice", "-n", str(nice)]) + [
            str(ORACLE_PYTHON), "-I", str(RUNNER), str(cfg), str(Path(topology).resolve())]
        if layout is not None:
            cmd.append(str(Path(layout).resolve()))
        if layers is not None:
            cmd += ["--layers", ",".join(str(i) for i in layers)]
        if gemm:
            cmd.append("--gemm")
        if cores is not None:
            cmd += ["--cores", f"{cores[0]}x{cores[1]}"]
        with open(Path(tmp) / "stderr.txt", "w+", encoding="utf-8") as err:
            return _read_rows(cmd, tmp, err, timeout_s, stream_to)


def _read_rows(cmd, cwd, err, timeout_s, stream_to) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=cwd)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf, rows = b"", []
    sink = open(stream_to, "a", encoding="utf-8") if stream_to else None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                proc.kill()
                proc.wait()
                raise TimeoutError(f"SCALE-Sim oracle still running after {timeout_s:g} s "
                                   "(killed)")
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                rows.append(json.loads(line))
                if sink:
                    sink.write(line.decode() + "\n")
                    sink.flush()
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        sel.close()
        proc.stdout.close()
        if sink:
            sink.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if rc != 0:
        err.seek(0)
        raise RuntimeError(f"SCALE-Sim oracle failed (exit {rc}): {err.read()[-2000:]}")
    return rows

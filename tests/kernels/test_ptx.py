"""Every CUDA kernel compiles to PTX (numba-cuda compile_ptx, no GPU needed).

The root conftest turns the CUDA simulator on for the whole run, and the simulator has no
compiler, so the check runs `python -m kernels.cuda.ptx` in a subprocess with
NUMBA_ENABLE_CUDASIM=0. Without the NVVM/NVRTC libraries (`numba-cuda[cu13]`) it skips and
says why.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_cuda_kernel_compiles_to_ptx():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    proc = subprocess.run([sys.executable, "-m", "kernels.cuda.ptx", "--cc", "8.0"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 2:
        pytest.skip(next((r["skip"] for r in lines if "skip" in r), proc.stderr[-500:]))
    failures = [r for r in lines if not r.get("ok")]
    assert proc.returncode == 0 and not failures, (failures, proc.stderr[-2000:])
    from kernels.cuda.ptx import signatures
    compiled = {r["kernel"] for r in lines}
    assert compiled == set(signatures()), compiled ^ set(signatures())
    assert all(r["lines"] > 50 for r in lines)
